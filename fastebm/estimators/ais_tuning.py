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

Moves per temperature (``n_steps_per_temperature=None``): at each temperature the pilot
repeats its move, one at a time, until the chains' mean displacement since the first
move of that temperature grows by less than ``DISPLACEMENT_GAIN`` (10 %) with the last
one, or ``MAX_MOVES`` moves are made (the adaptive sequence of MCMC moves of SMC
samplers: Chopin & Papaspiliopoulos 2020, "An introduction to sequential Monte Carlo",
Springer, ch. 17; the ``particles`` library's ``AdaptiveMCMCSequence``, δ = 0.1). The
displacement of a chain is the Euclidean norm of its move, each coordinate divided by the
population's standard deviation there before the moves. The estimate then takes, at
every temperature, the pilot's mean number of moves rounded up. Why: AIS's variance
comes from chains that lag behind π_β as much as from the schedule; on a 50-d Gaussian
of condition 1000 (base N(0, 4I), 500 chains, preconditioned MALA, 850 temperatures)
one move per temperature gave a standard error of 0.31-0.36 (ESS 8-10 of 500), two
0.14-0.19, five 0.056-0.070 (ESS 144-194), ten 0.054-0.057: the rule stops where the
moves stop paying (docs/performance.md, "AIS without a step size").
"""
import numpy as np

from .._contract import START_DRAW, START_READY, PooledMoments
from ..samplers.adaptation import inverse_mass_from_moments

TARGET_ACCEPTANCE = {"mala": 0.574, "rwm": 0.234}
WARMUP_MOVES = 24
MAX_MOVES = 10  # per temperature, with n_steps_per_temperature=None
DISPLACEMENT_GAIN = 0.1


def population_cholesky(x, previous):
    """The lower Cholesky factor of the shrunk sample covariance of the points x (n, d),
    or ``previous`` where that is not positive definite."""
    mean = x.mean(axis=0)
    centered = x - mean
    sigma = inverse_mass_from_moments(PooledMoments(x.shape[0], mean, centered.T @ centered),
                                      "dense")
    return previous if sigma is None else np.linalg.cholesky(sigma)


def mean_displacement(x, x0, scale):
    """The mean over chains of ‖(x - x₀) / scale‖ (scale: per coordinate)."""
    return float(np.mean(np.sqrt(np.sum(((x - x0) / scale) ** 2, axis=1))))


class StepTuner:
    """The step (and, with ``precondition``, the covariance) of a pilot's moves, tuned
    on their acceptance, and with ``n_steps=None`` the number of moves per temperature
    (see the module docstring). ``step_size``: a fixed step instead.

    Step counters: the pilot's moves at temperature k use counters k·n_steps + s
    (``n_steps`` given: one call a temperature) or k·MAX_MOVES + s (``n_steps=None``: one
    call a move); the warm-up's lie above those of ``cap`` temperatures.
    """

    def __init__(self, pilot, transition, n_steps, cap, *, step_size=None,
                 precondition=False):
        self.pilot, self.transition = pilot, transition
        self.adaptive_moves = n_steps is None
        self.call_steps = 1 if n_steps is None else n_steps  # moves per compiled call
        self.slots = MAX_MOVES if n_steps is None else 1  # calls' offsets per temperature
        self.target = TARGET_ACCEPTANCE.get(transition)
        self.offset = (cap + 1) * self.slots  # step counters the path never uses
        self.fixed = step_size
        self.log_h = 0.0 if step_size is None else float(np.log(step_size))
        self.precondition = precondition
        self.chol = None
        self.moves = []  # moves made at each temperature (n_steps=None)

    @property
    def highest_counter(self):
        """The largest step counter the pilot may use, +1."""
        return (self.offset + 2 * WARMUP_MOVES + 2) * self.call_steps

    @property
    def n_steps(self):
        """The moves per temperature for the estimate: the given number, or the pilot's
        mean number rounded up."""
        if not self.adaptive_moves:
            return self.call_steps
        return int(np.ceil(np.mean(self.moves))) if self.moves else 1

    @property
    def h(self):
        return float(np.exp(self.log_h))

    def _run(self, betas, k_offset, transition_last):
        """One compiled call over ``betas`` with the current step (and preconditioner);
        the number of moves each chain made."""
        chol = None if self.chol is None else np.repeat(self.chol[None], betas.size, axis=0)
        self.pilot.run(betas, np.full(betas.size, self.h), self.call_steps, k_offset,
                       transition_last, START_READY, chol)
        return self.call_steps * (betas.size - (1 if transition_last else 2))

    def _acceptance(self, betas, k_offset, transition_last):
        """Run the pilot over ``betas``; the mean acceptance of its moves (NaN: none)."""
        before = self.pilot.n_accepted.sum()
        moves = self._run(betas, k_offset, transition_last)
        if moves == 0:
            return np.nan
        return (self.pilot.n_accepted.sum() - before) / (self.pilot.n_accepted.size * moves)

    def _adjust(self, gain, rate):
        if self.fixed is None:
            self.log_h += gain * (rate - self.target)

    def start(self):
        """Draw the pilot's start from the base and tune the step there."""
        pilot = self.pilot
        pilot.run(np.zeros(1), np.ones(1), self.call_steps, 0, False, START_DRAW)
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

    def move(self, betas, k, transition_last):
        """Move the pilot from βₖ₋₁ = betas[0] to βₖ = betas[1] (its weights gain the
        increment, then, with ``transition_last``, the chains move at βₖ with the current
        step); returns (the tuned step of βₖ, which the next temperature starts from, and
        its preconditioner's Cholesky factor or None)."""
        if self.adaptive_moves and transition_last:
            rate = self._adaptive_moves(betas, k)
        else:
            rate = self._acceptance(betas, k * self.slots - 1, transition_last)
        if transition_last:
            self._adjust(1.0, rate)
            if self.precondition:
                self.chol = population_cholesky(self.pilot.x, self.chol)
        return self.h, self.chol

    def _adaptive_moves(self, betas, k):
        """Moves at βₖ, one call each, until the mean displacement stops growing by
        DISPLACEMENT_GAIN (or MAX_MOVES); their mean acceptance."""
        pilot = self.pilot
        x0 = pilot.x.copy()
        scale = np.std(x0, axis=0)
        scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
        before = pilot.n_accepted.sum()
        self._run(betas, k * MAX_MOVES - 1, True)
        at_beta = np.full(2, betas[1])
        moves, dist = 1, mean_displacement(pilot.x, x0, scale)
        while moves < MAX_MOVES:
            self._run(at_beta, k * MAX_MOVES + moves - 1, True)
            moves += 1
            previous, dist = dist, mean_displacement(pilot.x, x0, scale)
            if abs(dist - previous) < DISPLACEMENT_GAIN * previous:
                break
        self.moves.append(moves)
        return (pilot.n_accepted.sum() - before) / (pilot.n_accepted.size * moves)


def tuned_steps(tuner, betas):
    """(steps (len(betas),), Cholesky factors (len(betas), d, d) or None) for a fixed
    schedule, from the tuner's pilot walking it (moves at β₁ … β_{K-1}, as the
    estimate's)."""
    tuner.start()
    steps, chols = [tuner.h], [tuner.chol]
    for k in range(1, betas.size):
        h, chol = tuner.move(betas[k - 1:k + 1].copy(), k, k < betas.size - 1)
        steps.append(h)
        chols.append(chol)
    return np.array(steps), None if chols[0] is None else np.stack(chols)
