"""Started at exact draws of the target, a correct sampler leaves the law unchanged.

50,000 chains start at exact draws; after 10 steps each marginal is compared with the
exact CDF by the DKW bound (no burn-in, no ESS). ULA is the negative control: its law
drifts towards σ²/(1 - h/(2σ²)).
"""
import numpy as np
import pytest
from scipy import stats

import fastebm as fe
from tests.statistical.harness import dkw_epsilon, ks_statistic

N = 50_000
COV = np.array([[1.0, 0.6], [0.6, 2.0]])
ENERGY = fe.Gaussian([0.5, -0.5], covariance=COV)
CDFS = [stats.norm(0.5, 1.0).cdf, stats.norm(-0.5, np.sqrt(2.0)).cdf]


def _exact(seed):
    return np.random.default_rng(seed + 7).multivariate_normal([0.5, -0.5], COV, size=N)


SAMPLERS = {
    "mala": lambda x0, seed: fe.mala(ENERGY, x0, 0.5, 10, rng=seed),
    "mala_dense": lambda x0, seed: fe.mala(ENERGY, x0, 0.8, 10, precondition=COV, rng=seed),
    "rwm": lambda x0, seed: fe.metropolis(ENERGY, x0, 10, scale=1.5, rng=seed),
    "rwm_diag": lambda x0, seed: fe.metropolis(ENERGY, x0, 10, scale=1.5,
                                               precondition=np.diag(COV), rng=seed),
    "imh": lambda x0, seed: fe.metropolis(
        ENERGY, x0, 10, proposal=fe.proposals.Gaussian([0.0, 0.0], 3 * np.eye(2)), rng=seed),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_exact_draws_stay_exact(name, seed):
    result = SAMPLERS[name](_exact(seed), seed)
    assert ks_statistic(result.draws[-1], CDFS) < dkw_epsilon(N)


def test_negative_control_ula_moves_the_law(seed):
    result = fe.langevin(ENERGY, _exact(seed), 0.5, 10, rng=seed)
    assert ks_statistic(result.draws[-1], CDFS) > dkw_epsilon(N)
