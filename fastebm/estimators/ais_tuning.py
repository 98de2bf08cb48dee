"""Step sizes for AIS without hand tuning: each temperature's step tuned on pilot chains.

With ``step_size=None``, a pilot run of ``pilot_chains`` chains, on streams of its own
(tags shifted by ``AIS_PILOT_SHIFT``), walks the schedule before the estimate. The step
is first tuned at β = 0, on the base, where the pilot starts in exact draws of q:
``WARMUP_MOVES`` moves, each followed by

    log h ← log h + γₜ (aₜ - a*),   γₜ = 2/√t,

aₜ the pilot's mean acceptance of that move. Along the path, the chains move at each
temperature βₖ with the current h, and the acceptance aₖ of those moves sets the step of
βₖ and the start of the next one,

    hₖ = h · exp(aₖ - a*),

a Robbins-Monro recursion (Robbins & Monro 1951) that follows the optimal step as it
changes slowly along the path, as sequential Monte Carlo samplers tune their kernels from
one temperature to the next (Buchholz, Chopin & Jacob 2021, "Adaptive tuning of
Hamiltonian Monte Carlo within sequential Monte Carlo", Bayesian Analysis 16). The
targets a* are 0.574 for MALA (Roberts & Rosenthal 1998) and 0.234 for the random walk
(Roberts, Gelman & Gilks 1997). The estimate then runs with the frozen steps hₖ on
fresh streams: the steps depend on the pilot only, so Ẑ stays unbiased for Z.

The first step comes from the spread of the base draws: with s the smallest coordinate
standard deviation of the pilot's start, h₀ = s² d^(-1/3) (MALA) or σ₀ = 2.38 s / √d
(random walk); the warm-up corrects it by a factor up to e^±12.

Preconditioning (``precondition=True``, Langevin moves): the pilot's population at each
temperature estimates the covariance Σₖ of π_βₖ (its sample covariance, shrunk toward
its diagonal as the samplers' burn-in does: ``inverse_mass_from_moments``), and the moves
at βₖ use Σₖ = LₖLₖᵀ, so that a step sees an isotropic target however badly scaled the
path is. The pilot moves at βₖ with Σₖ₋₁ (its population before them), then estimates
Σₖ; the steps are then tuned in the whitened coordinates (h₀ = d^(-1/3)).
"""
import numpy as np

from .._contract import START_DRAW, START_READY, PooledMoments
from ..samplers.adaptation import inverse_mass_from_moments

TARGET_ACCEPTANCE = {"mala": 0.574, "rwm": 0.234}
WARMUP_MOVES = 24


def population_cholesky(x, previous):
    """The lower Cholesky factor of the shrunk sample covariance of the points x (n, d),
    or ``previous`` where that is not positive definite."""
    mean = x.mean(axis=0)
    centered = x - mean
    sigma = inverse_mass_from_moments(PooledMoments(x.shape[0], mean, centered.T @ centered),
                                      "dense")
    return previous if sigma is None else np.linalg.cholesky(sigma)


class StepTuner:
    """The step (and, with ``precondition``, the covariance) of a pilot's moves, tuned
    on their acceptance (see the module docstring). ``step_size``: a fixed step instead."""

    def __init__(self, pilot, transition, n_steps, reserved_offset, *, step_size=None,
                 precondition=False):
        self.pilot, self.transition, self.n_steps = pilot, transition, n_steps
        self.target = TARGET_ACCEPTANCE.get(transition)
        self.offset = reserved_offset  # step counters the path never uses
        self.fixed = step_size
        self.log_h = 0.0 if step_size is None else float(np.log(step_size))
        self.precondition = precondition
        self.chol = None

    @property
    def h(self):
        return float(np.exp(self.log_h))

    def _acceptance(self, betas, k_offset, transition_last):
        """Run the pilot over ``betas`` with the current step (and preconditioner); the
        mean acceptance of its moves."""
        pilot = self.pilot
        before = pilot.n_accepted.sum()
        chol = None if self.chol is None else np.repeat(self.chol[None], betas.size, axis=0)
        pilot.run(betas, np.full(betas.size, self.h), self.n_steps, k_offset, transition_last,
                  START_READY, chol)
        return (pilot.n_accepted.sum() - before) / (pilot.n_accepted.size * self.n_steps)

    def _adjust(self, gain, rate):
        if self.fixed is None:
            self.log_h += gain * (rate - self.target)

    def start(self):
        """Draw the pilot's start from the base and tune the step there."""
        pilot = self.pilot
        pilot.run(np.zeros(1), np.ones(1), self.n_steps, 0, False, START_DRAW)
        d = pilot.x.shape[1]
        if self.precondition:
            self.chol = population_cholesky(pilot.x, np.eye(d))
            spread = 1.0  # whitened coordinates
        else:
            spread = float(np.min(np.std(pilot.x, axis=0)))
            if not (np.isfinite(spread) and spread > 0):
                spread = 1.0
        if self.fixed is None:
            h0 = (spread**2 * d ** (-1.0 / 3.0) if self.transition != "rwm"
                  else 2.38 * spread / np.sqrt(d))
            self.log_h = float(np.log(h0))
            for t in range(1, WARMUP_MOVES + 1):
                rate = self._acceptance(np.zeros(2), self.offset + 2 * t, True)
                self._adjust(2.0 / np.sqrt(t), rate)

    def move(self, betas, k_offset, transition_last):
        """Move the pilot over ``betas`` (its last temperature the new one) with the current
        step; returns (the tuned step of that temperature, which the next one starts from,
        and its preconditioner's Cholesky factor or None)."""
        rate = self._acceptance(betas, k_offset, transition_last)
        if transition_last:
            self._adjust(1.0, rate)
            if self.precondition:
                self.chol = population_cholesky(self.pilot.x, self.chol)
        return self.h, self.chol


def tuned_steps(tuner, betas):
    """(steps (len(betas),), Cholesky factors (len(betas), d, d) or None) for a fixed
    schedule, from the tuner's pilot walking it (moves at β₁ … β_{K-1}, as the
    estimate's)."""
    tuner.start()
    steps, chols = [tuner.h], [tuner.chol]
    for k in range(1, betas.size):
        h, chol = tuner.move(betas[k - 1:k + 1].copy(), k - 1, k < betas.size - 1)
        steps.append(h)
        chols.append(chol)
    return np.array(steps), None if chols[0] is None else np.stack(chols)
