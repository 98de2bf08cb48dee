"""Bias and variance of a gradient estimator against the exact gradient, over repeats."""
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, int_at_least
from ..results import Record


@dataclass(frozen=True, eq=False)
class GradientError(Record):
    """How far a gradient estimator is from the exact gradient, over R independent runs.

    Attributes
    ----------
    estimates : ndarray of shape (R, p)
    bias : ndarray of shape (p,)
        mean(estimates) − exact.
    bias_stderr : ndarray of shape (p,)
        sd(estimates) / √R: the Monte Carlo error of ``bias``.
    variance : ndarray of shape (p,)
        Variance of one estimate (ddof = 1).
    mse : ndarray of shape (p,)
        mean((estimates − exact)²) = bias² + variance (up to the ddof).
    """

    estimates: np.ndarray
    bias: np.ndarray
    bias_stderr: np.ndarray
    variance: np.ndarray
    mse: np.ndarray


def gradient_error(estimator, exact, n_rep, *, rng=None):
    """Run ``estimator(rng)`` ``n_rep`` times on independent streams and compare with
    ``exact``.

    Parameters
    ----------
    estimator : callable
        ``estimator(rng=...)`` returns a gradient (array of shape (p,)) or an object with
        a ``gradient`` attribute (e.g. a GradientEstimate); ``rng`` is a SeedSequence,
        passed by keyword as in ``fe.replicate`` (so that ``functools.partial`` of a
        fastebm function, whose ``rng`` is keyword-only, works as it is).
    exact : array_like of shape (p,)
        The exact gradient (e.g. ``fe.exact_mle_gradient``).
    n_rep : int
        Number of independent repeats R ≥ 2.
    rng : None, int or SeedSequence
        Parent seed; repeat r gets ``SeedSequence(rng).spawn(n_rep)[r]``.

    Returns
    -------
    GradientError
    """
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    exact = as_float_array(exact, "exact", ndim=1)
    n_rep = int_at_least(n_rep, "n_rep", 2)
    parent = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
    runs = [estimator(rng=child) for child in parent.spawn(n_rep)]
    estimates = np.array([np.asarray(getattr(r, "gradient", r), dtype=float) for r in runs])
    if estimates.shape != (n_rep, exact.size):
        raise ValueError(f"estimator must return gradients of shape {exact.shape}, got "
                         f"{estimates.shape[1:]}")
    deviation = estimates - exact
    return GradientError(estimates, deviation.mean(axis=0),
                         estimates.std(axis=0, ddof=1) / np.sqrt(n_rep),
                         estimates.var(axis=0, ddof=1), np.mean(deviation ** 2, axis=0))
