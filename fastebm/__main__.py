"""``python -m fastebm``: a one-minute tour of fastebm on targets with known answers.

What it shows
-------------
Two 2-d targets whose moments and normalizer are exact:

- a correlated Gaussian, ``fe.Gaussian(mean, covariance=...)``, log Z from
  ``E.log_partition()``;
- a banana written as a plain Python function with its gradient, ``fe.energy(fn, grad,
  dim=2)``: E(x) = x₀²/(2a²) + (x₁ - b x₀²)²/2, that is x₀ ~ N(0, a²) and
  x₁ | x₀ ~ N(b x₀², 1). Hence E[x₁] = b a², Var[x₁] = 1 + 2b²a⁴ and
  Z = √(2π) a · √(2π), log Z = log(2π a).

A third target is discrete: a 16 × 12 Bernoulli RBM (``fe.BernoulliRBM``) whose
marginals and log Z are exact by enumeration; ``fe.gibbs`` estimates the mean of its
first visible unit and ``fe.ais`` its log Z (base-rate path, 1000 temperatures).

Each continuous target is sampled by MALA (``fe.mala``) and by random-walk Metropolis
(``fe.metropolis``), 1000 chains started from N(0, 2²I), the step size tuned by dual
averaging during burn-in only; and its log Z is estimated by importance sampling from a
wider Gaussian proposal (``fe.importance_sample``).

The table gives each estimate with its Monte Carlo standard error, the exact value and
z = (estimate - exact) / se, which should be a few units at most. The error of an MCMC
mean comes from the spread of the 1000 independent chains' own means, sd / √n_chains,
exact for independent chains and free of any autocorrelation estimate. The ESS column
is ``fe.ess`` (rank-normalized bulk ESS, all chains pooled) for MCMC and Kish's ESS of
the weights for IS; sd / √ESS would be the usual alternative error, but the bulk ESS
describes the ranks, and for a heavy-tailed quantity such as (x₁ - x̄₁)² on the banana it
is several times the ESS of the mean itself, so that error would come out too small.
For IS the error is the result's delta-method ``stderr`` of log Ẑ. Wall times exclude
compilation: the first call of each sampler on each energy runs on a tiny problem and
is timed apart (the kernels are compiled once and cached on disk, and so are a user
energy's own functions, keyed by their code and the values they use).

One caveat on the banana's log Z: x₁'s tail is exponential (a scaled χ²₁), heavier than
any Gaussian's, so strictly the weights p/q of a Gaussian proposal have infinite
variance. With q's sd in x₁ set to 4 the offending region (x₁ ≳ 31) lies more than seven
of q's standard deviations out, where 10⁵ draws never go; the estimate behaves as if the
weights were bounded (see docs/samplers/importance.md).
"""
import time
from collections import namedtuple

import numpy as np

import fastebm as fe

N_CHAINS, BURN_IN, N_STEPS, N_IMPORTANCE = 1000, 1000, 1000, 100_000
A, B = 2.0, 0.2  # banana: x0 ~ N(0, A²), x1 | x0 ~ N(B x0², 1)
GAUSS_MEAN = np.array([1.0, -1.0])
GAUSS_COV = np.array([[2.0, 1.2], [1.2, 1.0]])
Row = namedtuple("Row", "method target quantity estimate stderr exact ess accept seconds")
SAMPLERS = (("mala", fe.mala, {"step_size": 0.1}),       # initial values; adapt tunes them
            ("metropolis", fe.metropolis, {"scale": 1.0}))


def banana(x):
    """E(x) = x₀²/(2a²) + (x₁ - b x₀²)²/2."""
    return 0.5 * x[0] ** 2 / A ** 2 + 0.5 * (x[1] - B * x[0] ** 2) ** 2


def banana_grad(x, out):
    """Writes ∇E(x) into ``out`` and returns E(x)."""
    r = x[1] - B * x[0] ** 2
    out[0] = x[0] / A ** 2 - 2.0 * B * x[0] * r
    out[1] = r
    return 0.5 * x[0] ** 2 / A ** 2 + 0.5 * r * r


def targets():
    """[(name, energy, exact {quantity: value}, IS proposal)] of the two targets."""
    gauss = fe.Gaussian(GAUSS_MEAN, covariance=GAUSS_COV)
    ban = fe.energy(banana, banana_grad, dim=2)
    return [
        ("gaussian", gauss,
         {"mean x[1]": GAUSS_MEAN[1], "var x[1]": GAUSS_COV[1, 1],
          "log Z": gauss.log_partition()},
         fe.proposals.Gaussian(GAUSS_MEAN, 2.0 * GAUSS_COV)),
        ("banana", ban,
         {"mean x[1]": B * A ** 2, "var x[1]": 1.0 + 2.0 * B ** 2 * A ** 4,
          "log Z": np.log(2.0 * np.pi * A)},
         fe.proposals.Gaussian([0.0, B * A ** 2], [(1.5 * A) ** 2, 4.0 ** 2])),
    ]


def timed(fn, *args, **kwargs):
    """(fn(*args, **kwargs), wall seconds)."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def chain_mean_and_stderr(y):
    """Mean of draws y (n_draws, n_chains) and its error from the independent chains.

    The chains are independent, so sd(chain means) / √n_chains is the standard error of
    their average, with no autocorrelation to estimate.
    """
    chain_means = y.mean(axis=0)
    return chain_means.mean(), chain_means.std(ddof=1) / np.sqrt(chain_means.size)


def run_mcmc(sampler, options, energy, x0, seed):
    """(result, compile seconds, run seconds) of one sampler on one energy."""
    _, compile_s = timed(sampler, energy, x0[:2], n_steps=10, burn_in=10, adapt=True,
                         rng=0, **options)
    result, run_s = timed(sampler, energy, x0, n_steps=N_STEPS, burn_in=BURN_IN,
                          adapt=True, rng=seed, **options)
    return result, compile_s, run_s


def mcmc_rows(name, result, target, exact, run_s):
    """Table rows for the mean and the variance of x[1]."""
    # x[1] and its squared deviation side by side, for one fe.ess call (a thread each),
    # written into one array: no temporary copies of the 10⁶ draws
    pair = np.empty(result.draws.shape[:2] + (2,))
    x1, squares = pair[..., 0], pair[..., 1]
    x1[...] = result.draws[..., 1]
    np.square(np.subtract(x1, x1.mean(), out=squares), out=squares)
    ess_x1, ess_squares = fe.ess(pair)
    accept = f"{result.acceptance_rate.mean():.3f}"
    return [Row(name, target, "mean x[1]", *chain_mean_and_stderr(x1), exact["mean x[1]"],
                ess_x1, accept, run_s),
            Row(name, target, "var x[1]", *chain_mean_and_stderr(squares), exact["var x[1]"],
                ess_squares, "", None)]


def importance_row(target, energy, proposal, exact, seed):
    """(table row, compile seconds) of importance sampling for log Z."""
    _, compile_s = timed(fe.importance_sample, energy, proposal, 2, rng=0)
    result, run_s = timed(fe.importance_sample, energy, proposal, N_IMPORTANCE, rng=seed)
    row = Row("importance", target, "log Z", result.log_z, result.stderr, exact["log Z"],
              result.ess, "", run_s)
    return row, compile_s


def rbm_rows(seed):
    """(rows, compile seconds) for a 16 × 12 Bernoulli RBM: block Gibbs estimates the
    mean of the first visible unit, AIS estimates log Z; both exact by enumeration."""
    rng = np.random.default_rng(7)
    rbm = fe.BernoulliRBM(rng.normal(size=(16, 12)), rng.normal(size=16) * 0.5,
                          rng.normal(size=12) * 0.5)
    exact_mean = -rbm.expected_grad_theta()[16 * 12]  # ∂F/∂b₀ = -v₀
    v0 = np.zeros((N_CHAINS, 16))
    _, compile_s = timed(fe.gibbs, rbm, v0[:2], 2, rng=0)
    result, run_s = timed(fe.gibbs, rbm, v0, N_STEPS, burn_in=BURN_IN, rng=seed)
    first = result.draws[..., 0]
    rows = [Row("gibbs", "rbm", "mean v[0]", *chain_mean_and_stderr(first), exact_mean,
                fe.ess(first), "1.000", run_s)]
    _, more = timed(fe.ais, rbm, None, 2, 3, rng=0)
    est, ais_s = timed(fe.ais, rbm, None, N_CHAINS, 1000, rng=seed + 1)
    rows.append(Row("ais", "rbm", "log Z", est.log_z, est.stderr, rbm.log_partition(), est.ess,
                    "", ais_s))
    return rows, compile_s + more


def format_table(rows):
    """One plain-text table; z = (estimate - exact) / se."""
    head = (f"{'method':<11}{'target':<10}{'quantity':<10}{'estimate ± se':>21}"
            f"{'exact':>9}{'z':>7}{'ESS':>9}{'accept':>8}{'time (s)':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        cell = f"{r.estimate:.4f} ± {r.stderr:.4f}"
        z = (r.estimate - r.exact) / r.stderr
        secs = "" if r.seconds is None else f"{r.seconds:.2f}"
        lines.append(f"{r.method:<11}{r.target:<10}{r.quantity:<10}{cell:>21}{r.exact:>9.4f}"
                     f"{z:>7.2f}{r.ess:>9.0f}{r.accept:>8}{secs:>10}")
    return "\n".join(lines)


def main():
    rows, compile_total = [], 0.0
    start = np.random.default_rng(2024).normal(scale=2.0, size=(N_CHAINS, 2))
    for seed, (target, energy, exact, proposal) in enumerate(targets()):
        for name, sampler, options in SAMPLERS:
            result, compile_s, run_s = run_mcmc(sampler, options, energy, start, 10 * seed + 1)
            rows += mcmc_rows(name, result, target, exact, run_s)
            compile_total += compile_s
        row, compile_s = importance_row(target, energy, proposal, exact, 10 * seed + 2)
        rows.append(row)
        compile_total += compile_s
    more_rows, compile_s = rbm_rows(100)
    rows += more_rows
    compile_total += compile_s
    print(f"fastebm {fe.__version__}: {N_CHAINS} chains, {BURN_IN} burn-in steps (adapting), "
          f"{N_STEPS} kept; importance sampling with n = {N_IMPORTANCE:,}\n")
    print(format_table(rows))
    run_total = sum(r.seconds for r in rows if r.seconds is not None)
    print(f"\ncompilation (first calls on tiny problems): {compile_total:.1f} s; "
          f"runs: {run_total:.1f} s")


if __name__ == "__main__":
    main()
