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

from ..._contract import PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE, TAG_ACCEPT, TAG_NOISE
from .chains import (copy_rows, copy_values, dual_averaging_update, record_row,
                     share_of_blocks, store_rows, store_values)
from .dispatch import block_entry
from .energies import blas_energy_grad, energy_grad_point
from .philox import fill_first_uniforms, fill_normals, fill_normals_rows
from .blas import dot_rows
from ._jit import helper

DIVERGENCE_RISE = 1000.0
# Up to this dimension a block's normals are drawn across its chains (fill_normals_rows,
# no scalar remainder loop), above it row by row. Measured on 2 threads, 1024 chains in
# blocks of 32 against row by row: 1.55 / 1.84 ns per normal at d = 64, 1.55 / 1.77 at
# 100, 1.61 / 1.69 at 200, 1.89 / 1.69 at 500 (bench/test_bench_rng.py -k rows).
ROWS_NORMALS_MAX_DIM = 256


@helper(inline=True)
def log_accept_row(h, e_x, e_y, u_x, u_y, xi, r):
    """log α of MALA (module docstring) for the chain in row r of the block arrays u_x,
    u_y and ξ.

    Rows are indexed, not sliced: in a compiled loop, each array view costs two atomic
    reference-count updates. Four partial sums let LLVM vectorize the reductions without
    reassociating floats; a non-finite gradient makes the result NaN or -inf.
    """
    root = np.sqrt(2.0 * h)
    b0 = b1 = b2 = b3 = 0.0
    f0 = f1 = f2 = f3 = 0.0
    d = xi.shape[1]
    tail = d - d % 4
    for j in range(0, tail, 4):
        r0 = h * (u_x[r, j] + u_y[r, j]) - root * xi[r, j]
        r1 = h * (u_x[r, j + 1] + u_y[r, j + 1]) - root * xi[r, j + 1]
        r2 = h * (u_x[r, j + 2] + u_y[r, j + 2]) - root * xi[r, j + 2]
        r3 = h * (u_x[r, j + 3] + u_y[r, j + 3]) - root * xi[r, j + 3]
        b0 += r0 * r0
        b1 += r1 * r1
        b2 += r2 * r2
        b3 += r3 * r3
        f0 += xi[r, j] * xi[r, j]
        f1 += xi[r, j + 1] * xi[r, j + 1]
        f2 += xi[r, j + 2] * xi[r, j + 2]
        f3 += xi[r, j + 3] * xi[r, j + 3]
    for j in range(tail, d):
        r0 = h * (u_x[r, j] + u_y[r, j]) - root * xi[r, j]
        b0 += r0 * r0
        f0 += xi[r, j] * xi[r, j]
    back = (b0 + b1) + (b2 + b3)
    fwd = (f0 + f1) + (f2 + f3)
    return e_x - e_y - back / (4.0 * h) + 0.5 * fwd


@block_entry
def langevin_run(params, chains, step_size, n_steps, streams, metropolize, precond,
                 adaptation, records, counters, evaluate, wide, short, point_grad, dense,
                 block, share, shares):
    """Advance the chains of blocks ``share`` of ``shares`` (``share_of_blocks``)
    ``n_steps`` steps in place; see the module docstring. Called without the last two,
    it advances every chain, one thread per share (``_jit.over_blocks``).

    With ``evaluate``, E and ∇E of the states are computed first, by the same code as
    the proposals' (``LangevinRunner`` starts with ``n_steps`` = 0: one kernel to
    compile, not two). Four arguments are None or True, and Numba prunes the branches
    on ``arg is None`` before typing, so that code the call cannot take is not compiled
    (``runners.wide_rows``): ``wide`` (None for d ≤
    ``ROWS_NORMALS_MAX_DIM``: normals drawn across a block's chains, not row by row),
    ``short`` (True for d < ``philox.ROW_VIEW_MIN``: those normals finished by the code
    for short rows only), ``point_grad`` (None where ``uses_blas(params)``: a block's
    gradients by BLAS, not point by point) and ``dense`` (None unless the
    preconditioner is dense: no products by its factor).

    Blocks have ``block`` chains; a share runs all steps of each of its blocks in turn,
    with the block's matrix products through BLAS. ``step_size`` (n,) is each chain's h;
    with ``adapt`` each step uses exp(adapt_state[i, 0]) and updates that chain's
    dual-averaging state (n, 5) instead.

    A block's current and proposed states live in arrays of its own thread. After the
    accept step the proposal arrays are made to hold every chain's new state (the
    rejected rows copied back, or the accepted rows copied over, whichever is fewer)
    and the two sets of arrays swap roles: ULA, which takes every step, copies nothing.
    Rows are indexed, never sliced, inside the step loop (see ``log_accept_row``).
    The records (``fastebm._contract``) are unpacked before the loop over blocks.
    """
    x, e, g, u, e_start, diverged = chains
    k0, k1, step0, chain0 = streams
    precond_mode, scale, chol = precond
    adapt, adapt_state, target = adaptation
    record_mode, thin, draws, mean, m2, first = records
    n_accepted, n_divergent = counters
    n, d = x.shape
    # BLAS needs contiguous operands (dense only: ``dense`` prunes the copy's code)
    chol_t = np.ascontiguousarray(chol.T) if dense is not None else chol
    whitened = precond_mode != PRECOND_NONE  # else u is ∇E and one array serves as both
    first_block, end_block = share_of_blocks(n, block, share, shares)
    for b in range(first_block, end_block):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        xc, gc, ec = x[lo:hi].copy(), g[lo:hi].copy(), e[lo:hi].copy()
        uc = u[lo:hi].copy() if whitened else gc
        y, g_y, e_y = np.empty((m, d)), np.empty((m, d)), np.empty(m)
        u_y = np.empty((m, d)) if whitened else g_y
        xi = np.empty((m, d))
        v = np.empty((m, d) if precond_mode == PRECOND_DENSE else (1, 1))
        take = np.zeros(m, dtype=np.bool_)
        u_accept = np.empty(m)
        h = step_size[lo:hi].copy()
        buf = np.empty((d + 1, m))
        if evaluate:  # E and ∇E of the states first (the runner's start)
            if point_grad is None:
                blas_energy_grad(params, xc, gc, ec)
            else:
                for r in range(m):
                    ec[r] = energy_grad_point(params, xc[r], gc[r])
        for s in range(n_steps):
            step = step0 + s
            if wide is None:  # short rows: draw across the block's chains
                fill_normals_rows(k0, k1, chain0 + lo, step, TAG_NOISE, xi, buf, short)
            else:
                for r in range(m):
                    fill_normals(k0, k1, chain0 + lo + r, step, TAG_NOISE, xi[r])
            if metropolize:  # the block's accept uniforms, vectorized across its chains
                fill_first_uniforms(k0, k1, chain0 + lo, step, TAG_ACCEPT, u_accept)
            if adapt:
                for r in range(m):
                    h[r] = np.exp(adapt_state[lo + r, 0])
            _propose_block(dense, precond_mode, h, xc, uc, xi, scale, v, y)
            if dense is not None:  # precond_mode == PRECOND_DENSE
                dot_rows(v, chol_t, y)
                y += xc
            if point_grad is None:  # uses_blas(params): runners.point_grad
                blas_energy_grad(params, y, g_y, e_y)
            else:
                for r in range(m):
                    e_y[r] = energy_grad_point(params, y[r], g_y[r])
            if dense is not None:  # precond_mode == PRECOND_DENSE
                dot_rows(g_y, chol, u_y)
            elif precond_mode == PRECOND_DIAG:
                _whiten_block(scale, g_y, u_y)
            n_take = 0
            for r in range(m):
                i = lo + r
                take[r] = False
                if not diverged[i]:
                    take[r], prob = _transition(i, r, u_accept[r], h[r], metropolize, adapt,
                                                ec[r], e_y[r], e_start[i], uc, u_y, g_y, xi,
                                                n_accepted, n_divergent, diverged)
                    n_take += take[r]
                    if adapt:
                        dual_averaging_update(adapt_state, i, prob, target)
            if 2 * n_take >= m:  # y becomes the current state: restore its rejected rows
                copy_rows(take, False, xc, y)
                copy_rows(take, False, gc, g_y)
                copy_values(take, False, ec, e_y)
                if whitened:
                    copy_rows(take, False, uc, u_y)
                xc, y = y, xc
                gc, g_y = g_y, gc
                ec, e_y = e_y, ec
                if whitened:
                    uc, u_y = u_y, uc
                else:
                    uc, u_y = gc, g_y
            else:
                copy_rows(take, True, y, xc)
                copy_rows(take, True, g_y, gc)
                copy_values(take, True, e_y, ec)
                if whitened:
                    copy_rows(take, True, u_y, uc)
            if (s + 1) % thin == 0:
                for r in range(m):
                    record_row(record_mode, first + (s + 1) // thin - 1, xc, r, diverged[lo + r],
                               draws, mean, m2, lo + r)
        store_rows(xc, x, lo)
        store_rows(gc, g, lo)
        store_values(ec, e, lo)
        if whitened:
            store_rows(uc, u, lo)


@helper()
def _propose_block(dense, precond_mode, h, x, u, xi, scale, v, y):
    """Row r: y = x - h L u + √(2h) L ξ for the identity or diagonal L; for the dense L
    (``dense`` True, else None: the kernel's argument, which prunes the other branch)
    only v = -h u + √(2h) ξ (the kernel multiplies by L through BLAS)."""
    m, d = xi.shape
    for r in range(m):
        step = h[r]
        root = np.sqrt(2.0 * step)
        if dense is not None:
            for j in range(d):
                v[r, j] = -step * u[r, j] + root * xi[r, j]
        elif precond_mode == PRECOND_DIAG:
            for j in range(d):
                y[r, j] = x[r, j] + scale[j] * (-step * u[r, j] + root * xi[r, j])
        else:
            for j in range(d):
                y[r, j] = x[r, j] + (-step * u[r, j] + root * xi[r, j])


@helper()
def _whiten_block(scale, grad, out):
    """u = Lᵀ∇E = s ⊙ ∇E, row by row, for the diagonal preconditioner."""
    m, d = grad.shape
    for r in range(m):
        for j in range(d):
            out[r, j] = scale[j] * grad[r, j]


@helper(inline=True)
def _row_finite(a, r):
    """Whether row r of a is finite everywhere (its sum is finite: one vectorized pass)."""
    total = 0.0
    for j in range(a.shape[1]):
        total += a[r, j] * 0.0
    return total == 0.0


@helper(inline=True)
def _transition(i, r, u_accept, h, metropolize, adapt, e_x, e_y, e_start, u_x, u_y,
                g_y, xi, n_accepted, n_divergent, diverged):
    """Accept or reject chain i's proposal (block row r); returns (accepted, min(1, α)).
    ``u_accept`` is the chain's uniform of (its global index, step, TAG_ACCEPT).

    MALA accepts with probability min(1, α). ULA accepts every proposal whose energy
    and gradient are finite and whose energy stays within ``DIVERGENCE_RISE`` of the
    start; otherwise the chain is marked diverged. ULA computes α only to adapt.
    """
    if metropolize or adapt:
        log_alpha = log_accept_row(h, e_x, e_y, u_x, u_y, xi, r)
        finite = np.isfinite(e_y) and not np.isnan(log_alpha) and log_alpha != -np.inf
        if not finite:
            log_alpha = -np.inf
        prob = min(1.0, np.exp(log_alpha)) if adapt else 1.0
    else:
        finite = np.isfinite(e_y) and _row_finite(g_y, r)
        log_alpha = prob = 1.0
    if metropolize:
        take = log_alpha >= 0.0 or np.log(u_accept) < log_alpha
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
