"""What every MCMC kernel shares: preconditioner and recording modes, storing a kept
state (as a draw, or into running moments), and one chain's dual-averaging step."""
import numpy as np

from ._jit import helper

PRECOND_NONE, PRECOND_DIAG, PRECOND_DENSE = 0, 1, 2
RECORD_NONE, RECORD_DRAWS, RECORD_MOMENTS = 0, 1, 2


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


@helper()
def welford_update(mean, m2, x, slot):
    """Add the (slot+1)-th value x to running means and sums of squared deviations."""
    inv_k = 1.0 / (slot + 1.0)
    for j in range(x.shape[0]):
        delta = x[j] - mean[j]
        mean[j] += delta * inv_k
        m2[j] += delta * (x[j] - mean[j])


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
