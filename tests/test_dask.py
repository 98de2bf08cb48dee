"""fastebm.dask gives, for the same rng, exactly what the local functions give."""
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastebm as fe

distributed = pytest.importorskip("distributed")
fe_dask = pytest.importorskip("fastebm.dask")

N = 37
X0 = np.random.default_rng(1).normal(size=(N, 2))
GAUSS = fe.Gaussian(np.array([0.5, -1.0]), covariance=[[1.0, 0.3], [0.3, 0.5]])
Q = fe.proposals.Gaussian(np.zeros(2), 4.0 * np.eye(2))
RBM = fe.BernoulliRBM(np.random.default_rng(2).normal(size=(6, 4)) * 0.5, np.zeros(6),
                      np.zeros(4))


def banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2


def _cluster():
    """Two worker processes of one thread each, on free ports (no dashboard)."""
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", scheduler_port=0,
                                    env={"NUMBA_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def client():
    cluster = _cluster()
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _same(a, b):
    for name in ("draws", "acceptance_rate", "n_divergent", "step_size", "mean", "variance",
                 "inverse_mass"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    for name in ("position", "step_size", "diverged", "energy_start"):
        x, y = getattr(a.state, name), getattr(b.state, name)
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.state.key, a.state.step, a.state.first_chain) == (
        b.state.key, b.state.step, b.state.first_chain)


CASES = {
    "mala-adapt": (fe.mala, fe_dask.mala, (GAUSS, X0, 0.3, 30),
                   dict(burn_in=20, adapt=True, rng=3)),
    "langevin-moments": (fe.langevin, fe_dask.langevin, (GAUSS, X0, 0.1, 30),
                         dict(keep="moments", rng=3)),
    "random-walk": (fe.metropolis, fe_dask.metropolis, (GAUSS, X0, 30),
                    dict(scale=0.8, burn_in=10, adapt=True, rng=4)),
    "independent": (fe.metropolis, fe_dask.metropolis, (GAUSS, X0, 30),
                    dict(proposal=Q, rng=4)),
    "user-energy": (fe.mala, fe_dask.mala, (fe.energy(banana, dim=2), X0, 0.2, 30),
                    dict(rng=np.random.SeedSequence(5))),
    "fixed-inverse-mass": (fe.mala, fe_dask.mala, (GAUSS, X0, 0.3, 30),
                           dict(precondition=np.array([1.0, 0.5]), rng=6)),
    "gibbs": (fe.gibbs, fe_dask.gibbs,
              (RBM, (np.arange(N * 6).reshape(N, 6) % 3 == 0).astype(float), 20),
              dict(thin=2, rng=7)),
}


@pytest.mark.filterwarnings("ignore::fastebm.FiniteDifferenceWarning")
@pytest.mark.parametrize("name", CASES)
def test_a_cluster_run_is_the_local_run(client, name):
    local, remote, args, kwargs = CASES[name]
    expected = local(*args, **kwargs)
    got = remote(client, *args, chains_per_task=7, **kwargs)
    _same(got, expected)


def test_a_state_continues_on_the_cluster_or_locally(client):
    first = fe_dask.mala(client, GAUSS, X0, 0.3, 20, burn_in=10, adapt=True, rng=8,
                         chains_per_task=10)
    local_first = fe.mala(GAUSS, X0, 0.3, 20, burn_in=10, adapt=True, rng=8)
    _same(fe_dask.mala(client, GAUSS, first.state, None, 20, chains_per_task=9),
          fe.mala(GAUSS, local_first.state, None, 20))
    _same(fe.mala(GAUSS, first.state, None, 20), fe.mala(GAUSS, local_first.state, None, 20))


def test_first_chain_offsets_the_whole_cluster_run(client):
    _same(fe_dask.metropolis(client, GAUSS, X0, 20, rng=9, first_chain=100, chains_per_task=8),
          fe.metropolis(GAUSS, X0, 20, rng=9, first_chain=100))


def test_importance_sampling_on_the_cluster(client):
    local = fe.importance_sample(GAUSS, Q, 5000, rng=10)
    got = fe_dask.importance_sample(client, GAUSS, Q, 5000, rng=10, chains_per_task=900)
    np.testing.assert_array_equal(got.draws, local.draws)
    np.testing.assert_array_equal(got.log_weights, local.log_weights)
    assert (got.log_z, got.stderr, got.ess) == (local.log_z, local.stderr, local.ess)


@pytest.mark.parametrize("model", ["continuous", "rbm"])
def test_ais_on_the_cluster(client, model):
    if model == "continuous":
        args, kwargs = (GAUSS, Q, N, 30), dict(step_size=0.3, rng=11)
    else:
        args, kwargs = (RBM, None, N, 30), dict(rng=11)
    local = fe.ais(*args, **kwargs)
    got = fe_dask.ais(client, *args, chains_per_task=9, **kwargs)
    assert got == local  # every field, the steps of the schedule included


def test_bad_arguments(client):
    with pytest.raises(TypeError, match="dask.distributed.Client"):
        fe_dask.mala("tcp://nowhere:8786", GAUSS, X0, 0.3, 5, rng=0)
    with pytest.raises(ValueError, match="precondition"):  # a pooled Σ needs a burn-in
        fe_dask.mala(client, GAUSS, X0, 0.3, 5, burn_in=5, precondition="diag", rng=0)
    with pytest.raises(ValueError, match="n_chains, d"):
        fe_dask.mala(client, GAUSS, X0[0], 0.3, 5, burn_in=50, precondition="diag", rng=0)
    with pytest.raises(ValueError, match="independent proposal"):
        fe_dask.metropolis(client, GAUSS, X0, 5, proposal=Q, burn_in=50, precondition="diag")
    with pytest.raises(ValueError, match="precondition"):  # a typo is not a dense Σ
        fe_dask.mala(client, GAUSS, X0, 0.3, 5, burn_in=50, precondition="diagonal", rng=0)
    with pytest.raises(ValueError, match="n_chains, d"):
        fe_dask.mala(client, GAUSS, X0[0], 0.3, 5, rng=0)
    with pytest.raises(ValueError, match="chains_per_task"):
        fe_dask.mala(client, GAUSS, X0, 0.3, 5, rng=0, chains_per_task=0)


def test_without_dask_the_import_error_names_the_extra():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import fastebm\n"
            "try:\n    import fastebm.dask\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "fastebm[dask]" in out


def test_import_fastebm_does_not_import_dask():
    code = "import sys, fastebm; assert 'distributed' not in sys.modules and 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="a run long enough to be killed "
                    "mid-way takes minutes in pure Python")
def test_a_worker_killed_mid_run_costs_only_its_tasks():
    """A worker process of the test's own cluster is killed while its tasks run: Dask
    recomputes them elsewhere, and the result is still the local one."""
    import os
    import signal
    import threading
    import time

    cluster = _cluster()
    try:
        with distributed.Client(cluster) as c:
            x0 = np.random.default_rng(3).normal(size=(64, 2))
            fe_dask.metropolis(c, GAUSS, x0[:4], 2, rng=0, chains_per_task=2)  # warm workers
            pids = list(c.run(os.getpid).values())
            victim = pids[0]
            killer = threading.Timer(0.5, lambda: os.kill(victim, signal.SIGKILL))
            killer.start()
            start = time.perf_counter()
            got = fe_dask.metropolis(c, GAUSS, x0, 800_000, keep="moments", rng=12,
                                     chains_per_task=16)
            killer.join()
            # both workers were still busy when the kill came (two tasks each)
            assert time.perf_counter() - start > 1.5, "the run ended too soon after the kill"
            assert victim not in c.run(os.getpid).values()  # the worker did die
    finally:
        cluster.close()
    _same(got, fe.metropolis(GAUSS, x0, 800_000, keep="moments", rng=12))


def test_replicate_on_the_cluster(client):
    estimator = fe.ImportanceEstimator(GAUSS, Q, 500)
    local = fe.replicate(estimator, 40, rng=13, reference=GAUSS.log_partition())
    got = fe_dask.replicate(client, estimator, 40, rng=13, reference=GAUSS.log_partition(),
                            replicates_per_task=7)
    np.testing.assert_array_equal(got.values, local.values)
    assert got.table() == local.table()


def test_replicate_a_callable_on_the_cluster(client):
    import functools
    estimator = functools.partial(fe.importance_sample, GAUSS, Q, 300)
    local = fe.replicate(estimator, 12, rng=14)
    got = fe_dask.replicate(client, estimator, 12, rng=14, replicates_per_task=5)
    np.testing.assert_array_equal(got.values, local.values)


def test_reverse_ais_on_the_cluster(client):
    x_target = np.random.default_rng(15).multivariate_normal([0.5, -1.0],
                                                             [[1.0, 0.3], [0.3, 0.5]], size=N)
    local = fe.reverse_ais(GAUSS, Q, x_target, 30, step_size=0.3, rng=16)
    got = fe_dask.reverse_ais(client, GAUSS, Q, x_target, 30, step_size=0.3, rng=16,
                              chains_per_task=10)
    np.testing.assert_array_equal(got.log_weights, local.log_weights)
    assert (got.log_z, got.stderr, got.ess, got.bound) == (local.log_z, local.stderr,
                                                           local.ess, local.bound)


@pytest.mark.parametrize("name", ["mala-adapt", "random-walk", "gibbs"])
def test_draws_can_stay_on_the_cluster_as_a_dask_array(client, name):
    """draws="dask": a dask.array chunked by task whose values are the local run's;
    everything else is gathered as usual. keep="moments" keeps no draws to leave out."""
    import dask.array as da
    local, remote, args, kwargs = CASES[name]
    expected = local(*args, **kwargs)
    got = remote(client, *args, chains_per_task=7, draws="dask", **kwargs)
    assert isinstance(got.draws, da.Array)
    assert got.draws.chunks[1] == (7,) * (got.draws.shape[1] // 7) + (
        (got.draws.shape[1] % 7,) if got.draws.shape[1] % 7 else ())
    np.testing.assert_array_equal(got.draws.compute(), expected.draws)
    np.testing.assert_array_equal(got.acceptance_rate, expected.acceptance_rate)
    np.testing.assert_array_equal(got.state.position, expected.state.position)
    with pytest.raises(ValueError, match="draws"):
        remote(client, *args, draws="lazy", **kwargs)


def test_a_bar_moves_with_the_tasks_and_changes_nothing(client, capsys, monkeypatch):
    monkeypatch.delenv("FASTEBM_PROGRESS", raising=False)
    _same(fe_dask.mala(client, GAUSS, X0, 0.3, 20, rng=12, chains_per_task=7, progress=True),
          fe.mala(GAUSS, X0, 0.3, 20, rng=12))
    assert f"{len(X0)}/{len(X0)}" in capsys.readouterr().err
    got = fe_dask.importance_sample(client, GAUSS, Q, 3000, rng=13, chains_per_task=700,
                                    progress=True)
    np.testing.assert_array_equal(got.log_weights,
                                  fe.importance_sample(GAUSS, Q, 3000, rng=13).log_weights)
    est = fe.ImportanceEstimator(GAUSS, Q, 100)
    assert (fe_dask.replicate(client, est, 40, rng=14, replicates_per_task=9, progress=True)
            .values == fe.replicate(est, 40, rng=14).values).all()
    assert "40/40" in capsys.readouterr().err


BIG = np.random.default_rng(15).normal(size=(150, 2)) * 3.0
POOLED = {
    "mala-diag": (fe.mala, fe_dask.mala, (GAUSS, BIG, 0.3, 40),
                  dict(burn_in=150, adapt=True, precondition="diag", rng=16)),
    "mala-dense-moments": (fe.mala, fe_dask.mala, (GAUSS, BIG, 0.3, 40),
                           dict(burn_in=120, precondition="dense", keep="moments", rng=17)),
    "langevin-dense": (fe.langevin, fe_dask.langevin, (GAUSS, BIG, 0.1, 30),
                       dict(burn_in=100, adapt=True, precondition="dense", thin=3, rng=18)),
    "random-walk-dense": (fe.metropolis, fe_dask.metropolis, (GAUSS, BIG, 40),
                          dict(burn_in=200, adapt=True, precondition="dense", rng=19)),
}


@pytest.mark.parametrize("name", POOLED)
def test_a_pooled_preconditioner_on_the_cluster_is_the_local_one(client, name):
    """Σ from all chains in each burn-in window: shards cut on the chunks of the pooled
    moments (64 chains; here 3 tasks) give bitwise the local Σ, step sizes and draws."""
    local, remote, args, kwargs = POOLED[name]
    expected = local(*args, **kwargs)
    got = remote(client, *args, chains_per_task=50, **kwargs)
    assert got.inverse_mass is not None
    _same(got, expected)
    np.testing.assert_array_equal(got.state.position, expected.state.position)
    assert got.state.step == expected.state.step
    # negative control: Σ from one shard's chains only is another Σ
    alone = local(args[0], args[1][:64], *args[2:], **kwargs)
    assert not np.array_equal(alone.inverse_mass, expected.inverse_mass)


def test_a_pooled_random_walk_continues_with_its_adapted_scales(client):
    first = fe.metropolis(GAUSS, BIG, 10, burn_in=100, adapt=True, rng=21)
    _same(fe_dask.metropolis(client, GAUSS, first.state, 20, burn_in=60, precondition="diag",
                             chains_per_task=64),
          fe.metropolis(GAUSS, first.state, 20, burn_in=60, precondition="diag"))


def test_a_pooled_run_continues_on_the_cluster_and_shows_a_bar(client, capsys, monkeypatch):
    monkeypatch.delenv("FASTEBM_PROGRESS", raising=False)
    first = fe.mala(GAUSS, BIG, 0.3, 10, burn_in=100, adapt=True, precondition="diag", rng=20)
    got = fe_dask.mala(client, GAUSS, first.state, None, 20, burn_in=60, precondition="diag",
                       chains_per_task=64, progress=True)
    _same(got, fe.mala(GAUSS, first.state, None, 20, burn_in=60, precondition="diag"))
    assert "burn-in" in capsys.readouterr().err


def test_the_same_pooled_call_again_and_again(client):
    """Each call scatters its shards' states under keys of its own: with keys hashed from
    the data, the same call repeated lost its inputs to the previous call's releases."""
    local, remote, args, kwargs = POOLED["mala-diag"]
    expected = local(*args, **kwargs)
    for _ in range(4):
        _same(remote(client, *args, chains_per_task=50, **kwargs), expected)
