"""Annealed importance sampling (AIS) along the geometric path from a base proposal q.

The intermediate targets are π_β(x) ∝ q(x)^{1-β} exp(-βE(x)), i.e. the energies

    U_β(x) = βE(x) - (1-β) log q(x),   ∇U_β = β∇E - (1-β)∇log q,

from π₀ = q (normalized, Z₀ = 1) to π₁ ∝ exp(-E). A chain visits β_0, β_1, …, β_K; at
the k-th temperature its log weight grows by

    (β_k - β_{k-1}) (-E(x) - log q(x))

at its current state x, then it takes ``n_steps`` transitions that leave π_{β_k}
invariant (Neal 2001, eq. 2-3): MALA or random-walk Metropolis on U_β, or unadjusted
Langevin (which does not, so its estimate is biased). The last temperature takes no
transition (its state does not enter the weight). Visiting the schedule backwards from
exact draws of π₁ gives the reverse chain of bidirectional Monte Carlo (Grosse,
Ghahramani & Adams 2016): its weights estimate 1/Z.

Streams: the numbers of chain i (its global index, ``first_chain`` + row) are those of
counter (i, step, tag) with step = k·n_steps + s for the s-th transition at the k-th
temperature visited; the base draw is (i, 0, TAG_PROPOSAL). ``tag0`` shifts the tags, so that the pilot run of the adaptive schedule
uses streams disjoint from the estimate's. No intermediate state is kept.

Each entry point anneals every chain through a whole schedule in one call, serial over
one share of its blocks of chains, one thread per share (``_jit.over_blocks``):
``ais_langevin`` (MALA, ULA) over blocks of chains with their gradients by one BLAS
product per block where the energy has one (as ``langevin``), ``ais_random_walk`` over
single chains (energies only).
"""
import numpy as np

from ..._contract import START_DRAW, START_READY, TAG_ACCEPT, TAG_NOISE, TAG_PROPOSAL
from ._jit import helper
from .dispatch import block_entry
from .energies import blas_energy_grad, energy_grad_point, energy_point, uses_blas
from .chains import (add_block_counts, copy_rows, copy_values, share_of_blocks, store_rows,
                     store_values)
from .blas import dot_rows
from .langevin import log_accept_row
from .philox import fill_first_uniforms, fill_normals, fill_normals_rows, uniform
from .proposals import proposal_draw, proposal_grad_log_density_rows, proposal_log_density



@helper()
def annealed_energy(beta, e, log_q):
    """U_β = βE - (1-β) log q, exact at the ends (where 0·∞ would be NaN)."""
    if beta == 1.0:
        return e
    if beta == 0.0:
        return -log_q
    return beta * e - (1.0 - beta) * log_q


@helper()
def log_increment(delta_beta, e, log_q):
    """(β_k - β_{k-1}) (-E(x) - log q(x))."""
    return delta_beta * (-e - log_q)


@helper()
def _annealed_proposal_block(beta, h, x, g, grad_log_q, xi, u, y):
    """Row r: u = ∇U_β(x) = β∇E - (1-β)∇log q and y = x - h u + √(2h) ξ."""
    m, d = x.shape
    c = 1.0 - beta
    root = np.sqrt(2.0 * h)
    for r in range(m):
        for j in range(d):
            u[r, j] = beta * g[r, j] - c * grad_log_q[r, j]
            y[r, j] = x[r, j] - h * u[r, j] + root * xi[r, j]


@helper()
def _whitened_step_block(h, u, xi, v):
    """Row r: v = -h u + √(2h) ξ, the whitened move of preconditioned Langevin (the glue
    multiplies it by Lᵀ from the right: y = x + v Lᵀ)."""
    m, d = u.shape
    root = np.sqrt(2.0 * h)
    for r in range(m):
        for j in range(d):
            v[r, j] = -h * u[r, j] + root * xi[r, j]


@helper()
def _drift_block(beta, g, grad_log_q, u):
    """u = ∇U_β = β∇E - (1-β)∇log q, row by row."""
    m, d = g.shape
    c = 1.0 - beta
    for r in range(m):
        for j in range(d):
            u[r, j] = beta * g[r, j] - c * grad_log_q[r, j]


@helper(inline=True)
def _langevin_take(r, u_accept, beta, h, metropolize, e_x, log_q_x, u_x, e_y, log_q_y, u_y,
                   xi):
    """(take, bad) for the proposal of the chain in block row r of u_x, u_y, xi;
    ``u_accept`` is its accept uniform.

    MALA accepts with min(1, α), log α as in ``langevin.log_accept_row`` on U_β; ULA
    takes every proposal inside the support of π_β. ``bad``: a non-finite energy or
    gradient (or, for ULA, a proposal outside the support), rejected and counted as
    divergent.
    """
    target_x = annealed_energy(beta, e_x, log_q_x)
    target_y = annealed_energy(beta, e_y, log_q_y)
    log_alpha = log_accept_row(h, target_x, target_y, u_x, u_y, xi, r)
    if not np.isfinite(e_y) or log_alpha != log_alpha:
        return False, True
    if not metropolize:
        return target_y < np.inf, not (target_y < np.inf)
    return log_alpha >= 0.0 or np.log(u_accept) < log_alpha, False


@block_entry
def ais_langevin(params, base, chains, counters, schedule, start, metropolize, streams,
                 tag0, wide, short, block, share, shares):
    """Anneal every chain through ``betas`` with MALA (``metropolize``) or ULA steps;
    this call takes the blocks of ``block`` chains of share ``share`` of ``shares``
    (``chains.share_of_blocks``), and called without the last two, every chain, one
    thread per share (``_jit.over_blocks``).

    State arrays (updated in place): x (n, d), e = E(x), g = ∇E(x), log_q, grad_log_q,
    log_w (accumulated). ``step_size[k]`` is h at ``betas[k]``; the k-th temperature
    uses step counters (k_offset + k)·n_steps + s. ``transition_last`` also moves the
    chains at the last temperature (the adaptive pilot continues from there).

    With a preconditioner (``chol`` holds one Lₖ per temperature, Σₖ = LₖLₖᵀ) the moves at
    βₖ are those of ``langevin.langevin_run`` with Σₖ on U_β: whitened drift u = Lₖᵀ∇U_β,
    y = x + Lₖ(-h u + √(2h) ξ), and log α with the whitened drifts at x and y (Roberts &
    Stramer 2002, preconditioned Langevin); the products are BLAS calls per block.

    As in ``langevin.langevin_run``, a block's current and proposed states are arrays of
    its thread, indexed by row, and swap roles after each step (``copy_rows``); ``wide``
    and ``short`` are its arguments of the same names (``runners.wide_rows``,
    ``runners.short_rows``), so that a process running AIS and MALA on states of one
    dimension compiles one ``fill_normals_rows``.
    """
    x, e, g, log_q, grad_log_q, log_w = chains
    n_accepted, n_divergent = counters
    betas, step_size, n_steps, k_offset, transition_last, chol, chol_t = schedule
    k0, k1, _, chain0 = streams
    n, d = x.shape
    n_temps = betas.shape[0]
    precondition = chol.shape[0] > 0
    first_block, end_block = share_of_blocks(n, block, share, shares)
    for b in range(first_block, end_block):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        xi = np.empty((m, d))
        buf = np.empty((d + 1, m))
        if start == START_DRAW:
            for i in range(lo, hi):
                proposal_draw(base, k0, k1, chain0 + i, 0, tag0 + TAG_PROPOSAL, xi[i - lo], x[i])
        if start != START_READY:
            if uses_blas(params):
                blas_energy_grad(params, x[lo:hi], g[lo:hi], e[lo:hi])
            else:
                for i in range(lo, hi):
                    e[i] = energy_grad_point(params, x[i], g[i])
            proposal_grad_log_density_rows(base, x[lo:hi], grad_log_q[lo:hi], log_q[lo:hi])
        xc, ec, gc = x[lo:hi].copy(), e[lo:hi].copy(), g[lo:hi].copy()
        lqc, glqc = log_q[lo:hi].copy(), grad_log_q[lo:hi].copy()
        y, e_y, g_y = np.empty((m, d)), np.empty(m), np.empty((m, d))
        lq_y, glq_y = np.empty(m), np.empty((m, d))
        u_x, u_y = np.empty((m, d)), np.empty((m, d))
        shape = (m, d) if precondition else (1, 1)
        raw, v = np.empty(shape), np.empty(shape)
        lw = log_w[lo:hi].copy()
        accepted = np.zeros(m, dtype=np.int64)
        divergent = np.zeros(m, dtype=np.int64)
        take = np.zeros(m, dtype=np.bool_)
        u_accept = np.empty(m)
        for k in range(1, n_temps):
            beta = betas[k]
            for r in range(m):
                lw[r] += log_increment(beta - betas[k - 1], ec[r], lqc[r])
            if k == n_temps - 1 and not transition_last:
                break
            h = step_size[k]
            for s in range(n_steps):
                step = (k_offset + k) * n_steps + s
                if wide is None:  # d <= ROWS_NORMALS_MAX_DIM: across the block's chains
                    fill_normals_rows(k0, k1, chain0 + lo, step, tag0 + TAG_NOISE, xi, buf,
                                      short)
                else:
                    for r in range(m):
                        fill_normals(k0, k1, chain0 + lo + r, step, tag0 + TAG_NOISE, xi[r])
                if metropolize:  # the accept uniforms, vectorized across the block
                    fill_first_uniforms(k0, k1, chain0 + lo, step, tag0 + TAG_ACCEPT, u_accept)
                if precondition:
                    _drift_block(beta, gc, glqc, raw)
                    dot_rows(raw, chol[k], u_x)
                    _whitened_step_block(h, u_x, xi, v)
                    dot_rows(v, chol_t[k], y)
                    y += xc
                else:
                    _annealed_proposal_block(beta, h, xc, gc, glqc, xi, u_x, y)
                if uses_blas(params):
                    blas_energy_grad(params, y, g_y, e_y)
                else:
                    for r in range(m):
                        e_y[r] = energy_grad_point(params, y[r], g_y[r])
                proposal_grad_log_density_rows(base, y, glq_y, lq_y)
                if precondition:
                    _drift_block(beta, g_y, glq_y, raw)
                    dot_rows(raw, chol[k], u_y)
                else:
                    _drift_block(beta, g_y, glq_y, u_y)
                n_take = 0
                for r in range(m):
                    take[r], bad = _langevin_take(r, u_accept[r], beta, h, metropolize, ec[r],
                                                  lqc[r], u_x, e_y[r], lq_y[r], u_y, xi)
                    accepted[r] += take[r]
                    divergent[r] += bad
                    n_take += take[r]
                if 2 * n_take >= m:  # y becomes the current state: restore its rejected rows
                    copy_rows(take, False, xc, y)
                    copy_rows(take, False, gc, g_y)
                    copy_rows(take, False, glqc, glq_y)
                    copy_values(take, False, ec, e_y)
                    copy_values(take, False, lqc, lq_y)
                    xc, y = y, xc
                    gc, g_y = g_y, gc
                    glqc, glq_y = glq_y, glqc
                    ec, e_y = e_y, ec
                    lqc, lq_y = lq_y, lqc
                else:
                    copy_rows(take, True, y, xc)
                    copy_rows(take, True, g_y, gc)
                    copy_rows(take, True, glq_y, glqc)
                    copy_values(take, True, e_y, ec)
                    copy_values(take, True, lq_y, lqc)
        store_rows(xc, x, lo)
        store_values(ec, e, lo)
        store_rows(gc, g, lo)
        store_values(lqc, log_q, lo)
        store_rows(glqc, grad_log_q, lo)
        store_values(lw, log_w, lo)
        add_block_counts(lo, accepted, divergent, n_accepted, n_divergent)


@helper(inline=True)
def _random_walk_take(chain, step, k0, k1, tag, beta, e_x, log_q_x, e_y, log_q_y):
    """(take, bad): Metropolis on U_β; a NaN or +inf energy is rejected and counted."""
    if not (e_y < np.inf):
        return False, True
    log_alpha = annealed_energy(beta, e_x, log_q_x) - annealed_energy(beta, e_y, log_q_y)
    if log_alpha != log_alpha:
        return False, True
    return log_alpha >= 0.0 or np.log(uniform(k0, k1, chain, step, tag, 0)) < log_alpha, False


@block_entry
def ais_random_walk(params, base, chains, counters, schedule, start, streams, tag0, share,
                    shares):
    """Anneal every chain through ``betas`` with random-walk Metropolis steps
    y = x + σξ (σ = ``step_size[k]``); the arguments are those of ``ais_langevin``, the
    chains of share ``share`` of ``shares`` one by one (blocks of one chain)."""
    x, e, _, log_q, _, log_w = chains
    n_accepted, n_divergent = counters
    betas, step_size, n_steps, k_offset, transition_last, _, _ = schedule
    k0, k1, _, chain0 = streams
    n, d = x.shape
    n_temps = betas.shape[0]
    first_chain, end_chain = share_of_blocks(n, 1, share, shares)
    for i in range(first_chain, end_chain):
        xi = np.empty(d)
        y = np.empty(d)
        if start == START_DRAW:
            proposal_draw(base, k0, k1, chain0 + i, 0, tag0 + TAG_PROPOSAL, xi, x[i])
        if start != START_READY:
            e[i] = energy_point(params, x[i])
            log_q[i] = proposal_log_density(base, x[i])
        for k in range(1, n_temps):
            beta = betas[k]
            log_w[i] += log_increment(beta - betas[k - 1], e[i], log_q[i])
            if k == n_temps - 1 and not transition_last:
                break
            sigma = step_size[k]
            for s in range(n_steps):
                step = (k_offset + k) * n_steps + s
                fill_normals(k0, k1, chain0 + i, step, tag0 + TAG_NOISE, xi)
                for j in range(d):
                    y[j] = x[i, j] + sigma * xi[j]
                e_y = energy_point(params, y)
                log_q_y = proposal_log_density(base, y)
                take, bad = _random_walk_take(chain0 + i, step, k0, k1, tag0 + TAG_ACCEPT, beta,
                                              e[i], log_q[i], e_y, log_q_y)
                if take:
                    e[i] = e_y
                    log_q[i] = log_q_y
                    for j in range(d):
                        x[i, j] = y[j]
                    n_accepted[i] += 1
                if bad:
                    n_divergent[i] += 1
