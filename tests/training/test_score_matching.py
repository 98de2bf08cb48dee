import numpy as np
import pytest

import fastebm as fe
from fastebm.training.score_matching import score_matching_loss


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([0.5, -1.0], [[1.0, 0.3], [0.3, 2.0]], size=300)


@pytest.mark.parametrize("diagonal", [False, True])
def test_gradient_matches_finite_differences(diagonal):
    precision = np.array([1.2, 0.8]) if diagonal else np.array([[1.2, 0.2], [0.2, 0.8]])
    energy = fe.Gaussian([0.1, 0.2], precision=precision).tempered(0.9)
    data = _data()
    theta = energy.theta
    loss = lambda t: score_matching_loss(energy.with_theta(t), data)[0]  # noqa: E731
    fd = np.array([(loss(theta + h) - loss(theta - h)) / 2e-6 for h in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(score_matching_loss(energy, data)[1], fd, rtol=1e-6, atol=1e-8)


def test_minimiser_is_sample_mean_and_inverse_sample_covariance():
    """For a Gaussian, exact score matching is solved by (x̄, S⁻¹) with S the ddof=0
    sample covariance: the gradient vanishes there and not elsewhere."""
    data = _data(1)
    best = fe.Gaussian(data.mean(axis=0), precision=np.linalg.inv(np.cov(data.T, ddof=0)))
    np.testing.assert_allclose(score_matching_loss(best, data)[1], 0.0, atol=1e-10)
    off = fe.Gaussian(data.mean(axis=0) + 0.1, precision=np.linalg.inv(np.cov(data.T, ddof=0)))
    assert np.max(np.abs(score_matching_loss(off, data)[1])) > 1e-2


def test_loss_needs_a_laplacian():
    with pytest.raises(ValueError, match="Laplacian"):
        score_matching_loss(fe.GaussianMixture([1.0], [[0.0]], [[1.0]]), [[0.0]])
