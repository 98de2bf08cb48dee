"""
Geyer's importance-sampling likelihood under two proposals
==========================================================

Geyer's Monte Carlo likelihood replaces the unknown normalizer Z(θ) of an energy-based
model by an importance-sampling estimate from M draws of a proposal q:

    J_BL(θ) = Σₙ E(xₙ|θ) + N log( (1/M) Σₘ exp(-E(yₘ|θ)) / q(yₘ) ),   yₘ ~ q.

This example repeats the one-dimensional experiment (section 7, figures 1 and 2) of the
note on gradient-based parameter estimation for energy-based models that the
:doc:`Geyer page </estimators/geyer>` follows: the Gaussian energy E(x|θ) = x²/(2θ²),
whose exact Z(θ) = √(2π) θ gives the true negative log-likelihood J(θ) to compare with,
θ* = 2, N = 100 data points, M ∈ {100, 5000}, and two proposals, a fixed
q₁ = N(2, 2²) and a θ-dependent q₂(y|θ) = N(2, (2 + θ)²). The figures on the Geyer
page use 1000 replicates and a finer θ grid; here 200 replicates keep the run short.
"""
import matplotlib.pyplot as plt
import numpy as np

import fastebm as fe

THETA_STAR, N, SEED, N_REP = 2.0, 100, 2002, 200
THETAS = np.linspace(1.0, 6.0, 26)

# %%
# The model and the two proposals
# -------------------------------
# A user energy with its gradients in x and in θ; ``with_theta`` gives the same energy
# at another θ without compiling anything again.


def model(theta=THETA_STAR):
    """E(x|θ) = x²/(2θ²), ∂E/∂x = x/θ², ∂E/∂θ = -x²/θ³."""
    def fn(x, th):
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad(x, th, out):
        out[0] = x[0] / (th[0] * th[0])
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    def grad_theta(x, th, out):
        out[0] = -x[0] * x[0] / th[0] ** 3
        return x[0] * x[0] / (2.0 * th[0] * th[0])

    return fe.energy(fn, grad, theta=[theta], grad_theta=grad_theta, dim=1)


def q1(theta):
    """q₁ = N(2, 2²) for every θ (mean, covariance)."""
    return fe.proposals.Gaussian([2.0], [4.0])


def q2(theta):
    """q₂(y|θ) = N(2, (2 + θ)²): fit_geyer calls it with each θ it tries."""
    return fe.proposals.Gaussian([2.0], [(2.0 + theta[0]) ** 2])


energy = model()
x = np.random.default_rng(SEED).normal(0.0, THETA_STAR, size=(N, 1))
true_nll = np.sum(x ** 2) / (2 * THETAS ** 2) + N * np.log(np.sqrt(2 * np.pi) * THETAS)

# %%
# All replicates at once
# ----------------------
# J_BL(θ) - J(θ) = N (log Ẑ(θ) - log Z(θ)), so the 200 curves are 200 importance
# estimates of log Z(θ) at each θ of the grid: ``fe.replicate`` runs them in one compiled
# call, replicate r on the r-th child stream of the seed. With q₁ every θ reuses the same
# draws (the same streams), as Geyer's fixed sample does.


def curves(proposal, m):
    out = np.empty((N_REP, THETAS.size))
    for j, theta in enumerate(THETAS):
        e_theta = energy.with_theta([theta])
        estimator = fe.ImportanceEstimator(e_theta, proposal([theta]), m)
        log_z = fe.replicate(estimator, N_REP, rng=SEED + m).values
        out[:, j] = np.sum(e_theta.energy(x)) + N * log_z
    return out


results = {(name, m): curves(q, m) for name, q in (("q1", q1), ("q2", q2)) for m in (100, 5000)}

# the same numbers as fe.geyer_nll on replicate 0's stream
J = fe.geyer_nll(energy, x, q1(None), 100, rng=np.random.SeedSequence(SEED + 100).spawn(N_REP)[0])
print(f"J_BL(3), replicate 0: {J([3.0]):.4f} (geyer_nll), "
      f"{results[('q1', 100)][0, np.argmin(np.abs(THETAS - 3.0))]:.4f} (replicate)")

# %%
# The fixed proposal q₁ = N(2, 2²)
# --------------------------------
# (a) three realizations of J_BL with M = 100; (b), (c) the band between the lowest and
# the highest of the curves, their mean and the true J. For θ < 2 the band closes as M
# grows; beyond θ ≈ 2√2 the weights' variance is infinite (q₁'s tails are lighter than
# the model's) and the band stays wide even with M = 5000.


def envelope(ax, values, title):
    ax.fill_between(THETAS, values.min(axis=0), values.max(axis=0), color="tab:green",
                    alpha=0.35, lw=0, label="0-100 % of the curves")
    ax.plot(THETAS, values.mean(axis=0), "--", color="tab:blue", label="mean of the curves")
    ax.plot(THETAS, true_nll, color="tab:red", label="true J(θ)")
    ax.set(title=title, xlabel="θ")
    ax.legend(fontsize=7, loc="upper right")


fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.2), sharey=True)
for k in range(3):
    axes[0].plot(THETAS, results[("q1", 100)][k], lw=1, label=f"J_BL, sample {k + 1}")
axes[0].plot(THETAS, true_nll, color="tab:red", label="true J(θ)")
axes[0].set(title="(a) three samples, M = 100", xlabel="θ", ylabel="negative log-likelihood")
axes[0].legend(fontsize=7, loc="upper right")
envelope(axes[1], results[("q1", 100)], f"(b) {N_REP} runs, M = 100")
envelope(axes[2], results[("q1", 5000)], f"(c) {N_REP} runs, M = 5000")
axes[0].set_ylim(true_nll.min() - 50, true_nll.max() + 80)
fig.tight_layout()

# %%
# The θ-dependent proposal q₂(y|θ) = N(2, (2 + θ)²)
# --------------------------------------------------
# Its standard deviation 2 + θ always exceeds the model's, θ: the weights have finite
# variance at every θ, the band is narrow at M = 100 and nearly closed at M = 5000.

fig, axes = plt.subplots(1, 2, figsize=(7, 3.2), sharey=True)
envelope(axes[0], results[("q2", 100)], f"(a) {N_REP} runs, M = 100")
envelope(axes[1], results[("q2", 5000)], f"(b) {N_REP} runs, M = 5000")
axes[0].set(ylabel="negative log-likelihood", ylim=(true_nll.min() - 50, true_nll.max() + 80))
fig.tight_layout()

# %%
# The spread at θ = 4, and the Monte Carlo MLEs
# ---------------------------------------------
# ``fe.fit_geyer`` minimizes J_BL for one sample with SciPy's BFGS; the exact MLE of this
# model is √(mean x²).

j4 = np.argmin(np.abs(THETAS - 4.0))
for (name, m), values in results.items():
    diff = values[:, j4] - true_nll[j4]
    print(f"{name}, M = {m:4d}: sd of J_BL(4) - J(4) = {diff.std(ddof=1):6.2f}, "
          f"mean {diff.mean():6.2f}")
print(f"exact MLE θ̂ = {np.sqrt(np.mean(x ** 2)):.4f}")
for name, q in (("q1", q1(None)), ("q2", q2)):
    fit = fe.fit_geyer(energy, x, q, 5000, theta0=[3.0], rng=SEED)
    print(f"fit_geyer with {name}, M = 5000: θ̂ = {fit.theta[0]:.4f}")
