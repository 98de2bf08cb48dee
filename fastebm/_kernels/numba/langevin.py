"""Langevin kernels: unadjusted (ULA) and Metropolis-adjusted (MALA), all chains per step.

With a preconditioner Σ = LLᵀ (identity, diagonal L = diag(s), or dense lower L) and
whitened gradient u = Lᵀ∇E(x), one step is

    ξ ~ N(0, I),   y = x + L(-h u(x) + √(2h) ξ) = x - hΣ∇E(x) + √(2h) Lξ.

ULA keeps y. MALA accepts y with probability min(1, α),

    log α = E(x) - E(y) - ‖h(u(x) + u(y)) - √(2h) ξ‖² / (4h) + ‖ξ‖² / 2,

the Metropolis-Hastings ratio of the Gaussian proposal q(y|x) = N(x - hΣ∇E(x), 2hΣ)
(Roberts & Tweedie 1996; seed 003, Langevin MCMC). A proposal with a non-finite energy
or gradient is rejected and counted. A ULA chain whose energy turns non-finite or rises
more than ``DIVERGENCE_RISE`` above its start is stopped and its later draws are NaN.

Every chain has its own step size h (an array of shape (n_chains,)). Adaptation
(``adapt``) is dual averaging (Hoffman & Gelman 2014, sec. 3.2) of each chain's h on its
own min(1, α), so chains stay independent and a chain in a region of high curvature
shrinks its step instead of being stuck at the step that suits the others.
"""
import numpy as np
from numba import prange

from .dispatch import entry
from .energies import blas_grad, energy_grad_point, finish_grad, uses_blas
from .philox import fill_normals, uniform
from ._jit import helper

TAG_NOISE = 0
TAG_ACCEPT = 1
DIVERGENCE_RISE = 1000.0
PRECOND_NONE, PRECOND_DIAG, PRECOND_DENSE = 0, 1, 2
RECORD_NONE, RECORD_DRAWS, RECORD_MOMENTS = 0, 1, 2


@helper()
def _whiten(mode, scale, grad, out):
    """u = Lᵀ∇E for the identity and diagonal preconditioners (dense goes through BLAS)."""
    if mode == PRECOND_DIAG:
        for j in range(grad.shape[0]):
            out[j] = scale[j] * grad[j]
    else:
        out[:] = grad


@helper()
def _log_accept(h, e_x, e_y, u_x, u_y, xi):
    """log α of MALA for one chain (see the module docstring)."""
    root = np.sqrt(2.0 * h)
    back = 0.0
    fwd = 0.0
    for j in range(xi.shape[0]):
        r = h * (u_x[j] + u_y[j]) - root * xi[j]
        back += r * r
        fwd += xi[j] * xi[j]
    return e_x - e_y - back / (4.0 * h) + 0.5 * fwd


@helper()
def _all_finite(e, g):
    if not np.isfinite(e):
        return False
    for j in range(g.shape[0]):
        if not np.isfinite(g[j]):
            return False
    return True


@helper()
def _record(mode, slot, x, diverged, draws, mean, m2):
    """Store a kept state: as a draw, or into the running mean and M2 (Welford)."""
    if mode == RECORD_DRAWS:
        if diverged:
            draws[slot, :] = np.nan
        else:
            draws[slot, :] = x
    elif mode == RECORD_MOMENTS:
        k = slot + 1.0
        for j in range(x.shape[0]):
            value = np.nan if diverged else x[j]
            delta = value - mean[j]
            mean[j] += delta / k
            m2[j] += delta * (value - mean[j])


@helper()
def dual_averaging_update(state, accept_prob, target):
    """One dual-averaging step of one chain; state = [log h, log h̄, H̄, t, μ] (in place)."""
    gamma, t0, kappa = 0.05, 10.0, 0.75
    state[3] += 1.0
    t = state[3]
    state[2] = (1.0 - 1.0 / (t + t0)) * state[2] + (target - accept_prob) / (t + t0)
    state[0] = state[4] - np.sqrt(t) / gamma * state[2]
    weight = t ** (-kappa)
    state[1] = weight * state[0] + (1.0 - weight) * state[1]


@entry
def langevin_run(params, x, e, g, u, e_start, step_size, n_steps, step0, k0, k1,
                 metropolize, precond_mode, scale, chol, adapt, adapt_state, target,
                 record_mode, thin, draws, mean, m2, n_accepted, n_divergent, diverged):
    """Advance every chain ``n_steps`` steps in place; see the module docstring.

    ``step_size`` (n,) is each chain's h; with ``adapt`` each step uses exp(adapt_state[i, 0])
    and updates that chain's dual-averaging state (n, 5) instead.
    """
    n, d = x.shape
    xi = np.empty((n, d))
    v = np.empty((n, d))
    y = np.empty((n, d))
    e_y = np.empty(n)
    g_y = np.empty((n, d))
    u_y = np.empty((n, d))
    h = step_size.copy()
    chol_t = np.ascontiguousarray(chol.T)  # BLAS needs contiguous operands
    for s in range(n_steps):
        step = step0 + s
        for i in prange(n):
            if adapt:
                h[i] = np.exp(adapt_state[i, 0])
            root = np.sqrt(2.0 * h[i])
            fill_normals(k0, k1, i, step, TAG_NOISE, xi[i])
            for j in range(d):
                v[i, j] = -h[i] * u[i, j] + root * xi[i, j]
            if precond_mode == PRECOND_DIAG:
                for j in range(d):
                    y[i, j] = x[i, j] + scale[j] * v[i, j]
            elif precond_mode == PRECOND_NONE:
                for j in range(d):
                    y[i, j] = x[i, j] + v[i, j]
        if precond_mode == PRECOND_DENSE:
            np.dot(v, chol_t, y)
            for i in prange(n):
                for j in range(d):
                    y[i, j] += x[i, j]
        if uses_blas(params):
            blas_grad(params, y, g_y)
            for i in prange(n):
                e_y[i] = finish_grad(params, y[i], g_y[i])
        else:
            for i in prange(n):
                e_y[i] = energy_grad_point(params, y[i], g_y[i])
        if precond_mode == PRECOND_DENSE:
            np.dot(g_y, chol, u_y)
        for i in prange(n):
            if not diverged[i]:
                if precond_mode != PRECOND_DENSE:
                    _whiten(precond_mode, scale, g_y[i], u_y[i])
                take, prob = _transition(i, step, k0, k1, h[i], metropolize, e, e_y, e_start,
                                         u, u_y, xi, n_accepted, n_divergent, diverged)
                if take:
                    x[i] = y[i]
                    e[i] = e_y[i]
                    g[i] = g_y[i]
                    u[i] = u_y[i]
                if adapt:
                    dual_averaging_update(adapt_state[i], prob, target)
            if (s + 1) % thin == 0:
                _record(record_mode, (s + 1) // thin - 1, x[i], diverged[i], draws[:, i],
                        mean[i], m2[i])


@helper()
def _transition(i, step, k0, k1, h, metropolize, e, e_y, e_start, u, u_y, xi,
                n_accepted, n_divergent, diverged):
    """Accept or reject chain i's proposal; returns (accepted, min(1, α)).

    ULA accepts every finite proposal that keeps the energy within ``DIVERGENCE_RISE``
    of the start; otherwise the chain is marked diverged.
    """
    finite = _all_finite(e_y[i], u_y[i])
    log_alpha = _log_accept(h, e[i], e_y[i], u[i], u_y[i], xi[i]) if finite else -np.inf
    prob = min(1.0, np.exp(log_alpha))
    if metropolize:
        take = np.log(uniform(k0, k1, i, step, TAG_ACCEPT, 0)) < log_alpha
        if not finite:
            n_divergent[i] += 1
    else:
        take = finite and e_y[i] <= e_start[i] + DIVERGENCE_RISE
        if not take:
            diverged[i] = True
            n_divergent[i] += 1
    if take:
        n_accepted[i] += 1
    return take, prob
