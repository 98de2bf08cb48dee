"""NumPy references for the Ising kernels, on the same Philox streams, and brute force.

They share only the stream mapping of ``fastebm._rng`` with the library; energies and
conditionals are written out from E(s) = -Σ_{i<j} Jᵢⱼ sᵢsⱼ - Σ hᵢsᵢ, and the lattice
from an explicit list of each site's four neighbours. Each sampler has a mutant that the
statistical tests must catch.
"""
import itertools

import numpy as np

from fastebm._rng import uniforms_reference

TAG_SWEEP, TAG_INIT = 0x20, 0x21


def spin_states(n):
    """All 2ⁿ spin vectors, shape (2ⁿ, n)."""
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n)))


def brute_energy(J, h, s):
    """E(s) = -Σ_{i<j} Jᵢⱼ sᵢ sⱼ - Σᵢ hᵢ sᵢ by an explicit double loop over pairs."""
    s = np.atleast_2d(s)
    out = -(s @ h)
    for i in range(J.shape[0]):
        for j in range(i + 1, J.shape[0]):
            out = out - J[i, j] * s[:, i] * s[:, j]
    return out


def neighbours(L, M):
    """For every site i·M + j its four neighbour slots (up, down, left, right), periodic."""
    return [[((i - 1) % L) * M + j, ((i + 1) % L) * M + j, i * M + (j - 1) % M,
             i * M + (j + 1) % M] for i in range(L) for j in range(M)]


def lattice_J(L, M, coupling):
    """J from the neighbour list: each bond is seen from both of its ends (½ each), so a
    pair sharing two slots (a size-2 dimension) is coupled twice."""
    J = np.zeros((L * M, L * M))
    for x, nbrs in enumerate(neighbours(L, M)):
        for y in nbrs:
            J[x, y] += coupling / 2
            J[y, x] += coupling / 2
    return J


def log_z_brute(J, h, beta=1.0):
    E = brute_energy(J, h, spin_states(J.shape[0]))
    top = (-beta * E).max()
    return top + np.log(np.exp(-beta * E - top).sum())


def _heat_bath(u, a):
    return np.where(u * (1.0 + np.exp(-a)) < 1.0, 1.0, -1.0)


def sequential_sweep(J, h, s, u, *, scale=1.0, stale=False):
    """Sites 0..n-1 in turn, each local field computed afresh from the current spins;
    ``stale`` (mutant) takes every field from the state at the start of the sweep."""
    s = s.copy()
    start = s.copy()
    for i in range(J.shape[0]):
        field = (start if stale else s) @ J[i]
        s[:, i] = _heat_bath(u[:, i], 2.0 * scale * (field + h[i]))
    return s


def checkerboard_sweep(L, M, coupling, field, s, u, *, synchronous=False):
    """Even-parity sites, then odd-parity sites, fields from the neighbour list;
    ``synchronous`` (mutant) updates every site from the state at the start."""
    nbrs = np.array(neighbours(L, M))
    parity = np.array([(i + j) % 2 for i in range(L) for j in range(M)])
    start = s.copy()
    s = s.copy()
    for p in (0, 1):
        sites = np.nonzero(parity == p)[0]
        src = start if synchronous else s
        nsum = src[:, nbrs[sites]].sum(axis=2)
        s[:, sites] = _heat_bath(u[:, sites], 2.0 * (coupling * nsum + field))
    return s


def lattice_sequential_sweep(L, M, coupling, field, s, u):
    nbrs = np.array(neighbours(L, M))
    s = s.copy()
    for x in range(L * M):
        s[:, x] = _heat_bath(u[:, x], 2.0 * (coupling * s[:, nbrs[x]].sum(axis=1) + field))
    return s


def gibbs(sweep, s0, n_steps, key, *, step0=0):
    """Draws (n_steps, n_chains, n) of ``sweep(s, u)`` with the uniforms of (chain,
    step0 + t, TAG_SWEEP)."""
    s = np.array(s0, dtype=float)
    chains = np.arange(s.shape[0])
    draws = []
    for t in range(n_steps):
        s = sweep(s, uniforms_reference(key, chains, step0 + t, TAG_SWEEP, s.shape[1]))
        draws.append(s.copy())
    return np.array(draws)


def final_state(sweep, s0, n_steps, key):
    """The state after ``n_steps`` sweeps (as ``gibbs(...)[-1]``, without keeping draws)."""
    s = np.array(s0, dtype=float)
    chains = np.arange(s.shape[0])
    for t in range(n_steps):
        s = sweep(s, uniforms_reference(key, chains, t, TAG_SWEEP, s.shape[1]))
    return s


def ais(energy, sweep_at, n, betas, n_chains, key, *, weight_after_move=False):
    """Log weights of AIS from uniform spins along exp(-βE): energy(s) → (n_chains,),
    sweep_at(beta, s, u) → s. ``weight_after_move`` is the mutant: each increment
    -(βₖ - βₖ₋₁) E taken at the state after the sweep at βₖ instead of before it."""
    chains = np.arange(n_chains)
    s = np.where(uniforms_reference(key, chains, 0, TAG_INIT, n) < 0.5, 1.0, -1.0)
    log_w = np.zeros(n_chains)
    K = len(betas) - 1
    for k in range(1, K + 1):
        move = k < K or weight_after_move
        u = uniforms_reference(key, chains, k, TAG_SWEEP, n) if move else None
        if weight_after_move:
            s = sweep_at(betas[k], s, u)
        log_w -= (betas[k] - betas[k - 1]) * energy(s)
        if not weight_after_move and k < K:
            s = sweep_at(betas[k], s, u)
    return log_w


def single_site_kernel(J, h, i, states):
    """Exact heat-bath kernel K_i on all states (rows: from, columns: to)."""
    n = J.shape[0]
    index = {tuple(s): k for k, s in enumerate(states)}
    p_up = 1.0 / (1.0 + np.exp(-2.0 * (states @ J[i] + h[i])))
    K = np.zeros((len(states), len(states)))
    for k, s in enumerate(states):
        for value, p in ((1.0, p_up[k]), (-1.0, 1.0 - p_up[k])):
            t = s.copy()
            t[i] = value
            K[k, index[tuple(t)]] += p
    assert n == states.shape[1]
    return K


def sequential_transition(J, h, *, stale=False):
    """Transition matrix of one sequential sweep, P = K₀K₁…K_{n-1}; ``stale``: every site
    drawn from its conditional given the state at the start (fields never updated)."""
    states = spin_states(J.shape[0])
    if not stale:
        P = np.eye(len(states))
        for i in range(J.shape[0]):
            P = P @ single_site_kernel(J, h, i, states)
        return P, states
    p_up = 1.0 / (1.0 + np.exp(-2.0 * (states @ J + h)))            # [from, i]
    P = np.prod(np.where(states[None] > 0, p_up[:, None], 1.0 - p_up[:, None]), axis=2)
    return P, states


def checkerboard_transition(J, h, parity):
    """One checkerboard sweep: all sites with parity 0 at once, then all with parity 1."""
    states = spin_states(J.shape[0])
    P = np.eye(len(states))
    for p in (0, 1):
        sites = np.nonzero(parity == p)[0]
        p_up = 1.0 / (1.0 + np.exp(-2.0 * (states @ J[:, sites] + h[sites])))   # [from, site]
        same = np.all(states[:, None, parity != p] == states[None, :, parity != p], axis=2)
        to = states[:, sites]                                                 # [to, site]
        block = np.prod(np.where(to[None] > 0, p_up[:, None], 1.0 - p_up[:, None]), axis=2)
        P = P @ (block * same)
    return P, states
