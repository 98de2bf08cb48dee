"""Annealed importance sampling (AIS) of log Z for continuous energies, forward and reverse.

    fe.ais(E, base, n_chains, n_temperatures=None, *, schedule=None, transition="mala",
           step_size=None, n_steps_per_temperature=None, rng=None)
    fe.reverse_ais(E, base, x_target, n_temperatures, *, ...)   # same options

Both anneal along the geometric path π_β ∝ q^{1-β} exp(-βE) between a normalized base
proposal q (``fe.proposals.Gaussian`` or ``Uniform``: any proposal whose compiled
kernels draw and give log q, and, for Langevin transitions, ∇ log q) and the target
p ∝ exp(-E). Forward AIS starts from q: its weights are unbiased for Z, so log Ẑ is a
stochastic lower bound (E log Ẑ ≤ log Z, Jensen). Reverse AIS starts from exact draws of
p: its weights are unbiased for 1/Z, so its log Ẑ is a stochastic upper bound. Run both
on the same schedule to sandwich log Z (bidirectional Monte Carlo). When unsure: MALA
transitions, the sigmoid schedule, a Gaussian base a little wider than the target.

References
----------
Neal (2001), "Annealed importance sampling", Statistics and Computing 11, 125-139.
Grosse, Ghahramani & Adams (2016), "Sandwiching the marginal likelihood using
bidirectional Monte Carlo", arXiv:1511.02543.
Burda, Grosse & Salakhutdinov (2015), "Accurate and conservative estimates of MRF
log-likelihood using reverse annealing", AISTATS.
Seed 001 (pitfalls: held-out likelihood by AIS); seed 002, eq. 7 (importance weights).

Where it runs: the base decides (``Proposal._backend``), as for importance sampling. A
base built from CuPy arrays anneals on the GPU (the CUDA kernels of ``ais.cu``, the
energy through its CUDA form; ``reverse_ais`` then takes CuPy ``x_target``); inside
``fastebm.backend.emulate_gpu()`` a NumPy base takes that path on the host. Otherwise the
Numba kernels run. Both backends implement one ``Annealer`` protocol on the same Philox
streams, and the drivers below (the adaptive schedule's pilot, the tuned steps) are
shared; the estimate's per-chain arrays come back as NumPy arrays either way.
"""
import warnings

import numpy as np

from .._contract import AIS_PILOT_SHIFT, START_DRAW, START_EVAL
from .._rng import philox_key
from .._validation import as_float_array, choice, int_at_least, positive_float
from ..diagnostics import log_z_stderr, weights_ess
from ..progress import Bar, blocks
from ..energies.base import Energy
from ..proposals import Proposal
from ..resampling import log_mean_exp
from ..results import LogZEstimate
from ..backend import CPU
from ..samplers._common import check_first_chain
from . import schedules
from .ais_tuning import StepTuner, tuned_steps

TRANSITIONS = ("mala", "rwm", "ula")
PRECONDITION = ("auto", "dense", None)
# "auto" preconditions the tuned Langevin moves up to this dimension: the estimate keeps
# two (K+1, d, d) arrays (at d = 64 and K = 3000, 200 MB)
DENSE_MAX_DIM = 64
SCHEDULES = ("sigmoid", "linear", "geometric", "adaptive")
MAX_STEPS = 2**32 - 1
DEFAULT_PILOT_CHAINS = 1000
DEFAULT_MAX_TEMPERATURES = 100_000
# 0.99 left the chains of harder targets behind the schedule: on a 50-d Gaussian of
# condition 10 (base N(0, 4I), 500 chains, tuned MALA) log Z was 2.8 standard errors low
# with an ESS of 8; 0.999 took 414 temperatures instead of 127 (2.7 s) and was within 1.0
# with an ESS of 40 (docs/performance.md, "AIS without a step size").
DEFAULT_CESS_TARGET = 0.999


class BiasedAISWarning(UserWarning):
    """AIS with transitions that do not leave the intermediate targets invariant
    (``transition="ula"``): the estimate is biased (``result.biased`` is True), and
    neither E Ẑ = Z nor the lower/upper bound holds."""


def _is_discrete(energy):
    return getattr(type(energy), "is_discrete", False)


def _require_continuous(energy):
    if _is_discrete(energy):
        raise TypeError(f"fe.reverse_ais anneals continuous energies; {type(energy).__name__} "
                        "is discrete (fe.ais handles it with Gibbs transitions)")


def _discrete_ais(energy, base, n_chains, n_temperatures, schedule, transition, step_size,
                  n_steps, rng, first_chain, progress):
    """The AIS of a discrete model (RBM, Ising): one Gibbs sweep per temperature."""
    from .ais_discrete import ais_discrete
    if transition not in (None, "gibbs"):
        raise ValueError(f"a discrete model anneals with Gibbs sweeps: transition must be "
                         f"'gibbs' (or left out), got {transition!r}")
    if step_size is not None or n_steps not in (None, 1):
        raise ValueError("step_size and n_steps_per_temperature do not apply to a discrete "
                         "model (one Gibbs sweep per temperature)")
    if schedule is None:
        schedule = "sigmoid"
    if isinstance(schedule, str) and schedule == "adaptive":
        raise ValueError("the adaptive schedule is for continuous energies; use 'linear', "
                         "'geometric', 'sigmoid' or an array for a discrete model")
    return ais_discrete(energy, base, n_chains, n_temperatures, schedule=schedule, rng=rng,
                        first_chain=first_chain, progress=progress)


def _check_common(energy, base, transition, n_steps, backend):
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    _require_continuous(energy)
    if not isinstance(base, Proposal):
        raise TypeError(f"base must be a fastebm.proposals object, got {type(base).__name__}")
    if energy.dim is not None and energy.dim != base.dim:
        raise ValueError(f"base has dimension {base.dim}, the energy {energy.dim}")
    choice(transition, "transition", TRANSITIONS)
    if transition != "rwm" and not backend.runners.has_grad_log_density(base):
        raise TypeError(f"transition={transition!r} needs ∇ log q of the base, which "
                        f"{type(base).__name__} does not provide; use transition='rwm'")
    return None if n_steps is None else int_at_least(n_steps, "n_steps_per_temperature", 1)


def _warn(energy, transition):
    """Once the arguments are valid: ULA's bias, and finite-difference gradients."""
    if transition == "ula":
        warnings.warn("AIS with unadjusted Langevin transitions is biased: they do not leave "
                      "the intermediate distributions invariant", BiasedAISWarning, stacklevel=3)
    if transition != "rwm":
        energy.warn_if_finite_differences()


def _step_sizes(step_size, n_temps):
    """h (or σ) per temperature, shape (n_temps,), from a float or such an array."""
    if np.ndim(step_size) == 0:
        value = step_size.item() if isinstance(step_size, np.ndarray) else step_size
        return np.full(n_temps, positive_float(value, "step_size"))
    arr = as_float_array(step_size, "step_size", ndim=1)
    if arr.shape != (n_temps,) or not np.all(arr > 0):
        raise ValueError(f"step_size must be a positive float or {n_temps} positive floats "
                         f"(one per temperature), got shape {arr.shape}")
    return arr


def _fixed_schedule(schedule, n_temperatures):
    if isinstance(schedule, str):
        choice(schedule, "schedule", SCHEDULES)
        if n_temperatures is None:
            raise TypeError(f'schedule="{schedule}" needs n_temperatures')
        return schedules.FIXED[schedule](n_temperatures)
    betas = schedules.check_schedule(schedule)
    if n_temperatures is not None and int_at_least(n_temperatures, "n_temperatures", 2) != betas.size:
        raise ValueError(f"n_temperatures={n_temperatures} but the schedule has {betas.size} values")
    return betas


def _preconditioned(precondition, step_size, transition, dim):
    """Whether the Langevin moves use a per-temperature covariance from the pilot."""
    choice(precondition, "precondition", PRECONDITION)
    if precondition == "auto":
        return step_size is None and transition != "rwm" and dim <= DENSE_MAX_DIM
    if precondition == "dense" and transition == "rwm":
        raise ValueError('precondition="dense" applies to Langevin moves (transition "mala" '
                         'or "ula"), not to the random walk')
    return precondition == "dense"


def _schedule(energy, base, schedule, n_temperatures, transition, step_size, n_steps, key,
              cess_target, pilot_chains, precondition, backend=CPU):
    """(betas, step sizes per temperature, Cholesky factors of the moves' covariance per
    temperature or None, moves per temperature) of a fixed, given or adaptive schedule;
    a pilot run chooses what is not given (``ais_tuning``); without a pilot,
    ``n_steps=None`` is one move."""
    if schedule is None:
        schedule = "adaptive" if n_temperatures is None else "sigmoid"
    adaptive = isinstance(schedule, str) and schedule == "adaptive"
    if step_size is None and transition == "ula":
        raise TypeError("transition='ula' needs a step_size (h > 0): its moves have no "
                        "acceptance to tune one on")
    precondition = _preconditioned(precondition, step_size, transition, base.dim)
    if not adaptive:
        betas = _fixed_schedule(schedule, n_temperatures)
        if step_size is not None and not precondition:
            return betas, _step_sizes(step_size, betas.size), None, 1 if n_steps is None else n_steps
    if step_size is not None and np.ndim(step_size) != 0:
        raise ValueError("an adaptive schedule or a preconditioner needs one step_size (a "
                         "float) for all temperatures, or None")
    cap = DEFAULT_MAX_TEMPERATURES if n_temperatures is None else int_at_least(
        n_temperatures, "n_temperatures", 2)
    pilot = backend.runners.Annealer(energy, base, transition,
                                 int_at_least(pilot_chains, "pilot_chains", 2), key,
                                 AIS_PILOT_SHIFT)
    fixed = None if step_size is None else _step_sizes(step_size, 1)[0]
    tuner = StepTuner(pilot, transition, n_steps, cap, step_size=fixed,
                      precondition=precondition)
    _check_length(tuner.highest_counter, 1)
    if adaptive:
        target = positive_float(cess_target, "cess_target")
        if target >= 1.0:
            raise ValueError(f"cess_target must be in (0, 1), got {target}")
        betas, steps, chols = adaptive_pilot(pilot, target, cap, tuner)
    else:
        steps, chols = tuned_steps(tuner, betas)
    return betas, steps, chols, tuner.n_steps


def adaptive_pilot(pilot, target, cap, tuner):
    """(betas, steps, Cholesky factors or None) of the adaptive schedule from a pilot run
    on its own streams.

    A Python loop over temperatures (the next β needs every pilot chain's weights):
    a root of the conditional ESS (``schedules.next_temperature``), then one compiled
    call that adds the increments and moves the pilot chains at the new β, with the step
    (and preconditioner) the ``tuner`` keeps or tunes as it goes (``ais_tuning``). The
    estimate itself then runs on this fixed schedule and fresh streams, so Ẑ stays
    unbiased.
    """
    tuner.start()
    betas, steps, chols = [0.0], [tuner.h], [tuner.chol]
    while betas[-1] < 1.0:
        if len(betas) >= cap:
            raise ValueError(f"the adaptive schedule needs more than n_temperatures={cap} "
                             "temperatures; allow more or lower cess_target")
        beta = schedules.next_temperature(betas[-1], pilot.log_w, -pilot.e - pilot.log_q, target)
        h, chol = tuner.move(np.array([betas[-1], beta]), len(betas), beta < 1.0)
        betas.append(beta)
        steps.append(h)
        chols.append(chol)
    return np.array(betas), np.array(steps), None if chols[0] is None else np.stack(chols)


class AnnealedChains:
    """The per-chain outcome of an AIS run: log weights, accepted and divergent moves (n,)."""

    def __init__(self, n_chains):
        self.log_w = np.empty(n_chains)
        self.n_accepted = np.zeros(n_chains, dtype=np.int64)
        self.n_divergent = np.zeros(n_chains, dtype=np.int64)


def _anneal(energy, base, transition, key, first_chain, betas, step_sizes, n_steps, start,
            chol, *, n_chains, x=None, progress=False, desc="ais", backend=CPU):
    """Run the estimate's chains along ``betas`` from ``start`` (drawn from the base, or
    the rows of ``x``); one compiled call, or one per block of chains with a progress
    bar. Chains [a, b) run on the streams of first_chain + [a, b), so blocks give exactly
    the log weights of one call."""
    chains = AnnealedChains(n_chains)
    moves = max(betas.size - 2, 0) * n_steps
    with Bar(progress, n_chains, desc, unit="chain") as bar:
        lo = 0
        for length in blocks(n_chains, bar):
            hi = lo + length
            annealer = backend.runners.Annealer(energy, base, transition, length, key, 0,
                                                first_chain + lo,
                                                work=n_chains * betas.size * n_steps)
            if x is not None:
                annealer.start_at(x[lo:hi])
            annealer.run(betas, step_sizes, n_steps, 0, False, start, chol)
            chains.log_w[lo:hi] = annealer.log_w
            chains.n_accepted[lo:hi] = annealer.n_accepted
            chains.n_divergent[lo:hi] = annealer.n_divergent
            lo = hi
            bar.update(length, **({"acceptance": chains.n_accepted[:hi].sum() / (hi * moves)}
                                  if moves else {}))
    return chains


def _estimate(annealer, betas, n_steps, method, transition, step_sizes=None):
    """Package the chains' log weights as a LogZEstimate."""
    log_w = annealer.log_w
    if np.any(np.isnan(log_w)):
        raise ValueError("the AIS log weights of chains "
                         f"{np.flatnonzero(np.isnan(log_w))[:10].tolist()} are NaN (the energy "
                         "or log q is NaN, or +inf meets -inf, on the path)")
    if np.all(log_w == -np.inf):
        raise ValueError("every AIS weight is zero: the base misses the target's support")
    if np.any(log_w == np.inf):
        raise ValueError("the AIS log weights of chains "
                         f"{np.flatnonzero(log_w == np.inf)[:10].tolist()} are +inf (the energy "
                         "reached -inf on the path: exp(-E) is not integrable there)")
    log_mean = float(log_mean_exp(log_w))
    stderr = log_z_stderr(log_w)
    n_moves = (betas.size - 2) * n_steps  # no transition at either end of the schedule
    acceptance = (annealer.n_accepted / n_moves if n_moves
                  else np.full(annealer.n_accepted.shape, np.nan))  # no moves: undefined
    reverse = method == "reverse_ais"
    return LogZEstimate(-log_mean if reverse else log_mean, stderr, log_w.copy(),
                        float(weights_ess(log_w)), method, "upper" if reverse else "lower",
                        acceptance, betas, transition == "ula", annealer.n_divergent.copy(),
                        None if step_sizes is None else np.array(step_sizes, dtype=np.float64),
                        n_steps)


def ais(energy, base, n_chains, n_temperatures=None, *, schedule=None, transition=None,
        step_size=None, n_steps_per_temperature=None, rng=None, cess_target=DEFAULT_CESS_TARGET,
        pilot_chains=DEFAULT_PILOT_CHAINS, first_chain=None, precondition="auto",
        progress=False):
    """Annealed importance sampling: an estimate of log Z with its standard error.

    Each of ``n_chains`` independent chains starts at a draw of the base q and visits
    the temperatures β₀ = 0 < β₁ < … < β_K = 1 of π_β ∝ q^{1-β} exp(-βE); its log weight
    is Σₖ (βₖ - βₖ₋₁)(-E(xₖ₋₁) - log q(xₖ₋₁)), xₖ the state after the moves at βₖ. Then
    Ẑ = mean(w) is unbiased for Z (Neal 2001, eq. 3-4; with K = 1 it is importance
    sampling from q, seed 002 eq. 7) and log Ẑ is biased low: E log Ẑ ≤ log Z.

    Parameters
    ----------
    energy : Energy
        A continuous energy (MALA/ULA need ∇ₓE), or a discrete model: a
        ``BernoulliRBM`` (the base-rate path of Salakhutdinov & Murray 2008) or an
        ``Ising`` model (exp(-βE) from β = 0), annealed with one Gibbs sweep per
        temperature (see ``fastebm.estimators.ais_discrete``). A
        ``GaussianBernoulliRBM`` takes the continuous path with a proposal as ``base``,
        or, with ``base=None``, its own path (the interaction annealed from N(b, σ²)
        with Gibbs sweeps).
    base : fastebm.proposals.Proposal, or (discrete models) data or None
        The normalized start q, with the energy's dimension; it must cover the
        target's support. MALA/ULA need ∇ log q (Gaussian, Uniform). For an RBM: the
        training data whose smoothed unit means give the base rates, or None for the
        uniform base; for an Ising model: None.
    n_chains : int
        Independent chains (≥ 2); chain i's result does not depend on n_chains.
    n_temperatures : int, optional
        K + 1, the number of temperatures (both ends included) of a named fixed schedule;
        for an array schedule, None or its length; for ``"adaptive"``, the most it may
        use (default 100,000).
    schedule : {"sigmoid", "linear", "geometric", "adaptive"}, array_like, or None
        The temperatures 0 = β₀ < … < β_K = 1 (see ``fastebm.estimators.schedules``).
        None (the default): "adaptive" when ``n_temperatures`` is None, else "sigmoid"
        ("sigmoid" always for a discrete model).
        ``"adaptive"`` picks each next β (Brent's method) so that the conditional ESS of the
        incremental weights stays at ``cess_target``, on a pilot run of ``pilot_chains``
        chains with their own streams (a Python loop over temperatures, each one compiled
        call); the estimate then runs on that fixed schedule.
    transition : {"mala", "rwm", "ula"}, default "mala" ("gibbs", the only choice, for a
        discrete model)
        The moves at each temperature: MALA or random-walk Metropolis on π_β (exact), or
        unadjusted Langevin (biased: ``BiasedAISWarning`` and ``result.biased``).
    step_size : None, float or array_like of shape (n_temperatures,)
        MALA/ULA: h in y = x - h∇U_β(x) + √(2h)ξ; rwm: σ in y = x + σξ. One value, or one
        per temperature (entry k is used at βₖ). None (the default; MALA and rwm): tuned
        per temperature on the pilot chains to the acceptance 0.574 (MALA) or 0.234 (rwm),
        then frozen for the estimate, which runs on fresh streams and so stays unbiased
        (``fastebm.estimators.ais_tuning``); ``result.step_size`` holds them. ULA needs one.
    n_steps_per_temperature : int or None, default None
        Transitions at each intermediate temperature. None: chosen by the pilot run where
        there is one (an adaptive schedule, tuned steps or a preconditioner): at each
        temperature the pilot repeats its move until the chains' mean displacement grows
        by less than 10 % (at most 10 moves), and the estimate takes the pilot's mean
        number of moves rounded up (``fastebm.estimators.ais_tuning``); one without a
        pilot. ``result.n_steps_per_temperature`` holds the number used.
    rng : None, int, SeedSequence or Generator
        Seeds the per-chain Philox streams (SPEC 7).
    cess_target : float, default 0.999
        Adaptive schedule only: the conditional ESS fraction kept per temperature. Higher
        means more temperatures: about √10 times more per extra 9 (0.99 → 0.999 → 0.9999).
    pilot_chains : int, default 1000
        Chains of the pilot run of an adaptive schedule or of tuned steps (independent of
        ``n_chains``, so chain i of the estimate does not depend on how many chains run).
    first_chain : int, optional
        The global index of chain 0 (default 0): chain i runs on the streams of chain
        first_chain + i, so chains [a, b) run with ``first_chain=a`` have exactly the log
        weights [a, b) of the whole run (log Z and its error pool the chains of the call;
        an adaptive schedule comes from its own pilot chains either way).
    precondition : {"auto", "dense", None}, default "auto"
        "dense": the Langevin moves at each temperature βₖ use a covariance Σₖ estimated
        from the pilot's chains there (y = x - hΣₖ∇U_β + √(2h) Lₖξ, MALA's ratio with
        Σₖ), so a badly scaled path costs no more than an isotropic one; needs MALA or ULA
        and a pilot run. "auto": "dense" when the steps are tuned (``step_size=None``),
        the moves are Langevin and d ≤ 64; None otherwise.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the estimate's chains, run in blocks
        (rows [a, b) on the streams of chains first_chain + [a, b), as ``first_chain``
        promises), with the acceptance rate so far. The estimate is bitwise the same with
        and without it; ``FASTEBM_PROGRESS=0`` turns every bar off. The pilot run of an
        adaptive schedule or of tuned steps is not shown.

    Returns
    -------
    LogZEstimate
        ``log_z``, ``stderr`` (delta method: sd(w)/(√n mean(w)) over chains),
        ``log_weights`` (n_chains,), ``ess`` (Kish), ``method``, ``bound``,
        ``acceptance_rate`` (n_chains,) over all transitions, ``temperatures``,
        ``biased``, ``n_divergent``.

    Raises
    ------
    fastebm.backend.BackendUnavailableError
        On the GPU path (a base built from CuPy arrays, or ``emulate_gpu()``): no usable
        device, or an energy or base without CUDA AIS kernels (the bases are Gaussian and
        Uniform); nothing falls back to the CPU.

    Notes
    -----
    Cost: n_chains × (K - 1) × n_steps_per_temperature moves, one energy (and gradient)
    evaluation each. The standard error is only as good as the weights' variance is
    finite and well sampled: check ``ess`` (a few chains carrying all the weight mean
    too few temperatures or poor moves) and compare with ``reverse_ais``.

    References
    ----------
    Neal (2001), "Annealed importance sampling", Statistics and Computing 11.

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> E = fe.Gaussian(np.zeros(2), covariance=[1.0, 4.0])
    >>> q = fe.proposals.Gaussian(np.zeros(2), [9.0, 9.0])
    >>> est = fe.ais(E, q, 500, 200, step_size=0.5, rng=0)
    >>> bool(abs(est.log_z - E.log_partition()) < 5 * est.stderr)
    True
    >>> est = fe.ais(E, q, 500, rng=0)      # adaptive schedule, tuned steps
    >>> bool(abs(est.log_z - E.log_partition()) < 5 * est.stderr)
    True
    """
    if _is_discrete(energy) or (hasattr(energy, "_ais_form")
                                and not isinstance(base, Proposal)):
        # discrete models, and a Gaussian-Bernoulli RBM without a proposal: the model's
        # own path with Gibbs transitions
        return _discrete_ais(energy, base, n_chains, n_temperatures, schedule, transition,
                             step_size, n_steps_per_temperature, rng, first_chain, progress)
    transition = "mala" if transition is None else transition
    backend = base._backend() if isinstance(base, Proposal) else CPU
    n_steps = _check_common(energy, base, transition, n_steps_per_temperature, backend)
    n_chains = int_at_least(n_chains, "n_chains", 2)
    first_chain = check_first_chain(0 if first_chain is None else first_chain, n_chains)
    key = philox_key(rng)
    betas, step_sizes, chol, n_steps = _schedule(energy, base, schedule, n_temperatures,
                                                 transition, step_size, n_steps, key,
                                                 cess_target, pilot_chains, precondition,
                                                 backend)
    _check_length(betas.size, n_steps)
    _warn(energy, transition)
    chains = _anneal(energy, base, transition, key, first_chain, betas, step_sizes, n_steps,
                     START_DRAW, chol, n_chains=n_chains, progress=progress, desc="ais",
                     backend=backend)
    return _estimate(chains, betas, n_steps, "ais", transition, step_sizes)


def reverse_ais(energy, base, x_target, n_temperatures=None, *, schedule=None,
                transition="mala", step_size=None, n_steps_per_temperature=None, rng=None,
                cess_target=DEFAULT_CESS_TARGET, pilot_chains=DEFAULT_PILOT_CHAINS,
                first_chain=None, precondition="auto", progress=False):
    """Reverse AIS: a stochastic upper bound on log Z from exact target draws.

    Each row of ``x_target`` (an exact draw of p ∝ exp(-E)) starts a chain that visits
    the schedule backwards, β_K = 1 → β₀ = 0, with log weight
    Σₖ (βₖ - βₖ₋₁)(E(x) + log q(x)) at its state x before the moves at βₖ₋₁. Its weights
    are unbiased for 1/Z (Grosse, Ghahramani & Adams 2016, sec. 4; Burda, Grosse &
    Salakhutdinov 2015), so log Ẑ = -log mean(w) satisfies E log Ẑ ≥ log Z. Run with
    the schedule and transitions of a forward ``ais`` to sandwich log Z between the two.

    Parameters
    ----------
    energy : Energy
        A continuous energy.
    base : fastebm.proposals.Proposal
        The normalized q at β = 0 (as for ``ais``).
    x_target : array_like of shape (n_chains, d)
        Exact draws of the target (e.g. from the model that generated the data); draws
        that are only approximate make the bound approximate too.
    n_temperatures : int, optional
        K + 1, the number of temperatures (both ends included) of a named fixed schedule;
        for an array schedule, None or its length; for ``"adaptive"``, the most it may
        use (default 100,000).
    schedule : {"sigmoid", "linear", "geometric", "adaptive"}, array_like, or None
        The temperatures 0 = β₀ < … < β_K = 1 (see ``fastebm.estimators.schedules``).
        None (the default): "adaptive" when ``n_temperatures`` is None, else "sigmoid"
        ("sigmoid" always for a discrete model).
        ``"adaptive"`` picks each next β (Brent's method) so that the conditional ESS of the
        incremental weights stays at ``cess_target``, on a pilot run of ``pilot_chains``
        chains with their own streams (a Python loop over temperatures, each one compiled
        call); the estimate then runs on that fixed schedule.
    transition : {"mala", "rwm", "ula"}, default "mala" ("gibbs", the only choice, for a
        discrete model)
        The moves at each temperature: MALA or random-walk Metropolis on π_β (exact), or
        unadjusted Langevin (biased: ``BiasedAISWarning`` and ``result.biased``).
    step_size : None, float or array_like of shape (n_temperatures,)
        MALA/ULA: h in y = x - h∇U_β(x) + √(2h)ξ; rwm: σ in y = x + σξ. One value, or one
        per temperature (entry k is used at βₖ). None (the default; MALA and rwm): tuned
        per temperature on the pilot chains to the acceptance 0.574 (MALA) or 0.234 (rwm),
        then frozen for the estimate, which runs on fresh streams and so stays unbiased
        (``fastebm.estimators.ais_tuning``); ``result.step_size`` holds them. ULA needs one.
    n_steps_per_temperature : int or None, default None
        Transitions at each intermediate temperature; None: chosen by the pilot, as in
        :func:`ais`.
    rng : None, int, SeedSequence or Generator
        Seeds the per-chain Philox streams (SPEC 7).
    cess_target : float, default 0.999
        Adaptive schedule only: the conditional ESS fraction kept per temperature. Higher
        means more temperatures: about √10 times more per extra 9 (0.99 → 0.999 → 0.9999).
    pilot_chains : int, default 1000
        Chains of the pilot run of an adaptive schedule or of tuned steps (independent of
        ``n_chains``, so chain i of the estimate does not depend on how many chains run).
    first_chain : int, optional
        The global index of chain 0 (default 0): chain i runs on the streams of chain
        first_chain + i, so chains [a, b) run with ``first_chain=a`` have exactly the log
        weights [a, b) of the whole run (log Z and its error pool the chains of the call;
        an adaptive schedule comes from its own pilot chains either way).
    precondition : {"auto", "dense", None}, default "auto"
        "dense": the Langevin moves at each temperature βₖ use a covariance Σₖ estimated
        from the pilot's chains there (y = x - hΣₖ∇U_β + √(2h) Lₖξ, MALA's ratio with
        Σₖ), so a badly scaled path costs no more than an isotropic one; needs MALA or ULA
        and a pilot run. "auto": "dense" when the steps are tuned (``step_size=None``),
        the moves are Langevin and d ≤ 64; None otherwise.
    progress : bool, default False
        A progress bar over the chains, as in :func:`ais`.

    Returns
    -------
    LogZEstimate
        ``log_z``, ``stderr`` (delta method: sd(w)/(√n mean(w)) over chains),
        ``log_weights`` (n_chains,) of 1/Z (log Ẑ = -log mean(w)),
        ``ess`` (Kish), ``method``, ``bound``,
        ``acceptance_rate`` (n_chains,) over all transitions, ``temperatures``,
        ``biased``, ``n_divergent``.

    Raises
    ------
    fastebm.backend.BackendUnavailableError
        A base built from CuPy arrays with NumPy ``x_target`` (or the reverse): move them to
        one device first; and the cases of :func:`ais`.

    References
    ----------
    Grosse, Ghahramani & Adams (2016), "Sandwiching the marginal likelihood using
    bidirectional Monte Carlo", arXiv:1511.02543.
    """
    backend = base._backend(x_target) if isinstance(base, Proposal) else CPU
    n_steps = _check_common(energy, base, transition, n_steps_per_temperature, backend)
    x, _, _ = energy._points(x_target, "x_target")
    if x.shape[1] != base.dim:
        raise ValueError(f"x_target must have {base.dim} columns (the base's dimension), "
                         f"got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"x_target must hold at least 2 draws (one per chain), got {x.shape[0]}")
    e = energy.energy(x)
    if np.any(np.isnan(e)) or np.any(np.abs(e) == np.inf):
        raise ValueError("the energy is not finite at some rows of x_target: they cannot be "
                         "exact draws of the target")
    first_chain = check_first_chain(0 if first_chain is None else first_chain, x.shape[0])
    key = philox_key(rng)
    betas, step_sizes, chol, n_steps = _schedule(energy, base, schedule, n_temperatures,
                                                 transition, step_size, n_steps, key,
                                                 cess_target, pilot_chains, precondition,
                                                 backend)
    _check_length(betas.size, n_steps)
    _warn(energy, transition)
    chains = _anneal(energy, base, transition, key, first_chain, betas[::-1].copy(),
                     step_sizes[::-1].copy(), n_steps, START_EVAL,
                     None if chol is None else chol[::-1].copy(), n_chains=x.shape[0], x=x,
                     progress=progress, desc="reverse ais", backend=backend)
    return _estimate(chains, betas, n_steps, "reverse_ais", transition, step_sizes)


def _check_length(n_temperatures, n_steps):
    if n_temperatures * n_steps > MAX_STEPS:
        raise ValueError(f"n_temperatures × n_steps_per_temperature must be at most {MAX_STEPS}")
