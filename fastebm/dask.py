"""The public samplers and estimators over a Dask cluster, with one machine's results.

    from dask.distributed import Client
    import fastebm.dask
    client = Client()                       # a LocalCluster, or Client("tcp://host:8786")
    result = fastebm.dask.mala(client, E, x0, 0.1, 1000, rng=0)

Each function takes the client first, then the arguments of its local namesake
(``fastebm.mala`` and so on), plus ``chains_per_task``. The chains are cut into shards
[a, b) of ``chains_per_task`` rows; each shard runs on a worker as the local function
with ``first_chain=a`` and the run's key, so its rows are exactly rows [a, b) of the
run on one machine (every chain has its own Philox stream keyed by its global index);
the client concatenates them. Hence, for the same ``rng``, the result equals the local
one bitwise: draws, states, acceptance, step sizes (adapted per chain), per-chain
moments, log weights, and log Z with its standard error, computed from all the weights
as the local function does. A ``state`` continues on the cluster or on one machine.

Identity holds on workers of one CPU type. On another type, OpenBLAS, NumPy's SIMD
loops and glibc's libm pick other code and may round the last bits differently; start
every worker (and a local process to compare with) in the portable mode
(``fastebm.portable``: the environment ``portable_environment()`` in a worker's job
script, or ``fastebm.portable.local_cluster()``), and a mixed cluster runs the same code
everywhere.

A pooled preconditioner (``precondition="diag"`` or ``"dense"``, estimated from all
chains in each burn-in window) is a reduction per window: the client drives the
burn-in's windows, each a task per shard, merges the shards' chunk moments into the
pooled moments of all chains (shards are cut on the chunks, so Σ is bitwise one
machine's) and sends Σ to every shard for the next window. ``fit`` has no cluster version
yet.

Every function takes ``progress=False``; with True a bar (``tqdm.auto``) moves as the
tasks finish, by the chains (draws, replicates) each held.

Install with ``pip install fastebm[dask]``.
"""
import dataclasses
import math

import numpy as np

from . import estimators as _estimators
from ._rng import PhiloxKey, philox_key
from ._validation import choice, int_at_least
from .diagnostics import log_z_stderr, weights_ess
from .portable import environment as portable_environment  # noqa: F401  (re-exported)
from .progress import Bar
from .proposals import Proposal
from .resampling import log_mean_exp
from .results import ChainState, ImportanceResult, LogZEstimate, MCMCResult

try:
    import distributed
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("fastebm.dask needs Dask's distributed scheduler: "
                      "pip install 'fastebm[dask]' (or dask[distributed])") from exc

MIN_CHAINS_PER_TASK = 256
"""A task should hold a block of chains, never a few: Dask costs about 1 ms a task."""
TASKS_PER_THREAD = 2


def _check_client(client):
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")


def _shards(client, n, chains_per_task, min_rows=1):
    """[(a, b)] cutting n rows into tasks: ``chains_per_task`` rows each (default: enough
    tasks for ``TASKS_PER_THREAD`` per worker thread, at least ``MIN_CHAINS_PER_TASK``); a
    last shard of fewer than ``min_rows`` rows joins the one before."""
    if chains_per_task is None:
        threads = max(1, sum(client.nthreads().values()))
        chains_per_task = max(MIN_CHAINS_PER_TASK, math.ceil(n / (TASKS_PER_THREAD * threads)))
    size = int_at_least(chains_per_task, "chains_per_task", min_rows)
    bounds = [(a, min(n, a + size)) for a in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_rows:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _rows(value, a, b, n):
    """Rows [a, b) of a per-chain array (length n), or the value itself when shared."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
        return value[a:b]
    return value


def _state_rows(state, a, b):
    """The ChainState of rows [a, b) of ``state`` (global chains first_chain + a, ...)."""
    n = state.position.shape[0]
    return ChainState(state.position[a:b], state.key, state.step,
                      _rows(state.step_size, a, b, n), state.inverse_mass,
                      None if state.diverged is None else state.diverged[a:b],
                      None if state.energy_start is None else state.energy_start[a:b],
                      state.dtype, state.first_chain + a)


def _concat(values, axis=0):
    return None if values[0] is None else np.concatenate(values, axis=axis)


def _merge_mcmc(results):
    """One MCMCResult from the shards' results, in row order (everything per chain is
    concatenated; the key, step and preconditioner are the run's)."""
    first = results[0]
    states = [r.state for r in results]
    state = ChainState(np.concatenate([s.position for s in states]), first.state.key,
                       first.state.step, np.concatenate([s.step_size for s in states]),
                       first.state.inverse_mass, _concat([s.diverged for s in states]),
                       _concat([s.energy_start for s in states]), first.state.dtype,
                       first.state.first_chain)
    step_size = None if first.step_size is None else _concat([r.step_size for r in results])
    return MCMCResult(_concat([r.draws for r in results], axis=1),
                      np.concatenate([r.acceptance_rate for r in results]),
                      np.concatenate([r.n_divergent for r in results]), step_size, state,
                      _concat([r.mean for r in results]), _concat([r.variance for r in results]),
                      first.inverse_mass)


def _without_draws(result):
    """(the shard's result with its draws left out, their shape and dtype): what travels
    back when the draws stay on the worker."""
    return dataclasses.replace(result, draws=None), result.draws.shape, result.draws.dtype


def _draws_of(result):
    return result.draws


def _dask_draws(client, futures, shapes):
    """The shards' draws as one ``dask.array`` (n_draws, n_chains, d), a chunk per shard,
    computed on (and left with) the workers."""
    import dask.array as da
    chunks = [da.from_delayed(client.submit(_draws_of, future, pure=False), shape=shape,
                              dtype=dtype) for future, (shape, dtype) in zip(futures, shapes)]
    return da.concatenate(chunks, axis=1)


def _run_mcmc(client, local, model, x0, per_chain, shared, rng, first_chain,
              chains_per_task, draws="gather", progress=False, desc="sampling"):
    """Submit ``local(model, x0 rows, *per_chain rows, **shared)`` per shard and merge."""
    _check_client(client)
    choice(draws, "draws", ("gather", "dask"))
    if isinstance(x0, ChainState):
        if rng is not None or first_chain is not None:
            raise ValueError("rng and first_chain must be None when x0 is a ChainState: the "
                             "state carries its own streams and chain indices")
        n = x0.position.shape[0]
        bounds = _shards(client, n, chains_per_task)
        starts = [(_state_rows(x0, a, b), {}) for a, b in bounds]
    else:
        x0 = np.asarray(x0)
        if x0.ndim != 2:
            raise ValueError("fastebm.dask runs many chains: x0 must have shape (n_chains, d), "
                             f"got {x0.shape}")
        n = x0.shape[0]
        bounds = _shards(client, n, chains_per_task)
        key = PhiloxKey(philox_key(rng))
        offset = 0 if first_chain is None else int_at_least(first_chain, "first_chain", 0)
        starts = [(x0[a:b], {"rng": key, "first_chain": offset + a}) for a, b in bounds]
    per_chain = [np.asarray(v) if np.ndim(v) >= 1 else v for v in per_chain]
    futures = [client.submit(local, model, start, *[_rows(v, a, b, n) for v in per_chain],
                             **shared, **streams, pure=False)
               for (start, streams), (a, b) in zip(starts, bounds)]
    return _collect(client, futures, bounds, draws, shared.get("keep"), progress, desc)


def _collect(client, futures, bounds, draws, keep, progress, desc):
    """One MCMCResult from the shards' result futures: gathered, or with ``draws="dask"``
    the draws left on the workers as a dask.array."""
    sizes = [b - a for a, b in bounds]
    if draws == "gather" or keep == "moments":
        return _merge_mcmc(_gather(client, futures, sizes, progress, desc))
    parts = _gather(client, [client.submit(_without_draws, f, pure=False) for f in futures],
                    sizes, progress, desc)
    merged = _merge_mcmc([p[0] for p in parts])
    return dataclasses.replace(merged, draws=_dask_draws(client, futures,
                                                         [p[1:] for p in parts]))


def _gather(client, futures, sizes, progress, desc, unit="chain"):
    """``client.gather(futures)``; with ``progress`` a bar (``tqdm.auto``) moves by each
    task's ``sizes`` entry as the task finishes, in whatever order the tasks finish."""
    with Bar(progress, sum(sizes), desc, unit=unit) as bar:
        if bar.active:
            size_of = {f.key: n for f, n in zip(futures, sizes)}
            for future in distributed.as_completed(futures):
                bar.update(size_of[future.key])
    return client.gather(futures)


class _ShardWindows:
    """``adaptation.burn_in_windows``'s chains on a cluster: the shards' ChainStates stay on
    the workers as futures; each window is a task per shard, and only the dual-averaging
    states, divergence counts and chunk moments travel to the client."""

    def __init__(self, client, sampler, energy, states, bounds, n_chains, dim, inverse_mass,
                 work, bar):
        self.client, self.sampler, self.energy = client, sampler, energy
        self.states, self.bounds, self.work, self.bar = states, bounds, work, bar
        self.n_chains, self.dim, self.inverse_mass = n_chains, dim, inverse_mass
        self.n_divergent = np.zeros(n_chains, dtype=np.int64)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass

    def window(self, length, step_size, adapt_state, kind, thin):
        from .samplers.adaptation import fold_moments, moment_chunk
        from .samplers.shards import shard_state, shard_summary, shard_window
        chunk = moment_chunk(self.n_chains)
        submit = self.client.submit
        windows = [submit(shard_window, self.sampler, self.energy, state, length, step_size[a:b],
                          None if adapt_state is None else adapt_state[a:b], kind, thin, chunk,
                          self.inverse_mass, self.work, pure=False)
                   for state, (a, b) in zip(self.states, self.bounds)]
        self.states = [submit(shard_state, w, pure=False) for w in windows]
        summaries = self.client.gather([submit(shard_summary, w, pure=False) for w in windows])
        for (a, b), (adapted, n_divergent, _) in zip(self.bounds, summaries):
            if adapt_state is not None:
                adapt_state[a:b] = adapted
            self.n_divergent[a:b] += n_divergent
        self.bar.update(length)
        if kind is None:
            return None
        return fold_moments(*(np.concatenate(part) for part in zip(*(s[2] for s in summaries))))


def _pooled_run(client, sampler, energy, x0, step_size, n_steps, *, burn_in, thin, adapt,
                precondition, keep, rng, first_chain, chains_per_task, draws, progress):
    """A run whose preconditioner is estimated from all chains in each burn-in window
    (``precondition="diag"`` or ``"dense"``): the burn-in's windows driven from the client
    (``_ShardWindows``, shards cut on the chunks of the pooled moments), then each shard's
    kept steps from its state, frozen step sizes and Σ; the result of one machine."""
    from .progress import Bar
    from .samplers import _common
    from .samplers.adaptation import burn_in_windows, moment_chunk
    from .samplers.shards import shard_run
    _check_client(client)
    choice(draws, "draws", ("gather", "dask"))
    start = _common.Start(energy, x0, step_size, rng, first_chain=first_chain,
                          step_name="scale" if sampler == "metropolis" else "step_size")
    if start.single:
        raise ValueError("fastebm.dask runs many chains: x0 must have shape (n_chains, d), got "
                         f"{np.shape(x0)}")
    precondition, _ = _common.check_inverse_mass(precondition, start.dim)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, precondition, adapt,
                                               start)
    n, chunk = start.n_chains, moment_chunk(start.n_chains)
    size = _shards(client, n, chains_per_task)[0][1]
    size = chunk * -(-size // chunk)  # shards start on chunk boundaries
    bounds = [(a, min(n, a + size)) for a in range(0, n, size)]
    whole = ChainState(start.x, start.key, start.step, start.step_size, start.inverse_mass,
                       start.diverged, start.energy_start, np.dtype(start.dtype),
                       start.first_chain)
    # hash=False: a new key per call (a hashed key, the same for the same rows, could be
    # released by the previous call's futures while this call uses it)
    states = [client.scatter(_state_rows(whole, a, b), hash=False) for a, b in bounds]
    with Bar(progress, burn_in, f"{sampler} burn-in") as bar:
        chains = _ShardWindows(client, sampler, energy, states, bounds, n, start.dim,
                               start.inverse_mass, n * (burn_in + n_steps), bar)
        frozen, inverse_mass = burn_in_windows(chains, burn_in, start.step_size, adapt=adapt,
                                               precondition=precondition)
    futures = [client.submit(shard_run, sampler, energy, state, frozen[a:b], inverse_mass,
                             n_steps, thin, keep, pure=False)
               for state, (a, b) in zip(chains.states, bounds)]
    result = _collect(client, futures, bounds, draws, keep, progress, sampler)
    return dataclasses.replace(result, n_divergent=result.n_divergent + chains.n_divergent)


def mala(client, energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
         precondition=None, keep="draws", rng=None, first_chain=None, chains_per_task=None,
         draws="gather", progress=False):
    """:func:`fastebm.mala` on a Dask cluster, the chains cut into tasks (module docstring).

    ``draws="dask"`` leaves the kept draws on the workers: ``result.draws`` is then a
    ``dask.array`` of shape (n_draws, n_chains, d) with a chunk per task (the same numbers
    as the gathered draws once computed), and only the per-chain summaries travel."""
    if isinstance(precondition, str):
        return _pooled_run(client, "mala", energy, x0, step_size, n_steps, burn_in=burn_in,
                           thin=thin, adapt=adapt, precondition=precondition, keep=keep,
                           rng=rng, first_chain=first_chain, chains_per_task=chains_per_task,
                           draws=draws, progress=progress)
    from .samplers.langevin import mala as local
    return _run_mcmc(client, local, energy, x0, [step_size, n_steps],
                     dict(burn_in=burn_in, thin=thin, adapt=adapt, precondition=precondition,
                          keep=keep), rng, first_chain, chains_per_task, draws, progress, "mala")


def langevin(client, energy, x0, step_size, n_steps, *, burn_in=0, thin=1, adapt=False,
             precondition=None, keep="draws", rng=None, first_chain=None,
             chains_per_task=None, draws="gather", progress=False):
    """:func:`fastebm.langevin` on a Dask cluster (module docstring; ``draws`` as for
    :func:`mala`)."""
    if isinstance(precondition, str):
        return _pooled_run(client, "langevin", energy, x0, step_size, n_steps, burn_in=burn_in,
                           thin=thin, adapt=adapt, precondition=precondition, keep=keep,
                           rng=rng, first_chain=first_chain, chains_per_task=chains_per_task,
                           draws=draws, progress=progress)
    from .samplers.langevin import langevin as local
    return _run_mcmc(client, local, energy, x0, [step_size, n_steps],
                     dict(burn_in=burn_in, thin=thin, adapt=adapt, precondition=precondition,
                          keep=keep), rng, first_chain, chains_per_task, draws, progress, "langevin")


def metropolis(client, energy, x0, n_steps, *, scale=None, proposal=None, burn_in=0, thin=1,
               adapt=False, precondition=None, keep="draws", rng=None, first_chain=None,
               chains_per_task=None, draws="gather", progress=False):
    """:func:`fastebm.metropolis` on a Dask cluster (module docstring; ``draws`` as for
    :func:`mala`)."""
    if isinstance(precondition, str):
        if proposal is not None:
            raise ValueError("adapt and precondition apply to the random walk only, not to "
                             "an independent proposal")
        if scale is None and not isinstance(x0, ChainState):  # as fe.metropolis
            scale = 1.0
        return _pooled_run(client, "metropolis", energy, x0, scale,
                           n_steps, burn_in=burn_in, thin=thin, adapt=adapt,
                           precondition=precondition, keep=keep, rng=rng,
                           first_chain=first_chain, chains_per_task=chains_per_task,
                           draws=draws, progress=progress)
    from .samplers.metropolis import metropolis as local
    return _run_mcmc(client, local, energy, x0, [n_steps],
                     dict(scale=scale, proposal=proposal, burn_in=burn_in, thin=thin,
                          adapt=adapt, precondition=precondition, keep=keep),
                     rng, first_chain, chains_per_task, draws, progress, "metropolis")


def gibbs(client, model, x0, n_steps, *, burn_in=0, thin=1, keep="draws", rng=None,
          first_chain=None, chains_per_task=None, draws="gather", progress=False):
    """:func:`fastebm.gibbs` on a Dask cluster (module docstring; ``draws`` as for
    :func:`mala`)."""
    from .samplers.gibbs import gibbs as local
    return _run_mcmc(client, local, model, x0, [n_steps],
                     dict(burn_in=burn_in, thin=thin, keep=keep), rng, first_chain,
                     chains_per_task, draws, progress, "gibbs")


def importance_sample(client, energy, proposal, n, *, rng=None, first_chain=None,
                      chains_per_task=None, progress=False):
    """:func:`fastebm.importance_sample` on a Dask cluster: draw i of the run is drawn by
    the task holding it; log Z, its standard error and the ESS from all the weights."""
    _check_client(client)
    from .samplers.importance import _check, _weighted
    n = _check(energy, proposal, n)
    proposal._kernel_params()  # the workers run the CPU kernels: a CuPy proposal is refused
    key = philox_key(rng)
    offset = 0 if first_chain is None else int_at_least(first_chain, "first_chain", 0)
    bounds = _shards(client, n, chains_per_task, min_rows=2)
    futures = [client.submit(_weighted, energy, proposal, b - a, key, offset + a, pure=False)
               for a, b in bounds]
    parts = _gather(client, futures, [b - a for a, b in bounds], progress, "importance",
                    unit="draw")
    draws = np.concatenate([p[0] for p in parts])
    log_weights = np.concatenate([p[1] for p in parts])
    return ImportanceResult(draws, log_weights, float(log_mean_exp(log_weights)),
                            log_z_stderr(log_weights), float(weights_ess(log_weights)))


def ais(client, energy, base, n_chains, n_temperatures=None, *, chains_per_task=None,
        rng=None, first_chain=None, progress=False, **options):
    """:func:`fastebm.ais` on a Dask cluster: each task anneals its shard of the chains
    (an adaptive schedule is found by each task from the same pilot chains, so every
    task uses the same temperatures); log Z and its error from all the log weights.
    ``options`` are those of :func:`fastebm.ais`."""
    _check_client(client)
    n_chains = int_at_least(n_chains, "n_chains", 2)
    key = PhiloxKey(philox_key(rng))
    offset = 0 if first_chain is None else int_at_least(first_chain, "first_chain", 0)
    bounds = _shards(client, n_chains, chains_per_task, min_rows=2)
    futures = [client.submit(_estimators.ais, energy, base, b - a, n_temperatures, rng=key,
                             first_chain=offset + a, pure=False, **options)
               for a, b in bounds]
    parts = _gather(client, futures, [b - a for a, b in bounds], progress, "ais")
    # as fe.ais: a discrete model (or an RBM without a proposal) anneals its own path,
    # from a known log Z₀
    own_path = getattr(type(energy), "is_discrete", False) or (
        hasattr(energy, "_ais_form") and not isinstance(base, Proposal))
    log_z0 = energy._ais_form(base)[1] if own_path else None
    return _merge_log_z(parts, lambda log_mean: (log_mean if log_z0 is None
                                                 else float(log_z0 + log_mean)))


def reverse_ais(client, energy, base, x_target, n_temperatures=None, *, chains_per_task=None,
                rng=None, first_chain=None, progress=False, **options):
    """:func:`fastebm.reverse_ais` on a Dask cluster: each task anneals its rows of
    ``x_target`` backwards; the upper bound log Ẑ = -log mean(w) and its error from all
    the log weights. ``options`` are those of :func:`fastebm.reverse_ais`."""
    _check_client(client)
    x_target = np.asarray(x_target)
    if x_target.ndim != 2:
        raise ValueError("x_target must have shape (n_chains, d), got "
                         f"{x_target.shape}")
    key = PhiloxKey(philox_key(rng))
    offset = 0 if first_chain is None else int_at_least(first_chain, "first_chain", 0)
    bounds = _shards(client, x_target.shape[0], chains_per_task, min_rows=2)
    futures = [client.submit(_estimators.reverse_ais, energy, base, x_target[a:b],
                             n_temperatures, rng=key, first_chain=offset + a, pure=False,
                             **options)
               for a, b in bounds]
    return _merge_log_z(_gather(client, futures, [b - a for a, b in bounds], progress,
                                "reverse ais"), lambda log_mean: -log_mean)


def _merge_log_z(parts, log_z_of):
    """One LogZEstimate from the shards' ones: the per-chain arrays concatenated, and
    log Z (``log_z_of(log mean(w))``), its standard error and the ESS from all weights;
    the schedule and its steps are every shard's."""
    first = parts[0]
    log_w = np.concatenate([p.log_weights for p in parts])
    acceptance = (None if first.acceptance_rate is None
                  else np.concatenate([p.acceptance_rate for p in parts]))
    n_divergent = (None if first.n_divergent is None
                   else np.concatenate([p.n_divergent for p in parts]))
    return LogZEstimate(log_z_of(float(log_mean_exp(log_w))), log_z_stderr(log_w), log_w,
                        float(weights_ess(log_w)), first.method, first.bound, acceptance,
                        first.temperatures, first.biased, n_divergent, first.step_size,
                        first.n_steps_per_temperature)


def replicate(client, estimator, n_rep, *, rng=None, reference=None, level=0.95, name="",
              replicates_per_task=None, progress=False):
    """:func:`fastebm.replicate` on a Dask cluster: replicate r runs on the r-th stream
    spawned from ``rng`` (as locally), the tasks taking ``replicates_per_task`` each; the
    summary is computed from all the replicates, so it equals the local one."""
    from .estimators.replicate import check_replicate, run_replicates, summarize_rows
    from ._rng import seed_sequence
    _check_client(client)
    n_rep, reference = check_replicate(estimator, n_rep, reference, level)
    children = seed_sequence(rng).spawn(n_rep)
    bounds = _shards(client, n_rep, replicates_per_task, min_rows=1)
    futures = [client.submit(run_replicates, estimator, children[a:b], a, pure=False)
               for a, b in bounds]
    rows = _gather(client, futures, [b - a for a, b in bounds], progress, name or "replicate",
                   unit="replicate")
    return summarize_rows(np.concatenate(rows), reference, level, name)
