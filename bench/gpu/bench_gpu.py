"""GPU benchmarks: fastebm's CUDA kernels against a CuPy vectorized implementation of the
same algorithm (one array expression per operation, no raw kernels) and fastebm's CPU
kernels, in the same run. Writes a JSON report and a Markdown table.

    PYTHONPATH=. python bench/gpu/bench_gpu.py --out report   # on a machine with a GPU

Figures: chain-steps per second (one chain advanced one step; for importance sampling,
draws weighted per second), the speed-up over the CuPy version, and for MALA the fraction of the memory-bandwidth floor: each step must
read and write a chain's state a handful of times, about 6 · 8 · d bytes per chain-step,
so at 4.3 TB/s (the H200's measured copy) no implementation passes 4.3e12 / (48 d)
chain-steps/s (docs/performance.md); float32 chains move half of that, 6 · 4 · d bytes.
"""
import argparse
import json
import math
import os
import platform
import time

import cupy as cp
import numpy as np

import fastebm as fe
from fastebm._kernels.cuda import runners

HBM_BYTES_PER_S = 4.3e12
BANANA_CUDA = r"""
__device__ double energy(const double *x, const double *theta)
{
    double r = x[1] - x[0] * x[0];
    return 0.5 * x[0] * x[0] + 0.5 * r * r;
}
"""


def banana(x):
    r = x[1] - x[0] * x[0]
    return 0.5 * x[0] * x[0] + 0.5 * r * r


def best_time(fn, repeat):
    """The fastest of ``repeat`` runs of fn(), in seconds, the device synchronized."""
    best = math.inf
    for _ in range(repeat):
        cp.cuda.Device().synchronize()
        t = time.perf_counter()
        fn()
        cp.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def gaussian(d, condition, seed=0):
    """A d-dimensional Gaussian whose covariance has eigenvalues from 1 to ``condition``
    in a random rotation: (energy, precision, mean)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    precision = (q * (1.0 / np.logspace(0, np.log10(condition), d))) @ q.T
    precision = 0.5 * (precision + precision.T)
    mean = rng.standard_normal(d)
    return fe.Gaussian(mean, precision), precision, mean


def cupy_mala(precision, mean, x, h, n_steps, seed):
    """MALA on E = ½(x-μ)ᵀP(x-μ) with one CuPy expression per operation, keeping the
    per-chain running mean and M2 as fastebm's keep="moments" does."""
    rs = cp.random.RandomState(seed)
    P, mu = cp.asarray(precision, dtype=x.dtype), cp.asarray(mean, dtype=x.dtype)
    root = math.sqrt(2 * h)
    r = x - mu
    g = r @ P
    e = 0.5 * cp.sum(r * g, axis=1)
    m, m2 = cp.zeros_like(x), cp.zeros_like(x)
    for s in range(n_steps):
        xi = rs.standard_normal(x.shape, dtype=x.dtype)
        y = x - h * g + root * xi
        ry = y - mu
        gy = ry @ P
        ey = 0.5 * cp.sum(ry * gy, axis=1)
        back = h * (g + gy) - root * xi
        log_alpha = e - ey - cp.sum(back * back, axis=1) / (4 * h) + 0.5 * cp.sum(xi * xi, axis=1)
        take = cp.log(rs.random_sample(x.shape[0], dtype=x.dtype)) < log_alpha
        x = cp.where(take[:, None], y, x)
        g = cp.where(take[:, None], gy, g)
        e = cp.where(take, ey, e)
        welford(m, m2, x, s)
    return m, m2


def welford(m, m2, x, s):
    """Add the (s+1)-th state x to the running mean m and sum of squared deviations m2."""
    delta = x - m
    m += delta / (s + 1)
    m2 += delta * (x - m)


def cupy_random_walk_banana(x, scale, n_steps, seed):
    """Random-walk Metropolis on the banana with one CuPy expression per operation."""
    rs = cp.random.RandomState(seed)

    def energy(z):
        r = z[:, 1] - z[:, 0] * z[:, 0]
        return 0.5 * z[:, 0] * z[:, 0] + 0.5 * r * r

    e = energy(x)
    m, m2 = cp.zeros_like(x), cp.zeros_like(x)
    for s in range(n_steps):
        y = x + scale * rs.standard_normal(x.shape)
        ey = energy(y)
        take = cp.log(rs.random_sample(x.shape[0])) < e - ey
        x = cp.where(take[:, None], y, x)
        e = cp.where(take, ey, e)
        welford(m, m2, x, s)
    return m, m2


def bench_mala(rows, repeat, d=100, condition=100.0):
    energy, precision, mean = gaussian(d, condition)
    h = 0.5 / 1.0  # ≈ 0.5 / λmax(P) = 0.5: acceptance about 0.6 in these runs
    fe.mala(energy, cp.zeros((256, d)), h, 3, keep="moments", rng=0)  # NVRTC compile
    for n, steps in ((10**4, 1000), (10**5, 1000), (10**6, 200)):
        x0 = cp.asarray(np.random.default_rng(1).standard_normal((n, d)) + mean)
        ours = best_time(lambda: fe.mala(energy, x0, h, steps, keep="moments", rng=0), repeat)
        acc = float(fe.mala(energy, x0, h, 20, keep="moments", rng=0).acceptance_rate.mean())
        theirs = best_time(lambda: cupy_mala(precision, mean, x0, h, steps, 0), repeat)
        rate = n * steps / ours
        rows.append(dict(bench="mala_gaussian_d100_cond100_f64_moments", chains=n, steps=steps,
                         fastebm_s=ours, cupy_vectorized_s=theirs,
                         chain_steps_per_s=rate, speedup_vs_cupy=theirs / ours,
                         floor_fraction=rate / (HBM_BYTES_PER_S / (48 * d)),
                         acceptance=acc))
        print(rows[-1], flush=True)
        if n >= 10**5:  # the other way to give MALA's accept its noise (same numbers)
            runners.LangevinRunner.store_noise = not runners.LangevinRunner.store_noise
            other = best_time(lambda: fe.mala(energy, x0, h, steps, keep="moments", rng=0),
                              repeat)
            runners.LangevinRunner.store_noise = not runners.LangevinRunner.store_noise
            rows.append(dict(bench="mala_gaussian_d100_cond100_f64_moments_store_noise_"
                             + str(not runners.LangevinRunner.store_noise), chains=n,
                             steps=steps, fastebm_s=other, chain_steps_per_s=n * steps / other,
                             floor_fraction=n * steps / other / (HBM_BYTES_PER_S / (48 * d))))
            print(rows[-1], flush=True)
    # float32 chains (the kernels' float32 build, docs/gpu.md): half the bytes a step
    n, steps = 10**5, 1000
    x0 = cp.asarray((np.random.default_rng(1).standard_normal((n, d)) + mean).astype(np.float32))
    fe.mala(energy, x0[:256], h, 3, keep="moments", rng=0)  # NVRTC compile (float32 build)
    ours = best_time(lambda: fe.mala(energy, x0, h, steps, keep="moments", rng=0), repeat)
    theirs = best_time(lambda: cupy_mala(precision, mean, x0, h, steps, 0), repeat)
    rate = n * steps / ours
    rows.append(dict(bench="mala_gaussian_d100_cond100_f32_moments", chains=n, steps=steps,
                     fastebm_s=ours, cupy_vectorized_s=theirs, chain_steps_per_s=rate,
                     speedup_vs_cupy=theirs / ours,
                     floor_fraction=rate / (HBM_BYTES_PER_S / (24 * d))))
    print(rows[-1], flush=True)
    x_cpu = np.random.default_rng(1).standard_normal((10**4, d)) + mean
    fe.mala(energy, x_cpu[:64], h, 2, keep="moments", rng=0)  # Numba compile
    cpu = best_time(lambda: fe.mala(energy, x_cpu, h, 100, keep="moments", rng=0), 1)
    rows.append(dict(bench="mala_gaussian_d100_cond100_f64_moments_CPU_numba", chains=10**4,
                     steps=100, fastebm_s=cpu, chain_steps_per_s=10**4 * 100 / cpu))
    print(rows[-1], flush=True)


def bench_random_walk(rows, repeat):
    energy = fe.energy(banana, dim=2, cuda=BANANA_CUDA)
    fe.metropolis(energy, cp.zeros((256, 2)), 3, keep="moments", rng=0)  # NVRTC compile
    x0 = cp.asarray(np.random.default_rng(2).standard_normal((10**7, 2)))
    os.environ["FASTEBM_CUDA_FMAD"] = "1"  # the cost of the default --fmad=false
    fe.metropolis(energy, cp.zeros((256, 2)), 3, keep="moments", rng=0)
    fmad = best_time(lambda: fe.metropolis(energy, x0, 1000, scale=1.0, keep="moments",
                                           rng=0), repeat)
    del os.environ["FASTEBM_CUDA_FMAD"]
    rows.append(dict(bench="random_walk_banana_cuda_snippet_f64_moments_FMAD", chains=10**7,
                     steps=1000, fastebm_s=fmad, chain_steps_per_s=10**10 / fmad))
    print(rows[-1], flush=True)
    for n, steps, their_steps in ((10**6, 1000, 200), (10**7, 1000, 100)):
        x0 = cp.asarray(np.random.default_rng(2).standard_normal((n, 2)))
        ours = best_time(lambda: fe.metropolis(energy, x0, steps, scale=1.0, keep="moments",
                                               rng=0), repeat)
        theirs = best_time(lambda: cupy_random_walk_banana(x0, 1.0, their_steps, 0), repeat)
        rate = n * steps / ours
        rows.append(dict(bench="random_walk_banana_cuda_snippet_f64_moments", chains=n,
                         steps=steps, fastebm_s=ours, cupy_vectorized_s=theirs * steps / their_steps,
                         chain_steps_per_s=rate,
                         speedup_vs_cupy=(theirs * steps / their_steps) / ours))
        print(rows[-1], flush=True)
    x_cpu = np.random.default_rng(2).standard_normal((10**5, 2))
    fe.metropolis(energy, x_cpu[:64], 2, keep="moments", rng=0)
    cpu = best_time(lambda: fe.metropolis(energy, x_cpu, 100, keep="moments", rng=0), 1)
    rows.append(dict(bench="random_walk_banana_CPU_numba", chains=10**5, steps=100,
                     fastebm_s=cpu, chain_steps_per_s=10**5 * 100 / cpu))
    print(rows[-1], flush=True)


def cupy_rbm_gibbs(W, b, c, v, n_steps, seed):
    """Block Gibbs of a Bernoulli RBM with one CuPy expression per operation."""
    rs = cp.random.RandomState(seed)
    W, b, c = (cp.asarray(a, dtype=v.dtype) for a in (W, b, c))
    for _ in range(n_steps):
        ph = 1.0 / (1.0 + cp.exp(-(v @ W + c)))
        h = (rs.random_sample(ph.shape, dtype=v.dtype) < ph).astype(v.dtype)
        pv = 1.0 / (1.0 + cp.exp(-(h @ W.T + b)))
        v = (rs.random_sample(pv.shape, dtype=v.dtype) < pv).astype(v.dtype)
    return v


def bench_rbm(rows, repeat, n_vis=784, n_hid=500, steps=100):
    """Block Gibbs sweeps of a 784 x 500 Bernoulli RBM (MNIST-sized), float64 and float32
    (sgemm, float32 layers); the state is recorded once, at the end (thin = steps), in both
    implementations' spirit."""
    rng = np.random.default_rng(3)
    W = 0.01 * rng.standard_normal((n_vis, n_hid))
    b, c = 0.1 * rng.standard_normal(n_vis), 0.1 * rng.standard_normal(n_hid)
    rbm = fe.BernoulliRBM(W, b, c)
    for dtype, tag in ((np.float64, "f64"), (np.float32, "f32")):
        fe.gibbs(rbm, cp.zeros((256, n_vis), dtype=dtype), 2, rng=0)  # NVRTC compile
        for n in (10**4, 10**5):
            v0 = cp.asarray((rng.random((n, n_vis)) < 0.5).astype(dtype))
            ours = best_time(lambda: fe.gibbs(rbm, v0, steps, thin=steps, rng=0), repeat)
            theirs = best_time(lambda: cupy_rbm_gibbs(W, b, c, v0, steps, 0), repeat)
            rows.append(dict(bench=f"rbm_gibbs_784x500_{tag}", chains=n, steps=steps,
                             fastebm_s=ours, cupy_vectorized_s=theirs,
                             chain_steps_per_s=n * steps / ours, speedup_vs_cupy=theirs / ours))
            print(rows[-1], flush=True)


def cupy_checkerboard(spins, coupling, n_sweeps, seed):
    """Heat-bath checkerboard sweeps of lattices (n, L, M) with CuPy array expressions."""
    rs = cp.random.RandomState(seed)
    L, M = spins.shape[1:]
    parity = (cp.arange(L)[:, None] + cp.arange(M)[None, :]) % 2
    for _ in range(n_sweeps):
        for p in (0, 1):
            nsum = (cp.roll(spins, 1, 1) + cp.roll(spins, -1, 1) + cp.roll(spins, 1, 2)
                    + cp.roll(spins, -1, 2))
            up = rs.random_sample(spins.shape) * (1.0 + cp.exp(-2.0 * coupling * nsum)) < 1.0
            spins = cp.where(parity == p, cp.where(up, 1.0, -1.0), spins)
    return spins


def bench_ising(rows, repeat, sweeps=100, coupling=0.44):
    """Checkerboard heat-bath sweeps near the critical coupling: one 4096² lattice and 1024
    independent 256² lattices; spin updates per nanosecond."""
    fe.gibbs(fe.Ising.lattice(8, 8, coupling), cp.ones((4, 64)), 2, rng=0)  # NVRTC compile
    for n, side in ((1, 4096), (1024, 256)):
        model = fe.Ising.lattice(side, side, coupling)
        s0 = cp.ones((n, side * side))
        ours = best_time(lambda: fe.gibbs(model, s0, sweeps, thin=sweeps, rng=0), repeat)
        theirs = best_time(lambda: cupy_checkerboard(s0.reshape(n, side, side), coupling,
                                                     sweeps, 0), repeat)
        flips = n * side * side * sweeps
        rows.append(dict(bench=f"ising_checkerboard_{n}x{side}^2_f64", chains=n, steps=sweeps,
                         fastebm_s=ours, cupy_vectorized_s=theirs, chain_steps_per_s=n * sweeps / ours,
                         spin_updates_per_ns=flips / ours / 1e9, speedup_vs_cupy=theirs / ours))
        print(rows[-1], flush=True)


def cupy_importance_banana(n, var, seed):
    """Importance sampling of the banana from N(0, diag(var)) with one CuPy expression per
    operation: (log Z estimate, its standard error)."""
    rs = cp.random.RandomState(seed)
    var = cp.asarray(var)
    y = rs.standard_normal((n, 2)) * cp.sqrt(var)
    log_q = -0.5 * cp.sum(y * y / var, axis=1) - 0.5 * cp.sum(cp.log(2 * cp.pi * var))
    r = y[:, 1] - y[:, 0] * y[:, 0]
    log_w = -(0.5 * y[:, 0] * y[:, 0] + 0.5 * r * r) - log_q
    top = log_w.max()
    w = cp.exp(log_w - top)
    log_z = float(top + cp.log(w.mean()))
    return log_z, float(cp.std(w, ddof=1) / (math.sqrt(n) * cp.mean(w)))


def bench_importance(rows, repeat, var=(2.0, 8.0)):
    """importance_sample of the 2-d banana (a CUDA snippet; Z = 2π) from a Gaussian
    proposal, 10⁶ and 10⁷ draws, against the CuPy vectorized version and the CPU."""
    energy = fe.energy(banana, dim=2, cuda=BANANA_CUDA)
    q = fe.proposals.Gaussian(cp.zeros(2), cp.asarray(var))
    fe.importance_sample(energy, q, 256, rng=0)  # NVRTC compile
    for n in (10**6, 10**7):
        ours = best_time(lambda: fe.importance_sample(energy, q, n, rng=0), repeat)
        theirs = best_time(lambda: cupy_importance_banana(n, var, 0), repeat)
        r = fe.importance_sample(energy, q, n, rng=0)
        rows.append(dict(bench="importance_banana_cuda_snippet_gaussian_q_f64", chains=n,
                         steps=1, fastebm_s=ours, cupy_vectorized_s=theirs,
                         chain_steps_per_s=n / ours, speedup_vs_cupy=theirs / ours,
                         log_z_error=r.log_z - math.log(2 * math.pi), stderr=r.stderr))
        print(rows[-1], flush=True)
    q_cpu = fe.proposals.Gaussian(np.zeros(2), np.asarray(var))
    fe.importance_sample(energy, q_cpu, 256, rng=0)  # Numba compile
    cpu = best_time(lambda: fe.importance_sample(energy, q_cpu, 10**6, rng=0), 1)
    rows.append(dict(bench="importance_banana_CPU_numba", chains=10**6, steps=1,
                     fastebm_s=cpu, chain_steps_per_s=10**6 / cpu))
    print(rows[-1], flush=True)


def markdown(rows, device):
    lines = [f"GPU benchmarks on {device} (bench/gpu/bench_gpu.py)", "",
             "| bench | chains | steps | fastebm s | CuPy vectorized s | chain-steps/s | "
             "× CuPy | floor fraction or spin updates/ns |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {} | {:.0e} | {} | {:.3f} | {} | {:.3g} | {} | {} |".format(
            r["bench"], r["chains"], r["steps"], r["fastebm_s"],
            f"{r['cupy_vectorized_s']:.3f}" if "cupy_vectorized_s" in r else "-",
            r["chain_steps_per_s"],
            f"{r['speedup_vs_cupy']:.1f}" if "speedup_vs_cupy" in r else "-",
            f"{r['floor_fraction']:.2f}" if "floor_fraction" in r
            else f"{r['spin_updates_per_ns']:.1f}/ns" if "spin_updates_per_ns" in r else "-"))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_report", help="path stem of the .json and .md")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", choices=["mala", "random_walk", "rbm", "ising", "importance"],
                        default=None)
    args = parser.parse_args()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    device = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    rows = []
    if args.only in (None, "random_walk"):
        bench_random_walk(rows, args.repeat)
    if args.only in (None, "mala"):
        bench_mala(rows, args.repeat)
    if args.only in (None, "rbm"):
        bench_rbm(rows, args.repeat)
    if args.only in (None, "ising"):
        bench_ising(rows, args.repeat)
    if args.only in (None, "importance"):
        bench_importance(rows, args.repeat)
    report = dict(device=device, cupy=cp.__version__, numpy=np.__version__,
                  python=platform.python_version(), rows=rows)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(rows, device))
    print(markdown(rows, device))


if __name__ == "__main__":
    main()
