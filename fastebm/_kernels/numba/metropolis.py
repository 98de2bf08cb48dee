"""Metropolis-Hastings kernels, parallel over chains with every chain's steps inside.

Random walk: y = x + σ L ξ, ξ ~ N(0, I) (σ = ``scale``, one per chain, Σ = LLᵀ the
preconditioner), accepted with probability min(1, exp(E(x) - E(y))). With ``adapt`` each
chain tunes its own log σ by dual averaging on its acceptance probability, step by step.
Independent proposal (seed 002, sec. 6): y ~ q, accepted with probability
min(1, exp(E(x) - E(y) + log q(x) - log q(y))).
A proposal with a NaN or +inf energy is rejected and counted as divergent.
"""
import numpy as np
from numba import prange

from ._jit import helper
from .dispatch import entry
from .energies import energy_point
from .chains import (PRECOND_DENSE, PRECOND_DIAG, RECORD_DRAWS, RECORD_MOMENTS, RECORD_NONE,
                     _record, dual_averaging_update, welford_update)
from .philox import fill_normals, uniform
from .proposals import proposal_draw

TAG_NOISE = 0
TAG_ACCEPT = 1


@entry
def random_walk_run(params, x, e, scale, precond_mode, diag, chol, adapt, adapt_state, target,
                    n_steps, step0, k0, k1, record_mode, thin, draws, mean, m2, n_accepted,
                    n_divergent):
    """Advance every chain ``n_steps`` random-walk steps in place.

    Each chain's position, energy and counters live in locals during its steps and are
    written back once, so the step loop touches no memory shared with other threads."""
    n, d = x.shape
    for i in prange(n):
        xi = np.empty(d)
        y = np.empty(d)
        cur = x[i].copy()
        e_cur = e[i]
        accepted = 0
        divergent = 0
        sigma = scale[i]
        run_mean = np.zeros(d)
        run_m2 = np.zeros(d)
        until_kept, slot = thin, 0
        for s in range(n_steps):
            step = step0 + s
            if adapt:
                sigma = np.exp(adapt_state[i, 0])
            fill_normals(k0, k1, i, step, TAG_NOISE, xi)
            _random_walk_proposal(precond_mode, sigma, cur, xi, diag, chol, y)
            e_y = energy_point(params, y)
            log_alpha = e_cur - e_y
            if not (e_y < np.inf):  # NaN or +inf: rejected
                divergent += 1
                log_alpha = -np.inf
            elif log_alpha >= 0.0 or np.log(uniform(k0, k1, i, step, TAG_ACCEPT, 0)) < log_alpha:
                for j in range(d):
                    cur[j] = y[j]
                e_cur = e_y
                accepted += 1
            if adapt:
                prob = 1.0 if log_alpha >= 0.0 else np.exp(log_alpha)
                dual_averaging_update(adapt_state, i, prob, target)
            until_kept -= 1
            if until_kept == 0:  # every thin-th step, without an integer division
                until_kept = thin
                if record_mode == RECORD_DRAWS:
                    for j in range(d):
                        draws[slot, i, j] = cur[j]
                elif record_mode == RECORD_MOMENTS:
                    welford_update(run_mean, run_m2, cur, slot)
                slot += 1
        if record_mode == RECORD_MOMENTS:
            mean[i] = run_mean
            m2[i] = run_m2
        x[i] = cur
        e[i] = e_cur
        n_accepted[i] += accepted
        n_divergent[i] += divergent


@helper()
def _random_walk_proposal(precond_mode, sigma, x, xi, diag, chol, y):
    """y = x + σ L ξ for the identity, diagonal or dense (lower-triangular) L."""
    d = x.shape[0]
    if precond_mode == PRECOND_DENSE:
        for j in range(d):
            acc = 0.0
            for k in range(j + 1):
                acc += chol[j, k] * xi[k]
            y[j] = x[j] + sigma * acc
    elif precond_mode == PRECOND_DIAG:
        for j in range(d):
            y[j] = x[j] + sigma * diag[j] * xi[j]
    else:
        for j in range(d):
            y[j] = x[j] + sigma * xi[j]


@entry
def independent_run(params, proposal, x, e, log_q, n_steps, step0, k0, k1, record_mode, thin,
                    draws, mean, m2, n_accepted, n_divergent):
    """Advance every chain ``n_steps`` independent-proposal steps in place."""
    n, d = x.shape
    for i in prange(n):
        xi = np.empty(d)
        y = np.empty(d)
        for s in range(n_steps):
            step = step0 + s
            log_q_y = proposal_draw(proposal, k0, k1, i, step, TAG_NOISE, xi, y)
            e_y = energy_point(params, y)
            log_q_x = log_q[i]
            accepted_before = n_accepted[i]
            _accept(i, step, k0, k1, e[i] - e_y + log_q_x - log_q_y, e_y, y, x, e,
                    n_accepted, n_divergent, False)
            if n_accepted[i] != accepted_before:
                log_q[i] = log_q_y
            if record_mode != RECORD_NONE and (s + 1) % thin == 0:
                _record(record_mode, (s + 1) // thin - 1, x[i], False, draws[:, i], mean[i],
                        m2[i])


@helper()
def _accept(i, step, k0, k1, log_alpha, e_y, y, x, e, n_accepted, n_divergent, want_prob):
    """Accept y for chain i with probability min(1, exp(log_alpha)); NaN/+inf is rejected.

    Returns min(1, α) when ``want_prob`` (for adaptation), else 0. A proposal with
    log α ≥ 0 is accepted without drawing its uniform: log u < 0 ≤ log α anyway.
    """
    if not (e_y < np.inf):  # NaN or +inf
        n_divergent[i] += 1
        return 0.0
    if log_alpha >= 0.0 or np.log(uniform(k0, k1, i, step, TAG_ACCEPT, 0)) < log_alpha:
        for j in range(y.shape[0]):
            x[i, j] = y[j]
        e[i] = e_y
        n_accepted[i] += 1
    if want_prob:
        return 1.0 if log_alpha >= 0.0 else np.exp(log_alpha)
    return 0.0
