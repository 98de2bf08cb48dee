"""Bad input to fe.ais / fe.reverse_ais: a named error before any compiled code runs."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastebm as fe

E = fe.Gaussian([0.0, 1.0], covariance=[1.0, 2.0])
Q = fe.proposals.Gaussian([0.0, 0.0], [4.0, 4.0])
X = np.random.default_rng(0).normal(size=(5, 2))


class _Spins(fe.Energy):
    """Stands in for a discrete model (RBM, Ising): only ``is_discrete`` matters here."""
    is_discrete = True
    dim = 2


def _ais(**kw):
    options = dict(energy=E, base=Q, n_chains=10, n_temperatures=5, step_size=0.5, rng=0)
    options.update(kw)
    return fe.ais(**options)


def _reverse(**kw):
    options = dict(energy=E, base=Q, x_target=X, n_temperatures=5, step_size=0.5, rng=0)
    options.update(kw)
    return fe.reverse_ais(**options)


@pytest.mark.parametrize("kw,error,match", [
    (dict(schedule=[0.0, 0.6, 0.3, 1.0], n_temperatures=None), ValueError, "schedule"),
    (dict(schedule=[0.2, 0.6, 1.0], n_temperatures=None), ValueError, "schedule"),
    (dict(schedule=[0.0, 0.6, 0.9], n_temperatures=None), ValueError, "schedule"),
    (dict(schedule=[0.0, 0.5, 1.0], n_temperatures=4), ValueError, "n_temperatures"),
    (dict(schedule="cosine"), ValueError, "schedule"),
    (dict(schedule="sigmoid", n_temperatures=None), TypeError, "n_temperatures"),
    (dict(n_temperatures=1), ValueError, "n_temperatures"),
    (dict(n_temperatures=2.5), TypeError, "n_temperatures"),
    (dict(base=fe.proposals.Gaussian([0.0], [1.0])), ValueError, "dimension"),
    (dict(base="normal"), TypeError, "base"),
    (dict(energy="E"), TypeError, "energy"),
    (dict(energy=_Spins()), ValueError, "step_size"),
    (dict(energy=_Spins(), step_size=None), TypeError, "no AIS"),
    (dict(transition="hmc"), ValueError, "transition"),
    (dict(step_size=None, transition="ula"), TypeError, "step_size"),
    (dict(step_size=0.0), ValueError, "step_size"),
    (dict(step_size=np.nan), ValueError, "step_size"),
    (dict(step_size=[0.5, 0.5]), ValueError, "step_size"),
    (dict(step_size=[0.5, 0.5, -1.0, 0.5, 0.5]), ValueError, "step_size"),
    (dict(n_steps_per_temperature=0), ValueError, "n_steps_per_temperature"),
    (dict(n_chains=1), ValueError, "n_chains"),
    (dict(n_chains=True), TypeError, "n_chains"),
    (dict(rng=-1), ValueError, "rng"),
    (dict(schedule="adaptive", n_temperatures=None, step_size=[0.5, 0.5]), ValueError, "step_size"),
    (dict(schedule="adaptive", n_temperatures=None, cess_target=1.0), ValueError, "cess_target"),
    (dict(schedule="adaptive", n_temperatures=None, pilot_chains=1), ValueError, "pilot_chains"),
    (dict(schedule="adaptive", n_temperatures=3, cess_target=0.999), ValueError, "n_temperatures"),
])
def test_ais_bad_input(kw, error, match):
    with pytest.raises(error, match=match):
        _ais(**kw)


@pytest.mark.parametrize("kw,error,match", [
    (dict(x_target=X[:, :1]), ValueError, "columns"),
    (dict(x_target=X[:1]), ValueError, "at least 2"),
    (dict(x_target=np.where(np.eye(5, 2) > 0, np.nan, X)), ValueError, "x_target"),
    (dict(x_target=X[None]), ValueError, "x_target"),
    (dict(energy=_Spins()), TypeError, "discrete"),
    (dict(schedule=[1.0, 0.5, 0.0], n_temperatures=None), ValueError, "schedule"),
])
def test_reverse_ais_bad_input(kw, error, match):
    with pytest.raises(error, match=match):
        _reverse(**kw)


def test_langevin_needs_the_gradient_of_the_base():
    """A proposal without a compiled ∇ log q: MALA refuses it, naming 'rwm'."""
    class NoGradient(fe.proposals.Proposal):
        dim = 2

        def _kernel_params(self):
            return ("not", "a", "known", "proposal")
    with pytest.raises(TypeError, match="rwm"):
        _ais(base=NoGradient())


def test_nan_energy_is_an_error():
    nan_energy = fe.energy(lambda x: np.nan if x[0] > 0 else 0.5 * x[0] * x[0], dim=1)
    with pytest.raises(ValueError, match="NaN"):
        fe.ais(nan_energy, fe.proposals.Gaussian([0.0], [1.0]), 20, 5, transition="rwm",
               step_size=0.5, rng=0)


def test_zero_weights_everywhere_is_an_error():
    nowhere = fe.energy(lambda x: np.inf, dim=1)
    with pytest.raises(ValueError, match="zero"):
        fe.ais(nowhere, fe.proposals.Gaussian([0.0], [1.0]), 20, 5, transition="rwm",
               step_size=0.5, rng=0)


def test_ula_warns():
    with pytest.warns(fe.BiasedAISWarning):
        result = _ais(transition="ula")
    assert result.biased


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True),
                 st.text(max_size=3), st.lists(st.floats(-1, 2), max_size=4))


@settings(max_examples=60, deadline=None)
@given(n_chains=_ANY, n_temperatures=_ANY, schedule=_ANY, step_size=_ANY, steps=_ANY,
       transition=st.sampled_from(["mala", "rwm", "ula", "hmc", 3]))
def test_only_documented_exceptions(n_chains, n_temperatures, schedule, step_size, steps,
                                    transition):
    """Whatever the arguments, fe.ais returns an estimate or raises ValueError/TypeError."""
    schedule = "sigmoid" if schedule is None else schedule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fe.BiasedAISWarning)
        try:
            result = fe.ais(E, Q, n_chains, n_temperatures, schedule=schedule,
                            transition=transition, step_size=step_size,
                            n_steps_per_temperature=steps, rng=0)
        except (ValueError, TypeError):
            return
    assert np.isfinite(result.log_z) and result.log_weights.shape == (n_chains,)
