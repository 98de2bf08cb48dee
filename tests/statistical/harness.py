"""A statistical harness every sampler plugs into.

Chains are independent (one Philox stream each), so the final states of n chains run
past burn-in are n independent draws of (nearly) the target: their mean and variance
have exact standard errors, with no ESS estimate. Each check returns the largest |z| so
that a test can assert both that the sampler passes and that a mutant fails.
"""
import numpy as np
from scipy import stats

Z_CRIT = 4.75  # suite-wide chance failure about 1/1000 (TESTING.md)


def unbiased_ratio_z(log_z_hat, log_z):
    """z of mean(Ẑ/Z) against 1 over independent repeats, from their log Ẑ (an unbiased
    Ẑ has E[Ẑ/Z] = 1; its log is biased low, Jensen)."""
    ratio = np.exp(np.asarray(log_z_hat) - log_z)
    return abs(ratio.mean() - 1.0) / (ratio.std(ddof=1) / np.sqrt(ratio.size))


def mean_z(x, mean, var):
    """max over coordinates of |x̄ - μ| / √(σ²/n) for draws x of shape (n, d)."""
    x = np.atleast_2d(x.T).T
    return float(np.max(np.abs(x.mean(axis=0) - mean) / np.sqrt(np.asarray(var) / x.shape[0])))


def variance_z(x, var, fourth=None):
    """max |s² - σ²| / se(s²), se² = (μ₄ - σ⁴)/n; μ₄ = 3σ⁴ (Gaussian) unless given."""
    x = np.atleast_2d(x.T).T
    var = np.asarray(var, dtype=float)
    fourth = 3 * var ** 2 if fourth is None else np.asarray(fourth, dtype=float)
    se = np.sqrt((fourth - var ** 2) / x.shape[0])
    return float(np.max(np.abs(x.var(axis=0, ddof=1) - var) / se))


def moments_z(x, mean, var, fourth=None):
    """The larger of ``mean_z`` and ``variance_z``."""
    return max(mean_z(x, mean, var), variance_z(x, var, fourth))


def dkw_epsilon(n, alpha=1e-6):
    """Dvoretzky-Kiefer-Wolfowitz: P(sup |F_n - F| > ε) ≤ 2 exp(-2nε²) = alpha."""
    return float(np.sqrt(np.log(2.0 / alpha) / (2.0 * n)))


def ks_statistic(x, cdfs):
    """max over coordinates of the Kolmogorov-Smirnov distance of x[:, j] to cdfs[j]."""
    return max(stats.kstest(x[:, j], cdf).statistic for j, cdf in enumerate(cdfs))
