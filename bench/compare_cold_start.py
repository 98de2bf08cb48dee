"""First runs with an empty Numba cache, for two checkouts of fastebm, alternating.

    python bench/compare_cold_start.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 1] [case ...]

Each case runs in a fresh process with a new, empty ``NUMBA_CACHE_DIR`` (and
``FASTEBM_CACHE_DIR``, where a user energy's functions are cached), importing from
the checkout (``PYTHONPATH``), old then new, so that the machine's drift hits both alike;
prints the wall time and the child's CPU time (user + system). Cases (issue 12's
targets; the scripts are those of ``bench/test_bench_startup.py``): the banana user
energy script (``fe.metropolis`` then ``fe.mala``), the first ``fe.mala``,
``fe.langevin`` and ``fe.metropolis`` on a built-in 3-d Gaussian, and the README
showcase (``python -m fastebm``).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_bench_startup as startup  # noqa: E402  (the scripts)

CASES = {"banana script": ["-c", startup.USER_SCRIPT, "cached"],
         "first mala": ["-c", startup.FIRST_CALL_SCRIPT, "mala"],
         "first langevin": ["-c", startup.FIRST_CALL_SCRIPT, "langevin"],
         "first metropolis": ["-c", startup.FIRST_CALL_SCRIPT, "metropolis"],
         "showcase": ["-m", "fastebm"]}


def cold_run(checkout, args):
    """(wall s, child CPU s) of ``python *args`` from ``checkout`` with an empty cache."""
    with tempfile.TemporaryDirectory(prefix="fastebm-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTEBM_CACHE_DIR=cache,
                   PYTHONPATH=str(checkout))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=env, cwd=checkout,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{args[:2]} failed in {checkout}:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("cases", nargs="*", metavar="case",
                        help=f"any of {', '.join(map(repr, CASES))} (default: all)")
    opts = parser.parse_args()
    unknown = [c for c in opts.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}: choose from {list(CASES)}")
    print("| case | round | checkout | wall s | child CPU s |")
    print("|---|---|---|---|---|")
    for name in opts.cases or list(CASES):
        for r in range(opts.rounds):
            for label, checkout in (("old", opts.old), ("new", opts.new)):
                wall, cpu = cold_run(Path(checkout).resolve(), CASES[name])
                print(f"| {name} | {r + 1} | {label} | {wall:.1f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
