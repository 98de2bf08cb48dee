"""Sliced score matching (Song, Garg, Shi & Ermon 2019): score matching along random
directions, with Hessian-vector products instead of the Hessian's trace.

With the model score s = −∇ₓE and projections v with E[vvᵀ] = I, the sliced Fisher
divergence is, up to a constant (integration by parts as for eq. 12 of seed 004),

    J(θ) = E_{x, v}[ vᵀ(∇ₓs)v + ½(vᵀs)² ] = E_{x, v}[ −vᵀ∇²ₓE v + ½(vᵀ∇ₓE)² ]

(seed 003, "Sliced Score Matching"). Since E_v[vᵀHv] = tr H and E_v[(vᵀg)²] = ‖g‖²,
its expectation over v is exact score matching's J, so SSM is consistent; per point it
costs one gradient and one Hessian-vector product per projection (O(d) for the built-in
energies) instead of a Laplacian. With v ~ N(0, I) the second term may be replaced by
its expectation ½‖∇ₓE‖² (SSM-VR, ``variance_reduction=True``).

θ-gradient: ∇_θJ = E[−∇_θ(vᵀ∇²ₓE v) + (vᵀ∇ₓE)·∇_θ(vᵀ∇ₓE)] (with VR:
E[−∇_θ(vᵀ∇²ₓE v) + ∇_θ(gᵀ∇ₓE)|_{g=∇ₓE}]), hand-derived for Gaussians and mixtures
(∇²ₓE v = βPv for a Gaussian; the mixture's in ``GaussianMixture``), finite differences
otherwise (see ``score_matching``).
"""
import numpy as np

from .._contract import TAG_PROJECTION
from .._rng import philox_key
from .._validation import choice, int_at_least
from .score_matching import checked_points, derivative, draw, per_point_mean

PROJECTIONS = {"gaussian": "normal", "rademacher": "sign"}


def ssm_loss(energy, data, *, n_projections=1, projection="gaussian", variance_reduction=False,
             rng=None):
    """The sliced score-matching loss and its θ-gradient (Song et al. 2019).

    Parameters
    ----------
    energy : Energy
        A continuous energy with parameters θ (and ∇_θE).
    data : array_like of shape (n, d)
    n_projections : int, default 1
        Random directions v per data point.
    projection : {"gaussian", "rademacher"}
        The distribution of v: N(0, I) or independent ±1 signs (both have E[vvᵀ] = I).
    variance_reduction : bool, default False
        Replace ½(vᵀ∇ₓE)² by its expectation ½‖∇ₓE‖² (SSM-VR; Gaussian v only).
    rng : None, int, SeedSequence or Generator
        Seeds v: projection j of point i is the Philox stream (i, j); the same ``rng``
        gives the same v, so the loss is then a deterministic function of θ.

    Returns
    -------
    loss : float
    grad : ndarray of shape (p,)

    Notes
    -----
    J = mean_{i,j}[−vᵢⱼᵀ∇²ₓE(xᵢ)vᵢⱼ + ½(vᵢⱼᵀ∇ₓE(xᵢ))²];
    ∇_θJ = mean_{i,j}[−∇_θ(vᵀ∇²ₓE v) + (vᵀ∇ₓE)∇_θ(vᵀ∇ₓE)]. Unbiased for exact score
    matching's J over v; its minimiser is consistent.

    References
    ----------
    Song, Garg, Shi & Ermon (2019), "Sliced score matching: a scalable approach to
    density and score estimation", UAI. Seed 003, "Sliced Score Matching (SSM)".

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> E = fe.Gaussian([0.0, 0.0], precision=[1.0, 1.0])
    >>> loss, grad = fe.ssm_loss(E, x, n_projections=4, rng=1)
    """
    pts = checked_points(energy, data)
    n_projections = int_at_least(n_projections, "n_projections", 1)
    choice(projection, "projection", tuple(PROJECTIONS))
    if variance_reduction and projection != "gaussian":
        raise ValueError("variance_reduction needs projection='gaussian'")
    loss, grad = ssm_terms(energy, pts, n_projections, projection, bool(variance_reduction),
                           philox_key(rng))
    return float(loss.mean()), grad


def ssm_terms(energy, pts, n_projections, projection, variance_reduction, key, per_point=False):
    """Per-point losses (n,), averaged over each point's projections, and the mean
    θ-gradient (p,) (per point, (n, p), with ``per_point=True``).

    (vᵀ∇ₓE)∇_θ(vᵀ∇ₓE) = ∇_θ(wᵀ∇ₓE) with w = (vᵀ∇ₓE)v fixed: one mixed derivative."""
    n, d = pts.shape
    v = draw(PROJECTIONS[projection], key, TAG_PROJECTION, n, n_projections, d)
    rep = np.repeat(pts, n_projections, axis=0)
    g = energy.grad(rep)
    quad = np.sum(v * derivative(energy, "hessian_vector_product", rep, v), axis=1)
    if variance_reduction:
        loss, w = 0.5 * np.sum(g * g, axis=1) - quad, g
    else:
        slope = np.sum(v * g, axis=1)
        loss, w = 0.5 * slope * slope - quad, slope[:, None] * v
    grad = (derivative(energy, "grad_theta_directional", rep, w, mean=not per_point)
            - derivative(energy, "grad_theta_hessian_quadratic", rep, v, mean=not per_point))
    return (loss.reshape(n, n_projections).mean(axis=1),
            per_point_mean(grad, n, n_projections, per_point))
