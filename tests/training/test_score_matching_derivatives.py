"""The second derivatives behind SM, DSM and SSM against central finite differences:
the Laplacian and Hessian-vector products against differences of ∇ₓE, the θ-gradients
(∇_θE, ∇_θ(vᵀ∇ₓE), ∇_θΔE, ∇_θ(vᵀ∇²E v)) against differences in θ, for full, diagonal
and tempered Gaussians and Gaussian mixtures; the mixture's θ and its validation."""
import numpy as np
import pytest

import fastebm as fe
from fastebm.training.score_matching import _FINITE_DIFFERENCES

RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 3)) * 1.5
V = RNG.normal(size=(6, 3))


def _mixture(diagonal=False, beta=1.0):
    a = RNG.normal(size=(3, 3, 3))
    cov = (np.abs(RNG.normal(size=(3, 3))) + 0.5 if diagonal
           else a @ a.transpose(0, 2, 1) + np.eye(3))
    return fe.GaussianMixture([0.3, 1.2, 0.5], RNG.normal(size=(3, 3)), cov).tempered(beta)


ENERGIES = {
    "gaussian": fe.Gaussian([0.1, 0.2, -0.3], precision=[[1.2, 0.2, 0.1], [0.2, 0.8, 0.0],
                                                        [0.1, 0.0, 2.0]]),
    "gaussian-diag-tempered": fe.Gaussian([0.1, 0.2, -0.3],
                                          precision=[1.2, 0.8, 2.0]).tempered(0.7),
    "mixture": _mixture(),
    "mixture-diag-tempered": _mixture(diagonal=True, beta=0.8),
}


def _fd_theta(f, energy, h=1e-6):
    """∂f(with_theta(θ))/∂θ by central differences, stacked on the last axis."""
    theta = energy.theta
    return np.stack([(f(energy.with_theta(theta + e)) - f(energy.with_theta(theta - e))) / (2 * h)
                     for e in np.eye(theta.size) * h], axis=-1)


def _hessian_fd(energy, x, h=1e-5):
    """∇²ₓE by central differences of the analytic ∇ₓE: (n, d, d)."""
    return np.stack([(energy.grad(x + e) - energy.grad(x - e)) / (2 * h)
                     for e in np.eye(x.shape[1]) * h], axis=-1)


@pytest.mark.parametrize("name", ENERGIES)
def test_laplacian_and_hessian_vector_product(name):
    energy = ENERGIES[name]
    hess = _hessian_fd(energy, X)
    np.testing.assert_allclose(energy.laplacian(X), np.trace(hess, axis1=1, axis2=2),
                               rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(energy.hessian_vector_product(X, V),
                               np.einsum("nij,nj->ni", hess, V), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", ENERGIES)
def test_theta_gradients_of_the_second_derivatives(name):
    energy = ENERGIES[name]
    cases = {
        "grad_theta": (energy.grad_theta(X), lambda e: e.energy(X)),
        "directional": (energy.grad_theta_directional(X, V),
                        lambda e: np.sum(V * e.grad(X), axis=1)),
        "laplacian": (energy.grad_theta_laplacian(X), lambda e: e.laplacian(X)),
        "quadratic": (energy.grad_theta_hessian_quadratic(X, V),
                      lambda e: np.sum(V * e.hessian_vector_product(X, V), axis=1)),
    }
    for what, (analytic, f) in cases.items():
        np.testing.assert_allclose(analytic, _fd_theta(f, energy), rtol=1e-6, atol=1e-7,
                                   err_msg=what)


@pytest.mark.parametrize("name", ENERGIES)
def test_mean_option_is_the_mean_of_the_per_point_gradients(name):
    energy = ENERGIES[name]
    for method, args in (("grad_theta_directional", (X, V)), ("grad_theta_laplacian", (X,)),
                         ("grad_theta_hessian_quadratic", (X, V))):
        np.testing.assert_allclose(getattr(energy, method)(*args, mean=True),
                                   getattr(energy, method)(*args).mean(axis=0),
                                   rtol=1e-12, atol=1e-14, err_msg=method)


@pytest.mark.parametrize("name", ENERGIES)
def test_single_point_drops_the_batch_axis(name):
    energy = ENERGIES[name]
    assert energy.laplacian(X[0]) == pytest.approx(energy.laplacian(X)[0])
    np.testing.assert_allclose(energy.grad_theta_directional(X[0], V[0]),
                               energy.grad_theta_directional(X, V)[0])
    np.testing.assert_allclose(energy.hessian_vector_product(X[0], V[0]),
                               energy.hessian_vector_product(X, V)[0])


def test_finite_difference_fallbacks_match_the_hand_derived_ones():
    """The formulas used for energies without hand-derived derivatives, checked on
    energies that have them."""
    for energy in (ENERGIES["gaussian"], ENERGIES["mixture"]):
        for name, fd in _FINITE_DIFFERENCES.items():
            if name in ("laplacian", "grad_theta_laplacian"):
                continue
            np.testing.assert_allclose(fd(energy, X, V), getattr(energy, name)(X, V),
                                       rtol=1e-6, atol=1e-6, err_msg=name)
            np.testing.assert_allclose(fd(energy, X, np.zeros_like(V)), 0.0, atol=1e-12)


def test_mixture_score_matching_is_the_composition():
    energy = ENERGIES["mixture"]
    loss, grad = energy.score_matching(X)
    np.testing.assert_allclose(grad, _fd_theta(lambda e: e.score_matching(X)[0], energy),
                               rtol=1e-6, atol=1e-7)
    g = energy.grad(X)
    assert loss == pytest.approx(np.mean(0.5 * np.sum(g * g, axis=1) - energy.laplacian(X)))


def test_one_component_mixture_is_the_gaussian():
    prec = np.array([[1.2, 0.2], [0.2, 0.8]])
    mixture = fe.GaussianMixture([1.0], [[0.1, 0.2]], precisions=[prec]).tempered(0.9)
    gaussian = fe.Gaussian([0.1, 0.2], precision=prec).tempered(0.9)
    x, v = X[:, :2], V[:, :2]
    np.testing.assert_allclose(mixture.laplacian(x), gaussian.laplacian(x))
    np.testing.assert_allclose(mixture.hessian_vector_product(x, v),
                               gaussian.hessian_vector_product(x, v))
    for name in ("grad_theta_directional", "grad_theta_hessian_quadratic"):  # θ = (a, μ, vech P)
        np.testing.assert_allclose(getattr(mixture, name)(x, v)[:, 1:],
                                   getattr(gaussian, name)(x, v), atol=1e-12)
    np.testing.assert_allclose(mixture.score_matching(x)[1][1:], gaussian.score_matching(x)[1],
                               atol=1e-12)


def test_mixture_theta_round_trip_and_layout():
    energy = ENERGIES["mixture-diag-tempered"]
    theta = energy.theta
    assert theta.shape == (3 + 3 * 3 + 3 * 6,)
    same = energy.with_theta(theta)
    np.testing.assert_allclose(same.energy(X), energy.energy(X), rtol=1e-13)
    assert same.beta == energy.beta
    np.testing.assert_allclose(theta[:3], np.log(energy.weights))
    np.testing.assert_allclose(theta[3:12], energy.means.ravel())


def test_mixture_precisions_keyword_matches_covariances():
    cov = np.array([[[1.0, 0.3], [0.3, 2.0]], [[0.5, 0.0], [0.0, 0.7]]])
    by_cov = fe.GaussianMixture([1.0, 2.0], [[0.0, 0.0], [1.0, 1.0]], cov)
    by_prec = fe.GaussianMixture([1.0, 2.0], [[0.0, 0.0], [1.0, 1.0]],
                                 precisions=np.linalg.inv(cov))
    np.testing.assert_allclose(by_prec.energy(X[:, :2]), by_cov.energy(X[:, :2]), rtol=1e-12)
    np.testing.assert_allclose(by_prec.covariances, cov, rtol=1e-12)


def test_mixture_bad_parameters():
    energy = ENERGIES["mixture"]
    with pytest.raises(ValueError, match="theta"):
        energy.with_theta(energy.theta[:-1])
    bad = energy.theta
    bad[12] = -1.0  # first diagonal precision entry of component 0
    with pytest.raises(ValueError, match="positive definite"):
        energy.with_theta(bad)
    with pytest.raises(ValueError, match="exactly one"):
        fe.GaussianMixture([1.0], [[0.0]], [[1.0]], precisions=[[1.0]])
    with pytest.raises(ValueError, match="exactly one"):
        fe.GaussianMixture([1.0], [[0.0]])
    with pytest.raises(ValueError, match="v must have"):
        energy.hessian_vector_product(X, V[:2])
    with pytest.raises(ValueError, match="v must have"):
        ENERGIES["gaussian"].grad_theta_directional(X, V[:, :2])
