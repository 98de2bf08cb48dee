"""A user's energy functions as first-class functions, so that cached kernels run them.

The kernels are compiled once for the parameter type ``FunctionParams`` (cached on disk
like the built-in energies' kernels) and call the user's functions through their
addresses. Only the user's small functions are compiled, with the fixed signatures
below (0.1-0.4 s each), never the kernels around them; and they are cached on disk by
what they are (``cfunc_cache``: code, constants, closure and globals), so a script run
again loads them in milliseconds, while two energies in one script, or a function edited
between two runs, never reuse each other's compiled code.

- ``energy(x, θ) -> E`` from ``fn(x)`` or ``fn(x, θ)``;
- ``energy_grad(x, θ, out) -> E`` from ``grad(x, out)`` or ``grad(x, θ, out)``, or, without
  a gradient, central differences of ``fn`` with steps h = ε^(1/3) max(1, |xⱼ|).

The price is a call through a pointer per energy evaluation, which LLVM cannot inline
(measured in docs/performance.md, "Time to first result").
"""
import warnings

import numpy as np
from numba import config, float64, njit
from numba.core.errors import NumbaError, NumbaExperimentalFeatureWarning

from ..._contract import FD_REL_STEP
from .cfunc_cache import cached_cfunc

# Numba calls its first-class function types experimental (since 0.49); fastebm uses only
# calls through fixed signatures, which its tests cover. Without this filter every
# script with a user energy would print the warning once per compiled kernel.
warnings.filterwarnings("ignore", message="First-class function type feature is experimental",
                        category=NumbaExperimentalFeatureWarning)

ENERGY_SIGNATURE = float64(float64[::1], float64[::1])
GRAD_SIGNATURE = float64(float64[::1], float64[::1], float64[::1])


def _jitted(fn):
    return fn if hasattr(fn, "py_func") else njit(fn)


def _with_theta(fn, takes_theta):
    """``fn(x, θ)`` from a user's ``fn(x)`` or ``fn(x, θ)``."""
    f = _jitted(fn)
    if takes_theta:
        return lambda x, theta: f(x, theta)
    return lambda x, theta: f(x)


def _grad_with_theta(grad, takes_theta):
    g = _jitted(grad)
    if takes_theta:
        return lambda x, theta, out: g(x, theta, out)
    return lambda x, theta, out: g(x, out)


def finite_differences(energy):
    """``energy_grad(x, a, out) -> E``: central differences in x of ``energy(x, a)``
    (a: θ, or any argument passed through), with steps h = ε^(1/3) max(1, |xⱼ|)."""
    f = _jitted(energy)

    def energy_grad(x, theta, out):
        y = x.copy()
        for j in range(x.shape[0]):
            h = FD_REL_STEP * max(1.0, abs(x[j]))
            y[j] = x[j] + h
            up = f(y, theta)
            y[j] = x[j] - h
            down = f(y, theta)
            y[j] = x[j]
            out[j] = (up - down) / (2.0 * h)
        return f(x, theta)
    return energy_grad


def compile_user_energy(fn, grad, takes_theta):
    """(energy, energy_grad) as compiled first-class functions (``cfunc`` objects).

    Raises
    ------
    TypeError
        When Numba cannot compile ``fn`` or ``grad`` for one point (a float64 array of
        shape (d,)) and θ, naming which one.
    """
    energy = _with_theta(fn, takes_theta)
    compiled = _compiled(energy, ENERGY_SIGNATURE, "fn")
    if grad is None:
        return compiled, _compiled(finite_differences(energy), GRAD_SIGNATURE, "fn")
    return compiled, _compiled(_grad_with_theta(grad, takes_theta), GRAD_SIGNATURE, "grad")


def _compiled(function, signature, name):
    if config.DISABLE_JIT:  # the pure-Python path: the kernels call the functions as they are
        return function
    try:
        return cached_cfunc(function, signature)
    except NumbaError as exc:
        raise TypeError(f"{name} could not be compiled by Numba for one point x (a float64 "
                        "array of shape (d,)): it must be a plain numeric function of NumPy "
                        f"arrays and floats that Numba supports.\n{exc}") from None
