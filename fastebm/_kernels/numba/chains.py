"""What every MCMC kernel shares: preconditioner and recording modes, storing a kept
state (as a draw, or into running moments), one chain's dual-averaging step, and the
blocks of chains of one share of a blocked kernel."""
import numpy as np

from ..._contract import RECORD_DRAWS, RECORD_MOMENTS
from ._jit import helper


@helper()
def _record(mode, slot, x, diverged, draws, mean, m2):
    """Store a kept state: as a draw, or into the running mean and M2 (Welford)."""
    if mode == RECORD_DRAWS:
        if diverged:
            draws[slot, :] = np.nan
        else:
            draws[slot, :] = x
    elif mode == RECORD_MOMENTS:
        if diverged:
            mean[:] = np.nan
            m2[:] = np.nan
        else:
            welford_update(mean, m2, x, slot)


@helper(inline=True)
def record_row(mode, slot, x, r, diverged, draws, mean, m2, i):
    """``_record`` of row r of x as chain i's kept state: draws[slot, i] or the running
    mean[i] and m2[i], all by index (no array views, which cost atomic reference counts)."""
    d = x.shape[1]
    if mode == RECORD_DRAWS:
        for j in range(d):
            draws[slot, i, j] = np.nan if diverged else x[r, j]
    elif mode == RECORD_MOMENTS:
        if diverged:
            for j in range(d):
                mean[i, j] = np.nan
                m2[i, j] = np.nan
        else:
            inv_k = 1.0 / (slot + 1.0)
            for j in range(d):
                delta = x[r, j] - mean[i, j]
                mean[i, j] += delta * inv_k
                m2[i, j] += delta * (x[r, j] - mean[i, j])


@helper()
def copy_rows(take, value, source, target):
    """target[r] = source[r] for the rows r of 2-d arrays with take[r] == value.

    The block kernels keep a block's current and proposed states in arrays of their own
    thread and, after the accept step, make one of them hold every chain's new state:
    restore the rejected rows into the proposals, or copy the accepted rows over.
    """
    for r in range(take.shape[0]):
        if take[r] == value:
            for j in range(source.shape[1]):
                target[r, j] = source[r, j]


@helper()
def store_rows(source, target, lo):
    """target[lo + r] = source[r] for the rows r of the 2-d array ``source``: a block's
    states written back. A slice assignment (``target[lo:hi] = source``) would do the
    same, but its shape check compiles Numba's string formatting for the error message
    (about 2 s of a first compile with an empty cache)."""
    for r in range(source.shape[0]):
        for j in range(source.shape[1]):
            target[lo + r, j] = source[r, j]


@helper()
def store_values(source, target, lo):
    """``store_rows`` for 1-d arrays (one value per chain)."""
    for r in range(source.shape[0]):
        target[lo + r] = source[r]


@helper()
def add_block_counts(lo, accepted, divergent, n_accepted, n_divergent):
    """Add a block's accept and divergence counts (rows 0..m-1) to chains lo..lo+m-1."""
    for r in range(accepted.shape[0]):
        n_accepted[lo + r] += accepted[r]
        n_divergent[lo + r] += divergent[r]


@helper()
def copy_values(take, value, source, target):
    """``copy_rows`` for 1-d arrays (one value per chain)."""
    for r in range(take.shape[0]):
        if take[r] == value:
            target[r] = source[r]


@helper()
def welford_update(mean, m2, x, slot):
    """Add the (slot+1)-th value x to running means and sums of squared deviations."""
    inv_k = 1.0 / (slot + 1.0)
    for j in range(x.shape[0]):
        delta = x[j] - mean[j]
        mean[j] += delta * inv_k
        m2[j] += delta * (x[j] - mean[j])


@helper(inline=True)
def dual_averaging_update(state, i, accept_prob, target):
    """One dual-averaging step of chain i; state[i] = [log h, log h̄, H̄, t, μ] (in place)."""
    gamma, t0, kappa = 0.05, 10.0, 0.75
    state[i, 3] += 1.0
    t = state[i, 3]
    state[i, 2] = (1.0 - 1.0 / (t + t0)) * state[i, 2] + (target - accept_prob) / (t + t0)
    state[i, 0] = state[i, 4] - np.sqrt(t) / gamma * state[i, 2]
    weight = t ** (-kappa)
    state[i, 1] = weight * state[i, 0] + (1.0 - weight) * state[i, 1]


@helper(inline=True)
def share_of_blocks(n, block, share, shares):
    """(first, stop): the blocks of ``block`` chains (of n chains, the last block maybe
    shorter) that share ``share`` of ``shares`` of a blocked kernel takes, contiguous
    and as many as can be for every share (``_jit.over_blocks``)."""
    n_blocks = (n + block - 1) // block
    return share * n_blocks // shares, (share + 1) * n_blocks // shares
