"""Frozen result records: arrays in, arrays out, no hidden state.

Every record pickles (``pickle``, ``cloudpickle``) to an equal record, and ``==``
compares records by value: two records are equal when they are of the same type and
every field is equal under :func:`equal` (arrays by shape, dtype and values, NaN equal
to NaN; energies by class and parameters). Records hold arrays, so they are not
hashable.
"""
import numbers
import types
from dataclasses import dataclass, fields, is_dataclass
from typing import Optional

import numpy as np


def equal(a, b):
    """Whether two result values are equal: what ``==`` on the result records means.

    Parameters
    ----------
    a, b : object
        Result records, arrays, numbers, or containers of them.

    Returns
    -------
    bool

    Notes
    -----
    - Arrays (NumPy, or any array with ``shape`` and ``dtype``: a CuPy array is copied to
      the host, a Dask array computed) are equal when their shapes, dtypes and values
      are, NaN equal to NaN in the same places; numbers likewise (NaN equals NaN).
    - Dataclasses (the records) field by field; dicts, lists and tuples entry by entry.
    - An object whose class defines its own ``==`` by that ``==``.
    - Other objects (energies, proposals, estimators) when they are of the same class and
      their pickled states (``__getstate__``) are equal: an energy by its parameters and
      temperature, never by its compiled functions, which are not part of the state.
    - Functions (a user energy's) when they are the same object, or have the same code,
      defaults and closure values (a function pickled by value, as cloudpickle sends a
      script's functions).
    """
    if a is b:
        return True
    if _is_array(a) or _is_array(b):
        return _is_array(a) and _is_array(b) and _arrays_equal(a, b)
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return a == b or bool(_is_nan(a) and _is_nan(b))
    if type(a) is not type(b):
        return False
    if is_dataclass(a):
        return all(equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, types.FunctionType):
        return _functions_equal(a, b)
    if type(a).__eq__ is not object.__eq__:
        return bool(a == b)
    return equal(_state(a), _state(b))


def _state(x):
    """What pickling keeps of ``x``: its ``__getstate__()`` where its class defines one
    that returns something, else what ``__reduce_ex__`` rebuilds it from (the default
    state of a plain object on every Python, the state of a Generator or SeedSequence)."""
    getstate = getattr(type(x), "__getstate__", None)
    if getstate is not None and getstate is not getattr(object, "__getstate__", None):
        state = x.__getstate__()
        if state is not None:
            return state
    reduced = x.__reduce_ex__(4)
    return reduced if isinstance(reduced, str) else reduced[1:]


def _is_array(x):
    return isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype")
                                         and not isinstance(x, (np.generic, type)))


def _host(x):
    """A NumPy copy of an array of another module (CuPy's ``get``, else ``np.asarray``)."""
    if isinstance(x, np.ndarray):
        return x
    return x.get() if callable(getattr(x, "get", None)) else np.asarray(x)


def _arrays_equal(a, b):
    a, b = _host(a), _host(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return all(equal(x, y) for x, y in zip(a.ravel(), b.ravel()))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _is_nan(x):
    try:
        return bool(np.isnan(x))
    except TypeError:
        return False


def _functions_equal(f, g):
    cells = [tuple(c.cell_contents for c in (h.__closure__ or ())) for h in (f, g)]
    return (f.__code__ == g.__code__ and equal(f.__defaults__, g.__defaults__)
            and equal(f.__kwdefaults__, g.__kwdefaults__) and equal(*cells))


class Record:
    """Base of the frozen result records: ``==`` by value (:func:`equal`), no hash.

    A subclass is a ``@dataclass(frozen=True, eq=False)``, so that this ``==`` (arrays
    compared by value) is not replaced by the generated one (which fails on arrays).
    """

    __slots__ = ()
    __hash__ = None

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return equal(self, other)


@dataclass(frozen=True, eq=False)
class ChainState(Record):
    """Where a run stopped; pass it as ``x0`` to continue the very same random streams.

    Attributes
    ----------
    position : ndarray of shape (n_chains, d)
    key : tuple of int
        The Philox key of the run's streams.
    step : int
        The number of steps taken so far (burn-in included); the next step's counter.
    step_size : ndarray of shape (n_chains,)
        Each chain's (frozen) step size or random-walk scale.
    inverse_mass : ndarray of shape (d,) or (d, d), or None
        The frozen preconditioner Σ (diagonal or dense), if any.
    diverged : ndarray of shape (n_chains,) of bool, or None
        ULA chains stopped for divergence; they stay stopped in a continued run.
    energy_start : ndarray of shape (n_chains,), or None
        ULA's reference energies for the divergence test (the first run's start).
    dtype : numpy.dtype
        The dtype of the outputs (float32 when the first x0 was float32); ``position``
        itself is kept in float64 so that a continued run is exact.
    first_chain : int
        The global index of row 0: row r draws from the streams of chain first_chain + r.
    """

    position: np.ndarray
    key: tuple
    step: int
    step_size: np.ndarray
    inverse_mass: Optional[np.ndarray] = None
    diverged: Optional[np.ndarray] = None
    energy_start: Optional[np.ndarray] = None
    dtype: np.dtype = np.dtype(np.float64)
    first_chain: int = 0


@dataclass(frozen=True, eq=False)
class MCMCResult(Record):
    """The output of an MCMC sampler.

    Attributes
    ----------
    draws : ndarray of shape (n_draws, n_chains, d), or None with ``keep="moments"``
        Kept states, draw axis first; ``draws[-1]`` is the final position when thin=1.
    acceptance_rate : ndarray of shape (n_chains,)
        Fraction of accepted proposals over the kept (post-burn-in) steps.
    n_divergent : ndarray of shape (n_chains,)
        Proposals with non-finite energy or gradient (rejected), or for ULA the number of
        times a chain diverged (its later draws are NaN); counted over all steps of the
        call, burn-in included, unlike ``acceptance_rate``.
    step_size : ndarray of shape (n_chains,), or float for a single chain
        Each chain's step size (or random-walk scale) used for the kept draws.
    state : ChainState
        Pass as ``x0`` to continue the run.
    mean, variance : ndarray of shape (n_chains, d), or None
        Per-chain running mean and variance (ddof=0) of the kept draws with
        ``keep="moments"``.
    inverse_mass : ndarray of shape (d,) or (d, d), or None
        The preconditioner Σ estimated during burn-in (or given), frozen for the draws.
    """

    draws: Optional[np.ndarray]
    acceptance_rate: np.ndarray
    n_divergent: np.ndarray
    step_size: np.ndarray
    state: ChainState
    mean: Optional[np.ndarray] = None
    variance: Optional[np.ndarray] = None
    inverse_mass: Optional[np.ndarray] = None


@dataclass(frozen=True, eq=False)
class ImportanceResult(Record):
    """Importance sampling from a proposal q for an energy E.

    Attributes
    ----------
    draws : ndarray of shape (n, d)
        The proposal draws yᵢ ~ q.
    log_weights : ndarray of shape (n,)
        log wᵢ = -E(yᵢ) - log q(yᵢ) (unnormalized).
    log_z : float
        log Ẑ = log (1/n) Σ wᵢ, the estimate of log Z (seed 002, eq. 7).
    stderr : float
        Delta-method standard error of log Ẑ: sd(w) / (√n · mean(w)).
    ess : float
        Kish's effective sample size (Σw)² / Σw².
    resampled : ndarray of shape (n_out, d), or None
        With ``importance_resample``: draws resampled with probabilities ∝ wᵢ, an
        approximate sample of p (seed 002, sec. 6).
    """

    draws: np.ndarray
    log_weights: np.ndarray
    log_z: float
    stderr: float
    ess: float
    resampled: Optional[np.ndarray] = None


@dataclass(frozen=True, eq=False)
class LogZEstimate(Record):
    """An estimate of log Z with its uncertainty, from any estimator.

    Attributes
    ----------
    log_z : float
        The estimate of log Z (exact where ``method == "exact"``).
    stderr : float
        Its standard error (0.0 for the exact value). For weighted estimators, the
        delta-method error sd(w) / (√n · mean(w)) of log Ẑ = log mean(w).
    log_weights : ndarray of shape (n,), or None
        The final log importance weights (one per chain or draw); None when exact. For
        AIS along a discrete model's own path (an RBM or Ising model, from its base
        model of known normalizer Z₀), the weights estimate Z/Z₀:
        log Z = log Z₀ + log mean(w).
    ess : float
        Kish's effective sample size (Σw)²/Σw² of the weights (inf for the exact value).
    method : str
        "exact", "is", "ais" or "reverse_ais".
    bound : str
        "exact"; "lower" for importance and forward AIS (E log Ẑ ≤ log Z, Jensen);
        "upper" for reverse AIS (its E log Ẑ ≥ log Z).
    acceptance_rate : ndarray of shape (n,), or None
        Mean acceptance of the MCMC transitions per chain (AIS with MH transitions);
        NaN when the schedule has no intermediate temperature, so no chain moved.
    temperatures : ndarray, or None
        The schedule β₀ = 0 < … < β_K = 1 used by AIS.
    biased : bool
        True when the transitions do not leave the intermediate targets invariant (AIS
        with unadjusted Langevin): then E Ẑ ≠ Z and ``bound`` does not hold.
    n_divergent : ndarray of shape (n,), or None
        AIS: rejected proposals with a non-finite energy or gradient, per chain.
    step_size : ndarray of shape (K + 1,), or None
        Continuous AIS: the step used at each temperature (given, or tuned on the pilot
        chains when ``step_size=None``; entry k at βₖ).
    n_steps_per_temperature : int, or None
        Continuous AIS: the moves made at each intermediate temperature (given, or chosen
        on the pilot chains when ``n_steps_per_temperature=None``).
    """

    log_z: float
    stderr: float
    log_weights: Optional[np.ndarray]
    ess: float
    method: str
    bound: str
    acceptance_rate: Optional[np.ndarray] = None
    temperatures: Optional[np.ndarray] = None
    biased: bool = False
    n_divergent: Optional[np.ndarray] = None
    step_size: Optional[np.ndarray] = None
    n_steps_per_temperature: Optional[int] = None
