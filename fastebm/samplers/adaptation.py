"""Burn-in adaptation shared by the MCMC samplers: step size and preconditioner.

Each chain tunes its own step size by dual averaging (Hoffman & Gelman 2014, sec. 3.2)
on its acceptance probability, and freezes it at its averaged iterate h̄ before the kept
draws; chains stay independent of each other during adaptation, and one that starts in
a region of high curvature shrinks its own step rather than stay stuck. ``precondition="diag"`` or ``"dense"`` estimates the
inverse mass matrix Σ (the proposal covariance) from the pooled states of all chains in
windows that double in length, as Stan does: a first 15 % (at most 75 steps) tunes the
step size only, then windows of 25, 50, 100, ... steps each end with a new Σ (and restart
the step size adaptation), and the last 10 % (at most 50 steps) tunes the step size
for the final Σ. Only burn-in steps adapt, so the kept chain is a Markov chain.
Σ comes from the pooled moments of a window's states (``runner.pooled_moments``), which
shards of chains merge exactly (``merge_moments``).
"""
import numpy as np

from .._contract import PooledMoments

_INIT, _TERM, _BASE = 75, 50, 25
MIN_METRIC_BURN_IN = 20
MAX_WINDOW_BYTES = 64 * 2**20


def windows(burn_in, precondition):
    """[(length, estimates_metric)] covering ``burn_in`` steps."""
    if precondition is None or burn_in < MIN_METRIC_BURN_IN:
        return [(burn_in, False)] if burn_in else []
    if burn_in < _INIT + _TERM + _BASE:
        init, term = int(0.15 * burn_in), int(0.1 * burn_in)
        return [(init, False), (burn_in - init - term, True), (term, False)]
    slow, size, spans = burn_in - _INIT - _TERM, _BASE, []
    while slow > 0:
        take = slow if slow < 3 * size else size  # the last window absorbs the remainder
        spans.append(take)
        slow -= take
        size *= 2
    return [(_INIT, False)] + [(w, True) for w in spans] + [(_TERM, False)]


def dual_averaging_state(step_size):
    """Per chain [log h, log h̄, H̄, t, μ = log 10h]: the start of dual averaging, (n, 5)."""
    log_h = np.log(np.asarray(step_size, dtype=np.float64))
    zeros = np.zeros_like(log_h)
    return np.ascontiguousarray(np.stack([log_h, log_h, zeros, zeros, log_h + np.log(10.0)], axis=1))


def window_thin(n_chains, length, dim):
    """Thinning that keeps a window's stored states under ``MAX_WINDOW_BYTES``."""
    per_step = n_chains * dim * 8
    return max(1, int(np.ceil(length * per_step / MAX_WINDOW_BYTES)))


def inverse_mass_from_moments(moments, kind):
    """Σ from the pooled moments of a window's states, regularised toward its diagonal.

    With S = M2 / (m - 1) the sample covariance (``kind="dense"``) or variances
    (``"diag"``) of the m finite states, Σ̂ = S + 10⁻³ · 5/(m+5) · diag(S), a relative
    version of Stan's shrinkage, so that coordinates with scales 10⁻⁴ and 1 are treated
    alike. None when there are fewer than two states, or S is not positive definite.
    """
    m = moments.count
    if m < 2:
        return None
    shrink = 1e-3 * 5.0 / (m + 5.0)
    if kind == "diag":
        var = moments.m2 / (m - 1)
        return var * (1.0 + shrink) if np.all(var > 0) else None
    cov = moments.m2 * (1.0 / (m - 1))
    cov += shrink * np.diag(np.diag(cov))
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    return cov


def merge_moments(a, b):
    """The pooled moments of two sets of states from theirs (Chan, Golub & LeVeque 1979):
    n = nₐ + n_b, μ = μₐ + δ n_b/n, M2 = M2ₐ + M2_b + δδᵀ nₐn_b/n with δ = μ_b - μₐ (δ² for
    the variances). What an executor all-reduces across shards of chains."""
    if a.count == 0:
        return b
    if b.count == 0:
        return a
    n = a.count + b.count
    delta = b.mean - a.mean
    correction = (np.outer(delta, delta) if a.m2.ndim == 2 else delta * delta)
    return PooledMoments(n, a.mean + delta * (b.count / n),
                         a.m2 + b.m2 + correction * (a.count * b.count / n))


def run_burn_in(runner, burn_in, step_size, *, adapt, precondition):
    """Run the burn-in through ``runner``; return the frozen (step sizes (n,), inverse_mass)."""
    state = dual_averaging_state(step_size) if adapt else None
    for length, metric in windows(burn_in, precondition if precondition else None):
        if not metric:
            runner.advance(length, step_size, state)
        else:
            thin = window_thin(runner.n_chains, length, runner.dim)
            kept = runner.advance(length, step_size, state, keep_draws=True, thin=thin)
            inverse_mass = inverse_mass_from_moments(runner.pooled_moments(kept, precondition),
                                                     precondition)
            if inverse_mass is not None:
                runner.set_inverse_mass(inverse_mass)
        if adapt:
            step_size = np.exp(state[:, 1])
            if metric:
                state = dual_averaging_state(step_size)
    return step_size, runner.inverse_mass
