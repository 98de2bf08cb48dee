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

from .chains import PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE, _record, dual_averaging_update
from .dispatch import entry
from .energies import blas_grad, energy_grad_point, finish_grad, uses_blas
from .philox import fill_normals, fill_normals_rows, uniform
from ._jit import helper

TAG_NOISE = 0
TAG_ACCEPT = 1
DIVERGENCE_RISE = 1000.0
ROWS_NORMALS_MAX_DIM = 32  # above, a row is long enough to vectorize on its own


@helper()
def _whiten(scale, grad, out):
    """u = Lᵀ∇E = s ⊙ ∇E for the diagonal preconditioner (dense goes through BLAS; with
    no preconditioner u is ∇E itself and the runner passes one array as both u and g)."""
    for j in range(grad.shape[0]):
        out[j] = scale[j] * grad[j]


@helper()
def _log_accept(h, e_x, e_y, u_x, u_y, xi):
    """log α of MALA for one chain (see the module docstring).

    Four partial sums let LLVM vectorize the reductions without reassociating floats;
    a non-finite gradient makes the result NaN or -inf.
    """
    root = np.sqrt(2.0 * h)
    b0 = b1 = b2 = b3 = 0.0
    f0 = f1 = f2 = f3 = 0.0
    d = xi.shape[0]
    tail = d - d % 4
    for j in range(0, tail, 4):
        r0 = h * (u_x[j] + u_y[j]) - root * xi[j]
        r1 = h * (u_x[j + 1] + u_y[j + 1]) - root * xi[j + 1]
        r2 = h * (u_x[j + 2] + u_y[j + 2]) - root * xi[j + 2]
        r3 = h * (u_x[j + 3] + u_y[j + 3]) - root * xi[j + 3]
        b0 += r0 * r0
        b1 += r1 * r1
        b2 += r2 * r2
        b3 += r3 * r3
        f0 += xi[j] * xi[j]
        f1 += xi[j + 1] * xi[j + 1]
        f2 += xi[j + 2] * xi[j + 2]
        f3 += xi[j + 3] * xi[j + 3]
    for j in range(tail, d):
        r0 = h * (u_x[j] + u_y[j]) - root * xi[j]
        b0 += r0 * r0
        f0 += xi[j] * xi[j]
    back = (b0 + b1) + (b2 + b3)
    fwd = (f0 + f1) + (f2 + f3)
    return e_x - e_y - back / (4.0 * h) + 0.5 * fwd


@entry
def langevin_run(params, x, e, g, u, e_start, step_size, n_steps, step0, k0, k1,
                 metropolize, precond_mode, scale, chol, adapt, adapt_state, target,
                 record_mode, thin, draws, mean, m2, n_accepted, n_divergent, diverged,
                 block):
    """Advance every chain ``n_steps`` steps in place; see the module docstring.

    One parallel region per call: threads take blocks of ``block`` chains and run all
    steps of their block, with the block's matrix products through BLAS. ``step_size``
    (n,) is each chain's h; with ``adapt`` each step uses exp(adapt_state[i, 0]) and
    updates that chain's dual-averaging state (n, 5) instead.
    """
    n, d = x.shape
    chol_t = np.ascontiguousarray(chol.T)  # BLAS needs contiguous operands
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        xi = np.empty((m, d))
        v = np.empty((m, d))
        y = np.empty((m, d))
        e_y = np.empty(m)
        g_y = np.empty((m, d))
        u_y = np.empty((m, d))
        h = step_size[lo:hi].copy()
        buf = np.empty((d + 1, m))
        for s in range(n_steps):
            step = step0 + s
            if d <= ROWS_NORMALS_MAX_DIM:  # short rows: draw across the block's chains
                fill_normals_rows(k0, k1, lo, step, TAG_NOISE, xi, buf)
            for r in range(m):
                i = lo + r
                if adapt:
                    h[r] = np.exp(adapt_state[i, 0])
                if d > ROWS_NORMALS_MAX_DIM:
                    fill_normals(k0, k1, i, step, TAG_NOISE, xi[r])
                _propose(precond_mode, h[r], x[i], u[i], xi[r], scale, v[r], y[r])
            if precond_mode == PRECOND_DENSE:
                np.dot(v, chol_t, y)
                y += x[lo:hi]
            if uses_blas(params):
                blas_grad(params, y, g_y)
                for r in range(m):
                    e_y[r] = finish_grad(params, y[r], g_y[r])
            else:
                for r in range(m):
                    e_y[r] = energy_grad_point(params, y[r], g_y[r])
            if precond_mode == PRECOND_DENSE:
                np.dot(g_y, chol, u_y)
            for r in range(m):
                i = lo + r
                if not diverged[i]:
                    if precond_mode == PRECOND_DIAG:
                        _whiten(scale, g_y[r], u_y[r])
                    u_next = g_y[r] if precond_mode == PRECOND_NONE else u_y[r]
                    take, prob = _transition(i, step, k0, k1, h[r], metropolize, e[i], e_y[r],
                                             e_start[i], u[i], u_next, xi[r], n_accepted,
                                             n_divergent, diverged)
                    if take:
                        e[i] = e_y[r]
                        for j in range(d):
                            x[i, j] = y[r, j]
                            g[i, j] = g_y[r, j]
                        if precond_mode != PRECOND_NONE:
                            for j in range(d):
                                u[i, j] = u_y[r, j]
                    if adapt:
                        dual_averaging_update(adapt_state[i], prob, target)
                if (s + 1) % thin == 0:
                    _record(record_mode, (s + 1) // thin - 1, x[i], diverged[i], draws[:, i],
                            mean[i], m2[i])


@helper()
def _propose(precond_mode, h, x, u, xi, scale, v, y):
    """v = -h u + √(2h) ξ and, unless dense (done by BLAS), y = x + L v."""
    root = np.sqrt(2.0 * h)
    for j in range(x.shape[0]):
        v[j] = -h * u[j] + root * xi[j]
    if precond_mode == PRECOND_DIAG:
        for j in range(x.shape[0]):
            y[j] = x[j] + scale[j] * v[j]
    elif precond_mode == PRECOND_NONE:
        for j in range(x.shape[0]):
            y[j] = x[j] + v[j]


@helper()
def _transition(i, step, k0, k1, h, metropolize, e_x, e_y, e_start, u_x, u_y, xi,
                n_accepted, n_divergent, diverged):
    """Accept or reject chain i's proposal; returns (accepted, min(1, α)).

    ULA accepts every finite proposal that keeps the energy within ``DIVERGENCE_RISE``
    of the start; otherwise the chain is marked diverged.
    """
    log_alpha = _log_accept(h, e_x, e_y, u_x, u_y, xi)
    finite = np.isfinite(e_y) and not np.isnan(log_alpha) and log_alpha != -np.inf
    if not finite:
        log_alpha = -np.inf
    prob = min(1.0, np.exp(log_alpha))
    if metropolize:
        take = log_alpha >= 0.0 or np.log(uniform(k0, k1, i, step, TAG_ACCEPT, 0)) < log_alpha
        if not finite:
            n_divergent[i] += 1
    else:
        take = finite and e_y <= e_start + DIVERGENCE_RISE
        if not take:
            diverged[i] = True
            n_divergent[i] += 1
    if take:
        n_accepted[i] += 1
    return take, prob
