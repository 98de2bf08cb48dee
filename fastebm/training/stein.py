"""Kernel Stein discrepancy: a goodness-of-fit measure that needs only the score.

For p ∝ exp(-E) with score s(x) = ∇ log p(x) = -∇E(x) and a kernel k, the Stein kernel

    u_p(x, y) = s(x)ᵀs(y) k(x, y) + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr ∇_x∇_y k

has E_{x,y~q}[u_p(x, y)] = KSD²(q, p) ≥ 0, zero iff q = p (for characteristic k), and
needs no normalizer (seeds 003, 004: Stein discrepancy). The estimate is the U-statistic
over n draws, KSD² ≈ 1/(n(n-1)) Σ_{i≠j} u_p(xᵢ, xⱼ), with the inverse multiquadric
k(x, y) = (c² + ‖x-y‖²)^β, β ∈ (-1, 0), which detects non-convergence (Gorham & Mackey
2017). Its p-value for H₀: q = p comes from the wild bootstrap with Rademacher weights
(Liu, Lee & Jordan 2016; Chwialkowski, Strathmann & Gretton 2016).
"""
from dataclasses import dataclass

import numpy as np

from .._contract import TAG_STEIN_BOOTSTRAP
from .._rng import philox_key, uniforms_reference
from .._validation import int_at_least, positive_float
from ..backend import CPU
from ..energies.base import Energy
from ..results import Record


@dataclass(frozen=True, eq=False)
class KSDResult(Record):
    """Kernel Stein discrepancy of draws against an energy.

    Attributes
    ----------
    ksd2 : float
        The U-statistic estimate of KSD² (can be slightly negative under H₀).
    stderr : float
        Standard error of ``ksd2`` from its Hoeffding projection, 2 sd(h̄ᵢ)/√n with
        h̄ᵢ = mean_{j≠i} u_p(xᵢ, xⱼ); meaningful when q ≠ p (the statistic is degenerate
        under H₀, where the p-value is the tool).
    p_value : float
        Wild-bootstrap p-value of H₀: the draws come from p.
    """

    ksd2: float
    stderr: float
    p_value: float


def stein_matrix(energy, x, c=1.0, beta=-0.5):
    """u_p(xᵢ, xⱼ) for all pairs, shape (n, n), with the IMQ kernel."""
    score = -energy.grad(x)
    out = np.empty((x.shape[0], x.shape[0]))
    CPU.runners.stein_matrix(x, np.ascontiguousarray(score), c * c, beta, out)
    return out


def ksd(energy, x, *, c=1.0, beta=-0.5, n_bootstrap=1000, rng=None):
    """Kernel Stein discrepancy of draws ``x`` from ``energy``'s density, with a p-value.

    Parameters
    ----------
    energy : Energy
        The model p ∝ exp(-E); only ∇ₓE is used.
    x : array_like of shape (n, d)
        Draws to test (independent draws: for MCMC output, thin or take one state per
        chain), n ≥ 2. Costs O(n² d) time and n² floats of memory.
    c : float, default 1.0
        IMQ scale.
    beta : float in (-1, 0), default -0.5
        IMQ exponent.
    n_bootstrap : int, default 1000
        Wild-bootstrap replicates for the p-value.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    KSDResult
        ``ksd2``, ``stderr``, ``p_value``.
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    pts, _, _ = energy._points(x, "x")
    if pts.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 draws, got {pts.shape[0]}")
    c = positive_float(c, "c")
    if not -1.0 < beta < 0.0:
        raise ValueError(f"beta must lie in (-1, 0), got {beta}")
    n_bootstrap = int_at_least(n_bootstrap, "n_bootstrap", 1)
    u = stein_matrix(energy, pts, c, beta)
    np.fill_diagonal(u, 0.0)
    n = pts.shape[0]
    row_means = u.sum(axis=1) / (n - 1)
    ksd2 = float(row_means.mean())
    stderr = float(2.0 * row_means.std(ddof=1) / np.sqrt(n))
    return KSDResult(ksd2, stderr, _wild_bootstrap_p(u, ksd2, n_bootstrap, philox_key(rng)))


def _wild_bootstrap_p(u, ksd2, n_bootstrap, key):
    """P(B ≥ KSD²) with B = wᵀUw / (n(n-1)), wᵢ = ±1 (diagonal of U is zero)."""
    n = u.shape[0]
    signs = np.where(uniforms_reference(key, np.arange(n_bootstrap), 0, TAG_STEIN_BOOTSTRAP, n) < 0.5,
                     -1.0, 1.0)
    boot = np.einsum("bi,bi->b", signs @ u, signs) / (n * (n - 1))
    return float((1 + np.sum(boot >= ksd2)) / (1 + n_bootstrap))
