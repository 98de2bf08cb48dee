"""User energies: plain Python functions compiled by Numba, with an optional gradient.

A user energy is ``fn(x) -> float`` for one point x of shape (d,) (``fn(x, theta)`` when
``theta`` is given). Its gradient ``grad(x, out)`` (``grad(x, theta, out)``) writes ∇ₓE
into ``out`` and returns E, so one call gives both. Without ``grad``, gradient-based
samplers use central finite differences and warn once per energy. The samplers are
specialised to the compiled functions once per energy and process (uncached).
"""
import re
import warnings

import numpy as np
from numba import njit
from numba.core.errors import TypingError

from .._contract import BackendUnavailableError, CudaForm, FunctionParams, UserParams
from .._kernels.numba.dispatch import KernelFamily
from .._kernels.numba.user_functions import (FD_REL_STEP, compile_user_energy,
                                              finite_differences)
from .._validation import as_float_array, int_at_least
from .base import Energy


class FiniteDifferenceWarning(UserWarning):
    """A gradient is approximated by central finite differences."""


SPECIALIZE_WORK = 10**9
"""Energy evaluations from which a run of a user energy is worth kernels compiled around
its functions (``specialize=None``): they take about 10 s to compile per sampler and
process, and save about 6 ns (random walk) to 12 ns (MALA) per evaluation of a cheap
2-d energy against the cached kernels' call through an address, a break-even between
8e8 and 1.7e9 evaluations (docs/performance.md)."""


def _compile(fn, kind):
    try:
        return fn if hasattr(fn, "py_func") else njit(fn)
    except Exception as exc:  # numba raises many types at decoration for bad objects
        raise TypeError(f"{kind} must be a function Numba can compile: {exc}") from exc


def _energy_functions(fn, with_theta):
    f = _compile(fn, "fn")
    if with_theta:
        return njit(lambda p, x: p.beta * f(x, p.theta))
    return njit(lambda p, x: p.beta * f(x))


def _gradient_functions(fn, grad, with_theta):
    if grad is None:
        return _finite_difference_gradient(fn, with_theta)
    g = _compile(grad, "grad")
    if with_theta:
        def energy_grad(p, x, out):
            e = g(x, p.theta, out)
            out *= p.beta
            return p.beta * e
    else:
        def energy_grad(p, x, out):
            e = g(x, out)
            out *= p.beta
            return p.beta * e
    return njit(energy_grad)


def _finite_difference_gradient(fn, with_theta):
    energy = _energy_functions(fn, with_theta)
    differences = njit(finite_differences(njit(lambda x, p: energy(p, x))))
    return njit(lambda p, x, out: differences(x, p, out))


_NO_BLAS = (njit(lambda p: False), njit(lambda p, X, G, E: None))
_FAMILY_CACHE = {}


def family_of(energy_point, energy_grad_point):
    """The kernel family of compiled per-point functions (no BLAS path), one per pair of
    functions: energies that share their functions (``with_theta``, a sum rebuilt from
    new parts) share their compiled kernels instead of compiling them again."""
    key = (energy_point, energy_grad_point)
    if key not in _FAMILY_CACHE:
        _FAMILY_CACHE[key] = KernelFamily({
            "energy_point": energy_point,
            "energy_grad_point": energy_grad_point,
            "uses_blas": _NO_BLAS[0],
            "blas_energy_grad": _NO_BLAS[1],
        })
    return _FAMILY_CACHE[key]


_CUDA_ENERGY = re.compile(r"\benergy\s*\(")
_CUDA_GRAD = re.compile(r"\benergy_grad\s*\(")


def _check_cuda_snippet(cuda):
    """A CUDA C snippet defining ``energy`` (and optionally ``energy_grad``), or None."""
    if cuda is None:
        return None
    if not isinstance(cuda, str):
        raise TypeError(f"cuda must be a string of CUDA C source, got {type(cuda).__name__}")
    if not _CUDA_ENERGY.search(cuda):
        raise ValueError("cuda must define __device__ double energy(const double *x, const "
                         "double *theta) (and optionally energy_grad(x, theta, g), which "
                         "writes the gradient into g and returns E)")
    return cuda


class CustomEnergy(Energy):
    """An energy from user functions; build it with :func:`fastebm.energy`."""

    def __init__(self, fn, grad=None, *, theta=None, grad_theta=None, dim=None,
                 specialize=None, cuda=None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if grad is not None and not callable(grad):
            raise TypeError(f"grad must be callable or None, got {type(grad).__name__}")
        if specialize not in (None, True, False):
            raise TypeError(f"specialize must be None, True or False, got {specialize!r}")
        self._theta = None if theta is None else as_float_array(theta, "theta", ndim=1)
        self.dim = None if dim is None else int_at_least(dim, "dim", 1)
        self.fn, self.grad_fn, self.grad_theta_fn = fn, grad, grad_theta
        self.specialize = specialize
        self.cuda = _check_cuda_snippet(cuda)
        # the user's functions on their own, for the cached kernels (cached on disk by what
        # they are: milliseconds when a script runs again, 0.1-0.4 s each when new)
        self._functions = compile_user_energy(fn, grad, self._theta is not None)
        self._specialized = None
        self.has_gradient = grad is not None
        self._warned = False
        self._grad_theta_point = (None if grad_theta is None
                                  else _compile(grad_theta, "grad_theta"))

    def __copy__(self):
        """A shallow copy sharing the compiled functions (``tempered``, ``with_theta``)."""
        self._user_functions()
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self):
        """Pickled without its compiled functions (cfuncs do not pickle): ``fn``, ``grad``
        and ``grad_theta`` travel, by reference (a module's functions, or functions
        already compiled by Numba) or by value (a script's functions and lambdas, with
        cloudpickle, as Dask sends them), and are compiled again on first use where the
        energy is unpickled."""
        state = super().__getstate__()
        state.update(_functions=None, _specialized=None, _grad_theta_point=None)
        return state

    def _saved_state(self):
        raise TypeError("a user energy (fastebm.energy) cannot be saved to an .npz file: "
                        "its functions are code, which .npz files do not hold; pickle it "
                        "instead (pickle.dump, or cloudpickle.dump for functions defined in "
                        "a script or notebook)")

    def _user_functions(self):
        """The user's functions compiled for the cached kernels (compiled at
        construction, and again on first use after unpickling)."""
        if self._functions is None:
            self._functions = compile_user_energy(self.fn, self.grad_fn, self._theta is not None)
        return self._functions

    def _grad_theta_function(self):
        """``grad_theta`` compiled by Numba, or None without one."""
        if self._grad_theta_point is None and self.grad_theta_fn is not None:
            self._grad_theta_point = _compile(self.grad_theta_fn, "grad_theta")
        return self._grad_theta_point

    def _specialized_form(self):
        """(point functions, kernel family) compiled around the user's functions: built
        on first use, compiled in every process (seconds per sampler). A sum of energies
        builds its own kernels from the generic point functions on ``FunctionParams``."""
        if self._specialized is None:
            with_theta = self._theta is not None
            point = (_energy_functions(self.fn, with_theta),
                     _gradient_functions(self.fn, self.grad_fn, with_theta))
            self._specialized = (point, family_of(*point))
        return self._specialized

    def _cuda_form(self):
        """The user's CUDA snippet (``cuda=``): E = β energy(x, θ)."""
        if self.cuda is None:
            raise BackendUnavailableError(
                "this energy has no CUDA version: build it with fastebm.energy(fn, grad, "
                "cuda=...) (a CUDA C snippet defining energy(x, theta); see docs/gpu.md) to "
                "run it on a GPU")
        theta = np.zeros(1) if self._theta is None else self._theta
        kind = "user_grad" if _CUDA_GRAD.search(self.cuda) else "user"
        return CudaForm(kind, self.cuda, (theta,), self._beta)

    def _uses_specialized(self, work):
        if self.specialize is None:
            return work >= SPECIALIZE_WORK
        return self.specialize

    def _kernel_params(self):
        theta = np.zeros(0) if self._theta is None else self._theta
        return FunctionParams(*self._user_functions(), theta, self._beta)

    def _kernel_form(self, work=0):
        """The cached kernels, which call the user's functions through their addresses;
        or, for a run of at least ``SPECIALIZE_WORK`` evaluations (or ``specialize=True``),
        kernels compiled around them (inlined: faster per evaluation, seconds to compile
        in every process)."""
        if not self._uses_specialized(work):
            return self._kernel_params(), self._family
        theta = np.zeros(0) if self._theta is None else self._theta
        return UserParams(theta, self._beta), self._specialized_form()[1]

    def warn_if_finite_differences(self):
        """Warn (once per energy) that gradients come from finite differences."""
        if not self.has_gradient and not self._warned:
            self._warned = True
            warnings.warn("this energy has no grad: gradients use central finite "
                          "differences (2d energy evaluations each)", FiniteDifferenceWarning,
                          stacklevel=3)

    def energy_and_grad(self, x):
        self.warn_if_finite_differences()
        return super().energy_and_grad(x)

    def _require_theta(self):
        if self._theta is None:
            raise ValueError("this energy has no parameters: build it with "
                             "fastebm.energy(fn, ..., theta=...) to give it some")

    @property
    def theta(self):
        self._require_theta()
        return self._theta.copy()

    def with_theta(self, theta):
        self._require_theta()
        theta = as_float_array(theta, "theta", ndim=1)
        if theta.shape != self._theta.shape:
            raise ValueError(f"theta must have shape {self._theta.shape}, got {theta.shape}")
        new = self.tempered(1.0)
        new._theta = theta
        return new

    def _grad_theta(self, x):
        self._require_theta()
        if self.grad_theta_fn is None:
            return self._grad_theta_finite_differences(x)
        out = np.empty((x.shape[0], self._theta.size))
        grad_theta = self._grad_theta_function()
        try:
            for i in range(x.shape[0]):
                grad_theta(x[i], self._theta, out[i])
        except TypingError as exc:
            raise TypeError("grad_theta could not be compiled by Numba (it must be a plain "
                            "numeric function grad_theta(x, theta, out) that writes ∇_θE into "
                            f"out and returns E):\n{exc}") from None
        return self._beta * out

    def _grad_theta_finite_differences(self, x):
        warnings.warn("this energy has no grad_theta: central finite differences in theta",
                      FiniteDifferenceWarning, stacklevel=3)
        out = np.empty((x.shape[0], self._theta.size))
        for j in range(self._theta.size):
            h = FD_REL_STEP * max(1.0, abs(self._theta[j]))
            up, down = self._theta.copy(), self._theta.copy()
            up[j] += h
            down[j] -= h
            out[:, j] = (self.with_theta(up).energy(x) - self.with_theta(down).energy(x)) / (2 * h)
        return out


def energy(fn, grad=None, *, theta=None, grad_theta=None, dim=None, specialize=None,
           cuda=None):
    """An energy from a user function that Numba can compile.

    Parameters
    ----------
    fn : callable
        ``fn(x) -> float`` for one point x of shape (d,), or ``fn(x, theta)``.
    grad : callable, optional
        ``grad(x, out) -> float`` (or ``grad(x, theta, out)``): writes ∇ₓE(x) into
        ``out`` and returns E(x). Without it, gradients use central finite differences
        with steps ``h = ε^(1/3) max(1, |xⱼ|)`` and a ``FiniteDifferenceWarning``.
    theta : array_like of shape (p,), optional
        Parameters passed to ``fn`` and ``grad``.
    grad_theta : callable, optional
        ``grad_theta(x, theta, out) -> float``: writes ∇_θE(x) into ``out``.
    dim : int, optional
        The dimension d; when given, inputs are checked against it.
    specialize : None, True or False, default None
        How the samplers' kernels run the energy. False: the kernels compiled once and
        cached on disk call ``fn`` and ``grad`` through their addresses; only these small
        functions are compiled (a fraction of a second), and cached on disk by what they
        are (code, constants, closure values, globals; in ``$FASTEBM_CACHE_DIR`` or
        ``~/.cache/fastebm``, under ``user-functions``), so a script run again loads them
        in milliseconds and an edited function is compiled anew. True: kernels
        compiled around them (inlined), in every new process (about 10 s per sampler);
        faster per evaluation for a cheap energy (a 2-d banana: random walk 1.1-1.3×,
        MALA 1.4×). None: True for a call of at least ``SPECIALIZE_WORK`` (10⁹) energy
        evaluations (chains × steps), else False.
    cuda : str, optional
        The same energy in CUDA C, for the GPU backend (CuPy arrays) and its host
        emulation: a snippet defining ``__device__ double energy(const double *x, const
        double *theta)`` and, optionally, ``__device__ double energy_grad(const double *x,
        const double *theta, double *g)`` that writes ∇ₓE into ``g`` and returns E
        (without it, central differences as on the CPU). ``theta`` points to the
        energy's θ (a dummy array when there is none); the dimension is the macro
        ``FASTEBM_DIM``. Check it on the host with ``fastebm.backend.emulate_gpu()``.

    Returns
    -------
    CustomEnergy

    Examples
    --------
    >>> import fastebm as fe
    >>> def banana(x):
    ...     return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2
    >>> E = fe.energy(banana, dim=2)
    """
    return CustomEnergy(fn, grad, theta=theta, grad_theta=grad_theta, dim=dim,
                        specialize=specialize, cuda=cuda)
