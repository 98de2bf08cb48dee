"""CD-k / PCD training of RBMs: the compiled epoch against the step-by-step NumPy path,
reproducibility, and the exact log-likelihood of a PCD fit on digits going up."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from fastebm.training.rbm_training import RBMTrainer
from tests.statistical.harness import Z_CRIT

sklearn_datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits():
    return (sklearn_datasets.load_digits().data > 7).astype(float)


def _start(n_hidden, seed=0):
    rng = np.random.default_rng(seed)
    return fe.BernoulliRBM(rng.normal(size=(64, n_hidden)) * 0.01, np.zeros(64), np.zeros(n_hidden))


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_compiled_epoch_equals_step_by_step_path(digits, method):
    """The fused Bernoulli epoch kernel and the generic per-batch path (free-energy
    gradients in NumPy, sweeps through fe.gibbs's kernel) agree to rounding."""
    model = _start(20)
    a = RBMTrainer(model, digits[:300], method=method, k=2, batch_size=64, n_chains=64,
                   key=philox_key(3))
    b = RBMTrainer(model, digits[:300], method=method, k=2, batch_size=64, n_chains=64,
                   key=philox_key(3))
    for epoch in range(3):
        a.epoch(epoch, 0.1, 0.5, 1e-3)
        b.epoch(epoch, 0.1, 0.5, 1e-3, compiled=False)
    for x, y in [(a.W, b.W), (a.b, b.b), (a.c, b.c)]:
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)
    assert a.update == b.update == 15


def test_fit_is_reproducible_and_leaves_the_start_unchanged(digits):
    model = _start(10)
    W0 = model.W.copy()
    one = fe.fit(model, digits[:200], "pcd", n_epochs=2, rng=5)
    two = fe.fit(model, digits[:200], "pcd", n_epochs=2, rng=5)
    np.testing.assert_array_equal(one.model.W, two.model.W)
    np.testing.assert_array_equal(model.W, W0)
    assert one.history["epoch"].tolist() == [1, 2]
    assert one.history["reconstruction"].shape == (2,)


@pytest.mark.statistical
def test_pcd_on_digits_raises_the_exact_log_likelihood_and_ais_tracks_it(digits):
    """64 × 16 RBM: log Z exact by enumerating 2¹⁶ hidden states, so the training-set
    log-likelihood is exact. PCD-1 must raise it by far more than AIS's error, AIS must
    agree with it within Z_CRIT standard errors, and a step with the gradient's sign
    flipped (the negative control) must lower it."""
    model = _start(16)
    ll0 = model.log_likelihood(digits, model.log_partition())
    result = fe.fit(model, digits, "pcd", learning_rate=0.05, n_epochs=15, batch_size=100,
                    ais_every=15, ais_options={"n_chains": 200, "n_temperatures": 3000}, rng=1)
    fitted = result.model
    ll = fitted.log_likelihood(digits, fitted.log_partition())
    assert ll > ll0 + 5.0
    ais_ll, se = result.history["ais_log_likelihood"][-1], result.history["ais_stderr"][-1]
    assert abs(ais_ll - ll) < Z_CRIT * se
    wrong = RBMTrainer(fitted, digits, method="pcd", k=1, batch_size=100, n_chains=100,
                       key=philox_key(2))
    wrong.epoch(0, -0.05, 0.0, 0.0)
    flipped = wrong.current()
    assert flipped.log_likelihood(digits, flipped.log_partition()) < ll


@pytest.mark.statistical
def test_cd_and_gaussian_bernoulli_fit_run(digits):
    cd = fe.fit(_start(10), digits[:300], "cd", k=3, n_epochs=3, momentum=0.5,
                weight_decay=1e-4, monitor=("reconstruction", "pseudo_likelihood"), rng=0)
    assert cd.history["reconstruction"][-1] < cd.history["reconstruction"][0]
    x = np.random.default_rng(0).normal(size=(200, 4))
    gb = fe.GaussianBernoulliRBM(np.zeros((4, 3)), np.zeros(4), np.zeros(3), 1.0)
    res = fe.fit(gb, x + 2.0, "pcd", n_epochs=30, learning_rate=0.05, batch_size=50, rng=0)
    draws = fe.gibbs(res.model, np.zeros((2000, 4)), 1, burn_in=100, rng=1).draws[-1]
    np.testing.assert_allclose(draws.mean(axis=0), 2.0, atol=0.2)  # the model's mean is learned
    assert res.history["reconstruction"][-1] < res.history["reconstruction"][0]


def test_fit_bad_input(digits):
    model = _start(5)
    with pytest.raises(ValueError, match="method"):
        fe.fit(model, digits, "sgd")
    with pytest.raises(ValueError, match="binary"):
        fe.fit(model, digits * 0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        fe.fit(model, digits, learning_rate=0.0)
    with pytest.raises(ValueError, match="momentum"):
        fe.fit(model, digits, momentum=1.0)
    with pytest.raises(ValueError, match="monitor"):
        fe.fit(model, digits, monitor=("loss",))
    with pytest.raises(TypeError, match="fastebm energy"):
        fe.fit(object(), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="discrete"):
        fe.fit(fe.Ising.lattice(2, 2, 0.1), np.ones((3, 4)), "pcd", step_size=0.1)


def test_monitors_use_a_fixed_subsample_unless_asked_for_every_row(digits):
    """The default monitors a fixed subsample of 128 rows (cheap per epoch); the same
    rows every epoch, and monitor_rows=None gives the statistic of every row."""
    model = _start(10)
    sub = fe.fit(model, digits, "pcd", n_epochs=2, rng=5)
    full = fe.fit(model, digits, "pcd", n_epochs=2, rng=5, monitor_rows=None)
    np.testing.assert_array_equal(sub.model.W, full.model.W)  # monitoring changes nothing
    assert full.history["reconstruction"][-1] == pytest.approx(
        full.model.reconstruction_error(digits), rel=1e-12)
    assert sub.history["reconstruction"][-1] != full.history["reconstruction"][-1]
    assert abs(sub.history["reconstruction"][-1] / full.history["reconstruction"][-1] - 1) < 0.2
    again = fe.fit(model, digits, "pcd", n_epochs=2, rng=5)
    np.testing.assert_array_equal(again.history["reconstruction"], sub.history["reconstruction"])
    with pytest.raises(ValueError, match="monitor_rows"):
        fe.fit(model, digits, "pcd", n_epochs=1, monitor_rows=0)
