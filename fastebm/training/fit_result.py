"""What every ``fe.fit`` path shares: the result record, the checks of its float
options, and the end of an epoch (progress bar, callback)."""
from dataclasses import dataclass, field

import numpy as np

from ..results import Record


@dataclass(frozen=True, eq=False)
class FitResult(Record):
    """A fitted model and its training history.

    Equal (``==``) to another when the models have the same class and parameters and
    the histories the same arrays (``fastebm.results.equal``); it pickles to an equal
    record.

    Attributes
    ----------
    model : Energy
        The model with the fitted parameters.
    history : dict of str → ndarray
        Per epoch: ``"epoch"`` (1, 2, …), ``"seconds"`` (cumulative training time, the
        monitors excluded), ``"reconstruction"`` (mean squared error of the mean-field
        reconstruction), ``"pseudo_likelihood"`` (mean Σᵢ log p(vᵢ | v₋ᵢ), Bernoulli RBMs)
        where monitored; ``"ais_epoch"``, ``"ais_log_likelihood"`` and
        ``"ais_stderr"`` for the epochs where AIS was run.
    """

    model: object
    history: dict = field(default_factory=dict)


def check_float(value, name, low, high=np.inf, low_open=False):
    """``value`` as a finite float in [low, high) (or (low, high) with ``low_open``)."""
    value = float(value)
    ok = (value > low if low_open else value >= low) and value < high and np.isfinite(value)
    if not ok:
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}), got {value}")
    return value


def end_of_epoch(epoch, model, history, bar, callback):
    """Move the progress ``bar`` by an epoch, showing the epoch's last scalar statistics
    (loss, reconstruction, ...), and call ``callback``; True means stop."""
    if bar.active:
        bar.update(1, **{name: float(values[-1]) for name, values in history.items()
                         if name not in ("epoch", "iteration", "seconds") and len(values)
                         and np.ndim(values[-1]) == 0})
    return bool(callback is not None and callback(epoch, model, history))
