"""Compiled energies of the built-in continuous models, dispatched on their parameter type.

Each model's parameters travel into kernels as a module-level named tuple; the generic
functions below pick the model's implementation by that type at compile time, so one
cached kernel serves every built-in energy. Sign convention: p(x) ∝ exp(-E(x)).

- ``energy_point(params, x)`` → E(x) for one point x of shape (d,).
- ``energy_grad_point(params, x, g)`` → E(x), writing ∇ₓE(x) into g.
- ``uses_blas(params)`` → True where the gradient of a batch is one matrix product;
  then ``blas_energy_grad(params, X, G, E)`` writes the gradients of all rows of X into
  G by that product (BLAS) and their energies into E (rows indexed, not sliced: in a
  compiled loop each array view costs two atomic reference-count updates).

A user or composite energy supplies its own functions with the same signatures and the
samplers are specialised to them (see ``dispatch``).
"""
import numpy as np
from numba.extending import overload

from ..._contract import (DiagGaussianParams, FunctionParams, GaussianBernoulliParams,
                            GaussianParams, MixtureParams)
from .blas import dot_rows
from ._jit import helper






# The generic functions: in compiled code the overloads below pick the model's
# implementation by parameter type at compile time; called from Python (or with
# NUMBA_DISABLE_JIT=1) they dispatch on the type at run time.

def energy_point(params, x):
    return _ENERGY[type(params)](params, x)


def energy_grad_point(params, x, g):
    return _ENERGY_GRAD[type(params)](params, x, g)


def uses_blas(params):
    return type(params) is GaussianParams


def blas_energy_grad(params, X, G, E):
    if type(params) is GaussianParams:
        _gaussian_blas_energy_grad(params, X, G, E)


def _cls(params):
    return getattr(params, "instance_class", None)


# --- dense Gaussian -------------------------------------------------------------------

# Up to this dimension a point's dense Gaussian is summed in registers, in the order of
# the CUDA kernel (energies.cuh, fastebm_dense_gaussian_energy_grad); above it BLAS's
# products win despite their temporaries (one energy, measured on 2 cores: about 0.55 µs
# either way at d = 32, BLAS twice as fast at d = 48).
IN_THREAD_MAX_DIM = 32


def _gaussian_energy(params, x):
    """E = β/2 (x-μ)ᵀP(x-μ): ``_gaussian_in_thread`` up to ``IN_THREAD_MAX_DIM``,
    else ``_gaussian_energy_blas``. A plain function, which ``energy_point`` inlines into
    the kernels: as a compiled helper, the call around the branch kept atomic reference
    counts on the arrays in the step (twice the random walk's time per step at d = 2)."""
    if x.shape[0] <= IN_THREAD_MAX_DIM:
        return _gaussian_in_thread(params, x, None)
    return _gaussian_energy_blas(params, x)


@helper()
def _gaussian_in_thread(p, x, g):
    """E = β/2 Σⱼ (xⱼ-μⱼ)((Px)ⱼ - (Pμ)ⱼ) without temporaries, in the four partial sums of
    ``affine_quadratic_rows`` (term j in sum j mod 4, the last d mod 4 in the first): the
    arithmetic of energies.cuh's dense Gaussian. Adding 0.0 to the other sums leaves them
    unchanged (they start at +0.0, so never hold -0.0). Also writes the gradient
    gⱼ = β((Px)ⱼ - (Pμ)ⱼ) unless ``g`` is None (a branch Numba prunes at compile time)."""
    d = x.shape[0]
    tail = d - d % 4
    e0 = e1 = e2 = e3 = 0.0
    for j in range(d):
        row = 0.0
        for k in range(d):
            row += p.precision[j, k] * x[k]
        shifted = row - p.precision_mean[j]
        if g is not None:
            g[j] = p.beta * shifted
        t = (x[j] - p.mean[j]) * shifted
        lane = j % 4 if j < tail else 0
        e0 += t if lane == 0 else 0.0
        e1 += t if lane == 1 else 0.0
        e2 += t if lane == 2 else 0.0
        e3 += t if lane == 3 else 0.0
    return 0.5 * p.beta * ((e0 + e1) + (e2 + e3))


@helper()
def _gaussian_energy_blas(p, x):
    """E = β/2 (x-μ)ᵀ(P(x-μ)) by two BLAS products."""
    d = x - p.mean
    return 0.5 * p.beta * np.dot(d, np.dot(p.precision, d))


@helper()
def affine_quadratic_rows(X, G, mean, shift, offset, scale, out):
    """For each row x of X, given G's row = Px (P symmetric, from BLAS), with shift = Pμ:
    leaves scale · P(x-μ) in G's row and out[r] = offset + scale/2 (x-μ)ᵀP(x-μ).

    A Gaussian energy takes offset 0, scale β (E and ∇E); a Gaussian density
    log q = log_norm - ½(x-μ)ᵀP(x-μ) takes offset log_norm, scale -1 (log q and
    ∇log q). One pass per row; four partial sums let the reduction vectorize without
    reassociating floats.
    """
    m, d = X.shape
    tail = d - d % 4
    for r in range(m):
        e0 = e1 = e2 = e3 = 0.0
        for j in range(0, tail, 4):
            g0 = G[r, j] - shift[j]
            g1 = G[r, j + 1] - shift[j + 1]
            g2 = G[r, j + 2] - shift[j + 2]
            g3 = G[r, j + 3] - shift[j + 3]
            e0 += (X[r, j] - mean[j]) * g0
            e1 += (X[r, j + 1] - mean[j + 1]) * g1
            e2 += (X[r, j + 2] - mean[j + 2]) * g2
            e3 += (X[r, j + 3] - mean[j + 3]) * g3
            G[r, j] = scale * g0
            G[r, j + 1] = scale * g1
            G[r, j + 2] = scale * g2
            G[r, j + 3] = scale * g3
        for j in range(tail, d):
            g0 = G[r, j] - shift[j]
            e0 += (X[r, j] - mean[j]) * g0
            G[r, j] = scale * g0
        out[r] = offset + 0.5 * scale * ((e0 + e1) + (e2 + e3))


def _gaussian_energy_grad(params, x, g):
    """E and g = β P(x-μ): ``_gaussian_in_thread`` up to ``IN_THREAD_MAX_DIM``,
    else ``_gaussian_energy_grad_blas`` (a plain function, as ``_gaussian_energy``)."""
    if x.shape[0] <= IN_THREAD_MAX_DIM:
        return _gaussian_in_thread(params, x, g)
    return _gaussian_energy_grad_blas(params, x, g)


@helper()
def _gaussian_energy_grad_blas(p, x, g):
    """E and g as one row of ``_gaussian_blas_energy_grad``."""
    E = np.empty(1)
    _gaussian_blas_energy_grad(p, x.reshape((1, x.shape[0])), g.reshape((1, g.shape[0])), E)
    return E[0]


@helper()
def _gaussian_blas_energy_grad(p, X, G, E):
    """G = β(X - μ)P and E = β/2 rowwise (x-μ)ᵀP(x-μ): one BLAS product, then one pass."""
    dot_rows(X, p.precision, G)
    affine_quadratic_rows(X, G, p.mean, p.precision_mean, 0.0, p.beta, E)


# --- diagonal Gaussian ----------------------------------------------------------------

@helper()
def _diag_energy(p, x):
    e = 0.0
    for j in range(x.shape[0]):
        r = x[j] - p.mean[j]
        e += p.precision[j] * r * r
    return 0.5 * p.beta * e


@helper()
def _diag_energy_grad(p, x, g):
    e = 0.0
    for j in range(x.shape[0]):
        r = x[j] - p.mean[j]
        g[j] = p.beta * p.precision[j] * r
        e += p.precision[j] * r * r
    return 0.5 * p.beta * e


# --- Gaussian mixture -----------------------------------------------------------------

@helper()
def _quadratic(precision, mean, x):
    """(x-μ)ᵀP(x-μ) without temporaries."""
    total = 0.0
    for j in range(x.shape[0]):
        row = 0.0
        for k in range(x.shape[0]):
            row += precision[j, k] * (x[k] - mean[k])
        total += (x[j] - mean[j]) * row
    return total


@helper()
def _add_scaled_gradient(weight, precision, mean, x, g):
    """g += weight · P(x-μ)."""
    for j in range(x.shape[0]):
        row = 0.0
        for k in range(x.shape[0]):
            row += precision[j, k] * (x[k] - mean[k])
        g[j] += weight * row


@helper()
def _mixture_log_sum(p, x):
    """(m, s): log Σₖ exp(ℓₖ) = m + log s, streamed over components (no allocation)."""
    m, s = -np.inf, 0.0
    for k in range(p.log_coef.shape[0]):
        term = p.log_coef[k] - 0.5 * _quadratic(p.precisions[k], p.means[k], x)
        if term > m:
            s = s * np.exp(m - term) + 1.0
            m = term
        elif term > -np.inf:  # a -inf term adds nothing (and -inf - -inf would be NaN)
            s += np.exp(term - m)
        elif term != term:
            return term, 1.0
    if m == -np.inf:  # every term underflowed: far from all components, E = +inf
        return m, 1.0
    return m, s


@helper()
def _mixture_energy(p, x):
    m, s = _mixture_log_sum(p, x)
    return -p.beta * (m + np.log(s))


@helper()
def _mixture_energy_grad(p, x, g):
    """∇E = β Σₖ rₖ Pₖ(x-μₖ), responsibilities rₖ = exp(ℓₖ - log Σⱼ exp ℓⱼ)."""
    m, s = _mixture_log_sum(p, x)
    lse = m + np.log(s)
    g[:] = 0.0
    for k in range(p.log_coef.shape[0]):
        term = p.log_coef[k] - 0.5 * _quadratic(p.precisions[k], p.means[k], x)
        _add_scaled_gradient(p.beta * np.exp(term - lse), p.precisions[k], p.means[k], x, g)
    return -p.beta * lse


# --- Gaussian-Bernoulli RBM (free energy of the visibles) --------------------------------

@helper()
def softplus(a):
    """log(1 + eᵃ) without overflow: max(a, 0) + log1p(e^{-|a|})."""
    return max(a, 0.0) + np.log1p(np.exp(-abs(a)))


@helper()
def _gbrbm_energy(p, x):
    e = 0.0
    for i in range(x.shape[0]):
        r = (x[i] - p.b[i]) / p.sigma[i]
        e += r * r
    e *= 0.5 * p.beta
    for j in range(p.c.shape[0]):
        a = p.c[j]
        for i in range(x.shape[0]):
            a += p.W_scaled[i, j] * x[i]
        e -= softplus(p.beta * a)
    return e


@helper()
def _gbrbm_energy_grad(p, x, g):
    """∇F = β(v-b)/σ² - β Σⱼ W_scaled,ᵢⱼ σ(β aⱼ)."""
    e = 0.0
    for i in range(x.shape[0]):
        r = (x[i] - p.b[i]) / p.sigma[i]
        e += r * r
        g[i] = p.beta * r / p.sigma[i]
    e *= 0.5 * p.beta
    for j in range(p.c.shape[0]):
        a = p.c[j]
        for i in range(x.shape[0]):
            a += p.W_scaled[i, j] * x[i]
        e -= softplus(p.beta * a)
        s = p.beta / (1.0 + np.exp(-p.beta * a))
        for i in range(x.shape[0]):
            g[i] -= s * p.W_scaled[i, j]
    return e


# --- a user's functions, called through their addresses --------------------------------

@helper(inline=True)
def _function_energy(p, x):
    """β f(x, θ), f the user's compiled function (a first-class function value)."""
    return p.beta * p.energy(x, p.theta)


@helper(inline=True)
def _function_energy_grad(p, x, g):
    """β E and β∇ₓE from the user's gradient function g(x, θ, out) -> E."""
    e = p.energy_grad(x, p.theta, g)
    for j in range(g.shape[0]):
        g[j] *= p.beta
    return p.beta * e


# --- dispatch by parameter type --------------------------------------------------------

_ENERGY = {GaussianParams: _gaussian_energy, DiagGaussianParams: _diag_energy,
           MixtureParams: _mixture_energy, GaussianBernoulliParams: _gbrbm_energy,
           FunctionParams: _function_energy}
_ENERGY_GRAD = {GaussianParams: _gaussian_energy_grad, DiagGaussianParams: _diag_energy_grad,
                MixtureParams: _mixture_energy_grad, GaussianBernoulliParams: _gbrbm_energy_grad,
                FunctionParams: _function_energy_grad}


@overload(energy_point, jit_options={"cache": True}, inline="always")
def _energy_point_impl(params, x):
    fn = _ENERGY.get(_cls(params))
    if fn is _gaussian_energy:
        return fn
    if fn is not None:
        return lambda params, x: fn(params, x)


@overload(energy_grad_point, jit_options={"cache": True}, inline="always")
def _energy_grad_point_impl(params, x, g):
    fn = _ENERGY_GRAD.get(_cls(params))
    if fn is _gaussian_energy_grad:
        return fn
    if fn is not None:
        return lambda params, x, g: fn(params, x, g)


@overload(uses_blas, jit_options={"cache": True}, inline="always")
def _uses_blas_impl(params):
    if _cls(params) is GaussianParams:
        return lambda params: True
    if _cls(params) in _ENERGY:
        return lambda params: False


@overload(blas_energy_grad, jit_options={"cache": True}, inline="always")
def _blas_energy_grad_impl(params, X, G, E):
    if _cls(params) is GaussianParams:
        return lambda params, X, G, E: _gaussian_blas_energy_grad(params, X, G, E)
    if _cls(params) in _ENERGY:
        return lambda params, X, G, E: None

