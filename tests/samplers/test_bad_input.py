"""Bad input raises a named error before any compiled code runs (TESTING.md)."""
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fastebm as fe

ENERGY = fe.Gaussian(np.zeros(2), precision=np.eye(2))
X0 = np.zeros((3, 2))
CALLS = {
    "mala": lambda **kw: fe.mala(ENERGY, kw.pop("x0", X0), kw.pop("step_size", 0.1),
                                 kw.pop("n_steps", 5), **kw),
    "langevin": lambda **kw: fe.langevin(ENERGY, kw.pop("x0", X0), kw.pop("step_size", 0.1),
                                         kw.pop("n_steps", 5), **kw),
    "metropolis": lambda **kw: fe.metropolis(ENERGY, kw.pop("x0", X0), kw.pop("n_steps", 5),
                                             scale=kw.pop("step_size", 0.1), **kw),
}
BAD = [
    ({"x0": np.array([[0.0, np.nan]])}, ValueError, "x0"),
    ({"x0": np.array([[0.0, np.inf]])}, ValueError, "x0"),
    ({"x0": np.zeros((3, 3))}, ValueError, "x0"),
    ({"x0": np.zeros((2, 2, 2))}, ValueError, "x0"),
    ({"x0": "start"}, TypeError, "x0"),
    ({"step_size": 0.0}, ValueError, "(step_size|scale)"),
    ({"step_size": -1.0}, ValueError, "(step_size|scale)"),
    ({"step_size": np.nan}, ValueError, "(step_size|scale)"),
    ({"step_size": np.inf}, ValueError, "(step_size|scale)"),
    ({"step_size": "big"}, TypeError, "(step_size|scale)"),
    ({"step_size": np.ones(4)}, ValueError, "(step_size|scale)"),
    ({"n_steps": -1}, ValueError, "n_steps"),
    ({"n_steps": 2.5}, TypeError, "n_steps"),
    ({"burn_in": -3}, ValueError, "burn_in"),
    ({"burn_in": 1.0}, TypeError, "burn_in"),
    ({"thin": 0}, ValueError, "thin"),
    ({"thin": True}, TypeError, "thin"),
    ({"keep": "everything"}, ValueError, "keep"),
    ({"precondition": "full"}, ValueError, "precondition"),
    ({"precondition": np.array([[1.0, 2.0], [2.0, 1.0]])}, ValueError, "precondition"),
    ({"precondition": np.array([1.0, -1.0])}, ValueError, "precondition"),
    ({"rng": -5}, ValueError, "rng"),
    ({"adapt": "yes", "burn_in": 10}, TypeError, "adapt"),
    ({"rng": "seed"}, TypeError, "rng"),
]


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("kwargs,error,match", BAD)
def test_bad_argument_raises_named_error(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        CALLS[name](**dict(kwargs))


def _nan_energy(x):
    return np.nan if x[0] > 0 else 0.5 * x[0] ** 2


def _inf_energy(x):
    return np.inf


@pytest.mark.parametrize("sampler", ["mala", "metropolis"])
def test_energy_nan_or_inf_at_start(sampler):
    nan_energy = fe.energy(_nan_energy, dim=1)
    inf_energy = fe.energy(_inf_energy, dim=1)
    run = {"mala": lambda E, x0: fe.mala(E, x0, 0.1, 2),
           "metropolis": lambda E, x0: fe.metropolis(E, x0, 2)}[sampler]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fe.FiniteDifferenceWarning)
        with pytest.raises(ValueError, match="NaN at x0"):
            run(nan_energy, np.array([[1.0], [-1.0]]))
        with pytest.raises(ValueError, match=r"\+inf at x0 for every chain"):
            run(inf_energy, np.array([[1.0], [-1.0]]))


def test_nan_or_inf_proposals_are_rejected_and_counted():
    def walled(x):
        return np.inf if x[0] > 1.0 else (np.nan if x[0] < -1.0 else 0.0)
    result = fe.metropolis(fe.energy(walled, dim=1), np.zeros((50, 1)), 200, scale=1.0, rng=0)
    assert np.all(np.abs(result.draws) <= 1.0)
    assert np.all(result.n_divergent > 0)


def test_continuing_state_with_rng_is_an_error():
    first = fe.mala(ENERGY, X0, 0.1, 2, rng=0)
    with pytest.raises(ValueError, match="rng"):
        fe.mala(ENERGY, first.state, None, 2, rng=1)
    with pytest.raises(TypeError, match="step_size"):
        fe.mala(ENERGY, X0, None, 2)


def test_independent_proposal_checks():
    q = fe.proposals.Gaussian([0.0, 0.0], np.eye(2))
    with pytest.raises(TypeError, match="proposal"):
        fe.metropolis(ENERGY, X0, 2, proposal="normal")
    with pytest.raises(ValueError, match="dimension"):
        fe.metropolis(ENERGY, X0, 2, proposal=fe.proposals.Gaussian([0.0], [1.0]))
    with pytest.raises(ValueError, match="random walk only"):
        fe.metropolis(ENERGY, X0, 2, proposal=q, adapt=True)


@settings(max_examples=40, deadline=None)
@given(n_chains=st.integers(0, 3), dim=st.integers(0, 3),
       dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128]),
       step=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)),
       n_steps=st.one_of(st.integers(-2, 3), st.floats(-1, 3)))
# a step whose proposal overflows: inf and a rejection, compiled or (NUMBA_DISABLE_JIT=1)
# interpreted, where NumPy scalars warned (an error under pytest) before the kernels ran
# with NumPy's warnings off
@example(n_chains=1, dim=2, dtype=np.float64, step=4.1019975176915876e+102, n_steps=1)
def test_property_only_documented_exceptions(n_chains, dim, dtype, step, n_steps):
    x0 = np.zeros((n_chains, dim), dtype=dtype)
    for call in (lambda: fe.mala(ENERGY, x0, step, n_steps, rng=0),
                 lambda: fe.metropolis(ENERGY, x0, n_steps, scale=step, rng=0)):
        try:
            call()
        except (TypeError, ValueError):
            pass


def test_non_symmetric_precondition_is_rejected():
    with pytest.raises(ValueError, match="precondition must be symmetric"):
        fe.mala(ENERGY, X0, 0.1, 2, precondition=np.array([[1.0, 0.9], [0.0, 1.0]]))


@pytest.mark.parametrize("name", ["mala", "metropolis"])
def test_adaptation_without_burn_in_is_an_error(name):
    with pytest.raises(ValueError, match="burn_in"):
        CALLS[name](adapt=True, burn_in=0)
    with pytest.raises(ValueError, match="burn_in"):
        CALLS[name](precondition="diag", burn_in=10)


def test_independent_start_outside_proposal_support():
    q = fe.proposals.Uniform([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="outside the proposal"):
        fe.metropolis(ENERGY, np.array([[3.0, 0.0], [0.0, 0.0]]), 2, proposal=q)


def test_zero_dimensional_step_size_array_is_accepted():
    assert fe.mala(ENERGY, X0, np.array(0.1), 2, rng=0).draws.shape == (2, 3, 2)


@pytest.mark.parametrize("dim", [0, -1, 2.7])
def test_user_energy_dim_must_be_a_positive_int(dim):
    with pytest.raises((TypeError, ValueError), match="dim"):
        fe.energy(lambda x: 0.0, dim=dim)


def test_bool_x0_is_rejected():
    with pytest.raises(TypeError, match="x0"):
        fe.mala(ENERGY, np.zeros((2, 2), dtype=bool), 0.1, 2)
