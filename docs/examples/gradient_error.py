"""Bias and variance of likelihood-gradient estimators against the exact gradient
(docs/estimator_comparison.md).

    python docs/examples/gradient_error.py        # needs matplotlib

A 5-d Gaussian EBM away from its MLE (exact gradient in closed form) and an 8 × 4
Bernoulli RBM (exact gradient by enumerating its 256 visible states). Every estimator
uses 200 negatives and is repeated 200 times on independent streams
(``fe.gradient_error``); the figure shows each one's squared bias and variance, summed
over θ's coordinates, and their sum, the mean squared error. Writes
docs/figures/gradient_error.png and prints the table.
"""
import pathlib

import numpy as np

import fastebm as fe

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "figures"
M, REPEATS = 200, 200


def gaussian_estimators():
    rng = np.random.default_rng(0)
    d = 5
    data = rng.normal(size=(500, d)) @ np.diag([1.0, 1.5, 2.0, 0.7, 1.2]) + 0.5
    model = fe.Gaussian(np.zeros(d), precision=np.eye(d))
    q = fe.proposals.Gaussian(np.zeros(d), 4.0 * np.eye(d))
    exact = fe.exact_mle_gradient(model, data)
    starts = data[:M]

    def langevin_from_data(k):
        return lambda rng: fe.mle_gradient(model, data, fe.langevin(
            model, starts, 0.05, k, thin=k, rng=rng).draws[-1])

    estimators = {
        "CD-1 (ULA, h=0.05)": langevin_from_data(1),
        "CD-10 (ULA)": langevin_from_data(10),
        "CD-10 (MALA)": lambda rng: fe.mle_gradient(model, data, fe.mala(
            model, starts, 0.05, 10, thin=10, rng=rng).draws[-1]),
        "PCD-like (MALA, 500 steps)": lambda rng: fe.mle_gradient(model, data, fe.mala(
            model, starts, 0.3, 1, burn_in=499, rng=rng).draws[-1]),
        "IS + resampling (q = N(0, 4I))": lambda rng: fe.importance_resampling_gradient(
            model, data, q, M, rng=rng),
        "independent MH (q = N(0, 4I))": lambda rng: fe.independent_mh_gradient(
            model, data, q, M, 50, rng=rng),
        "exact draws": lambda rng: fe.mle_gradient(model, data, np.random.default_rng(rng).normal(
            size=(M, d))),
    }
    return exact, estimators


def rbm_estimators():
    rng = np.random.default_rng(1)
    rbm = fe.BernoulliRBM(rng.normal(size=(8, 4)) * 1.5, rng.normal(size=8) * 0.5,
                          rng.normal(size=4) * 0.5)
    data = (rng.random((M, 8)) < np.linspace(0.2, 0.8, 8)).astype(float)
    exact = fe.exact_mle_gradient(rbm, data)

    def gibbs_from(start, sweeps, burn=0):
        return lambda rng: fe.mle_gradient(rbm, data, fe.gibbs(
            rbm, start, 1, burn_in=sweeps - 1 + burn, rng=rng).draws[-1])

    estimators = {
        "CD-1": gibbs_from(data, 1),
        "CD-10": gibbs_from(data, 10),
        "PCD-like (500 sweeps)": gibbs_from(data, 500),
    }
    return exact, estimators


def table(title, exact, estimators):
    rows = []
    for name, estimator in estimators.items():
        err = fe.gradient_error(estimator, exact, REPEATS, rng=7)
        rows.append((name, float(np.sum(err.bias ** 2)), float(np.sum(err.variance)),
                     float(np.sum(err.mse))))
    print(f"\n{title}  (M = {M} negatives, {REPEATS} repeats; sums over θ)")
    print(f"{'estimator':34s} {'bias²':>10s} {'variance':>10s} {'MSE':>10s}")
    for name, b2, var, mse in rows:
        print(f"{name:34s} {b2:10.4g} {var:10.4g} {mse:10.4g}")
    return rows


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("5-d Gaussian EBM", *gaussian_estimators()),
              ("8 × 4 Bernoulli RBM", *rbm_estimators())]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [7, 3]})
    for ax, (title, exact, estimators) in zip(axes, panels):
        rows = table(title, exact, estimators)
        names = [r[0] for r in rows]
        y = np.arange(len(rows))
        ax.barh(y - 0.2, [r[1] for r in rows], 0.4, label="bias²")
        ax.barh(y + 0.2, [r[2] for r in rows], 0.4, label="variance")
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set(title=title, xlabel="summed over θ (log scale)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "gradient_error.png", dpi=90)


if __name__ == "__main__":
    main()
