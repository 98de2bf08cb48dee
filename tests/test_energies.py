import numba
import numpy as np
import pytest
from scipy import integrate, stats

import fastebm as fe
from fastebm.energies.check import finite_difference_grad


def _spd(d, seed, cond=10.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (q * np.geomspace(1.0, cond, d)) @ q.T


def _banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2


def _banana_grad(x, out):
    r = x[1] - x[0] ** 2
    out[0] = x[0] - 2.0 * x[0] * r
    out[1] = r
    return 0.5 * x[0] ** 2 + 0.5 * r ** 2


def _quad_theta(x, theta):
    return 0.5 * theta[0] * np.sum((x - theta[1]) ** 2)


def _quad_theta_grad(x, theta, out):
    out[:] = theta[0] * (x - theta[1])
    return 0.5 * theta[0] * np.sum((x - theta[1]) ** 2)


def _quad_theta_grad_theta(x, theta, out):
    out[0] = 0.5 * np.sum((x - theta[1]) ** 2)
    out[1] = -theta[0] * np.sum(x - theta[1])
    return 0.5 * theta[0] * np.sum((x - theta[1]) ** 2)


ENERGIES = {
    "gaussian": lambda: fe.Gaussian(np.arange(3.0), precision=_spd(3, 0)),
    "gaussian_cov": lambda: fe.Gaussian(np.ones(3), covariance=_spd(3, 1)),
    "gaussian_diag": lambda: fe.Gaussian(np.ones(3), precision=np.array([1.0, 2.0, 5.0])),
    "mixture": lambda: fe.GaussianMixture([0.2, 0.5, 0.3], np.eye(3) * 2,
                                          np.stack([_spd(3, 2), _spd(3, 3), _spd(3, 4)])),
    "mixture_diag": lambda: fe.GaussianMixture([1.0, 3.0], [[0, 0, 0], [1, 2, 3]],
                                               [[1, 2, 3], [0.5, 0.5, 0.5]]),
    "user": lambda: fe.energy(_banana, _banana_grad, dim=2),
    "user_theta": lambda: fe.energy(_quad_theta, _quad_theta_grad, theta=[2.0, 0.5],
                                    grad_theta=_quad_theta_grad_theta),
    "sum": lambda: fe.Gaussian(np.zeros(2), precision=np.eye(2)) + fe.energy(_banana, _banana_grad),
    "tempered": lambda: fe.GaussianMixture([1.0], [[1.0, 1.0]], [[2.0, 3.0]]).tempered(0.5),
    "tempered_sum": lambda: (fe.Gaussian(np.zeros(2), precision=[1.0, 2.0])
                             + fe.Gaussian(np.ones(2), covariance=_spd(2, 5))).tempered(2.0),
}


def _points(energy, n=7, seed=0):
    d = energy.dim or 3
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("name", ENERGIES)
def test_grad_matches_finite_differences(name):
    energy = ENERGIES[name]()
    x = _points(energy)
    assert fe.check_grad(energy, x) < 1e-7


def test_check_grad_catches_a_wrong_gradient():
    def wrong(x, out):
        out[0] = x[0]
        out[1] = x[1] - x[0] ** 2  # missing the chain-rule term of x0
        return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2
    assert fe.check_grad(fe.energy(_banana, wrong, dim=2), _points(fe.energy(_banana, dim=2), 5)) > 1e-2


@pytest.mark.parametrize("name", ["gaussian", "gaussian_diag", "user_theta", "sum"])
def test_grad_theta_matches_finite_differences(name):
    energy = ENERGIES[name]()
    if name == "sum":
        energy = fe.Gaussian(np.zeros(2), precision=[1.0, 3.0]) + fe.Gaussian(
            np.ones(2), precision=_spd(2, 7))
    x = _points(energy, 4)
    theta = energy.theta
    fd = np.empty((x.shape[0], theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd[:, j] = (energy.with_theta(up).energy(x) - energy.with_theta(down).energy(x)) / (2 * h)
    np.testing.assert_allclose(energy.grad_theta(x), fd, rtol=1e-6, atol=1e-7)


def test_gaussian_energy_formula_and_log_partition():
    cov = _spd(3, 9)
    mean = np.array([1.0, -1.0, 0.5])
    energy = fe.Gaussian(mean, covariance=cov)
    x = _points(energy)
    log_pdf = stats.multivariate_normal(mean, cov).logpdf(x)
    np.testing.assert_allclose(-energy.energy(x) - energy.log_partition(), log_pdf, rtol=1e-12)
    hot = energy.tempered(0.25)
    np.testing.assert_allclose(-hot.energy(x) - hot.log_partition(),
                               stats.multivariate_normal(mean, cov / 0.25).logpdf(x), rtol=1e-12)


def test_mixture_matches_scipy_density():
    w = np.array([0.3, 0.7])
    means = np.array([[0.0, 0.0], [2.0, -1.0]])
    covs = np.stack([_spd(2, 1), _spd(2, 2)])
    energy = fe.GaussianMixture(w * 5, means, covs)
    x = _points(energy)
    pdf = sum(wk * stats.multivariate_normal(m, c).pdf(x) for wk, m, c in zip(w, means, covs))
    np.testing.assert_allclose(-energy.energy(x) - energy.log_partition(), np.log(pdf), rtol=1e-12)
    assert energy.log_partition() == pytest.approx(np.log(5.0))


def test_sum_of_gaussians_log_partition_by_quadrature():
    energy = fe.Gaussian([0.5, -0.5], covariance=_spd(2, 3)) + fe.Gaussian([1.0, 2.0],
                                                                          precision=[0.5, 2.0])
    z, _ = integrate.dblquad(lambda y, x: np.exp(-energy.energy(np.array([x, y]))),
                             -12, 12, -12, 12, epsabs=1e-12)
    assert energy.log_partition() == pytest.approx(np.log(z), rel=1e-8)


def test_sum_of_three_gaussians_log_partition_by_quadrature():
    """A sum whose part is itself a sum of Gaussians is Gaussian: its log Z is exact."""
    energy = (fe.Gaussian([0.5, -0.5], covariance=_spd(2, 3))
              + fe.Gaussian([1.0, 2.0], precision=[0.5, 2.0])) + fe.Gaussian([0.0, 1.0],
                                                                             precision=[1.0, 1.0])
    z, _ = integrate.dblquad(lambda y, x: np.exp(-energy.energy(np.array([x, y]))),
                             -12, 12, -12, 12, epsabs=1e-12)
    assert energy.log_partition() == pytest.approx(np.log(z), rel=1e-8)
    with pytest.raises(ValueError, match="no closed form"):
        (energy + fe.energy(_banana, dim=2)).log_partition()


def test_log_partition_raises_where_unknown():
    with pytest.raises(ValueError, match="no closed form"):
        fe.energy(_banana).log_partition()
    with pytest.raises(ValueError, match="no closed form"):
        fe.GaussianMixture([1.0], [[0.0]], [[1.0]]).tempered(2.0).log_partition()


def test_single_point_and_dtype():
    energy = ENERGIES["gaussian"]()
    x = _points(energy)
    assert np.ndim(energy.energy(x[0])) == 0
    assert energy.energy(x[0]) == energy.energy(x)[0]
    assert energy.grad(x[0]).shape == (3,)
    assert energy.energy(x.astype(np.float32)).dtype == np.float32
    assert energy.grad(x).dtype == np.float64


def test_finite_difference_fallback_warns_once_and_is_accurate():
    energy = fe.energy(_banana, dim=2)
    x = _points(energy)
    with pytest.warns(fe.FiniteDifferenceWarning):
        g = energy.grad(x)
    np.testing.assert_allclose(g, finite_difference_grad(fe.energy(_banana, _banana_grad), x),
                               rtol=1e-8, atol=1e-9)
    energy.grad(x)  # no second warning (pytest turns warnings into errors)


@pytest.mark.parametrize("build,match", [
    (lambda: fe.Gaussian([0.0, 0.0]), "exactly one"),
    (lambda: fe.Gaussian([0.0, 0.0], precision=[[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (lambda: fe.Gaussian([0.0, 0.0], precision=[[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
    (lambda: fe.Gaussian([0.0, 0.0], covariance=[1.0, -1.0]), "positive"),
    (lambda: fe.Gaussian([0.0, np.nan], precision=[1.0, 1.0]), "finite"),
    (lambda: fe.Gaussian([0.0, 0.0], precision=np.eye(3)), "shape"),
    (lambda: fe.GaussianMixture([1.0, -1.0], [[0.0], [1.0]], [[1.0], [1.0]]), "positive"),
    (lambda: fe.GaussianMixture([1.0], [[0.0], [1.0]], [[1.0]]), "rows"),
    (lambda: fe.Gaussian([0.0], precision=[1.0]) + fe.Gaussian([0.0, 0.0], precision=[1.0, 1.0]),
     "dimensions"),
    (lambda: fe.Gaussian([0.0], precision=[1.0]).tempered(0.0), "beta"),
])
def test_bad_parameters_raise_named_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("x,error,match", [
    (np.array([[0.0, np.nan, 0.0]]), ValueError, "finite"),
    (np.zeros((2, 4)), ValueError, "columns"),
    (np.zeros((2, 2, 3)), ValueError, "dimension"),
    (np.array(["a", "b", "c"]), TypeError, "numeric"),
])
def test_bad_points_raise_named_errors(x, error, match):
    with pytest.raises(error, match=match):
        ENERGIES["gaussian"]().energy(x)


def test_user_energy_rejects_non_callables():
    with pytest.raises(TypeError, match="fn"):
        fe.energy(3.0)
    with pytest.raises(TypeError, match="grad"):
        fe.energy(_banana, grad="no")


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled without the JIT")
def test_user_energy_numba_cannot_compile_raises_type_error():
    def calls_python(x):
        return _banana(x)  # a plain Python function: Numba cannot type it
    with pytest.raises(TypeError, match="Numba"):
        fe.energy(calls_python, dim=2).energy(np.zeros(2))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled without the JIT")
def test_user_grad_theta_numba_cannot_compile_raises_type_error():
    def energy_fn(x, theta):
        return theta[0] * x[0] ** 2

    def grad_theta_fn(x, theta, out):
        out[0] = _banana(x)  # a plain Python function: Numba cannot type it
        return theta[0] * x[0] ** 2
    energy = fe.energy(energy_fn, theta=[1.0], grad_theta=grad_theta_fn, dim=2)
    with pytest.raises(TypeError, match="grad_theta could not be compiled"):
        energy.grad_theta(np.zeros((2, 2)))


def test_mixture_far_from_every_component_is_infinite_not_nan():
    energy = fe.GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[1.0], [1.0]])
    with np.errstate(over="ignore"):  # NumPy scalars warn on the pure-Python path
        assert energy.energy(np.array([1e200])) == np.inf


def test_empty_gaussian_is_rejected():
    with pytest.raises(ValueError, match="mean"):
        fe.Gaussian([], precision=[])


def test_with_theta_of_a_sum_reuses_its_compiled_kernels():
    """A sum rebuilt from new parameters (every step of fe.fit) must not compile again:
    energies with the same functions share one kernel family."""
    a = fe.Gaussian(np.zeros(2), precision=np.eye(2))
    b = fe.Gaussian(np.ones(2), precision=2 * np.eye(2))
    s = a + b
    moved = s.with_theta(s.theta + 0.1)
    assert moved._family is s._family
    assert (a + b)._family is s._family
