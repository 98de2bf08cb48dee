"""Geyer's importance-sampling likelihood (seed 002, secs. 3-6): the gradient against
finite differences with the sample fixed, J_BL against the exact NLL, the MC-MLE against
the exact MLE, the two sampled gradients of sec. 6, and the variance ordering of sec. 7."""
import numba
import numpy as np
import pytest

import fastebm as fe
import fastebm.estimators.geyer as geyer_module
from tests.statistical.harness import Z_CRIT

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT,
                               reason="statistical tests need the compiled kernels")
N = 100


def seed002_energy(theta=2.0):
    """E(x|θ) = x²/(2θ²) (seed 002, eq. 22), with ∂E/∂θ = -x²/θ³."""
    def fn(x, th):
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad(x, th, out):
        out[0] = x[0] / (th[0] * th[0])
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad_theta(x, th, out):
        out[0] = -x[0] * x[0] / th[0] ** 3
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    return fe.energy(fn, grad, theta=[theta], grad_theta=grad_theta, dim=1)


def exact_nll(x, theta):
    """J(θ) = Σ xₙ²/(2θ²) + N log(√(2π) θ) (seed 002, eqs. 5 and 22)."""
    return np.sum(x ** 2) / (2 * theta ** 2) + x.shape[0] * np.log(np.sqrt(2 * np.pi) * theta)


def seed002_data(seed):
    return np.random.default_rng(seed).normal(0.0, 2.0, size=(N, 1))  # θ* = 2 (eq. 23)


Q1 = fe.proposals.Gaussian([2.0], [4.0])  # seed 002, eq. 24


def q2(theta):
    """q₂(y|θ) = N(2, (2 + θ)²) (seed 002, eq. 25)."""
    return fe.proposals.Gaussian([2.0], [(2.0 + theta[0]) ** 2])


def _gaussian_2d():
    energy = fe.Gaussian([0.3, -0.2], precision=[[1.2, 0.3], [0.3, 0.8]])
    data = np.random.default_rng(1).multivariate_normal([0.5, 0.0], [[1.0, 0.2], [0.2, 1.5]], 50)
    return energy, data, fe.proposals.StudentT([0.0, 0.0], [3.0, 3.0], 5.0)


def _fd_gradient(J, theta, h=1e-5):
    theta = np.asarray(theta, dtype=float)
    return np.array([(J(theta + h * e) - J(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])


# --- the gradient (eqs. 12-13) against finite differences of J_BL with the sample fixed ---

@pytest.mark.parametrize("model", ["seed002", "gaussian_2d"])
def test_gradient_against_finite_differences(model):
    if model == "seed002":
        J = fe.geyer_nll(seed002_energy(), seed002_data(0), Q1, 2000, rng=1)
        thetas = [[1.5], [2.0], [3.2]]
    else:
        energy, data, q = _gaussian_2d()
        J = fe.geyer_nll(energy, data, q, 2000, rng=1)
        thetas = [energy.theta, energy.theta + [0.2, -0.1, 0.3, 0.1, -0.2]]
    for theta in thetas:
        np.testing.assert_allclose(J.grad(theta), _fd_gradient(J, theta), rtol=1e-6, atol=1e-6)
        value, grad = J.value_and_grad(theta)
        assert value == J(theta) and np.array_equal(grad, J.grad(theta))


def test_gradient_negative_control_unnormalized_weights(monkeypatch):
    """Weights wₘ/M instead of w̄ₘ (eq. 13 without the division by Ẑ) fail the same check."""
    J = fe.geyer_nll(seed002_energy(), seed002_data(0), Q1, 2000, rng=1)
    monkeypatch.setattr(geyer_module, "_self_normalized",
                        lambda log_w: np.exp(log_w) / log_w.size)
    assert not np.allclose(J.grad([3.2]), _fd_gradient(J, [3.2]), rtol=1e-3)


def test_fixed_sample_is_reused_and_matches_importance_sampling():
    """J_BL(θ) = Σ E(xₙ|θ) + N log Ẑ(θ), Ẑ the importance_sample estimate on the same stream."""
    energy, x = seed002_energy(), seed002_data(0)
    J = fe.geyer_nll(energy, x, Q1, 500, rng=3)
    for theta in (1.0, 2.5, 4.0):
        e_theta = energy.with_theta([theta])
        log_z = fe.importance_sample(e_theta, Q1, 500, rng=3).log_z
        assert J([theta]) == pytest.approx(np.sum(e_theta.energy(x)) + N * log_z, rel=1e-13)
        assert J.log_z([theta]) == pytest.approx(log_z, rel=1e-13)
    np.testing.assert_array_equal(J.samples, fe.importance_sample(energy, Q1, 500, rng=3).draws)


def test_theta_dependent_proposal_fresh_sample_on_a_fixed_stream():
    energy, x = seed002_energy(), seed002_data(0)
    J = fe.geyer_nll(energy, x, q2, 500, rng=3)
    assert J.depends_on_theta and J.samples is None
    for theta in (1.0, 2.5, 4.0):
        e_theta = energy.with_theta([theta])
        log_z = fe.importance_sample(e_theta, q2([theta]), 500, rng=3).log_z
        assert J([theta]) == J([theta])  # a deterministic function of θ
        assert J([theta]) == pytest.approx(np.sum(e_theta.energy(x)) + N * log_z, rel=1e-13)


@needs_jit
def test_nll_close_to_exact_at_large_m(seed):
    """|J_BL - J| = N |log Ẑ - log Z| within Z_CRIT standard errors (Gaussian, exact log Z)."""
    energy, data, q = _gaussian_2d()
    J = fe.geyer_nll(energy, data, q, 200_000, rng=seed)
    for theta in (energy.theta, energy.theta + [0.2, -0.1, 0.3, 0.1, -0.2]):
        e_theta = energy.with_theta(theta)
        exact = np.sum(e_theta.energy(data)) + data.shape[0] * e_theta.log_partition()
        se = data.shape[0] * fe.importance_sample(e_theta, q, 200_000, rng=seed).stderr
        assert abs(J(theta) - exact) < Z_CRIT * se
    # negative control: a proposal density off by 0.03 (N log Ẑ off by 1.5, ~10 se) is caught
    q._log_norm += 0.03
    bad = fe.geyer_nll(energy, data, q, 200_000, rng=seed)
    e_theta = energy.with_theta(energy.theta)
    exact = np.sum(e_theta.energy(data)) + data.shape[0] * e_theta.log_partition()
    assert abs(bad(energy.theta) - exact) > Z_CRIT * se


def _mle_error_z(fit, x, y, log_q):
    """z of θ̂_MC - θ̂ (θ̂² = mean x², the exact MLE): by the delta method,
    θ̂_MC - θ̂ ≈ -∇(J_BL - J)(θ̂) / J''(θ̂), J'' = 2N/θ̂², Var ∇J_BL ≈ N² Σ w̄²(g - ḡ)², with
    the weights w ∝ exp(-E(y|θ̂))/q(y) and g = ∂E/∂θ(y|θ̂) of the sample y behind J_BL at θ̂."""
    theta_hat = np.sqrt(np.mean(x ** 2))
    y = y[:, 0]
    log_w = -y ** 2 / (2 * theta_hat ** 2) - log_q
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    g = -y ** 2 / theta_hat ** 3
    se = N * np.sqrt(np.sum(w ** 2 * (g - w @ g) ** 2)) / (2 * N / theta_hat ** 2)
    return abs(fit.theta[0] - theta_hat) / se


@needs_jit
def test_mc_mle_near_exact_mle(seed):
    """Seed 002's model: θ̂_MC = argmin J_BL within Z_CRIT delta-method errors of the MLE,
    for the fixed q₁ and for the θ-dependent q₂ (whose sample at θ̂ gives the error)."""
    x = seed002_data(seed)
    fit = fe.fit_geyer(seed002_energy(), x, Q1, 20_000, rng=seed)
    assert fit.success
    assert _mle_error_z(fit, x, fit.nll_function.samples, fit.nll_function.log_q) < Z_CRIT
    assert fit.nll == pytest.approx(fit.nll_function(fit.theta), rel=1e-12)
    assert fit.energy.theta == pytest.approx(fit.theta)
    fit2 = fe.fit_geyer(seed002_energy(), x, q2, 20_000, rng=seed)
    theta_hat = np.sqrt(np.mean(x ** 2))
    y = q2([theta_hat]).sample(20_000, rng=seed)
    assert fit2.success
    assert _mle_error_z(fit2, x, y, q2([theta_hat]).log_density(y)) < Z_CRIT


@needs_jit
def test_mc_mle_negative_control_wrong_proposal_density(seed, monkeypatch):
    """Draws of N(2, 2²) weighted with the density of N(2, 2.5²): the fit is caught off."""
    x = seed002_data(seed)
    wrong = fe.proposals.Gaussian([2.0], [6.25])
    real_init = geyer_module.GeyerNLL.__init__

    def init(self, *args):
        real_init(self, *args)
        self.log_q = wrong.log_density(self.samples)

    monkeypatch.setattr(geyer_module.GeyerNLL, "__init__", init)
    fit = fe.fit_geyer(seed002_energy(), x, Q1, 20_000, rng=seed)
    assert _mle_error_z(fit, x, fit.nll_function.samples, fit.nll_function.log_q) > Z_CRIT


# --- seed 002, sec. 6: negatives from independent MH and from IS plus resampling -----------

def _gaussian_1d():
    energy = fe.Gaussian([0.5], precision=[0.5])
    data = np.random.default_rng(3).normal(0.0, 1.5, size=(200, 1))
    return energy, data, fe.proposals.StudentT([0.0], [4.0], 4.0)


@needs_jit
def test_independent_mh_gradient(seed):
    energy, data, q = _gaussian_1d()
    est = fe.independent_mh_gradient(energy, data, q, 20_000, 30, rng=seed)
    exact = fe.exact_mle_gradient(energy, data)
    assert np.all(np.abs(est.gradient - exact) < Z_CRIT * est.stderr)
    # negative control: the chains' starting points (draws of q, no MH step) are caught
    x0 = q.sample(20_000, rng=seed)
    raw = fe.mle_gradient(energy, data, x0)
    assert np.any(np.abs(raw.gradient - exact) > Z_CRIT * raw.stderr)


@needs_jit
def test_importance_resampling_gradient(seed):
    energy, data, q = _gaussian_1d()
    est = fe.importance_resampling_gradient(energy, data, q, 50_000, rng=seed)
    exact = fe.exact_mle_gradient(energy, data)
    assert np.all(np.abs(est.gradient - exact) < Z_CRIT * est.stderr)
    # negative control: resampling that ignores the weights (the raw draws of q) is caught
    raw = fe.mle_gradient(energy, data, q.sample(50_000, rng=seed))
    assert np.any(np.abs(raw.gradient - exact) > Z_CRIT * est.stderr)


@needs_jit
def test_geyer_gradient_estimate(seed):
    energy, data, q = _gaussian_1d()
    J = fe.geyer_nll(energy, data, q, 50_000, rng=seed)
    est = J.gradient_estimate(energy.theta)
    exact = fe.exact_mle_gradient(energy, data)
    assert np.all(np.abs(est.gradient - exact) < Z_CRIT * est.stderr)
    np.testing.assert_allclose(est.gradient, J.grad(energy.theta) / data.shape[0], rtol=1e-12)


# --- seed 002, sec. 7: q₂'s spread of J_BL - J far below q₁'s for θ > 2√2 -------------------

def _spread_ratio(proposal_2, theta, seed, n_rep=200, m=5000):
    """sd over replicates of J_BL(θ) - J(θ) under q₁, divided by that under ``proposal_2``."""
    energy, x = seed002_energy(), seed002_data(0)
    exact = exact_nll(x, theta)
    spreads = [fe.replicate(lambda rng: fe.geyer_nll(energy, x, q, m, rng=rng)([theta]) - exact,
                            n_rep, rng=seed).std for q in (Q1, proposal_2)]
    return spreads[0] / spreads[1]


@needs_jit
@pytest.mark.parametrize("theta", [3.0, 4.0, 5.0])
def test_variance_ordering_of_seed_002(theta, seed):
    """Beyond θ = 2√2, q₁'s weights have infinite variance; q₂'s stay bounded. Measured
    ratios of the spreads (M = 5000) are 6-8 at θ = 3, 15-19 at 4, 26-31 at 5."""
    assert _spread_ratio(q2, theta, seed) > 3.0


@needs_jit
def test_variance_ordering_negative_control(seed):
    """A θ-dependent proposal evaluated at a fixed θ₀ = 0 (q₂(·|0) = q₁) shows no gap."""
    assert _spread_ratio(lambda theta: q2(np.zeros(1)), 4.0, seed) < 3.0


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("call,error,match", [
    (lambda E, x: fe.geyer_nll("E", x, Q1, 10), TypeError, "energy"),
    (lambda E, x: fe.geyer_nll(fe.energy(lambda x: x[0] ** 2, dim=1), x, Q1, 10), ValueError,
     "theta"),
    (lambda E, x: fe.geyer_nll(E, np.zeros((5, 2)), Q1, 10), ValueError, "data"),
    (lambda E, x: fe.geyer_nll(E, x, "q", 10), TypeError, "proposal"),
    (lambda E, x: fe.geyer_nll(E, x, fe.proposals.Gaussian([0.0, 0.0], [1.0, 1.0]), 10),
     ValueError, "dimension"),
    (lambda E, x: fe.geyer_nll(E, x, Q1, 1), ValueError, "n_samples"),
    (lambda E, x: fe.geyer_nll(E, x, Q1, 10)([1.0, 2.0]), ValueError, "theta"),
    (lambda E, x: fe.geyer_nll(E, x, Q1, 10)([np.nan]), ValueError, "theta"),
    (lambda E, x: fe.geyer_nll(E, x, lambda th: 3, 10)([1.0]), TypeError, "proposal"),
    (lambda E, x: fe.fit_geyer(E, x, Q1, 10, method=3), TypeError, "method"),
    (lambda E, x: fe.independent_mh_gradient(E, x, Q1, 1, 5), ValueError, "n_chains"),
    (lambda E, x: fe.importance_resampling_gradient(E, x, Q1, 10, method="x"), ValueError,
     "method"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(seed002_energy(), seed002_data(0))
