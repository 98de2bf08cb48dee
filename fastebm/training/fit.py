"""``fe.fit``: fit an energy-based model to data, with a per-epoch history."""
import time

import numpy as np

from .._rng import philox_key
from .._validation import choice, int_at_least
from ..backend import CPU
from ..energies.rbm import BernoulliRBM, GaussianBernoulliRBM, binary_points
from ..progress import Bar
from . import defaults
from .fit_energy import fit_energy
from .fit_result import FitResult, check_float, end_of_epoch
from .rbm_training import RBMTrainer

RBM_METHODS = ("cd", "pcd")
MONITORS = ("reconstruction", "pseudo_likelihood")
MONITOR_ROWS = 128


def fit(model, data, method="pcd", **options):
    """Fit an energy-based model to data; returns a ``FitResult`` (model, history).

    RBMs (``BernoulliRBM``, ``GaussianBernoulliRBM``): ``method`` "cd" or "pcd" with
    block Gibbs negatives — see :func:`fit_rbm` for the options. Continuous energies
    with parameters θ (Gaussians, mixtures, user energies with ``grad_theta``):
    ``method`` "cd", "pcd", "replay", "nce", "sm", "dsm", "ssm" with an SGD or Adam
    optimizer — see :func:`fastebm.training.fit_energy.fit_energy` — or "geyer",
    Geyer's importance-sampling likelihood minimised by SciPy (options ``proposal``,
    ``n_samples``, ``optimizer``, ``rng``; see :func:`fastebm.fit_geyer`).
    """
    if isinstance(model, (BernoulliRBM, GaussianBernoulliRBM)):
        return fit_rbm(model, data, method, **options)
    if method == "geyer":
        return _fit_geyer(model, data, **options)
    return fit_energy(model, data, method, **options)


def _fit_geyer(model, data, *, proposal=None, n_samples=None, optimizer="BFGS", rng=None):
    """``method="geyer"``: minimise Geyer's J_BL(θ) with SciPy (``fe.fit_geyer``); the
    history holds the optimizer's J_BL value, its iterations and success flag. Without
    ``proposal``: the Gaussian of the data's moments, 10 % wider; without ``n_samples``:
    10⁴ (``training.defaults``)."""
    from ..estimators.geyer import fit_geyer
    if proposal is None:
        pts, _, _ = model._points(data, "data")
        proposal = defaults.matched_gaussian(pts, defaults.GEYER_INFLATION)
    if n_samples is None:
        n_samples = defaults.GEYER_SAMPLES
    tic = time.perf_counter()
    result = fit_geyer(model, data, proposal, n_samples, model.theta, method=optimizer, rng=rng)
    history = {"nll": np.array([result.nll]), "iteration": np.array([result.optimize_result.nit]),
               "seconds": np.array([time.perf_counter() - tic]),
               "success": np.array([result.success]), "theta": result.theta[None]}
    return FitResult(result.energy, history)


def fit_rbm(model, data, method="pcd", *, k=1, learning_rate=0.05, n_epochs=10, batch_size=100,
            momentum=0.0, weight_decay=0.0, n_chains=None, monitor=("reconstruction",),
            monitor_rows=MONITOR_ROWS, ais_every=None, ais_options=None, callback=None,
            progress=False, rng=None):
    """Fit an RBM to data by contrastive divergence (CD-k) or persistent CD (PCD).

    Parameters
    ----------
    model : BernoulliRBM or GaussianBernoulliRBM
        The starting model (left unchanged; the fitted one is returned).
    data : array_like of shape (N, V)
        Binary for a Bernoulli RBM, real for a Gaussian-Bernoulli RBM.
    method : {"cd", "pcd"}
        Negatives by k Gibbs sweeps from the mini-batch (CD-k, Hinton 2002) or from
        persistent chains carried across updates (PCD, Tieleman 2008).
    k : int
        Gibbs sweeps per update.
    learning_rate, momentum, weight_decay : float
        SGD step, momentum μ ∈ [0, 1), L2 penalty λ on W (see ``rbm_training``).
    n_epochs, batch_size : int
    n_chains : int, optional
        PCD's persistent chains (default: ``batch_size``), started at random data rows.
    monitor : sequence of {"reconstruction", "pseudo_likelihood"}
        Per-epoch statistics on the training data (``()`` for none).
    monitor_rows : int or None, default 128
        The monitors use a fixed subsample of this many data rows (drawn once from
        ``rng``'s streams; None: every row), so that they cost a small part of an epoch
        (on digits, the reconstruction error of all 1797 rows cost more than the epoch).
    ais_every : int, optional
        Every ``ais_every`` epochs (and after the last), estimate the average
        log-likelihood of ``data`` with AIS (Bernoulli RBM; ``ais_options`` are passed to
        ``fe.ais``, default 100 chains × 1000 temperatures, the data as base rates).
    callback : callable, optional
        ``callback(epoch, model, history)`` after each epoch; returning True stops.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the epochs with the last monitored
        statistics; ``FASTEBM_PROGRESS=0`` turns every bar off.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    FitResult
        ``model`` (fitted) and ``history``.
    """
    choice(method, "method", RBM_METHODS)
    if model.beta != 1.0:
        raise ValueError(f"fit trains the RBM itself, not a tempered one (beta={model.beta}); "
                         "fit the untempered model and temper the result")
    if model.is_discrete:
        data, _ = binary_points(data, model.n_visible, "data")
    else:
        data, _, _ = model._points(data, "data")
    k = int_at_least(k, "k", 1)
    n_epochs = int_at_least(n_epochs, "n_epochs", 0)
    batch_size = int_at_least(batch_size, "batch_size", 1)
    n_chains = batch_size if n_chains is None else int_at_least(n_chains, "n_chains", 1)
    learning_rate = check_float(learning_rate, "learning_rate", 0.0, low_open=True)
    momentum = check_float(momentum, "momentum", 0.0, 1.0)
    weight_decay = check_float(weight_decay, "weight_decay", 0.0)
    for name in monitor:
        choice(name, "monitor", MONITORS)
    if "pseudo_likelihood" in monitor and not model.is_discrete:
        raise ValueError("the pseudo-likelihood monitor needs binary visibles (BernoulliRBM)")
    if ais_every is not None:
        ais_every = int_at_least(ais_every, "ais_every", 1)
        if not model.is_discrete:
            raise ValueError("ais_every needs a BernoulliRBM (AIS for Gaussian visibles is not "
                             "implemented)")
    key = philox_key(rng)
    monitored = _monitor_subsample(data, monitor_rows, key)
    trainer = RBMTrainer(model, data, method=method, k=k, batch_size=batch_size,
                         n_chains=n_chains, key=key)
    history = {name: [] for name in ("epoch", "seconds", *monitor)}
    if ais_every is not None:
        history.update(ais_epoch=[], ais_log_likelihood=[], ais_stderr=[])
    elapsed = 0.0
    with Bar(progress, n_epochs, "fit", unit="epoch") as bar:
        for epoch in range(1, n_epochs + 1):
            tic = time.perf_counter()
            trainer.epoch(epoch, learning_rate, momentum, weight_decay)
            elapsed += time.perf_counter() - tic
            current = trainer.current()
            history["epoch"].append(epoch)
            history["seconds"].append(elapsed)
            with CPU.runners.single_blas_thread():  # small products: BLAS threads would spin
                if "reconstruction" in monitor:
                    history["reconstruction"].append(_reconstruction(current, monitored))
                if "pseudo_likelihood" in monitor:
                    history["pseudo_likelihood"].append(
                        float(np.mean(current.pseudo_log_likelihood(monitored))))
            if ais_every is not None and (epoch % ais_every == 0 or epoch == n_epochs):
                _ais_monitor(current, data, history, epoch, ais_options, key)
            if end_of_epoch(epoch, current, history, bar, callback):
                break
    return FitResult(trainer.current(), {n: np.asarray(v) for n, v in history.items()})


def _monitor_subsample(data, rows, key):
    """The rows the monitors use: ``rows`` of them, drawn without replacement from a
    generator seeded by the fit's key (every row when ``rows`` is None or ≥ N)."""
    if rows is None:
        return data
    rows = int_at_least(rows, "monitor_rows", 1)
    if rows >= data.shape[0]:
        return data
    pick = np.random.default_rng([int(key[0]), int(key[1]), 0x6D6F6E]).choice(
        data.shape[0], rows, replace=False)
    return data[np.sort(pick)]


def _reconstruction(model, data):
    if model.is_discrete:
        return model.reconstruction_error(data)
    mean_field = model.b + model.sigma * (model.hidden_probabilities(data) @ model.W.T)
    return float(np.mean((data - mean_field) ** 2))


def _ais_monitor(model, data, history, epoch, options, key):
    from ..estimators.ais_discrete import ais_discrete
    options = dict({"n_chains": 100, "n_temperatures": 1000, "schedule": "linear"}, **(options or {}))
    options.setdefault("rng", np.random.SeedSequence([int(key[0]), int(key[1]), epoch]))
    estimate = ais_discrete(model, data, **options)
    history["ais_epoch"].append(epoch)
    history["ais_log_likelihood"].append(model.log_likelihood(data, estimate))
    history["ais_stderr"].append(estimate.stderr)
