"""Gibbs sampling of discrete and latent-variable models: ``fe.gibbs``.

Each model brings its own sweep (``model._gibbs_sweeps``): block Gibbs for RBMs, where
h | v and v | h are conditionally independent layers (seed 003), and the single-site or
checkerboard sweeps of Ising models. The API is the one of the other samplers: many
chains at once, each on its own Philox stream, ``burn_in``, ``thin``, ``keep``, and a
returned ``state`` that continues the same streams.
"""
import numpy as np

from .._contract import RECORD_NONE
from .._rng import philox_key
from .._validation import choice, int_at_least
from ..results import ChainState, MCMCResult
from ._common import KEEP, MAX_STEPS, kept_output, record_buffers


def gibbs(model, x0, n_steps, *, burn_in=0, thin=1, keep="draws", rng=None):
    """Gibbs sampling of an RBM (block Gibbs) or an Ising model, all chains at once.

    Parameters
    ----------
    model : BernoulliRBM, GaussianBernoulliRBM or Ising
    x0 : array_like of shape (n_chains, d) or (d,), or ChainState
        Starting visible states (0/1 for a Bernoulli RBM, ±1 spins for Ising, reals for a
        Gaussian-Bernoulli RBM), or the ``state`` of an earlier run to continue it.
    n_steps : int
        Number of kept sweeps (after ``burn_in``).
    burn_in, thin : int
        Sweeps discarded first; keep every ``thin``-th sweep.
    keep : {"draws", "moments"}
        Store the draws (n_steps // thin, n_chains, d), or per-chain running means and
        variances only.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    MCMCResult
        ``draws`` (visible states), ``acceptance_rate`` (1: Gibbs always moves),
        ``n_divergent`` (0), ``state`` (continue with ``gibbs(model, result.state, ...)``).

    Notes
    -----
    An RBM sweep draws h ~ p(h | v) then v ~ p(v | h), sweep t of chain i on the Philox
    streams (i, t, hidden/visible tag), so chain i does not depend on how many chains
    run nor on the number of threads. Both conditional draws leave p(v, h) invariant,
    hence the sweep leaves p(v) invariant (checked exactly, πP = π, in the tests).
    """
    if not hasattr(model, "_gibbs_sweeps"):
        raise TypeError(f"model must be an RBM or an Ising model, got {type(model).__name__}")
    if isinstance(x0, ChainState):
        if rng is not None:
            raise ValueError("rng must be None when x0 is a ChainState: the state carries its "
                             "own random streams")
        x, single, _ = model._points(x0.position, "x0")
        key, step, dtype = x0.key, x0.step, x0.dtype
    else:
        x, single, dtype = model._points(x0, "x0")
        key, step = philox_key(rng), 0
    x = x.copy()
    n_steps = int_at_least(n_steps, "n_steps", 0)
    burn_in = int_at_least(burn_in, "burn_in", 0)
    thin = int_at_least(thin, "thin", 1)
    choice(keep, "keep", KEEP)
    if step + burn_in + n_steps > MAX_STEPS:
        raise ValueError(f"a run may take at most {MAX_STEPS} sweeps in all (burn-in included)")
    n_chains, dim = x.shape
    if burn_in:
        _, draws, mean, m2 = record_buffers(0, 1, n_chains, dim, False, False)
        model._gibbs_sweeps(x, burn_in, step, key, 1, RECORD_NONE, draws, mean, m2)
        step += burn_in
    record, draws, mean, m2 = record_buffers(n_steps, thin, n_chains, dim, keep == "draws",
                                             keep == "moments")
    model._gibbs_sweeps(x, n_steps, step, key, thin, record, draws, mean, m2)
    step += n_steps
    kept = kept_output(keep == "draws", keep == "moments", draws, mean, m2)
    n_draws = n_steps // thin
    state = ChainState((x[0] if single else x).copy(), key, step, np.zeros(0),
                       dtype=np.dtype(dtype))
    out_draws = mean_out = variance = None
    if keep == "draws":
        out_draws = (kept[:, 0] if single else kept).astype(dtype, copy=False)
    elif n_draws:
        mean_out, variance = kept[0].astype(dtype), (kept[1] / n_draws).astype(dtype)
        if single:
            mean_out, variance = mean_out[0], variance[0]
    ones, zeros = np.ones(n_chains), np.zeros(n_chains, dtype=np.int64)
    if single:
        ones, zeros = 1.0, 0
    return MCMCResult(out_draws, ones, zeros, None, state, mean_out, variance)
