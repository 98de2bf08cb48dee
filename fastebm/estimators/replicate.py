"""Replicate an estimator on independent random streams and measure its error.

    fe.replicate(estimator, n_rep, *, rng=None, reference=None, level=0.95)
    fe.compare(results)                      # a side-by-side table of several estimators
    fe.ImportanceEstimator(energy, proposal, n)

``estimator`` is any callable taking ``rng`` (as a keyword) and returning a number, or
an object with ``log_z`` (``LogZEstimate``, ``ImportanceResult``; its ``stderr`` and
``ess`` are kept too). Replicate r gets the r-th child of ``SeedSequence(rng).spawn``,
so replicates are independent and each can be rerun alone. An ``ImportanceEstimator``
is replicated in one parallel compiled call (all R × M draws, energies and weights),
with the very values that R separate calls of ``fe.importance_sample`` give.

The summary follows the usual Monte Carlo study (e.g. Morris, White & Crowther 2019):
mean, standard deviation, bias and MSE against a known reference, each with its Monte
Carlo standard error, and a t confidence interval for the mean.
"""
import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._rng import philox_key, seed_sequence
from .._validation import int_at_least
from ..backend import CPU
from ..progress import NO_BAR, Bar, blocks
from ..results import Record
from ..samplers.importance import _check as _check_importance
from ..samplers.importance import importance_sample

_STATUS_MESSAGES = {
    "nan-energy": "the energy is NaN at some proposal draws: no defined weights",
    "neg-inf-energy": "the energy is -inf at some proposal draws: exp(-E) is not integrable",
    "all-zero": "every importance weight is zero: the proposal misses the target",
}


@dataclass(frozen=True, eq=False)
class ReplicationResult(Record):
    """R independent replicates of an estimator and their summary.

    Attributes
    ----------
    values : ndarray of shape (R,)
        The estimates, replicate r from the r-th spawned stream.
    mean, std : float
        Their mean and standard deviation (ddof=1).
    stderr : float
        Monte Carlo standard error of the mean, std/√R.
    std_stderr : float
        Standard error of ``std`` (delta method, √((m₄ - s⁴)/R)/(2s), m₄ the sample
        fourth central moment).
    mean_ci : tuple of float
        Student-t confidence interval for the estimator's expectation at ``level``.
    level : float
    reference : float or None
        The true value the estimator targets, if given.
    bias, bias_stderr : float or None
        mean - reference, and its standard error (= ``stderr``).
    mse, mse_stderr : float or None
        mean of (value - reference)² and its standard error sd((v - ref)²)/√R.
    reported_stderr : ndarray of shape (R,), or None
        Each replicate's own ``stderr``, when the estimator reports one.
    ess : ndarray of shape (R,), or None
        Each replicate's ``ess``, when the estimator reports one.
    coverage : float or None
        Fraction of replicates whose interval value ± z·reported_stderr (z the normal
        quantile at ``level``) contains ``reference``: near ``level`` when the reported
        errors are right.
    name : str
        A label for tables.
    """

    values: np.ndarray
    mean: float
    std: float
    stderr: float
    std_stderr: float
    mean_ci: tuple
    level: float
    reference: Optional[float] = None
    bias: Optional[float] = None
    bias_stderr: Optional[float] = None
    mse: Optional[float] = None
    mse_stderr: Optional[float] = None
    reported_stderr: Optional[np.ndarray] = None
    ess: Optional[np.ndarray] = None
    coverage: Optional[float] = None
    name: str = ""

    def table(self):
        """A one-row table of this result (see :func:`compare`)."""
        return compare([self])

    def __str__(self):
        return self.table()


class ImportanceEstimator:
    """Importance sampling of log Z as a replicable estimator (the compiled fast path).

    ``est(rng=...)`` is ``fe.importance_sample(energy, proposal, n, rng=...)``;
    ``fe.replicate(est, R)`` draws all R × n points in one parallel kernel call, giving
    the same values as R separate calls with the spawned streams.

    Parameters
    ----------
    energy : Energy
    proposal : fastebm.proposals.Proposal
    n : int
        Draws per replicate (≥ 2).
    """

    def __init__(self, energy, proposal, n):
        self.n = _check_importance(energy, proposal, n)
        self.energy, self.proposal = energy, proposal

    def __call__(self, rng=None):
        return importance_sample(self.energy, self.proposal, self.n, rng=rng)

    def _replicate(self, children, first=0):
        """(log Ẑ, stderr, ESS), each (R,), for the spawned streams ``children`` (replicates
        first, first + 1, ...)."""
        keys = np.array([philox_key(child) for child in children], dtype=np.int64)
        log_z, stderr, ess, status = CPU.runners.replicated_importance(
            self.energy, self.proposal, keys, self.n)
        for r, failure in enumerate(status):
            if failure is not None:
                raise ValueError(f"replicate {first + r}: {_STATUS_MESSAGES[failure]}")
        return log_z, stderr, ess


def _value(out, r):
    """(value, reported stderr or NaN, ess or NaN) of one replicate's output."""
    if hasattr(out, "log_z"):
        value = out.log_z
        se, ess = getattr(out, "stderr", np.nan), getattr(out, "ess", np.nan)
    else:
        value, se, ess = out, np.nan, np.nan
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)) \
            or np.ndim(value) != 0:
        raise TypeError(f"replicate {r}: the estimator must return a number or an object with "
                        f"log_z, got {type(out).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"replicate {r}: the estimator returned {value}")
    return value, float(se), float(ess)


def replicate(estimator, n_rep, *, rng=None, reference=None, level=0.95, name="",
              progress=False):
    """Run an estimator ``n_rep`` times on independent streams and summarize its error.

    Parameters
    ----------
    estimator : callable or ImportanceEstimator
        ``estimator(rng=...)`` returns a number or an object with ``log_z`` (and
        optionally ``stderr`` and ``ess``). An :class:`ImportanceEstimator` runs all
        replicates in one compiled parallel call.
    n_rep : int
        Number of replicates R ≥ 2.
    rng : None, int, SeedSequence or Generator
        Replicate r uses ``SeedSequence(rng).spawn(R)[r]``.
    reference : float, optional
        The true value (e.g. the exact log Z): gives bias, MSE and coverage.
    level : float, default 0.95
        Confidence level of ``mean_ci`` and ``coverage``.
    name : str
        A label for :func:`compare`.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the replicates; the result is the same
        without it. ``FASTEBM_PROGRESS=0`` turns every bar off.

    Returns
    -------
    ReplicationResult

    Notes
    -----
    With values v₁..v_R, v̄ and s (ddof=1): se(v̄) = s/√R; bias = v̄ - ref with the same
    error; MSE = mean (vᵣ - ref)², se = sd((vᵣ - ref)²)/√R; the interval is
    v̄ ± t_{R-1, (1+level)/2} s/√R. For a log Z estimator, E[log Ẑ] ≤ log Z (Jensen),
    so a negative bias of about -se²/2 is expected (docs/samplers/importance.md).

    Examples
    --------
    >>> import fastebm as fe
    >>> E = fe.Gaussian([0.0], covariance=[1.0])
    >>> est = fe.ImportanceEstimator(E, fe.proposals.Gaussian([0.0], [4.0]), 1000)
    >>> res = fe.replicate(est, 200, rng=0, reference=E.log_partition())
    >>> print(res.table())  # doctest: +SKIP
    """
    n_rep, reference = check_replicate(estimator, n_rep, reference, level)
    children = seed_sequence(rng).spawn(n_rep)
    with Bar(progress, n_rep, name or "replicate", unit="replicate") as bar:
        rows = run_replicates(estimator, children, 0, bar)
    return summarize_rows(rows, reference, level, name)


def check_replicate(estimator, n_rep, reference, level):
    """Validated (n_rep, reference) of a :func:`replicate` call."""
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    n_rep = int_at_least(n_rep, "n_rep", 2)
    if reference is not None:
        if isinstance(reference, bool) or not isinstance(reference, numbers.Real) \
                or not np.isfinite(reference):
            raise ValueError(f"reference must be a finite number, got {reference!r}")
        reference = float(reference)
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return n_rep, reference


def run_replicates(estimator, children, first, bar=NO_BAR):
    """(value, reported stderr, ESS) rows (R, 3) of the replicates on the streams
    ``children``; ``first`` is the index of the first (for error messages). With an
    active ``bar``, in blocks of replicates (each on its own stream, so the same rows)."""
    rows, lo = [], 0
    for length in blocks(len(children), bar):
        part, at = children[lo:lo + length], first + lo
        if isinstance(estimator, ImportanceEstimator):
            rows.append(np.stack(estimator._replicate(part, at), axis=1))
        else:
            rows.append(np.array([_value(estimator(rng=child), at + r)
                                  for r, child in enumerate(part)]).reshape(-1, 3))
        lo += length
        bar.update(length)
    return np.concatenate(rows) if rows else np.empty((0, 3))


def summarize_rows(rows, reference, level, name):
    """The ReplicationResult of replicate rows (R, 3)."""
    values, reported, ess = rows[:, 0], rows[:, 1], rows[:, 2]
    return summarize(values, reference=reference, level=level, name=name,
                     reported_stderr=None if np.all(np.isnan(reported)) else reported,
                     ess=None if np.all(np.isnan(ess)) else ess)


def summarize(values, *, reference=None, level=0.95, name="", reported_stderr=None, ess=None):
    """The :class:`ReplicationResult` of given replicate values (see :func:`replicate`)."""
    from scipy import stats
    values = np.asarray(values, dtype=np.float64)
    n_rep = values.shape[0]
    mean, std = float(values.mean()), float(values.std(ddof=1))
    stderr = std / np.sqrt(n_rep)
    m4 = float(np.mean((values - mean) ** 4))
    std_stderr = float(np.sqrt(max(m4 - std ** 4, 0.0) / n_rep) / (2 * std)) if std > 0 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, n_rep - 1)) * stderr
    extra = {}
    if reference is not None:
        sq = (values - reference) ** 2
        extra = dict(reference=reference, bias=mean - reference, bias_stderr=stderr,
                     mse=float(sq.mean()), mse_stderr=float(sq.std(ddof=1) / np.sqrt(n_rep)))
        if reported_stderr is not None:
            z = float(stats.norm.ppf(0.5 + level / 2))
            extra["coverage"] = float(np.mean(np.abs(values - reference) <= z * reported_stderr))
    return ReplicationResult(values, mean, std, stderr, std_stderr, (mean - half, mean + half),
                             float(level), reported_stderr=reported_stderr, ess=ess, name=name,
                             **extra)


def _fmt(value, se=None):
    if value is None:
        return "-"
    return f"{value:.4g}" if se is None else f"{value:.4g} ± {se:.2g}"


def compare(results, names=None):
    """A text table of several :class:`ReplicationResult` side by side, one row each.

    Parameters
    ----------
    results : sequence of ReplicationResult, or dict name → ReplicationResult
    names : sequence of str, optional
        Row labels (default: the results' ``name``, or the dict's keys).

    Returns
    -------
    str
        Columns: R, mean ± se, std ± se, bias ± se, MSE ± se, the confidence interval,
        the median reported stderr and the coverage (when known).
    """
    if isinstance(results, dict):
        names = list(results) if names is None else names
        results = list(results.values())
    results = list(results)
    if not results or not all(isinstance(r, ReplicationResult) for r in results):
        raise TypeError("results must be a non-empty sequence of ReplicationResult")
    names = [r.name or f"#{i}" for i, r in enumerate(results)] if names is None else list(names)
    header = ["estimator", "R", "mean", "std", "bias", "MSE",
              f"{results[0].level:.0%} CI of mean", "median stderr", "coverage"]
    rows = [header]
    for label, r in zip(names, results):
        rows.append([label, str(r.values.shape[0]), _fmt(r.mean, r.stderr),
                     _fmt(r.std, r.std_stderr), _fmt(r.bias, r.bias_stderr),
                     _fmt(r.mse, r.mse_stderr), f"[{r.mean_ci[0]:.4g}, {r.mean_ci[1]:.4g}]",
                     "-" if r.reported_stderr is None
                     else _fmt(float(np.median(r.reported_stderr))),
                     "-" if r.coverage is None else f"{r.coverage:.3f}"])
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
