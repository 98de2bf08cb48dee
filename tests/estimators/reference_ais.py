"""A pure-NumPy AIS on the same Philox streams as the compiled kernels.

It shares nothing with the library but the stream mappings of ``fastebm._rng``: the
base density, its gradient, the annealed energies and the acceptance ratios are written
out here directly, vectorized over chains, so a wrong weight increment or a wrong
transition in the kernel shows up as a mismatch.
"""
import numpy as np

from fastebm._rng import normals_reference, uniforms_reference

TAG_NOISE, TAG_ACCEPT, TAG_BASE = 0, 1, 2



def mixture_energy(weights, means, variances):
    """(E, ∇E) of E = -log Σₖ wₖ N(x; μₖ, diag vₖ) for a batch (K components)."""
    def energy_grad(x):
        r = x[:, None, :] - means[None]                       # (n, K, d)
        log_terms = (np.log(weights) - 0.5 * np.sum(np.log(2 * np.pi * variances), axis=1)
                     - 0.5 * np.sum(r * r / variances, axis=2))  # (n, K)
        top = log_terms.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(log_terms - top).sum(axis=1))
        resp = np.exp(log_terms - lse[:, None])
        return -lse, np.einsum("nk,nkd->nd", resp, r / variances)
    return energy_grad


class GaussianBase:
    """q = N(μ, Σ): draws, log q and ∇ log q written out directly."""

    def __init__(self, mean, cov):
        self.mean, self.cov = np.asarray(mean, float), np.asarray(cov, float)
        self.chol = np.linalg.cholesky(self.cov)
        self.inv = np.linalg.inv(self.cov)
        d = self.mean.size
        self.log_norm = -0.5 * np.linalg.slogdet(2 * np.pi * self.cov)[1]
        self.dim = d

    def draw(self, key, chains, tag):
        return self.mean + normals_reference(key, chains, 0, tag, self.dim) @ self.chol.T

    def log_density_grad(self, x):
        r = x - self.mean
        s = r @ self.inv
        return self.log_norm - 0.5 * np.sum(r * s, axis=1), -s


class UniformBase:
    """q = uniform on the box [low, high]: log q = -Σ log(high - low) inside, -inf outside."""

    def __init__(self, low, high):
        self.low, self.high = np.asarray(low, float), np.asarray(high, float)
        self.dim = self.low.size
        self.log_norm = -np.sum(np.log(self.high - self.low))

    def draw(self, key, chains, tag):
        return self.low + (self.high - self.low) * uniforms_reference(key, chains, 0, tag,
                                                                      self.dim)

    def log_density_grad(self, x):
        inside = np.all((x >= self.low) & (x <= self.high), axis=1)
        return np.where(inside, self.log_norm, -np.inf), np.zeros_like(x)


def _annealed(beta, e, log_q):
    if beta == 1.0:
        return e
    if beta == 0.0:
        return -log_q
    return beta * e - (1 - beta) * log_q


def ais_reference(energy_grad, base, betas, step_sizes, n_steps, key, *, transition,
                  x0=None, n_chains=None, increment="correct"):
    """(log weights, n_accepted) of AIS visiting ``betas`` in the given order.

    x0=None draws the start from the base (forward); otherwise it starts at x0 (reverse,
    with betas and step sizes already reversed). ``increment`` != "correct" builds the
    negative controls: "new_state" evaluates -E - log q after the moves instead of
    before, "half_step" uses half the β difference.
    """
    chains = np.arange(n_chains if x0 is None else x0.shape[0])
    x = base.draw(key, chains, TAG_BASE) if x0 is None else np.array(x0, float)
    e, g = energy_grad(x)
    log_q, grad_log_q = base.log_density_grad(x)
    log_w = np.zeros(chains.size)
    n_accepted = np.zeros(chains.size, dtype=int)
    K = len(betas) - 1
    for k in range(1, K + 1):
        beta, delta = betas[k], betas[k] - betas[k - 1]
        if increment == "half_step":
            delta = 0.5 * delta
        if increment != "new_state":
            log_w += delta * (-e - log_q)
        if k == K:
            if increment == "new_state":
                log_w += delta * (-e - log_q)
            break
        h = step_sizes[k]
        for s in range(n_steps):
            step = k * n_steps + s
            xi = normals_reference(key, chains, step, TAG_NOISE, base.dim)
            if transition == "rwm":
                y = x + h * xi
            else:
                u_x = beta * g - (1 - beta) * grad_log_q
                y = x - h * u_x + np.sqrt(2 * h) * xi
            e_y, g_y = energy_grad(y)
            log_q_y, grad_log_q_y = base.log_density_grad(y)
            target_x, target_y = _annealed(beta, e, log_q), _annealed(beta, e_y, log_q_y)
            if transition == "rwm":
                log_alpha = target_x - target_y
            else:
                u_y = beta * g_y - (1 - beta) * grad_log_q_y
                # log q(x|y) - log q(y|x) of the Langevin proposal N(x - h∇U(x), 2h I)
                back = np.sum((x - y + h * u_y) ** 2, axis=1)
                fwd = np.sum((y - x + h * u_x) ** 2, axis=1)
                log_alpha = target_x - target_y - (back - fwd) / (4 * h)
            if transition == "ula":
                take = np.isfinite(target_y)
            else:
                u = uniforms_reference(key, chains, step, TAG_ACCEPT, 1)[:, 0]
                take = np.log(u) < log_alpha
            x[take], e[take], g[take] = y[take], e_y[take], g_y[take]
            log_q[take], grad_log_q[take] = log_q_y[take], grad_log_q_y[take]
            n_accepted += take
        if increment == "new_state":
            log_w += delta * (-e - log_q)
    return log_w, n_accepted
