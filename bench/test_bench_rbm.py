"""RBM block Gibbs, PCD-1 training and AIS, against scikit-learn's BernoulliRBM and a
vectorized NumPy implementation in the same run (issue 3, item 8).

- Gibbs: 1000 chains × 1000 sweeps on 64 × 100 and 64 × 500 RBMs. fastebm keeps only
  the final state (``thin=n_steps``); scikit-learn calls ``gibbs()`` 1000 times.
  Targets: ≤ 0.6 s and ≤ 2.5 s, i.e. ≥ 1.67e6 and ≥ 4.0e5 chain-sweeps/s.
- PCD-1 on digits (1797 × 64, binarized at 8), 100 hidden units, batch 100, learning
  rate 0.05: ≤ 3 ms per epoch (≥ 333 epochs/s); scikit-learn's ``fit`` with the same
  settings, 10 epochs per round.
- AIS on a 64 × 500 RBM, 100 chains × 10⁴ linear temperatures: time reported.

Run: PYTHONPATH=. python -m pytest bench/test_bench_rbm.py --benchmark-enable -p no:cacheprovider
"""
import numpy as np
import pytest

import fastebm as fe
from fastebm.estimators.ais_discrete import ais_discrete

sklearn_rbm = pytest.importorskip("sklearn.neural_network")
datasets = pytest.importorskip("sklearn.datasets")

N_CHAINS, SWEEPS = 1000, 1000
TARGET = {100: N_CHAINS * SWEEPS / 0.6, 500: N_CHAINS * SWEEPS / 2.5}


def _rbm(n_hidden, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(64, n_hidden)) * 0.1, rng.normal(size=64) * 0.1, rng.normal(size=n_hidden) * 0.1


def _gibbs_workload(n_hidden):
    return f"RBM Gibbs 64x{n_hidden}, {N_CHAINS} chains x {SWEEPS} sweeps"


@pytest.fixture(scope="module")
def digits():
    return (datasets.load_digits().data > 7).astype(float)


@pytest.mark.parametrize("n_hidden", [100, 500])
def test_gibbs_fastebm(benchmark, report, n_hidden):
    benchmark.group = _gibbs_workload(n_hidden)
    rbm = fe.BernoulliRBM(*_rbm(n_hidden))
    v0 = np.zeros((N_CHAINS, 64))
    fe.gibbs(rbm, v0, 2, rng=0)  # compile outside the timing
    benchmark.pedantic(fe.gibbs, args=(rbm, v0, SWEEPS), kwargs={"thin": SWEEPS, "rng": 0},
                       rounds=3, iterations=1)
    report(_gibbs_workload(n_hidden), "fastebm fe.gibbs", N_CHAINS * SWEEPS, "chain-sweeps/s",
           target=TARGET[n_hidden])


@pytest.mark.parametrize("n_hidden", [100, 500])
def test_gibbs_sklearn(benchmark, report, n_hidden):
    benchmark.group = _gibbs_workload(n_hidden)
    W, b, c = _rbm(n_hidden)
    model = sklearn_rbm.BernoulliRBM(n_components=n_hidden)
    model.components_, model.intercept_hidden_, model.intercept_visible_ = W.T.copy(), c, b
    model.random_state_ = np.random.RandomState(0)

    def run():
        v = np.zeros((N_CHAINS, 64))
        for _ in range(SWEEPS):
            v = model.gibbs(v)
        return v

    benchmark.pedantic(run, rounds=1, iterations=1)
    report(_gibbs_workload(n_hidden), "scikit-learn gibbs()", N_CHAINS * SWEEPS, "chain-sweeps/s")


@pytest.mark.parametrize("n_hidden", [100, 500])
def test_gibbs_numpy(benchmark, report, n_hidden):
    benchmark.group = _gibbs_workload(n_hidden)
    W, b, c = _rbm(n_hidden)
    WT = np.ascontiguousarray(W.T)

    def run():
        rng = np.random.default_rng(0)
        v = np.zeros((N_CHAINS, 64))
        for _ in range(SWEEPS):
            h = (rng.random((N_CHAINS, n_hidden)) * (1 + np.exp(-(v @ W + c))) < 1).astype(float)
            v = (rng.random((N_CHAINS, 64)) * (1 + np.exp(-(h @ WT + b))) < 1).astype(float)
        return v

    benchmark.pedantic(run, rounds=1, iterations=1)
    report(_gibbs_workload(n_hidden), "NumPy vectorized", N_CHAINS * SWEEPS, "chain-sweeps/s",
           baseline=True)


PCD = "PCD-1 on digits, 64x100, batch 100, 10 epochs"


MONITORING = {"no monitor": dict(monitor=()),
              "default monitor (128 rows)": dict(),
              "monitor every row": dict(monitor_rows=None)}


@pytest.mark.parametrize("monitoring", MONITORING)
def test_pcd_fastebm(benchmark, report, digits, monitoring):
    """fe.fit with its default per-epoch reconstruction error (on a fixed subsample), with
    none, and on every row (the default until 2026-12-04)."""
    benchmark.group = PCD
    rbm = fe.BernoulliRBM(np.random.default_rng(0).normal(size=(64, 100)) * 0.01, np.zeros(64),
                          np.zeros(100))
    kwargs = dict(method="pcd", learning_rate=0.05, batch_size=100, rng=0,
                  **MONITORING[monitoring])
    fe.fit(rbm, digits, n_epochs=1, **kwargs)  # compile
    result = benchmark.pedantic(fe.fit, args=(rbm, digits), kwargs=dict(n_epochs=10, **kwargs),
                                rounds=5, iterations=1)
    per_epoch = result.history["seconds"][-1] / 10
    report(PCD, f"fastebm fe.fit, {monitoring}", 10, "epochs/s", target=1 / 0.003,
           note=f"training loop alone {per_epoch * 1e3:.2f} ms/epoch")


def test_pcd_sklearn(benchmark, report, digits):
    benchmark.group = PCD
    model = sklearn_rbm.BernoulliRBM(n_components=100, learning_rate=0.05, batch_size=100,
                                     n_iter=10, random_state=0)
    benchmark.pedantic(model.fit, args=(digits,), rounds=5, iterations=1)
    report(PCD, "scikit-learn fit", 10, "epochs/s", baseline=True)


AIS = "AIS on a 64x500 RBM, 100 chains x 10^4 temperatures"


def test_ais_fastebm(benchmark, report, digits):
    benchmark.group = AIS
    rbm = fe.BernoulliRBM(*_rbm(500))
    ais_discrete(rbm, digits, 4, 3, rng=0)  # compile
    est = benchmark.pedantic(ais_discrete, args=(rbm, digits, 100, 10_000), kwargs={"rng": 0},
                             rounds=1, iterations=1)
    report(AIS, "fastebm AIS", 100 * 10_000, "chain-temperatures/s",
           note=f"log Z = {est.log_z:.3f} ± {est.stderr:.3f}, ESS {est.ess:.0f}")
