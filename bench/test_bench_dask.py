"""fastebm.dask on a LocalCluster: W1 MALA on 1 and 2 worker processes against the local
call in the same run, and Dask's cost per task.

W1: MALA on the d=100 Gaussian of condition 100, 1000 chains × 1000 steps,
``keep="moments"``, 500 chains per task. Per task: 200 tasks of 2 chains × 1 step, the
wall time divided by 200 (the cost a task adds, for sizing ``chains_per_task``).
"""
import numpy as np
import pytest

import fastebm as fe

distributed = pytest.importorskip("distributed")
fe_dask = pytest.importorskip("fastebm.dask")
STEPS = 1000


def _cluster(n_workers):
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", env={"NUMBA_NUM_THREADS": "1"})


@pytest.mark.parametrize("n_workers", [1, 2])
def test_w1_mala_on_workers(benchmark, report, gaussian, n_workers):
    benchmark.group = "dask: W1 MALA"
    args = (gaussian["energy"], gaussian["x0"], gaussian["step_size"])
    with _cluster(n_workers) as cluster, distributed.Client(cluster) as client:
        fe_dask.mala(client, *args, 2, rng=0, keep="moments", chains_per_task=500)  # warm
        benchmark.pedantic(fe_dask.mala, args=(client,) + args + (STEPS,),
                           kwargs={"rng": 0, "keep": "moments", "chains_per_task": 500},
                           rounds=3, iterations=1)
    report("dask: W1 MALA", f"{n_workers} worker(s) x 1 thread", 1000 * STEPS, "chain-steps/s")


def test_w1_mala_local(benchmark, report, gaussian):
    benchmark.group = "dask: W1 MALA"
    args = (gaussian["energy"], gaussian["x0"], gaussian["step_size"])
    fe.mala(*args, 2, rng=0, keep="moments")
    benchmark.pedantic(fe.mala, args=args + (STEPS,), kwargs={"rng": 0, "keep": "moments"},
                       rounds=3, iterations=1)
    report("dask: W1 MALA", "local, all threads", 1000 * STEPS, "chain-steps/s", baseline=True)


def test_cost_per_task(benchmark, report):
    benchmark.group = "dask: per task"
    energy = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    x0 = np.zeros((400, 2))
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        fe_dask.mala(client, energy, x0[:4], 0.1, 1, rng=0, chains_per_task=2)
        benchmark.pedantic(fe_dask.mala, args=(client, energy, x0, 0.1, 1),
                           kwargs={"rng": 0, "chains_per_task": 2}, rounds=3, iterations=1)
    report("dask: per task", "200 tasks of 2 chains x 1 step", 200, "tasks/s")


REPLICATES = "dask: IS replicate study, 10^4 replicates x 1000 draws (d=10 Gaussian)"


def _replicate_study():
    energy = fe.Gaussian(np.zeros(10), covariance=np.linspace(0.5, 2.0, 10))
    proposal = fe.proposals.Gaussian(np.zeros(10), np.full(10, 3.0))
    return fe.ImportanceEstimator(energy, proposal, 1000), energy.log_partition()


@pytest.mark.parametrize("n_workers", [1, 2])
def test_is_replicate_study_on_workers(benchmark, report, n_workers):
    """A variance study of the IS estimator of log Z (issue 14): 10⁴ replicates, 2500 per
    task, against the local fe.replicate (one compiled call) in the same run."""
    benchmark.group = REPLICATES
    estimator, log_z = _replicate_study()
    with _cluster(n_workers) as cluster, distributed.Client(cluster) as client:
        fe_dask.replicate(client, estimator, 8, rng=0, replicates_per_task=4)  # warm
        benchmark.pedantic(fe_dask.replicate, args=(client, estimator, 10_000),
                           kwargs={"rng": 0, "reference": log_z, "replicates_per_task": 2500},
                           rounds=3, iterations=1)
    report(REPLICATES, f"{n_workers} worker(s) x 1 thread", 10_000, "replicates/s")


def test_is_replicate_study_local(benchmark, report):
    benchmark.group = REPLICATES
    estimator, log_z = _replicate_study()
    fe.replicate(estimator, 8, rng=0)
    benchmark.pedantic(fe.replicate, args=(estimator, 10_000),
                       kwargs={"rng": 0, "reference": log_z}, rounds=3, iterations=1)
    report(REPLICATES, "local, all threads", 10_000, "replicates/s", baseline=True)


POOLED = "dask: W1 MALA, burn-in 500 with a pooled diagonal preconditioner"
POOLED_ARGS = dict(burn_in=500, adapt=True, precondition="diag", keep="moments")


def test_pooled_preconditioner_on_workers(benchmark, report, gaussian):
    """A pooled Σ (issue 14): the client drives the burn-in's 7 windows, a task per shard
    each, then the 1000 kept steps; the local call with the same options as baseline."""
    benchmark.group = POOLED
    args = (gaussian["energy"], gaussian["x0"], gaussian["step_size"])
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        fe_dask.mala(client, *args, 2, rng=0, chains_per_task=512, **POOLED_ARGS)  # warm
        benchmark.pedantic(fe_dask.mala, args=(client,) + args + (STEPS,),
                           kwargs=dict(rng=0, chains_per_task=512, **POOLED_ARGS),
                           rounds=3, iterations=1)
    report(POOLED, "2 workers x 1 thread", 1000 * (STEPS + 500), "chain-steps/s")


def test_pooled_preconditioner_local(benchmark, report, gaussian):
    benchmark.group = POOLED
    args = (gaussian["energy"], gaussian["x0"], gaussian["step_size"])
    fe.mala(*args, 2, rng=0, **POOLED_ARGS)
    benchmark.pedantic(fe.mala, args=args + (STEPS,), kwargs=dict(rng=0, **POOLED_ARGS),
                       rounds=3, iterations=1)
    report(POOLED, "local, all threads", 1000 * (STEPS + 500), "chain-steps/s", baseline=True)
