"""Targets with known moments, shared by the statistical tests."""
import numpy as np

import fastebm as fe


def rotation_spd(d, condition, seed):
    """A covariance with eigenvalues geomspace(1, condition) in a random rotation."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return (q * np.geomspace(1.0, condition, d)) @ q.T


def normal_1d():
    return fe.Gaussian([1.0], covariance=[4.0]), np.array([1.0]), np.array([4.0])


def correlated_2d():
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    return fe.Gaussian([0.0, 1.0], covariance=cov), np.array([0.0, 1.0]), np.diag(cov)


def ill_conditioned_20d():
    cov = rotation_spd(20, 100.0, seed=42)
    mean = np.linspace(-1.0, 1.0, 20)
    return fe.Gaussian(mean, covariance=cov), mean, np.diag(cov)


MIX_W, MIX_M, MIX_S = np.array([0.3, 0.7]), np.array([-1.5, 1.5]), np.array([1.0, 1.0])


def two_mode_mixture():
    """0.3 N(-1.5, 1) + 0.7 N(1.5, 1): its mean, variance and fourth central moment."""
    energy = fe.GaussianMixture(MIX_W, MIX_M[:, None], MIX_S[:, None] ** 2)
    mean = np.sum(MIX_W * MIX_M)
    c = MIX_M - mean  # component means, centred
    var = np.sum(MIX_W * (MIX_S ** 2 + c ** 2))
    fourth = np.sum(MIX_W * (c ** 4 + 6 * c ** 2 * MIX_S ** 2 + 3 * MIX_S ** 4))
    return energy, np.array([mean]), np.array([var]), np.array([fourth])


BANANA_A, BANANA_B = 1.0, 0.5


def _banana(x):
    return 0.5 * x[0] ** 2 / 1.0 + 0.5 * (x[1] - 0.5 * x[0] ** 2) ** 2


def _banana_grad(x, out):
    r = x[1] - 0.5 * x[0] ** 2
    out[0] = x[0] - x[0] * r
    out[1] = r
    return 0.5 * x[0] ** 2 + 0.5 * r * r


BANANA = fe.energy(_banana, _banana_grad, dim=2)


def banana():
    """x₀ ~ N(0, a²), x₁ | x₀ ~ N(b x₀², 1) with a = 1, b = 0.5: exact moments.

    E x₁ = b a², Var x₁ = 1 + 2b²a⁴, E (x₁ - Ex₁)⁴ = 3 + 12 b²a⁴ + 60 b⁴a⁸ (from the
    moments of b(x₀² - a²) + ε: 3·1 + 6·2b²a⁴ + b⁴ E(x₀²-a²)⁴ with E(z²-1)⁴ = 60).
    """
    a, b = BANANA_A, BANANA_B
    mean = np.array([0.0, b * a * a])
    var = np.array([a * a, 1 + 2 * b * b * a ** 4])
    fourth = np.array([3 * a ** 4, 3 + 12 * b * b * a ** 4 + 60 * b ** 4 * a ** 8])
    return BANANA, mean, var, fourth
