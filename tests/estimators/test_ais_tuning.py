"""AIS without a step size: each temperature's step tuned on pilot chains, the estimate
on fresh streams with the frozen steps (fastebm/estimators/ais_tuning.py)."""
import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT


def _problem(d=10, condition=10.0, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = (q * np.logspace(0, -np.log10(condition), d)) @ q.T
    energy = fe.Gaussian(0.1 * rng.standard_normal(d), covariance=0.5 * (cov + cov.T))
    return energy, fe.proposals.Gaussian(np.zeros(d), 4.0 * np.eye(d))


@pytest.mark.statistical
@pytest.mark.parametrize("transition,target", [("mala", 0.574), ("rwm", 0.234)])
def test_default_call_tunes_steps_and_estimates_log_z(transition, target, seed):
    """fe.ais(E, base, n, rng=...) alone: adaptive schedule, tuned steps; log Z within
    Z_CRIT standard errors and the estimate's acceptance near the target."""
    energy, base = _problem()
    est = fe.ais(energy, base, 500, transition=transition, rng=seed)
    assert abs(est.log_z - energy.log_partition()) < Z_CRIT * est.stderr
    assert abs(np.mean(est.acceptance_rate) - target) < 0.05
    assert est.step_size.shape == est.temperatures.shape
    assert np.all(est.step_size > 0)


@pytest.mark.statistical
def test_negative_control_untuned_step_is_caught(seed):
    """A step 100× too large (what a hand-made guess can be) on the same schedule: the
    chains barely move and the weights degenerate, which the checks on the tuned run (an
    ESS of a tenth of the chains, a standard error under 0.1) catch."""
    energy, base = _problem()
    tuned = fe.ais(energy, base, 500, rng=seed)
    assert tuned.ess > 50 and tuned.stderr < 0.1
    bad = fe.ais(energy, base, 500, schedule=tuned.temperatures, step_size=20.0, rng=seed)
    assert np.mean(bad.acceptance_rate) < 0.05
    assert bad.ess < 50 and bad.stderr > 0.1


@pytest.mark.statistical
def test_fixed_schedule_and_reverse_ais_tune_too(seed):
    """A named schedule with n_temperatures gets tuned steps from its own pilot walk;
    reverse AIS from exact draws gives an upper bound that sandwiches log Z with it."""
    energy, base = _problem(d=5)
    exact = energy.log_partition()
    fwd = fe.ais(energy, base, 1000, 200, rng=seed)
    assert fwd.temperatures.size == 200 and fwd.step_size.size == 200
    assert abs(fwd.log_z - exact) < Z_CRIT * fwd.stderr
    draws = np.random.default_rng(seed).multivariate_normal(energy.mean, energy.covariance, 1000)
    rev = fe.reverse_ais(energy, base, draws, 200, rng=seed)
    assert abs(rev.log_z - exact) < Z_CRIT * rev.stderr
    np.testing.assert_array_equal(rev.step_size, fwd.step_size)  # the same pilot


def test_tuned_run_is_reproducible_and_shardable():
    """The pilot's streams are its own and do not depend on n_chains: the same rng gives
    the same steps, and chains [a, b) with first_chain=a are those of the whole run."""
    energy, base = _problem(d=3)
    whole = fe.ais(energy, base, 40, 30, rng=7, pilot_chains=200)
    part = fe.ais(energy, base, 15, 30, rng=7, pilot_chains=200, first_chain=10)
    np.testing.assert_array_equal(part.step_size, whole.step_size)
    np.testing.assert_array_equal(part.log_weights, whole.log_weights[10:25])
    other = fe.ais(energy, base, 40, 30, rng=8, pilot_chains=200)
    assert not np.array_equal(other.step_size, whole.step_size)


def test_ula_needs_a_step_size():
    energy, base = _problem(d=2)
    with pytest.raises(TypeError, match="ula"):
        fe.ais(energy, base, 10, 5, transition="ula", rng=0)


@pytest.mark.statistical
def test_preconditioned_moves_on_a_badly_scaled_target(seed):
    """Condition 1000 in 20 dimensions: the default call preconditions its tuned MALA moves
    with each temperature's covariance from the pilot and keeps most chains useful (ESS
    190-270 of 500 over seeds 0-3); without the preconditioner (the negative control),
    with as many moves, the chains lag the schedule and the ESS falls under a fifth
    (20-61)."""
    energy, base = _problem(d=20, condition=1000.0)
    est = fe.ais(energy, base, 500, rng=seed)
    assert abs(est.log_z - energy.log_partition()) < Z_CRIT * est.stderr
    assert est.ess > 150
    plain = fe.ais(energy, base, 500, rng=seed, precondition=None,
                   n_steps_per_temperature=est.n_steps_per_temperature)
    assert plain.ess < 100


def test_precondition_is_checked():
    energy, base = _problem(d=2)
    with pytest.raises(ValueError, match="precondition"):
        fe.ais(energy, base, 10, 5, rng=0, precondition="diag")
    with pytest.raises(ValueError, match="Langevin"):
        fe.ais(energy, base, 10, 5, rng=0, transition="rwm", precondition="dense")
    given = fe.ais(energy, base, 20, 6, rng=0, step_size=0.3, precondition="dense",
                   pilot_chains=50)
    assert np.all(given.step_size == 0.3)


@pytest.mark.statistical
def test_default_call_on_the_issue_gaussian(seed):
    """Issue 15's target: fe.ais(E, base, 500, rng=...) alone on a 50-d Gaussian of
    condition 1000 from N(0, 4I): log Z within Z_CRIT standard errors and a standard error
    under 0.1 (0.056-0.094 over seeds 1-4, with 5 moves per temperature chosen by the
    pilot). Negative control: one move per temperature on the same schedule leaves the
    chains behind it (0.31-0.36)."""
    energy, base = _problem(d=50, condition=1000.0)
    est = fe.ais(energy, base, 500, rng=seed)
    assert abs(est.log_z - energy.log_partition()) < Z_CRIT * est.stderr
    assert est.stderr < 0.1
    assert 2 <= est.n_steps_per_temperature <= 10
    one = fe.ais(energy, base, 500, rng=seed, n_steps_per_temperature=1)
    assert one.n_steps_per_temperature == 1
    assert not one.stderr < 0.1


def test_moves_per_temperature_follow_the_displacement_rule():
    """n_steps_per_temperature=None: the pilot moves until its mean displacement grows by
    under 10 % (at most MAX_MOVES), and the estimate takes the mean number rounded up; a
    given number is used as given, and a run without a pilot makes one move."""
    from fastebm.estimators import ais_tuning
    energy, base = _problem(d=3)
    seen = []
    original = ais_tuning.StepTuner.n_steps

    def spy(tuner):
        seen.append(list(tuner.moves))
        return original.fget(tuner)

    ais_tuning.StepTuner.n_steps = property(spy)
    try:
        est = fe.ais(energy, base, 50, 20, rng=3, pilot_chains=200)
    finally:
        ais_tuning.StepTuner.n_steps = original
    moves = np.array(seen[-1])
    assert moves.size == 18  # the intermediate temperatures β₁ … β₁₈
    assert np.all((moves >= 2) & (moves <= ais_tuning.MAX_MOVES))
    assert est.n_steps_per_temperature == int(np.ceil(moves.mean()))
    assert np.mean(est.acceptance_rate) > 0.3
    given = fe.ais(energy, base, 50, 20, rng=3, pilot_chains=200, n_steps_per_temperature=3)
    assert given.n_steps_per_temperature == 3
    fixed = fe.ais(energy, base, 50, 20, rng=3, step_size=0.2, precondition=None)
    assert fixed.n_steps_per_temperature == 1


def test_mean_displacement_is_the_scaled_norm():
    """The rule's statistic: the mean of ‖(x - x₀)/scale‖ over chains."""
    from fastebm.estimators.ais_tuning import mean_displacement
    x0 = np.zeros((4, 2))
    x = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 2.0], [6.0, 8.0]])
    assert mean_displacement(x, x0, np.ones(2)) == pytest.approx((5 + 0 + 2 + 10) / 4)
    assert mean_displacement(x, x0, np.array([3.0, 4.0])) == pytest.approx(
        (np.sqrt(2) + 0 + 0.5 + 2 * np.sqrt(2)) / 4)
