"""Score matching (Hyvärinen 2005): fit an energy without its normalizer.

    J(θ) = E_data[ ½‖∇ₓE_θ(x)‖² − Δₓ E_θ(x) ]          (seed 004, eq. 12)

equals the Fisher divergence ½E‖∇ log p_data − ∇ log p_θ‖² up to a constant, so its
minimiser is consistent, and no sampling from the model is needed. The Laplacian ΔE is
hand-derived per energy (``E.score_matching(x)``); for a Gaussian, ∇E = βP(x−μ) and
ΔE = β tr P, and the minimiser is the sample mean and the inverse sample covariance.
"""
import numpy as np

from ..energies.base import Energy


def score_matching_loss(energy, data):
    """J(θ) and ∇_θJ on ``data`` (shape (n, d)): seed 004's eq. 12, exact.

    Parameters
    ----------
    energy : Energy
        An energy with a hand-derived Laplacian and its θ-gradient
        (``energy.score_matching``; Gaussians).
    data : array_like of shape (n, d)

    Returns
    -------
    loss : float
    grad : ndarray of shape (p,)
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    pts, _, _ = energy._points(data, "data")
    return energy.score_matching(pts)
