"""Metropolis-Hastings: random walk, or an independent proposal (seed 002, sec. 6).

Random walk: y = x + σLξ with σ = ``scale`` (the proposal's standard deviation) and Σ =
LLᵀ the preconditioner (identity by default); accepted with probability
min(1, exp(E(x) - E(y))). With ``proposal=q`` (a ``fastebm.proposals`` object) y ~ q
independently of x, accepted with probability min(1, exp(E(x) - E(y) + log q(x) -
log q(y))). Every chain runs all its steps inside one parallel kernel call; with
``adapt`` each chain tunes its own σ by dual averaging during burn-in.
"""
import numpy as np

from .._validation import choice
from ..energies.ising import Ising
from ..proposals import Proposal
from ..results import ChainState
from ..warnings import check_acceptance
from . import _common

RANDOM_WALK_TARGET = 0.234


def metropolis(energy, x0, n_steps, *, scale=None, proposal=None, burn_in=0, thin=1,
               adapt=False, precondition=None, keep="draws", rng=None, first_chain=None,
               scan=None, progress=False):
    """Metropolis-Hastings for all chains at once: random walk or independent proposal;
    for an Ising model, single-site spin flips.

    Parameters
    ----------
    energy : Energy
        The target p(x) ∝ exp(-E(x)); only E is evaluated. An ``Ising`` model is sampled
        by single-site flips (see ``scan``); ``n_steps`` and ``burn_in`` then count sweeps.
    x0 : array_like of shape (n_chains, d) or (d,), or ChainState
        Starting points, or the ``state`` of an earlier run to continue its streams.
    n_steps : int
        Steps after burn-in; ``n_steps // thin`` draws are kept.
    scale : float or array_like of shape (n_chains,), optional
        σ, the random-walk proposal's standard deviation, one value or one per chain
        (initial values when ``adapt``). Default: 1.0 for a new run, the state's (adapted)
        scales when ``x0`` is a ChainState.
    proposal : fastebm.proposals.Proposal, optional
        Makes it the independent-proposal sampler; then ``scale``, ``adapt`` and
        ``precondition`` do not apply.
    burn_in, thin, keep, rng, first_chain
        As in :func:`fastebm.mala`.
    adapt : bool, default False
        Tune σ by dual averaging during burn-in (target acceptance 0.234), then freeze.
    precondition : None, "diag", "dense", or array_like of shape (d,) or (d, d)
        Proposal covariance σ²Σ with Σ estimated in widening burn-in windows, or given.
    scan : {"systematic", "random"}, optional
        Ising models only (default "systematic"): a sweep proposes to flip each site once
        in order, or n sites drawn uniformly; a flip of sᵢ changes E by
        ΔE = 2sᵢ(Σⱼ Jᵢⱼsⱼ + hᵢ) and is taken with probability min(1, e^{-ΔE}), the
        uniforms of (chain, sweep, TAG_ISING_FLIP). ``acceptance_rate`` is per proposal.
        ``scale``, ``proposal``, ``adapt`` and ``precondition`` do not apply.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) with the acceptance rate so far. The results
        are bitwise the same with and without it; ``FASTEBM_PROGRESS=0`` in the
        environment turns every bar off.

    Returns
    -------
    MCMCResult

    Notes
    -----
    Random walk: y = x + σLξ, α = exp(E(x) - E(y)) (Metropolis et al. 1953). Independent:
    y ~ q, α = exp(E(x) - E(y)) q(x) / q(y) (Hastings 1970; seed 002, sec. 6).
    Proposals with a NaN or +inf energy are rejected and counted in ``n_divergent``.
    """
    if isinstance(energy, Ising):
        return _single_site(energy, x0, n_steps, scale, proposal, adapt, precondition, scan,
                            burn_in, thin, keep, rng, first_chain, progress)
    if scan is not None:
        raise ValueError("scan applies to Ising models (single-site flips), not to "
                         f"{type(energy).__name__}")
    if scale is None and not isinstance(x0, ChainState):
        scale = 1.0
    start = _common.Start(energy, x0, scale, rng, step_name="scale", first_chain=first_chain)
    if proposal is not None:
        if not isinstance(proposal, Proposal):
            raise TypeError("proposal must be a fastebm.proposals object, got "
                            f"{type(proposal).__name__}")
        if proposal.dim != start.dim:
            raise ValueError(f"proposal has dimension {proposal.dim}, x0 has {start.dim}")
        if adapt or precondition is not None:
            raise ValueError("adapt and precondition apply to the random walk only, not to "
                             "an independent proposal")
    precondition, given = _common.check_inverse_mass(precondition, start.dim)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, precondition, adapt,
                                               start)
    runner = metropolis_runner(energy, start, given if given is not None else start.inverse_mass,
                               start.n_chains * (burn_in + n_steps), proposal)
    if proposal is not None:
        outside = np.flatnonzero(runner.log_q == -np.inf)
        if outside.size:
            raise ValueError("x0 lies outside the proposal's support for chains "
                             f"{outside[:10].tolist()}: those chains could never move")
    result = _common.run(start, runner, n_steps, burn_in, thin, keep, adapt, precondition,
                         start.step_size, progress, "metropolis")
    if n_steps:
        check_acceptance(result.acceptance_rate, n_steps, "the random walk" if proposal is None
                         else "the independent proposal", stacklevel=3)
    return result


def metropolis_runner(energy, start, inverse_mass, work, proposal=None):
    """The backend's runner of a random-walk (or independent-proposal) run from ``start``
    (``_common.Start``), its start energy checked."""
    runner = start.backend.runners.MetropolisRunner(
        energy, start.x, start.key, start.step, start.first_chain, proposal=proposal,
        target=RANDOM_WALK_TARGET, inverse_mass=inverse_mass, work=work)
    _common.check_start_energy(runner.e)
    return runner


SCANS = ("systematic", "random")


def _single_site(model, x0, n_steps, scale, proposal, adapt, precondition, scan, burn_in,
                 thin, keep, rng, first_chain, progress):
    """Single-site Metropolis sweeps of an Ising model through the shared driver."""
    if scale is not None or proposal is not None or adapt or precondition is not None:
        raise ValueError("scale, proposal, adapt and precondition do not apply to an Ising "
                         "model's single-site flips")
    scan = choice("systematic" if scan is None else scan, "scan", SCANS)
    start = _common.Chains(model, x0, rng, first_chain)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, None, False, start)
    runner = start.backend.runners.IsingMetropolisRunner(
        model, start.x, start.key, start.step, start.first_chain, random_scan=scan == "random")
    return _common.run(start, runner, n_steps, burn_in, thin, keep, False, None, None,
                       progress, "metropolis (Ising)")
