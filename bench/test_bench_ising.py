"""Ising Gibbs sweeps: fastebm against vectorized NumPy in the same run. Figure: spin-flips/s
(site updates per second, n_chains × n_spins × sweeps / time).

- Checkerboard heat-bath sweeps of a periodic 64 × 64 lattice at the critical coupling
  0.4407, 1000 chains (``fe.gibbs`` on ``fe.Ising.lattice``), against the NumPy
  checkerboard below (whole-array neighbour sums by ``np.roll``, a five-entry
  probability table, uniforms from ``np.random.default_rng``).
- Sequential single-site sweeps of a dense n = 100 model (couplings N(0, 0.1²)), 1000
  chains, against a NumPy sweep vectorized over chains (one matrix-vector product per
  site).

fastebm is timed sweeps only (``burn_in``, no draws kept: 1000 chains × 4096 spins would
be 33 MB per kept sweep) and with ``keep="moments"``. The NumPy versions agree with
fastebm in distribution, not draw for draw. No target is set by the issue; figures are
reported, never asserted.

Knobs: ``FASTEBM_BENCH_ISING_SWEEPS`` (lattice, default 20), ``FASTEBM_BENCH_DENSE_SWEEPS``
(dense, default 100).
"""
import os

import numpy as np
import pytest

import fastebm as fe

N_CHAINS = 1000
SIDE = 64
COUPLING = 0.4407
SWEEPS = int(os.environ.get("FASTEBM_BENCH_ISING_SWEEPS", 20))
DENSE_N = 100
DENSE_SWEEPS = int(os.environ.get("FASTEBM_BENCH_DENSE_SWEEPS", 100))
LATTICE = f"Ising {SIDE}x{SIDE} checkerboard, {N_CHAINS} chains x {SWEEPS} sweeps"
DENSE = f"Ising dense n={DENSE_N} sequential, {N_CHAINS} chains x {DENSE_SWEEPS} sweeps"


# -- NumPy baselines -------------------------------------------------------------------------
def numpy_checkerboard(s, coupling, field, n_sweeps, rng):
    """Checkerboard heat-bath sweeps of spins s (n_chains, L, M) int8 on a periodic lattice."""
    L, M = s.shape[1:]
    odd = (np.add.outer(np.arange(L), np.arange(M)) % 2).astype(bool)
    sums = np.arange(-4, 5, 2)
    p_up = 1.0 / (1.0 + np.exp(-2.0 * (coupling * sums + field)))
    for _ in range(n_sweeps):
        for mask in (~odd, odd):
            nsum = (np.roll(s, 1, axis=1) + np.roll(s, -1, axis=1) + np.roll(s, 1, axis=2)
                    + np.roll(s, -1, axis=2))
            new = np.where(rng.random(s.shape) < p_up[(nsum + 4) >> 1], 1, -1).astype(np.int8)
            s = np.where(mask, new, s)
    return s


def numpy_sequential(s, J, h, n_sweeps, rng):
    """Sequential heat-bath sweeps of spins s (n_chains, n), all chains at once."""
    s = s.copy()
    for _ in range(n_sweeps):
        u = rng.random(s.shape)
        for i in range(s.shape[1]):
            a = 2.0 * (s @ J[i] + h[i])
            s[:, i] = np.where(u[:, i] * (1.0 + np.exp(-a)) < 1.0, 1.0, -1.0)
    return s


# -- workloads ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lattice_start():
    return np.where(np.random.default_rng(3).random((N_CHAINS, SIDE * SIDE)) < 0.5, 1.0, -1.0)


@pytest.fixture(scope="module")
def dense_model():
    rng = np.random.default_rng(4)
    J = np.triu(rng.normal(size=(DENSE_N, DENSE_N)) * 0.1, 1)
    s0 = np.where(rng.random((N_CHAINS, DENSE_N)) < 0.5, 1.0, -1.0)
    return J + J.T, rng.normal(size=DENSE_N) * 0.1, s0


def _run(model, s0, sweeps, keep):
    if keep == "sweeps":
        return fe.gibbs(model, s0, 0, burn_in=sweeps, rng=0)
    return fe.gibbs(model, s0, sweeps, keep="moments", rng=0)


@pytest.mark.parametrize("keep", ["sweeps", "moments"])
def test_fastebm_checkerboard(benchmark, report, lattice_start, keep):
    benchmark.group = LATTICE
    model = fe.Ising.lattice(SIDE, SIDE, COUPLING)
    assert model.sweep == "checkerboard"
    _run(model, lattice_start[:2], 1, keep)  # compile (or load the cache) outside the timing
    benchmark.pedantic(_run, args=(model, lattice_start, SWEEPS, keep), rounds=3, iterations=1)
    report(LATTICE, f"fastebm ({keep})", N_CHAINS * SIDE * SIDE * SWEEPS, "spin-flips/s")


def test_numpy_checkerboard(benchmark, report, lattice_start):
    benchmark.group = LATTICE
    s0 = lattice_start.reshape(N_CHAINS, SIDE, SIDE).astype(np.int8)
    benchmark.pedantic(lambda: numpy_checkerboard(s0, COUPLING, 0.0, SWEEPS,
                                                  np.random.default_rng(0)),
                       rounds=3, iterations=1)
    report(LATTICE, "NumPy vectorized", N_CHAINS * SIDE * SIDE * SWEEPS, "spin-flips/s",
           baseline=True)


@pytest.mark.parametrize("keep", ["sweeps", "moments"])
def test_fastebm_dense(benchmark, report, dense_model, keep):
    benchmark.group = DENSE
    J, h, s0 = dense_model
    model = fe.Ising(J, h)
    _run(model, s0[:2], 1, keep)
    benchmark.pedantic(_run, args=(model, s0, DENSE_SWEEPS, keep), rounds=3, iterations=1)
    report(DENSE, f"fastebm ({keep})", N_CHAINS * DENSE_N * DENSE_SWEEPS, "spin-flips/s")


def test_numpy_dense(benchmark, report, dense_model):
    benchmark.group = DENSE
    J, h, s0 = dense_model
    benchmark.pedantic(lambda: numpy_sequential(s0, J, h, DENSE_SWEEPS,
                                                np.random.default_rng(0)),
                       rounds=3, iterations=1)
    report(DENSE, "NumPy vectorized", N_CHAINS * DENSE_N * DENSE_SWEEPS, "spin-flips/s",
           baseline=True)
