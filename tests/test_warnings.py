"""The warnings about runs whose numbers should not be trusted as they are: each raised
where it should be, and not raised by a sound run of the same kind (the suite turns any
warning into an error, so a sound run that warned would fail)."""
import warnings

import numpy as np
import pytest

import fastebm as fe

E = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
X0 = np.zeros((200, 2))


def test_mala_with_a_huge_step_warns_and_a_tuned_one_does_not():
    with pytest.warns(fe.LowAcceptanceWarning, match="MALA"):
        fe.mala(E, X0, 1e4, 50, rng=0)
    fe.mala(E, X0, 1e4, 50, burn_in=200, adapt=True, rng=0)  # adapted: no warning


def test_random_walk_and_independent_proposal_warn():
    with pytest.warns(fe.LowAcceptanceWarning, match="random walk"):
        fe.metropolis(E, X0, 50, scale=1e4, rng=0)
    far = fe.proposals.Gaussian(np.full(2, 30.0), np.full(2, 0.01))
    with pytest.warns(fe.LowAcceptanceWarning, match="independent"):
        fe.metropolis(E, X0, 50, proposal=far, rng=0)
    fe.metropolis(E, X0, 50, scale=1.5, rng=0)


def test_importance_weights_of_a_missing_proposal_warn():
    off = fe.proposals.Gaussian(np.full(2, 3.0), np.full(2, 0.3))
    with pytest.warns(fe.LowESSWarning, match="effective sample size"):
        fe.importance_sample(E, off, 5000, rng=0)
    with pytest.warns(fe.LowESSWarning):
        fe.importance_resample(E, off, 5000, rng=0)
    fe.importance_sample(E, fe.proposals.Gaussian(np.zeros(2), np.full(2, 2.0)), 5000, rng=0)


def test_short_runs_do_not_warn():
    """0 accepted of 50 proposals can be chance: only runs of 1000 proposals or more warn."""
    fe.mala(E, X0[:10], 1e4, 5, rng=0)


def test_warnings_can_be_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", fe.LowAcceptanceWarning)
        with pytest.raises(fe.LowAcceptanceWarning):
            fe.mala(E, X0, 1e4, 20, rng=0)


def test_float16_input_is_refused():
    with pytest.raises(TypeError, match="float16"):
        fe.mala(E, X0.astype(np.float16), 0.1, 5, rng=0)
    with pytest.raises(TypeError, match="float16"):
        E.energy(X0.astype(np.float16))
