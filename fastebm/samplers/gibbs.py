"""Gibbs sampling of discrete and latent-variable models: ``fe.gibbs``.

Each model gives the form its sweep takes (``model._gibbs_form()``), run by the backend's
``GibbsRunner`` through the driver the other samplers share: block Gibbs for RBMs, where
h | v and v | h are conditionally independent layers (seed 003), and the single-site or
checkerboard sweeps of Ising models. The API is the one of the other samplers: many
chains at once, each on its own Philox stream, ``burn_in``, ``thin``, ``keep``, and a
returned ``state`` that continues the same streams.
"""
from . import _common

GIBBS_MODELS = "an RBM or an Ising model"


def gibbs(model, x0, n_steps, *, burn_in=0, thin=1, keep="draws", rng=None, first_chain=None,
          progress=False):
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
    first_chain : int, optional
        The global index of row 0 (default 0): row r runs on the streams of chain
        first_chain + r, so a run of rows [a, b) with ``first_chain=a`` gives exactly
        those rows of the whole run. A ChainState brings its own.
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the sweeps. The results are bitwise the
        same with and without it; ``FASTEBM_PROGRESS=0`` turns every bar off.

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
    if not hasattr(model, "_gibbs_form"):
        raise TypeError(f"model must be {GIBBS_MODELS}, got {type(model).__name__}")
    start = _common.Chains(model, x0, rng, first_chain)
    n_steps, burn_in, thin = _common.check_run(n_steps, burn_in, thin, keep, None, False, start)
    runner = start.backend.runners.GibbsRunner(model, start.x, start.key, start.step,
                                               start.first_chain)
    return _common.run(start, runner, n_steps, burn_in, thin, keep, False, None, None,
                       progress, "gibbs", show_acceptance=False)
