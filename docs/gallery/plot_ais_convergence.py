"""
AIS against the exact log Z as the temperatures grow
====================================================

Annealed importance sampling (Neal 2001) estimates log Z by moving chains from a base
distribution q to the target through the temperatures 0 = β₀ < β₁ < … < β_K = 1. Its
Ẑ is unbiased for Z, so log Ẑ is biased low (Jensen): E log Ẑ ≤ log Z, with a bias and
a variance that shrink as the number of temperatures grows.

On a Bernoulli RBM small enough that log Z is exact (its 2¹² hidden states are
enumerated), we run AIS with more and more temperatures and compare each estimate, with
its standard error, to the exact value. See :doc:`/estimators/partition_functions`
for the other estimators.
"""
import matplotlib.pyplot as plt
import numpy as np

import fastebm as fe

# %%
# A small RBM with an exact log Z
# -------------------------------
# 24 visible and 12 hidden units with weights of standard deviation 1.5: a rugged
# distribution on 2²⁴ states, far from the uniform base q (``base=None``).

rng = np.random.default_rng(0)
rbm = fe.BernoulliRBM(1.5 * rng.normal(size=(24, 12)), 0.2 * rng.normal(size=24),
                      0.2 * rng.normal(size=12))
exact = rbm.log_partition()
print(f"exact log Z = {exact:.4f}")

# %%
# AIS with 2 to 10,000 temperatures
# ---------------------------------
# Each run has 500 chains, one Gibbs sweep per temperature on the sigmoid schedule. With
# two temperatures (β = 0 and 1) AIS is plain importance sampling from q. The standard
# error is the delta-method sd(w) / (√n mean(w)); it is itself an estimate from the same
# weights, so it can be too small where a few chains carry all the weight (see the ESS).

n_temperatures = np.array([2, 5, 10, 30, 100, 300, 1000, 3000, 10_000])
runs = [fe.ais(rbm, None, 500, k, rng=1) for k in n_temperatures]
log_z = np.array([r.log_z for r in runs])
stderr = np.array([r.stderr for r in runs])
ess = np.array([r.ess for r in runs])
for k, est, se, e in zip(n_temperatures, log_z, stderr, ess):
    print(f"K + 1 = {k:6d}: log Ẑ = {est:8.4f} ± {se:.4f}, error {est - exact:+8.4f}, "
          f"ESS {e:5.1f} of 500")

# %%
# With few temperatures the estimate is far below log Z (the Jensen bias: the rare chains
# with huge weights that would make up the difference are not among the 500) and its
# standard error is far too small, because it is computed from those same weights. As
# the temperatures grow, the weights even out (the ESS approaches 500), the error bars
# (two standard errors) become honest and cover the exact value, and they shrink like
# 1/√K. The y axis is linear within ±0.05 and logarithmic beyond.

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.4))
ax0.errorbar(n_temperatures, log_z - exact, yerr=2 * stderr, marker="o", capsize=3,
             label="AIS, 500 chains (± 2 se)")
ax0.axhline(0.0, color="tab:red", label="exact log Z")
ax0.set_yscale("symlog", linthresh=0.05)
ax0.set(xscale="log", xlabel="number of temperatures K + 1", ylabel="log Ẑ - log Z",
        title="AIS on a 24 × 12 Bernoulli RBM")
ax0.legend(fontsize=8)
ax1.plot(n_temperatures, ess, marker="o")
ax1.set(xscale="log", yscale="log", xlabel="number of temperatures K + 1",
        ylabel="ESS of the weights", title="Kish's ESS of 500 chains")
fig.tight_layout()
