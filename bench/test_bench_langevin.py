"""MALA and ULA on the d=100, condition-100 Gaussian, 1000 chains × 1000 steps.

fastebm (``fe.mala`` / ``fe.langevin``, compiled before the timed region) against the
vectorized NumPy baseline of ``numpy_baselines`` in the same run. Figure: chain-steps/s.
Issue targets: MALA ≥ 2.0e6, ULA ≥ 2.2e6 (NumPy about 4.5e5 / 4.9e5, PERFORMANCE.md).

``keep="draws"`` is the issue's call (it also writes 1000 × 1000 × 100 draws, 800 MB);
``keep="moments"`` keeps running means instead and times the sampler alone.
"""
import os

import numpy as np
import pytest

import fastebm as fe
import numpy_baselines as nb
N_CHAINS = 1000  # as in conftest's ``gaussian``
STEPS = int(os.environ.get("FASTEBM_BENCH_STEPS", 1000))
TARGET = {"mala": 2.0e6, "ula": 2.2e6}
SAMPLER = {"mala": fe.mala, "ula": fe.langevin}
BASELINE = {"mala": nb.mala, "ula": nb.ula}


def _workload(name):
    return f"{name.upper()} d=100 cond=100, {N_CHAINS} chains x {STEPS} steps"


@pytest.mark.parametrize("keep", ["draws", "moments"])
@pytest.mark.parametrize("name", ["mala", "ula"])
def test_fastebm(benchmark, report, gaussian, name, keep):
    benchmark.group = _workload(name)
    sampler = SAMPLER[name]
    args = (gaussian["energy"], gaussian["x0"], gaussian["step_size"])
    sampler(*args, 2, rng=0, keep=keep)  # compile (or load the cache) outside the timing
    result = benchmark.pedantic(sampler, args=args + (STEPS,), kwargs={"rng": 0, "keep": keep},
                                rounds=3, iterations=1)
    acceptance = float(np.mean(result.acceptance_rate))
    if name == "mala":
        assert 0.5 < acceptance < 0.95, acceptance
    assert not np.any(result.n_divergent)
    report(_workload(name), f"fastebm keep={keep}", N_CHAINS * STEPS,
           "chain-steps/s", target=TARGET[name], acceptance=acceptance)


@pytest.mark.parametrize("name", ["mala", "ula"])
def test_numpy(benchmark, report, gaussian, name):
    benchmark.group = _workload(name)
    baseline = BASELINE[name]

    def run():
        return baseline(gaussian["mean"], gaussian["precision"], gaussian["x0"],
                        gaussian["step_size"], STEPS, np.random.default_rng(0))

    _, acceptance = benchmark.pedantic(run, rounds=3, iterations=1)
    report(_workload(name), "NumPy vectorized", N_CHAINS * STEPS, "chain-steps/s",
           baseline=True, acceptance=float(np.mean(acceptance)))
