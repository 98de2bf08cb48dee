"""Compiled proposal densities q for independent Metropolis-Hastings and importance
sampling, dispatched on their parameter type like the energies.

- ``proposal_draw(pp, k0, k1, chain, step, tag, xi, out)`` draws y ~ q into ``out``
  from the (chain, step, tag) Philox stream (``xi`` is scratch of shape (d,)) and
  returns log q(y);
- ``proposal_log_density(pp, x)`` → log q(x).
"""
from collections import namedtuple

import numpy as np
from numba.extending import overload

from ._jit import helper
from .philox import fill_normals, fill_uniforms

LOG_2PI = np.log(2.0 * np.pi)


class GaussianProposalParams(namedtuple("GaussianProposalParams", "mean chol log_norm")):
    """N(μ, LLᵀ); log_norm = -Σ log Lᵢᵢ - d/2 log 2π."""


class UniformProposalParams(namedtuple("UniformProposalParams", "low high log_norm")):
    """Uniform on the box [low, high]; log_norm = -Σ log(highᵢ - lowᵢ)."""


def proposal_draw(pp, k0, k1, chain, step, tag, xi, out):
    """Python-level dispatch (compiled code uses the overload below)."""
    return _DRAW[type(pp)](pp, k0, k1, chain, step, tag, xi, out)


def proposal_log_density(pp, x):
    return _LOG_DENSITY[type(pp)](pp, x)


@helper()
def _gaussian_draw(pp, k0, k1, chain, step, tag, xi, out):
    fill_normals(k0, k1, chain, step, tag, xi)
    d = xi.shape[0]
    sq = 0.0
    for j in range(d):
        acc = pp.mean[j]
        for k in range(j + 1):
            acc += pp.chol[j, k] * xi[k]
        out[j] = acc
        sq += xi[j] * xi[j]
    return pp.log_norm - 0.5 * sq


@helper()
def _gaussian_log_density(pp, x):
    """Forward substitution L z = x - μ, then log q = log_norm - ½‖z‖²."""
    d = x.shape[0]
    z = np.empty(d)
    sq = 0.0
    for j in range(d):
        acc = x[j] - pp.mean[j]
        for k in range(j):
            acc -= pp.chol[j, k] * z[k]
        z[j] = acc / pp.chol[j, j]
        sq += z[j] * z[j]
    return pp.log_norm - 0.5 * sq


@helper()
def _uniform_draw(pp, k0, k1, chain, step, tag, xi, out):
    fill_uniforms(k0, k1, chain, step, tag, xi)
    for j in range(xi.shape[0]):
        out[j] = pp.low[j] + (pp.high[j] - pp.low[j]) * xi[j]
    return pp.log_norm


@helper()
def _uniform_log_density(pp, x):
    for j in range(x.shape[0]):
        if not (pp.low[j] <= x[j] <= pp.high[j]):
            return -np.inf
    return pp.log_norm


_DRAW = {GaussianProposalParams: _gaussian_draw, UniformProposalParams: _uniform_draw}
_LOG_DENSITY = {GaussianProposalParams: _gaussian_log_density,
                UniformProposalParams: _uniform_log_density}


@overload(proposal_draw, jit_options={"cache": True})
def _proposal_draw_impl(pp, k0, k1, chain, step, tag, xi, out):
    fn = _DRAW.get(getattr(pp, "instance_class", None))
    if fn is not None:
        return lambda pp, k0, k1, chain, step, tag, xi, out: fn(pp, k0, k1, chain, step,
                                                                 tag, xi, out)


@overload(proposal_log_density, jit_options={"cache": True})
def _proposal_log_density_impl(pp, x):
    fn = _LOG_DENSITY.get(getattr(pp, "instance_class", None))
    if fn is not None:
        return lambda pp, x: fn(pp, x)
