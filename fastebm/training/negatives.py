"""Negative phases for the likelihood gradient of continuous energies (seeds 001, 003).

The gradient of the average negative log-likelihood needs draws of the model,
E_{p_θ}[∇_θE] (``fastebm.mle_gradient``). Three ways to get them cheaply:

- **CD-k** (Hinton 2002; seed 001's algorithm): k Langevin (or MALA) steps started at
  the data batch. Biased — the chains have not mixed — but low-variance and cheap.
- **PCD** (Tieleman 2008): chains carried across parameter updates, each update moving
  them k steps under the current θ; with small learning rates they stay near p_θ.
- **Replay buffer** (Du & Mordatch 2019; seed 003): new chains start from stored states
  with probability 1 - ``restart`` (0.95) or from a noise proposal (0.05), move k
  steps, and are written back to the buffer.

Each returns the negatives as an (m, d) array; the chains run on fastebm's samplers and
Philox streams (a fresh stream per call from the caller's ``rng``, or the continued
stream of the persistent chains).
"""
import dataclasses

import numpy as np

from .._rng import seed_sequence
from .._validation import choice, int_at_least
from ..proposals import Proposal
from ..samplers.langevin import langevin, mala

SAMPLERS = {"langevin": langevin, "mala": mala}


def _sampler(name):
    return SAMPLERS[choice(name, "sampler", tuple(SAMPLERS))]


def cd_negatives(energy, data, k, step_size, *, sampler="langevin", rng=None):
    """CD-k negatives: the states after k steps of ``sampler`` started at ``data``.

    Parameters
    ----------
    energy : Energy
    data : array_like of shape (n, d)
    k : int
        Steps (≥ 1). Seed 001's CD-1 uses one Langevin step.
    step_size : float
        h of x' = x - h∇E(x) + √(2h)ξ (seed 001's ε is h = ε/2).
    sampler : {"langevin", "mala"}
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    ndarray of shape (n, d)
    """
    k = int_at_least(k, "k", 1)
    run = _sampler(sampler)(energy, data, step_size, k, thin=k, rng=rng)
    return run.draws[-1]


class PersistentChains:
    """PCD's chains: ``advance(energy, k)`` moves them k steps under the current energy.

    Parameters
    ----------
    x0 : array_like of shape (m, d)
        Starting states (e.g. random data rows, or noise draws).
    step_size : float
    sampler : {"langevin", "mala"}
    rng : None, int, SeedSequence or Generator
        The chains' streams; every ``advance`` continues them (``result.state``).
    """

    def __init__(self, x0, step_size, *, sampler="langevin", rng=None):
        self._run = _sampler(sampler)
        self._x0, self._rng = np.array(x0, dtype=float), rng
        self.step_size = step_size
        self.state = None

    def advance(self, energy, k):
        """Move the chains k steps under ``energy``; returns their states (m, d)."""
        k = int_at_least(k, "k", 1)
        if self.state is None:
            run = self._run(energy, self._x0, self.step_size, k, thin=k, rng=self._rng)
        else:
            run = self._run(energy, self._reanchored(energy), None, k, thin=k)
        self.state = run.state
        return run.draws[-1]


    def _reanchored(self, energy):
        """The state with ULA's divergence reference (the energy at the start, from which
        a rise of 1000 flags a chain) taken under the current energy: θ moved since."""
        if self.state.energy_start is None:
            return self.state
        start = np.array(self.state.energy_start, dtype=float)
        ok = ~np.asarray(self.state.diverged, dtype=bool)
        start[ok] = energy.energy(np.atleast_2d(self.state.position)[ok])
        return dataclasses.replace(self.state, energy_start=start)


class ReplayBuffer:
    """A replay buffer of MCMC states (Du & Mordatch 2019; seed 003).

    Parameters
    ----------
    noise : fastebm.proposals.Proposal
        Where restarted chains start (and what fills the empty buffer).
    capacity : int
        Number of stored states; the oldest are overwritten first.
    restart : float
        Fraction of new chains started from noise (seed 003: 5 %).
    rng : None, int, SeedSequence
        Seeds the choice of stored states and the noise draws.
    """

    def __init__(self, noise, capacity=10_000, *, restart=0.05, rng=None):
        if not isinstance(noise, Proposal):
            raise TypeError(f"noise must be a fastebm.proposals object, got {type(noise).__name__}")
        self.noise = noise
        self.capacity = int_at_least(capacity, "capacity", 1)
        restart = float(restart)
        if not 0.0 <= restart <= 1.0:
            raise ValueError(f"restart must be in [0, 1], got {restart}")
        self.restart = restart
        self._seeds = seed_sequence(rng)
        self._choices = np.random.default_rng(self._seeds.spawn(1)[0])
        self._store = np.empty((self.capacity, noise.dim))
        self._count = self._next = 0

    @property
    def states(self):
        """The stored states, shape (≤ capacity, d)."""
        return self._store[:self._count]

    def starts(self, n):
        """n starting states: each from noise with probability ``restart`` (always while
        the buffer is empty), else a uniformly chosen stored state."""
        n = int_at_least(n, "n", 1)
        out = self.noise.sample(n, rng=self._seeds.spawn(1)[0])
        if len(self.states):
            keep = self._choices.random(n) >= self.restart
            out[keep] = self.states[self._choices.integers(0, len(self.states), keep.sum())]
        return out

    def push(self, x):
        """Store states x (m, d), overwriting the oldest once full."""
        x = np.atleast_2d(np.asarray(x, dtype=float))[-self.capacity:]
        slots = (self._next + np.arange(len(x))) % self.capacity
        self._store[slots] = x
        self._next = (self._next + len(x)) % self.capacity
        self._count = min(self._count + len(x), self.capacity)

    def negatives(self, energy, n, k, step_size, *, sampler="langevin", rng=None):
        """Start n chains from the buffer (``starts``), move them k steps, store and
        return them."""
        x = cd_negatives(energy, self.starts(n), k, step_size, sampler=sampler, rng=rng)
        self.push(x)
        return x
