"""NumPy references for the RBM kernels, on the same Philox streams, and brute force.

They share only the stream mappings of ``fastebm._rng`` with the library (tested
against the known-answer vectors); the conditionals are written out from the energy.
"""
import itertools

import numpy as np

from fastebm._rng import normals_reference, uniforms_reference

TAG_HIDDEN, TAG_VISIBLE, TAG_INIT = 0x10, 0x11, 0x12


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def states(n):
    """All 2ⁿ binary vectors, shape (2ⁿ, n)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def visible_marginals(rbm):
    """(mean, variance) of every visible unit of a Bernoulli RBM, by enumeration."""
    vs = states(rbm.n_visible)
    p = np.exp(-rbm.energy(vs) - rbm.log_partition())
    mean = p @ vs
    return mean, mean * (1 - mean)


def joint_energy(W, b, c, v, h):
    """E(v, h) = -vᵀb - hᵀc - vᵀWh for every pair of rows: shape (len(v), len(h))."""
    return -(v @ b)[:, None] - (h @ c)[None, :] - v @ W @ h.T


def bernoulli_gibbs(W, b, c, v0, n_steps, key, *, step0=0, mean_field_hidden=False):
    """Draws (n_steps, n, V) of block Gibbs. ``mean_field_hidden`` is a negative control:
    v drawn from p(v | h = p(h | v)) (probabilities, not a binary draw), a common bug
    that changes the stationary law of v."""
    v = np.array(v0, dtype=float)
    chains = np.arange(v.shape[0])
    draws = []
    for t in range(n_steps):
        u_h = uniforms_reference(key, chains, step0 + t, TAG_HIDDEN, W.shape[1])
        h_new = (u_h < sigmoid(c + v @ W)).astype(float)
        u_v = uniforms_reference(key, chains, step0 + t, TAG_VISIBLE, W.shape[0])
        h = sigmoid(c + v @ W) if mean_field_hidden else h_new
        v = (u_v < sigmoid(b + h @ W.T)).astype(float)
        draws.append(v.copy())
    return np.array(draws)


def gaussian_bernoulli_gibbs(W, b, c, sigma, v0, n_steps, key, *, step0=0):
    """Draws of block Gibbs for the Gaussian-Bernoulli RBM (standard variant)."""
    v = np.array(v0, dtype=float)
    chains = np.arange(v.shape[0])
    draws = []
    for t in range(n_steps):
        u_h = uniforms_reference(key, chains, step0 + t, TAG_HIDDEN, W.shape[1])
        h = (u_h < sigmoid(c + (v / sigma) @ W)).astype(float)
        xi = normals_reference(key, chains, step0 + t, TAG_VISIBLE, W.shape[0])
        v = b + sigma * (h @ W.T) + sigma * xi
        draws.append(v.copy())
    return np.array(draws)


def ais_rbm(W, b, c, b_base, betas, n_chains, key, *, weight_after_move=False):
    """Log weights of AIS from the base-rate model (Salakhutdinov & Murray 2008).

    ``weight_after_move`` is the negative control: the increment log f_k - log f_{k-1}
    taken at the state after the transition T_k instead of before it."""
    chains = np.arange(n_chains)
    u = uniforms_reference(key, chains, 0, TAG_INIT, W.shape[0])
    v = (u < sigmoid(b_base)).astype(float)
    log_w = np.zeros(n_chains)

    def log_f(beta, v):
        return (1 - beta) * v @ b_base + beta * v @ b + np.logaddexp(0, beta * (c + v @ W)).sum(1)

    def move(beta, v, k):
        u_h = uniforms_reference(key, chains, k, TAG_HIDDEN, W.shape[1])
        h = (u_h < sigmoid(beta * (c + v @ W))).astype(float)
        u_v = uniforms_reference(key, chains, k, TAG_VISIBLE, W.shape[0])
        return (u_v < sigmoid((1 - beta) * b_base + beta * (b + h @ W.T))).astype(float)

    for k in range(1, len(betas)):
        if weight_after_move:
            v = move(betas[k], v, k)
        log_w += log_f(betas[k], v) - log_f(betas[k - 1], v)
        if not weight_after_move and k < len(betas) - 1:
            v = move(betas[k], v, k)
    return log_w


def ais_gaussian_rbm(W, b, c, sigma, betas, n_chains, key):
    """Log weights of AIS for a Gaussian-Bernoulli RBM, annealing the interaction from
    N(b, σ²) × uniform h: f_β(v) = exp(-Σ(v-b)²/2σ²) Π(1 + exp(β(c + (v/σ)W)))."""
    chains = np.arange(n_chains)
    v = b + sigma * normals_reference(key, chains, 0, TAG_INIT, W.shape[0])
    log_w = np.zeros(n_chains)
    for k in range(1, len(betas)):
        a = c + (v / sigma) @ W
        log_w += (np.logaddexp(0, betas[k] * a) - np.logaddexp(0, betas[k - 1] * a)).sum(1)
        if k == len(betas) - 1:
            break
        u_h = uniforms_reference(key, chains, k, TAG_HIDDEN, W.shape[1])
        h = (u_h < sigmoid(betas[k] * a)).astype(float)
        xi = normals_reference(key, chains, k, TAG_VISIBLE, W.shape[0])
        v = b + sigma * (betas[k] * h @ W.T + xi)
    return log_w


def grad_theta_by_finite_differences(model, x, eps=1e-6):
    """Central differences of model.energy(x) in each coordinate of θ: shape (n, p)."""
    theta = model.theta
    out = np.empty((x.shape[0], theta.size))
    for k in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[k] += eps
        down[k] -= eps
        out[:, k] = (model.with_theta(up).energy(x) - model.with_theta(down).energy(x)) / (2 * eps)
    return out
