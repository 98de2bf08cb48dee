"""A runner's steps in blocks, so that a progress bar can move between kernel calls.

``advance`` is ``runner.advance`` split into the blocks of ``fastebm.progress.blocks``:
the kept draws go into one buffer at their slots, and the running moments continue from
the states already in them (the runner protocol's ``into``), so the result is bitwise
that of one call. Without an active bar it is exactly one call.
"""
import numpy as np

from ..progress import NO_BAR, blocks


def advance(runner, n_steps, step_size, adapt_state=None, *, keep_draws=False,
            keep_moments=False, thin=1, bar=NO_BAR, accepted_over=None):
    """Take ``n_steps`` steps through ``runner`` in blocks; returns what one
    ``runner.advance`` call returns. After each block the bar moves and, with
    ``accepted_over`` (the steps ``runner.n_accepted`` counts so far, before this call),
    shows the mean acceptance rate."""
    if not bar.active:
        return runner.advance(n_steps, step_size, adapt_state, keep_draws=keep_draws,
                              keep_moments=keep_moments, thin=thin)
    into, out, kept = None, None, 0
    if keep_draws:
        out = np.empty_like(runner.x, shape=(n_steps // thin, runner.n_chains, runner.dim),
                            dtype=runner.x.dtype, order="C")  # the CUDA runners' x is a view
        into = (out, 0)
    done = 0
    for length in blocks(n_steps, bar, multiple=thin):
        result = runner.advance(length, step_size, adapt_state, keep_draws=keep_draws,
                                keep_moments=keep_moments, thin=thin, into=into)
        done += length
        kept += length // thin
        if keep_draws:
            into = (out, kept)
        elif keep_moments:
            out, into = result, (result, kept)
        postfix = {}
        if accepted_over is not None:
            postfix["acceptance"] = float(runner.n_accepted.sum()) / max(
                1, runner.n_chains * (accepted_over + done))
        bar.update(length, **postfix)
    return out if (keep_draws or keep_moments) else None
