"""Fitting continuous energies E_θ by stochastic gradient methods (issue 5, item 6).

Each mini-batch gives a gradient g of the method's objective in θ (the sign convention
of ``fastebm.training.gradients``: descend):

- "cd", "pcd", "replay": the likelihood gradient mean ∇_θE(batch) - mean ∇_θE(negatives)
  with CD-k, persistent or replay-buffer negatives (``training.negatives``);
- "nce": the NCE loss of ``fe.nce_loss`` in (θ, c), noise from ``noise`` with ratio ν;
- "sm", "dsm", "ssm": exact, denoising and sliced score matching.

Optimizers (Kingma & Ba 2015 for Adam): "sgd", θ ← θ + v with v ← μv - lr·g, and
"adam", m ← β₁m + (1-β₁)g, s ← β₂s + (1-β₂)g², θ ← θ - lr m̂/(√ŝ + 1e-8) with
bias-corrected m̂, ŝ (β₁ = 0.9, β₂ = 0.999).
"""
import contextlib
import time

import numpy as np

from .._rng import seed_sequence
from .._validation import choice, int_at_least
from ..backend import CPU
from ..energies.base import Energy
from ..proposals import Proposal
from ..progress import Bar
from . import defaults
from .fit_result import FitResult, check_float, end_of_epoch
from .negatives import PersistentChains, ReplayBuffer, cd_negatives

METHODS = ("cd", "pcd", "replay", "nce", "sm", "dsm", "ssm")
OPTIMIZERS = ("adam", "sgd")
SERIAL_BATCH = 1 << 15


class _Optimizer:
    def __init__(self, kind, size, learning_rate, momentum):
        self.kind, self.lr, self.momentum = kind, learning_rate, momentum
        self.m, self.s, self.t = np.zeros(size), np.zeros(size), 0

    def step(self, theta, grad):
        if self.kind == "sgd":
            self.m = self.momentum * self.m - self.lr * grad
            return theta + self.m
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.s = 0.999 * self.s + 0.001 * grad * grad
        m_hat, s_hat = self.m / (1 - 0.9 ** self.t), self.s / (1 - 0.999 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(s_hat) + 1e-8)


def _likelihood_gradient(energy, batch, negatives):
    """mean ∇θE(batch) - mean ∇θE(negatives): ``fe.mle_gradient`` without its standard
    error and its argument checks (both arrays come validated from the fit loop)."""
    return energy._grad_theta(batch).mean(axis=0) - energy._grad_theta(negatives).mean(axis=0)


class _Objective:
    """The per-batch gradient of one method; ``params`` may extend θ (NCE's c)."""

    def __init__(self, method, energy, data, options, seeds):
        self.method, self.options, self.seeds = method, options, seeds
        self.theta_size = energy.theta.size
        self.log_normalizer = 0.0
        if method in ("nce", "replay") and options.get("noise") is None:
            options["noise"] = defaults.matched_gaussian(data)
        noise = options.get("noise")
        if method in ("nce", "replay") and not isinstance(noise, Proposal):
            raise TypeError(f'method="{method}" needs noise=, a fastebm.proposals object')
        if method in ("cd", "pcd", "replay") and options.get("step_size") is None:
            options["step_size"] = defaults.langevin_step(data)
            options["sampler"] = options["sampler"] or "mala"
        options["sampler"] = options["sampler"] or "langevin"
        if method == "pcd":
            n_chains = options.get("n_chains") or options["batch_size"]
            rows = np.random.default_rng(seeds.spawn(1)[0]).integers(0, len(data), n_chains)
            self.chains = PersistentChains(data[rows], options["step_size"],
                                           sampler=options["sampler"], rng=seeds.spawn(1)[0])
        if method == "replay":
            self.buffer = ReplayBuffer(noise, options["buffer_size"], restart=options["restart"],
                                       rng=seeds.spawn(1)[0])
        if method == "dsm" and options.get("sigma") is None:
            options["sigma"] = defaults.dsm_sigma(data)

    def initial(self, theta):
        return np.append(theta, self.log_normalizer) if self.method == "nce" else theta

    def energy_of(self, energy, params):
        if self.method == "nce":
            self.log_normalizer = float(params[-1])
            params = params[:-1]
        return energy.with_theta(params)

    def gradient(self, energy, batch):
        """(loss or NaN, gradient in the parameters) on one batch."""
        o, child = self.options, self.seeds.spawn(1)[0]
        if self.method == "cd":
            neg = cd_negatives(energy, batch, o["k"], o["step_size"], sampler=o["sampler"],
                               rng=child)
            return np.nan, _likelihood_gradient(energy, batch, neg)
        if self.method == "pcd":
            neg = self.chains.advance(energy, o["k"])
            return np.nan, _likelihood_gradient(energy, batch, neg)
        if self.method == "replay":
            neg = self.buffer.negatives(energy, len(batch), o["k"], o["step_size"],
                                        sampler=o["sampler"], rng=child)
            return np.nan, _likelihood_gradient(energy, batch, neg)
        if self.method == "nce":
            from .nce import nce_loss
            noise = o["noise"].sample(int(np.ceil(o["nu"] * len(batch))), rng=child)
            res = nce_loss(energy, batch, o["noise"], noise, log_normalizer=self.log_normalizer)
            return res.loss, np.append(res.grad_theta, res.grad_log_normalizer)
        if self.method == "sm":
            from .score_matching import score_matching_loss
            return score_matching_loss(energy, batch, rng=child)
        if self.method == "dsm":
            from .dsm import dsm_loss
            return dsm_loss(energy, batch, o["sigma"], rng=child)
        from .ssm import ssm_loss
        return ssm_loss(energy, batch, n_projections=o["n_projections"], rng=child)


def fit_energy(energy, data, method="pcd", *, learning_rate=0.01, n_epochs=100, batch_size=100,
               optimizer="adam", momentum=0.0, k=1, step_size=None, sampler=None,
               n_chains=None, noise=None, nu=1.0, buffer_size=10_000, restart=0.05, sigma=None,
               n_projections=1, average="tail", callback=None, progress=False, rng=None):
    """Fit a continuous energy's parameters θ to data by a stochastic gradient method.

    Parameters
    ----------
    energy : Energy
        The starting model, with θ (``theta``, ``with_theta``, ``grad_theta``).
    data : array_like of shape (N, d)
    method : {"cd", "pcd", "replay", "nce", "sm", "dsm", "ssm"}
    learning_rate, n_epochs, batch_size : the optimizer's step, passes over the data,
        mini-batch size.
    optimizer : {"adam", "sgd"}; ``momentum`` μ for SGD.
    k, step_size, sampler : negatives of "cd"/"pcd"/"replay": k steps of "langevin"
        (ULA) or "mala" with step size h. Without ``step_size``: MALA with
        h = λ d^(-1/3), λ the smallest variance of the data's covariance (``sampler``
        defaults to "mala" then, to "langevin" with a given step).
    n_chains : PCD's persistent chains (default ``batch_size``), started at data rows.
    noise, nu : "nce": the noise proposal and noise draws per data point; "replay": the
        proposal restarted chains start from. Default noise: the Gaussian matched to the
        data's mean and covariance.
    buffer_size, restart : "replay": the buffer's capacity and noise fraction (0.05).
    sigma : "dsm": the noise scale σ (default 0.1 √λ, λ as for ``step_size``: the fitted
        covariance is then at most 1 % too wide).  n_projections : "ssm": projections
        per point.
    average : {"tail", None}, default "tail"
        "tail": the fitted model's parameters are the mean of the iterates of the second
        half of the epochs (Polyak & Juditsky 1992; Ruppert 1988), which removes most of
        the noise that a constant learning rate leaves in the last iterate (on a 2-d
        Gaussian, CD-1's covariance error went from 16 % to 2 %); where that mean is
        outside the parameter space, the last iterate. None: the last iterate.
    callback : ``callback(epoch, energy, history)`` after each epoch; True stops.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the epochs with the epoch's loss and
        gradient norm; ``FASTEBM_PROGRESS=0`` turns every bar off.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    FitResult
        ``model`` (the fitted energy), ``history``: per epoch "epoch", "iteration",
        "seconds", "loss" (mean over the epoch's batches; NaN for the likelihood
        methods, which have no tractable loss), "grad_norm", "theta" (epochs, p), and
        "log_normalizer" (NCE's c, an estimate of log Z).
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    if getattr(energy, "is_discrete", False):
        raise TypeError(f"{type(energy).__name__} is discrete: fe.fit fits discrete models only "
                        "as RBMs (BernoulliRBM with 'cd' or 'pcd'); fitting an Ising model's "
                        "couplings is not implemented")
    choice(method, "method", METHODS)
    choice(optimizer, "optimizer", OPTIMIZERS)
    choice(average, "average", ("tail", None))
    choice(sampler, "sampler", ("langevin", "mala", None))
    data, _, _ = energy._points(data, "data")
    theta = energy.theta
    options = dict(k=int_at_least(k, "k", 1), step_size=step_size, sampler=sampler,
                   n_chains=None if n_chains is None else int_at_least(n_chains, "n_chains", 1),
                   noise=noise, nu=check_float(nu, "nu", 0.0, low_open=True),
                   buffer_size=buffer_size, restart=restart, sigma=sigma,
                   n_projections=int_at_least(n_projections, "n_projections", 1),
                   batch_size=int_at_least(batch_size, "batch_size", 1))
    n_epochs = int_at_least(n_epochs, "n_epochs", 0)
    learning_rate = check_float(learning_rate, "learning_rate", 0.0, low_open=True)
    momentum = check_float(momentum, "momentum", 0.0, 1.0)
    seeds = seed_sequence(rng)
    objective = _Objective(method, energy, data, options, seeds)
    params = objective.initial(theta)
    opt = _Optimizer(optimizer, params.size, learning_rate, momentum)
    order_rng = np.random.default_rng(seeds.spawn(1)[0])
    with _threads_for(options["batch_size"], data.shape[1]):
        return _train(energy, data, method, objective, params, opt, order_rng, options,
                      n_epochs, callback, progress, average)


@contextlib.contextmanager
def _threads_for(batch_size, dim):
    """One Numba thread for small mini-batches: each update calls a few short kernels,
    and a parallel region costs more than it saves below ``SERIAL_BATCH`` numbers (on
    a loaded machine, waking the second thread can take milliseconds)."""
    with CPU.limit_threads(1 if batch_size * dim < SERIAL_BATCH else None):
        yield


MAX_HALVINGS = 30


def _step_inside(objective, energy, old, new, iteration):
    """(params, energy) after the optimizer's step from ``old`` to ``new``, halved until
    the parameters stay in the model's space (a positive definite precision, say): the
    direction of the step is kept and only its length shrinks, so a fit never stops on
    an overshooting step (the optimizer's state is left as it is)."""
    for _ in range(MAX_HALVINGS):
        try:
            return new, objective.energy_of(energy, new)
        except ValueError as exc:
            error = exc
            new = old + 0.5 * (new - old)
    raise ValueError(f"iteration {iteration} left the parameter space ({error}) even with its "
                     f"step halved {MAX_HALVINGS} times; lower learning_rate") from None


def _train(energy, data, method, objective, params, opt, order_rng, options, n_epochs, callback,
           progress, average):
    history = {name: [] for name in ("epoch", "iteration", "seconds", "loss", "grad_norm",
                                     "theta", "log_normalizer")}
    iteration, elapsed, current = 0, 0.0, energy
    mean_params, n_averaged = np.zeros_like(params), 0
    with Bar(progress, n_epochs, f"fit ({method})", unit="epoch") as bar:
        for epoch in range(1, n_epochs + 1):
            tic = time.perf_counter()
            losses, norms = [], []
            order = order_rng.permutation(len(data))
            for start in range(0, len(data), options["batch_size"]):
                loss, grad = objective.gradient(current, data[order[start:start + options["batch_size"]]])
                if not np.all(np.isfinite(grad)):
                    raise FloatingPointError(f"the {method} gradient is not finite at iteration "
                                             f"{iteration}: lower learning_rate (or step_size)")
                params, current = _step_inside(objective, energy, params, opt.step(params, grad),
                                               iteration)
                if average == "tail" and 2 * epoch > n_epochs:
                    n_averaged += 1
                    mean_params += (params - mean_params) / n_averaged
                losses.append(loss)
                norms.append(float(np.linalg.norm(grad)))
                iteration += 1
            elapsed += time.perf_counter() - tic
            for name, value in (("epoch", epoch), ("iteration", iteration), ("seconds", elapsed),
                                ("loss", float(np.mean(losses))), ("grad_norm", float(np.mean(norms))),
                                ("theta", current.theta), ("log_normalizer", objective.log_normalizer)):
                history[name].append(value)
            if end_of_epoch(epoch, current, history, bar, callback):
                break
    if n_averaged:
        try:
            current = objective.energy_of(energy, mean_params)
        except ValueError:  # the mean left the parameter space: keep the last iterate
            current = objective.energy_of(energy, params)
    return FitResult(current, {n: np.asarray(v) for n, v in history.items()})
