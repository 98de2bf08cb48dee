"""Geyer's importance-sampling likelihood and the sampled gradients of seed 002.

    J = fe.geyer_nll(energy, data, proposal, n_samples, *, rng=None)
    J(theta), J.grad(theta), J.value_and_grad(theta), J.gradient_estimate(theta)
    fe.fit_geyer(energy, data, proposal, n_samples, theta0=None, *, method="BFGS", rng=None)
    fe.independent_mh_gradient(energy, data, proposal, n_chains, n_steps, *, rng=None)
    fe.importance_resampling_gradient(energy, data, proposal, n_samples, *, rng=None)

The negative log-likelihood of data x₁..x_N under p(x|θ) = exp(-E(x|θ))/Z(θ) is
J(θ) = Σₙ E(xₙ|θ) + N log Z(θ) (seed 002, eq. 5). Geyer (1994) replaces Z(θ) by its
importance-sampling estimate from M draws of a proposal q (seed 002, eqs. 7-8),

    J_BL(θ) = Σₙ E(xₙ|θ) + N log( (1/M) Σₘ exp(-E(yₘ|θ)) / q(yₘ) ),   yₘ ~ q,

and minimizes it: with one artificial sample y drawn once, J_BL is a deterministic,
smooth function of θ (seed 002, eq. 9). Its gradient uses the self-normalized weights
w̄ₘ = wₘ / Σⱼ wⱼ (eqs. 12-13, 18):

    ∇J_BL(θ) = Σₙ ∇_θE(xₙ|θ) - N Σₘ w̄ₘ ∇_θE(yₘ|θ).

A proposal may depend on θ, q(y|θ) (seed 002, sec. 3.2): pass a callable θ → proposal.
Then every θ gets a fresh sample, drawn from the same Philox stream (common random
numbers), so J_BL is still a deterministic function of θ; ``J.grad`` is then eq. 12 at
that sample, an estimate of ∇J rather than the derivative of θ ↦ J_BL(θ) (the sample
moves with θ), so ``fit_geyer`` minimizes such a J_BL with finite-difference gradients.

Signs follow ``fastebm.training.gradients``: J and ``J.grad`` are of the total NLL (a sum
over the N data points, as seed 002 writes J); the ``GradientEstimate`` objects are of
the average NLL, ∇J/N, as ``fe.mle_gradient`` returns.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._rng import philox_key, seed_sequence
from .._validation import as_float_array, int_at_least
from ..backend import CPU
from ..energies.base import Energy
from ..proposals import Proposal
from ..resampling import _check_method, log_mean_exp
from ..results import Record
from ..samplers.importance import importance_resample
from ..samplers.metropolis import metropolis
from ..training.gradients import GradientEstimate, mle_gradient


def _self_normalized(log_weights):
    """w̄ₘ = wₘ / Σⱼ wⱼ from log weights (seed 002, eq. 13), computed stably."""
    w = np.exp(log_weights - np.max(log_weights))
    return w / w.sum()


def _check_energy(energy):
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    try:
        theta = energy.theta
    except (NotImplementedError, ValueError) as exc:
        raise ValueError(f"energy must have parameters theta: {exc}") from None
    return np.asarray(theta, dtype=np.float64)


def _check_proposal(proposal, dim, name="proposal"):
    if not isinstance(proposal, Proposal):
        raise TypeError(f"{name} must be a fastebm.proposals object, got "
                        f"{type(proposal).__name__}")
    if proposal.dim != dim:
        raise ValueError(f"{name} has dimension {proposal.dim}, the data {dim}")
    return proposal


class GeyerNLL:
    """J_BL(θ) of seed 002, eq. 8, for fixed data and a fixed artificial sample.

    Build it with :func:`geyer_nll`. Calling ``J(theta)`` gives J_BL(θ); ``J.grad(theta)``
    its gradient (eqs. 12-13); ``J.value_and_grad(theta)`` both from one evaluation.

    Attributes
    ----------
    data : ndarray of shape (N, d)
    n_samples : int
        M, the size of the artificial sample.
    samples : ndarray of shape (M, d), or None
        The sample yₘ ~ q of a fixed proposal (None when q depends on θ).
    log_q : ndarray of shape (M,), or None
        log q(yₘ) of that sample.
    """

    def __init__(self, energy, data, proposal, n_samples, key):
        self._theta0 = _check_energy(energy)
        self.energy = energy
        self.data = energy._points(data, "data")[0]
        self.dim = self.data.shape[1]
        self.n_samples = int_at_least(n_samples, "n_samples", 2)
        self._key = key
        self.samples = self.log_q = None
        if isinstance(proposal, Proposal):
            self.proposal = _check_proposal(proposal, self.dim)
            self.samples, self.log_q = self._draw(proposal)
        elif callable(proposal):
            self.proposal = proposal
        else:
            raise TypeError("proposal must be a fastebm.proposals object or a callable "
                            f"theta -> proposal, got {type(proposal).__name__}")

    @property
    def depends_on_theta(self):
        """True when the proposal is a callable θ → q(y|θ)."""
        return self.samples is None

    def _draw(self, proposal):
        return CPU.runners.proposal_draws(proposal, self.n_samples, self.dim, self._key)

    def _theta(self, theta):
        theta = as_float_array(theta, "theta", ndim=(0, 1)).reshape(-1)
        if theta.shape != self._theta0.shape:
            raise ValueError(f"theta must have shape {self._theta0.shape}, got {theta.shape}")
        return theta

    def _evaluate(self, theta):
        """(energy at θ, Σₙ E(xₙ|θ), sample y, log weights) at θ."""
        theta = self._theta(theta)
        energy = self.energy.with_theta(theta)
        if self.depends_on_theta:
            y, log_q = self._draw(_check_proposal(self.proposal(theta), self.dim,
                                                  "proposal(theta)"))
        else:
            y, log_q = self.samples, self.log_q
        e_data = energy.energy(self.data)
        e_y = energy.energy(y)
        if np.any(np.isnan(e_data)) or np.any(np.isnan(e_y)):
            raise ValueError(f"the energy is NaN at theta={theta}")
        if np.any(e_y == -np.inf):
            raise ValueError(f"the energy is -inf at some proposal draws at theta={theta}")
        log_weights = -e_y - log_q
        if np.all(log_weights == -np.inf):
            raise ValueError(f"every importance weight is zero at theta={theta}: the "
                             "proposal misses the model")
        return energy, float(np.sum(e_data)), y, log_weights

    def log_z(self, theta):
        """log Ẑ(θ) = log (1/M) Σₘ exp(-E(yₘ|θ))/q(yₘ) (seed 002, eq. 7)."""
        return float(log_mean_exp(self._evaluate(theta)[3]))

    def __call__(self, theta):
        """J_BL(θ) = Σₙ E(xₙ|θ) + N log Ẑ(θ) (seed 002, eq. 8)."""
        _, e_data, _, log_weights = self._evaluate(theta)
        return e_data + self.data.shape[0] * float(log_mean_exp(log_weights))

    def value_and_grad(self, theta):
        """(J_BL(θ), ∇J_BL(θ)) from one evaluation (``jac=True`` for scipy)."""
        energy, e_data, y, log_weights = self._evaluate(theta)
        n = self.data.shape[0]
        w_bar = _self_normalized(log_weights)
        grad = (energy.grad_theta(self.data).sum(axis=0)
                - n * (w_bar @ energy.grad_theta(y)))
        return e_data + n * float(log_mean_exp(log_weights)), grad

    def grad(self, theta):
        """∇J_BL(θ) = Σₙ ∇_θE(xₙ|θ) - N Σₘ w̄ₘ ∇_θE(yₘ|θ) (seed 002, eqs. 12-13, 18)."""
        return self.value_and_grad(theta)[1]

    def gradient_estimate(self, theta):
        """∇J/N, the average-NLL gradient as ``fe.mle_gradient`` gives it, with its error.

        The standard error combines the data phase's s²/N with the delta-method variance
        Σₘ w̄ₘ² (gₘ - ḡ)² of the self-normalized negative phase (ḡ = Σₘ w̄ₘ gₘ,
        gₘ = ∇_θE(yₘ|θ)), valid when the weights have finite variance.
        """
        energy, _, y, log_weights = self._evaluate(theta)
        g_data = energy.grad_theta(self.data)
        g_y = energy.grad_theta(y)
        w_bar = _self_normalized(log_weights)
        negative = w_bar @ g_y
        n = g_data.shape[0]
        var_data = g_data.var(axis=0, ddof=1) / n if n > 1 else np.full(g_data.shape[1], np.nan)
        var_negative = w_bar ** 2 @ (g_y - negative) ** 2
        return GradientEstimate(g_data.mean(axis=0) - negative, np.sqrt(var_data + var_negative))


def geyer_nll(energy, data, proposal, n_samples, *, rng=None):
    """Geyer's importance-sampling negative log-likelihood J_BL(θ) (seed 002, eq. 8).

    Parameters
    ----------
    energy : Energy
        A parametrized energy E(x|θ) (``theta``, ``with_theta``, ``grad_theta``).
    data : array_like of shape (N, d) or (d,)
        The observed points.
    proposal : fastebm.proposals.Proposal, or callable theta -> Proposal
        A fixed q (one sample of size M, drawn once and reused for every θ), or a
        θ-dependent q(y|θ) (a fresh sample per θ, from the same Philox stream).
    n_samples : int
        M ≥ 2, the size of the artificial sample.
    rng : None, int, SeedSequence or Generator
        The stream of the artificial sample(s); fixed once J is built.

    Returns
    -------
    GeyerNLL
        ``J(theta)`` → J_BL(θ), ``J.grad(theta)`` → ∇J_BL(θ) of shape (p,).

    Notes
    -----
    J_BL(θ) = Σₙ E(xₙ|θ) + N log((1/M) Σₘ exp(-E(yₘ|θ))/q(yₘ)) (seed 002, eqs. 7-8);
    ∇J_BL = Σₙ ∇_θE(xₙ|θ) - N Σₘ w̄ₘ ∇_θE(yₘ|θ), w̄ₘ ∝ exp(-E(yₘ|θ))/q(yₘ) (eqs. 12-13).
    J_BL → J as M → ∞; its variance is set by the proposal, finite only where q's tails
    are heavier than p(x|θ)'s (sec. 3.2): for seed 002's q₁ = N(2, 2²) and
    p = N(0, θ²) that is θ < 2√2.

    References
    ----------
    Geyer, C. J. (1994). On the convergence of Monte Carlo maximum likelihood
    calculations. JRSS B 56(1), 261-274. Seed 002, secs. 3-5.
    """
    return GeyerNLL(energy, data, proposal, n_samples, philox_key(rng))


@dataclass(frozen=True, eq=False)
class GeyerFit(Record):
    """The Monte Carlo MLE θ̂ = argmin J_BL(θ) (seed 002, eq. 9).

    Attributes
    ----------
    theta : ndarray of shape (p,)
    energy : Energy
        The energy at θ̂.
    nll : float
        J_BL(θ̂).
    success : bool
        Whether the optimizer reports convergence.
    optimize_result : scipy.optimize.OptimizeResult
    nll_function : GeyerNLL
        The J_BL that was minimized (its sample included).
    """

    theta: np.ndarray
    energy: Any
    nll: float
    success: bool
    optimize_result: Any
    nll_function: Any


_FINITE_DIFFERENCE_METHODS = ("bfgs", "cg", "l-bfgs-b", "tnc", "slsqp", "trust-constr")


def _outside_is_infinite(objective, with_grad):
    """The objective, +inf (and a NaN gradient) where θ leaves the parameter space (a
    precision that is not positive definite, ...): a line search then steps back
    instead of the fit failing."""
    def wrapped(theta):
        try:
            return objective(theta)
        except ValueError as exc:
            if "theta" in str(exc) and "shape" in str(exc):
                raise
            if with_grad:
                return np.inf, np.full(np.size(theta), np.nan)
            return np.inf
    return wrapped


def fit_geyer(energy, data, proposal, n_samples, theta0=None, *, method="BFGS", rng=None,
              options=None):
    """Minimize Geyer's J_BL(θ) with ``scipy.optimize.minimize``: the MC-MLE.

    Parameters
    ----------
    energy, data, proposal, n_samples, rng
        As in :func:`geyer_nll`.
    theta0 : array_like of shape (p,), optional
        The starting point (default ``energy.theta``).
    method : str, default "BFGS"
        Any method of ``scipy.optimize.minimize``. With a fixed proposal it gets the
        exact gradient of J_BL (eq. 12); with a θ-dependent one, central finite
        differences (``jac="3-point"``) where the method takes a gradient.
    options : dict, optional
        Passed to ``scipy.optimize.minimize``.

    Returns
    -------
    GeyerFit
    """
    from scipy.optimize import minimize
    J = geyer_nll(energy, data, proposal, n_samples, rng=rng)
    theta0 = J._theta0 if theta0 is None else J._theta(theta0)
    if not isinstance(method, str):
        raise TypeError(f"method must be a string naming a scipy.optimize method, got "
                        f"{type(method).__name__}")
    if J.depends_on_theta:
        jac = "3-point" if method.lower() in _FINITE_DIFFERENCE_METHODS else None
        result = minimize(_outside_is_infinite(J, False), theta0, method=method, jac=jac,
                          options=options)
    else:
        result = minimize(_outside_is_infinite(J.value_and_grad, True), theta0, jac=True,
                          method=method, options=options)
    theta = np.asarray(result.x, dtype=np.float64).reshape(-1)
    return GeyerFit(theta, energy.with_theta(theta), float(result.fun), bool(result.success),
                    result, J)


def independent_mh_gradient(energy, data, proposal, n_chains, n_steps, *, rng=None):
    """The average-NLL gradient with negatives from independent-proposal Metropolis-Hastings.

    ``n_chains`` independent chains start at draws of q and take ``n_steps`` steps of
    ``fe.metropolis(energy, x0, n_steps, proposal=q)`` (seed 002, sec. 6, "MH algorithm");
    their final states are the negatives of :func:`fastebm.mle_gradient`.

    Parameters
    ----------
    energy : Energy
        At the θ where the gradient is wanted.
    data : array_like of shape (N, d)
    proposal : fastebm.proposals.Proposal
    n_chains, n_steps : int
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    GradientEstimate
        mean ∇_θE(data) - mean ∇_θE(final states); the standard error treats the chains
        as independent (they are) but not the bias of finitely many steps.
    """
    _check_energy(energy)
    pts = energy._points(data, "data")[0]
    _check_proposal(proposal, pts.shape[1])
    n_chains = int_at_least(n_chains, "n_chains", 2)
    n_steps = int_at_least(n_steps, "n_steps", 1)
    start_stream, chain_stream = seed_sequence(rng).spawn(2)
    x0 = proposal.sample(n_chains, rng=start_stream)
    run = metropolis(energy, x0, n_steps, proposal=proposal, keep="moments", rng=chain_stream)
    return mle_gradient(energy, pts, run.state.position)


def importance_resampling_gradient(energy, data, proposal, n_samples, *, n_out=None,
                                   method="systematic", rng=None):
    """The average-NLL gradient with negatives from IS plus resampling (seed 002, sec. 6).

    Draws ``n_samples`` points of q, weights them by exp(-E)/q (eq. 19), resamples
    ``n_out`` (default ``n_samples``) of them by ``method`` (eq. 20 and step 4) and uses
    those as the negatives of :func:`fastebm.mle_gradient`.

    Returns
    -------
    GradientEstimate
        The gradient of ``mle_gradient`` on the resampled points. Its standard error is
        √(s²_data/N + Σₘ w̄ₘ²(gₘ - ḡ)² + s²_res/n_out): the self-normalized estimate's
        delta-method variance plus a bound on what resampling adds (resampled points
        repeat, so they are not independent and ``mle_gradient``'s error would be too
        small).
    """
    _check_energy(energy)
    pts = energy._points(data, "data")[0]
    _check_proposal(proposal, pts.shape[1])
    _check_method(method)
    result = importance_resample(energy, proposal, n_samples, n_out=n_out, method=method,
                                 rng=rng)
    estimate = mle_gradient(energy, pts, result.resampled)
    g_data = energy.grad_theta(pts)
    g_y = energy.grad_theta(result.draws)
    w_bar = _self_normalized(result.log_weights)
    g_res = energy.grad_theta(result.resampled)
    n, m = g_data.shape[0], g_res.shape[0]
    var = (g_data.var(axis=0, ddof=1) / n if n > 1 else np.full(g_data.shape[1], np.nan))
    var = var + w_bar ** 2 @ (g_y - w_bar @ g_y) ** 2
    var = var + (g_res.var(axis=0, ddof=1) / m if m > 1 else 0.0)
    return GradientEstimate(estimate.gradient, np.sqrt(var))
