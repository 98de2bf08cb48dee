"""Standard normals (and uniforms) on Philox streams against NumPy's generator, same run.

fastebm draws every random number from one Philox4x32-10 stream per chain
(``fastebm._kernels.numba.philox``); the samplers call ``fill_normals`` once per chain
and step inside a ``prange`` loop over chains, into a row of a C-contiguous
(n_chains, d) array. That is what is timed here, for d = 100 and 1000 or 10⁴ chains,
against ``numpy.random.default_rng().standard_normal`` (ziggurat on PCG64, one thread)
filling an array of the same size, and against Box-Muller on the same Philox words.
Figure: normals/s; ``benchmark.extra_info`` also holds ns per normal, wall clock and
per core (wall × Numba threads). The Philox kernels run on one thread and on all of
them: on a shared machine the one-thread figure is the steadier per-core one (a parallel
region waits for its slowest thread). PERFORMANCE.md's estimate for the vectorized
ziggurat: about 1.8 ns per normal per core with 512-bit vectors (LLVM's choice on Zen 4;
on the Intel cores it knows it prefers 256-bit ones, and the loops take longer).

    PYTHONPATH=. python -m pytest bench/test_bench_rng.py --benchmark-enable -p no:cacheprovider
"""
import numba
import numpy as np
import pytest
from numba import njit, prange

from fastebm._kernels.numba.philox import (fill_normals, fill_normals_rows, fill_uniforms,
                                           philox4x32, words_to_uniform)

DIM = 100
KEY = (0x2024, 0x0611)
STEP = 7
CHAINS = [1000, 10_000]
THREADS = sorted({1, numba.config.NUMBA_NUM_THREADS})


@pytest.fixture(params=THREADS, ids=lambda t: f"{t}thr")
def threads(request):
    """Numba threads for the Philox kernels (restored afterwards)."""
    before = numba.get_num_threads()
    numba.set_num_threads(request.param)
    yield request.param
    numba.set_num_threads(before)


@njit(parallel=True, cache=True)
def _philox_normals(k0, k1, step, out):
    for i in prange(out.shape[0]):
        fill_normals(k0, k1, i, step, 0, out[i])


@njit(parallel=True, cache=True)
def _philox_uniforms(k0, k1, step, out):
    for i in prange(out.shape[0]):
        fill_uniforms(k0, k1, i, step, 0, out[i])


@njit(parallel=True, cache=True)
def _philox_box_muller(k0, k1, step, out):
    """Box-Muller on the same Philox blocks: one block (two uniforms) per pair of normals."""
    for i in prange(out.shape[0]):
        row = out[i]
        for b in range(row.shape[0] >> 1):
            w0, w1, w2, w3 = philox4x32(b, step, i, 0, k0, k1)
            r = np.sqrt(-2.0 * np.log(words_to_uniform(w0, w1)))
            t = 2.0 * np.pi * words_to_uniform(w2, w3)
            row[2 * b] = r * np.cos(t)
            row[2 * b + 1] = r * np.sin(t)


def _workload(what, n_chains):
    return f"{what}: {n_chains} chains x {DIM} per call"


def _time(benchmark, report, what, n_chains, label, fn, *, threads=None, baseline=False):
    """Benchmark ``fn()``, which fills an (n_chains, DIM) array, and record its rate.

    ``threads``: Numba's threads, None for NumPy (one thread).
    """
    benchmark.group = _workload(what, n_chains)
    if threads is not None:
        label += f", {threads} thread" + "s" * (threads > 1)
    fn()  # compile, or load the cache, outside the timing
    benchmark(fn)
    cores = threads or 1
    rate = report(_workload(what, n_chains), label, n_chains * DIM, f"{what}/s",
                  baseline=baseline, threads=cores)
    if rate is not None:
        benchmark.extra_info[f"ns per {what[:-1]} (wall)"] = 1e9 / rate
        benchmark.extra_info[f"ns per {what[:-1]} per core"] = 1e9 * cores / rate


@pytest.mark.parametrize("n_chains", CHAINS)
def test_philox_ziggurat(benchmark, report, n_chains, threads):
    out = np.empty((n_chains, DIM))
    _time(benchmark, report, "normals", n_chains, "fastebm ziggurat",
          lambda: _philox_normals(*KEY, STEP, out), threads=threads)
    assert np.all(np.isfinite(out)) and abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05


@pytest.mark.parametrize("n_chains", CHAINS)
def test_philox_box_muller(benchmark, report, n_chains, threads):
    out = np.empty((n_chains, DIM))
    _time(benchmark, report, "normals", n_chains, "Box-Muller on Philox",
          lambda: _philox_box_muller(*KEY, STEP, out), threads=threads)
    assert np.all(np.isfinite(out)) and abs(out.std() - 1) < 0.05


@pytest.mark.parametrize("n_chains", CHAINS)
def test_numpy_standard_normal(benchmark, report, n_chains):
    out = np.empty((n_chains, DIM))
    rng = np.random.default_rng(0)
    _time(benchmark, report, "normals", n_chains, "NumPy standard_normal",
          lambda: rng.standard_normal(out=out), baseline=True)


@pytest.mark.parametrize("n_chains", CHAINS)
def test_philox_uniforms(benchmark, report, n_chains, threads):
    out = np.empty((n_chains, DIM))
    _time(benchmark, report, "uniforms", n_chains, "fastebm uniforms",
          lambda: _philox_uniforms(*KEY, STEP, out), threads=threads)
    assert 0.0 < out.min() and out.max() < 1.0


@pytest.mark.parametrize("n_chains", CHAINS)
def test_numpy_random(benchmark, report, n_chains):
    out = np.empty((n_chains, DIM))
    rng = np.random.default_rng(0)
    _time(benchmark, report, "uniforms", n_chains, "NumPy random",
          lambda: rng.random(out=out), baseline=True)


ROWS_BLOCK = 32  # the samplers' chain block
ROWS_DIMS = [64, 100, 200, 500]


@njit(parallel=True, cache=True)
def _philox_normals_by_blocks(k0, k1, step, out):
    """What the Langevin kernels do up to ``ROWS_NORMALS_MAX_DIM``: the normals of a
    block of chains drawn across its rows at once (``fill_normals_rows``)."""
    n, d = out.shape
    for b in prange(n // ROWS_BLOCK):
        buf = np.empty((d + 1, ROWS_BLOCK))
        fill_normals_rows(k0, k1, b * ROWS_BLOCK, step, 0,
                          out[b * ROWS_BLOCK:(b + 1) * ROWS_BLOCK], buf)


@pytest.mark.parametrize("dim", ROWS_DIMS)
@pytest.mark.parametrize("how", ["by blocks of 32 rows", "row by row"])
def test_philox_normals_rows(benchmark, report, how, dim):
    """Row by row against across a block's rows: sets ``ROWS_NORMALS_MAX_DIM``."""
    out = np.empty((1024, dim))
    fill = _philox_normals_by_blocks if how.startswith("by blocks") else _philox_normals
    workload = f"normals: 1024 chains x {dim}, row by row or by blocks"
    benchmark.group = workload
    fill(*KEY, STEP, out)
    expected = out.copy()
    benchmark(lambda: fill(*KEY, STEP, out))
    other = _philox_normals if fill is _philox_normals_by_blocks else _philox_normals_by_blocks
    other(*KEY, STEP, out)
    assert np.array_equal(out, expected)  # the same numbers either way
    rate = report(workload, f"fastebm {how}", out.size, "normals/s",
                  baseline=how == "row by row")
    if rate is not None:
        benchmark.extra_info["ns per normal (wall)"] = 1e9 / rate
