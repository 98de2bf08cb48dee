"""fe.replicate: independent streams, the compiled importance-sampling fast path (equal to
R separate calls), the summary's formulas, and the Monte Carlo checks of seed 002, eq. 7."""
import numba
import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT, unbiased_ratio_z

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT,
                               reason="statistical tests need the compiled kernels")


def _banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - 0.5 * x[0] ** 2) ** 2


CASES = {
    "gaussian_1d": lambda: (fe.Gaussian([1.0], covariance=[2.0]),
                            fe.proposals.Gaussian([0.0], [6.0])),
    "gaussian_3d_dense": lambda: (
        fe.Gaussian([0.0, 1.0, -1.0], covariance=[[1.0, 0.3, 0.1], [0.3, 2.0, -0.4],
                                                  [0.1, -0.4, 0.5]]),
        fe.proposals.Gaussian([0.2, 0.8, -0.9], [[3.0, 0.5, 0.0], [0.5, 4.0, 0.2],
                                                 [0.0, 0.2, 2.0]])),
    "gaussian_3d_t": lambda: (fe.Gaussian([0.0, 1.0, -1.0], covariance=[1.0, 2.0, 0.5]),
                              fe.proposals.StudentT([0.0, 0.0, 0.0], [3.0, 3.0, 3.0], 5.0)),
    "user_banana_gaussian": lambda: (fe.energy(_banana, dim=2),
                                     fe.proposals.Gaussian([0.0, 0.5], [2.0, 3.0])),
    "user_banana_mixture": lambda: (fe.energy(_banana, dim=2), fe.proposals.Mixture(
        [0.7, 0.3], [fe.proposals.Gaussian([0.0, 0.5], [2.0, 3.0]),
                     fe.proposals.StudentT([0.0, 0.0], [4.0, 4.0], 3.0)])),
}


@pytest.mark.parametrize("name", CASES)
def test_fast_path_equals_separate_calls(name):
    """The one-call kernel gives what R calls of fe.importance_sample give, stream by stream."""
    energy, proposal = CASES[name]()
    est = fe.ImportanceEstimator(energy, proposal, 300)
    fast = fe.replicate(est, 25, rng=7)
    slow = fe.replicate(lambda rng: fe.importance_sample(energy, proposal, 300, rng=rng), 25,
                        rng=7)
    children = np.random.SeedSequence(7).spawn(25)
    by_hand = [fe.importance_sample(energy, proposal, 300, rng=c) for c in children]
    np.testing.assert_allclose(fast.values, slow.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.values, [r.log_z for r in by_hand], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.reported_stderr, [r.stderr for r in by_hand], rtol=1e-10)
    np.testing.assert_allclose(fast.ess, [r.ess for r in by_hand], rtol=1e-10)


def test_fast_path_catches_a_wrong_key():
    """Negative control: one replicate on the next stream's key differs from the slow path."""
    energy, proposal = CASES["gaussian_1d"]()
    fast = fe.replicate(fe.ImportanceEstimator(energy, proposal, 300), 5, rng=7)
    children = np.random.SeedSequence(7).spawn(6)
    shifted = [fe.importance_sample(energy, proposal, 300, rng=c).log_z for c in children[1:]]
    assert not np.any(np.isclose(fast.values, shifted, rtol=1e-6))


def test_log_partition_estimates_replicate():
    energy, proposal = CASES["gaussian_1d"]()
    res = fe.replicate(lambda rng: fe.log_partition(energy, "is", proposal=proposal, n=300,
                                                    rng=rng), 10, rng=3)
    fast = fe.replicate(fe.ImportanceEstimator(energy, proposal, 300), 10, rng=3)
    np.testing.assert_allclose(res.values, fast.values, rtol=1e-12)


def test_identical_for_one_and_two_threads():
    energy, proposal = CASES["gaussian_3d_t"]()
    est = fe.ImportanceEstimator(energy, proposal, 200)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fe.replicate(est, 20, rng=4).values
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = fe.replicate(est, 20, rng=4).values
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_same_rng_same_values_and_replicates_differ():
    energy, proposal = CASES["gaussian_1d"]()
    est = fe.ImportanceEstimator(energy, proposal, 100)
    a, b = fe.replicate(est, 50, rng=1), fe.replicate(est, 50, rng=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert np.unique(a.values).size == 50
    gen = np.random.default_rng(0)
    c, d = fe.replicate(est, 50, rng=gen), fe.replicate(est, 50, rng=gen)
    assert not np.array_equal(c.values, d.values)  # the Generator advanced


def test_summary_formulas():
    """Every field against its formula, on a plain-number estimator."""
    res = fe.replicate(lambda rng: np.random.default_rng(rng).normal(3.0, 2.0), 400, rng=5,
                       reference=2.5, level=0.9, name="normal")
    v = res.values
    from scipy import stats
    assert res.mean == pytest.approx(v.mean(), rel=1e-14)
    assert res.std == pytest.approx(v.std(ddof=1), rel=1e-14)
    assert res.stderr == pytest.approx(v.std(ddof=1) / 20, rel=1e-14)
    assert res.bias == pytest.approx(v.mean() - 2.5, rel=1e-14)
    assert res.mse == pytest.approx(np.mean((v - 2.5) ** 2), rel=1e-14)
    assert res.mse_stderr == pytest.approx(np.std((v - 2.5) ** 2, ddof=1) / 20, rel=1e-14)
    half = stats.t.ppf(0.95, 399) * v.std(ddof=1) / 20
    assert res.mean_ci == pytest.approx((v.mean() - half, v.mean() + half), rel=1e-14)
    m4 = np.mean((v - v.mean()) ** 4)
    assert res.std_stderr == pytest.approx(np.sqrt((m4 - v.std(ddof=1) ** 4) / 400)
                                           / (2 * v.std(ddof=1)), rel=1e-12)
    assert res.reported_stderr is None and res.coverage is None
    table = res.table()
    assert "normal" in table and "400" in table and "90% CI" in table


def test_reported_errors_and_coverage():
    energy, proposal = CASES["gaussian_1d"]()
    res = fe.replicate(fe.ImportanceEstimator(energy, proposal, 50), 100, rng=2,
                       reference=energy.log_partition())
    inside = np.abs(res.values - energy.log_partition()) <= 1.959963984540054 * res.reported_stderr
    assert res.coverage == pytest.approx(inside.mean(), rel=1e-14)
    assert res.reported_stderr.shape == res.ess.shape == (100,)
    assert np.all((res.ess > 1) & (res.ess <= 50))


@needs_jit
def test_summary_statistics_cover_the_truth(seed):
    """The reported std, bias and MSE agree with the truth of N(3, 2²) within their errors."""
    res = fe.replicate(lambda rng: np.random.default_rng(rng).normal(3.0, 2.0), 4000, rng=seed,
                       reference=3.0)
    assert abs(res.bias) < Z_CRIT * res.bias_stderr
    assert abs(res.std - 2.0) < Z_CRIT * res.std_stderr
    assert abs(res.mse - 4.0) < Z_CRIT * res.mse_stderr
    # negative control: a reference off by 0.3 shows as a bias
    off = fe.replicate(lambda rng: np.random.default_rng(rng).normal(3.0, 2.0), 4000, rng=seed,
                       reference=3.3)
    assert abs(off.bias) > Z_CRIT * off.bias_stderr


@needs_jit
@pytest.mark.parametrize("name", ["gaussian_1d", "gaussian_3d_t"])
def test_importance_replicates_unbiased_z_and_jensen(name, seed):
    """Over R = 2000 replicates of M = 200: mean of Ẑ/Z within 5 standard errors of 1, E[log Ẑ]
    ≤ log Z."""
    energy, proposal = CASES[name]()
    log_z = energy.log_partition()
    res = fe.replicate(fe.ImportanceEstimator(energy, proposal, 200), 2000, rng=seed,
                       reference=log_z)
    assert unbiased_ratio_z(res.values, log_z) < 5
    assert res.mean < log_z + Z_CRIT * res.stderr


@needs_jit
def test_importance_replicates_negative_control(seed):
    """A proposal whose log density is off by 0.02 makes Ẑ/Z biased: the same check fails."""
    energy, proposal = CASES["gaussian_1d"]()
    proposal._log_norm += 0.02
    log_z = energy.log_partition()
    res = fe.replicate(fe.ImportanceEstimator(energy, proposal, 200), 2000, rng=seed,
                       reference=log_z)
    assert unbiased_ratio_z(res.values, log_z) > 5


def test_compare_side_by_side():
    energy, proposal = CASES["gaussian_1d"]()
    ref = energy.log_partition()
    narrow = fe.replicate(fe.ImportanceEstimator(energy, fe.proposals.Gaussian([1.0], [0.8]), 100),
                          30, rng=1, reference=ref)
    wide = fe.replicate(fe.ImportanceEstimator(energy, proposal, 100), 30, rng=1, reference=ref)
    table = fe.compare({"narrow q": narrow, "wide q": wide})
    lines = table.splitlines()
    assert lines[0].startswith("estimator") and len(lines) == 4
    assert lines[2].startswith("narrow q") and lines[3].startswith("wide q")
    assert str(wide) == fe.compare([wide])


@pytest.mark.parametrize("call,error,match", [
    (lambda est: fe.replicate("est", 10), TypeError, "estimator"),
    (lambda est: fe.replicate(est, 1), ValueError, "n_rep"),
    (lambda est: fe.replicate(est, 2.5), TypeError, "n_rep"),
    (lambda est: fe.replicate(est, 10, reference=np.nan), ValueError, "reference"),
    (lambda est: fe.replicate(est, 10, level=1.5), ValueError, "level"),
    (lambda est: fe.replicate(est, 10, rng=-1), ValueError, "rng"),
    (lambda est: fe.replicate(est, 10, rng="x"), TypeError, "rng"),
    (lambda est: fe.replicate(lambda rng: "a", 10), TypeError, "number"),
    (lambda est: fe.replicate(lambda rng: np.inf, 10), ValueError, "inf"),
    (lambda est: fe.replicate(fe.ImportanceEstimator(fe.energy(lambda x: np.nan, dim=1),
                                                     fe.proposals.Gaussian([0.0], [1.0]), 10), 3),
     ValueError, "NaN"),
    (lambda est: fe.replicate(fe.ImportanceEstimator(fe.energy(lambda x: np.inf, dim=1),
                                                     fe.proposals.Gaussian([0.0], [1.0]), 10), 3),
     ValueError, "zero"),
    (lambda est: fe.ImportanceEstimator(fe.Gaussian([0.0], covariance=[1.0]),
                                        fe.proposals.Gaussian([0.0, 0.0], [1.0, 1.0]), 10),
     ValueError, "dimension"),
    (lambda est: fe.compare([]), TypeError, "ReplicationResult"),
])
def test_bad_input(call, error, match):
    energy, proposal = CASES["gaussian_1d"]()
    with pytest.raises(error, match=match):
        call(fe.ImportanceEstimator(energy, proposal, 10))
