"""Progress bars for long runs, through ``tqdm.auto`` (a widget in notebooks, text elsewhere).

Every long-running function takes ``progress=False``; with ``progress=True`` its
kernels run in blocks of steps (or of temperatures, draws, replicates, epochs) and the bar
moves after each block. A block is sized so that it takes about ``BLOCK_SECONDS``: the
first is short (1 % of the run), and the next ones follow the measured rate, so the extra
kernel calls cost well under 1 % of a run. Blocks never change results: a kernel call
continues the random streams, the adaptation state and the kept draws or running moments
of the previous one exactly, so a run gives bitwise the same numbers with and without a
bar (``tests/test_progress.py``). The environment variable ``FASTEBM_PROGRESS=0`` turns
every bar of a process off, for batch jobs whose logs bars would corrupt.
"""
import os
import time

import numpy as np

ENV_SWITCH = "FASTEBM_PROGRESS"
BLOCK_SECONDS = 0.25
FIRST_BLOCK_FRACTION = 0.01


def bars_allowed():
    """False when ``FASTEBM_PROGRESS`` is set to 0, false, no or off (any case)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def check_progress(progress):
    """``progress`` must be True or False."""
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {type(progress).__name__}")
    return bool(progress)


class Bar:
    """A tqdm bar over ``total`` units, or nothing (every method a no-op) when ``progress``
    is False or bars are switched off. Use as a context manager so that it closes."""

    def __init__(self, progress, total, desc, unit="step"):
        self.active = check_progress(progress) and bars_allowed()
        self._bar = None
        if self.active:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=int(total), desc=desc, unit=unit, dynamic_ncols=True,
                             leave=True)

    def update(self, n, **postfix):
        """Move by ``n`` units and show ``postfix`` (e.g. acceptance=0.57)."""
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix({k: f"{v:.3g}" if isinstance(v, float) else v
                                       for k, v in postfix.items()}, refresh=False)
            self._bar.update(int(n))

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


NO_BAR = Bar(False, 0, "")


def blocks(total, bar, multiple=1, seconds=None):
    """The lengths of the calls that ``total`` units run in: one call without an active
    ``bar``; else a first block of about 1 % of ``total``, then blocks sized by the
    measured rate to take about ``seconds`` each. Lengths are multiples of ``multiple``
    (a thinning interval) except the last, so the kept states fall where one call puts
    them. The caller runs each block between two iterations."""
    total = int(total)
    seconds = BLOCK_SECONDS if seconds is None else seconds
    if total <= 0:
        return
    if not bar.active:
        yield total
        return
    done = 0
    length = _round_up(max(1, int(total * FIRST_BLOCK_FRACTION)), multiple)
    while done < total:
        length = min(length, total - done)
        started = time.perf_counter()
        yield length
        elapsed = time.perf_counter() - started
        done += length
        per_unit = max(elapsed, 1e-9) / length
        length = _round_up(max(1, int(seconds / per_unit)), multiple)


def _round_up(n, multiple):
    return -(-n // multiple) * multiple
