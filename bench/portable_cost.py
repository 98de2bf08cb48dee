"""The cost of the portable CPU mode (fastebm.portable): the same workloads in fresh
processes, in the default mode and at each portable level, best of 3 rounds each.

    PYTHONPATH=. python bench/portable_cost.py

W1: MALA on the d=100 Gaussian of condition 100 (dense precision: BLAS products in the
energy), 1000 chains x 1000 steps, keep="moments". Banana: random walk on a 2-d user
energy with exp and log (libm), 1000 chains x 10000 steps, keep="moments". A process
first compiles (or loads) the kernels, then times the workloads.
"""
import json
import os
import subprocess
import sys

CHILD = r"""
import json, time
import numpy as np
import fastebm as fe
from numpy_baselines import ill_conditioned_gaussian

def banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2 + np.log1p(np.exp(x[1] - 3.0))

mean, precision = ill_conditioned_gaussian(100, 100.0, 20240601)
G = fe.Gaussian(mean, precision=precision)
x0 = np.random.default_rng(0).multivariate_normal(mean, np.linalg.inv(precision), size=1000)
B = fe.energy(banana, dim=2)
runs = {"W1 MALA d=100": lambda: fe.mala(G, x0, 0.02, 1000, keep="moments", rng=0),
        "banana random walk": lambda: fe.metropolis(B, np.zeros((1000, 2)), 10000,
                                                    scale=0.8, keep="moments", rng=0)}
out = {}
for name, run in runs.items():
    run()
    times = []
    for _ in range(3):
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
    out[name] = min(times)
print(json.dumps(out))
"""


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fastebm import portable
    here = os.path.dirname(os.path.abspath(__file__))
    modes = {"default": {}, **{level: portable.environment(level) for level in portable.LEVELS}}
    results = {}
    for mode, extra in modes.items():
        env = {**os.environ, **extra,
               "PYTHONPATH": os.pathsep.join([here, os.path.dirname(here),
                                              os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                              text=True, check=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'workload':22s} " + " ".join(f"{m:>18s}" for m in modes))
    for name in results["default"]:
        base = results["default"][name]
        cells = [f"{results[m][name]:8.3f} s ({results[m][name] / base:4.2f}x)" for m in modes]
        print(f"{name:22s} " + " ".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()
