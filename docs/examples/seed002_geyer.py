"""Seed 002, section 7, reproduced: Geyer's J_BL(θ) for a 1-d Gaussian EBM under two proposals.

E(x|θ) = x²/(2θ²), Z(θ) = √(2π) θ (eq. 22); θ* = 2, N = 100 data points (eq. 23);
proposals q₁ = N(2, 2²) (eq. 24, one sample reused for every θ) and
q₂(y|θ) = N(2, (2 + θ)²) (eq. 25, a fresh sample per θ); M ∈ {100, 5000}; 1000
independent replicates. Writes into ``--out`` (default docs/figures):

- seed002_q1.png: (a) three J_BL curves, M = 100; (b), (c) the 0-100 % envelope of the
  1000 curves, their mean and the true J, M = 100 and 5000 (seed 002, Fig. 1);
- seed002_q2.png: the same for q₂, M = 100 and 5000 (seed 002, Fig. 2);
- seed002_table.md: the spread of J_BL(θ) - J(θ) at θ = 3, 4, 5 for both proposals,
  and the Monte Carlo MLEs.

Each curve r is ``fe.geyer_nll(E, x, q, M, rng=child_r)`` with child_r the r-th stream
of ``SeedSequence(seed).spawn(1000)``. J_BL(θ) - J(θ) = N (log Ẑ(θ) - log Z(θ)), so
the curves are computed with ``fe.replicate(fe.ImportanceEstimator(E_θ, q, M), 1000)``,
one compiled call per θ on the same streams (checked against ``geyer_nll`` below).

Run (matplotlib needed: ``pip install fastebm[plot]``)::

    python docs/examples/seed002_geyer.py            # about a minute on two cores
"""
import argparse
import os
import time

import numpy as np

import fastebm as fe

THETA_STAR, N, SEED = 2.0, 100, 2002
THETAS = np.linspace(1.0, 6.0, 51)
TABLE_THETAS = (3.0, 4.0, 5.0)


def model(theta=THETA_STAR):
    """E(x|θ) = x²/(2θ²) as a user energy with ∂E/∂θ = -x²/θ³ (seed 002, eq. 22)."""
    def fn(x, th):
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad(x, th, out):
        out[0] = x[0] / (th[0] * th[0])
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad_theta(x, th, out):
        out[0] = -x[0] * x[0] / th[0] ** 3
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    return fe.energy(fn, grad, theta=[theta], grad_theta=grad_theta, dim=1)


def q1(theta=None):
    return fe.proposals.Gaussian([2.0], [4.0])


def q2(theta):
    return fe.proposals.Gaussian([2.0], [(2.0 + theta[0]) ** 2])


def true_nll(x, theta):
    """J(θ) = Σ xₙ²/(2θ²) + N log(√(2π) θ) (eq. 5 with the exact Z)."""
    return np.sum(x ** 2) / (2 * theta ** 2) + x.shape[0] * np.log(np.sqrt(2 * np.pi) * theta)


def curves(energy, x, proposal, m, n_rep, seed):
    """J_BL of each replicate on the θ grid, shape (n_rep, len(THETAS))."""
    out = np.empty((n_rep, THETAS.size))
    for j, theta in enumerate(THETAS):
        e_theta = energy.with_theta([theta])
        q = proposal(np.array([theta]))
        log_z = fe.replicate(fe.ImportanceEstimator(e_theta, q, m), n_rep, rng=seed).values
        out[:, j] = np.sum(e_theta.energy(x)) + x.shape[0] * log_z
    # the same numbers as Geyer's J of replicate r on stream r (spot check, 3 replicates)
    children = np.random.SeedSequence(seed).spawn(n_rep)
    is_fixed = proposal is q1
    for r in range(3):
        J = fe.geyer_nll(energy, x, q1() if is_fixed else proposal, m, rng=children[r])
        for j in (0, THETAS.size // 2, THETAS.size - 1):
            assert np.isclose(J([THETAS[j]]), out[r, j], rtol=1e-10, atol=1e-8)
    return out


def plot_envelope(ax, values, truth, title):
    ax.fill_between(THETAS, values.min(axis=0), values.max(axis=0), color="tab:green",
                    alpha=0.35, lw=0, label="0-100 % of the curves")
    ax.plot(THETAS, values.mean(axis=0), "--", color="tab:blue", label="mean of the curves")
    ax.plot(THETAS, truth, color="tab:red", label="true J(θ)")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("θ")


def figure(path, panels, truth):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), sharey=True)
    for ax, (kind, values, title) in zip(axes, panels):
        if kind == "three":
            for k in range(3):
                ax.plot(THETAS, values[k], lw=1, label=f"J_BL, sample {k + 1}")
            ax.plot(THETAS, truth, color="tab:red", label="true J(θ)")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("θ")
        else:
            plot_envelope(ax, values, truth, title)
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("negative log-likelihood")
    axes[0].set_ylim(truth.min() - 50, truth.max() + 80)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def spread_table(results, x):
    lines = ["| proposal | M | θ | sd of J_BL - J | IQR | min | max | mean |",
             "|---|---|---|---|---|---|---|---|"]
    for (name, m), values in results.items():
        for theta in TABLE_THETAS:
            j = int(np.argmin(np.abs(THETAS - theta)))
            diff = values[:, j] - true_nll(x, THETAS[j])
            q75, q25 = np.percentile(diff, [75, 25])
            lines.append(f"| {name} | {m} | {theta:g} | {diff.std(ddof=1):.2f} | {q75 - q25:.2f} "
                         f"| {diff.min():.1f} | {diff.max():.1f} | {diff.mean():.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "figures"))
    parser.add_argument("--reps", type=int, default=1000)
    args = parser.parse_args()
    start = time.perf_counter()
    energy = model()
    x = np.random.default_rng(SEED).normal(0.0, THETA_STAR, size=(N, 1))
    truth = true_nll(x, THETAS)
    results = {}
    for name, proposal in (("q1", q1), ("q2", q2)):
        for m in (100, 5000):
            results[(name, m)] = curves(energy, x, proposal, m, args.reps, SEED + m)
    os.makedirs(args.out, exist_ok=True)
    figure(os.path.join(args.out, "seed002_q1.png"), [
        ("three", results[("q1", 100)], "(a) q₁ = N(2, 2²), three samples, M = 100"),
        ("envelope", results[("q1", 100)], f"(b) q₁, {args.reps} runs, M = 100"),
        ("envelope", results[("q1", 5000)], f"(c) q₁, {args.reps} runs, M = 5000")], truth)
    figure(os.path.join(args.out, "seed002_q2.png"), [
        ("envelope", results[("q2", 100)], f"(a) q₂ = N(2, (2+θ)²), {args.reps} runs, M = 100"),
        ("envelope", results[("q2", 5000)], f"(b) q₂, {args.reps} runs, M = 5000")], truth)
    table = spread_table(results, x)
    mle = np.sqrt(np.mean(x ** 2))
    fits = {name: fe.fit_geyer(energy, x, proposal, 5000, theta0=[3.0], rng=SEED)
            for name, proposal in (("q1", q1()), ("q2", q2))}
    fit_lines = [f"exact MLE θ̂ = √(mean x²) = {mle:.4f}"] + [
        f"fit_geyer with {name}, M = 5000: θ̂ = {fit.theta[0]:.4f} (J_BL = {fit.nll:.2f}, "
        f"{fit.optimize_result.nit} BFGS iterations)" for name, fit in fits.items()]
    with open(os.path.join(args.out, "seed002_table.md"), "w") as fh:
        fh.write(f"Spread of J_BL(θ) - J(θ) over {args.reps} replicates (N = {N}, data seed "
                 f"{SEED}).\n\n{table}\n\n" + "\n".join(f"- {line}" for line in fit_lines) + "\n")
    print(table)
    print("\n".join(fit_lines))
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
