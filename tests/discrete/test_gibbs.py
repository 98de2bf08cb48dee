"""Block Gibbs for RBMs: the kernel against its NumPy reference draw for draw, the
streams' guarantees, the exact invariance πP = π, and marginals against enumeration."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from tests.discrete.checks import check_gibbs_streams
from tests.discrete.reference import (bernoulli_gibbs, gaussian_bernoulli_gibbs, joint_energy,
                                      sigmoid, states, visible_marginals)
from tests.statistical.harness import Z_CRIT, mean_z


def _params(seed, V=6, H=5, scale=0.8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, H)) * scale, rng.normal(size=V) * 0.5, rng.normal(size=H) * 0.5


def test_bernoulli_gibbs_equals_reference(seed):
    W, b, c = _params(seed)
    v0 = (np.random.default_rng(1).random((70, 6)) < 0.5).astype(float)  # 3 chain blocks
    res = fe.gibbs(fe.BernoulliRBM(W, b, c), v0, 12, rng=seed)
    ref = bernoulli_gibbs(W, b, c, v0, 12, philox_key(seed))
    np.testing.assert_array_equal(res.draws, ref)
    np.testing.assert_array_equal(res.state.position, ref[-1])


def test_tempered_gibbs_is_gibbs_of_the_scaled_parameters(seed):
    W, b, c = _params(seed)
    v0 = np.zeros((5, 6))
    res = fe.gibbs(fe.BernoulliRBM(W, b, c).tempered(0.4), v0, 5, rng=seed)
    ref = bernoulli_gibbs(0.4 * W, 0.4 * b, 0.4 * c, v0, 5, philox_key(seed))
    np.testing.assert_array_equal(res.draws, ref)


def test_gaussian_bernoulli_gibbs_equals_reference(seed):
    W, b, c = _params(seed)
    sigma = np.linspace(0.5, 1.5, 6)
    x0 = np.random.default_rng(2).normal(size=(40, 6))
    res = fe.gibbs(fe.GaussianBernoulliRBM(W, b, c, sigma), x0, 8, rng=seed)
    ref = gaussian_bernoulli_gibbs(W, b, c, sigma, x0, 8, philox_key(seed))
    np.testing.assert_allclose(res.draws, ref, rtol=0, atol=1e-12)


def test_streams_thin_burn_in_and_continuation(seed):
    rbm = fe.BernoulliRBM(*_params(seed))
    check_gibbs_streams(rbm, np.zeros((100, 6)), seed)


def _joint_transition(W, b, c, stale):
    """Exact transition matrix of one sweep on the joint states (v, h).

    The sweep draws h' ~ p(h | v) then v' ~ p(v | h'); the stale variant draws v' from
    the previous h instead (the negative control)."""
    vs, hs = states(W.shape[0]), states(W.shape[1])
    ph = sigmoid(c + vs @ W)            # (nv, H)
    pv = sigmoid(b + hs @ W.T)          # (nh, V)
    prob_h = np.prod(np.where(hs[None], ph[:, None], 1 - ph[:, None]), axis=2)  # [v, h']
    prob_v = np.prod(np.where(vs[None], pv[:, None], 1 - pv[:, None]), axis=2)  # [h, v']
    nv, nh = len(vs), len(hs)
    if stale:  # T[v, h, v', h'] = p(h' | v) p(v' | h)
        T = np.einsum("ak,bc->abck", prob_h, prob_v)
    else:      # T[v, h, v', h'] = p(h' | v) p(v' | h')
        T = np.broadcast_to(np.einsum("ak,kc->ack", prob_h, prob_v)[:, None], (nv, nh, nv, nh))
    return T.reshape(nv * nh, nv * nh), vs, hs


def test_transition_matrix_leaves_the_joint_invariant():
    """πP = π to 1e-12 on a 4 × 3 RBM; the stale-layer sweep is caught."""
    W, b, c = _params(5, V=4, H=3, scale=1.5)
    for stale in (False, True):
        T, vs, hs = _joint_transition(W, b, c, stale)
        np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-12)
        pi = np.exp(-joint_energy(W, b, c, vs, hs)).ravel()
        pi /= pi.sum()
        err = np.abs(pi @ T - pi).max()
        if stale:
            assert err > 1e-3
        else:
            assert err < 1e-12


@pytest.mark.statistical
def test_gibbs_marginals_match_enumeration(seed):
    """Final states of 20,000 independent chains after 50 sweeps: the mean of every
    visible unit within Z_CRIT standard errors of the enumerated marginal. A sweep with
    a stale h keeps v's marginal exact (its even and odd sweeps are each a Gibbs chain),
    so it is caught by the πP test above; here the mutant is the mean-field hidden layer."""
    W, b, c = _params(seed, V=6, H=4, scale=1.2)
    rbm = fe.BernoulliRBM(W, b, c)
    mean, var = visible_marginals(rbm)
    v0 = np.zeros((20000, 6))
    final = fe.gibbs(rbm, v0, 1, burn_in=49, rng=seed).draws[-1]
    assert mean_z(final, mean, var) < Z_CRIT
    mutant = bernoulli_gibbs(W, b, c, v0, 50, philox_key(seed), mean_field_hidden=True)[-1]
    assert mean_z(mutant, mean, var) > Z_CRIT


def test_bad_input():
    rbm = fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="binary"):
        fe.gibbs(rbm, np.full((2, 3), 0.5), 5)
    with pytest.raises(ValueError, match="x0 must have shape"):
        fe.gibbs(rbm, np.zeros((2, 4)), 5)
    with pytest.raises(ValueError, match="n_steps"):
        fe.gibbs(rbm, np.zeros((2, 3)), -1)
    with pytest.raises(TypeError, match="RBM or an Ising"):
        fe.gibbs(fe.Gaussian(np.zeros(3), np.ones(3)), np.zeros((2, 3)), 5)
    with pytest.raises(ValueError, match="keep"):
        fe.gibbs(rbm, np.zeros((2, 3)), 5, keep="all")


@pytest.mark.parametrize("shape", [(6, 300), (300, 5)])
def test_long_rows_draw_row_by_row_the_same_numbers(seed, shape, monkeypatch):
    """Layers of ``BERNOULLI_ROW_MIN`` units or more draw their Bernoullis row by row
    (``rbm.wide_units``); forcing either path on either layer gives the same draws, in
    Gibbs and in AIS, bit for bit."""
    from fastebm._kernels.numba import runners
    from fastebm._kernels.numba.rbm import BERNOULLI_ROW_MIN
    assert max(shape) >= BERNOULLI_ROW_MIN > min(shape)
    W, b, c = _params(seed, *shape, scale=0.1)
    rbm = fe.BernoulliRBM(W, b, c)
    v0 = (np.random.default_rng(1).random((40, shape[0])) < 0.5).astype(float)
    runs = {}
    for widths in [(None, None), (True, True), runners.rbm_widths(rbm._gibbs_form())]:
        monkeypatch.setattr(runners, "rbm_widths", lambda model, widths=widths: widths)
        runs[widths] = (fe.gibbs(rbm, v0, 6, rng=seed).draws,
                        fe.ais(rbm, None, 40, 5, rng=seed).log_weights)
    (draws, log_w), *others = runs.values()
    for other_draws, other_log_w in others:
        np.testing.assert_array_equal(other_draws, draws)
        np.testing.assert_array_equal(other_log_w, log_w)
