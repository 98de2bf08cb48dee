"""ULA is biased by design: on N(0, σ²) its stationary variance is σ²/(1 - h/(2σ²))."""
import numpy as np

import fastebm as fe
from tests.statistical.harness import Z_CRIT, variance_z


def _stationary(sigma2, h, seed, n=20_000):
    energy = fe.Gaussian([0.0], covariance=[sigma2])
    x0 = np.random.default_rng(seed).normal(size=(n, 1)) * 3
    return fe.langevin(energy, x0, h, 1, burn_in=400, rng=seed).state.position


def test_ula_variance_matches_closed_form(seed):
    for sigma2, h in [(1.0, 0.2), (4.0, 1.0)]:
        biased = sigma2 / (1 - h / (2 * sigma2))
        x = _stationary(sigma2, h, seed)
        # the stationary law is Gaussian, so μ₄ = 3σ⁴ holds for the biased variance too
        assert variance_z(x, biased) < Z_CRIT


def test_negative_control_unbiased_variance_is_rejected(seed):
    assert variance_z(_stationary(1.0, 0.2, seed), 1.0) > Z_CRIT


def test_ula_divergence_is_flagged_and_draws_are_nan(seed):
    energy = fe.Gaussian([0.0], covariance=[1.0])
    result = fe.langevin(energy, np.array([[0.5], [1.0]]), 2.5, 200, rng=seed)
    # h = 2.5 > 2σ²: the chain is unstable, its energy explodes
    assert np.all(result.n_divergent == 1)
    assert np.all(np.isnan(result.draws[-1]))
    assert np.all(np.isfinite(result.state.position))


def test_ula_adaptation_stays_stable(seed):
    """Adapted ULA on N(0, 2) keeps h below the stability limit 2σ² = 4: no divergence."""
    energy = fe.Gaussian([0.0], covariance=[2.0])
    result = fe.langevin(energy, np.zeros((2000, 1)), 0.1, 200, burn_in=500, adapt=True,
                         keep="moments", rng=seed)
    assert result.n_divergent.sum() == 0
    assert np.max(result.step_size) < 4.0
