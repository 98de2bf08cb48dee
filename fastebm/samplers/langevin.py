"""Langevin samplers: unadjusted (``langevin``, ULA) and Metropolis-adjusted (``mala``).

Both move all chains with x' = x - hΣ∇E(x) + √(2h) Lξ (Σ = LLᵀ the preconditioner,
identity by default), the Euler-Maruyama step of the Langevin diffusion whose stationary
law is p ∝ exp(-E). ULA keeps every step and so samples a biased law (on N(0, σ²) its
variance is σ² / (1 - h/(2σ²))); MALA accepts with the Metropolis-Hastings ratio and is
exact. Step-size convention: h = ``step_size`` (BlackJAX's; seed 001's ε is 2h).
"""
from ..warnings import check_acceptance
from . import _common

MALA_TARGET = 0.574
# ULA keeps every step, so its adaptation aims at small steps: h such that the MALA
# acceptance of the same proposals would be 0.9 (its bias is O(h); at MALA's 0.574 a
# 1-d Gaussian gets h beyond the stability limit 2σ²).
ULA_TARGET = 0.9


def langevin_runner(energy, start, metropolize, inverse_mass, work):
    """The backend's runner of a ULA or MALA run from ``start`` (``_common.Start``), its
    start energy checked."""
    runner = start.backend.runners.LangevinRunner(
        energy, start.x, start.key, start.step, start.first_chain, metropolize=metropolize,
        target=MALA_TARGET if metropolize else ULA_TARGET, inverse_mass=inverse_mass,
        energy_start=start.energy_start, diverged=start.diverged, work=work)
    _common.check_start_energy(runner.e, runner.g)
    return runner


def _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep, rng,
         first_chain, metropolize, progress):
    start = _common.Start(energy, x0, step_size, rng, first_chain=first_chain)
    precondition, given = _common.check_inverse_mass(precondition, start.dim)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, precondition, adapt,
                                               start)
    energy.warn_if_finite_differences()
    runner = langevin_runner(energy, start, metropolize,
                             given if given is not None else start.inverse_mass,
                             start.n_chains * (burn_in + n_steps))
    result = _common.run(start, runner, n_steps, burn_in, thin, keep, adapt, precondition,
                         start.step_size, progress, "mala" if metropolize else "langevin")
    if metropolize and n_steps:
        check_acceptance(result.acceptance_rate, n_steps, "MALA")
    return result


def mala(energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
         precondition=None, keep="draws", rng=None, first_chain=None, progress=False):
    """Metropolis-adjusted Langevin algorithm, all chains at once.

    Proposal y = x - hΣ∇E(x) + √(2h) Lξ, accepted with probability min(1, α),
    log α = E(x) - E(y) + log q(x|y) - log q(y|x), q(y|x) = N(y; x - hΣ∇E(x), 2hΣ)
    (Roberts & Tweedie 1996). Proposals with non-finite energy or gradient are rejected
    and counted in ``n_divergent``.

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
        Tune each chain's h by dual averaging during burn-in (target acceptance 0.574),
        then freeze it.
    precondition : None, "diag", "dense", or array_like of shape (d,) or (d, d)
        Estimate Σ (diagonal or dense) from the pooled chains in widening windows during
        burn-in, or use the given Σ. Proposals then have covariance 2hΣ.
    keep : {"draws", "moments"}, default "draws"
        "moments" keeps per-chain running mean and variance instead of draws.
    rng : None, int, SeedSequence or Generator
        Seeds the per-chain Philox streams (SPEC 7).
    first_chain : int, optional
        The global index of row 0 (default 0): row r runs on the streams of chain
        first_chain + r, so rows [a, b) run with ``first_chain=a`` are exactly those rows
        of the whole run (without a pooled ``precondition``, which is estimated from the
        chains of the call). A ChainState brings its own.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) with the acceptance rate so far. The results
        are bitwise the same with and without it; ``FASTEBM_PROGRESS=0`` in the
        environment turns every bar off.

    Returns
    -------
    MCMCResult
        ``draws`` (n_draws, n_chains, d), ``acceptance_rate``, ``n_divergent``,
        ``step_size``, ``state`` (continue with ``x0=result.state``) and, with
        ``keep="moments"``, ``mean`` and ``variance``.
    """
    return _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep,
                rng, first_chain, metropolize=True, progress=progress)


def langevin(energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
             precondition=None, keep="draws", rng=None, first_chain=None, progress=False):
    """Unadjusted Langevin algorithm (ULA), all chains at once.

    x' = x - hΣ∇E(x) + √(2h) Lξ, every step kept: the chain is biased by O(h) (on
    N(0, σ²) its stationary variance is σ²/(1 - h/(2σ²))). A chain whose energy turns
    non-finite or rises more than 1000 above its start is stopped, counted in
    ``n_divergent``, and its later draws are NaN. ``adapt`` tunes h so that the MALA
    acceptance of the same proposals would be 0.9 (small steps: ULA's bias is O(h)).

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
        Tune each chain's h by dual averaging during burn-in, then freeze it, so that
        the MALA acceptance of its proposals would be 0.9.
    precondition : None, "diag", "dense", or array_like of shape (d,) or (d, d)
        Estimate Σ (diagonal or dense) from the pooled chains in widening windows during
        burn-in, or use the given Σ. Proposals then have covariance 2hΣ.
    keep : {"draws", "moments"}, default "draws"
        "moments" keeps per-chain running mean and variance instead of draws.
    rng : None, int, SeedSequence or Generator
        Seeds the per-chain Philox streams (SPEC 7).
    first_chain : int, optional
        The global index of row 0 (default 0): row r runs on the streams of chain
        first_chain + r, so rows [a, b) run with ``first_chain=a`` are exactly those rows
        of the whole run (without a pooled ``precondition``, which is estimated from the
        chains of the call). A ChainState brings its own.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) with the acceptance rate so far. The results
        are bitwise the same with and without it; ``FASTEBM_PROGRESS=0`` in the
        environment turns every bar off.

    Returns
    -------
    MCMCResult
        ``draws`` (n_draws, n_chains, d; NaN after a chain diverged), ``acceptance_rate``
        (of finite proposals), ``n_divergent``,
        ``step_size``, ``state`` (continue with ``x0=result.state``) and, with
        ``keep="moments"``, ``mean`` and ``variance``.
    """
    return _run(energy, x0, step_size, n_steps, burn_in, thin, adapt, precondition, keep,
                rng, first_chain, metropolize=False, progress=progress)
