"""CD-k and PCD training of RBMs (Hinton 2002; Tieleman 2008; seed 003).

Each mini-batch update descends the average negative log-likelihood of the data (the
sign convention of ``fastebm.training.gradients``):

    ∇_θ L ≈ mean_batch ∇_θF(v) - mean_chains ∇_θF(v⁻),

with F the free energy. For a Bernoulli RBM, ∇_W L ≈ -(vᵀs(v)/n - v⁻ᵀs(v⁻)/m) with
s(v) = p(h = 1 | v): the Hebbian / anti-Hebbian difference of seed 003 (hidden
probabilities, not binary draws, in both statistics; Hinton 2010, sec. 3). The
negatives v⁻ are k block Gibbs sweeps from the batch (CD-k) or from persistent chains
carried across updates (PCD). Update with momentum μ and L2 weight decay λ on W:

    velocity ← μ velocity - lr (∇_θ L + λ W),    θ ← θ + velocity.

The negative chains are (v, h) pairs; each update draws v ~ p(v | h) then h ~ p(h | v)
k times on the Philox streams (chain r of update u uses steps u·k … u·k + k - 1), so a
fit is reproducible from ``rng`` alone.
"""
import numpy as np

from .._contract import TAG_CD_START, TAG_RBM_HIDDEN
from ..backend import CPU


def free_energy_gradient(model, v):
    """Mean over rows of ∇_θF(v) as (∂W, ∂b, ∂c), without the (n, p) per-point array."""
    beta = model.beta
    scaled = v / model._visible_scale
    s = model.hidden_probabilities(v)
    n = v.shape[0]
    g_w = -beta * (scaled.T @ s) / n
    g_c = -beta * s.mean(axis=0)
    if model.is_discrete:
        g_b = -beta * v.mean(axis=0)
    else:
        g_b = -beta * ((v - model.b) / model.sigma ** 2).mean(axis=0)
    return g_w, g_b, g_c


def epoch_order(key, epoch, n):
    """The data order of one epoch, a permutation drawn from (key, epoch) alone."""
    return np.random.default_rng([int(key[0]), int(key[1]), 0x46495400, epoch]).permutation(n)


class RBMTrainer:
    """The state of a CD/PCD fit: parameters, velocities, persistent chains, streams.

    The negative chains live in (v, h): an update draws v ~ p(v | h), then h ~ p(h | v),
    k times; CD starts h at a draw from p(h | batch), PCD at its stored fantasy
    particles (started at random data rows). ``epoch`` runs one compiled call for a
    Bernoulli RBM (``_kernels.numba.rbm.train_epoch``); ``step`` is the same update
    written with NumPy around the sampling kernels, used for Gaussian visibles and as
    the compiled epoch's reference.
    """

    def __init__(self, model, data, *, method, k, batch_size, n_chains, key):
        self.model = model
        self.data = data
        self.method, self.k, self.batch_size, self.key = method, k, batch_size, key
        self.W, self.b, self.c = model.W.copy(), model.b.copy(), model.c.copy()
        self.velocity = [np.zeros_like(self.W), np.zeros_like(self.b), np.zeros_like(self.c)]
        self.update = 0
        self.chains_v = np.empty((0, data.shape[1]))
        self.chains_h = np.empty((0, self.W.shape[1]))
        if method == "pcd":
            rows = np.random.default_rng([int(key[0]), int(key[1]), 0x50434400]).integers(
                0, data.shape[0], n_chains)
            self.chains_v = data[rows].copy()
            self.chains_h = self._draw_hidden(model, self.chains_v, 0, TAG_CD_START)

    def _draw_hidden(self, model, v, step, tag):
        return CPU.runners.rbm_hidden_draws(model.hidden_probabilities(v), self.key, step, tag)

    def current(self):
        """The model with the current parameters."""
        extra = () if self.model.is_discrete else (self.model.sigma.copy(),)
        return type(self.model)(self.W.copy(), self.b.copy(), self.c.copy(), *extra)

    def epoch(self, epoch, learning_rate, momentum, weight_decay, compiled=True):
        """One pass over the data in shuffled mini-batches: one compiled call for a
        Bernoulli RBM, else (and as its reference) one ``step`` per batch."""
        order = epoch_order(self.key, epoch, self.data.shape[0])
        if compiled and self.model.is_discrete and self.model.beta == 1.0:
            self.update = CPU.runners.rbm_train_epoch(
                (self.W, self.b, self.c), self.velocity, self.data, order, self.batch_size,
                (self.chains_v, self.chains_h), self.method == "pcd", self.k, self.update,
                self.key, learning_rate, momentum, weight_decay)
            return
        for start in range(0, order.size, self.batch_size):
            self.step(self.data[order[start:start + self.batch_size]], learning_rate, momentum,
                      weight_decay)

    def step(self, batch, learning_rate, momentum, weight_decay):
        model = self.current()
        if self.method == "pcd":
            v, h = self.chains_v, self.chains_h
        else:
            v = np.empty_like(batch)
            h = self._draw_hidden(model, batch, self.update, TAG_CD_START)
        form = model._gibbs_form()
        for t in range(self.k):
            step = self.update * self.k + t
            CPU.runners.rbm_visible_draws(form, h, self.key, step, v)
            h[:] = self._draw_hidden(model, v, step, TAG_RBM_HIDDEN)
        positive = free_energy_gradient(model, batch)
        negative = free_energy_gradient(model, v)
        params = (self.W, self.b, self.c)
        for i, (theta, vel) in enumerate(zip(params, self.velocity)):
            grad = positive[i] - negative[i]
            if i == 0 and weight_decay:
                grad = grad + weight_decay * theta
            vel *= momentum
            vel -= learning_rate * grad
            theta += vel
        self.update += 1
