"""``fe.ess`` (rank-normalized bulk ESS) on 10⁶ draws, against ArviZ's ``ess(method="bulk")``.

Workloads: 1000 draws × 1000 chains of one quantity, the size of each ESS column entry
of the README showcase, as a strided view of (1000, 1000, 2) draws (``draws[..., 1]``),
the way a sampler's result is usually sliced; both coordinates of those draws at
once (``fe.ess`` computes coordinates in threads, one per core); and binary draws
(``draws[..., 1] > 0`` as 0.0/1.0, two tie groups of S/2 draws each, as a Bernoulli
unit's Gibbs draws). ArviZ (the baseline)
gets the same values, chains first, contiguous. Both compute the same estimate (tests/test_diagnostics.py
checks them against each other); the timed call is warm (SciPy imported, the untied
Blom scores of S = 10⁶ ranks cached by the first call).

Run: PYTHONPATH=. python -m pytest bench/test_bench_diagnostics.py --benchmark-enable -p no:cacheprovider
"""
import numpy as np
import pytest

import fastebm as fe

N_DRAWS, N_CHAINS = 1000, 1000


WORKLOADS = [1, 2, "binary"]


def _workload(d):
    if d == "binary":
        return f"bulk ESS of {N_DRAWS} binary draws x {N_CHAINS} chains"
    return f"bulk ESS of {N_DRAWS} draws x {N_CHAINS} chains x {d} coordinate(s)"


@pytest.fixture(scope="module")
def draws():
    """AR(1) chains, φ = 0.9, (n, m, 2)."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((N_DRAWS, N_CHAINS, 2))
    x = np.empty_like(noise)
    x[0] = noise[0]
    for t in range(1, N_DRAWS):
        x[t] = 0.9 * x[t - 1] + np.sqrt(1 - 0.81) * noise[t]
    return x


def _ours(draws, d):
    if d == "binary":
        return (draws[..., 1] > 0).astype(np.float64)
    return draws[..., 1] if d == 1 else draws


@pytest.mark.parametrize("d", WORKLOADS)
def test_fastebm_ess(benchmark, report, draws, d):
    benchmark.group = _workload(d)
    x = _ours(draws, d)
    fe.ess(x)
    benchmark.pedantic(fe.ess, args=(x,), rounds=7, iterations=1)
    report(_workload(d), "fastebm fe.ess", 1, "calls/s")


@pytest.mark.parametrize("d", WORKLOADS)
def test_arviz_ess(benchmark, report, draws, d):
    az = pytest.importorskip("arviz")
    benchmark.group = _workload(d)
    chains_first = np.ascontiguousarray(np.swapaxes(_ours(draws, d), 0, 1))
    data = chains_first if d != 2 else az.convert_to_dataset(chains_first)  # (chain, draw, d)
    az.ess(data, method="bulk")
    benchmark.pedantic(az.ess, args=(data,), kwargs={"method": "bulk"}, rounds=7,
                       iterations=1)
    report(_workload(d), "ArviZ ess(method='bulk')", 1, "calls/s", baseline=True)
