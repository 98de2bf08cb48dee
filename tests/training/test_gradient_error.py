import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT

ENERGY = fe.Gaussian([0.0, 0.0], precision=[[2.0, 0.5], [0.5, 1.0]])
COV = np.linalg.inv(ENERGY.precision)
DATA = np.random.default_rng(3).normal(size=(500, 2))


def _sampled(model_cov):
    def estimator(rng):
        draws = np.random.default_rng(rng).multivariate_normal([0, 0], model_cov, size=2000)
        return fe.mle_gradient(ENERGY, DATA, draws)
    return estimator


def test_exact_draws_give_an_unbiased_gradient(seed):
    err = fe.gradient_error(_sampled(COV), fe.exact_mle_gradient(ENERGY, DATA), 200, rng=seed)
    assert np.all(np.abs(err.bias) < Z_CRIT * err.bias_stderr)
    np.testing.assert_allclose(err.mse, err.bias ** 2 + err.variance * 199 / 200, rtol=1e-10)


def test_negative_control_draws_from_the_wrong_model_are_biased(seed):
    err = fe.gradient_error(_sampled(1.3 * COV), fe.exact_mle_gradient(ENERGY, DATA), 200,
                            rng=seed)
    assert np.any(np.abs(err.bias) > Z_CRIT * err.bias_stderr)


def test_bad_input():
    with pytest.raises(TypeError, match="estimator"):
        fe.gradient_error(3, [0.0], 5)
    with pytest.raises(ValueError, match="shape"):
        fe.gradient_error(lambda rng: np.zeros(3), [0.0, 0.0], 5)
    with pytest.raises(ValueError, match="n_rep"):
        fe.gradient_error(lambda rng: np.zeros(2), [0.0, 0.0], 1)
