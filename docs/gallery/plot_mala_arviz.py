"""
MALA traces through ArviZ
=========================

``fe.to_arviz`` turns a fastebm run into ArviZ's data format (an ``xarray.DataTree``
with ArviZ 1.x), so that ArviZ's diagnostics and plots apply to it directly. Here four
MALA chains start far out in the tails of a correlated Gaussian; ``arviz_stats``
summarises them (its R-hat and bulk ESS are those of ``fe.rhat`` and ``fe.ess``), and
``arviz_plots`` draws their traces and rank plots. Needs ``pip install "fastebm[arviz]"``;
see :doc:`/arviz` for what the conversion stores.
"""

import matplotlib
import numpy as np

import fastebm as fe

# %%
# Four chains from an overdispersed start
# ---------------------------------------
# Burn-in with step-size adaptation, then 2,500 steps kept every 5th: 500 draws a chain.

E = fe.Gaussian(np.zeros(2), covariance=[[1.0, 0.8], [0.8, 1.0]])
x0 = np.random.default_rng(0).normal(scale=5.0, size=(4, 2))
run = fe.mala(E, x0, 0.5, 2500, burn_in=500, thin=5, adapt=True, rng=1)

dt = fe.to_arviz(run, energy=E)   # posterior: x (chain, draw, x_dim_0); sample_stats
print(dt["posterior"])
print("acceptance rate per chain:", dt["sample_stats"]["acceptance_rate"].values)

# %%
# ArviZ's summary
# ---------------
# ``r_hat`` is the rank-normalized split R-hat and ``ess_bulk`` the bulk effective
# sample size of Vehtari et al. (2021), the same numbers as fastebm's own diagnostics.

import arviz_stats as azs  # noqa: E402

print(azs.summary(dt, kind="diagnostics"))
print("fe.rhat:", fe.rhat(run.draws), " fe.ess:", fe.ess(run.draws))

# %%
# Trace and rank plots
# --------------------
# Well-mixed chains overlap in the traces, and their rank ECDFs stay inside the grey
# simultaneous 99% band of the rank plot.

import arviz_plots as azp  # noqa: E402

azp.plot_trace(dt, backend="matplotlib", figure_kwargs={"figsize": (7, 3)})
azp.plot_rank(dt, backend="matplotlib", figure_kwargs={"figsize": (7, 3)})

# %%
# The log density of each draw, ``lp = -E(x)`` (up to the constant log Z), is stored in
# ``sample_stats`` because ``energy=E`` was given; its trace is one more view of mixing.

azp.plot_trace(dt, group="sample_stats", var_names=["lp"], backend="matplotlib",
               figure_kwargs={"figsize": (7, 2.2)})
