"""fe.log_partition: one call for exact, IS and AIS log Z, one result type."""
import numba
import numpy as np
import pytest

import fastebm as fe
from tests.statistical.harness import Z_CRIT

E = fe.Gaussian([1.0, -1.0], covariance=[[2.0, 0.5], [0.5, 1.0]])
Q = fe.proposals.Gaussian([0.0, 0.0], [6.0, 6.0])


def _no_closed_form():
    return fe.energy(lambda x: 0.25 * x[0] ** 4 + 0.5 * x[1] ** 2, dim=2)


def test_exact():
    result = fe.log_partition(E)
    assert isinstance(result, fe.LogZEstimate)
    assert result.log_z == E.log_partition()
    assert (result.stderr, result.method, result.bound, result.log_weights) == (0.0, "exact",
                                                                                 "exact", None)
    assert fe.log_partition(E, method="exact").log_z == result.log_z


def test_exact_without_closed_form_points_to_the_estimators():
    with pytest.raises(ValueError, match='method="is".*method="ais"'):
        fe.log_partition(_no_closed_form())


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="statistical: compiled kernels")
def test_importance_sampling_matches_importance_sample(seed):
    result = fe.log_partition(E, method="is", proposal=Q, n=100_000, rng=seed)
    direct = fe.importance_sample(E, Q, 100_000, rng=seed)
    assert isinstance(result, fe.LogZEstimate)
    assert (result.method, result.bound) == ("is", "lower")
    assert result.log_z == direct.log_z and result.stderr == direct.stderr
    np.testing.assert_array_equal(result.log_weights, direct.log_weights)
    assert result.ess == direct.ess
    assert abs(result.log_z - E.log_partition()) < Z_CRIT * result.stderr


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="statistical: compiled kernels")
def test_ais_and_reverse_ais_match_the_functions(seed):
    options = dict(base=Q, n_temperatures=50, step_size=0.5, rng=seed)
    result = fe.log_partition(E, method="ais", n_chains=2000, **options)
    direct = fe.ais(E, n_chains=2000, **options)
    assert (result.method, result.bound) == ("ais", "lower")
    np.testing.assert_array_equal(result.log_weights, direct.log_weights)
    assert abs(result.log_z - E.log_partition()) < Z_CRIT * result.stderr
    x_target = np.random.default_rng(seed).multivariate_normal([1.0, -1.0], E.covariance, 2000)
    upper = fe.log_partition(E, method="reverse_ais", x_target=x_target, **options)
    assert (upper.method, upper.bound) == ("reverse_ais", "upper")
    assert abs(upper.log_z - E.log_partition()) < Z_CRIT * upper.stderr


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="statistical: compiled kernels")
def test_negative_control_is_with_wrong_proposal_density(seed):
    q = fe.proposals.Gaussian([0.0, 0.0], [6.0, 6.0])
    q._log_norm += 0.05
    result = fe.log_partition(E, method="is", proposal=q, n=100_000, rng=seed)
    assert abs(result.log_z - E.log_partition()) > Z_CRIT * result.stderr


@pytest.mark.parametrize("call,error,match", [
    (lambda: fe.log_partition(E, method="enumerate"), ValueError, "method"),
    (lambda: fe.log_partition(E, method=None), ValueError, "method"),
    (lambda: fe.log_partition("E"), TypeError, "energy"),
    (lambda: fe.log_partition(E, proposal=Q), TypeError, "exact"),
    (lambda: fe.log_partition(E, method="is", n=10), TypeError, "proposal"),
    (lambda: fe.log_partition(E, method="is", proposal=Q, n=1), ValueError, "n"),
    (lambda: fe.log_partition(E, method="ais", base=Q, n_chains=10, n_temperatures=5,
                              transition="ula"), TypeError, "step_size"),
    (lambda: fe.log_partition(E, method="ais", base=Q, n_chains=10, n_temperatures=5,
                              step_size=0.5, schedule=[0.0, 1.2]), ValueError, "schedule"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
