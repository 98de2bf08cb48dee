"""Replicated importance sampling: R independent estimates of log Z in one parallel call.

Replicate r runs on its own Philox key (``keys[r]``), and its draw i is the draw of
chain i, step 0, tag ``TAG_PROPOSAL`` under that key, exactly as a single call of
``fastebm.importance_sample`` with the same key; so the batch equals R separate calls
(up to the order of floating-point sums). Each thread keeps one replicate's M log
weights and reduces them to (log Ẑ, its delta-method standard error, Kish's ESS).
``replicated_importance_gaussian`` is the same for a Gaussian proposal, with the draw
written out in the loop (a function call per draw costs as much as the draw at small d).
"""
import numpy as np
from numba import prange

from ..._contract import TAG_PROPOSAL
from ._jit import helper
from .dispatch import entry
from .energies import energy_point
from .philox import fill_normals
from .proposals import proposal_draw

STATUS_OK, STATUS_NAN_ENERGY, STATUS_NEG_INF_ENERGY, STATUS_ALL_ZERO = 0, 1, 2, 3


@entry
def replicated_importance(params, proposal, keys, n, dim, log_z, stderr, ess, status):
    """Row r: n draws of q on key ``keys[r]``, weighted by exp(-E)/q, summarized."""
    for r in prange(keys.shape[0]):
        xi = np.empty(dim)
        y = np.empty(dim)
        log_w = np.empty(n)
        flag = STATUS_OK
        for i in range(n):
            log_q = proposal_draw(proposal, keys[r, 0], keys[r, 1], i, 0, TAG_PROPOSAL, xi, y)
            e = energy_point(params, y)
            flag = _energy_status(flag, e)
            log_w[i] = -e - log_q
        _summarize(log_w, flag, r, log_z, stderr, ess, status)


@entry
def replicated_importance_gaussian(params, mean, chol, log_norm, keys, n, log_z, stderr, ess,
                                   status):
    """``replicated_importance`` for a Gaussian proposal N(μ, LLᵀ), its draw written out in
    the loop (the same numbers as ``proposal_draw``: y = μ + Lξ, log q = log_norm - ½‖ξ‖²),
    which spares a function call per draw (about half the time at d = 1)."""
    dim = mean.shape[0]
    for r in prange(keys.shape[0]):
        xi = np.empty(dim)
        y = np.empty(dim)
        log_w = np.empty(n)
        flag = STATUS_OK
        for i in range(n):
            fill_normals(keys[r, 0], keys[r, 1], i, 0, TAG_PROPOSAL, xi)
            sq = 0.0
            for j in range(dim):
                acc = mean[j]
                for k in range(j + 1):
                    acc += chol[j, k] * xi[k]
                y[j] = acc
                sq += xi[j] * xi[j]
            e = energy_point(params, y)
            flag = _energy_status(flag, e)
            log_w[i] = -e - (log_norm - 0.5 * sq)
        _summarize(log_w, flag, r, log_z, stderr, ess, status)


@helper()
def _energy_status(flag, e):
    """A replicate's status after one more energy e: a NaN energy wins, then the first
    -inf (whose weight is +inf)."""
    if e != e:
        return STATUS_NAN_ENERGY
    if e == -np.inf and flag == STATUS_OK:
        return STATUS_NEG_INF_ENERGY
    return flag


@helper()
def _summarize(log_w, flag, r, log_z, stderr, ess, status):
    """Replicate r's log Ẑ, standard error, ESS and status from its log weights."""
    log_z[r], stderr[r], ess[r], all_zero = weight_summary(log_w)
    status[r] = STATUS_ALL_ZERO if all_zero and flag == STATUS_OK else flag


@helper()
def weight_summary(log_w):
    """(log mean w, sd(w)/(√n mean w) with ddof 1, (Σw)²/Σw², all weights zero) from log
    weights, with w = exp(log_w - max) (overwrites ``log_w`` with w)."""
    n = log_w.shape[0]
    top = -np.inf
    for i in range(n):
        if log_w[i] > top:
            top = log_w[i]
    if top == -np.inf or top != top:
        return np.nan, np.nan, np.nan, top == -np.inf
    total = 0.0
    for i in range(n):
        log_w[i] = np.exp(log_w[i] - top)
        total += log_w[i]
    mean = total / n
    squares = 0.0
    spread = 0.0
    for i in range(n):
        squares += log_w[i] * log_w[i]
        spread += (log_w[i] - mean) * (log_w[i] - mean)
    return (top + np.log(total) - np.log(n), np.sqrt(spread / (n - 1)) / (np.sqrt(n) * mean),
            total * total / squares, False)
