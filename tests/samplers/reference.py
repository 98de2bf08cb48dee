"""Pure-NumPy reference samplers on the same Philox streams as the compiled kernels.

They share nothing with the library but the stream mappings of ``fastebm._rng`` (which
are tested against the known-answer vectors): proposal densities are written out
directly, so a wrong acceptance ratio in a kernel shows up as a mismatch.
"""
import numpy as np

from fastebm._rng import normals_reference, uniforms_reference

TAG_NOISE, TAG_ACCEPT = 0, 1


def gaussian_energy(mean, precision):
    """(E, ∇E) of ½(x-μ)ᵀP(x-μ) for a batch."""
    def energy_grad(x):
        r = x - mean
        g = r @ precision
        return 0.5 * np.sum(r * g, axis=1), g
    return energy_grad


def langevin_reference(energy_grad, x0, h, n_steps, key, *, metropolize, sigma=None, step0=0):
    """Draws (n_steps, n, d) of MALA/ULA with proposal N(x - hΣ∇E(x), 2hΣ)."""
    x = np.array(x0, dtype=float)
    n, d = x.shape
    sigma = np.eye(d) if sigma is None else (np.diag(sigma) if np.ndim(sigma) == 1 else sigma)
    chol = np.linalg.cholesky(sigma)
    sigma_inv = np.linalg.inv(sigma)
    chains = np.arange(n)
    e, g = energy_grad(x)
    draws = []

    def log_q(to, frm, g_frm):
        r = to - (frm - h * g_frm @ sigma)
        return -np.einsum("ij,jk,ik->i", r, sigma_inv, r) / (4 * h)

    for s in range(n_steps):
        xi = normals_reference(key, chains, step0 + s, TAG_NOISE, d)
        y = x - h * g @ sigma + np.sqrt(2 * h) * xi @ chol.T
        e_y, g_y = energy_grad(y)
        if metropolize:
            log_alpha = e - e_y + log_q(x, y, g_y) - log_q(y, x, g)
            u = uniforms_reference(key, chains, step0 + s, TAG_ACCEPT, 1)[:, 0]
            take = np.log(u) < log_alpha
        else:
            take = np.ones(n, dtype=bool)
        x[take], e[take], g[take] = y[take], e_y[take], g_y[take]
        draws.append(x.copy())
    return np.array(draws)


def random_walk_reference(energy, x0, scale, n_steps, key, *, sigma=None):
    """Draws (n_steps, n, d) of random-walk Metropolis with proposal N(x, scale² Σ)."""
    x = np.array(x0, dtype=float)
    n, d = x.shape
    chol = np.eye(d) if sigma is None else np.linalg.cholesky(
        np.diag(sigma) if np.ndim(sigma) == 1 else sigma)
    chains = np.arange(n)
    e = energy(x)
    draws = []
    for s in range(n_steps):
        y = x + scale * normals_reference(key, chains, s, TAG_NOISE, d) @ chol.T
        e_y = energy(y)
        u = uniforms_reference(key, chains, s, TAG_ACCEPT, 1)[:, 0]
        take = np.log(u) < e - e_y
        x[take], e[take] = y[take], e_y[take]
        draws.append(x.copy())
    return np.array(draws)


def independent_reference(energy, mean, cov, x0, n_steps, key):
    """Draws of independent Metropolis-Hastings with proposal N(mean, cov)."""
    from scipy import stats
    q = stats.multivariate_normal(mean, cov)
    chol = np.linalg.cholesky(cov)
    x = np.array(x0, dtype=float)
    n, d = x.shape
    chains = np.arange(n)
    e = energy(x)
    draws = []
    for s in range(n_steps):
        y = mean + normals_reference(key, chains, s, TAG_NOISE, d) @ chol.T
        e_y = energy(y)
        log_alpha = e - e_y + q.logpdf(x) - q.logpdf(y)
        u = uniforms_reference(key, chains, s, TAG_ACCEPT, 1)[:, 0]
        take = np.log(u) < log_alpha
        x[take], e[take] = y[take], e_y[take]
        draws.append(x.copy())
    return np.array(draws)
