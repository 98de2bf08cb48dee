"""Langevin samplers: unadjusted (``langevin``, ULA) and Metropolis-adjusted (``mala``).

Both move all chains with x' = x - hΣ∇E(x) + √(2h) Lξ (Σ = LLᵀ the preconditioner,
identity by default), the Euler-Maruyama step of the Langevin diffusion whose stationary
law is p ∝ exp(-E). ULA keeps every step and so samples a biased law (on N(0, σ²) its
variance is σ² / (1 - h/(2σ²))); MALA accepts with the Metropolis-Hastings ratio and is
exact. Step-size convention: h = ``step_size`` (BlackJAX's; seed 001's ε is 2h).
"""
import numpy as np

from .._kernels.numba import langevin as _kernel  # noqa: F401  (registers the kernel)
from .._contract import PRECOND_DENSE, PRECOND_DIAG
from . import _common
from ._common import chain_block

MALA_TARGET = 0.574
# ULA keeps every step, so its adaptation aims at small steps: h such that the MALA
# acceptance of the same proposals would be 0.9 (its bias is O(h); at MALA's 0.574 a
# 1-d Gaussian gets h beyond the stability limit 2σ²).
ULA_TARGET = 0.9


class LangevinRunner:
    """All chains of one run, advanced by the compiled kernel in blocks of steps."""

    def __init__(self, energy, start, metropolize, inverse_mass):
        self.energy, self.metropolize = energy, metropolize
        self.target = MALA_TARGET if metropolize else ULA_TARGET
        self.params, self.family = energy._kernel_params(), energy._family
        self.key, self.step = start.key, start.step
        self.x = start.x
        self.n_chains, self.dim = self.x.shape
        self.e = np.empty(self.n_chains)
        self.g = np.empty_like(self.x)
        self.family["blocked_energy_grad"](self.params, self.x, self.g, self.e,
                                           chain_block(self.n_chains))
        _common.check_start_energy(self.e, self.g)
        self.e_start = (self.e.copy() if start.energy_start is None
                        else np.array(start.energy_start, dtype=np.float64))
        self.n_accepted = np.zeros(self.n_chains, dtype=np.int64)
        self.n_divergent = np.zeros(self.n_chains, dtype=np.int64)
        self.diverged = (np.zeros(self.n_chains, dtype=np.bool_) if start.diverged is None
                         else np.array(start.diverged, dtype=np.bool_))
        self.set_inverse_mass(inverse_mass)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass
        self.mode, self.scale, self.chol = _common.preconditioner_arrays(inverse_mass, self.dim)
        if self.mode == PRECOND_DENSE:
            self.u = self.g @ self.chol
        elif self.mode == PRECOND_DIAG:
            self.u = self.g * self.scale
        else:
            self.u = self.g  # the kernel then keeps u and g as one array

    def advance(self, n_steps, step_size, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1):
        """Take ``n_steps`` steps; returns kept draws, (mean, M2), or None."""
        n = self.n_chains
        record, draws, mean, m2 = _common.record_buffers(n_steps, thin, n, self.dim,
                                                         keep_draws, keep_moments)
        adapt = adapt_state is not None
        self.family["langevin_run"](
            self.params, self.x, self.e, self.g, self.u, self.e_start, step_size, n_steps,
            self.step, self.key[0], self.key[1], self.metropolize, self.mode, self.scale,
            self.chol, adapt, adapt_state if adapt else np.zeros((n, 5)), self.target, record,
            thin, draws, mean, m2, self.n_accepted, self.n_divergent, self.diverged,
            chain_block(n))
        self.step += n_steps
        return _common.kept_output(keep_draws, keep_moments, draws, mean, m2)


def _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep, rng,
         metropolize):
    start = _common.Start(energy, x0, step_size, rng)
    precondition, given = _common.check_inverse_mass(precondition, start.dim)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, precondition, adapt,
                                               start)
    energy.warn_if_finite_differences()
    inverse_mass = given if given is not None else start.inverse_mass
    runner = LangevinRunner(energy, start, metropolize, inverse_mass)
    return _common.run(start, runner, n_steps, burn_in, thin, keep, adapt, precondition)


_PARAMS_DOC = """
    Parameters
    ----------
    energy : Energy
        The target p(x) ∝ exp(-E(x)); needs ∇ₓE (finite differences otherwise).
    x0 : array_like of shape (n_chains, d) or (d,), or ChainState
        Starting points, or the ``state`` of an earlier run to continue its streams.
    step_size : float, array_like of shape (n_chains,), or None
        h > 0, one value or one per chain (initial values when ``adapt``); None
        continues a ChainState's (adapted) step sizes.
    n_steps : int
        Steps after burn-in; ``n_steps // thin`` draws are kept.
    burn_in : int, default 0
        Steps taken first and discarded (the only steps that adapt).
    thin : int, default 1
        Keep every ``thin``-th state.
    adapt : bool, default False
        Tune each chain's h by dual averaging during burn-in, then freeze it (MALA:
        target acceptance 0.574; ULA: the MALA acceptance of its proposals 0.9).
    precondition : None, "diag", "dense", or array_like of shape (d,) or (d, d)
        Estimate Σ (diagonal or dense) from the pooled chains in widening windows during
        burn-in, or use the given Σ. Proposals then have covariance 2hΣ.
    keep : {"draws", "moments"}, default "draws"
        "moments" keeps per-chain running mean and variance instead of draws.
    rng : None, int, SeedSequence or Generator
        Seeds the per-chain Philox streams (SPEC 7).

    Returns
    -------
    MCMCResult
        ``draws`` (n_draws, n_chains, d), ``acceptance_rate``, ``n_divergent``,
        ``step_size``, ``state`` (continue with ``x0=result.state``) and, with
        ``keep="moments"``, ``mean`` and ``variance``.
"""


def mala(energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
         precondition=None, keep="draws", rng=None):
    return _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep,
                rng, metropolize=True)


def langevin(energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
             precondition=None, keep="draws", rng=None):
    return _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep,
                rng, metropolize=False)


mala.__doc__ = """Metropolis-adjusted Langevin algorithm, all chains at once.

    Proposal y = x - hΣ∇E(x) + √(2h) Lξ, accepted with probability min(1, α),
    log α = E(x) - E(y) + log q(x|y) - log q(y|x), q(y|x) = N(y; x - hΣ∇E(x), 2hΣ)
    (Roberts & Tweedie 1996). Proposals with non-finite energy or gradient are rejected
    and counted in ``n_divergent``.
""" + _PARAMS_DOC

langevin.__doc__ = """Unadjusted Langevin algorithm (ULA), all chains at once.

    x' = x - hΣ∇E(x) + √(2h) Lξ, every step kept: the chain is biased by O(h) (on
    N(0, σ²) its stationary variance is σ²/(1 - h/(2σ²))). A chain whose energy turns
    non-finite or rises more than 1000 above its start is stopped, counted in
    ``n_divergent``, and its later draws are NaN. ``adapt`` tunes h so that the MALA
    acceptance of the same proposals would be 0.9 (small steps: ULA's bias is O(h)).
""" + _PARAMS_DOC
