import numpy as np
import pytest

import fastebm as fe
from fastebm._contract import TAG_DSM, TAG_PROBE, TAG_PROJECTION
from fastebm._kernels.numba.score_noise import draw_normals, draw_signs
from fastebm._rng import normals_reference, philox_key, uniforms_reference
from fastebm.training.score_matching import derivative, hutchinson, score_matching_loss, sm_terms
from fastebm.training.ssm import ssm_terms
from tests.statistical.harness import Z_CRIT


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([0.5, -1.0], [[1.0, 0.3], [0.3, 2.0]], size=300)


def _fd_grad(loss, theta, h=1e-6):
    return np.array([(loss(theta + e) - loss(theta - e)) / (2 * h) for e in np.eye(theta.size) * h])


@pytest.mark.parametrize("diagonal", [False, True])
def test_gradient_matches_finite_differences(diagonal):
    precision = np.array([1.2, 0.8]) if diagonal else np.array([[1.2, 0.2], [0.2, 0.8]])
    energy = fe.Gaussian([0.1, 0.2], precision=precision).tempered(0.9)
    data = _data()
    theta = energy.theta
    loss = lambda t: score_matching_loss(energy.with_theta(t), data)[0]  # noqa: E731
    fd = np.array([(loss(theta + h) - loss(theta - h)) / 2e-6 for h in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(score_matching_loss(energy, data)[1], fd, rtol=1e-6, atol=1e-8)


def test_minimiser_is_sample_mean_and_inverse_sample_covariance():
    """For a Gaussian, exact score matching is solved by (x̄, S⁻¹) with S the ddof=0
    sample covariance: the gradient vanishes there and not elsewhere."""
    data = _data(1)
    best = fe.Gaussian(data.mean(axis=0), precision=np.linalg.inv(np.cov(data.T, ddof=0)))
    np.testing.assert_allclose(score_matching_loss(best, data)[1], 0.0, atol=1e-10)
    off = fe.Gaussian(data.mean(axis=0) + 0.1, precision=np.linalg.inv(np.cov(data.T, ddof=0)))
    assert np.max(np.abs(score_matching_loss(off, data)[1])) > 1e-2


@pytest.mark.parametrize("diagonal", [False, True])
def test_generic_path_equals_the_gaussians_own_score_matching(diagonal):
    precision = np.array([1.2, 0.8]) if diagonal else np.array([[1.2, 0.2], [0.2, 0.8]])
    energy = fe.Gaussian([0.1, 0.2], precision=precision).tempered(1.3)
    loss, grad = energy.score_matching(_data())
    generic = fe.score_matching_loss(energy, _data())
    assert generic[0] == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(generic[1], grad, rtol=1e-12, atol=1e-14)


# -- a user energy with θ: finite-difference second derivatives, Hutchinson's Laplacian ---
def _quartic(x, t):
    return 0.5 * t[0] * (x[0] - t[1]) ** 2 + 0.25 * t[2] * x[1] ** 4 + t[3] * x[0] * x[1]


def _quartic_grad(x, t, out):
    out[0] = t[0] * (x[0] - t[1]) + t[3] * x[1]
    out[1] = t[2] * x[1] ** 3 + t[3] * x[0]
    return 0.5 * t[0] * (x[0] - t[1]) ** 2 + 0.25 * t[2] * x[1] ** 4 + t[3] * x[0] * x[1]


def _quartic_grad_theta(x, t, out):
    out[0] = 0.5 * (x[0] - t[1]) ** 2
    out[1] = -t[0] * (x[0] - t[1])
    out[2] = 0.25 * x[1] ** 4
    out[3] = x[0] * x[1]
    return 0.0


QUARTIC = fe.energy(_quartic, _quartic_grad, theta=[1.5, 0.3, 0.7, 0.2],
                    grad_theta=_quartic_grad_theta, dim=2)
MIXTURE = fe.GaussianMixture([0.4, 1.1], [[0.0, -1.0], [1.0, 0.5]],
                             [[[1.0, 0.3], [0.3, 2.0]], [[0.6, -0.1], [-0.1, 0.9]]]).tempered(0.8)
GAUSSIAN = fe.Gaussian([0.1, 0.2], precision=[[1.2, 0.2], [0.2, 0.8]]).tempered(0.9)
LOSSES = {
    "sm": lambda E, x: fe.score_matching_loss(E, x, n_probes=2, rng=3),
    "dsm": lambda E, x: fe.dsm_loss(E, x, 0.3, n_noise=3, rng=3),
    "ssm": lambda E, x: fe.ssm_loss(E, x, n_projections=2, rng=3),
    "ssm-rademacher": lambda E, x: fe.ssm_loss(E, x, n_projections=2, projection="rademacher",
                                               rng=3),
    "ssm-vr": lambda E, x: fe.ssm_loss(E, x, n_projections=2, variance_reduction=True, rng=3),
}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("energy, rtol", [(GAUSSIAN, 1e-6), (MIXTURE, 1e-6), (QUARTIC, 1e-5)],
                         ids=["gaussian", "mixture", "user"])
def test_every_loss_gradient_matches_finite_differences_with_the_noise_fixed(loss, energy, rtol):
    data = _data()[:100]
    value, grad = LOSSES[loss](energy, data)
    fd = _fd_grad(lambda t: LOSSES[loss](energy.with_theta(t), data)[0], energy.theta)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, fd, rtol=rtol, atol=rtol * np.max(np.abs(fd)))


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    """Rademacher probes give vᵀHv = tr H when H is diagonal: a user diagonal Gaussian
    matches the hand-derived one with a single probe."""
    def fn(x, t):
        return 0.5 * (t[2] * (x[0] - t[0]) ** 2 + t[3] * (x[1] - t[1]) ** 2)

    def grad(x, t, out):
        out[0] = t[2] * (x[0] - t[0])
        out[1] = t[3] * (x[1] - t[1])
        return 0.5 * (t[2] * (x[0] - t[0]) ** 2 + t[3] * (x[1] - t[1]) ** 2)

    def grad_theta(x, t, out):
        out[0] = -t[2] * (x[0] - t[0])
        out[1] = -t[3] * (x[1] - t[1])
        out[2] = 0.5 * (x[0] - t[0]) ** 2
        out[3] = 0.5 * (x[1] - t[1]) ** 2
        return 0.0

    user = fe.energy(fn, grad, theta=[0.1, 0.2, 1.2, 0.8], grad_theta=grad_theta, dim=2)
    builtin = fe.Gaussian([0.1, 0.2], precision=[1.2, 0.8])
    got = fe.score_matching_loss(user, _data(), rng=1)
    want = fe.score_matching_loss(builtin, _data())
    assert got[0] == pytest.approx(want[0], rel=1e-7)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)


def test_hutchinson_laplacian_is_unbiased(seed):
    """Mean over points and probes of vᵀ∇²E v against the exact ΔE of a mixture (through
    its finite-difference path); a probe without centring ({0, 1} instead of ±1) fails."""
    from fastebm.training.score_matching import _fd_hvp, draw
    x = np.random.default_rng(seed).normal(size=(4000, 2))
    key = philox_key(seed)
    exact = MIXTURE.laplacian(x)
    probes = draw("sign", key, TAG_PROBE, x.shape[0], 1, 2)
    for v, should_pass in ((probes, True), (0.5 * (probes + 1.0), False)):
        diff = np.sum(v * _fd_hvp(MIXTURE, x, v), axis=1) - exact
        z = abs(diff.mean()) / (diff.std(ddof=1) / np.sqrt(diff.size))
        assert (z < Z_CRIT) == should_pass, z
    lap, _ = hutchinson(QUARTIC, x, key, 3)  # the public path runs too
    assert lap.shape == (x.shape[0],)


def test_sliced_loss_averages_to_the_exact_loss(seed):
    """E_v of SSM's per-point loss and gradient is exact SM's (E[vvᵀ] = I), with Gaussian
    or Rademacher v and with variance reduction; the slip of dropping the ½ of (vᵀ∇E)² is
    caught."""
    x = np.random.default_rng(seed).normal(size=(3000, 2)) * 1.3
    key = philox_key(seed)
    sm_loss, sm_grad = sm_terms(MIXTURE, x, None, 1, per_point=True)
    for projection, reduced in (("gaussian", False), ("rademacher", False), ("gaussian", True)):
        ssm_loss, ssm_grad = ssm_terms(MIXTURE, x, 2, projection, reduced, key, per_point=True)
        diff = np.column_stack([ssm_loss - sm_loss, ssm_grad - sm_grad])
        z = np.abs(diff.mean(axis=0)) / (diff.std(axis=0, ddof=1) / np.sqrt(x.shape[0]))
        assert np.max(z) < Z_CRIT, (projection, reduced, z)
    from fastebm.training.score_matching import draw
    g = MIXTURE.grad(x)
    v = draw("normal", key, TAG_PROJECTION, x.shape[0], 1, 2)
    slip = np.sum(v * g, axis=1) ** 2 - np.sum(v * MIXTURE.hessian_vector_product(x, v), axis=1)
    diff = slip - sm_loss
    assert abs(diff.mean()) / (diff.std(ddof=1) / np.sqrt(diff.size)) > Z_CRIT


def test_sum_of_gaussians_uses_the_hand_derived_parts():
    first = fe.Gaussian([0.1, 0.2], precision=[[1.2, 0.2], [0.2, 0.8]])
    second = fe.Gaussian([1.0, -1.0], precision=[0.5, 0.7])
    both = first + second
    x, v = _data()[:50], _data(3)[:50]
    total = first.precision + np.diag(second.precision)
    single = fe.Gaussian(np.linalg.solve(total, first.precision @ first.mean
                                         + second.precision * second.mean), precision=total)
    assert fe.score_matching_loss(both, x)[0] == pytest.approx(fe.score_matching_loss(single, x)[0])
    np.testing.assert_allclose(derivative(both, "grad_theta_directional", x, v),
                               np.hstack([first.grad_theta_directional(x, v),
                                          second.grad_theta_directional(x, v)]))
    np.testing.assert_allclose(derivative(both, "hessian_vector_product", x, v),
                               single.hessian_vector_product(x, v), rtol=1e-12)


# -- noise on the Philox streams --------------------------------------------------------
def test_noise_kernels_equal_the_numpy_reference():
    key = philox_key(11)
    n, m, d = 37, 3, 5
    normals, signs = np.empty((n, m, d)), np.empty((n, m, d))
    draw_normals(*key, TAG_DSM, normals)
    draw_signs(*key, TAG_PROBE, signs)
    chains, steps = np.arange(n)[:, None], np.arange(m)[None, :]
    np.testing.assert_allclose(normals, normals_reference(key, chains, steps, TAG_DSM, d),
                               rtol=1e-12, atol=1e-12)
    uniforms = uniforms_reference(key, chains, steps, TAG_PROBE, d)
    np.testing.assert_array_equal(signs, np.where(uniforms < 0.5, -1.0, 1.0))


def test_same_rng_same_loss_and_a_point_keeps_its_noise():
    data = _data()
    for loss in (lambda x, r: fe.dsm_loss(GAUSSIAN, x, 0.2, n_noise=2, rng=r),
                 lambda x, r: fe.ssm_loss(GAUSSIAN, x, n_projections=2, rng=r),
                 lambda x, r: fe.score_matching_loss(QUARTIC, x, rng=r)):
        first, again = loss(data, 5), loss(data, 5)
        assert first[0] == again[0]
        np.testing.assert_array_equal(first[1], again[1])
        assert loss(data, 6)[0] != first[0]
    # point i's noise is stream i: the first 10 points alone keep their terms
    from fastebm.training.dsm import dsm_terms
    whole = dsm_terms(GAUSSIAN, data, 0.2, 2, philox_key(5))[0]
    part = dsm_terms(GAUSSIAN, data[:10], 0.2, 2, philox_key(5))[0]
    np.testing.assert_array_equal(part, whole[:10])


def test_no_global_random_state_and_generator_rng():
    state = np.random.get_state()[1].copy()
    gen = np.random.default_rng(0)
    fe.dsm_loss(GAUSSIAN, _data(), 0.2, rng=gen)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


# -- bad input ------------------------------------------------------------------------------
def test_bad_input_is_named():
    data = _data()
    with pytest.raises(TypeError, match="energy"):
        fe.dsm_loss(lambda x: x, data, 0.1)
    with pytest.raises(ValueError, match="sigma"):
        fe.dsm_loss(GAUSSIAN, data, 0.0)
    with pytest.raises(ValueError, match="n_noise"):
        fe.dsm_loss(GAUSSIAN, data, 0.1, n_noise=0)
    with pytest.raises(ValueError, match="n_projections"):
        fe.ssm_loss(GAUSSIAN, data, n_projections=0)
    with pytest.raises(ValueError, match="projection"):
        fe.ssm_loss(GAUSSIAN, data, projection="sphere")
    with pytest.raises(ValueError, match="variance_reduction"):
        fe.ssm_loss(GAUSSIAN, data, projection="rademacher", variance_reduction=True)
    with pytest.raises(ValueError, match="n_probes"):
        fe.score_matching_loss(QUARTIC, data, n_probes=0)
    with pytest.raises(ValueError, match="data"):
        fe.ssm_loss(GAUSSIAN, data[:, :1])
    with pytest.raises(ValueError, match="data"):
        fe.score_matching_loss(GAUSSIAN, np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="rng"):
        fe.dsm_loss(GAUSSIAN, data, 0.1, rng="seed")


def test_energies_score_matching_cannot_fit_are_rejected():
    with pytest.raises(ValueError, match="continuous"):
        fe.ssm_loss(fe.BernoulliRBM(np.zeros((2, 1)), np.zeros(2), np.zeros(1)), [[0.0, 1.0]])
    no_theta = fe.energy(lambda x: 0.5 * x[0] ** 2, dim=1)
    with pytest.raises(ValueError, match="parameters"):
        fe.score_matching_loss(no_theta, [[0.0]])
    no_grad_theta = fe.energy(lambda x, t: 0.5 * t[0] * x[0] ** 2, theta=[1.0], dim=1)
    with pytest.raises(ValueError, match="grad_theta"):
        fe.dsm_loss(no_grad_theta, [[0.0]], 0.1)
