"""Regression tests for defects found by review (2026-11-23), one per defect."""
import numpy as np
import pytest

import fastebm as fe
from fastebm.training.negatives import PersistentChains, ReplayBuffer


def test_fit_geyer_steps_back_when_a_line_search_leaves_the_parameter_space():
    rng = np.random.default_rng(0)
    mixture = fe.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[1.0], [1.0]])
    data = 3 * rng.normal(size=(200, 1)) + 1
    fit = fe.fit_geyer(mixture, data, fe.proposals.Gaussian([0.0], [25.0]), 2000, rng=0)
    assert np.isfinite(fit.nll)


def test_persistent_chains_reanchor_the_divergence_check_when_theta_moves():
    """ULA flags a chain whose energy rises 1000 above its start; the start must be taken
    under the current θ, or a parameter step that shifts every energy flags them all."""
    d = 300
    x0 = np.random.default_rng(0).normal(size=(10, d))
    chains = PersistentChains(x0, 0.01, sampler="langevin", rng=0)

    def normalized(variance):  # -log N(x; 0, variance·I): its log-normalizer moves with θ
        return fe.GaussianMixture([1.0], [np.zeros(d)], [np.full(d, variance)])
    chains.advance(normalized(1.0), 1)
    moved = chains.advance(normalized(1e4), 1)  # every energy now ~1200 above the start
    assert np.all(np.isfinite(moved))


def test_fit_callback_models_are_snapshots():
    data = np.eye(4)[[0, 1, 2, 3] * 5]
    rbm = fe.BernoulliRBM(np.zeros((4, 3)), np.zeros(4), np.zeros(3))
    seen = []
    result = fe.fit(rbm, data, "pcd", n_epochs=3, batch_size=5, monitor=(),
                    callback=lambda e, m, h: seen.append(m.W.copy()) and False, rng=0)
    models = []
    fe.fit(rbm, data, "pcd", n_epochs=3, batch_size=5, monitor=(),
           callback=lambda e, m, h: models.append(m) and False, rng=0)
    for kept, snapshot in zip(models, seen):
        np.testing.assert_array_equal(kept.W, snapshot)
    assert not np.shares_memory(models[0].W, result.model.W)


def test_fit_rejects_a_tempered_rbm():
    rbm = fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2)).tempered(0.5)
    with pytest.raises(ValueError, match="tempered"):
        fe.fit(rbm, np.eye(3), "pcd")


def test_mixture_score_matching_of_a_single_point():
    mixture = fe.GaussianMixture([0.3, 0.7], [[0.0, 0.0], [1.0, 1.0]],
                                 [np.eye(2), 2 * np.eye(2)])
    x = np.array([0.3, -0.2])
    loss, grad = mixture.score_matching(x)
    batch_loss, batch_grad = mixture.score_matching(x[None])
    assert loss == batch_loss
    np.testing.assert_array_equal(grad, batch_grad)


def test_gibbs_keeps_float32():
    gb = fe.GaussianBernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2), 1.0)
    run = fe.gibbs(gb, np.zeros((4, 3), dtype=np.float32), 3, rng=0)
    assert run.draws.dtype == np.float32 and run.state.dtype == np.float32
    more = fe.gibbs(gb, run.state, 2, keep="moments")
    assert more.mean.dtype == np.float32


def test_discrete_ais_accepts_the_length_of_its_schedule():
    rbm = fe.BernoulliRBM(np.zeros((3, 2)), np.zeros(3), np.zeros(2))
    betas = np.linspace(0.0, 1.0, 5)
    assert fe.ais(rbm, None, 4, 5, schedule=betas, rng=0).log_z == \
        fe.ais(rbm, None, 4, schedule=betas, rng=0).log_z
    with pytest.raises(ValueError, match="does not match"):
        fe.ais(rbm, None, 4, 6, schedule=betas, rng=0)


def test_replay_buffer_takes_a_generator():
    buffer = ReplayBuffer(fe.proposals.Gaussian([0.0], [1.0]), 10,
                          rng=np.random.default_rng(0))
    assert buffer.starts(3).shape == (3, 1)
    with pytest.raises(TypeError, match="rng"):
        ReplayBuffer(fe.proposals.Gaussian([0.0], [1.0]), 10, rng="seed")


def test_ais_acceptance_is_nan_without_transitions():
    """With 2 temperatures AIS moves no chain: its acceptance rate is undefined (NaN),
    not 0 (which would read as every proposal rejected)."""
    energy = fe.Gaussian(np.zeros(2), precision=np.eye(2))
    base = fe.proposals.Gaussian(np.zeros(2), 2.0 * np.eye(2))
    two = fe.ais(energy, base, 8, 2, step_size=0.5, rng=0)
    assert np.all(np.isnan(two.acceptance_rate))
    three = fe.ais(energy, base, 8, 3, step_size=0.5, rng=0)
    assert np.all((0.0 <= three.acceptance_rate) & (three.acceptance_rate <= 1.0))


def _bowl(x):
    return 0.5 * x[0] * x[0]


def _bowl_grad_walled(x, out):
    """The bowl's energy and gradient, the gradient non-finite beyond |x| = 2 where the
    energy stays finite."""
    out[0] = x[0] if abs(x[0]) < 2.0 else np.inf
    return 0.5 * x[0] * x[0]


def test_langevin_rejects_proposals_with_a_non_finite_gradient():
    """MALA rejects and counts them; ULA stops the chain there (its later draws NaN)
    instead of keeping a point whose next step would be NaN. ULA decides this from the
    energy and the gradient alone, without the MALA ratio it skips when not adapting."""
    energy = fe.energy(_bowl, grad=_bowl_grad_walled, dim=1)
    x0 = np.linspace(-1.5, 1.5, 40)[:, None]
    mala = fe.mala(energy, x0, 0.8, 300, rng=0)
    assert np.all(np.abs(mala.draws) < 2.0)
    assert np.all(mala.n_divergent > 0)
    with np.errstate(invalid="ignore"):  # inf · 0 in the finiteness test, pure-Python path
        ula = fe.langevin(energy, x0, 0.8, 300, rng=0)
    kept = ula.draws[np.isfinite(ula.draws)]
    assert np.all(np.abs(kept) < 2.0)  # no chain kept a point with a non-finite gradient
    stopped = np.isnan(ula.draws[-1, :, 0])
    assert stopped.any()
    np.testing.assert_array_equal(ula.n_divergent > 0, stopped)
