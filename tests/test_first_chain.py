"""A global chain index: rows [a, b) run with ``first_chain=a`` are exactly rows [a, b) of
the whole run, for every sampler and estimator (the basis of sharding chains)."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._contract import MAX_COUNTER

N = 37  # chains of the whole run: not a multiple of any block size
SHARDS = [(0, 5), (5, 6), (11, 37), (20, 33)]
GAUSS = fe.Gaussian(np.array([0.5, -1.0]), covariance=[[1.0, 0.3], [0.3, 0.5]])
Q = fe.proposals.Gaussian(np.zeros(2), 4.0 * np.eye(2))
RNG = np.random.default_rng(5)
RBM = fe.BernoulliRBM(RNG.normal(size=(6, 4)) * 0.5, RNG.normal(size=6) * 0.1,
                      RNG.normal(size=4) * 0.1)
GB_RBM = fe.GaussianBernoulliRBM(RNG.normal(size=(3, 4)) * 0.3, np.zeros(3), np.zeros(4),
                                 np.ones(3))


WIDE = fe.Gaussian(np.zeros(40), precision=np.eye(40) + 0.4 / 40 * np.ones((40, 40)))  # d > 32:
# the gradient's product goes through BLAS (dot_rows)


def _x0(n, d=2):
    return np.linspace(-1.0, 1.0, n * d).reshape(n, d)


def _spins(n, d, values=(0.0, 1.0)):
    return np.where(np.arange(n * d).reshape(n, d) % 3 == 0, values[1], values[0])


def _seed(x0, seed):
    """rng=seed for a new run; nothing for a ChainState, which carries its streams."""
    return {} if isinstance(x0, fe.ChainState) else {"rng": seed}


MCMC = {
    "mala": lambda x0, **kw: fe.mala(GAUSS, x0, 0.3, 20, burn_in=10, adapt=True,
                                     **_seed(x0, 3), **kw),
    "langevin": lambda x0, **kw: fe.langevin(GAUSS, x0, 0.1, 20, **_seed(x0, 3), **kw),
    "mala-moments": lambda x0, **kw: fe.mala(GAUSS, x0, 0.3, 20, keep="moments",
                                             **_seed(x0, 3), **kw),
    "random-walk": lambda x0, **kw: fe.metropolis(GAUSS, x0, 20, scale=0.8, burn_in=10,
                                                  adapt=True, **_seed(x0, 4), **kw),
    "independent": lambda x0, **kw: fe.metropolis(GAUSS, x0, 20, proposal=Q, **_seed(x0, 4),
                                                  **kw),
}
GIBBS = {
    "rbm": (RBM, lambda n: _spins(n, 6)),
    "gaussian-rbm": (GB_RBM, lambda n: _x0(n, 3)),
    "ising-dense": (fe.Ising(np.full((5, 5), 0.2) - 0.2 * np.eye(5), np.zeros(5)),
                    lambda n: _spins(n, 5, (-1.0, 1.0))),
    "ising-lattice": (fe.Ising.lattice(4, 4, 0.3), lambda n: _spins(n, 16, (-1.0, 1.0))),
}


def _same_rows(whole, shard, a, b):
    for name in ("draws", "mean", "variance"):
        full = getattr(whole, name)
        if full is not None:
            np.testing.assert_array_equal(full[:, a:b] if name == "draws" else full[a:b],
                                          getattr(shard, name))
    np.testing.assert_array_equal(whole.acceptance_rate[a:b], shard.acceptance_rate)
    np.testing.assert_array_equal(whole.n_divergent[a:b], shard.n_divergent)
    np.testing.assert_array_equal(whole.state.position[a:b], shard.state.position)
    if whole.step_size is not None:
        np.testing.assert_array_equal(whole.step_size[a:b], shard.step_size)


@pytest.mark.parametrize("name", MCMC)
def test_mcmc_shards_are_rows_of_the_whole_run(name):
    run = MCMC[name]
    x0 = _x0(N)
    whole = run(x0)
    for a, b in SHARDS:
        shard = run(x0[a:b], first_chain=a)
        assert shard.state.first_chain == a
        _same_rows(whole, shard, a, b)


@pytest.mark.parametrize("name", MCMC)
def test_a_continued_shard_continues_its_rows(name):
    run = MCMC[name]
    x0 = _x0(N)
    second = run(run(x0).state)
    a, b = 11, 37
    shard_second = run(run(x0[a:b], first_chain=a).state)
    _same_rows(second, shard_second, a, b)


@pytest.mark.parametrize("name", GIBBS)
def test_gibbs_shards_are_rows_of_the_whole_run(name):
    model, start = GIBBS[name]
    x0 = start(N)
    whole = fe.gibbs(model, x0, 15, burn_in=3, thin=2, rng=6)
    for a, b in SHARDS:
        _same_rows(whole, fe.gibbs(model, x0[a:b], 15, burn_in=3, thin=2, rng=6,
                                   first_chain=a), a, b)


ESTIMATORS = {
    "ais-mala": lambda n, **kw: fe.ais(GAUSS, Q, n, 20, step_size=0.2, rng=8, **kw),
    "ais-rwm": lambda n, **kw: fe.ais(GAUSS, Q, n, 20, transition="rwm", step_size=0.5,
                                      rng=8, **kw),
    "ais-rbm": lambda n, **kw: fe.ais(RBM, None, n, 20, rng=8, **kw),
    "ais-gaussian-rbm": lambda n, **kw: fe.ais(GB_RBM, None, n, 20, rng=8, **kw),
    "ais-ising": lambda n, **kw: fe.ais(GIBBS["ising-lattice"][0], None, n, 20, rng=8, **kw),
    "importance": lambda n, **kw: fe.importance_sample(GAUSS, Q, n, rng=8, **kw),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_shards_are_rows_of_the_whole_run(name):
    run = ESTIMATORS[name]
    whole = run(N)
    for a, b in SHARDS:
        if b - a < 2:
            continue  # the estimators need two chains
        shard = run(b - a, first_chain=a)
        np.testing.assert_array_equal(whole.log_weights[a:b], shard.log_weights)


def test_reverse_ais_shards_are_rows_of_the_whole_run():
    x_target = _x0(N)
    whole = fe.reverse_ais(GAUSS, Q, x_target, 20, step_size=0.2, rng=9)
    shard = fe.reverse_ais(GAUSS, Q, x_target[11:30], 20, step_size=0.2, rng=9, first_chain=11)
    np.testing.assert_array_equal(whole.log_weights[11:30], shard.log_weights)


@pytest.mark.parametrize("name", list(MCMC)[:2])
def test_the_offset_is_used(name):
    """Negative control: the same rows run from offset 0 are other chains."""
    run = MCMC[name]
    x0 = _x0(N)
    whole = run(x0)
    unshifted = run(x0[11:37])
    assert not np.array_equal(whole.draws[:, 11:37], unshifted.draws)


def test_first_chain_is_validated():
    x0 = _x0(4)
    with pytest.raises(ValueError, match="first_chain"):
        fe.mala(GAUSS, x0, 0.3, 5, rng=0, first_chain=-1)
    with pytest.raises(TypeError, match="first_chain"):
        fe.mala(GAUSS, x0, 0.3, 5, rng=0, first_chain=1.5)
    with pytest.raises(ValueError, match="32-bit"):
        fe.mala(GAUSS, x0, 0.3, 5, rng=0, first_chain=MAX_COUNTER - 2)
    fe.mala(GAUSS, x0, 0.3, 1, rng=0, first_chain=MAX_COUNTER - 3)  # the last chains fit
    state = fe.mala(GAUSS, x0, 0.3, 5, rng=0).state
    with pytest.raises(ValueError, match="first_chain must be None"):
        fe.mala(GAUSS, state, None, 5, first_chain=2)
    with pytest.raises(ValueError, match="first_chain"):
        fe.ais(GAUSS, Q, 4, 10, step_size=0.2, rng=0, first_chain=-3)
    with pytest.raises(ValueError, match="first_chain"):
        fe.gibbs(RBM, _spins(4, 6), 3, rng=0, first_chain=-1)


@pytest.mark.parametrize("a, b", SHARDS)
def test_shards_of_a_wide_dense_gaussian_are_the_same_chains(a, b):
    """d = 40: MALA's products through BLAS; an odd shard's last chain is a lone last row
    (caught on a Zen 3 whose OpenBLAS sums it apart, before dot_rows paired it)."""
    x0 = _x0(N, 40)
    whole = fe.mala(WIDE, x0, 0.1, 10, rng=3)
    shard = fe.mala(WIDE, x0[a:b], 0.1, 10, rng=3, first_chain=a)
    _same_rows(whole, shard, a, b)


@pytest.mark.parametrize("shape", [(4, 3), (64, 100), (100, 100), (500, 64)])
def test_a_row_of_a_block_product_does_not_depend_on_the_block(shape):
    """dot_rows: a row of a block's product is the same for every block size from 1 to 32
    and every place in the block (OpenBLAS sums a one-row product, and the lone last row
    of an odd block, in another order). BLAS on one thread, as in the kernels."""
    from fastebm._kernels.numba._jit import _single_blas_thread
    from fastebm._kernels.numba.blas import dot_rows
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(40, shape[0])), rng.normal(size=shape)
    full = np.empty((32, shape[1]))
    with _single_blas_thread():
        dot_rows(np.ascontiguousarray(a[:32]), b, full)
        for m in range(1, 33):
            for lo in sorted({0, 3, 7, 32 - m}):
                if lo + m > 32:
                    continue
                out = np.empty((m, shape[1]))
                dot_rows(np.ascontiguousarray(a[lo:lo + m]), b, out)
                np.testing.assert_array_equal(out, full[lo:lo + m],
                                              err_msg=f"rows {lo}:{lo + m}")


def test_odd_blocks_are_what_plain_blas_gets_wrong():
    """Negative control for the test above: on this machine, is a lone last row of plain
    BLAS (np.dot, one thread) summed apart from the same row in a two-row tile? Where it
    is, dot_rows' handling of odd blocks is what the test above proves; where it is not
    (OpenBLAS's AVX-512 kernels), there is nothing to catch."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(6, 100)), rng.normal(size=(100, 100))
    with threadpool_limits(1):
        paired = a[:6] @ b
        lone = a[:5] @ b
    if np.array_equal(lone[4], paired[4]):
        pytest.skip("this BLAS sums a lone last row as it sums a row of a pair")
    assert not np.array_equal(lone[4], paired[4])
