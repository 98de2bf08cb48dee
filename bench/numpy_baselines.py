"""Plain vectorized NumPy implementations of the benchmarked algorithms.

These are the baselines fastebm is compared against in the same run (PERFORMANCE.md,
"Peers on the same workloads"): every chain moves at once through whole-array NumPy
operations, the matrix products go to NumPy's BLAS and the normals come from
``np.random.default_rng``. They implement the same algorithms and step-size
conventions as fastebm (h = ``step_size``, x' = x - h∇E(x) + √(2h) ξ) but draw from
NumPy's generator, so they agree with fastebm in distribution, not draw for draw.
"""
import numpy as np


# --- targets ----------------------------------------------------------------------------

def ill_conditioned_gaussian(dim=100, condition=100.0, seed=0):
    """(mean, precision) of a d-dim Gaussian whose precision has eigenvalues log-spaced
    on [1, condition], rotated by a random orthogonal matrix (fixed seed)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q *= np.sign(np.diag(r))  # Haar-distributed rotation
    eigenvalues = np.logspace(0.0, np.log10(condition), dim)
    precision = (q * eigenvalues) @ q.T
    precision = 0.5 * (precision + precision.T)
    mean = rng.standard_normal(dim)
    return mean, precision


def gaussian_draws(mean, precision, n, seed=1):
    """n exact draws of N(mean, precision⁻¹): stationary starting points for the chains."""
    chol = np.linalg.cholesky(precision)  # P = LLᵀ, so x = μ + L⁻ᵀz has covariance P⁻¹
    z = np.random.default_rng(seed).standard_normal((mean.shape[0], n))
    return mean + np.linalg.solve(chol.T, z).T


def gaussian_energy_grad(x, mean, precision):
    """E(x) = ½(x-μ)ᵀP(x-μ) and ∇E = P(x-μ) for a batch x (n, d); one BLAS product."""
    r = x - mean
    g = r @ precision
    return 0.5 * np.einsum("ij,ij->i", r, g), g


def banana_energy(x):
    """The 2-d banana E(x) = x₀²/2 + (x₁ - x₀²)²/2 for a batch x (n, 2)."""
    a = x[:, 0]
    b = x[:, 1] - a * a
    return 0.5 * (a * a + b * b)


def banana_point(x):
    """The same banana for one point x (2,): the user energy given to ``fe.energy``."""
    b = x[1] - x[0] * x[0]
    return 0.5 * (x[0] * x[0] + b * b)


# --- samplers ---------------------------------------------------------------------------

def langevin(mean, precision, x0, step_size, n_steps, rng, *, metropolize):
    """ULA (``metropolize=False``) or MALA on the Gaussian, all chains at once.

    Returns (final positions (n, d), acceptance rate per chain). Proposals with a
    non-finite log α are rejected (NaN compares False).
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    n = x.shape[0]
    h = float(step_size)
    root = np.sqrt(2.0 * h)
    e, g = gaussian_energy_grad(x, mean, precision)
    accepted = np.zeros(n)
    for _ in range(n_steps):
        xi = rng.standard_normal(x.shape)
        y = x - h * g
        y += root * xi
        e_y, g_y = gaussian_energy_grad(y, mean, precision)
        if not metropolize:
            x, e, g = y, e_y, g_y
            accepted += 1.0
            continue
        r = h * (g + g_y)
        r -= root * xi
        log_alpha = (e - e_y - np.einsum("ij,ij->i", r, r) / (4.0 * h)
                     + 0.5 * np.einsum("ij,ij->i", xi, xi))
        take = np.log(rng.random(n)) < log_alpha
        np.copyto(x, y, where=take[:, None])
        np.copyto(g, g_y, where=take[:, None])
        np.copyto(e, e_y, where=take)
        accepted += take
    return x, accepted / max(n_steps, 1)


def mala(mean, precision, x0, step_size, n_steps, rng):
    return langevin(mean, precision, x0, step_size, n_steps, rng, metropolize=True)


def ula(mean, precision, x0, step_size, n_steps, rng):
    return langevin(mean, precision, x0, step_size, n_steps, rng, metropolize=False)


def random_walk(energy, x0, scale, n_steps, rng):
    """Random-walk Metropolis y = x + σξ, accepted with probability min(1, e^{E(x)-E(y)}).

    ``energy`` maps a batch (n, d) to (n,). Returns (final positions, acceptance rate per
    chain); one energy evaluation per chain and step.
    """
    x = np.array(x0, dtype=np.float64, copy=True)
    n = x.shape[0]
    e = energy(x)
    accepted = np.zeros(n)
    for _ in range(n_steps):
        y = rng.standard_normal(x.shape)
        y *= scale
        y += x
        e_y = energy(y)
        take = np.log(rng.random(n)) < e - e_y
        np.copyto(x, y, where=take[:, None])
        np.copyto(e, e_y, where=take)
        accepted += take
    return x, accepted / max(n_steps, 1)
