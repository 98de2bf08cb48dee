"""Every compiled sampler equals its NumPy reference draw for draw on the same streams."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from tests.samplers.reference import (gaussian_energy, independent_reference,
                                      langevin_reference, random_walk_reference)

MEAN = np.array([0.5, -1.0, 2.0])
PRECISION = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
SIGMAS = {None: None, "diag": np.array([0.5, 2.0, 1.5]),
          "dense": np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.5], [0.0, 0.5, 1.5]])}


def _x0(n=25, seed=3):
    return np.random.default_rng(seed).normal(size=(n, 3)) * 2


@pytest.mark.parametrize("metropolize", [True, False])
@pytest.mark.parametrize("precond", list(SIGMAS))
@pytest.mark.parametrize("diagonal", [False, True])
def test_langevin_kernels_equal_reference(metropolize, precond, diagonal):
    precision = np.diag(np.diag(PRECISION)) if diagonal else PRECISION
    energy = fe.Gaussian(MEAN, precision=np.diag(precision) if diagonal else precision)
    sampler = fe.mala if metropolize else fe.langevin
    sigma = SIGMAS[precond]
    result = sampler(energy, _x0(), 0.3, 20, precondition=sigma, rng=11)
    expected = langevin_reference(gaussian_energy(MEAN, precision), _x0(), 0.3, 20,
                                  philox_key(11), metropolize=metropolize, sigma=sigma)
    np.testing.assert_allclose(result.draws, expected, rtol=1e-12, atol=1e-12)
    if metropolize:
        assert 0.2 < result.acceptance_rate.mean() < 1.0  # both branches exercised


@pytest.mark.parametrize("precond", list(SIGMAS))
def test_random_walk_kernel_equals_reference(precond):
    energy = fe.Gaussian(MEAN, precision=PRECISION)
    sigma = SIGMAS[precond]
    result = fe.metropolis(energy, _x0(), 30, scale=0.8, precondition=sigma, rng=5)
    ref_energy = gaussian_energy(MEAN, PRECISION)
    expected = random_walk_reference(lambda x: ref_energy(x)[0], _x0(), 0.8, 30, philox_key(5),
                                     sigma=sigma)
    np.testing.assert_allclose(result.draws, expected, rtol=1e-12, atol=1e-12)


def test_independent_kernel_equals_reference():
    energy = fe.Gaussian(MEAN, precision=PRECISION)
    cov = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 4.0]])
    q = fe.proposals.Gaussian(MEAN + 0.3, cov)
    result = fe.metropolis(energy, _x0(), 30, proposal=q, rng=8)
    ref_energy = gaussian_energy(MEAN, PRECISION)
    expected = independent_reference(lambda x: ref_energy(x)[0], MEAN + 0.3, cov, _x0(), 30,
                                     philox_key(8))
    np.testing.assert_allclose(result.draws, expected, rtol=1e-12, atol=1e-12)


def test_reference_catches_mala_without_accept_step():
    """Negative control: ULA's draws differ from the MALA reference."""
    energy = fe.Gaussian(MEAN, precision=PRECISION)
    ula = fe.langevin(energy, _x0(), 0.3, 20, rng=11)
    expected = langevin_reference(gaussian_energy(MEAN, PRECISION), _x0(), 0.3, 20,
                                  philox_key(11), metropolize=True)
    assert not np.allclose(ula.draws, expected)
