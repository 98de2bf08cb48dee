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
Σ comes from the pooled moments of a window's states: the runner gives the moments of
each chunk of ``moment_chunk(n)`` consecutive chains (``runner.chunk_moments``), and
``fold_moments`` merges them in a fixed pairwise tree. Shards of chains cut on chunk
boundaries hence give, all chunks together, bitwise the Σ of one machine
(``fastebm.dask``).
"""
import numpy as np

from .._contract import PooledMoments
from ..progress import NO_BAR
from .blocks import advance

_INIT, _TERM, _BASE = 75, 50, 25
MIN_METRIC_BURN_IN = 20
MAX_WINDOW_BYTES = 64 * 2**20
CHUNK_ROWS, MAX_CHUNKS = 64, 256


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


def moment_chunk(n_chains):
    """Chains per chunk of the pooled moments of a run of ``n_chains``: a multiple of
    ``CHUNK_ROWS``, with at most ``MAX_CHUNKS`` chunks (their (d, d) matrices stay small)."""
    return CHUNK_ROWS * max(1, -(-int(n_chains) // (CHUNK_ROWS * MAX_CHUNKS)))


def fold_moments(count, mean, m2):
    """``PooledMoments`` of all chunks (``runner.chunk_moments``'s arrays, in chain
    order), merged pairwise: chunks (0, 1), (2, 3), ..., then the pairs, and so on."""
    parts = [PooledMoments(int(c), mu, s) for c, mu, s in zip(count, mean, m2)]
    while len(parts) > 1:
        merged = [merge_moments(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        parts = merged + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def pooled_moments(runner, kept, kind):
    """``PooledMoments`` of the finite states in ``kept`` (n_draws, n, d) of ``runner``'s
    chains, chunked as a run of the runner's chains is."""
    chunk = moment_chunk(runner.n_chains)
    return fold_moments(*runner.chunk_moments(kept, kind, chunk))


def merge_moments(a, b):
    """The pooled moments of two sets of states from theirs (Chan, Golub & LeVeque 1979):
    n = nₐ + n_b, μ = μₐ + δ n_b/n, M2 = M2ₐ + M2_b + δδᵀ nₐn_b/n with δ = μ_b - μₐ (δ² for
    the variances)."""
    if a.count == 0:
        return b
    if b.count == 0:
        return a
    n = a.count + b.count
    delta = b.mean - a.mean
    correction = (np.outer(delta, delta) if a.m2.ndim == 2 else delta * delta)
    return PooledMoments(n, a.mean + delta * (b.count / n),
                         a.m2 + b.m2 + correction * (a.count * b.count / n))


def run_burn_in(runner, burn_in, step_size, *, adapt, precondition, bar=NO_BAR,
                show_acceptance=True):
    """Run the burn-in through ``runner``; return the frozen (step sizes (n,), inverse_mass).
    ``bar`` moves with the steps and shows the acceptance rate of the burn-in so far."""
    chains = RunnerWindows(runner, bar, show_acceptance)
    return burn_in_windows(chains, burn_in, step_size, adapt=adapt, precondition=precondition)


class RunnerWindows:
    """The burn-in windows of one runner's chains (``burn_in_windows``'s ``chains``)."""

    def __init__(self, runner, bar, show_acceptance):
        self.runner, self.bar, self.show_acceptance = runner, bar, show_acceptance
        self.n_chains, self.dim, self.taken = runner.n_chains, runner.dim, 0

    @property
    def inverse_mass(self):
        return self.runner.inverse_mass

    def set_inverse_mass(self, inverse_mass):
        self.runner.set_inverse_mass(inverse_mass)

    def window(self, length, step_size, adapt_state, kind, thin):
        """Advance ``length`` steps; the pooled moments of the kept states for ``kind``."""
        over = self.taken if self.show_acceptance else None  # steps n_accepted counts
        kept = advance(self.runner, length, step_size, adapt_state, keep_draws=kind is not None,
                       thin=thin, bar=self.bar, accepted_over=over)
        self.taken += length
        return None if kind is None else pooled_moments(self.runner, kept, kind)


def burn_in_windows(chains, burn_in, step_size, *, adapt, precondition):
    """The burn-in of ``chains`` (``RunnerWindows``, or a cluster's shards): its windows,
    the preconditioner re-estimated at the end of each metric window from the pooled
    moments ``chains.window`` returns, and the step sizes' dual averaging (restarted with
    each new Σ). Returns the frozen (step sizes (n,), inverse_mass)."""
    state = dual_averaging_state(step_size) if adapt else None
    for length, metric in windows(burn_in, precondition if precondition else None):
        thin = window_thin(chains.n_chains, length, chains.dim) if metric else 1
        moments = chains.window(length, step_size, state, precondition if metric else None,
                                thin)
        if metric:
            inverse_mass = inverse_mass_from_moments(moments, precondition)
            if inverse_mass is not None:
                chains.set_inverse_mass(inverse_mass)
        if adapt:
            step_size = np.exp(state[:, 1])
            if metric:
                state = dual_averaging_state(step_size)
    return step_size, chains.inverse_mass
