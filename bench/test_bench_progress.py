"""What a progress bar costs: the same runs with ``progress=True`` and without, in one run.

Issue 16: "the bar moves per block of steps (kernels run in blocks long enough that the bar
costs under 1 % of the run)". Two workloads: W1 MALA (d=100, condition 100, 1000 chains ×
1000 steps, ``keep="moments"``: about half a second a run), and a short random walk on a 2-d
banana user energy (1000 chains × 1000 steps, about 0.05 s), where the first, short block
and the extra kernel calls weigh most. The run without a bar is the baseline of each.

    PYTHONPATH=. python -m pytest bench/test_bench_progress.py --benchmark-enable -p no:cacheprovider
"""
import os

import numpy as np
import pytest

import fastebm as fe

STEPS = 1000


def banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2


BANANA = fe.energy(banana, dim=2)


def _runs(gaussian):
    return {
        "W1 MALA d=100, 1000 chains x 1000 steps": (
            fe.mala, (gaussian["energy"], gaussian["x0"], gaussian["step_size"], STEPS),
            dict(keep="moments")),
        "random walk, 2-d banana, 1000 chains x 1000 steps": (
            fe.metropolis, (BANANA, np.zeros((1000, 2)), STEPS), dict(scale=0.8)),
    }


@pytest.mark.parametrize("progress", [False, True])
@pytest.mark.parametrize("workload", [0, 1])
def test_progress_cost(benchmark, report, gaussian, workload, progress):
    os.environ.pop("FASTEBM_PROGRESS", None)
    name, (f, args, kwargs) = list(_runs(gaussian).items())[workload]
    benchmark.group = name
    f(*args[:-1], 2, rng=0, **kwargs)  # compile outside the timing
    benchmark.pedantic(f, args=args, kwargs=dict(rng=0, progress=progress, **kwargs),
                       rounds=7, iterations=1)
    report(name, "with a bar" if progress else "no bar", 1000 * STEPS, "chain-steps/s",
           baseline=not progress)
