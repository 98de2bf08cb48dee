"""Checks shared by the discrete-model test modules."""
import numpy as np

import fastebm as fe


def check_gibbs_streams(model, x0, seed):
    """The per-chain stream contract of ``fe.gibbs`` on ``model`` from ``x0`` (n ≥ 7
    chains): a chain's draws do not depend on the other chains, a continued run equals
    one long run, burn-in and thinning pick the long run's draws, ``keep="moments"``
    averages them, and a single start is chain 0. Returns the long run (20 sweeps)."""
    full = fe.gibbs(model, x0, 20, rng=seed)
    few = fe.gibbs(model, x0[:7], 20, rng=seed)
    np.testing.assert_array_equal(full.draws[:, :7], few.draws)
    first = fe.gibbs(model, x0, 10, rng=seed)
    second = fe.gibbs(model, first.state, 10)
    np.testing.assert_array_equal(np.concatenate([first.draws, second.draws]), full.draws)
    burned = fe.gibbs(model, x0, 10, burn_in=10, thin=5, rng=seed)
    np.testing.assert_array_equal(burned.draws, full.draws[[14, 19]])
    moments = fe.gibbs(model, x0, 10, burn_in=10, keep="moments", rng=seed)
    np.testing.assert_allclose(moments.mean, full.draws[10:].mean(0), atol=1e-12)
    single = fe.gibbs(model, x0[0], 20, rng=seed)
    np.testing.assert_array_equal(single.draws, full.draws[:, 0])
    return full
