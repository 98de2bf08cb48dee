"""Memory of ``keep="moments"`` runs: 10⁴ chains × d=100, peak RSS growth above the state.

Issue target: a ``keep="moments"`` run with 10⁴ chains × d=100 × 10⁴ steps stays under
100 MB above the chain state (8 MB). Each run is a fresh subprocess that builds the
Gaussian and x0, compiles (or loads) the kernel with a tiny warm-up run, resets the
kernel's peak-RSS mark (``/proc/self/clear_refs``, else compares ``ru_maxrss``), and
then measures the peak RSS over the run minus the RSS before it (x0 included), plus
tracemalloc's peak (the NumPy arrays allocated by the Python layer; Numba's own
allocations inside a kernel are not traced, but they are in the RSS).

The memory a run needs does not depend on its number of steps (all per-step buffers
are reused), so by default the run takes ``STEPS`` = 100 steps (10⁶ chain-steps, fast
at the target speed); ``FASTEBM_BENCH_FULL=1`` runs the issue's 10⁴ steps (10¹⁰
normals: tens of seconds at the target speed). The limit is asserted: memory is
deterministic, unlike speed.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FULL = os.environ.get("FASTEBM_BENCH_FULL", "") not in ("", "0")
N_CHAINS, DIM = 10_000, 100
STEPS = 10_000 if FULL else 100
LIMIT_MB = 100.0

CHILD = textwrap.dedent("""
    import gc, json, resource, sys, time, tracemalloc
    import numpy as np
    import fastebm as fe
    sys.path.insert(0, sys.argv[4])
    from numpy_baselines import gaussian_draws, ill_conditioned_gaussian

    sampler, n, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    mean, precision = ill_conditioned_gaussian(100, 100.0, seed=20240601)
    energy = fe.Gaussian(mean, precision=precision)
    x0 = gaussian_draws(mean, precision, n, seed=5)
    run = {
        "mala": lambda x, k: fe.mala(energy, x, 0.005, k, keep="moments", rng=0),
        "langevin": lambda x, k: fe.langevin(energy, x, 0.005, k, keep="moments", rng=0),
        "metropolis": lambda x, k: fe.metropolis(energy, x, k, scale=0.05, keep="moments",
                                                 rng=0),
    }[sampler]
    run(x0[:8], 2)  # compile or load the kernel outside the measurement
    gc.collect()

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        reset = status("VmHWM") <= status("VmRSS") + (1 << 20)
    except OSError:
        reset = False
    rss_before = status("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    t = time.perf_counter()
    result = run(x0, steps)
    seconds = time.perf_counter() - t
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert np.all(np.isfinite(result.mean))
    print(json.dumps({
        "rss_growth_mb": (peak - rss_before) / 2**20,
        "hwm_reset": reset,
        "maxrss_before_mb": maxrss_before / 2**20,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "chain_state_mb": x0.nbytes / 2**20,
        "run_s": seconds,
    }))
""")


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["mala", "langevin", "metropolis"])
def test_moments_memory(benchmark, report, sampler):
    benchmark.group = f"memory, keep='moments', {N_CHAINS} chains x d={DIM} x {STEPS} steps"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    def child():
        done = subprocess.run(
            [sys.executable, "-c", CHILD, sampler, str(N_CHAINS), str(STEPS),
             str(Path(__file__).parent)],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=3600)
        if done.returncode:
            raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    m = benchmark.pedantic(child, rounds=1, iterations=1)
    m["limit_mb"] = LIMIT_MB
    rate = N_CHAINS * STEPS / m["run_s"]
    verdict = "meets" if m["rss_growth_mb"] < LIMIT_MB else "ABOVE"
    report(benchmark.group, sampler, None, None,
           note=(f"peak RSS +{m['rss_growth_mb']:.1f} MB over the state "
                 f"({verdict} limit {LIMIT_MB:.0f} MB; state {m['chain_state_mb']:.1f} MB, "
                 f"NumPy-traced peak {m['tracemalloc_peak_mb']:.1f} MB); "
                 f"run {m['run_s']:.2f} s = {rate:.3g} chain-steps/s"),
           chain_steps_per_s=rate, **m)
    assert m["rss_growth_mb"] < LIMIT_MB, m
