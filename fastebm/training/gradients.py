"""The maximum-likelihood gradient of an energy-based model, from data and negatives.

Sign convention (stated once for all of fastebm's training code): gradients are of the
average negative log-likelihood L(θ) = mean E_θ(x_data) + log Z(θ), so descent is
θ ← θ - lr · gradient. With ∇_θ log Z(θ) = -E_{p_θ}[∇_θ E_θ(x)] (seed 000),

    ∇_θ L = E_data[∇_θ E_θ(x)] - E_{p_θ}[∇_θ E_θ(x')]

(seed 001, eq. for ∇_θ L; "pull down the data's energy, push up the model's"): the
positive phase averages over the data, the negative phase over draws from the model.
"""
from dataclasses import dataclass

import numpy as np

from ..energies.base import Energy
from ..results import Record


@dataclass(frozen=True, eq=False)
class GradientEstimate(Record):
    """A gradient estimate with its Monte Carlo standard error.

    Attributes
    ----------
    gradient : ndarray of shape (p,)
    stderr : ndarray of shape (p,)
        Standard error of each coordinate, from the spread of the per-point gradients
        (NaN when a phase has a single point).
    """

    gradient: np.ndarray
    stderr: np.ndarray


def _per_point(energy, x, name):
    pts, _, _ = energy._points(x, name)
    return energy.grad_theta(pts)


def _mean_and_variance_of_mean(g):
    n = g.shape[0]
    var = g.var(axis=0, ddof=1) / n if n > 1 else np.full(g.shape[1], np.nan)
    return g.mean(axis=0), var


def mle_gradient(energy, data, negatives):
    """Gradient of the average negative log-likelihood from data and model draws.

    Parameters
    ----------
    energy : Energy
        An energy with parameters θ and ∇_θE (``energy.grad_theta``).
    data : array_like of shape (n, d) or (d,)
        The positive phase: observed points.
    negatives : array_like of shape (m, d) or (d,)
        The negative phase: draws from the model p_θ (exact draws, final states of
        independent chains, or CD/PCD chains, whose bias is theirs, not this function's).

    Returns
    -------
    GradientEstimate
        ``gradient`` = mean ∇_θE(data) - mean ∇_θE(negatives), shape (p,), and its
        standard error √(s²_data/n + s²_neg/m), which treats the points of each phase as
        independent (true for data and for final states of independent chains).

    Notes
    -----
    ∇_θ L(θ) = E_data[∇_θE_θ(x)] - E_{p_θ}[∇_θE_θ(x')] (seed 001; seed 000 derives it
    from ∇_θ log Z = -E_{p_θ}[∇_θE]). Descend with θ ← θ - lr · gradient.

    Examples
    --------
    Seed 001's CD-1 example: E = θx², one data point x = 1 and one negative x' = 0.9
    (a noiseless Langevin step) give the gradient 1 - 0.81 = 0.19.
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    positive, var_positive = _mean_and_variance_of_mean(_per_point(energy, data, "data"))
    negative, var_negative = _mean_and_variance_of_mean(
        _per_point(energy, negatives, "negatives"))
    return GradientEstimate(positive - negative, np.sqrt(var_positive + var_negative))


def exact_mle_gradient(energy, data):
    """The exact gradient of the average negative log-likelihood, where the model
    expectation E_{p_θ}[∇_θE] has a closed form (``energy.expected_grad_theta()``:
    Gaussians). The baseline against which a sampled gradient's bias and variance are
    measured.

    Parameters
    ----------
    energy : Energy
        An energy with a closed-form model expectation of ∇_θE.
    data : array_like of shape (n, d) or (d,)

    Returns
    -------
    ndarray of shape (p,)
        mean ∇_θE(data) - E_{p_θ}[∇_θE].
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    expected = energy.expected_grad_theta()
    return _per_point(energy, data, "data").mean(axis=0) - expected
