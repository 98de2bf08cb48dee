"""scikit-learn estimators on fastebm's models: ``BernoulliRBM`` and ``EnergyDensity``.

Both follow scikit-learn's estimator conventions (``fit`` returns the estimator, fitted
attributes end in ``_``, ``random_state``, ``get_params``/``set_params``), so they work
in a ``Pipeline``, in ``GridSearchCV`` (scored by ``score``, the mean log-likelihood),
with ``clone`` and ``pickle``. The energy convention is fastebm's: p(x) = exp(-E(x))/Z.

- ``BernoulliRBM(n_components, ...)``: in place of
  ``sklearn.neural_network.BernoulliRBM`` (its parameters, methods and fitted
  attributes; sparse input is made dense; docs/sklearn.md lists the differences),
  trained by ``fastebm.fit`` with PCD (Tieleman 2008) or CD-k (Hinton 2002), whose
  ``score_samples`` is the log-likelihood log p(v) = -F(v) - log Z rather than
  scikit-learn's one-bit pseudo-likelihood;
- ``EnergyDensity(energy, method=...)``: a density estimator over any fastebm energy
  with parameters θ, fitted by any continuous method of ``fastebm.fit``, with
  ``score_samples`` = log p(x) and ``sample`` by MALA.

log Z is exact where the model knows it (a Gaussian's closed form; an RBM's smaller
layer enumerated) and an annealed importance sampling (AIS) estimate otherwise, with
its standard error ``log_z_stderr_``. AIS's log Ẑ is a stochastic lower bound (its bias
is about -stderr²/2), so the log-likelihoods are then a little high, besides their
error of ± stderr. log Z is computed once per fitted model, on first use
(``log_partition()``, ``log_z_``, a score), so that an RBM used only as a transformer
never pays for it.

``random_state`` follows scikit-learn (an int, a ``RandomState``; also a NumPy
``Generator`` or ``SeedSequence``), except that None draws fresh entropy from the
operating system instead of NumPy's global random state, which fastebm never touches.
"""
import copy
import numbers

import numpy as np
from scipy import sparse

try:
    from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin, DensityMixin,
                              TransformerMixin)
    from sklearn.utils import check_random_state, check_scalar
    from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data
except ImportError as exc:  # scikit-learn missing, or older than 1.6 (validate_data)
    raise ImportError('fastebm.sklearn needs scikit-learn >= 1.6: pip install "fastebm[sklearn]"'
                      ) from exc

from ._rng import philox_key
from .energies import BernoulliRBM as RBMEnergy
from .energies.base import Energy
from .energies.rbm import binary_points
from .estimators.ais import ais
from .estimators.partition import log_partition
from .proposals import Gaussian as GaussianProposal
from .samplers.gibbs import gibbs
from .samplers.langevin import mala
from .training.fit import fit
from .training.rbm_training import RBMTrainer

EXACT_UNITS = 20
"""``log_z="auto"`` enumerates the smaller layer of an RBM up to this many units (2²⁰
states, about 0.3 s on one core); "exact" goes up to fastebm's limit
``fastebm.energies.rbm.MAX_ENUMERATED_UNITS`` (25 units, about 30 times longer)."""
BASE_RATE_ROWS = 1000
"""Rows of the stand-in data that give ``fastebm.ais`` the training data's unit
frequencies (rounded to 1/1000) for its base-rate model."""
INITIAL_WEIGHT_SCALE = 0.01
REFERENCE_INFLATION = 1.2
"""The AIS base of ``EnergyDensity`` is N(m, 1.2 S), m and S the training data's mean
and covariance: a little wider than the data."""
START_INFLATION = 4.0
"""``EnergyDensity.sample`` starts its chains at N(m, 4 S), twice the data's spread
(overdispersed), so that burn-in must move them."""
LOG_Z_MODES = ("auto", "exact", "ais")
OWN_FIT_OPTIONS = ("learning_rate", "n_epochs", "batch_size", "progress", "rng")
"""``fastebm.fit`` options that ``EnergyDensity`` sets from its own parameters."""


def _seed_sequence(random_state):
    """A NumPy SeedSequence (one of fastebm's ``rng``) from a scikit-learn ``random_state``.

    An int or ``RandomState`` goes through ``check_random_state`` and gives 128 bits of
    it (a ``RandomState`` advances, as in scikit-learn); a ``Generator`` advances the
    same way; a ``SeedSequence`` gives its first words (it is not changed); None gives
    fresh entropy from the operating system, never NumPy's global random state.
    """
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.SeedSequence):
        words = random_state.generate_state(4)
    elif isinstance(random_state, np.random.Generator):
        words = random_state.integers(0, 2**32, size=4, dtype=np.uint64)
    else:
        words = check_random_state(random_state).randint(0, 2**32, size=4, dtype=np.uint64)
    return np.random.SeedSequence([int(w) for w in words])


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


class _LogLikelihood:
    """log Z once per fitted model, on first use, and the scores built on it."""

    def log_partition(self):
        """log Z of the fitted model, exact or estimated, computed on the first call
        after each fit and kept (computed again when ``log_z``, ``n_ais_chains`` or
        ``n_ais_temperatures`` have been changed since).

        Returns
        -------
        fastebm.LogZEstimate
            ``log_z``, ``stderr`` (0 when exact), ``method`` ("exact" or "ais"), and for
            AIS its weights, ESS and temperatures.
        """
        check_is_fitted(self)
        options = (self.log_z, self.n_ais_chains, self.n_ais_temperatures)
        if self._log_z is None or self._log_z_options != options:  # set_params since
            self._log_z = self._estimate_log_z()
            self._log_z_options = options
        return self._log_z

    @property
    def log_z_(self):
        """float: log Z of the fitted model (``log_partition().log_z``)."""
        return self.log_partition().log_z

    @property
    def log_z_stderr_(self):
        """float: the standard error of ``log_z_`` (0.0 when exact)."""
        return self.log_partition().stderr

    def score(self, X, y=None):
        """The mean log-likelihood of X, mean(score_samples(X)): higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored, for the API of scikit-learn's pipelines and searches.

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))


class BernoulliRBM(_LogLikelihood, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                   BaseEstimator):
    """Bernoulli restricted Boltzmann machine, fitted by fastebm (PCD or CD-k).

    The parameters, methods and fitted attributes of
    ``sklearn.neural_network.BernoulliRBM``, so that one replaces the other; in addition
    ``method``, ``k``, ``binarize`` and the choice of log Z. ``score_samples`` is the
    log-likelihood log p(v), exact or from AIS, not scikit-learn's pseudo-likelihood.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units H.
    learning_rate : float, default=0.1
        The step of the stochastic gradient ascent on the mean log-likelihood of a
        mini-batch (scikit-learn's convention: its sum is divided by the batch size).
    batch_size : int, default=10
        Rows per mini-batch, and PCD's number of persistent chains.
    n_iter : int, default=10
        Passes over the training data (epochs).
    verbose : int, default=0
        Show ``fastebm.fit``'s progress over the epochs, with the pseudo-log-likelihood
        of up to 128 training rows.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds the initial weights, the fit, the Gibbs chains and AIS. None: fresh
        entropy (NumPy's global random state is never used).
    method : {"pcd", "cd"}, default="pcd"
        Negatives from persistent chains (PCD, Tieleman 2008; scikit-learn's method)
        or from k Gibbs sweeps started at the mini-batch (CD-k, Hinton 2002).
    k : int, default=1
        Gibbs sweeps per update.
    binarize : float or None, default=0.5
        Entries of X above this threshold are on (1), the others off (0), as in
        ``sklearn.naive_bayes.BernoulliNB``: data scaled to [0, 1] is rounded, binary
        data is unchanged. None: X must already be binary (0 or 1).
    log_z : {"auto", "exact", "ais"}, default="auto"
        How ``score_samples`` gets log Z: "auto" enumerates the smaller layer when it has
        at most ``EXACT_UNITS`` (20) units and runs AIS otherwise; "exact" enumerates up
        to fastebm's limit of 25 units; "ais" always estimates.
    n_ais_chains : int, default=100
        AIS chains (Salakhutdinov & Murray 2008 used 100).
    n_ais_temperatures : int, default=1000
        AIS temperatures (sigmoid schedule), both ends included.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The weights Wᵀ (scikit-learn's layout: one row per hidden unit).
    intercept_visible_ : ndarray of shape (n_features,)
        The visible biases b.
    intercept_hidden_ : ndarray of shape (n_components,)
        The hidden biases c.
    h_samples_ : ndarray of shape (batch_size, n_components)
        The hidden states of PCD's persistent chains, from which ``partial_fit`` goes
        on (after ``fit`` they restart at random training rows: ``fastebm.fit`` does not
        return its chains); shape (0, n_components) for CD, which keeps no chains.
    energy_ : fastebm.BernoulliRBM
        The fitted model, for the rest of fastebm (``fe.gibbs``, ``fe.ais``, ...).
    log_z_, log_z_stderr_ : float
        log Z and its standard error (0.0 when exact), computed on first use.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined when X has feature names that are all strings.

    Notes
    -----
    The energy of visible v ∈ {0,1}ⱽ and hidden h ∈ {0,1}ᴴ units is
    E(v, h) = -vᵀb - hᵀc - vᵀWh, and summing h out gives the free energy

        F(v) = -vᵀb - Σⱼ softplus(cⱼ + (vᵀW)ⱼ),   p(v) = exp(-F(v)) / Z,

    with p(hⱼ=1 | v) = σ(cⱼ + (vᵀW)ⱼ) (``transform``) and p(vᵢ=1 | h) = σ(bᵢ + (Wh)ᵢ)
    (Hinton 2002; Hinton 2010). Each update ascends the log-likelihood along
    mean ∇_θ(-F)(batch) - mean ∇_θ(-F)(negatives), for W the Hebbian difference
    ⟨v p(h|v)⟩_data - ⟨v p(h|v)⟩_negatives (Hinton 2002, eq. 5 with hidden
    probabilities; Tieleman 2008 for persistent negatives); ``fit`` runs
    ``fastebm.fit(..., method)`` and ``partial_fit`` one update of the same rule.

    ``score_samples`` is log p(v) = -F(v) - log Z. The exact log Z sums the smaller
    layer out in closed form and enumerates the other: with H ≤ V,
    log Z = log Σ_h exp(cᵀh) Πᵢ (1 + exp(bᵢ + (Wh)ᵢ)). AIS anneals from the
    base-rate model of the training data (visible biases b_A = logit of the smoothed
    unit frequencies) to the RBM along p_β ∝ exp(-(1-β)F_A - βF) with one block Gibbs
    sweep per temperature (Salakhutdinov & Murray 2008, sec. 4.1; Neal 2001); its
    log Ẑ is a stochastic lower bound (E log Ẑ ≤ log Z), so AIS scores are biased up
    by about (``log_z_stderr_``)² / 2 besides their error of ± ``log_z_stderr_``.

    The initial weights are N(0, 0.01²), the hidden biases 0 and the visible biases the
    log odds of the training data's smoothed unit frequencies (Hinton 2010, sec. 8;
    scikit-learn starts the visible biases at 0).

    References
    ----------
    Hinton (2002), "Training products of experts by minimizing contrastive
    divergence", Neural Computation 14(8), 1771-1800.
    Tieleman (2008), "Training restricted Boltzmann machines using approximations to
    the likelihood gradient", ICML.
    Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief
    networks", ICML.
    Neal (2001), "Annealed importance sampling", Statistics and Computing 11, 125-139.
    Hinton (2010), "A practical guide to training restricted Boltzmann machines",
    UTML TR 2010-003.

    Examples
    --------
    >>> import numpy as np
    >>> from fastebm.sklearn import BernoulliRBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> rbm = BernoulliRBM(n_components=2, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (4, 2)
    >>> bool(np.isclose(np.exp(rbm.score_samples(np.array(
    ...     [[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]))).sum(), 1.0))
    True
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10,
                 verbose=0, random_state=None, method="pcd", k=1, binarize=0.5,
                 log_z="auto", n_ais_chains=100, n_ais_temperatures=1000):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.method = method
        self.k = k
        self.binarize = binarize
        self.log_z = log_z
        self.n_ais_chains = n_ais_chains
        self.n_ais_temperatures = n_ais_temperatures

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        return tags

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the RBM to X by ``fastebm.fit`` (``n_iter`` epochs of PCD or CD-k).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative data, binarized at ``binarize``.
        y : None
            Ignored.

        Returns
        -------
        self : BernoulliRBM
        """
        self._check_params()
        v = self._visible(X, reset=True)
        seeds = _seed_sequence(self.random_state).spawn(5)
        result = fit(self._initial_model(v, seeds[0]), v, self.method, k=self.k,
                     learning_rate=self.learning_rate, n_epochs=self.n_iter,
                     batch_size=self.batch_size,
                     monitor=("pseudo_likelihood",) if self.verbose else (),
                     progress=bool(self.verbose), rng=seeds[1])
        self._begin(result.model, v, seeds[2:])
        return self

    def partial_fit(self, X, y=None):
        """One CD-k/PCD update with X as the mini-batch, as scikit-learn's ``partial_fit``.

        The first call (on an unfitted estimator) initializes the model from X; PCD's
        persistent chains carry over between calls (after ``fit``, they restart at
        random training rows). The update is fastebm's (``RBMTrainer.step``, the rule of
        ``fastebm.fit``): ``fastebm.fit`` cannot continue an earlier fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : BernoulliRBM
        """
        self._check_params()
        first = not hasattr(self, "components_")
        v = self._visible(X, reset=first)
        if first:
            seeds = _seed_sequence(self.random_state).spawn(4)
            self._begin(self._initial_model(v, seeds[0]), v, seeds[1:])
        else:
            self._visible_counts = self._visible_counts + v.sum(axis=0)
            self._n_seen += v.shape[0]
        self._trainer.step(v, float(self.learning_rate), 0.0, 0.0)
        self._set_model(self._trainer.current())
        return self

    def _check_params(self):
        check_scalar(self.n_components, "n_components", numbers.Integral, min_val=1)
        check_scalar(self.learning_rate, "learning_rate", numbers.Real, min_val=0.0,
                     include_boundaries="neither")
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.n_iter, "n_iter", numbers.Integral, min_val=0)
        check_scalar(self.k, "k", numbers.Integral, min_val=1)
        check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        _check_choice(self.method, "method", ("pcd", "cd"))
        if self.binarize is not None:
            check_scalar(self.binarize, "binarize", numbers.Real, min_val=0.0)
        _check_choice(self.log_z, "log_z", LOG_Z_MODES)
        check_scalar(self.n_ais_chains, "n_ais_chains", numbers.Integral, min_val=2)
        check_scalar(self.n_ais_temperatures, "n_ais_temperatures", numbers.Integral, min_val=2)

    def _visible(self, X, reset):
        """X validated, non-negative, as binary visible states (n_samples, n_features);
        a sparse X (CSR or CSC, as scikit-learn's RBM takes) is made dense, since the
        kernels work on dense rows."""
        X = validate_data(self, X, dtype=np.float64, reset=reset, accept_sparse=("csr", "csc"))
        check_non_negative(X, f"{type(self).__name__} (fastebm)")
        if sparse.issparse(X):
            X = X.toarray()
        if self.binarize is None:
            return binary_points(X, X.shape[1], "X")[0]
        return (X > self.binarize).astype(np.float64)

    def _initial_model(self, v, seed):
        """W ~ N(0, 0.01²), c = 0, b = the log odds of v's smoothed unit frequencies."""
        n_visible, n_hidden = v.shape[1], int(self.n_components)
        W = INITIAL_WEIGHT_SCALE * np.random.default_rng(seed).standard_normal(
            (n_visible, n_hidden))
        zero = RBMEnergy(W, np.zeros(n_visible), np.zeros(n_hidden))
        return RBMEnergy(W, zero.base_rate_biases(v), np.zeros(n_hidden))

    def _begin(self, model, v, seeds):
        """The state that ``partial_fit``, ``gibbs`` and log Z go on from: a trainer of
        the model (PCD chains at random rows of v), the unit counts of the data seen,
        the streams of the Gibbs chains and of AIS."""
        trainer_seed, gibbs_seed, self._ais_seed = seeds
        rows = np.random.default_rng(trainer_seed).choice(
            v.shape[0], min(v.shape[0], int(self.batch_size)), replace=False)
        self._trainer = RBMTrainer(model, v[np.sort(rows)], method=self.method, k=int(self.k),
                                   batch_size=int(self.batch_size),
                                   n_chains=int(self.batch_size), key=philox_key(trainer_seed))
        self._visible_counts, self._n_seen = v.sum(axis=0), v.shape[0]
        self._gibbs_rng = np.random.default_rng(gibbs_seed)
        self._set_model(model)

    def _set_model(self, model):
        self.energy_ = model
        self.components_ = model.W.T.copy()
        self.intercept_visible_ = model.b.copy()
        self.intercept_hidden_ = model.c.copy()
        self.h_samples_ = self._trainer.chains_h.copy()
        self._n_features_out = model.n_hidden
        self._log_z = None

    # -- the fitted model --------------------------------------------------------------------
    def transform(self, X):
        """The hidden units' probabilities p(hⱼ = 1 | v) = σ(cⱼ + (vᵀW)ⱼ).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative data, binarized at ``binarize``.

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        return self.energy_.hidden_probabilities(self._visible(X, reset=False))

    def score_samples(self, X):
        """The log-likelihood log p(v) = -F(v) - log Z of each row.

        log Z is exact or an AIS estimate (``log_z``; see Notes of the class), computed
        on the first call after a fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative data, binarized at ``binarize``.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        v = self._visible(X, reset=False)
        return -self.energy_.free_energy(v) - self.log_partition().log_z

    def gibbs(self, v):
        """One block Gibbs sweep from v: h ~ p(h | v), then v' ~ p(v | h).

        Successive calls draw on successive streams of the estimator's ``random_state``
        (by ``fastebm.gibbs``).

        Parameters
        ----------
        v : array-like of shape (n_samples, n_features)
            Starting visible states (binarized at ``binarize``).

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            The visible states after the sweep, 0.0 or 1.0.
        """
        check_is_fitted(self)
        start = self._visible(v, reset=False)
        return gibbs(self.energy_, start, 1, rng=self._gibbs_rng).draws[-1]

    def _estimate_log_z(self):
        model = self.energy_
        smaller = min(model.n_visible, model.n_hidden)
        if self.log_z == "exact" or (self.log_z == "auto" and smaller <= EXACT_UNITS):
            return log_partition(model)
        base = _base_rate_rows(self._visible_counts, self._n_seen)
        return ais(model, base, int(self.n_ais_chains), int(self.n_ais_temperatures),
                   rng=self._ais_seed)


def _base_rate_rows(counts, n_seen, n_rows=BASE_RATE_ROWS):
    """Binary rows whose unit frequencies are those of the data seen (to 1/``n_rows``).

    ``fastebm.ais`` builds the base-rate model of an RBM from data rows; the estimator
    keeps only the per-unit counts of its training data, so it passes these stand-in
    rows: row r has unit i on when r < round(fᵢ n), fᵢ the unit's frequency.
    """
    n = min(int(n_seen), n_rows)
    ones = np.rint(np.asarray(counts) / n_seen * n)
    return (np.arange(n)[:, None] < ones[None, :]).astype(np.float64)


class EnergyDensity(_LogLikelihood, DensityMixin, BaseEstimator):
    """A density estimator p(x) = exp(-E_θ(x)) / Z over a fastebm energy with parameters θ.

    Parameters
    ----------
    energy : fastebm.Energy or callable
        The starting model, with parameters θ (``theta``, ``with_theta``,
        ``grad_theta``): ``fe.Gaussian``, ``fe.GaussianMixture``, ``fe.energy(...,
        theta=...)``, ``fe.GaussianBernoulliRBM``. It is copied, never changed. Or a
        function of the training data X (n_samples, n_features) that returns the
        starting energy, for a model whose dimension follows the data (a
        module-level function pickles; a lambda does not).
    method : str, default="pcd"
        The ``fastebm.fit`` method: "cd", "pcd", "replay", "nce", "sm", "dsm", "ssm" or
        "geyer" for continuous energies ("cd" or "pcd" for a Gaussian-Bernoulli RBM).
    learning_rate : float, default=0.01
        The optimizer's step (unused by "geyer", which minimizes with SciPy).
    batch_size : int, default=100
        Rows per mini-batch (unused by "geyer").
    n_iter : int, default=100
        Passes over the training data (``fastebm.fit``'s ``n_epochs``; unused by "geyer").
    fit_options : dict or None, default=None
        Further options of ``fastebm.fit`` for the method (``optimizer``, ``k``,
        ``step_size``, ``sigma``, ``noise``, ...).
    log_z : {"auto", "exact", "ais"}, default="auto"
        How ``score_samples`` gets log Z: the energy's own exact value
        (``energy.log_partition()``), AIS, or the exact value where the energy has one
        and AIS otherwise.
    n_ais_chains : int, default=1000
        AIS chains.
    n_ais_temperatures : int or None, default=None
        AIS temperatures (sigmoid schedule); None: the adaptive schedule of
        ``fastebm.ais``.
    burn_in : int, default=1000
        MALA steps (at least 1) that each chain of ``sample`` takes, adapting its step
        size, before its one draw.
    verbose : int, default=0
        Show ``fastebm.fit``'s progress over the epochs (not for "geyer").
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds the fit, AIS and ``sample``. None: fresh entropy (NumPy's global random
        state is never used).

    Attributes
    ----------
    energy_ : fastebm.Energy
        The fitted energy (a new object).
    history_ : dict of str to ndarray
        ``fastebm.fit``'s per-epoch history (``FitResult.history``).
    log_z_, log_z_stderr_ : float
        log Z and its standard error (0.0 when exact), computed on first use.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined when X has feature names that are all strings.

    Notes
    -----
    ``score_samples`` is log p(x) = -E_θ(x) - log Z(θ). log Z is the energy's closed
    form where it has one (a Gaussian: d/2 log 2π - ½ log det P); otherwise AIS
    (Neal 2001) along π_β ∝ q^{1-β} exp(-βE) from the Gaussian q = N(m, 1.2 S) of the
    training data's mean m and covariance S, with tuned MALA moves: a stochastic lower
    bound, so the scores are then biased up by about (``log_z_stderr_``)² / 2.

    ``sample(n)`` runs n independent chains of MALA (Roberts & Tweedie 1996)
    preconditioned by S, started at N(m, 4 S) (overdispersed), each adapting its step
    size by dual averaging (Hoffman & Gelman 2014) during ``burn_in`` steps; each
    chain's state after burn-in is one draw. The draws are independent of each other,
    and exact as burn-in grows.

    References
    ----------
    Neal (2001), "Annealed importance sampling", Statistics and Computing 11, 125-139.
    Roberts & Tweedie (1996), "Exponential convergence of Langevin distributions and
    their discrete approximations", Bernoulli 2(4), 341-363.
    Hoffman & Gelman (2014), "The No-U-Turn sampler", JMLR 15, 1593-1623 (sec. 3.2,
    dual averaging).
    Tieleman (2008), "Training restricted Boltzmann machines using approximations to
    the likelihood gradient", ICML (PCD).

    Examples
    --------
    >>> import numpy as np
    >>> import fastebm as fe
    >>> from fastebm.sklearn import EnergyDensity
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> start = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    >>> density = EnergyDensity(start, method="sm", n_iter=20, random_state=0).fit(X)
    >>> density.score_samples(X[:3]).shape
    (3,)
    >>> density.sample(5, random_state=1).shape
    (5, 2)
    """

    def __init__(self, energy, method="pcd", *, learning_rate=0.01, batch_size=100,
                 n_iter=100, fit_options=None, log_z="auto", n_ais_chains=1000,
                 n_ais_temperatures=None, burn_in=1000, verbose=0, random_state=None):
        self.energy = energy
        self.method = method
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.fit_options = fit_options
        self.log_z = log_z
        self.n_ais_chains = n_ais_chains
        self.n_ais_temperatures = n_ais_temperatures
        self.burn_in = burn_in
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit θ to X by ``fastebm.fit(energy, X, method, ...)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least 2 rows.
        y : None
            Ignored.

        Returns
        -------
        self : EnergyDensity
        """
        options = self._fit_options()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        start = self._starting_energy(X)
        fit_seed, self._ais_seed, sample_seed = _seed_sequence(self.random_state).spawn(3)
        result = fit(start, X, self.method, **options, rng=fit_seed)
        self.energy_ = result.model
        self.history_ = result.history
        self._mean, self._covariance = _moments(X)
        self._sample_rng = np.random.default_rng(sample_seed)
        self._log_z = None
        return self

    def _fit_options(self):
        _check_choice(self.log_z, "log_z", LOG_Z_MODES)
        check_scalar(self.n_ais_chains, "n_ais_chains", numbers.Integral, min_val=2)
        if self.n_ais_temperatures is not None:
            check_scalar(self.n_ais_temperatures, "n_ais_temperatures", numbers.Integral,
                         min_val=2)
        check_scalar(self.burn_in, "burn_in", numbers.Integral, min_val=1)
        check_scalar(self.verbose, "verbose", numbers.Integral, min_val=0)
        extra = {} if self.fit_options is None else dict(self.fit_options)
        clash = sorted(set(extra) & set(OWN_FIT_OPTIONS))
        if clash:
            raise ValueError(f"fit_options must not set {clash}: use the estimator's "
                             "learning_rate, n_iter, batch_size, verbose and random_state")
        if self.method == "geyer":  # SciPy's optimizer: no epochs, batches or progress
            return extra
        return dict(learning_rate=self.learning_rate, n_epochs=self.n_iter,
                    batch_size=self.batch_size, progress=bool(self.verbose), **extra)

    def _starting_energy(self, X):
        """A copy of ``energy`` (or ``energy(X)``), checked against X."""
        if isinstance(self.energy, Energy):
            start = copy.deepcopy(self.energy)
        elif callable(self.energy):
            start = self.energy(X.copy())
            if not isinstance(start, Energy):
                raise TypeError(f"energy(X) must return a fastebm energy, got "
                                f"{type(start).__name__}")
        else:
            raise TypeError("energy must be a fastebm energy or a function of X that returns "
                            f"one, got {type(self.energy).__name__}")
        if getattr(start, "is_discrete", False):
            raise TypeError(f"EnergyDensity fits continuous energies; {type(start).__name__} is "
                            "discrete (use fastebm.sklearn.BernoulliRBM for binary data)")
        if start.dim is not None and start.dim != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} feature(s), but the energy has dimension "
                             f"{start.dim}")
        return start

    def score_samples(self, X):
        """The log density log p(x) = -E_θ(x) - log Z of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -self.energy_.energy(X) - self.log_partition().log_z

    def sample(self, n_samples=1, random_state=None):
        """Independent draws of the fitted model by MALA (see Notes of the class).

        Parameters
        ----------
        n_samples : int, default=1
            Draws, one per chain.
        random_state : None, int, RandomState, Generator or SeedSequence, default=None
            None: the next streams of the estimator's own (from ``random_state`` at fit).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        seeds = _seed_sequence(self._sample_rng if random_state is None else random_state)
        start_seed, chain_seed = seeds.spawn(2)
        x0 = GaussianProposal(self._mean, START_INFLATION * self._covariance).sample(
            n_samples, rng=start_seed)
        step = float(self.n_features_in_) ** (-1.0 / 3.0)
        result = mala(self.energy_, x0, step, 1, burn_in=int(self.burn_in), adapt=True,
                      precondition=self._covariance, rng=chain_seed)
        return result.draws[-1]

    def _estimate_log_z(self):
        if self.log_z != "ais":
            try:
                return log_partition(self.energy_)
            except ValueError:
                if self.log_z == "exact":
                    raise
        base = GaussianProposal(self._mean, REFERENCE_INFLATION * self._covariance)
        return ais(self.energy_, base, int(self.n_ais_chains), self.n_ais_temperatures,
                   rng=self._ais_seed)


def _moments(X):
    """(mean (d,), covariance (d, d)) of X, the covariance raised by 10⁻⁸ of its mean
    variance (and at least 10⁻¹²) on the diagonal so that it is positive definite."""
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    ridge = max(1e-8 * float(np.trace(cov)) / X.shape[1], 1e-12)
    return X.mean(axis=0), cov + ridge * np.eye(X.shape[1])
