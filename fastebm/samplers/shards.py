"""The burn-in of a run whose chains are cut into shards that run elsewhere
(``fastebm.dask``): one burn-in window of one shard, from a ``ChainState`` to the next.

A cluster drives ``adaptation.burn_in_windows`` itself: each window runs on every shard
(``shard_window``), the shards' chunk moments are merged into the pooled moments of all
chains (``adaptation.fold_moments``; shards start on chunk boundaries), and the new Σ goes
to every shard for the next window. Each chain's step size adapts on its own, so its
dual-averaging state travels with its shard. The numbers are those of one machine.
"""
import numpy as np

from . import _common
from .langevin import langevin_runner
from .metropolis import metropolis_runner

SAMPLERS = ("mala", "langevin", "metropolis")


def shard_runner(sampler, energy, state, step_size, inverse_mass, work):
    """The runner of ``sampler`` continuing ``state`` (a shard's ChainState) with the step
    sizes ``step_size`` and the preconditioner ``inverse_mass``; and its ``Start``."""
    start = _common.Start(energy, state, step_size, None,
                          step_name="scale" if sampler == "metropolis" else "step_size")
    if sampler == "metropolis":
        return start, metropolis_runner(energy, start, inverse_mass, work)
    return start, langevin_runner(energy, start, sampler == "mala", inverse_mass, work)


def shard_window(sampler, energy, state, length, step_size, adapt_state, kind, thin, chunk,
                 inverse_mass, work):
    """One burn-in window of ``length`` steps of a shard: (its new ChainState, its
    dual-averaging state (n, 5) or None, its divergent proposals (n,), and, for a metric
    window (``kind`` "diag" or "dense"), the moments of every ``thin``-th state by chunks
    of ``chunk`` chains (``runner.chunk_moments``), else None)."""
    start, runner = shard_runner(sampler, energy, state, step_size, inverse_mass, work)
    kept = runner.advance(length, start.step_size, adapt_state, keep_draws=kind is not None,
                          thin=thin)
    moments = None if kind is None else runner.chunk_moments(kept, kind, chunk)
    new_state = _common.chain_state(start, runner, np.array(start.step_size))
    return new_state, adapt_state, runner.n_divergent.copy(), moments


def shard_summary(window):
    """What the client needs of a ``shard_window`` result: all but the ChainState."""
    return window[1:]


def shard_state(window):
    """The ChainState of a ``shard_window`` result."""
    return window[0]


def shard_run(sampler, energy, state, step_size, inverse_mass, n_steps, thin, keep):
    """A shard's kept steps after the burn-in: the local sampler continuing its state with
    the frozen step sizes and Σ."""
    from dataclasses import replace
    from .langevin import langevin, mala
    from .metropolis import metropolis
    state = replace(state, step_size=np.asarray(step_size, dtype=np.float64),
                    inverse_mass=inverse_mass)
    if sampler == "metropolis":
        return metropolis(energy, state, n_steps, thin=thin, keep=keep)
    return (mala if sampler == "mala" else langevin)(energy, state, None, n_steps, thin=thin,
                                                     keep=keep)
