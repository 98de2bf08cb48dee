import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT


def _quadratic(x, theta):
    return theta[0] * x[0] ** 2


def _quadratic_grad(x, theta, out):
    out[0] = 2.0 * theta[0] * x[0]
    return theta[0] * x[0] ** 2


def _quadratic_grad_theta(x, theta, out):
    out[0] = x[0] ** 2
    return theta[0] * x[0] ** 2


SEED_001_ENERGY = fe.energy(_quadratic, _quadratic_grad, theta=[1.0],
                            grad_theta=_quadratic_grad_theta, dim=1)


def test_seed_001_cd1_worked_example():
    """E = θx², θ = 1, x = 1: a noiseless Langevin step of ε = 0.1 (h = ε/2) gives 0.9,
    and the CD-1 gradient is 1 - 0.81 = 0.19 (seed 001, example 2)."""
    x = np.array([1.0])
    negative = x - 0.05 * SEED_001_ENERGY.grad(x)
    assert negative[0] == pytest.approx(0.9, abs=1e-15)
    estimate = fe.mle_gradient(SEED_001_ENERGY, x, negative)
    assert estimate.gradient[0] == pytest.approx(0.19, abs=1e-12)
    assert np.isnan(estimate.stderr[0])  # one point per phase: no spread to measure


def test_gradient_vanishes_when_data_follow_the_model(seed):
    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    energy = fe.Gaussian([0.5, -1.0], covariance=cov)
    rng = np.random.default_rng(seed)
    data = rng.multivariate_normal([0.5, -1.0], cov, size=20_000)
    negatives = rng.multivariate_normal([0.5, -1.0], cov, size=20_000)
    est = fe.mle_gradient(energy, data, negatives)
    assert np.all(np.abs(est.gradient) < Z_CRIT * est.stderr)


def test_gradient_matches_the_closed_form(seed):
    """Gaussian energy N(μ, P⁻¹), data with mean m: ∇_μ L = -P(m - μ) exactly in
    expectation; the estimate is within Z_CRIT standard errors of it, and a wrong sign
    (the negative control) is not."""
    precision = np.array([[2.0, 0.5], [0.5, 1.0]])
    mu, m = np.array([0.0, 0.0]), np.array([0.3, -0.2])
    energy = fe.Gaussian(mu, precision=precision)
    rng = np.random.default_rng(seed)
    cov = np.linalg.inv(precision)
    data = rng.multivariate_normal(m, cov, size=50_000)
    negatives = rng.multivariate_normal(mu, cov, size=50_000)
    est = fe.mle_gradient(energy, data, negatives)
    exact_mean_part = -precision @ (m - mu)
    z = np.abs(est.gradient[:2] - exact_mean_part) / est.stderr[:2]
    assert np.all(z < Z_CRIT)
    assert np.any(np.abs(est.gradient[:2] + exact_mean_part) / est.stderr[:2] > Z_CRIT)


def test_bad_input():
    energy = fe.Gaussian([0.0], precision=[1.0])
    with pytest.raises(TypeError, match="energy"):
        fe.mle_gradient("E", [[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="negatives"):
        fe.mle_gradient(energy, [[0.0]], [[0.0, 1.0]])
    with pytest.raises(ValueError, match="data"):
        fe.mle_gradient(energy, [[np.nan]], [[0.0]])
    with pytest.raises(ValueError, match="no parameters"):
        fe.mle_gradient(fe.energy(lambda x: x[0] ** 2, dim=1), [[0.0]], [[0.0]])


@pytest.mark.parametrize("diagonal", [False, True])
def test_exact_gradient_is_the_derivative_of_the_exact_nll(diagonal):
    """L(θ) = mean E_θ(data) + log Z(θ) is known in closed form for a Gaussian: its
    finite-difference gradient must equal exact_mle_gradient."""
    precision = np.array([1.5, 0.7]) if diagonal else np.array([[1.5, 0.3], [0.3, 0.7]])
    energy = fe.Gaussian([0.2, -0.4], precision=precision).tempered(1.3)
    data = np.random.default_rng(4).normal(size=(50, 2)) + [0.5, 0.0]

    def nll(theta):
        e = energy.with_theta(theta)
        return e.energy(data).mean() + e.log_partition()

    theta = energy.theta
    fd = np.array([(nll(theta + h) - nll(theta - h)) / 2e-6
                   for h in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(fe.exact_mle_gradient(energy, data), fd, rtol=1e-6, atol=1e-8)


def test_sampled_gradient_agrees_with_exact(seed):
    energy = fe.Gaussian([0.0, 0.0], precision=np.array([[2.0, 0.5], [0.5, 1.0]]))
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(2000, 2))
    negatives = rng.multivariate_normal([0, 0], np.linalg.inv(energy.precision), size=40_000)
    est = fe.mle_gradient(energy, data, negatives)
    exact = fe.exact_mle_gradient(energy, data)
    # the data phase is shared, so only the negative phase's error remains; stderr bounds it
    assert np.all(np.abs(est.gradient - exact) < Z_CRIT * est.stderr)


def test_exact_gradient_needs_a_closed_form():
    with pytest.raises(ValueError, match="closed-form"):
        fe.exact_mle_gradient(fe.GaussianMixture([1.0], [[0.0]], [[1.0]]), [[0.0]])
