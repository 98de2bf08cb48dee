"""Resampling: draw particle indices from importance weights given on the log scale.

Four schemes (multinomial, systematic, stratified, residual), each a short kernel over
one compiled inverse-CDF primitive (`fastebm._kernels.numba.resampling.inverse_cdf`),
run by the backend the weights resolve to: CuPy log weights resample on the GPU (the
uniforms from the same Philox streams, the cumulative sums and searches as CuPy array
operations) and give CuPy indices; inside ``fastebm.backend.emulate_gpu()`` NumPy
weights take that path on the host (``docs/gpu.md``).
All are unbiased: the expected number of copies of particle i is n w_i.
"""
import numbers

import numpy as np

from ._rng import philox_key
from .backend import array_module, resolve

METHODS = ("multinomial", "systematic", "stratified", "residual")


def _check_log_weights(log_weights, *, allow_all_zero=False):
    """A 1-d, non-empty float64 array without NaN or +inf (and not all -inf), of the
    input's array module (NumPy, or CuPy for a CuPy array)."""
    xp = array_module(log_weights)
    arr = xp.asarray(log_weights)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"log_weights must be a float array, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"log_weights must be 1-d and non-empty, got shape {arr.shape}")
    if bool(xp.isnan(arr).any()):
        raise ValueError("log_weights must not contain NaN")
    if bool((arr == np.inf).any()):
        raise ValueError("log_weights must not contain +inf")
    if not allow_all_zero and bool((arr == -np.inf).all()):
        raise ValueError("log_weights are all -inf (every weight is zero): "
                         "resampling has no defined answer")
    return xp.ascontiguousarray(arr, dtype=np.float64)


def _check_n(n, default):
    """``n`` as a positive int, or ``default`` when it is None."""
    if n is None:
        return default
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a positive integer, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def _check_method(method):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                         f"got {method!r}")
    return method


def _normalize(log_weights):
    weights = array_module(log_weights).exp(log_weights - log_weights.max())
    return weights / weights.sum()


def normalized_weights(log_weights):
    """Normalized weights from log weights, computed stably.

    Parameters
    ----------
    log_weights : ndarray of shape (n_particles,)
        Unnormalized log weights; -inf marks a zero weight. Not all -inf, no NaN or +inf.

    Returns
    -------
    weights : ndarray of shape (n_particles,)
        Non-negative float64 weights summing to one (a CuPy array for CuPy input).

    Notes
    -----
    w_i = exp(l_i - m) / sum_j exp(l_j - m), with m = max_j l_j, so that the largest
    term is exp(0) = 1 and nothing overflows.
    """
    return _normalize(_check_log_weights(log_weights))


def log_sum_exp(log_weights):
    """log(sum_i exp(l_i)), computed stably; -inf when every l_i is -inf.

    Parameters
    ----------
    log_weights : ndarray of shape (n_particles,)

    Returns
    -------
    float

    Notes
    -----
    log sum_i exp(l_i) = m + log sum_i exp(l_i - m), with m = max_i l_i.
    """
    arr = _check_log_weights(log_weights, allow_all_zero=True)
    xp = array_module(arr)
    top = arr.max()
    if float(top) == -np.inf:
        return -np.inf
    return float(top + xp.log(xp.exp(arr - top).sum()))


def log_mean_exp(log_weights):
    """log((1/n) sum_i exp(l_i)): the log of the mean weight (an IS estimate of log Z).

    Parameters
    ----------
    log_weights : ndarray of shape (n_particles,)

    Returns
    -------
    float

    Notes
    -----
    log_mean_exp(l) = log_sum_exp(l) - log n.
    """
    return log_sum_exp(log_weights) - float(np.log(np.shape(log_weights)[0]))


def resample(log_weights, n=None, *, method="systematic", rng=None):
    """Draw n particle indices with probabilities proportional to exp(log_weights).

    Parameters
    ----------
    log_weights : ndarray of shape (n_particles,)
        Unnormalized log weights (float); -inf marks a zero weight, never drawn.
    n : int, optional
        Number of indices to draw; defaults to n_particles.
    method : {"systematic", "stratified", "residual", "multinomial"}
        The resampling scheme. All are unbiased; stratified and residual never have
        a larger variance than multinomial; systematic is usually the least
        variable but has no such guarantee (Douc & Cappé 2005).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the Philox stream (SPEC 7); a Generator advances.

    Returns
    -------
    indices : ndarray of shape (n,), int64
        Indices into ``log_weights``. Sorted for multinomial, systematic and
        stratified; for residual, the deterministic copies come first. A CuPy array,
        computed on the GPU, for CuPy ``log_weights``.

    Raises
    ------
    TypeError
        ``log_weights`` not a float array, ``n`` not an integer, bad ``rng``.
    ValueError
        ``log_weights`` not 1-d or empty, with NaN or +inf, or all -inf; ``n`` < 1;
        unknown ``method``.

    Notes
    -----
    With normalized weights w and cumulative sums W_j = w_0 + ... + w_j, every
    scheme maps n sorted points u_(k) in (0, 1) to a_k = min{j : u_(k) <= W_j}:

    - multinomial: u_(k) the order statistics of n iid uniforms, drawn in O(n) by
      U_(k) = U_(k+1) V_k^(1/(k+1)) (Bentley & Saxe 1980);
    - stratified: u_(k) = (k + V_k) / n, one uniform per stratum;
    - systematic: u_(k) = (k + V) / n, a single uniform;
    - residual: floor(n w_i) copies of each i, then multinomial draws of the
      remaining R = n - sum_i floor(n w_i) with weights (n w_i - floor(n w_i)) / R.

    The offspring count N_i of particle i has E[N_i] = n w_i for every scheme;
    ``|N_i - n w_i| < 1`` for systematic and < 2 for stratified.

    References
    ----------
    Douc, R. & Cappé, O. (2005). Comparison of resampling schemes for particle
    filtering. Proc. ISPA 2005, 64-69.
    Chopin, N. & Papaspiliopoulos, O. (2020). An Introduction to Sequential Monte
    Carlo, ch. 9 (Importance resampling). Springer.
    Bentley, J. L. & Saxe, J. B. (1980). Generating sorted lists of random numbers.
    ACM TOMS 6(3), 359-364.
    """
    backend = resolve(log_weights)
    log_weights = _check_log_weights(log_weights)
    n = _check_n(n, log_weights.shape[0])
    method = _check_method(method)
    return backend.runners.resample(method, philox_key(rng), _normalize(log_weights), n)
