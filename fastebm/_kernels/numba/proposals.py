"""Compiled proposal densities q for independent Metropolis-Hastings and importance
sampling, dispatched on their parameter type like the energies.

- ``proposal_draw(pp, k0, k1, chain, step, tag, xi, out)`` draws y ~ q into ``out``
  from the (chain, step, tag) Philox stream (``xi`` is scratch of shape (d,)) and
  returns log q(y);
- ``proposal_log_density(pp, x)`` → log q(x).

Student-t and mixture proposals draw their extra random numbers from sub-streams of the
caller's tag: the chi-square variate of a t draw from (chain, step, tag | GAMMA_BIT), a
mixture's component from (chain, step, tag | CHOICE_BIT). Tags are small integers and
the ziggurat's slow path sets the top bit, so these counters collide with no other.
"""
import numpy as np
from numba.extending import overload

from ..._contract import (CHOICE_BIT, GAMMA_BIT, GaussianBaseParams, GaussianProposalParams,
                            MixtureProposalParams, StudentTProposalParams,
                            UniformProposalParams)
from .blas import dot_rows
from ._jit import helper
from .energies import affine_quadratic_rows
from .philox import fill_normals, fill_uniforms, uniform

LOG_2PI = np.log(2.0 * np.pi)






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
    return _component_log_density(pp.mean, pp.chol, np.inf, pp.log_norm, x,
                                  np.empty(x.shape[0]))


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


# --- Student-t and mixtures (Gaussian components are t components with df = inf) -------

@helper()
def gamma_variate(k0, k1, chain, step, tag, shape):
    """Gamma(shape, 1) from the uniforms of (chain, step, tag | GAMMA_BIT).

    Marsaglia & Tsang (2000) for a ≥ 1: with d = a - 1/3, c = 1/√(9d), propose
    v = (1 + cx)³ from a normal x and accept if log u < x²/2 + d - dv + d log v; the result
    is dv. Attempt t uses uniforms 1 + 3t and 2 + 3t (a Box-Muller normal,
    x = √(-2 log u₁) cos 2πu₂) and 3 + 3t (u). For a < 1, G(a) = G(a + 1) U^(1/a) with
    U uniform number 0.
    """
    sub = tag | GAMMA_BIT
    a = shape if shape >= 1.0 else shape + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    index = 1
    while True:
        u1 = uniform(k0, k1, chain, step, sub, index)
        u2 = uniform(k0, k1, chain, step, sub, index + 1)
        u3 = uniform(k0, k1, chain, step, sub, index + 2)
        index += 3
        x = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if np.log(u3) < 0.5 * x * x + d - d * v + d * np.log(v):
            break
    g = d * v
    if shape < 1.0:
        g *= np.exp(np.log(uniform(k0, k1, chain, step, sub, 0)) / shape)
    return g


@helper()
def _component_draw(mean, chol, df, log_norm, k0, k1, chain, step, tag, xi, out):
    """y = μ + s Lξ with s = 1 (Gaussian, df = inf) or √(ν/g), g ~ χ²_ν (Student-t);
    returns the component's log density at y, from ‖ξ‖² without a solve."""
    fill_normals(k0, k1, chain, step, tag, xi)
    gaussian = np.isinf(df)
    g = 1.0 if gaussian else 2.0 * gamma_variate(k0, k1, chain, step, tag, 0.5 * df)
    s = 1.0 if gaussian else np.sqrt(df / g)
    d = xi.shape[0]
    sq = 0.0
    for j in range(d):
        acc = 0.0
        for k in range(j + 1):
            acc += chol[j, k] * xi[k]
        out[j] = mean[j] + s * acc
        sq += xi[j] * xi[j]
    if gaussian:
        return log_norm - 0.5 * sq
    return log_norm - 0.5 * (df + d) * np.log1p(sq / g)  # δ² = ν‖ξ‖²/g


@helper()
def _whiten(mean, chol, x, z):
    """z = L⁻¹(x-μ) by forward substitution (z may be the caller's output); returns ‖z‖²."""
    sq = 0.0
    for j in range(x.shape[0]):
        acc = x[j] - mean[j]
        for k in range(j):
            acc -= chol[j, k] * z[k]
        z[j] = acc / chol[j, j]
        sq += z[j] * z[j]
    return sq


@helper()
def _component_log_density(mean, chol, df, log_norm, x, z):
    """log N(x; μ, LLᵀ) (df = inf) or log t_ν(x; μ, LLᵀ), from δ² = ‖L⁻¹(x-μ)‖², with
    z = L⁻¹(x-μ) solved into the scratch ``z`` (shape (d,))."""
    d = x.shape[0]
    sq = _whiten(mean, chol, x, z)
    if np.isinf(df):
        return log_norm - 0.5 * sq
    return log_norm - 0.5 * (df + d) * np.log1p(sq / df)


@helper()
def _component_grad_log_density(mean, chol, df, log_norm, x, out):
    """∇ log q = -f Σ⁻¹(x-μ) = -f L⁻ᵀz (z = L⁻¹(x-μ)) into ``out``, f = 1 (Gaussian) or
    (ν+d)/(ν+δ²) (Student-t); returns log q. Solves in place, no allocation."""
    d = x.shape[0]
    sq = _whiten(mean, chol, x, out)
    for j in range(d - 1, -1, -1):  # back substitution: out = L⁻ᵀz
        acc = out[j]
        for k in range(j + 1, d):
            acc -= chol[k, j] * out[k]
        out[j] = acc / chol[j, j]
    if np.isinf(df):
        factor, log_q = 1.0, log_norm - 0.5 * sq
    else:
        factor, log_q = (df + d) / (df + sq), log_norm - 0.5 * (df + d) * np.log1p(sq / df)
    for j in range(d):
        out[j] = -factor * out[j]
    return log_q


@helper()
def _student_t_draw(pp, k0, k1, chain, step, tag, xi, out):
    return _component_draw(pp.mean, pp.chol, pp.df, pp.log_norm, k0, k1, chain, step, tag,
                           xi, out)


@helper()
def _student_t_log_density(pp, x):
    return _component_log_density(pp.mean, pp.chol, pp.df, pp.log_norm, x,
                                  np.empty(x.shape[0]))


@helper()
def _student_t_grad_log_density(pp, x, out):
    return _component_grad_log_density(pp.mean, pp.chol, pp.df, pp.log_norm, x, out)


@helper()
def _mixture_log_density(pp, x):
    """log Σₖ exp(log wₖ + log qₖ(x)) (``_mixture_log_density_into``, one scratch)."""
    return _mixture_log_density_into(pp, x, np.empty(x.shape[0]))


@helper()
def _mixture_log_density_into(pp, x, z):
    """log Σₖ exp(log wₖ + log qₖ(x)), streamed over the components, each solving into the
    scratch ``z`` (shape (d,), not x)."""
    m, s = -np.inf, 0.0
    for k in range(pp.log_weights.shape[0]):
        term = pp.log_weights[k] + _component_log_density(pp.means[k], pp.chols[k], pp.dfs[k],
                                                           pp.log_norms[k], x, z)
        if term > m:
            s = s * np.exp(m - term) + 1.0
            m = term
        elif term > -np.inf:
            s += np.exp(term - m)
    return m + np.log(s) if m > -np.inf else -np.inf


@helper()
def _mixture_draw(pp, k0, k1, chain, step, tag, xi, out):
    """Component k = min{k : u ≤ Σ_{j≤k} wⱼ} for u uniform on (chain, step, tag | CHOICE_BIT)
    (so a zero-weight component is never chosen), then y ~ q_k on the caller's tag; log q(y)
    solves in ``xi``, free once y is drawn."""
    u = uniform(k0, k1, chain, step, tag | CHOICE_BIT, 0)
    k = 0
    while k < pp.cum_weights.shape[0] - 1 and u > pp.cum_weights[k]:
        k += 1
    _component_draw(pp.means[k], pp.chols[k], pp.dfs[k], pp.log_norms[k], k0, k1, chain, step,
                    tag, xi, out)
    return _mixture_log_density_into(pp, out, xi)


@helper()
def _mixture_grad_log_density(pp, x, out):
    """∇ log q = Σₖ rₖ ∇ log qₖ with responsibilities rₖ = wₖ qₖ(x) / q(x)."""
    scratch = np.empty(x.shape[0])
    log_q = _mixture_log_density_into(pp, x, scratch)
    for j in range(x.shape[0]):
        out[j] = 0.0
    for k in range(pp.log_weights.shape[0]):
        log_qk = _component_grad_log_density(pp.means[k], pp.chols[k], pp.dfs[k],
                                             pp.log_norms[k], x, scratch)
        r = np.exp(pp.log_weights[k] + log_qk - log_q)
        for j in range(x.shape[0]):
            out[j] += r * scratch[j]
    return log_q


_DRAW = {GaussianProposalParams: _gaussian_draw, UniformProposalParams: _uniform_draw,
         StudentTProposalParams: _student_t_draw, MixtureProposalParams: _mixture_draw}
_LOG_DENSITY = {GaussianProposalParams: _gaussian_log_density,
                UniformProposalParams: _uniform_log_density,
                StudentTProposalParams: _student_t_log_density,
                MixtureProposalParams: _mixture_log_density}


@overload(proposal_draw, jit_options={"cache": True}, inline="always")
def _proposal_draw_impl(pp, k0, k1, chain, step, tag, xi, out):
    fn = _DRAW.get(getattr(pp, "instance_class", None))
    if fn is not None:
        return lambda pp, k0, k1, chain, step, tag, xi, out: fn(pp, k0, k1, chain, step,
                                                                 tag, xi, out)


@overload(proposal_log_density, jit_options={"cache": True}, inline="always")
def _proposal_log_density_impl(pp, x):
    fn = _LOG_DENSITY.get(getattr(pp, "instance_class", None))
    if fn is not None:
        return lambda pp, x: fn(pp, x)


# --- ∇ log q, for annealing from a base proposal (fastebm.estimators.ais) --------------


def base_params(pp):
    """The compiled parameters of a proposal used as an annealing base: a Gaussian's
    gain its precision (``GaussianBaseParams``); others are returned unchanged."""
    if type(pp) is GaussianProposalParams:
        inverse = np.linalg.inv(pp.chol)
        precision = np.ascontiguousarray(inverse.T @ inverse)
        return GaussianBaseParams(pp.mean, pp.chol, pp.log_norm, precision, precision @ pp.mean)
    return pp


def proposal_grad_log_density(pp, x, out):
    """Write ∇ₓ log q(x) into ``out`` (shape (d,)) and return log q(x).

    Python-level dispatch; compiled code uses the overload below. Proposal types without
    an entry in ``_GRAD_LOG_DENSITY`` have no compiled gradient.
    """
    return _GRAD_LOG_DENSITY[type(pp)](pp, x, out)


def proposal_grad_log_density_rows(pp, X, out, log_q):
    """``proposal_grad_log_density`` of every row of X: ∇ log q into the rows of ``out``,
    log q into ``log_q``. A Gaussian base takes one BLAS product for all rows."""
    for r in range(X.shape[0]):
        log_q[r] = _GRAD_LOG_DENSITY[type(pp)](pp, X[r], out[r])


@helper()
def _gaussian_grad_log_density(pp, x, out):
    """z = L⁻¹(x-μ) by forward substitution into ``out``, then ∇ log q = -L⁻ᵀz by back
    substitution in place (no allocation); log q = log_norm - ½‖z‖²."""
    return _component_grad_log_density(pp.mean, pp.chol, np.inf, pp.log_norm, x, out)


@helper()
def _base_grad_log_density_rows(pp, X, out, log_q):
    """∇ log q = -P(x-μ) and log q = log_norm - ½(x-μ)ᵀP(x-μ) for every row x of X:
    out = XP (BLAS), then one pass per row (``affine_quadratic_rows``)."""
    dot_rows(X, pp.precision, out)
    affine_quadratic_rows(X, out, pp.mean, pp.precision_mean, pp.log_norm, -1.0, log_q)


@helper()
def _base_grad_log_density(pp, x, out):
    """One point's ∇ log q and log q (``_base_grad_log_density_rows`` on one row)."""
    log_q = np.empty(1)
    _base_grad_log_density_rows(pp, x.reshape((1, x.shape[0])),
                                out.reshape((1, out.shape[0])), log_q)
    return log_q[0]


@helper()
def _base_log_density(pp, x):
    """log q = log_norm - ½(x-μ)ᵀP(x-μ) (RWM; the same as ``_base_grad_log_density``
    up to rounding)."""
    d = x.shape[0]
    quad = 0.0
    for j in range(d):
        acc = 0.0
        for k in range(d):
            acc += pp.precision[j, k] * (x[k] - pp.mean[k])
        quad += (x[j] - pp.mean[j]) * acc
    return pp.log_norm - 0.5 * quad


@helper()
def _uniform_grad_log_density(pp, x, out):
    """∇ log q = 0 (inside the box; log q = -inf outside, where the gradient is moot)."""
    for j in range(x.shape[0]):
        out[j] = 0.0
    return _uniform_log_density(pp, x)


_GRAD_LOG_DENSITY = {GaussianProposalParams: _gaussian_grad_log_density,
                     GaussianBaseParams: _base_grad_log_density,
                     UniformProposalParams: _uniform_grad_log_density}
_DRAW[GaussianBaseParams] = _gaussian_draw
_LOG_DENSITY[GaussianBaseParams] = _base_log_density
_GRAD_LOG_DENSITY[StudentTProposalParams] = _student_t_grad_log_density
_GRAD_LOG_DENSITY[MixtureProposalParams] = _mixture_grad_log_density


@overload(proposal_grad_log_density, jit_options={"cache": True}, inline="always")
def _proposal_grad_log_density_impl(pp, x, out):
    fn = _GRAD_LOG_DENSITY.get(getattr(pp, "instance_class", None))
    if fn is not None:
        return lambda pp, x, out: fn(pp, x, out)



@overload(proposal_grad_log_density_rows, jit_options={"cache": True}, inline="always")
def _proposal_grad_log_density_rows_impl(pp, X, out, log_q):
    cls = getattr(pp, "instance_class", None)
    if cls is GaussianBaseParams:
        return lambda pp, X, out, log_q: _base_grad_log_density_rows(pp, X, out, log_q)
    fn = _GRAD_LOG_DENSITY.get(cls)
    if fn is not None:
        def rows(pp, X, out, log_q):
            for r in range(X.shape[0]):
                log_q[r] = fn(pp, X[r], out[r])
        return rows
