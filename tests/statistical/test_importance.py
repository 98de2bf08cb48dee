"""Importance-sampling estimates of log Z against exact values (seed 002, eq. 7)."""
import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT, unbiased_ratio_z
from tests.statistical.targets import rotation_spd, two_mode_mixture

CASES = {
    "gaussian_1d": lambda: (fe.Gaussian([1.0], covariance=[2.0]),
                            fe.proposals.Gaussian([0.0], [6.0])),
    "gaussian_10d": lambda: (fe.Gaussian(np.linspace(-1, 1, 10), covariance=rotation_spd(10, 4.0, 1)),
                             fe.proposals.Gaussian(np.zeros(10), 6.0 * np.eye(10))),
    "mixture": lambda: (two_mode_mixture()[0], fe.proposals.Gaussian([0.5], [9.0])),
}


@pytest.mark.parametrize("name", CASES)
def test_log_z_within_standard_errors(name, seed):
    energy, proposal = CASES[name]()
    result = fe.importance_sample(energy, proposal, 200_000, rng=seed)
    assert abs(result.log_z - energy.log_partition()) < Z_CRIT * result.stderr
    assert 0 < result.ess <= 200_000


@pytest.mark.parametrize("name", CASES)
def test_z_hat_unbiased_and_log_z_hat_biased_low(name, seed):
    """Over R repeats: mean of Ẑ/Z within 5 standard errors of 1, and E log Ẑ ≤ log Z."""
    energy, proposal = CASES[name]()
    seeds = np.random.SeedSequence(seed).spawn(200)
    log_z = np.array([fe.importance_sample(energy, proposal, 500, rng=s).log_z for s in seeds])
    assert unbiased_ratio_z(log_z, energy.log_partition()) < 5
    assert log_z.mean() < energy.log_partition() + Z_CRIT * log_z.std(ddof=1) / np.sqrt(log_z.size)


def test_negative_control_wrong_proposal_density(seed):
    """A proposal whose log density is off by 0.05 must be caught by the same check."""
    energy, proposal = CASES["gaussian_1d"]()
    proposal._log_norm += 0.05
    result = fe.importance_sample(energy, proposal, 200_000, rng=seed)
    assert abs(result.log_z - energy.log_partition()) > Z_CRIT * result.stderr


def _resampled_mean_z(result, mean, var):
    """z of the resampled mean: se² = Σ w̃ᵢ²(yᵢ - ȳ_w)² (self-normalized IS) + σ²/n_out
    (an upper bound on the variance systematic resampling adds)."""
    w = np.exp(result.log_weights - result.log_weights.max())
    w /= w.sum()
    y = result.draws[:, 0]
    weighted_mean = np.sum(w * y)
    se = np.sqrt(np.sum(w ** 2 * (y - weighted_mean) ** 2) + var / result.resampled.shape[0])
    return abs(result.resampled[:, 0].mean() - mean) / se


def test_importance_resample_mean(seed):
    energy, proposal = CASES["gaussian_1d"]()
    result = fe.importance_resample(energy, proposal, 400_000, n_out=20_000, rng=seed)
    assert _resampled_mean_z(result, 1.0, 2.0) < Z_CRIT


def test_negative_control_resampling_that_ignores_the_weights(seed):
    energy, proposal = CASES["gaussian_1d"]()
    result = fe.importance_resample(energy, proposal, 400_000, n_out=20_000, rng=seed)
    unweighted = fe.ImportanceResult(result.draws, result.log_weights, result.log_z,
                                     result.stderr, result.ess, resampled=result.draws[:20_000])
    assert _resampled_mean_z(unweighted, 1.0, 2.0) > Z_CRIT


@pytest.mark.parametrize("bad,error,match", [
    (lambda E, q: fe.importance_sample(E, q, 1), ValueError, "n"),
    (lambda E, q: fe.importance_sample(E, "q", 10), TypeError, "proposal"),
    (lambda E, q: fe.importance_sample("E", q, 10), TypeError, "energy"),
    (lambda E, q: fe.importance_sample(E, fe.proposals.Gaussian([0.0, 0.0], [1.0, 1.0]), 10),
     ValueError, "dimension"),
    (lambda E, q: fe.importance_sample(fe.energy(lambda x: np.inf, dim=1), q, 10),
     ValueError, "zero"),
    (lambda E, q: fe.importance_sample(fe.energy(lambda x: np.nan, dim=1), q, 10),
     ValueError, "NaN"),
])
def test_bad_input(bad, error, match):
    energy, proposal = CASES["gaussian_1d"]()
    with pytest.raises(error, match=match):
        bad(energy, proposal)
