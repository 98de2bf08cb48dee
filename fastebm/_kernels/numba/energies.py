"""Compiled energies of the built-in continuous models, dispatched on their parameter type.

Each model's parameters travel into kernels as a module-level named tuple; the generic
functions below pick the model's implementation by that type at compile time, so one
cached kernel serves every built-in energy. Sign convention: p(x) ∝ exp(-E(x)).

- ``energy_point(params, x)`` → E(x) for one point x of shape (d,).
- ``energy_grad_point(params, x, g)`` → E(x), writing ∇ₓE(x) into g.
- ``uses_blas(params)`` → True where the gradient of a batch is one matrix product,
  ``blas_grad(params, X, G)`` does that product for all chains (BLAS), and
  ``finish_grad(params, x, g)`` completes one point's energy and gradient from it.

A user or composite energy supplies its own functions with the same signatures and the
samplers are specialised to them (see ``dispatch``).
"""
from collections import namedtuple

import numpy as np
from numba.extending import overload

from ._jit import helper


class GaussianParams(namedtuple("GaussianParams", "mean precision precision_mean beta")):
    """Dense Gaussian: E(x) = β/2 (x-μ)ᵀP(x-μ); ``precision_mean`` = Pμ."""


class DiagGaussianParams(namedtuple("DiagGaussianParams", "mean precision beta")):
    """Diagonal Gaussian: E(x) = β/2 Σ pᵢ (xᵢ-μᵢ)²."""


class MixtureParams(namedtuple("MixtureParams", "log_coef means precisions beta")):
    """Gaussian mixture: E(x) = -β log Σₖ exp(cₖ - ½(x-μₖ)ᵀPₖ(x-μₖ)),
    cₖ = log wₖ + ½ log det Pₖ - d/2 log 2π."""


class GaussianBernoulliParams(namedtuple("GaussianBernoulliParams", "W_scaled b c sigma beta")):
    """Gaussian-Bernoulli RBM free energy: F(v) = β Σᵢ (vᵢ-bᵢ)²/(2σᵢ²) - Σⱼ softplus(β aⱼ),
    aⱼ = cⱼ + Σᵢ W_scaled,ᵢⱼ vᵢ with W_scaled = W / σ (rows)."""


# The generic functions: in compiled code the overloads below pick the model's
# implementation by parameter type at compile time; called from Python (or with
# NUMBA_DISABLE_JIT=1) they dispatch on the type at run time.

def energy_point(params, x):
    return _ENERGY[type(params)](params, x)


def energy_grad_point(params, x, g):
    return _ENERGY_GRAD[type(params)](params, x, g)


def uses_blas(params):
    return type(params) is GaussianParams


def blas_grad(params, X, G):
    if type(params) is GaussianParams:
        _gaussian_blas(params, X, G)


def finish_grad(params, x, g):
    if type(params) is GaussianParams:
        return _gaussian_finish(params, x, g)
    return _ENERGY_GRAD[type(params)](params, x, g)


def _cls(params):
    return getattr(params, "instance_class", None)


# --- dense Gaussian -------------------------------------------------------------------

@helper()
def _gaussian_energy(p, x):
    d = x - p.mean
    return 0.5 * p.beta * np.dot(d, np.dot(p.precision, d))


@helper()
def _gaussian_finish(p, x, g):
    """g holds Pᵀx on entry (from BLAS); leaves β P(x-μ) and returns E.

    One pass; four partial sums let the reduction vectorize without reassociating floats.
    """
    d = x.shape[0]
    mean, shift, beta = p.mean, p.precision_mean, p.beta
    e0 = e1 = e2 = e3 = 0.0
    tail = d - d % 4
    for j in range(0, tail, 4):
        g0 = g[j] - shift[j]
        g1 = g[j + 1] - shift[j + 1]
        g2 = g[j + 2] - shift[j + 2]
        g3 = g[j + 3] - shift[j + 3]
        e0 += (x[j] - mean[j]) * g0
        e1 += (x[j + 1] - mean[j + 1]) * g1
        e2 += (x[j + 2] - mean[j + 2]) * g2
        e3 += (x[j + 3] - mean[j + 3]) * g3
        g[j] = beta * g0
        g[j + 1] = beta * g1
        g[j + 2] = beta * g2
        g[j + 3] = beta * g3
    for j in range(tail, d):
        g0 = g[j] - shift[j]
        e0 += (x[j] - mean[j]) * g0
        g[j] = beta * g0
    return 0.5 * beta * ((e0 + e1) + (e2 + e3))


@helper()
def _gaussian_energy_grad(p, x, g):
    g[:] = np.dot(p.precision, x)
    return _gaussian_finish(p, x, g)


@helper()
def _gaussian_blas(p, X, G):
    np.dot(X, p.precision, G)


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


# --- dispatch by parameter type --------------------------------------------------------

_ENERGY = {GaussianParams: _gaussian_energy, DiagGaussianParams: _diag_energy,
           MixtureParams: _mixture_energy, GaussianBernoulliParams: _gbrbm_energy}
_ENERGY_GRAD = {GaussianParams: _gaussian_energy_grad, DiagGaussianParams: _diag_energy_grad,
                MixtureParams: _mixture_energy_grad, GaussianBernoulliParams: _gbrbm_energy_grad}


@overload(energy_point, jit_options={"cache": True})
def _energy_point_impl(params, x):
    fn = _ENERGY.get(_cls(params))
    if fn is not None:
        return lambda params, x: fn(params, x)


@overload(energy_grad_point, jit_options={"cache": True})
def _energy_grad_point_impl(params, x, g):
    fn = _ENERGY_GRAD.get(_cls(params))
    if fn is not None:
        return lambda params, x, g: fn(params, x, g)


@overload(uses_blas, jit_options={"cache": True})
def _uses_blas_impl(params):
    if _cls(params) is GaussianParams:
        return lambda params: True
    if _cls(params) in _ENERGY:
        return lambda params: False


@overload(blas_grad, jit_options={"cache": True})
def _blas_grad_impl(params, X, G):
    if _cls(params) is GaussianParams:
        return lambda params, X, G: _gaussian_blas(params, X, G)
    if _cls(params) in _ENERGY:
        return lambda params, X, G: None


@overload(finish_grad, jit_options={"cache": True})
def _finish_grad_impl(params, x, g):
    if _cls(params) is GaussianParams:
        return lambda params, x, g: _gaussian_finish(params, x, g)
    fn = _ENERGY_GRAD.get(_cls(params))
    if fn is not None:
        return lambda params, x, g: fn(params, x, g)
