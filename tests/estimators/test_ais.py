"""AIS estimates of log Z against exact values (Neal 2001; seed 001, pitfalls; seed 002).

Each check is a z-test whose standard error comes from the independent chains, at the
suite-wide threshold Z_CRIT; each has a negative control that the same check must catch.
"""
import numba
import numpy as np
import pytest
from numba import njit

import fastebm as fe
from fastebm._kernels.numba.dispatch import _REGISTRY, _specialize
from fastebm._rng import philox_key
from fastebm._contract import START_EVAL
from fastebm._kernels.numba.runners import Annealer as _Annealer
from fastebm.estimators import schedules
from fastebm.resampling import log_mean_exp
from tests.estimators.reference_ais import GaussianBase, ais_reference, mixture_energy
from tests.statistical.harness import Z_CRIT, unbiased_ratio_z
from tests.statistical.targets import MIX_M, MIX_S, MIX_W, rotation_spd

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT,
                                reason="statistical tests need the compiled kernels")

MEAN_10 = np.linspace(-1.0, 1.0, 10)
COV_10 = rotation_spd(10, 100.0, 7)  # eigenvalues 1 … 100: condition number 100


def gaussian_10d():
    """The 10-d ill-conditioned Gaussian, a base N(0, 30 I), and AIS settings."""
    return (fe.Gaussian(MEAN_10, covariance=COV_10),
            fe.proposals.Gaussian(np.zeros(10), 30.0 * np.eye(10)),
            dict(n_chains=4000, n_temperatures=500, step_size=0.5))


MIX_SCALE = 3.0  # weights 0.9 and 2.1: log Z = log 3, so a wrong scale of the increments shows


def mixture():
    """0.3 N(-1.5, 1) + 0.7 N(1.5, 1) times 3, a base N(0.5, 9), and AIS settings."""
    return (fe.GaussianMixture(MIX_SCALE * MIX_W, MIX_M[:, None], MIX_S[:, None] ** 2),
            fe.proposals.Gaussian([0.5], [9.0]),
            dict(n_chains=4000, n_temperatures=200, step_size=0.5))


CASES = {"gaussian_10d": gaussian_10d, "mixture": mixture}


def z_score(log_weights, exact):
    """|log Ẑ - log Z| / se, log Ẑ = log mean w, se = sd(w)/(√n mean w) (delta method)."""
    w = np.exp(log_weights - log_weights.max())
    stderr = np.std(w, ddof=1) / (np.sqrt(w.size) * np.mean(w))
    return abs(log_mean_exp(log_weights) - exact) / stderr


def _ais(energy, base, settings, rng, **kw):
    options = dict(settings)
    options.update(kw)
    return fe.ais(energy, base, options.pop("n_chains"), options.pop("n_temperatures"), rng=rng,
                  **options)


@pytest.mark.parametrize("name", CASES)
def test_ais_log_z_within_standard_errors(name, seed):
    energy, base, settings = CASES[name]()
    result = _ais(energy, base, settings, seed)
    assert z_score(result.log_weights, energy.log_partition()) < Z_CRIT
    assert abs(result.log_z - log_mean_exp(result.log_weights)) < 1e-12
    assert result.ess > settings["n_chains"] / 20  # the weights are usable at all
    assert result.method == "ais" and result.bound == "lower" and not result.biased
    assert not np.any(result.n_divergent)


def _wrong_increment_family(factor):
    """The compiled kernels with the weight increment scaled by ``factor`` (a wrong β
    difference): a mutant of the library's own kernel, compiled from its source."""
    wrong = njit(lambda delta_beta, e, log_q: factor * delta_beta * (-e - log_q))
    return {name: _specialize(_REGISTRY[name][0], {"log_increment": wrong})
            for name in ("ais_langevin",)}


@pytest.fixture(scope="module")
def mutant_family():
    return _wrong_increment_family(1.05)


@pytest.mark.parametrize("name", CASES)
def test_negative_control_wrong_beta_difference(name, seed, mutant_family, monkeypatch):
    """AIS whose increments use 1.02 (β_k - β_{k-1}) must fail the same check."""
    energy, base, settings = CASES[name]()
    monkeypatch.setattr(energy, "_family", mutant_family, raising=False)
    result = _ais(energy, base, settings, seed)
    assert z_score(result.log_weights, energy.log_partition()) > Z_CRIT


def test_negative_control_energy_at_the_new_state(seed):
    """AIS adding (β_k - β_{k-1})(-E - log q) at the state after the moves at β_k (the
    NumPy reference on the same streams, with the increment moved) fails the same check."""
    energy = mixture()[0]
    betas = schedules.sigmoid(10)  # a short schedule, where the misplaced increment shows
    reference_energy = mixture_energy(MIX_SCALE * MIX_W, MIX_M[:, None], MIX_S[:, None] ** 2)
    args = (reference_energy, GaussianBase([0.5], [[9.0]]), betas, np.full(betas.size, 0.5), 1,
            philox_key(seed))
    right, _ = ais_reference(*args, transition="mala", n_chains=20_000)
    wrong, _ = ais_reference(*args, transition="mala", n_chains=20_000, increment="new_state")
    assert z_score(right, energy.log_partition()) < Z_CRIT
    assert z_score(wrong, energy.log_partition()) > Z_CRIT


def _repeats(energy, base, seed, n_rep, **options):
    """log Ẑ of ``n_rep`` independent AIS runs (independent streams)."""
    return np.array([fe.ais(energy, base, rng=s, **options).log_z
                     for s in np.random.SeedSequence(seed).spawn(n_rep)])


REPEAT = dict(n_chains=20, n_temperatures=300, step_size=0.5)


def test_z_hat_unbiased_and_log_z_hat_biased_low(seed):
    """Over 200 runs on the 10-d Gaussian: mean of Ẑ/Z within 5 se of 1 (TESTING.md), and
    E log Ẑ ≤ log Z (Jensen) within Z_CRIT se."""
    energy, base, _ = gaussian_10d()
    exact = energy.log_partition()
    log_z_hat = _repeats(energy, base, seed, 200, **REPEAT)
    assert unbiased_ratio_z(log_z_hat, exact) < 5.0
    assert log_z_hat.mean() < exact + Z_CRIT * log_z_hat.std(ddof=1) / np.sqrt(log_z_hat.size)


def test_negative_control_unbiasedness_wrong_beta_difference(seed, mutant_family, monkeypatch):
    energy, base, _ = gaussian_10d()
    monkeypatch.setattr(energy, "_family", mutant_family, raising=False)
    log_z_hat = _repeats(energy, base, seed, 200, **REPEAT)
    assert unbiased_ratio_z(log_z_hat, energy.log_partition()) > 5.0


SANDWICH = dict(n_temperatures=30, step_size=0.5)


def _sandwich(energy, base, seed, reverse_runner):
    """Per-chain forward log wᵢ (E ≤ log Z) and reverse -log wᵢ (E ≥ log Z), 4000 chains
    each: every chain is an independent estimate, so their means have exact errors."""
    fwd = fe.ais(energy, base, 4000, rng=seed, **SANDWICH)
    x_target = np.random.default_rng(seed).multivariate_normal(MEAN_10, COV_10, 4000)
    upper = -reverse_runner(energy, base, x_target, seed)
    return fwd.log_weights, upper


def _reverse(energy, base, x_target, seed):
    result = fe.reverse_ais(energy, base, x_target, rng=seed + 1, **SANDWICH)
    assert result.bound == "upper"
    return result.log_weights


def _sandwich_z(lower, upper, exact):
    """(z of upper mean above lower mean, z of exact above the lower mean, z of the upper
    mean above exact)."""
    se_l, se_u = (v.std(ddof=1) / np.sqrt(v.size) for v in (lower, upper))
    return ((upper.mean() - lower.mean()) / np.hypot(se_l, se_u),
            (exact - lower.mean()) / se_l, (upper.mean() - exact) / se_u)


def test_reverse_ais_above_forward_with_exact_between(seed):
    """Bidirectional Monte Carlo on the 10-d Gaussian with a short schedule (a visible
    gap): reverse above forward on average, and log Z not outside either bound."""
    energy, base, _ = gaussian_10d()
    lower, upper = _sandwich(energy, base, seed, _reverse)
    gap, above_lower, below_upper = _sandwich_z(lower, upper, energy.log_partition())
    assert gap > Z_CRIT
    assert above_lower > -Z_CRIT and below_upper > -Z_CRIT


def test_negative_control_reverse_ais_without_reversed_schedule(seed):
    """Reverse AIS that forgets to reverse the schedule (anneals 0 → 1 from the target
    draws) is not an upper bound: the same check catches it."""
    def not_reversed(energy, base, x_target, seed):
        betas = schedules.sigmoid(SANDWICH["n_temperatures"])
        annealer = _Annealer(energy, base, "mala", x_target.shape[0],
                               philox_key(seed + 1), 0)
        annealer.x[:] = x_target
        annealer.run(betas, np.full(betas.size, SANDWICH["step_size"]), 1, 0, False,
                     START_EVAL)
        return annealer.log_w
    energy, base, _ = gaussian_10d()
    lower, upper = _sandwich(energy, base, seed, not_reversed)
    gap, above_lower, below_upper = _sandwich_z(lower, upper, energy.log_partition())
    assert not (gap > Z_CRIT and above_lower > -Z_CRIT and below_upper > -Z_CRIT)
