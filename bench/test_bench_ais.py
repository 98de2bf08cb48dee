"""AIS on a 10-d Gaussian, 1000 chains × 1000 temperatures (issue 4, item 7).

fastebm (``fe.ais`` with MALA moves, one compiled call, compiled before the timed region)
against a vectorized NumPy AIS of the same algorithm in the same run: every chain moves
at once through whole-array operations, normals and uniforms from
``np.random.default_rng``. Figure: chain-temperatures/s (one MALA move and one weight
increment each). Issue target: fastebm ≥ 3× the NumPy figure (reported, not asserted).

The first-call cost is measured too, in a fresh interpreter with an empty
``NUMBA_CACHE_DIR``: import, then the first ``fe.ais`` (MALA and random walk) on the
workload's energy and base, whose time is almost all compilation.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastebm as fe
from fastebm.estimators import schedules

REPO = Path(__file__).resolve().parent.parent
DIM, N_CHAINS, N_TEMPS, STEP = 10, 1000, 1000, 0.5
WORKLOAD = f"AIS (MALA) d={DIM} cond=100, {N_CHAINS} chains x {N_TEMPS} temperatures"
SPEEDUP_TARGET = 3.0


def _target():
    """The ill-conditioned 10-d Gaussian (covariance eigenvalues 1 … 100, random rotation)
    and a base N(0, 30 I)."""
    rng = np.random.default_rng(20240601)
    q, r = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    q *= np.sign(np.diag(r))
    cov = (q * np.geomspace(1.0, 100.0, DIM)) @ q.T
    cov = 0.5 * (cov + cov.T)
    return np.linspace(-1.0, 1.0, DIM), np.linalg.inv(cov), np.zeros(DIM), 30.0 * np.eye(DIM)


@pytest.fixture(scope="module")
def problem():
    mean, precision, base_mean, base_cov = _target()
    return {"mean": mean, "precision": precision, "base_mean": base_mean, "base_cov": base_cov,
            "energy": fe.Gaussian(mean, precision=precision),
            "base": fe.proposals.Gaussian(base_mean, base_cov),
            "log_z": fe.Gaussian(mean, precision=precision).log_partition()}


# --- the NumPy baseline -----------------------------------------------------------------

def numpy_ais(mean, precision, base_mean, base_cov, betas, h, n_chains, rng):
    """Vectorized AIS with MALA moves on π_β ∝ q^{1-β} exp(-βE); returns the log weights."""
    chol = np.linalg.cholesky(base_cov)
    base_inv = np.linalg.inv(base_cov)
    log_norm = -0.5 * np.linalg.slogdet(2 * np.pi * base_cov)[1]

    def evaluate(x):
        r = x - mean
        g = r @ precision
        s = (x - base_mean) @ base_inv
        return (0.5 * np.einsum("ij,ij->i", r, g), g,
                log_norm - 0.5 * np.einsum("ij,ij->i", x - base_mean, s), -s)

    x = base_mean + rng.standard_normal((n_chains, mean.size)) @ chol.T
    e, g, log_q, grad_log_q = evaluate(x)
    log_w = np.zeros(n_chains)
    root = np.sqrt(2 * h)
    for k in range(1, betas.size):
        beta = betas[k]
        log_w += (beta - betas[k - 1]) * (-e - log_q)
        if k == betas.size - 1:
            break
        u_x = beta * g - (1 - beta) * grad_log_q
        xi = rng.standard_normal(x.shape)
        y = x - h * u_x + root * xi
        e_y, g_y, log_q_y, grad_log_q_y = evaluate(y)
        u_y = beta * g_y - (1 - beta) * grad_log_q_y
        back = h * (u_x + u_y) - root * xi
        log_alpha = (beta * (e - e_y) - (1 - beta) * (log_q - log_q_y)
                     - np.einsum("ij,ij->i", back, back) / (4 * h)
                     + 0.5 * np.einsum("ij,ij->i", xi, xi))
        take = np.log(rng.random(n_chains)) < log_alpha
        for new, old in ((y, x), (g_y, g), (grad_log_q_y, grad_log_q)):
            np.copyto(old, new, where=take[:, None])
        np.copyto(e, e_y, where=take)
        np.copyto(log_q, log_q_y, where=take)
    return log_w


def _log_mean_exp(log_w):
    top = log_w.max()
    return float(top + np.log(np.mean(np.exp(log_w - top))))


# --- the benchmarks -----------------------------------------------------------------------

def test_fastebm_ais(benchmark, report, problem):
    benchmark.group = WORKLOAD
    args = (problem["energy"], problem["base"], N_CHAINS, N_TEMPS)
    fe.ais(problem["energy"], problem["base"], 4, 3, step_size=STEP, rng=0)  # compile/load
    result = benchmark.pedantic(fe.ais, args=args, kwargs={"step_size": STEP, "rng": 0},
                                rounds=3, iterations=1)
    error = result.log_z - problem["log_z"]
    assert abs(error) < 5 * result.stderr, (error, result.stderr)
    report(WORKLOAD, "fastebm fe.ais", N_CHAINS * N_TEMPS, "chain-temperatures/s",
           note=f"(target >= {SPEEDUP_TARGET:g}x NumPy)", log_z_error=error,
           stderr=result.stderr, acceptance=float(result.acceptance_rate.mean()))


def test_numpy_ais(benchmark, report, problem):
    benchmark.group = WORKLOAD
    betas = schedules.sigmoid(N_TEMPS)

    def run():
        return numpy_ais(problem["mean"], problem["precision"], problem["base_mean"],
                         problem["base_cov"], betas, STEP, N_CHAINS, np.random.default_rng(0))

    log_w = benchmark.pedantic(run, rounds=3, iterations=1)
    error = _log_mean_exp(log_w) - problem["log_z"]
    report(WORKLOAD, "NumPy vectorized", N_CHAINS * N_TEMPS, "chain-temperatures/s",
           baseline=True, log_z_error=error)


COLD_SCRIPT = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, "bench")
    t0 = time.perf_counter()
    import numpy as np
    import fastebm as fe
    from test_bench_ais import _target
    t1 = time.perf_counter()
    mean, precision, base_mean, base_cov = _target()
    energy = fe.Gaussian(mean, precision=precision)
    base = fe.proposals.Gaussian(base_mean, base_cov)
    fe.ais(energy, base, 8, 5, step_size=0.5, rng=0)
    t2 = time.perf_counter()
    fe.ais(energy, base, 8, 5, step_size=0.5, rng=0)
    t3 = time.perf_counter()
    fe.ais(energy, base, 8, 5, transition="rwm", step_size=0.5, rng=0)
    t4 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "first_ais_mala_s": t2 - t1,
                      "second_ais_mala_s": t3 - t2, "first_ais_rwm_s": t4 - t3}))
""")


def test_first_call_compile_time(benchmark, report, tmp_path):
    """Cold Numba cache: the first fe.ais call compiles its kernel (and what it needs)."""
    benchmark.group = "AIS first call (empty Numba cache)"

    def child():
        cache = tmp_path / f"cache{len(list(tmp_path.iterdir()))}"
        cache.mkdir()
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, "-c", COLD_SCRIPT], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=1800)
        if done.returncode:
            raise RuntimeError(done.stderr[-4000:])
        return json.loads(done.stdout.strip().splitlines()[-1])

    times = benchmark.pedantic(child, rounds=1, iterations=1)
    report("AIS first call (empty Numba cache)", "import + first fe.ais", None, None,
           note=(f"import {times['import_s']:.1f} s, first ais (MALA) "
                 f"{times['first_ais_mala_s']:.1f} s, second {times['second_ais_mala_s']:.3f} s, "
                 f"first ais (rwm) {times['first_ais_rwm_s']:.1f} s"), **times)
