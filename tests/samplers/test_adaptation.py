"""The preconditioner is estimated from pooled moments that shards of chains can merge."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._contract import PooledMoments
from fastebm.samplers.adaptation import (fold_moments, inverse_mass_from_moments,
                                        merge_moments, moment_chunk, pooled_moments)

RNG = np.random.default_rng(21)
COV = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
STATES = RNG.multivariate_normal([1.0, -2.0, 0.5], COV, size=(40, 25))  # (draws, chains, d)


def _runner():
    energy = fe.Gaussian(np.zeros(3), covariance=COV)
    return fe.backend.CPU.runners.MetropolisRunner(energy, np.zeros((25, 3)), (1, 2), 0, 0,
                                                   target=0.234)


@pytest.mark.parametrize("kind", ["diag", "dense"])
def test_moments_give_the_sample_covariance_with_its_shrinkage(kind):
    samples = STATES.reshape(-1, 3)
    m = samples.shape[0]
    shrink = 1e-3 * 5.0 / (m + 5.0)
    got = inverse_mass_from_moments(pooled_moments(_runner(), STATES, kind), kind)
    if kind == "diag":
        np.testing.assert_array_equal(got, samples.var(axis=0, ddof=1) * (1.0 + shrink))
    else:
        cov = np.cov(samples, rowvar=False)
        np.testing.assert_allclose(got, cov + shrink * np.diag(np.diag(cov)), rtol=1e-13)


def test_non_finite_states_are_left_out():
    states = STATES.copy()
    states[3, 4, 1] = np.nan
    states[7, 0, 2] = np.inf
    moments = pooled_moments(_runner(), states, "dense")
    assert moments.count == STATES.shape[0] * STATES.shape[1] - 2
    assert np.all(np.isfinite(moments.m2))


@pytest.mark.parametrize("kind", ["diag", "dense"])
def test_shards_merge_into_the_moments_of_all_chains(kind):
    runner = _runner()
    whole = pooled_moments(runner, STATES, kind)
    merged = PooledMoments(0, np.zeros(3), np.zeros((3,) if kind == "diag" else (3, 3)))
    for lo, hi in [(0, 7), (7, 8), (8, 25)]:
        merged = merge_moments(merged, pooled_moments(runner, STATES[:, lo:hi], kind))
    assert merged.count == whole.count
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    # negative control: pooling the shards' M2 without the between-shard term is wrong
    naive = sum(pooled_moments(runner, STATES[:, lo:hi], kind).m2 for lo, hi in [(0, 7), (7, 25)])
    assert not np.allclose(naive, whole.m2, rtol=1e-6)


def test_too_few_or_degenerate_states_give_no_estimate():
    assert inverse_mass_from_moments(PooledMoments(1, np.zeros(2), np.ones(2)), "diag") is None
    assert inverse_mass_from_moments(PooledMoments(5, np.zeros(2), np.zeros(2)), "diag") is None
    indefinite = PooledMoments(5, np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    assert inverse_mass_from_moments(indefinite, "dense") is None


@pytest.mark.parametrize("kind", ["diag", "dense"])
def test_shards_cut_on_chunk_boundaries_give_bitwise_the_moments_of_one_machine(kind):
    """What fastebm.dask relies on: shards' chunk moments, concatenated and folded, are
    the whole run's pooled moments bit for bit (a cluster gets one machine's Σ)."""
    states = np.random.default_rng(5).multivariate_normal([1.0, -2.0, 0.5], COV * 1e3,
                                                           size=(9, 300)) + 1e4
    runner = fe.backend.CPU.runners.MetropolisRunner(
        fe.Gaussian(np.zeros(3), covariance=COV), np.zeros((300, 3)), (1, 2), 0, 0,
        target=0.234)
    chunk = moment_chunk(300)
    whole = pooled_moments(runner, states, kind)
    parts = [runner.chunk_moments(states[:, lo:hi], kind, chunk)
             for lo, hi in [(0, 64), (64, 192), (192, 300)]]
    merged = fold_moments(*(np.concatenate(p) for p in zip(*parts)))
    assert merged.count == whole.count
    np.testing.assert_array_equal(merged.mean, whole.mean)
    np.testing.assert_array_equal(merged.m2, whole.m2)
    # negative control: the same chunks merged in another order round differently
    count, mean, m2 = (np.concatenate(p) for p in zip(*parts))
    other = PooledMoments(0, np.zeros(3), np.zeros_like(m2[0]))
    for c, mu, s in zip(count, mean, m2):
        other = merge_moments(other, PooledMoments(int(c), mu, s))
    assert not (np.array_equal(other.m2, whole.m2) and np.array_equal(other.mean, whole.mean))
