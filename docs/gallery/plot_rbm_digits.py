"""
A Bernoulli RBM on handwritten digits
=====================================

Train a 64 × 100 Bernoulli restricted Boltzmann machine on scikit-learn's 8 × 8 digits
(binarized) with persistent contrastive divergence (PCD-1), follow its log-likelihood
during training with annealed importance sampling (AIS), and draw digits from it by
block Gibbs sampling. The :doc:`RBM page </models/rbm>` has the mathematics and a longer
run (100 epochs, more AIS temperatures); this one trains for 30 epochs.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import fastebm as fe

data = (load_digits().data > 7).astype(float)          # 1797 × 64, in {0, 1}
train, test = data[:1500], data[1500:]

# %%
# Training with PCD-1
# -------------------
# ``fe.fit`` keeps 100 persistent chains (one minibatch) across updates. Every 10 epochs
# it estimates the training log-likelihood by AIS (100 chains, 1000 temperatures), with
# its standard error; the reconstruction error is recorded every epoch.

rng = np.random.default_rng(0)
start = fe.BernoulliRBM(rng.normal(size=(64, 100)) * 0.01, np.zeros(64), np.zeros(100))
result = fe.fit(start, train, "pcd", k=1, learning_rate=0.02, n_epochs=30,
                batch_size=100, momentum=0.5, monitor=("reconstruction",),
                ais_every=10, ais_options={"n_chains": 100, "n_temperatures": 1000}, rng=1)
rbm, history = result.model, result.history

# %%
# The held-out log-likelihood
# ---------------------------
# One more AIS run, with more temperatures, estimates log Z of the trained model; the
# log-likelihood of a digit is then -F(v) - log Z, with F the free energy.

log_z = fe.ais(rbm, train, 200, 5000, schedule="linear", rng=2)
print(f"log Z = {log_z.log_z:.3f} ± {log_z.stderr:.3f} (ESS {log_z.ess:.0f} of 200)")
print(f"train log-likelihood {rbm.log_likelihood(train, log_z):.2f}, "
      f"test {rbm.log_likelihood(test, log_z):.2f} nats per digit")

fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
ax[0].errorbar(history["ais_epoch"], history["ais_log_likelihood"],
               yerr=history["ais_stderr"], marker="o")
ax[0].set(xlabel="epoch", ylabel="train log-likelihood (AIS), nats",
          title="PCD-1, 64 × 100 RBM on digits")
ax[1].plot(history["epoch"], history["reconstruction"])
ax[1].set(xlabel="epoch", ylabel="reconstruction error (MSE)")
fig.tight_layout()

# %%
# Samples
# -------
# 40 Gibbs chains started at test digits, after 500 sweeps: the chains have left their
# starting digits and wander among the modes the model has learned.

samples = fe.gibbs(rbm, test[:40], 1, burn_in=499, rng=3).draws[-1]
fig, axes = plt.subplots(4, 10, figsize=(8, 3.4))
for image, a in zip(samples, axes.ravel()):
    a.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    a.axis("off")
fig.suptitle("Gibbs samples after 500 sweeps")
