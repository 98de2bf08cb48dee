"""Cost per iteration of each gradient estimator (issue 5, item 9).

- 10-d Gaussian EBM (θ = (μ, vech P), 65 parameters), mini-batch 100: one optimizer
  iteration of ``fe.fit`` for "cd", "pcd" (k = 1 ULA step, h = 0.05), "nce" (ν = 1),
  "sm", "dsm" (σ = 0.1) and "ssm", each timed over 5 epochs of 10 iterations, against a
  vectorized NumPy implementation of the same gradient and Adam step (cd, pcd, nce, sm).
- The digits RBM (64 × 100, batch 100): one CD-1 / PCD-1 update inside ``fe.fit``'s
  compiled epoch, against scikit-learn's ``partial_fit`` on one batch.

Run: PYTHONPATH=. python -m pytest bench/test_bench_estimators.py --benchmark-enable -p no:cacheprovider
"""
import numpy as np
import pytest

import fastebm as fe

D, N, BATCH = 10, 1000, 100
ROWS, COLS = np.tril_indices(D)
WEIGHT = np.where(ROWS == COLS, 0.5, 1.0)


@pytest.fixture(scope="module")
def gaussian_data():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(D, D))
    precision = a @ a.T / D + np.eye(D)
    return rng.multivariate_normal(np.zeros(D), np.linalg.inv(precision), size=N)


def _workload(method):
    return f"fit iteration, 10-d Gaussian EBM, batch {BATCH}: {method}"


OPTIONS = {"cd": dict(step_size=0.05), "pcd": dict(step_size=0.05),
           "nce": dict(noise=fe.proposals.Gaussian(np.zeros(D), 4.0 * np.eye(D))),
           "sm": {}, "dsm": dict(sigma=0.1), "ssm": {}}


@pytest.mark.parametrize("method", sorted(OPTIONS))
def test_fastebm_iteration(benchmark, report, gaussian_data, method):
    benchmark.group = _workload(method)
    start = fe.Gaussian(np.zeros(D), precision=np.eye(D))
    kwargs = dict(n_epochs=5, batch_size=BATCH, learning_rate=1e-3, rng=0, **OPTIONS[method])
    fe.fit(start, gaussian_data, method, **dict(kwargs, n_epochs=1))  # compile
    result = benchmark.pedantic(fe.fit, args=(start, gaussian_data, method), kwargs=kwargs,
                                rounds=3, iterations=1)
    report(_workload(method), f"fastebm fe.fit({method!r})", result.history["iteration"][-1],
           "iterations/s")


# --- the NumPy baseline: the same gradients, vectorized, with the same Adam step ---------

def _grad_theta(x, mu, P):
    r = x - mu
    return np.hstack([-r @ P, WEIGHT * r[:, ROWS] * r[:, COLS]])


def _gradient(method, batch, mu, P, rng, state):
    if method in ("cd", "pcd"):
        x = batch if method == "cd" else state.setdefault("chains", batch.copy())
        x = x - 0.05 * (x - mu) @ P + np.sqrt(0.1) * rng.standard_normal(x.shape)
        if method == "pcd":
            state["chains"] = x
        return _grad_theta(batch, mu, P).mean(0) - _grad_theta(x, mu, P).mean(0)
    if method == "nce":
        y = rng.standard_normal(batch.shape) * 2.0
        log_q = -0.5 * np.sum(y * y, 1) / 4.0 - D / 2 * np.log(8 * np.pi)
        log_qx = -0.5 * np.sum(batch * batch, 1) / 4.0 - D / 2 * np.log(8 * np.pi)

        def logit(z, lq):
            r = z - mu
            return -0.5 * np.einsum("ij,jk,ik->i", r, P, r) - state.get("c", 0.0) - lq
        h_x, h_y = 1 / (1 + np.exp(-logit(batch, log_qx))), 1 / (1 + np.exp(-logit(y, log_q)))
        g = ((1 - h_x)[:, None] * _grad_theta(batch, mu, P)).mean(0) - (
            h_y[:, None] * _grad_theta(y, mu, P)).mean(0)
        return np.append(g, np.mean(1 - h_x) - np.mean(h_y))
    r = batch - mu  # exact score matching: J = mean ½‖P r‖² - tr P
    pr = r @ P
    outer = pr.T @ r / len(batch)
    full = 0.5 * (outer + outer.T) - np.eye(D)
    return np.concatenate([-P @ pr.mean(0), np.where(ROWS == COLS, 1.0, 2.0) * full[ROWS, COLS]])


def _numpy_fit(method, data, n_epochs):
    rng = np.random.default_rng(0)
    mu, P = np.zeros(D), np.eye(D)
    theta = np.concatenate([mu, P[ROWS, COLS]])
    size = theta.size + (method == "nce")
    m, s, t, state = np.zeros(size), np.zeros(size), 0, {}
    for _ in range(n_epochs):
        order = rng.permutation(len(data))
        for start in range(0, len(data), BATCH):
            g = _gradient(method, data[order[start:start + BATCH]], mu, P, rng, state)
            t += 1
            m, s = 0.9 * m + 0.1 * g, 0.999 * s + 0.001 * g * g
            params = np.append(theta, state.get("c", 0.0)) if method == "nce" else theta
            params = params - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
            theta = params[:theta.size]
            if method == "nce":
                state["c"] = params[-1]
            mu = theta[:D]
            P = np.zeros((D, D))
            P[ROWS, COLS] = theta[D:]
            P = P + np.tril(P, -1).T
            np.linalg.cholesky(P)  # the parameter-space check fe.fit makes
    return t


@pytest.mark.parametrize("method", ["cd", "nce", "pcd", "sm"])
def test_numpy_iteration(benchmark, report, gaussian_data, method):
    benchmark.group = _workload(method)
    iterations = benchmark.pedantic(_numpy_fit, args=(method, gaussian_data, 5), rounds=3,
                                    iterations=1)
    report(_workload(method), "NumPy vectorized", iterations, "iterations/s", baseline=True)


RBM = "CD-1 / PCD-1 update on digits, 64x100, batch 100"


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    return (datasets.load_digits().data > 7).astype(float)


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_rbm_update_fastebm(benchmark, report, digits, method):
    benchmark.group = RBM
    rbm = fe.BernoulliRBM(np.random.default_rng(0).normal(size=(64, 100)) * 0.01, np.zeros(64),
                          np.zeros(100))
    kwargs = dict(method=method, n_epochs=10, batch_size=100, monitor=(), rng=0)
    fe.fit(rbm, digits, **dict(kwargs, n_epochs=1))
    benchmark.pedantic(fe.fit, args=(rbm, digits), kwargs=kwargs, rounds=3, iterations=1)
    report(RBM, f"fastebm fe.fit({method!r})", 10 * 18, "updates/s")


def test_rbm_update_sklearn(benchmark, report, digits):
    benchmark.group = RBM
    nn = pytest.importorskip("sklearn.neural_network")
    model = nn.BernoulliRBM(n_components=100, learning_rate=0.05, random_state=0)
    model.partial_fit(digits[:100])
    batches = [digits[i:i + 100] for i in range(0, len(digits), 100)]

    def run():
        for _ in range(10):
            for b in batches:
                model.partial_fit(b)

    benchmark.pedantic(run, rounds=3, iterations=1)
    report(RBM, "scikit-learn partial_fit (PCD-1)", 10 * len(batches), "updates/s",
           baseline=True)
