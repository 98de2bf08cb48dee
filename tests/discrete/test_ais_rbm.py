"""AIS for Bernoulli RBMs (Salakhutdinov & Murray 2008): the kernel against its NumPy
reference, and log Ẑ against the enumerated log Z, with a wrong-increment control."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from fastebm.estimators.ais_discrete import ais_discrete
from fastebm.resampling import log_mean_exp
from tests.discrete.reference import ais_gaussian_rbm, ais_rbm
from tests.statistical.harness import Z_CRIT, unbiased_ratio_z


def _model(seed, V, H):
    rng = np.random.default_rng(seed)
    W, b, c = rng.normal(size=(V, H)), rng.normal(size=V) * 0.5, rng.normal(size=H) * 0.5
    data = (rng.random((50, V)) < 0.3).astype(float)
    return fe.BernoulliRBM(W, b, c), data


def test_ais_kernel_equals_reference(seed):
    rbm, data = _model(seed, 10, 8)
    betas = np.linspace(0, 1, 20)
    est = ais_discrete(rbm, data, 70, schedule=betas, rng=seed)
    ref = ais_rbm(rbm.W, rbm.b, rbm.c, rbm.base_rate_biases(data), betas, 70, philox_key(seed))
    np.testing.assert_allclose(est.log_weights, ref, rtol=0, atol=1e-12)
    log_z0 = 8 * np.log(2) + np.logaddexp(0, rbm.base_rate_biases(data)).sum()
    assert est.log_z == pytest.approx(log_z0 + log_mean_exp(ref), abs=1e-12)
    few = ais_discrete(rbm, data, 5, schedule=betas, rng=seed)  # chain i independent of n
    np.testing.assert_array_equal(few.log_weights, est.log_weights[:5])


@pytest.mark.statistical
@pytest.mark.parametrize("shape", [(10, 8), (20, 12)])
def test_ais_log_z_within_standard_errors_of_enumeration(seed, shape):
    """2000 chains × 100 linear temperatures: |log Ẑ - log Z| < Z_CRIT se; the mutant
    that takes each weight increment after the move instead of before is rejected."""
    rbm, data = _model(seed, *shape)
    exact = rbm.log_partition()
    betas = np.linspace(0, 1, 100)
    est = ais_discrete(rbm, data, 2000, schedule=betas, rng=seed)
    assert est.method == "ais" and est.bound == "lower" and 0 < est.ess <= 2000
    assert abs(est.log_z - exact) < Z_CRIT * est.stderr
    b_base = rbm.base_rate_biases(data)
    log_w = ais_rbm(rbm.W, rbm.b, rbm.c, b_base, betas, 2000, philox_key(seed),
                    weight_after_move=True)
    w = np.exp(log_w - log_w.max())
    se = w.std(ddof=1) / (np.sqrt(w.size) * w.mean())
    mutant = shape[1] * np.log(2) + np.logaddexp(0, b_base).sum() + log_mean_exp(log_w)
    assert abs(mutant - exact) > Z_CRIT * se


@pytest.mark.statistical
def test_unbiased_z_and_jensen_over_repeats(seed):
    """Over 200 independent short runs (50 chains, 30 temperatures): mean Ẑ/Z within
    5 standard errors of 1, and mean log Ẑ ≤ log Z + 5 se."""
    rbm, data = _model(seed, 10, 8)
    exact = rbm.log_partition()
    seeds = np.random.SeedSequence(seed).spawn(200)
    logs = np.array([ais_discrete(rbm, data, 50, 30, rng=s).log_z for s in seeds])
    assert unbiased_ratio_z(logs, exact) < 5
    assert logs.mean() - exact < 5 * logs.std(ddof=1) / np.sqrt(logs.size)


@pytest.mark.statistical
def test_uniform_base_and_schedules(seed):
    rbm, data = _model(seed, 10, 8)
    exact = rbm.log_partition()
    for schedule in ("linear", "sigmoid", "geometric"):
        est = ais_discrete(rbm, None, 1000, 300, schedule=schedule, rng=seed)
        assert abs(est.log_z - exact) < Z_CRIT * est.stderr


def test_bad_input(seed):
    rbm, data = _model(seed, 10, 8)
    with pytest.raises(ValueError, match="schedule must increase"):
        ais_discrete(rbm, data, 10, schedule=[0.0, 0.7, 0.5, 1.0])
    with pytest.raises(ValueError, match="binary"):
        ais_discrete(rbm, data * 0.5, 10, 10)
    with pytest.raises(ValueError, match="n_chains"):
        ais_discrete(rbm, data, 1, 10)
    with pytest.raises(TypeError, match="n_temperatures"):
        ais_discrete(rbm, data, 10)


def test_fe_ais_dispatches_discrete_models(seed):
    rbm, data = _model(seed, 10, 8)
    direct = ais_discrete(rbm, data, 50, 40, schedule="sigmoid", rng=seed)
    np.testing.assert_array_equal(fe.ais(rbm, data, 50, 40, rng=seed).log_weights,
                                  direct.log_weights)
    via = fe.log_partition(rbm, "ais", base=data, n_chains=50, n_temperatures=40, rng=seed)
    assert via.log_z == direct.log_z
    assert fe.log_partition(rbm).log_z == pytest.approx(rbm.log_partition())
    with pytest.raises(ValueError, match="Gibbs"):
        fe.ais(rbm, data, 50, 40, transition="mala")
    with pytest.raises(ValueError, match="step_size"):
        fe.ais(rbm, data, 50, 40, step_size=0.1)
    with pytest.raises(ValueError, match="adaptive"):
        fe.ais(rbm, data, 50, schedule="adaptive")
    with pytest.raises(TypeError, match="discrete"):
        fe.reverse_ais(rbm, data, data, 10)


def _gaussian_model(seed):
    rng = np.random.default_rng(seed)
    return fe.GaussianBernoulliRBM(rng.normal(size=(6, 8)) * 0.7, rng.normal(size=6),
                                   rng.normal(size=8) * 0.5, np.linspace(0.5, 1.5, 6))


def test_gaussian_bernoulli_ais_equals_reference(seed):
    gb = _gaussian_model(seed)
    betas = np.linspace(0, 1, 15)
    est = fe.ais(gb, None, 40, schedule=betas, rng=seed)
    ref = ais_gaussian_rbm(gb.W, gb.b, gb.c, gb.sigma, betas, 40, philox_key(seed))
    np.testing.assert_allclose(est.log_weights, ref, rtol=0, atol=1e-12)


@pytest.mark.statistical
@pytest.mark.parametrize("beta", [1.0, 0.6])
def test_gaussian_bernoulli_ais_within_standard_errors(seed, beta):
    """log Ẑ of a 6 × 8 Gaussian-Bernoulli RBM (tempered too) within Z_CRIT se of the
    exact value (visibles integrated out, 2⁸ hidden states)."""
    gb = _gaussian_model(seed).tempered(beta)
    est = fe.ais(gb, None, 2000, 200, rng=seed)
    assert abs(est.log_z - gb.log_partition()) < Z_CRIT * est.stderr
    with pytest.raises(ValueError, match="base must be None"):
        fe.ais(gb, np.zeros((3, 6)), 10, 10)
