"""Score matching (SM, DSM, SSM): cost of one loss-and-θ-gradient evaluation on a 10-d
Gaussian EBM (dense precision) with a batch of 1000 data points (issue 5, item 9).

fastebm (``fe.score_matching_loss``, ``fe.dsm_loss`` with 4 perturbations per point,
``fe.ssm_loss`` with 4 projections per point) against vectorized NumPy implementations
of the same formulas for a Gaussian (below, NumPy's generator for the noise), in the
same run. Figure: data points per second (one loss + gradient per batch).
"""
import numpy as np
import pytest

import fastebm as fe
from numpy_baselines import gaussian_draws, ill_conditioned_gaussian

DIM, N, M, SIGMA = 10, 1000, 4, 0.1
ROWS, COLS = np.tril_indices(DIM)
OFF = np.where(ROWS == COLS, 1.0, 2.0)


def _setup():
    mean, precision = ill_conditioned_gaussian(DIM, 10.0, seed=5)
    data = gaussian_draws(mean, precision, N, seed=6)
    return fe.Gaussian(np.zeros(DIM), precision=np.eye(DIM) * 0.9), data


def _vech_grad(matrix):
    """θ's vech entries of a symmetric gradient matrix (off-diagonals count twice)."""
    return OFF * matrix[ROWS, COLS]


def numpy_sm(mean, prec, x):
    pr = (x - mean) @ prec
    loss = 0.5 * np.mean(np.sum(pr * pr, axis=1)) - np.trace(prec)
    outer = pr.T @ (x - mean) / len(x)
    grad_p = _vech_grad(0.5 * (outer + outer.T) - np.eye(DIM))
    return loss, np.concatenate([-prec @ pr.mean(axis=0), grad_p])


def numpy_dsm(mean, prec, x, rng):
    eps = rng.standard_normal((len(x) * M, DIM))
    noisy = np.repeat(x, M, axis=0) + SIGMA * eps
    res = (noisy - mean) @ prec - eps / SIGMA
    loss = 0.5 * np.mean(np.sum(res * res, axis=1))
    outer = res.T @ (noisy - mean) / len(noisy)
    return loss, np.concatenate([-prec @ res.mean(axis=0), _vech_grad(0.5 * (outer + outer.T))])


def numpy_ssm(mean, prec, x, rng):
    v = rng.standard_normal((len(x) * M, DIM))
    r = np.repeat(x, M, axis=0) - mean
    slope = np.sum((r @ prec) * v, axis=1)
    loss = np.mean(0.5 * slope ** 2 - np.sum((v @ prec) * v, axis=1))
    sv = slope[:, None] * v
    outer = sv.T @ r / len(r)
    grad_p = _vech_grad(0.5 * (outer + outer.T) - v.T @ v / len(v))
    return loss, np.concatenate([-prec @ sv.mean(axis=0), grad_p])


FASTEBM = {
    "sm": lambda E, x: fe.score_matching_loss(E, x),
    "dsm": lambda E, x: fe.dsm_loss(E, x, SIGMA, n_noise=M, rng=0),
    "ssm": lambda E, x: fe.ssm_loss(E, x, n_projections=M, rng=0),
}
NUMPY = {
    "sm": lambda E, x: numpy_sm(E.mean, E.precision, x),
    "dsm": lambda E, x: numpy_dsm(E.mean, E.precision, x, np.random.default_rng(0)),
    "ssm": lambda E, x: numpy_ssm(E.mean, E.precision, x, np.random.default_rng(0)),
}


def _workload(name):
    extra = {"sm": "", "dsm": f", {M} perturbations/point", "ssm": f", {M} projections/point"}
    return f"{name.upper()} loss+grad, Gaussian d={DIM}, batch {N}{extra[name]}"


def test_numpy_baselines_agree_with_fastebm():
    """SM is deterministic: equal. DSM/SSM draw different noise: equal in expectation,
    so compare against a long run's mean only loosely (the losses' scale is O(10²))."""
    energy, data = _setup()
    np.testing.assert_allclose(NUMPY["sm"](energy, data)[1], FASTEBM["sm"](energy, data)[1],
                               rtol=1e-10, atol=1e-12)
    for name in ("dsm", "ssm"):
        ours, theirs = FASTEBM[name](energy, data), NUMPY[name](energy, data)
        assert abs(ours[0] - theirs[0]) < 0.1 * abs(theirs[0]) + 1.0, name


@pytest.mark.parametrize("name", ["sm", "dsm", "ssm"])
def test_fastebm(benchmark, report, name):
    benchmark.group = _workload(name)
    energy, data = _setup()
    FASTEBM[name](energy, data)  # compile (or load the cache) outside the timing
    benchmark.pedantic(FASTEBM[name], args=(energy, data), rounds=20, iterations=1)
    report(_workload(name), "fastebm", N, "points/s")


@pytest.mark.parametrize("name", ["sm", "dsm", "ssm"])
def test_numpy(benchmark, report, name):
    benchmark.group = _workload(name)
    energy, data = _setup()
    benchmark.pedantic(NUMPY[name], args=(energy, data), rounds=20, iterations=1)
    report(_workload(name), "NumPy vectorized", N, "points/s", baseline=True)
