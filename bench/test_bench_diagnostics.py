"""``fe.ess`` (rank-normalized bulk ESS) on 10⁶ draws, against ArviZ's ``ess(method="bulk")``.

Workload: 1000 draws × 1000 chains of one quantity, the size of each ESS column entry
of the README showcase, as a strided view of (1000, 1000, 2) draws (``draws[..., 1]``),
the way a sampler's result is usually sliced. ArviZ (the baseline) gets the same values,
chains first, contiguous. Both compute the same estimate (tests/test_diagnostics.py
checks them against each other); the timed call is warm (SciPy imported, the untied
Blom scores of S = 10⁶ ranks cached by the first call).

Run: PYTHONPATH=. python -m pytest bench/test_bench_diagnostics.py --benchmark-enable -p no:cacheprovider
"""
import numpy as np
import pytest

import fastebm as fe

N_DRAWS, N_CHAINS = 1000, 1000
WORKLOAD = f"bulk ESS of {N_DRAWS} draws x {N_CHAINS} chains"


@pytest.fixture(scope="module")
def draws():
    """AR(1) chains, φ = 0.9, as the second coordinate of (n, m, 2) draws."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((N_DRAWS, N_CHAINS, 2))
    x = np.empty_like(noise)
    x[0] = noise[0]
    for t in range(1, N_DRAWS):
        x[t] = 0.9 * x[t - 1] + np.sqrt(1 - 0.81) * noise[t]
    return x[..., 1]


def test_fastebm_ess(benchmark, report, draws):
    benchmark.group = WORKLOAD
    fe.ess(draws)
    benchmark.pedantic(fe.ess, args=(draws,), rounds=7, iterations=1)
    report(WORKLOAD, "fastebm fe.ess", 1, "calls/s")


def test_arviz_ess(benchmark, report, draws):
    az = pytest.importorskip("arviz")
    benchmark.group = WORKLOAD
    chains_first = np.ascontiguousarray(draws.T)
    az.ess(chains_first, method="bulk")
    benchmark.pedantic(az.ess, args=(chains_first,), kwargs={"method": "bulk"}, rounds=7,
                       iterations=1)
    report(WORKLOAD, "ArviZ ess(method='bulk')", 1, "calls/s", baseline=True)
