"""What every ``fe.fit`` path shares: the result record, the checks of its float
options, and the end of an epoch (progress line, callback)."""
import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FitResult:
    """A fitted model and its training history.

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


def end_of_epoch(epoch, model, history, progress, callback):
    """Print the epoch's line (``progress``) and call ``callback``; True means stop."""
    if progress:
        shown = {name: values[-1] for name, values in history.items()
                 if len(values) and np.ndim(values[-1]) == 0}
        print(" ".join(f"{n}={v:.4g}" for n, v in shown.items()), file=sys.stderr)
    return bool(callback is not None and callback(epoch, model, history))
