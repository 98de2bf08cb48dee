"""Denoising score matching (Vincent 2011): score matching without second derivatives.

Perturb each data point, x̃ = x + σε with ε ~ N(0, I); the perturbation kernel
q(x̃|x) = N(x, σ²I) has the known score (x − x̃)/σ², and

    J(θ) = E_{x, ε}[ ½‖∇ₓE_θ(x̃) − (x̃ − x)/σ²‖² ]

equals the Fisher divergence between the model and the σ-smoothed data
q_σ = p_data ∗ N(0, σ²I) up to a constant (seed 004, sec. 3.2; seed 003, "DSM"). Its
minimiser therefore fits q_σ, not p_data: for Gaussian data N(μ, Σ) and a Gaussian model
it is (μ, (Σ + σ²I)⁻¹), an O(σ²) bias; small σ shrinks the bias and inflates the
variance (the target (x̃ − x)/σ² = ε/σ has variance 1/σ² per coordinate).

With the residual ρ = ∇ₓE(x̃) − ε/σ held fixed, ∇_θJ = E[∇_θ(ρᵀ∇ₓE_θ(x̃))]: the mixed
derivative ``grad_theta_directional`` (hand-derived for Gaussians and mixtures, central
finite differences of ∇_θE along ρ otherwise; see ``score_matching``).
"""
import numpy as np

from .._contract import TAG_DSM
from .._rng import philox_key
from .._validation import int_at_least, positive_float
from .score_matching import checked_points, derivative, normals, per_point_mean


def dsm_loss(energy, data, sigma, *, n_noise=1, rng=None):
    """The denoising score-matching loss and its θ-gradient (Vincent 2011).

    Parameters
    ----------
    energy : Energy
        A continuous energy with parameters θ (and ∇_θE).
    data : array_like of shape (n, d)
    sigma : float
        The noise level σ > 0.
    n_noise : int, default 1
        Perturbations per data point.
    rng : None, int, SeedSequence or Generator
        Seeds ε: perturbation j of point i is the Philox stream (i, j); the same ``rng``
        gives the same ε, so the loss is then a deterministic function of θ.

    Returns
    -------
    loss : float
    grad : ndarray of shape (p,)

    Notes
    -----
    J = mean_{i,j} ½‖∇ₓE(x̃ᵢⱼ) − εᵢⱼ/σ‖², x̃ᵢⱼ = xᵢ + σεᵢⱼ (since (x̃ − x)/σ² = ε/σ);
    ∇_θJ = mean_{i,j} ∇_θ(ρᵢⱼᵀ∇ₓE(x̃ᵢⱼ)) with ρᵢⱼ = ∇ₓE(x̃ᵢⱼ) − εᵢⱼ/σ fixed. Cost per
    perturbation: one ∇ₓE and one mixed derivative, no Hessian. Biased by O(σ²) (module
    docstring).

    References
    ----------
    Vincent (2011), "A connection between score matching and denoising autoencoders",
    Neural Computation 23(7). Seed 004, sec. 3.2; seed 003, "Denoising Score Matching".

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> E = fe.Gaussian([0.0, 0.0], precision=[1.0, 1.0])
    >>> loss, grad = fe.dsm_loss(E, x, 0.1, n_noise=4, rng=1)
    """
    pts = checked_points(energy, data)
    sigma = positive_float(sigma, "sigma")
    n_noise = int_at_least(n_noise, "n_noise", 1)
    loss, grad = dsm_terms(energy, pts, sigma, n_noise, philox_key(rng))
    return float(loss.mean()), grad


def dsm_terms(energy, pts, sigma, n_noise, key, per_point=False):
    """Per-point losses (n,), averaged over each point's perturbations, and the mean
    θ-gradient (p,) (per point, (n, p), with ``per_point=True``)."""
    n, d = pts.shape
    eps = normals(key, TAG_DSM, n, n_noise, d)
    noisy = np.repeat(pts, n_noise, axis=0) + sigma * eps
    residual = energy.grad(noisy) - eps / sigma
    loss = 0.5 * np.sum(residual * residual, axis=1)
    grad = derivative(energy, "grad_theta_directional", noisy, residual, mean=not per_point)
    return loss.reshape(n, n_noise).mean(axis=1), per_point_mean(grad, n, n_noise, per_point)
