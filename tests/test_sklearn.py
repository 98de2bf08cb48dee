"""fastebm.sklearn: scikit-learn's estimator checks, pipelines, searches, pickling, and the
log-likelihoods against brute-force enumeration, SciPy and AIS."""
import copy
import importlib
import itertools
import pickle
import sys

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.neural_network import BernoulliRBM as SklearnRBM  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastebm as fe  # noqa: E402
from fastebm.sklearn import BernoulliRBM, EnergyDensity  # noqa: E402


def gaussian_start(X):
    """The starting energy N(0, I) in the data's dimension (module level: it pickles)."""
    return fe.Gaussian(np.zeros(X.shape[1]), covariance=np.ones(X.shape[1]))


@parametrize_with_checks([
    BernoulliRBM(n_components=3, n_iter=2, random_state=0),
    EnergyDensity(gaussian_start, n_iter=2, random_state=0),
])
def test_scikit_learn_estimator_checks(estimator, check):
    # some checks draw from NumPy's global random state themselves (e.g.
    # check_methods_sample_order_invariance's np.random.permutation): restore it for the
    # conftest guard, which the other tests here keep checking for fastebm's own calls
    state = np.random.get_state()
    try:
        check(estimator)
    finally:
        np.random.set_state(state)


# -- data -----------------------------------------------------------------------------------
def binary_data(seed, n=300, n_visible=8):
    """Rows from two noisy binary prototypes: structure an RBM with hidden units can learn."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((2, n_visible)) < 0.5
    flips = rng.random((n, n_visible)) < 0.1
    return (prototypes[rng.integers(0, 2, n)] ^ flips).astype(float)


def binarized_digits():
    digits = load_digits()
    return (digits.data / 16.0 > 0.5).astype(float), digits.target


def gaussian_data(seed, n=400):
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    return np.random.default_rng(seed).multivariate_normal([1.0, -2.0], cov, size=n)


# -- exact log-likelihood against enumeration ---------------------------------------------
def brute_force_log_likelihood(X, components, b, c, sign=1.0, log_z_shift=0.0):
    """log p(v) by summing exp(-E(v, h)) over every (v, h) with NumPy, from scikit-learn's
    attributes (W = componentsᵀ); ``sign`` and ``log_z_shift`` make the mutants."""
    def all_states(n):
        return np.array(list(itertools.product((0.0, 1.0), repeat=n)))

    hidden = all_states(components.shape[0])

    def log_unnormalized(v):
        neg_energy = (v @ b)[:, None] + (hidden @ c)[None, :] + v @ components.T @ hidden.T
        return logsumexp(sign * neg_energy, axis=1)

    log_z = logsumexp(log_unnormalized(all_states(components.shape[1])))
    return log_unnormalized(X) - log_z - log_z_shift


def test_exact_score_samples_is_the_enumerated_log_likelihood():
    X = binary_data(1, n_visible=6)
    rbm = BernoulliRBM(n_components=3, n_iter=5, learning_rate=0.05, random_state=0).fit(X)
    assert rbm.log_partition().method == "exact" and rbm.log_z_stderr_ == 0.0
    args = (X, rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_)
    scores = rbm.score_samples(X)
    np.testing.assert_allclose(scores, brute_force_log_likelihood(*args), rtol=0, atol=1e-10)
    states = np.array(list(itertools.product((0, 1), repeat=6)))
    assert np.exp(rbm.score_samples(states)).sum() == pytest.approx(1.0, abs=1e-12)
    # negative controls: a flipped energy sign, a log Z off by 1e-6
    for mutant in (dict(sign=-1.0), dict(log_z_shift=1e-6)):
        assert not np.allclose(scores, brute_force_log_likelihood(*args, **mutant),
                               rtol=0, atol=1e-10)
    assert rbm.score(X) == pytest.approx(scores.mean(), abs=1e-12)


def test_attributes_mean_what_scikit_learns_mean():
    """transform and the free energy of scikit-learn's RBM, given our fitted attributes."""
    X = binary_data(2, n_visible=7)
    ours = BernoulliRBM(n_components=4, n_iter=3, random_state=0).fit(X)
    theirs = SklearnRBM(n_components=4)
    for name in ("components_", "intercept_hidden_", "intercept_visible_", "n_features_in_"):
        setattr(theirs, name, getattr(ours, name))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=0, atol=1e-14)
    np.testing.assert_allclose(ours.transform(X),
                               expit(X @ ours.components_.T + ours.intercept_hidden_), atol=1e-14)
    np.testing.assert_allclose(ours.score_samples(X) + ours.log_z_, -theirs._free_energy(X),
                               rtol=0, atol=1e-12)
    assert ours.components_.shape == (4, 7) and ours.h_samples_.shape == (10, 4)
    assert list(ours.get_feature_names_out()) == [f"bernoullirbm{j}" for j in range(4)]


@pytest.mark.statistical
def test_ais_branch_agrees_with_the_exact_log_z(seed, z_crit):
    X = binary_data(3, n_visible=10)
    params = dict(n_components=6, n_iter=10, learning_rate=0.05, random_state=seed)
    exact = BernoulliRBM(**params).fit(X)
    annealed = BernoulliRBM(**params, log_z="ais", n_ais_chains=1000).fit(X)
    np.testing.assert_array_equal(annealed.components_, exact.components_)
    estimate = annealed.log_partition()
    assert estimate.method == "ais" and 0 < estimate.stderr < 0.02
    assert abs(estimate.log_z - exact.log_z_) <= z_crit * estimate.stderr
    # negative control: the tolerance catches a log Z off by 0.1
    assert abs(estimate.log_z - (exact.log_z_ + 0.1)) > z_crit * estimate.stderr
    np.testing.assert_allclose(annealed.score_samples(X) - exact.score_samples(X),
                               exact.log_z_ - estimate.log_z, rtol=0, atol=1e-12)


@pytest.mark.statistical  # 2²⁰ states, or AIS: minutes without the compiled kernels
@pytest.mark.parametrize("n_components, method", [(20, "exact"), (21, "ais")])
def test_auto_enumerates_up_to_20_units_in_the_smaller_layer(n_components, method):
    X = np.random.default_rng(4).integers(0, 2, (50, 21)).astype(float)
    rbm = BernoulliRBM(n_components=n_components, n_iter=1, random_state=0).fit(X)
    assert rbm.log_partition().method == method


# -- fitting ----------------------------------------------------------------------------------
def independent_units_log_likelihood(X):
    """The mean log-likelihood of X under independent units at its own frequencies: the
    best a model without interactions does."""
    p = X.mean(axis=0)
    return float(np.sum(p * np.log(p) + (1 - p) * np.log1p(-p)))


def test_fit_learns_more_than_the_independent_units():
    X = binary_data(5)
    untrained = BernoulliRBM(n_components=4, n_iter=0, random_state=0).fit(X)
    trained = BernoulliRBM(n_components=4, n_iter=30, learning_rate=0.1, random_state=0).fit(X)
    # the start: weights N(0, 0.01²) and the base rates of the data (Hinton 2010, sec. 8)
    assert untrained.score(X) == pytest.approx(independent_units_log_likelihood(X), abs=0.01)
    assert trained.score(X) > independent_units_log_likelihood(X) + 0.5


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_partial_fit_goes_on_from_its_own_state(method):
    X = binary_data(6)
    rbm = BernoulliRBM(n_components=4, batch_size=20, learning_rate=0.1, method=method,
                       random_state=0)
    for _ in range(30):
        for start in range(0, len(X), 20):
            rbm.partial_fit(X[start:start + 20])
    assert rbm.score(X) > independent_units_log_likelihood(X) + 0.1
    assert rbm.h_samples_.shape == ((20, 4) if method == "pcd" else (0, 4))
    with pytest.raises(ValueError, match="features"):
        rbm.partial_fit(X[:, :5])
    # partial_fit after fit updates the fitted model
    fitted = BernoulliRBM(n_components=4, n_iter=2, method=method, random_state=0).fit(X)
    before = fitted.components_.copy()
    assert not np.array_equal(fitted.partial_fit(X[:20]).components_, before)


def test_binarize_rounds_scaled_data_and_none_requires_binary_data():
    X = binary_data(7)
    scaled = np.clip(X * 0.8 + 0.1 + np.random.default_rng(0).uniform(-0.05, 0.05, X.shape),
                     0, 1)
    a = BernoulliRBM(n_components=3, n_iter=2, random_state=0).fit(X)
    b = BernoulliRBM(n_components=3, n_iter=2, random_state=0).fit(scaled)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(scaled))
    with pytest.raises(ValueError, match="binary"):
        BernoulliRBM(n_components=3, n_iter=1, binarize=None).fit(scaled)
    with pytest.raises(ValueError, match="Negative values"):
        a.transform(X - 0.5)


def test_gibbs_is_a_block_gibbs_sweep_on_its_own_streams():
    X = binary_data(8)
    rbm = BernoulliRBM(n_components=4, n_iter=5, random_state=0).fit(X)
    twin = pickle.loads(pickle.dumps(rbm))
    first, second = rbm.gibbs(X), rbm.gibbs(X)
    assert set(np.unique(first)) <= {0.0, 1.0} and first.shape == X.shape
    assert not np.array_equal(first, second)  # successive calls: fresh streams
    np.testing.assert_array_equal(twin.gibbs(X), first)  # the streams pickle with it
    expected = fe.gibbs(rbm.energy_, X, 1, rng=copy.deepcopy(twin._gibbs_rng)).draws[-1]
    np.testing.assert_array_equal(twin.gibbs(X), expected)


# -- EnergyDensity ----------------------------------------------------------------------------
def test_energy_density_on_a_gaussian_is_scipys_logpdf():
    X = gaussian_data(9)
    start = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    theta_before = start.theta.copy()
    density = EnergyDensity(start, method="sm", n_iter=30, learning_rate=0.05,
                            random_state=0).fit(X)
    assert density.energy_ is not start
    np.testing.assert_array_equal(start.theta, theta_before)  # the passed energy is untouched
    fitted = density.energy_
    expected = stats.multivariate_normal.logpdf(X, fitted.mean, fitted.covariance)
    np.testing.assert_allclose(density.score_samples(X), expected, rtol=0, atol=1e-10)
    assert density.log_partition().method == "exact"
    # negative controls: without log Z, and SciPy's density of the starting model
    assert not np.allclose(-fitted.energy(X), expected, atol=1e-10)
    assert not np.allclose(stats.multivariate_normal.logpdf(X, np.zeros(2)), expected, atol=1e-3)
    # the fit moved the model to the data: the mean within a few of its standard errors
    se = np.sqrt(np.diag(np.cov(X.T)) / len(X))
    assert np.all(np.abs(fitted.mean - X.mean(axis=0)) < 5 * se)


def test_energy_density_with_no_epochs_still_returns_a_new_energy():
    start = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    density = EnergyDensity(start, n_iter=0, random_state=0).fit(gaussian_data(10))
    assert density.energy_ is not start
    np.testing.assert_array_equal(density.energy_.theta, start.theta)


@pytest.mark.statistical
def test_energy_density_ais_agrees_with_the_exact_log_z(seed, z_crit):
    X = gaussian_data(11)
    params = dict(method="sm", n_iter=10, learning_rate=0.05, random_state=seed)
    exact = EnergyDensity(gaussian_start, **params).fit(X)
    annealed = EnergyDensity(gaussian_start, log_z="ais", **params).fit(X)
    estimate = annealed.log_partition()
    assert estimate.method == "ais" and 0 < estimate.stderr < 0.02
    assert abs(estimate.log_z - exact.log_z_) <= z_crit * estimate.stderr
    assert abs(estimate.log_z - (exact.log_z_ + 0.1)) > z_crit * estimate.stderr


@pytest.mark.statistical
def test_sample_draws_the_fitted_model(z_crit, seed):
    start = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    density = EnergyDensity(start, method="sm", n_iter=30, learning_rate=0.05,
                            random_state=0).fit(gaussian_data(12))
    model, n = density.energy_, 4000

    def z_scores(draws):
        sd = np.sqrt(np.diag(model.covariance))
        z_mean = (draws.mean(axis=0) - model.mean) / (sd / np.sqrt(n))
        z_var = (draws.var(axis=0, ddof=1) / sd ** 2 - 1.0) / np.sqrt(2.0 / (n - 1))
        return np.abs(np.concatenate([z_mean, z_var]))

    draws = density.sample(n, random_state=seed)
    assert draws.shape == (n, 2)
    assert np.all(z_scores(draws) < z_crit)
    np.testing.assert_array_equal(density.sample(n, random_state=seed), draws)
    # negative control: one burn-in step leaves the chains near their overdispersed start
    with pytest.warns(fe.LowAcceptanceWarning):
        short = clone(density).set_params(burn_in=1).fit(gaussian_data(12))
        undispersed = short.sample(n, random_state=seed)
    assert np.max(z_scores(undispersed)) > z_crit


def test_energy_density_rejects_what_it_cannot_fit():
    X = gaussian_data(13)
    with pytest.raises(ValueError, match="2 feature.*dimension 3"):
        EnergyDensity(fe.Gaussian(np.zeros(3), covariance=np.eye(3))).fit(X)
    rbm = fe.BernoulliRBM(np.zeros((2, 2)), np.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match="discrete"):
        EnergyDensity(rbm).fit(X)
    with pytest.raises(TypeError, match="fastebm energy"):
        EnergyDensity("gaussian").fit(X)
    with pytest.raises(ValueError, match="fit_options"):
        EnergyDensity(gaussian_start, fit_options={"rng": 0}).fit(X)


@pytest.mark.parametrize("method, options", [
    ("cd", None), ("pcd", None), ("nce", None), ("sm", None), ("dsm", None), ("ssm", None),
    ("geyer", {"n_samples": 1000}),
])
def test_every_continuous_fit_method_goes_through(method, options):
    """fe.fit's methods, "geyer" without the epochs, batches and progress it has not."""
    X = gaussian_data(18, n=200)
    density = EnergyDensity(fe.Gaussian(np.zeros(2), covariance=np.eye(2)), method=method,
                            n_iter=2, fit_options=options, random_state=0).fit(X)
    assert np.all(np.isfinite(density.score_samples(X)))
    assert ("nll" in density.history_) == (method == "geyer")


def test_random_state_conventions():
    X = binary_data(19)
    fitted = [BernoulliRBM(n_components=3, n_iter=2, random_state=state).fit(X).components_
              for state in (0, 0, None, None)]
    np.testing.assert_array_equal(fitted[0], fitted[1])  # an int reproduces
    assert not np.array_equal(fitted[2], fitted[3])  # None: fresh entropy (not NumPy's state)
    shared = np.random.RandomState(0)  # a RandomState advances, as in scikit-learn
    a = BernoulliRBM(n_components=3, n_iter=2, random_state=shared).fit(X).components_
    b = BernoulliRBM(n_components=3, n_iter=2, random_state=shared).fit(X).components_
    assert not np.array_equal(a, b)
    seeds = np.random.SeedSequence(7)  # a SeedSequence is read, not changed
    c = BernoulliRBM(n_components=3, n_iter=2, random_state=seeds).fit(X).components_
    np.testing.assert_array_equal(
        BernoulliRBM(n_components=3, n_iter=2, random_state=seeds).fit(X).components_, c)
    density = EnergyDensity(gaussian_start, method="sm", n_iter=2).fit(gaussian_data(19))
    assert not np.array_equal(density.sample(5), density.sample(5))


# -- Pipeline, GridSearchCV, pickle, clone ---------------------------------------------------
def test_rbm_features_in_a_pipeline_classify_digits():
    X, y = binarized_digits()
    train, test = slice(0, 1200), slice(1200, None)
    pipeline = Pipeline([
        ("rbm", BernoulliRBM(n_components=64, learning_rate=0.05, n_iter=10, random_state=0)),
        ("logistic", LogisticRegression(C=10.0, max_iter=1000)),
    ]).fit(X[train], y[train])
    assert pipeline.score(X[test], y[test]) > 0.8  # chance: 0.1
    # by hand, on the batches the pipeline transforms (a matrix product's rounding may
    # depend on its number of rows, and a refitted classifier on that last bit)
    rbm = pipeline["rbm"]
    features = rbm.transform(X[train])
    assert features.shape == (1200, 64)
    by_hand = clone(pipeline["logistic"]).fit(features, y[train])
    np.testing.assert_array_equal(pipeline.predict(X[test]),
                                  by_hand.predict(rbm.transform(X[test])))


def test_energy_density_after_a_scaler_in_a_pipeline():
    X = gaussian_data(14)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("density", EnergyDensity(gaussian_start, method="sm", n_iter=10,
                                                   random_state=0))]).fit(X)
    scaled = pipeline["scale"].transform(X)
    np.testing.assert_allclose(pipeline.score_samples(X),
                               pipeline["density"].score_samples(scaled), rtol=0, atol=1e-12)
    assert pipeline.score(X) == pytest.approx(pipeline["density"].score(scaled), abs=1e-12)


@pytest.mark.parametrize("estimator, grid, X", [
    (BernoulliRBM(n_iter=5, learning_rate=0.05, random_state=0), {"n_components": [1, 4]},
     binary_data(15)),
    (EnergyDensity(gaussian_start, method="sm", n_iter=5, random_state=0),
     {"learning_rate": [0.001, 0.1]}, gaussian_data(15, n=150)),
])
def test_grid_search_scores_with_the_mean_log_likelihood(estimator, grid, X):
    folds = KFold(3)
    search = GridSearchCV(estimator, grid, cv=folds).fit(X)
    (name, values), = grid.items()
    for i, value in enumerate(values):
        by_hand = [clone(estimator).set_params(**{name: value}).fit(X[tr]).score(X[te])
                   for tr, te in folds.split(X)]
        assert search.cv_results_["mean_test_score"][i] == pytest.approx(np.mean(by_hand),
                                                                          abs=1e-12)
    assert search.best_params_[name] == values[int(np.argmax(
        search.cv_results_["mean_test_score"]))]
    assert search.best_params_[name] == values[-1]  # 4 hidden units; the faster learning
    assert search.best_estimator_.score(X) == pytest.approx(search.score(X), abs=1e-12)


@pytest.mark.parametrize("estimator, X", [
    (BernoulliRBM(n_components=3, n_iter=3, random_state=0), binary_data(16)),
    (BernoulliRBM(n_components=3, n_iter=3, random_state=0, log_z="ais"), binary_data(16)),
    (EnergyDensity(gaussian_start, method="sm", n_iter=5, random_state=0), gaussian_data(16)),
    (EnergyDensity(fe.Gaussian(np.zeros(2), covariance=np.eye(2)), n_iter=5, random_state=0,
                   log_z="ais", n_ais_chains=200), gaussian_data(16)),
])
def test_pickle_round_trip_scores_identically(estimator, X):
    fitted = clone(estimator).fit(X)
    before_scoring = pickle.loads(pickle.dumps(fitted))  # log Z not yet computed
    scores = fitted.score_samples(X)
    after_scoring = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(before_scoring.score_samples(X), scores)
    np.testing.assert_array_equal(after_scoring.score_samples(X), scores)
    assert after_scoring.log_z_stderr_ == fitted.log_z_stderr_


@pytest.mark.parametrize("estimator, X", [
    (BernoulliRBM(n_components=3, n_iter=2, random_state=0), binary_data(17)),
    (EnergyDensity(fe.Gaussian(np.zeros(2), covariance=np.eye(2)), n_iter=2, random_state=0),
     gaussian_data(17)),
])
def test_clone_is_unfitted_with_equal_parameters(estimator, X):
    fitted = clone(estimator).fit(X)
    twin = clone(fitted)
    with pytest.raises(NotFittedError):
        twin.score_samples(X)
    assert not hasattr(twin, "energy_") and not hasattr(twin, "log_z_")
    params, twin_params = fitted.get_params(), twin.get_params()
    assert params.keys() == twin_params.keys()
    for name, value in params.items():
        if isinstance(value, fe.Energy):  # deep-copied by clone: an equal, separate energy
            assert twin_params[name] is not value
            np.testing.assert_array_equal(twin_params[name].theta, value.theta)
        else:
            assert twin_params[name] == value
    np.testing.assert_array_equal(twin.fit(X).score_samples(X), fitted.score_samples(X))


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "fastebm.sklearn")
    with pytest.raises(ImportError, match=r'pip install "fastebm\[sklearn\]"'):
        importlib.import_module("fastebm.sklearn")


def test_changing_the_log_z_options_after_fitting_computes_log_z_again():
    rbm = BernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(binary_data(1))
    assert rbm.log_partition().method == "exact"
    rbm.set_params(log_z="ais", n_ais_chains=50, n_ais_temperatures=100)
    estimate = rbm.log_partition()
    assert estimate.method == "ais" and estimate.log_weights.shape == (50,)
    assert rbm.log_partition() is estimate  # kept while the options stay


def test_sparse_input_gives_the_dense_results():
    """scikit-learn's RBM takes sparse matrices; so does this one, with the same numbers."""
    from scipy import sparse
    X = binary_data(4)
    dense = BernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(X)
    csr = BernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(sparse.csr_matrix(X))
    np.testing.assert_array_equal(csr.components_, dense.components_)
    np.testing.assert_array_equal(csr.transform(sparse.csc_matrix(X)), dense.transform(X))
    np.testing.assert_array_equal(csr.score_samples(sparse.csr_matrix(X)),
                                  dense.score_samples(X))
