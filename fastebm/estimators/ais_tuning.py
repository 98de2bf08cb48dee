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
"""
import numpy as np

from .._contract import START_DRAW, START_READY

TARGET_ACCEPTANCE = {"mala": 0.574, "rwm": 0.234}
WARMUP_MOVES = 24


class StepTuner:
    """The step of a pilot's moves, tuned on their acceptance (see the module docstring)."""

    def __init__(self, pilot, transition, n_steps, reserved_offset):
        self.pilot, self.transition, self.n_steps = pilot, transition, n_steps
        self.target = TARGET_ACCEPTANCE[transition]
        self.offset = reserved_offset  # step counters the path never uses
        self.log_h = 0.0

    def _acceptance(self, betas, h, k_offset, transition_last):
        """Run the pilot over ``betas`` with step h; the mean acceptance of its moves."""
        pilot = self.pilot
        before = pilot.n_accepted.sum()
        pilot.run(betas, np.full(betas.size, h), self.n_steps, k_offset, transition_last,
                  START_READY)
        return (pilot.n_accepted.sum() - before) / (pilot.n_accepted.size * self.n_steps)

    def start(self):
        """Draw the pilot's start from the base and tune the step there."""
        pilot = self.pilot
        pilot.run(np.zeros(1), np.ones(1), self.n_steps, 0, False, START_DRAW)
        spread = float(np.min(np.std(pilot.x, axis=0)))
        d = pilot.x.shape[1]
        if not (np.isfinite(spread) and spread > 0):
            spread = 1.0
        h0 = spread**2 * d ** (-1.0 / 3.0) if self.transition == "mala" else 2.38 * spread / np.sqrt(d)
        self.log_h = float(np.log(h0))
        for t in range(1, WARMUP_MOVES + 1):
            rate = self._acceptance(np.zeros(2), np.exp(self.log_h), self.offset + 2 * t, True)
            self.log_h += 2.0 / np.sqrt(t) * (rate - self.target)

    def move(self, betas, k_offset, transition_last):
        """Move the pilot over ``betas`` (its last temperature the new one) with the current
        step; returns the tuned step of that temperature, which the next one starts from."""
        rate = self._acceptance(betas, np.exp(self.log_h), k_offset, transition_last)
        if transition_last:
            self.log_h += rate - self.target
        return float(np.exp(self.log_h))


def tuned_steps(tuner, betas):
    """Per-temperature steps (len(betas),) for a fixed schedule, from the tuner's pilot
    walking it (moves at β₁ … β_{K-1}, as the estimate's)."""
    tuner.start()
    steps = np.empty(betas.size)
    steps[0] = np.exp(tuner.log_h)
    for k in range(1, betas.size):
        steps[k] = tuner.move(betas[k - 1:k + 1].copy(), k - 1, k < betas.size - 1)
    return steps
