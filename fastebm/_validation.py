"""Argument checks shared by every public function.

Each raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) naming the argument and what was expected, before any compiled code runs.
"""
import numbers
import operator

import numpy as np

from .backend import array_module


def as_float_array(value, name, *, ndim=None, finite=True):
    """``value`` as a C-contiguous float64 array of its own array module (NumPy, or CuPy
    for a CuPy array); checks dimensions and finiteness."""
    xp = array_module(value)
    arr = xp.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim not in np.atleast_1d(ndim):
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr = xp.ascontiguousarray(arr, dtype=np.float64)
    if finite and not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} must be finite (it contains NaN or inf)")
    return arr


def result_dtype(x):
    """The dtype of the outputs of a call given the array ``x``: float32 when ``x`` is
    float32, float64 otherwise (the computation runs in float64 on the CPU)."""
    return np.float32 if getattr(x, "dtype", None) == np.float32 else np.float64


def as_points(x, dim, name="x"):
    """Points of shape (n, dim) or (dim,) → ((n, dim) float64 array, was_single, dtype).

    ``dtype`` is float32 when the caller passed float32 and float64 otherwise: the
    computation runs in float64 and outputs are cast back to it.
    """
    raw = array_module(x).asarray(x)
    if raw.dtype == np.bool_:
        raise TypeError(f"{name} must be a float array, got dtype bool")
    if raw.dtype == np.float16:
        raise TypeError(f"{name} has dtype float16, which fastebm does not compute in: pass "
                        "float32 (results in float32) or float64")
    arr = as_float_array(raw, name, ndim=(1, 2))
    if arr.shape[-1] != dim:
        raise ValueError(f"{name} must have {dim} columns (the energy's dimension), "
                         f"got shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one point, got shape {arr.shape}")
    return (arr[None, :] if arr.ndim == 1 else arr), arr.ndim == 1, result_dtype(raw)


def positive_float(value, name):
    """A finite float > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def int_at_least(value, name, minimum):
    """An integer >= minimum (bools are rejected)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def choice(value, name, choices):
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(map(repr, choices))}, got {value!r}")
    return value


def symmetric_positive_definite(matrix, name):
    """A symmetric positive-definite (d, d) matrix and its lower Cholesky factor."""
    arr = as_float_array(matrix, name, ndim=2)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * np.abs(arr).max()):
        raise ValueError(f"{name} must be symmetric")
    try:
        chol = np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None
    return arr, chol


def discrete_points(x, n, name, values, what):
    """Points of shape (N, n) or (n,) whose entries all lie in ``values`` (a tuple of
    floats) → ((N, n) float64 array of x's array module, was_single); ``what`` ends the
    error message."""
    xp = array_module(x)
    raw = xp.asarray(x)
    if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric or boolean array, got dtype {raw.dtype}")
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be real, got dtype {raw.dtype}")
    if raw.ndim not in (1, 2) or raw.shape[-1] != n:
        raise ValueError(f"{name} must have shape (N, {n}) or ({n},), got {raw.shape}")
    arr = xp.ascontiguousarray(raw, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one point, got shape {raw.shape}")
    if not bool(xp.all((arr == values[0]) | (arr == values[1]))):
        raise ValueError(f"{name} must {what}")
    return (arr[None, :] if arr.ndim == 1 else arr), raw.ndim == 1
