"""Steady-state speed of two checkouts of fastebm, interleaved in one run.

    python bench/compare_revisions.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 5]

Each round runs every workload once in a fresh process per checkout (imports from that
checkout, compiles or loads its cache outside the timing), alternating old and new so
that the machine's drift hits both alike; the table gives the medians and new/old.
Workloads (the suites of bench/ at their sizes, ``keep="moments"``):

- W1: MALA and ULA, d=100 Gaussian of condition 100, 1000 chains × 1000 steps;
- W2: random-walk Metropolis on the 2-d banana user energy, 1000 chains × 10⁴ steps;
- W3: AIS (MALA) on the 10-d Gaussian, 1000 chains × 1000 temperatures, and RBM
  block Gibbs 64 × 100, 1000 chains × 1000 sweeps.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r'''
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1] + "/bench")
import fastebm as fe
import numpy_baselines as nb
from numpy_baselines import ill_conditioned_gaussian, gaussian_draws

def timed(fn, *args, **kwargs):
    fn(*args[:-1], 2, **kwargs)  # compile or load the cache
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t

out = {}
mean, precision = ill_conditioned_gaussian(100, 100.0, seed=20240601)  # conftest's
x0 = gaussian_draws(mean, precision, 1000, seed=20240602)
G = fe.Gaussian(mean, precision=precision)
out["W1 MALA"] = 1e6 / timed(fe.mala, G, x0, 0.005, 1000, rng=0, keep="moments")
out["W1 ULA"] = 1e6 / timed(fe.langevin, G, x0, 0.005, 1000, rng=0, keep="moments")
banana = fe.energy(nb.banana_point, dim=2)
x0 = np.random.default_rng(7).standard_normal((1000, 2))
out["W2 RW banana"] = 1e7 / timed(fe.metropolis, banana, x0, 10_000, scale=1.0, rng=0,
                                  keep="moments")
rng = np.random.default_rng(20240601)
q, r = np.linalg.qr(rng.standard_normal((10, 10)))
q *= np.sign(np.diag(r))
cov = (q * np.geomspace(1.0, 100.0, 10)) @ q.T
E = fe.Gaussian(np.linspace(-1, 1, 10), precision=np.linalg.inv(0.5 * (cov + cov.T)))
base = fe.proposals.Gaussian(np.zeros(10), 30.0 * np.eye(10))
fe.ais(E, base, 4, 3, step_size=0.5, rng=0)
t = time.perf_counter(); fe.ais(E, base, 1000, 1000, step_size=0.5, rng=0)
out["W3 AIS"] = 1e6 / (time.perf_counter() - t)
rng = np.random.default_rng(0)
rbm = fe.BernoulliRBM(rng.normal(size=(64, 100)) * 0.1, rng.normal(size=64) * 0.1,
                      rng.normal(size=100) * 0.1)
v0 = np.zeros((1000, 64))
fe.gibbs(rbm, v0, 2, rng=0)
t = time.perf_counter(); fe.gibbs(rbm, v0, 1000, thin=1000, rng=0)
out["W3 RBM Gibbs"] = 1e6 / (time.perf_counter() - t)
print(json.dumps(out))
'''

UNITS = {"W1 MALA": "chain-steps/s", "W1 ULA": "chain-steps/s", "W2 RW banana": "evals/s",
         "W3 AIS": "chain-temperatures/s", "W3 RBM Gibbs": "chain-sweeps/s"}


def run(checkout):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    done = subprocess.run([sys.executable, "-c", WORKER, os.path.abspath(checkout)], env=env,
                          capture_output=True, text=True, check=True,
                          cwd=os.path.abspath(checkout))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs = {"old": [], "new": []}
    for _ in range(args.rounds):
        for label in ("old", "new"):
            runs[label].append(run(getattr(args, label)))
    print("| workload | old | new | new/old |\n|---|---|---|---|")
    for name, unit in UNITS.items():
        old = statistics.median(r[name] for r in runs["old"])
        new = statistics.median(r[name] for r in runs["new"])
        print(f"| {name} ({unit}) | {old:.3g} | {new:.3g} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
