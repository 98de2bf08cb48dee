import numpy as np
import pytest

import fastebm as fe
from fastebm.training.stein import stein_matrix

COV = np.array([[1.0, 0.4], [0.4, 1.5]])
MODEL = fe.Gaussian([0.0, 0.0], covariance=COV)


def _imq(x, y, c=1.0, beta=-0.5):
    return (c * c + np.sum((x - y) ** 2)) ** beta


def _stein_by_finite_differences(energy, x, y, h=1e-4):
    """u_p(x, y) from its definition, with the kernel's derivatives by differences."""
    sx, sy = -energy.grad(x), -energy.grad(y)
    d = x.size
    eye = np.eye(d) * h
    grad_x = np.array([(_imq(x + e, y) - _imq(x - e, y)) / (2 * h) for e in eye])
    grad_y = np.array([(_imq(x, y + e) - _imq(x, y - e)) / (2 * h) for e in eye])
    trace = sum((_imq(x + e, y + e) - _imq(x + e, y - e) - _imq(x - e, y + e)
                 + _imq(x - e, y - e)) / (4 * h * h) for e in eye)
    return sx @ sy * _imq(x, y) + sx @ grad_y + sy @ grad_x + trace


def test_stein_kernel_matches_its_definition():
    x = np.random.default_rng(0).normal(size=(5, 2))
    u = stein_matrix(MODEL, x)
    for i, j in [(0, 1), (2, 3), (4, 0), (1, 1)]:
        assert u[i, j] == pytest.approx(_stein_by_finite_differences(MODEL, x[i], x[j]),
                                        rel=1e-6, abs=1e-8)
    np.testing.assert_allclose(u, u.T, rtol=1e-12)


def test_exact_draws_are_not_rejected(seed):
    x = np.random.default_rng(seed).multivariate_normal([0, 0], COV, size=400)
    result = fe.ksd(MODEL, x, rng=seed)
    assert result.p_value > 1e-3  # uniform under H0: a 1/1000 false alarm


def test_shifted_draws_are_detected(seed):
    """The power of the test (and the negative control of the one above)."""
    x = np.random.default_rng(seed).multivariate_normal([0.5, 0.0], COV, size=400)
    result = fe.ksd(MODEL, x, n_bootstrap=500, rng=seed)
    assert result.p_value <= 2 / 501
    assert result.ksd2 > 0


def test_bad_input():
    x = np.zeros((3, 2))
    with pytest.raises(TypeError, match="energy"):
        fe.ksd("E", x)
    with pytest.raises(ValueError, match="beta"):
        fe.ksd(MODEL, x, beta=0.5)
    with pytest.raises(ValueError, match="at least 2"):
        fe.ksd(MODEL, x[:1])
    with pytest.raises(ValueError, match="x"):
        fe.ksd(MODEL, np.zeros((3, 3)))
