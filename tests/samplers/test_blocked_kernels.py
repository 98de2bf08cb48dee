"""The serial kernels run over shares of their blocks of chains, one thread per share
(``fastebm._kernels.numba._jit.over_blocks``): the numbers do not depend on the number of
shares, and a forked process starts a thread pool of its own."""
import numba
import numpy as np

import fastebm as fe


def _runs():
    energy = fe.Gaussian(np.zeros(3), covariance=[1.0, 2.0, 0.5])
    x0 = np.random.default_rng(0).standard_normal((100, 3))
    walk = fe.metropolis(energy, x0, 50, scale=0.5, rng=1, keep="moments")
    mala = fe.mala(energy, x0, 0.3, 50, rng=2, keep="moments")
    return walk.mean, mala.mean


def _same_with_one_share(runs):
    """``runs()`` gives the same arrays with the default threads and with one."""
    before = numba.get_num_threads()
    whole = runs()
    try:
        numba.set_num_threads(1)
        one = runs()
    finally:
        numba.set_num_threads(before)
    for a, b in zip(whole, one):
        np.testing.assert_array_equal(a, b)


def test_same_numbers_for_any_number_of_shares():
    _same_with_one_share(_runs)


def test_a_forked_child_starts_a_pool_of_its_own():
    """At a fork the pool is forgotten (its threads do not survive into the child: work
    queued there would wait forever); the next call starts a new pool, same numbers.
    (A real fork is not tested: Numba's OpenMP layer, used by the parallel kernels that
    remain, terminates a child forked after a parallel region.)"""
    from fastebm._kernels.numba import _jit
    first = _runs()
    if numba.get_num_threads() > 1 and not numba.config.DISABLE_JIT:  # else no pool
        assert _jit._POOL
    _jit._forget_pool()
    assert not _jit._POOL
    again = _runs()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def _more_runs():
    """The other serial kernels over shares: RBM Gibbs and AIS, continuous AIS (MALA and
    the random walk), Gaussian importance draws, batched energies, RBM log Z by
    enumeration."""
    rng = np.random.default_rng(3)
    rbm = fe.BernoulliRBM(rng.normal(size=(15, 14)) * 0.3, rng.normal(size=15),
                          rng.normal(size=14))  # log Z: 2^14 states in four chunks
    gibbs = fe.gibbs(rbm, np.zeros((70, 15)), 5, rng=4, keep="moments").mean
    rbm_ais = fe.ais(rbm, None, 70, 4, rng=5).log_weights
    energy = fe.Gaussian(np.zeros(3), covariance=[1.0, 2.0, 0.5])
    base = fe.proposals.Gaussian(np.zeros(3), 4.0 * np.eye(3))
    mala_ais = fe.ais(energy, base, 70, 4, step_size=0.3, rng=6).log_weights
    walk_ais = fe.ais(energy, base, 70, 4, step_size=0.3, transition="rwm", rng=7).log_weights
    draws = fe.importance_sample(energy, base, 600, rng=8).log_weights
    x = rng.standard_normal((600, 3))
    return gibbs, rbm_ais, mala_ais, walk_ais, draws, energy.energy(x), [rbm.log_partition()]


def test_more_kernels_same_numbers_for_any_number_of_shares():
    _same_with_one_share(_more_runs)


def test_helpers_are_compiled_once_for_any_constant_argument():
    """A helper called from compiled code with different constants (a Philox tag) is
    compiled for the constants' plain type, once (``_jit._typed_without_literals``)."""
    from numba import njit
    from numba.core import config
    from fastebm._kernels.numba import _jit
    if config.DISABLE_JIT:
        return
    scaled = _jit._typed_without_literals(njit(lambda tag, x: tag * x))

    @njit
    def caller(x):
        return scaled(3, x) + scaled(5, x)

    assert caller(2.0) == 16.0
    assert len(scaled.signatures) == 1
