"""Single-site Metropolis on Ising models (``fe.metropolis(ising, ...)``): the kernels
against a NumPy reference on the same streams, πP = π exactly for both scans, and the
magnetisation of a small lattice against enumeration."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key, uniforms_reference
from tests.discrete.reference_ising import brute_energy, lattice_J, spin_states
from tests.statistical.harness import Z_CRIT, mean_z

TAG_FLIP = 0x22
J3 = np.array([[0.0, 0.5, -0.2], [0.5, 0.0, 0.3], [-0.2, 0.3, 0.0]])
H3 = np.array([0.1, -0.2, 0.05])


def _sweeps(J, h, s0, n_sweeps, key, random_scan, *, mutant=False):
    """Reference: proposal p of a sweep flips site p (or ⌊n u₂ₚ⌋) when u₂ₚ₊₁ < e^{-ΔE},
    ΔE = 2sᵢ(Σⱼ Jᵢⱼsⱼ + hᵢ) (the mutant: e^{-ΔE/2}, Barker-like but wrong)."""
    s = np.array(s0, dtype=float)
    n = s.shape[1]
    chains = np.arange(s.shape[0])
    draws = []
    for t in range(n_sweeps):
        u = uniforms_reference(key, chains, t, TAG_FLIP, 2 * n)
        for p in range(n):
            site = np.minimum((u[:, 2 * p] * n).astype(int), n - 1) if random_scan else np.full(len(s), p)
            rows = np.arange(len(s))
            delta = 2.0 * s[rows, site] * ((J[site] * s).sum(axis=1) + h[site])
            accept = np.exp(-(delta / 2 if mutant else delta))
            flip = (delta <= 0) | (u[:, 2 * p + 1] < accept)
            s[rows[flip], site[flip]] *= -1.0
        draws.append(s.copy())
    return np.array(draws)


@pytest.mark.parametrize("scan", ["systematic", "random"])
def test_dense_kernel_equals_the_reference(scan, seed):
    s0 = np.where(np.random.default_rng(1).random((40, 3)) < 0.5, 1.0, -1.0)
    res = fe.metropolis(fe.Ising(J3, H3), s0, 12, scan=scan, rng=seed)
    ref = _sweeps(J3, H3, s0, 12, philox_key(seed), scan == "random")
    np.testing.assert_array_equal(res.draws, ref)


@pytest.mark.parametrize("scan", ["systematic", "random"])
def test_lattice_kernel_equals_the_reference(scan, seed):
    """A 4 × 4 lattice against the reference on its dense couplings."""
    L = M = 4
    s0 = np.where(np.random.default_rng(2).random((40, L * M)) < 0.5, 1.0, -1.0)
    res = fe.metropolis(fe.Ising.lattice(L, M, 0.35, field=0.1), s0, 6, scan=scan, rng=seed)
    ref = _sweeps(lattice_J(L, M, 0.35), np.full(L * M, 0.1), s0, 6, philox_key(seed),
                  scan == "random")
    assert np.mean(res.draws == ref) > 0.999  # ΔE by a table there, by a sum here


def _transition(J, h, random_scan, mutant=False):
    """The exact transition matrix of one sweep on the 2ⁿ states."""
    states = spin_states(len(h))
    n, index = len(h), {tuple(s): k for k, s in enumerate(states)}
    energy = brute_energy(J, h, states)

    def flip_matrix(site):
        P = np.zeros((len(states), len(states)))
        for k, s in enumerate(states):
            t = s.copy()
            t[site] = -t[site]
            delta = brute_energy(J, h, t[None])[0] - energy[k]
            a = min(1.0, np.exp(-(delta / 2 if mutant else delta)))
            P[k, index[tuple(t)]] = a
            P[k, k] += 1 - a
        return P

    flips = [flip_matrix(i) for i in range(n)]
    if random_scan:
        step = sum(flips) / n
        return np.linalg.matrix_power(step, n), energy
    P = np.eye(len(states))
    for F in flips:
        P = P @ F
    return P, energy


@pytest.mark.parametrize("random_scan", [False, True])
def test_one_sweep_leaves_the_boltzmann_distribution_invariant(random_scan):
    """πP = π to 1e-12 for both scans; the mutant acceptance e^{-ΔE/2} is caught."""
    for mutant in (False, True):
        P, energy = _transition(J3, H3, random_scan, mutant)
        pi = np.exp(-energy)
        pi /= pi.sum()
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
        err = np.abs(pi @ P - pi).max()
        assert (err > 1e-3) if mutant else (err < 1e-12)


@pytest.mark.statistical
@pytest.mark.parametrize("scan", ["systematic", "random"])
def test_lattice_magnetisation_matches_enumeration(scan, seed):
    """3 × 4 lattice with a field (2¹² states): the mean magnetisation of 20,000 chains'
    final states after 100 sweeps within Z_CRIT standard errors of the exact value; a
    lattice at coupling 0.2 instead of 0.4 is caught."""
    L, M, field = 3, 4, 0.15
    states = spin_states(L * M)
    target = fe.Ising.lattice(L, M, 0.4, field=field)
    log_p = -target.energy(states)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    magnetisation = states.mean(axis=1)
    mean, var = p @ magnetisation, p @ (magnetisation - p @ magnetisation) ** 2
    s0 = np.ones((20000, L * M))
    for coupling, should_pass in ((0.4, True), (0.2, False)):
        run = fe.metropolis(fe.Ising.lattice(L, M, coupling, field=field), s0, 1, burn_in=99,
                            scan=scan, rng=seed)
        z = mean_z(run.draws[-1].mean(axis=1), mean, var)
        assert (z < Z_CRIT) == should_pass, (coupling, z)
        assert 0.0 < np.mean(run.acceptance_rate) < 1.0


def test_streams_continuation_and_bad_input(seed):
    model = fe.Ising.lattice(4, 4, 0.3)
    s0 = np.ones((30, 16))
    whole = fe.metropolis(model, s0, 10, rng=seed)
    first = fe.metropolis(model, s0, 4, rng=seed)
    rest = fe.metropolis(model, first.state, 6)
    np.testing.assert_array_equal(whole.draws[4:], rest.draws)
    part = fe.metropolis(model, s0[5:12], 10, rng=seed, first_chain=5)
    np.testing.assert_array_equal(part.draws, whole.draws[:, 5:12])
    with pytest.raises(ValueError, match="scan"):
        fe.metropolis(model, s0, 3, scan="checkerboard", rng=0)
    with pytest.raises(ValueError, match="do not apply"):
        fe.metropolis(model, s0, 3, scale=0.5, rng=0)
    with pytest.raises(ValueError, match="scan applies"):
        fe.metropolis(fe.Gaussian(np.zeros(2), np.ones(2)), np.zeros((3, 2)), 3, scan="random")
    with pytest.raises(ValueError, match="spins"):
        fe.metropolis(model, np.zeros((3, 16)), 3, rng=0)
