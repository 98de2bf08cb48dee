"""Schedules (linear, geometric, sigmoid, adaptive, user arrays), transitions (MALA,
random walk, ULA) and bases (Gaussian, uniform box): each gives a valid AIS estimate of
log Z, checked against the exact value at Z_CRIT standard errors, with negative controls."""
import numba
import numpy as np
import pytest

import fastebm as fe
from fastebm._contract import START_DRAW
from fastebm._rng import philox_key
from fastebm.estimators import schedules
from fastebm._kernels.numba.runners import Annealer as _Annealer
from tests.estimators.test_ais import z_score
from tests.statistical.harness import Z_CRIT

COV_2 = np.array([[1.0, 0.6], [0.6, 2.0]])
MEAN_2 = np.array([1.0, -0.5])
TARGET = fe.Gaussian(MEAN_2, covariance=COV_2)
BASE = fe.proposals.Gaussian(np.zeros(2), 6.0 * np.eye(2))
needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="statistical: compiled kernels")


# --- the fixed schedules ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["linear", "geometric", "sigmoid"])
@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_fixed_schedules_increase_from_zero_to_one(name, n):
    betas = schedules.FIXED[name](n)
    assert betas.shape == (n,) and betas[0] == 0.0 and betas[-1] == 1.0
    assert np.all(np.diff(betas) > 0)
    np.testing.assert_array_equal(schedules.check_schedule(betas), betas)


def test_schedule_shapes():
    np.testing.assert_allclose(schedules.linear(5), [0, 0.25, 0.5, 0.75, 1])
    geo = schedules.geometric(5, beta_min=1e-3)
    np.testing.assert_allclose(geo, [0, 1e-3, 1e-2, 1e-1, 1])
    sig = schedules.sigmoid(101)
    np.testing.assert_allclose(sig + sig[::-1], 1.0, atol=1e-12)  # symmetric about ½
    steps = np.diff(sig)
    assert steps[0] < steps[50] and steps[-1] < steps[50]  # dense at both ends


@pytest.mark.parametrize("bad", [[0.0, 0.5, 0.4, 1.0], [0.1, 0.5, 1.0], [0.0, 0.5, 0.9],
                                 [0.0, 0.5, 0.5, 1.0], [0.0], [[0.0, 1.0]], [0.0, np.nan, 1.0]])
def test_check_schedule_rejects(bad):
    with pytest.raises(ValueError, match="schedule"):
        schedules.check_schedule(bad)


def test_next_temperature_keeps_the_conditional_ess():
    rng = np.random.default_rng(0)
    log_ratio = rng.normal(size=500) * 3.0
    log_weights = rng.normal(size=500) * 0.1
    beta = schedules.next_temperature(0.2, log_weights, log_ratio, 0.95)
    assert 0.2 < beta < 1.0
    assert abs(schedules.conditional_ess(log_weights, (beta - 0.2) * log_ratio) - 0.95) < 1e-9
    assert schedules.next_temperature(0.2, log_weights, 1e-3 * log_ratio, 0.95) == 1.0


# --- each schedule, transition and base gives a valid estimate --------------------------

def _check(result):
    assert z_score(result.log_weights, TARGET.log_partition()) < Z_CRIT
    assert result.temperatures[0] == 0.0 and result.temperatures[-1] == 1.0
    assert np.all(np.diff(result.temperatures) > 0)


@needs_jit
@pytest.mark.parametrize("schedule", ["linear", "geometric", "sigmoid", "array"])
def test_each_fixed_schedule_estimates_log_z(schedule, seed):
    n_temps = 100
    betas = schedules.linear(n_temps) ** 2 if schedule == "array" else schedule
    result = fe.ais(TARGET, BASE, 3000, n_temps, schedule=betas, step_size=0.5, rng=seed)
    _check(result)
    assert result.temperatures.size == n_temps


@needs_jit
def test_adaptive_schedule_estimates_log_z(seed):
    loose = fe.ais(TARGET, BASE, 3000, schedule="adaptive", step_size=0.5, cess_target=0.9,
                   rng=seed)
    tight = fe.ais(TARGET, BASE, 3000, schedule="adaptive", step_size=0.5, cess_target=0.99,
                   rng=seed)
    _check(loose)
    _check(tight)
    assert 3 < loose.temperatures.size < tight.temperatures.size


@needs_jit
def test_negative_control_schedule_that_stops_short_of_one(seed):
    """Annealing to β = 0.9 (the validation refuses such a schedule) estimates the
    wrong normalizer: the same check catches it."""
    betas = schedules.linear(100) * 0.9
    annealer = _Annealer(TARGET, BASE, "mala", 3000, philox_key(seed), 0)
    annealer.run(betas, np.full(100, 0.5), 1, 0, False, START_DRAW)
    assert z_score(annealer.log_w, TARGET.log_partition()) > Z_CRIT


@needs_jit
def test_random_walk_transitions(seed):
    result = fe.ais(TARGET, BASE, 3000, 100, transition="rwm", step_size=1.0,
                    n_steps_per_temperature=2, rng=seed)
    _check(result)
    assert 0.2 < result.acceptance_rate.mean() < 0.9


@needs_jit
def test_uniform_base(seed):
    """A box of ±10 around the mean (over 7 sd): the truncated mass is below 1e-11."""
    box = fe.proposals.Uniform(MEAN_2 - 10.0, MEAN_2 + 10.0)
    _check(fe.ais(TARGET, box, 3000, 200, step_size=0.5, rng=seed))
    _check(fe.ais(TARGET, box, 3000, 200, transition="rwm", step_size=1.0, rng=seed))


@needs_jit
def test_ula_is_flagged_and_detectably_biased(seed):
    """ULA does not leave π_β invariant: a large step gives a detectably wrong log Z,
    which is why the result says ``biased`` and a BiasedAISWarning is raised."""
    with pytest.warns(fe.BiasedAISWarning):
        result = fe.ais(TARGET, BASE, 3000, 100, transition="ula", step_size=0.4, rng=seed)
    assert result.biased and result.bound == "lower"
    assert z_score(result.log_weights, TARGET.log_partition()) > Z_CRIT
    exact = fe.ais(TARGET, BASE, 3000, 100, transition="mala", step_size=0.4, rng=seed)
    assert not exact.biased
    assert z_score(exact.log_weights, TARGET.log_partition()) < Z_CRIT


@needs_jit
def test_student_t_and_mixture_bases(seed):
    """Any proposal whose kernels give draw, log q and ∇ log q can be the base."""
    t_base = fe.proposals.StudentT(np.zeros(2), 4.0 * np.eye(2), 5.0)
    _check(fe.ais(TARGET, t_base, 3000, 100, step_size=0.5, rng=seed))
    mixture_base = fe.proposals.Mixture([0.5, 0.5], [t_base, BASE])
    _check(fe.ais(TARGET, mixture_base, 3000, 100, transition="rwm", step_size=1.0, rng=seed))
