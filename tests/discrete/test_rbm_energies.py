"""RBM free energies, conditionals, parameter gradients and exact log Z, against brute
force over every state and finite differences."""
import numpy as np
import pytest
from scipy import integrate

import fastebm as fe
from tests.discrete.reference import grad_theta_by_finite_differences, joint_energy, states


def _rbm(seed, V=5, H=4, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, H)) * scale, rng.normal(size=V), rng.normal(size=H)


def test_free_energy_is_minus_log_sum_over_hidden(seed):
    W, b, c = _rbm(seed)
    vs, hs = states(5), states(4)
    for beta in (1.0, 0.3):
        brute = -np.log(np.exp(-beta * joint_energy(W, b, c, vs, hs)).sum(axis=1))
        np.testing.assert_allclose(fe.BernoulliRBM(W, b, c).tempered(beta).energy(vs), brute,
                                   rtol=0, atol=1e-12)


def test_free_energy_does_not_overflow_with_large_weights():
    rbm = fe.BernoulliRBM(np.full((3, 2), 400.0), np.zeros(3), np.zeros(2))
    assert np.allclose(rbm.energy(np.ones(3)), -2400.0)


@pytest.mark.parametrize("shape", [(5, 4), (4, 6)])  # enumerates hidden, then visible
def test_exact_log_partition_matches_brute_force(seed, shape):
    W, b, c = _rbm(seed, *shape)
    E = joint_energy(W, b, c, states(shape[0]), states(shape[1]))
    for beta in (1.0, 0.5):
        brute = np.log(np.sum(np.exp(-beta * E)))
        assert fe.BernoulliRBM(W, b, c).tempered(beta).log_partition() == pytest.approx(brute, abs=1e-11)


def test_log_partition_of_chunked_enumeration():
    """16 hidden units cross the 2¹² chunk size: chunks and Gray code must agree with
    the visible-side enumeration (3 units)."""
    W, b, c = _rbm(3, V=3, H=16, scale=0.3)
    by_visible = fe.BernoulliRBM(W, b, c).log_partition()
    vs = states(3)
    brute = np.log(np.sum(np.exp(vs @ b + np.logaddexp(0, c + vs @ W).sum(1))))
    assert by_visible == pytest.approx(brute, abs=1e-11)
    by_hidden = fe.BernoulliRBM(W.T, c, b).log_partition()  # same model, layers swapped
    assert by_hidden == pytest.approx(brute, abs=1e-10)


def test_log_partition_beyond_enumeration_points_to_ais():
    rbm = fe.BernoulliRBM(np.zeros((30, 26)), np.zeros(30), np.zeros(26))
    with pytest.raises(ValueError, match="ais"):
        rbm.log_partition()


def test_conditionals_match_the_joint(seed):
    W, b, c = _rbm(seed)
    rbm = fe.BernoulliRBM(W, b, c).tempered(0.8)
    vs, hs = states(5), states(4)
    p = np.exp(-0.8 * joint_energy(W, b, c, vs, hs))
    p_h_given_v = (p[:, :, None] * hs[None]).sum(1) / p.sum(1)[:, None]
    np.testing.assert_allclose(rbm.hidden_probabilities(vs), p_h_given_v, atol=1e-12)
    p_v_given_h = (p.T[:, :, None] * vs[None]).sum(1) / p.sum(0)[:, None]
    np.testing.assert_allclose(rbm.visible_probabilities(hs), p_v_given_h, atol=1e-12)



def test_bernoulli_grad_theta_against_finite_differences(seed):
    W, b, c = _rbm(seed)
    rbm = fe.BernoulliRBM(W, b, c).tempered(0.7)
    v = states(5)[::3]
    np.testing.assert_allclose(rbm.grad_theta(v), grad_theta_by_finite_differences(rbm, v), atol=1e-7)
    assert rbm.grad_theta(v[0]).shape == (5 * 4 + 5 + 4,)


def test_expected_grad_theta_is_the_probability_weighted_sum_of_grad_theta(seed):
    """E_p[∇_θF] from its closed-form sums, against Σ_v p(v) ∇_θF(v) over the 2⁵ states."""
    W, b, c = _rbm(seed)
    rbm = fe.BernoulliRBM(W, b, c).tempered(0.7)
    v = states(5)
    p = np.exp(-rbm.energy(v) - rbm.log_partition())
    np.testing.assert_allclose(rbm.expected_grad_theta(), p @ rbm.grad_theta(v),
                               rtol=1e-12, atol=1e-14)


def test_gaussian_bernoulli_grad_theta_and_grad_x_against_finite_differences(seed):
    W, b, c = _rbm(seed)
    sigma = np.linspace(0.5, 2.0, 5)
    gb = fe.GaussianBernoulliRBM(W, b, c, sigma).tempered(0.6)
    x = np.random.default_rng(seed).normal(size=(7, 5))
    np.testing.assert_allclose(gb.grad_theta(x), grad_theta_by_finite_differences(gb, x), atol=1e-6)
    assert fe.check_grad(gb, x) < 1e-6


def test_gaussian_bernoulli_free_energy_and_log_partition_by_quadrature(seed):
    W, b, c = _rbm(seed, V=1, H=3, scale=0.6)
    for beta in (1.0, 0.5):
        gb = fe.GaussianBernoulliRBM(W, b, c, 0.7).tempered(beta)
        hs = states(3)
        for x in (-1.3, 0.2, 2.5):  # F(v) = -log Σ_h exp(-βE(v, h))
            e = ((x - b[0]) ** 2 / (2 * 0.49) - hs @ c - x / 0.7 * (hs @ W[0]))
            assert gb.energy(np.array([x])) == pytest.approx(-np.log(np.exp(-beta * e).sum()), abs=1e-12)
        z, _ = integrate.quad(lambda t: np.exp(-gb.energy(np.array([t]))), -40, 40, epsabs=0,
                              epsrel=1e-12, limit=200)
        assert gb.log_partition() == pytest.approx(np.log(z), abs=1e-9)


def test_log_likelihood_and_pseudo_likelihood_by_enumeration(seed):
    W, b, c = _rbm(seed)
    rbm = fe.BernoulliRBM(W, b, c)
    vs = states(5)
    log_p = -rbm.energy(vs) - rbm.log_partition()
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-12)
    assert rbm.log_likelihood(vs[:7], rbm.log_partition()) == pytest.approx(log_p[:7].mean())
    # log p(vᵢ | v₋ᵢ) from the enumerated joint
    idx = {tuple(v): k for k, v in enumerate(vs)}
    pl = np.zeros(len(vs))
    for k, v in enumerate(vs):
        for i in range(5):
            w = v.copy()
            w[i] = 1 - w[i]
            pl[k] += log_p[k] - np.logaddexp(log_p[k], log_p[idx[tuple(w)]])
    np.testing.assert_allclose(rbm.pseudo_log_likelihood(vs), pl, atol=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="b must have shape"):
        fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="c must have shape"):
        fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="W must have 2"):
        fe.BernoulliRBM(np.zeros(3), np.zeros(3), np.zeros(3))
    rbm = fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="binary"):
        rbm.energy(np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        rbm.energy(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="gibbs"):
        fe.mala(rbm, np.zeros((2, 3)), 0.1, 10)
    with pytest.raises(TypeError, match="no gradient"):
        rbm.grad(np.zeros(3))
    with pytest.raises(ValueError, match="sigma"):
        fe.GaussianBernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2), [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="W must be finite"):
        fe.BernoulliRBM(np.full((3, 2), np.nan), np.zeros(3), np.zeros(2))
