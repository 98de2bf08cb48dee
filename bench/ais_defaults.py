"""AIS with its defaults (adaptive schedule, steps and moves per temperature chosen on the
pilot): accuracy and time on Gaussians of growing dimension and condition, base
N(0, 4I), 500 chains, MALA.

    PYTHONPATH=. python bench/ais_defaults.py [seeds]

Prints, per target, cess_target and seed: temperatures K, moves per temperature S,
seconds, log Z error in standard errors, the standard error and the ESS
(docs/performance.md, "AIS without a step size"). ``seeds`` (default 1) runs the default
cess_target with that many seeds.
"""
import sys
import time

import numpy as np

import fastebm as fe


def gaussian(d, condition, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = (q * np.logspace(0, -np.log10(condition), d)) @ q.T
    return fe.Gaussian(0.1 * rng.standard_normal(d), covariance=0.5 * (cov + cov.T))


def main(n_seeds=1):
    print("| d | condition | cess_target | seed | K | S | seconds | (log Ẑ - log Z)/se | se "
          "| ESS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fe.ais(gaussian(2, 2.0), fe.proposals.Gaussian(np.zeros(2), 4.0 * np.eye(2)), 50, rng=0)
    for d, condition in ((10, 10.0), (20, 100.0), (50, 10.0), (50, 1000.0)):
        energy = gaussian(d, condition)
        base = fe.proposals.Gaussian(np.zeros(d), 4.0 * np.eye(d))
        runs = [(0.99, 1), (0.9999, 1)] + [(0.999, seed) for seed in range(1, n_seeds + 1)]
        for cess, seed in sorted(runs):
            t = time.perf_counter()
            est = fe.ais(energy, base, 500, rng=seed, cess_target=cess)
            seconds = time.perf_counter() - t
            z = (est.log_z - energy.log_partition()) / est.stderr
            print(f"| {d} | {condition:g} | {cess} | {seed} | {est.temperatures.size} | "
                  f"{est.n_steps_per_temperature} | {seconds:.1f} | {z:+.2f} | "
                  f"{est.stderr:.3f} | {est.ess:.0f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
