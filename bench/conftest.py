"""Shared settings of the benchmark suites (pytest-benchmark).

Run them explicitly (pyproject's ``addopts`` disables benchmarks and ``testpaths`` is
``tests``)::

    PYTHONPATH=. python -m pytest bench/ --benchmark-enable -p no:cacheprovider

``-m "not slow"`` skips the slow ones. Every benchmark records its throughput in
``benchmark.extra_info`` (chain-steps/s or evals/s) and, where the issue sets one, the
target; a summary at the end of the run gives each result's ratio to the NumPy baseline
of its workload measured in the same run. Targets are reported, never asserted
(TESTING.md, "Speed"); these 2-core machines are noisy, so compare ratios within a run.

Environment knobs (read by the suites):

- ``FASTEBM_BENCH_STEPS``: steps of the MALA/ULA workloads (default 1000, the issue's);
- ``FASTEBM_BENCH_FULL=1``: the memory benchmark at the issue's full 10⁴ steps (slow).
"""
import pytest

from numpy_baselines import gaussian_draws, ill_conditioned_gaussian

DIM = 100
CONDITION = 100.0
N_CHAINS = 1000
GAUSSIAN_SEED = 20240601

_RESULTS = []  # (workload, label, median s, rate, unit, target, is_baseline, note)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long benchmark (memory at scale); deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def gaussian():
    """The d=100, condition-100 Gaussian (dense precision, random rotation, fixed seed),
    1000 stationary starting points, and a MALA step size with acceptance about 0.7."""
    import fastebm as fe

    mean, precision = ill_conditioned_gaussian(DIM, CONDITION, seed=GAUSSIAN_SEED)
    x0 = gaussian_draws(mean, precision, N_CHAINS, seed=GAUSSIAN_SEED + 1)
    return {"mean": mean, "precision": precision, "x0": x0, "step_size": 0.005,
            "n_chains": N_CHAINS, "energy": fe.Gaussian(mean, precision=precision)}


@pytest.fixture
def report(benchmark):
    """``report(workload, label, units, unit, ...)`` after the benchmark: see ``_report``."""
    return lambda *args, **kwargs: _report(benchmark, *args, **kwargs)


def _report(benchmark, workload, label, units, unit, *, target=None, baseline=False, note="",
           **extra):
    """Record the throughput ``units`` / median time of a finished benchmark.

    ``unit`` names the work ("chain-steps/s", "evals/s"); ``target`` is the issue's goal
    for it (reported only). ``baseline=True`` marks the NumPy baseline of ``workload``
    that the summary's ratios divide by. ``units=None`` records the time only, with
    ``note`` (a short text: a measured figure against its target) in the summary.
    """
    benchmark.extra_info.update(extra)
    benchmark.extra_info["workload"] = workload
    if benchmark.disabled or benchmark.stats is None:
        return None
    median = benchmark.stats.stats.median
    rate = units / median if units else None
    if rate is not None:
        benchmark.extra_info[unit] = rate
    if target is not None:
        benchmark.extra_info["target " + unit] = target
    _RESULTS.append((workload, label, median, rate, unit, target, baseline, note))
    return rate


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("fastebm throughput against the NumPy baselines (same run)")
    base = {w: r for w, _, _, r, _, _, b, _ in _RESULTS if b and r}
    for workload in dict.fromkeys(w for w, *_ in _RESULTS):
        tr.write_line(workload)
        for w, label, median, rate, unit, target, _, note in _RESULTS:
            if w != workload:
                continue
            line = f"  {label:<34} median {median:9.4f} s"
            if rate is not None:
                line += f"  {rate:10.3e} {unit}"
                if workload in base:
                    line += f"  x{rate / base[workload]:6.2f} NumPy"
                if target is not None:
                    verdict = "meets" if rate >= target else "below"
                    line += f"  ({verdict} target {target:.2g})"
            if note:
                line += "  " + note
            tr.write_line(line)
