"""Metropolis-Hastings kernels over chains, with every chain's steps inside: the random
walk serial over one share of its blocks of chains, one thread per share
(``_jit.over_blocks``: it compiles in a fraction of a parallel loop's time), the
independent proposal parallel over chains.

Random walk: y = x + σ L ξ, ξ ~ N(0, I) (σ = ``scale``, one per chain, Σ = LLᵀ the
preconditioner), accepted with probability min(1, exp(E(x) - E(y))). With ``adapt`` each
chain tunes its own log σ by dual averaging on its acceptance probability, step by step.
Independent proposal (seed 002, sec. 6): y ~ q, accepted with probability
min(1, exp(E(x) - E(y) + log q(x) - log q(y))).
A proposal with a NaN or +inf energy is rejected and counted as divergent.
"""
import numpy as np
from numba import prange

from ..._contract import PRECOND_DENSE, PRECOND_DIAG, RECORD_NONE, TAG_ACCEPT, TAG_NOISE
from ._jit import helper
from .dispatch import block_entry, entry
from .energies import energy_point
from .chains import (_record, add_block_counts,
                     dual_averaging_update, record_row, share_of_blocks, store_rows,
                     store_values)
from .philox import fill_first_uniforms, fill_normals, fill_normals_rows, uniform
from .proposals import proposal_draw



@block_entry
def random_walk_run(params, x, e, scale, n_steps, streams, precond, adaptation, records,
                    counters, wide, short, block, share, shares):
    """Advance the chains of blocks ``share`` of ``shares`` (``share_of_blocks``)
    ``n_steps`` random-walk steps in place; called without the last two, it advances
    every chain, one thread per share.

    ``wide`` and ``short`` as in ``langevin.langevin_run`` (the same ``short``, so that a
    process running both compiles one ``fill_normals_rows``). Blocks have ``block``
    chains. A block's positions, energies and counters live in arrays of its thread
    during the steps and are written back once; each step draws the block's normals and
    accept uniforms across its chains at once (vectorized Philox), then moves the chains
    one by one.
    Rows are indexed, never sliced, and the helpers are inlined: an array view or
    argument costs atomic reference counts.
    """
    k0, k1, step0, chain0 = streams
    precond_mode, diag, chol = precond
    adapt, adapt_state, target = adaptation
    record_mode, thin, draws, mean, m2, first = records
    n_accepted, n_divergent = counters
    n, d = x.shape
    first_block, end_block = share_of_blocks(n, block, share, shares)
    for b in range(first_block, end_block):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        xc = x[lo:hi].copy()
        ec = e[lo:hi].copy()
        sigma = scale[lo:hi].copy()
        xi = np.empty((m, d))
        buf = np.empty((d + 1, m))
        u = np.empty(m)
        y = np.empty(d)
        accepted = np.zeros(m, dtype=np.int64)
        divergent = np.zeros(m, dtype=np.int64)
        until_kept, slot = thin, first
        for s in range(n_steps):
            step = step0 + s
            if wide is None:  # d <= ROWS_NORMALS_MAX_DIM (runners.wide_rows)
                fill_normals_rows(k0, k1, chain0 + lo, step, TAG_NOISE, xi, buf, short)
            else:
                for r in range(m):
                    fill_normals(k0, k1, chain0 + lo + r, step, TAG_NOISE, xi[r])
            fill_first_uniforms(k0, k1, chain0 + lo, step, TAG_ACCEPT, u)
            for r in range(m):
                i = lo + r
                if adapt:
                    sigma[r] = np.exp(adapt_state[i, 0])
                _random_walk_proposal(precond_mode, sigma[r], xc, xi, r, diag, chol, y)
                e_y = energy_point(params, y)
                log_alpha = ec[r] - e_y
                if not (e_y < np.inf):  # NaN or +inf: rejected
                    divergent[r] += 1
                    log_alpha = -np.inf
                elif log_alpha >= 0.0 or np.log(u[r]) < log_alpha:
                    for j in range(d):
                        xc[r, j] = y[j]
                    ec[r] = e_y
                    accepted[r] += 1
                if adapt:
                    prob = 1.0 if log_alpha >= 0.0 else np.exp(log_alpha)
                    dual_averaging_update(adapt_state, i, prob, target)
            until_kept -= 1
            if until_kept == 0:  # every thin-th step, without an integer division
                until_kept = thin
                for r in range(m):
                    record_row(record_mode, slot, xc, r, False, draws, mean, m2, lo + r)
                slot += 1
        store_rows(xc, x, lo)
        store_values(ec, e, lo)
        add_block_counts(lo, accepted, divergent, n_accepted, n_divergent)


@helper(inline=True)
def _random_walk_proposal(precond_mode, sigma, x, xi, r, diag, chol, y):
    """y = x + σ L ξ from row r of x and ξ, for the identity, diagonal or dense
    (lower-triangular) L."""
    d = y.shape[0]
    if precond_mode == PRECOND_DENSE:
        for j in range(d):
            acc = 0.0
            for k in range(j + 1):
                acc += chol[j, k] * xi[r, k]
            y[j] = x[r, j] + sigma * acc
    elif precond_mode == PRECOND_DIAG:
        for j in range(d):
            y[j] = x[r, j] + sigma * diag[j] * xi[r, j]
    else:
        for j in range(d):
            y[j] = x[r, j] + sigma * xi[r, j]


@entry
def independent_run(params, proposal, x, e, log_q, n_steps, streams, records, counters):
    """Advance every chain ``n_steps`` independent-proposal steps in place."""
    k0, k1, step0, chain0 = streams
    record_mode, thin, draws, mean, m2, first = records
    n_accepted, n_divergent = counters
    n, d = x.shape
    for i in prange(n):
        xi = np.empty(d)
        y = np.empty(d)
        for s in range(n_steps):
            step = step0 + s
            log_q_y = proposal_draw(proposal, k0, k1, chain0 + i, step, TAG_NOISE, xi, y)
            e_y = energy_point(params, y)
            log_q_x = log_q[i]
            accepted_before = n_accepted[i]
            _accept(i, chain0 + i, step, k0, k1, e[i] - e_y + log_q_x - log_q_y, e_y, y, x,
                    e, n_accepted, n_divergent, False)
            if n_accepted[i] != accepted_before:
                log_q[i] = log_q_y
            if record_mode != RECORD_NONE and (s + 1) % thin == 0:
                _record(record_mode, first + (s + 1) // thin - 1, x[i], False, draws[:, i], mean[i],
                        m2[i])


@helper()
def _accept(i, chain, step, k0, k1, log_alpha, e_y, y, x, e, n_accepted, n_divergent,
            want_prob):
    """Accept y for row i (global chain ``chain``) with probability min(1, exp(log_alpha));
    NaN/+inf is rejected.

    Returns min(1, α) when ``want_prob`` (for adaptation), else 0. A proposal with
    log α ≥ 0 is accepted without drawing its uniform: log u < 0 ≤ log α anyway.
    """
    if not (e_y < np.inf):  # NaN or +inf
        n_divergent[i] += 1
        return 0.0
    if log_alpha >= 0.0 or np.log(uniform(k0, k1, chain, step, TAG_ACCEPT, 0)) < log_alpha:
        for j in range(y.shape[0]):
            x[i, j] = y[j]
        e[i] = e_y
        n_accepted[i] += 1
    if want_prob:
        return 1.0 if log_alpha >= 0.0 else np.exp(log_alpha)
    return 0.0
