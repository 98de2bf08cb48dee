"""Resampling kernels: four schemes over one inverse-CDF primitive (a linear merge).

Every scheme builds n sorted points in (0, 1) and hands them to `inverse_cdf`; only
the way the points are drawn differs. Randomness is the Philox stream of
(chain 0, step 0, one tag per scheme): the uniforms for n draws are uniforms number
0..n-1 of that stream. Kernels trust their inputs: ``weights`` is a float64 array of
non-negative weights summing to one (up to rounding), with at least one positive.

References
----------
Douc & Cappé (2005), "Comparison of resampling schemes for particle filtering", ISPA.
Chopin & Papaspiliopoulos (2020), "An Introduction to Sequential Monte Carlo", ch. 9.
Bentley & Saxe (1980), "Generating sorted lists of random numbers", ACM TOMS 6(3).
"""
import numpy as np

from ..._contract import TAG_MULTINOMIAL, TAG_RESIDUAL, TAG_STRATIFIED, TAG_SYSTEMATIC
from ._jit import helper, kernel
from .philox import fill_uniforms, uniform



@helper()
def _last_positive(weights):
    """Index of the last positive weight (the merge never walks past it)."""
    j = weights.shape[0] - 1
    while j > 0 and not weights[j] > 0.0:
        j -= 1
    return j


@helper()
def inverse_cdf(sorted_uniforms, weights):
    """Indices a_k = min{j : u_k <= w_0 + ... + w_j}, for sorted u, by one merge.

    A point above the rounded total (sum of weights slightly below one) maps to the
    last index of positive weight, so a zero weight is never chosen.
    """
    last = _last_positive(weights)
    out = np.empty(sorted_uniforms.shape[0], dtype=np.int64)
    j = 0
    total = weights[0]
    for k in range(sorted_uniforms.shape[0]):
        while sorted_uniforms[k] > total and j < last:
            j += 1
            total += weights[j]
        out[k] = j
    return out


@helper()
def sorted_uniforms(k0, k1, tag, n):
    """n sorted iid uniforms in O(n), no sort: U_(j) = U_(j+1) * V_j ** (1 / (j + 1))."""
    out = np.empty(n)
    fill_uniforms(k0, k1, 0, 0, tag, out)
    log_u = 0.0
    for j in range(n - 1, -1, -1):
        log_u += np.log(out[j]) / (j + 1)
        out[j] = np.exp(log_u)
    return out


@kernel()
def multinomial(k0, k1, weights, n):
    """n iid draws from ``weights`` (indices in non-decreasing order)."""
    return inverse_cdf(sorted_uniforms(k0, k1, TAG_MULTINOMIAL, n), weights)


@kernel()
def systematic(k0, k1, weights, n):
    """One uniform shifted across n strata: points (u + k) / n."""
    u = uniform(k0, k1, 0, 0, TAG_SYSTEMATIC, 0)
    return inverse_cdf((u + np.arange(n)) / n, weights)


@kernel()
def stratified(k0, k1, weights, n):
    """One uniform per stratum: points (u_k + k) / n."""
    u = np.empty(n)
    fill_uniforms(k0, k1, 0, 0, TAG_STRATIFIED, u)
    return inverse_cdf((u + np.arange(n)) / n, weights)


@helper()
def _residual_split(weights, n):
    """Deterministic copies floor(n w_i), and the residual weights normalized."""
    scaled = n * weights
    copies = np.floor(scaled)
    n_rest = n - np.int64(copies.sum())
    return copies.astype(np.int64), (scaled - copies) / max(n_rest, 1), n_rest


@kernel()
def residual(k0, k1, weights, n):
    """floor(n w_i) copies of each i, then multinomial draws on the residual weights."""
    copies, rest, n_rest = _residual_split(weights, n)
    fixed = np.repeat(np.arange(weights.shape[0]), copies)
    drawn = inverse_cdf(sorted_uniforms(k0, k1, TAG_RESIDUAL, n_rest), rest)
    return np.concatenate((fixed, drawn))
