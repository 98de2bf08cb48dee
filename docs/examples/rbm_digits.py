"""Train a Bernoulli RBM on scikit-learn's digits with PCD-1, track its AIS
log-likelihood, and draw samples (docs/models/rbm.md).

    python docs/examples/rbm_digits.py           # needs scikit-learn and matplotlib

Writes docs/figures/rbm_digits_training.png and docs/figures/rbm_digits_samples.png and
prints the training table.
"""
import pathlib

import numpy as np
from sklearn.datasets import load_digits

import fastebm as fe

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "figures"


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = (load_digits().data > 7).astype(float)          # 1797 × 64, binarized
    rng = np.random.default_rng(0)
    train, test = data[:1500], data[1500:]
    start = fe.BernoulliRBM(rng.normal(size=(64, 100)) * 0.01, np.zeros(64), np.zeros(100))
    result = fe.fit(start, train, "pcd", k=1, learning_rate=0.02, n_epochs=100,
                    batch_size=100, momentum=0.5, monitor=("reconstruction",),
                    ais_every=20, ais_options={"n_chains": 200, "n_temperatures": 5000}, rng=1)
    rbm, hist = result.model, result.history
    log_z = fe.ais(rbm, train, 500, 20_000, schedule="linear", rng=2)
    print(f"log Z = {log_z.log_z:.3f} ± {log_z.stderr:.3f} (ESS {log_z.ess:.0f} of 500)")
    print(f"train log-likelihood {rbm.log_likelihood(train, log_z):.2f}, "
          f"test {rbm.log_likelihood(test, log_z):.2f} nats per digit")
    print("epoch  AIS train LL (± se)   reconstruction")
    for e, ll, se in zip(hist["ais_epoch"], hist["ais_log_likelihood"], hist["ais_stderr"]):
        print(f"{e:5d}  {ll:9.3f} ± {se:.3f}     {hist['reconstruction'][e - 1]:.4f}")

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].errorbar(hist["ais_epoch"], hist["ais_log_likelihood"], yerr=hist["ais_stderr"],
                   marker="o")
    ax[0].set(xlabel="epoch", ylabel="train log-likelihood (AIS), nats",
              title="PCD-1, 64 × 100 RBM on digits")
    ax[1].plot(hist["epoch"], hist["reconstruction"])
    ax[1].set(xlabel="epoch", ylabel="reconstruction error (MSE)")
    fig.tight_layout()
    fig.savefig(FIGURES / "rbm_digits_training.png", dpi=90)

    samples = fe.gibbs(rbm, test[:40], 1, burn_in=999, rng=3).draws[-1]
    fig, axes = plt.subplots(4, 10, figsize=(8, 3.4))
    for img, a in zip(samples, axes.ravel()):
        a.imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        a.axis("off")
    fig.suptitle("Gibbs samples after 1000 sweeps (chains started at test digits)")
    fig.savefig(FIGURES / "rbm_digits_samples.png", dpi=90)


if __name__ == "__main__":
    main()
