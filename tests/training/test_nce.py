import numpy as np
import pytest

import fastebm as fe

NOISE = fe.proposals.Gaussian([0.0], [4.0])


def test_seed_001_decision_boundary():
    """E = x²/2 (unnormalized, c = 0) against N(0, 4) noise, ν = 1: G(x) = 0 at
    x² = (8/3) ln(2√(2π)), |x| ≈ 2.0734 (seed 001, example 3)."""
    energy = fe.Gaussian([0.0], precision=[1.0])
    boundary = np.sqrt(8.0 / 3.0 * np.log(2.0 * np.sqrt(2.0 * np.pi)))
    assert boundary == pytest.approx(2.0734, abs=1e-4)
    g = fe.nce_logit(energy, NOISE, np.array([[-boundary], [boundary], [0.0], [3.0]]))
    np.testing.assert_allclose(g[:2], 0.0, atol=1e-12)
    assert g[2] > 0 > g[3]  # inside: "data"; outside: "noise"


def test_gradients_match_finite_differences():
    energy = fe.Gaussian([0.3, -0.2], precision=[[1.5, 0.2], [0.2, 0.8]])
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 2))
    q = fe.proposals.Gaussian([0.0, 0.0], 3.0 * np.eye(2))
    noise = q.sample(400, rng=1)
    c = 1.1
    res = fe.nce_loss(energy, data, q, noise, log_normalizer=c)
    theta = energy.theta
    loss = lambda t, cc: fe.nce_loss(energy.with_theta(t), data, q, noise,  # noqa: E731
                                     log_normalizer=cc).loss
    fd = np.array([(loss(theta + h, c) - loss(theta - h, c)) / 2e-6
                   for h in np.eye(theta.size) * 1e-6])
    np.testing.assert_allclose(res.grad_theta, fd, rtol=1e-6, atol=1e-8)
    fd_c = (loss(theta, c + 1e-6) - loss(theta, c - 1e-6)) / 2e-6
    assert res.grad_log_normalizer == pytest.approx(fd_c, rel=1e-6, abs=1e-8)


def test_warns_when_noise_equals_the_model():
    energy = fe.Gaussian([0.0], precision=[0.25])
    noise = NOISE.sample(100, rng=0)
    with pytest.warns(fe.NoiseEqualsModelWarning):
        fe.nce_loss(energy, noise[:50], NOISE, noise[50:], log_normalizer=energy.log_partition())


def test_bad_input():
    energy = fe.Gaussian([0.0], precision=[1.0])
    with pytest.raises(TypeError, match="proposal"):
        fe.nce_loss(energy, [[0.0]], "noise", [[0.0]])
    with pytest.raises(ValueError, match="noise"):
        fe.nce_loss(energy, [[0.0]], NOISE, [[0.0, 1.0]])
