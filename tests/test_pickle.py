"""Pickling: every energy, result record and ChainState round-trips to an equal object.

Energies travel with ``pickle`` (a user's module-level functions by reference) and with
``cloudpickle`` (a script's lambdas and closures by value, as Dask sends them); their
compiled forms are left out and rebuilt on first use, so the unpickled energy gives the
very same numbers: energies, gradients and a short sampler run, bitwise. Result records
compare by value (``==``, ``fastebm.results.equal``), and a run continued from an
unpickled ChainState is bitwise the run continued from the original.
"""
import dataclasses
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import warnings

import cloudpickle
import numpy as np
import pytest
from numba import njit

import fastebm as fe
from fastebm.results import equal

PICKLERS = {"pickle": pickle, "cloudpickle": cloudpickle}


def _round_trip(obj, pickler):
    """``obj`` through ``pickler.dumps`` and the standard ``pickle.loads``."""
    return pickle.loads(PICKLERS[pickler].dumps(obj))


# -- user functions at module level: they pickle by reference ------------------------------
def _square(x):
    return 0.5 * np.sum(x * x)


def _square_grad(x, out):
    out[:] = x
    return 0.5 * np.sum(x * x)


def _scaled(x, theta):
    return 0.5 * theta[0] * np.sum(x * x)


def _scaled_grad(x, theta, out):
    out[:] = theta[0] * x
    return 0.5 * theta[0] * np.sum(x * x)


def _scaled_grad_theta(x, theta, out):
    out[0] = 0.5 * np.sum(x * x)
    return 0.5 * theta[0] * np.sum(x * x)


def _quartic(x):
    return 0.25 * np.sum(x ** 4) + 0.5 * np.sum(x * x)


_quartic_jit = njit(_quartic)  # a Numba dispatcher pickles by Numba's own reduce


def _closure_energy(scale):
    """A closure over ``scale``: cloudpickle sends it by value."""
    def energy(x):
        return 0.5 * scale * np.sum(x * x)
    return energy


# -- the energies ---------------------------------------------------------------------------
_COV = np.array([[1.0, 0.3], [0.3, 2.0]])
_W = np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]])


def _ising_lattice():
    model = fe.Ising.lattice(2, 4, 0.3, 0.1).tempered(0.8)
    model.J  # builds the dense cache, which a pickle leaves out
    return model


CONTINUOUS = {
    "gaussian": lambda: fe.Gaussian([0.5, -1.0], covariance=_COV),
    "gaussian_diag_tempered": lambda: fe.Gaussian([0.0, 1.0], precision=[1.0, 4.0]).tempered(0.5),
    "mixture": lambda: fe.GaussianMixture([1.0, 2.0], [[0.0, 0.0], [2.0, 1.0]],
                                          [[1.0, 1.0], [0.5, 2.0]]),
    "mixture_precisions_tempered": lambda: fe.GaussianMixture(
        [1.0, 1.0], [[0.0, 0.0], [1.0, -1.0]], precisions=np.stack([_COV, np.eye(2)])
    ).tempered(0.7),
    "gaussian_bernoulli_rbm": lambda: fe.GaussianBernoulliRBM(_W[:2], [0.1, -0.1], [0.2, 0.0],
                                                             [1.0, 0.5]),
    "custom": lambda: fe.energy(_square, _square_grad, dim=2),
    "custom_theta": lambda: fe.energy(_scaled, _scaled_grad, theta=[2.0],
                                      grad_theta=_scaled_grad_theta, dim=2).tempered(0.5),
    "custom_numba": lambda: fe.energy(_quartic_jit, dim=2),
    "sum": lambda: (fe.Gaussian([0.0, 0.0], covariance=_COV)
                    + fe.energy(_square, _square_grad, dim=2)),
}
DISCRETE = {
    "bernoulli_rbm": lambda: fe.BernoulliRBM(_W, [0.1, 0.0, -0.1], [0.2, -0.3]).tempered(0.9),
    "ising_dense": lambda: fe.Ising(np.array([[0, 0.5, -0.2], [0.5, 0, 0.1], [-0.2, 0.1, 0]]),
                                    [0.1, 0.0, -0.2]),
    "ising_lattice": _ising_lattice,
}
# by value only: the standard pickle cannot find a lambda or a closure by its name
BY_VALUE = {
    "custom_lambda": lambda: fe.energy(lambda x: 0.5 * np.sum(x * x) + x[0], dim=2),
    "custom_closure": lambda: fe.energy(_closure_energy(3.0), dim=2),
}
_RUNS = {"custom", "custom_theta", "gaussian", "mixture", "custom_lambda"}  # a MALA run each
_NO_THETA = {"custom", "custom_numba", "sum", *BY_VALUE}


def _points(energy, seed=0):
    rng = np.random.default_rng(seed)
    if isinstance(energy, fe.Ising):
        return rng.choice([-1.0, 1.0], size=(6, energy.dim))
    if isinstance(energy, fe.BernoulliRBM):
        return rng.integers(0, 2, size=(6, energy.dim)).astype(float)
    return rng.normal(size=(6, energy.dim))


def _outputs(energy, name):
    """Everything the energy computes that a test can compare: E, ∇ₓE, ∇_θE, and a short
    sampler run (Gibbs for discrete models, MALA for some continuous ones)."""
    x = _points(energy)
    out = {"energy": energy.energy(x)}
    if name not in _NO_THETA:
        out["grad_theta"] = energy.grad_theta(x)
    if name in DISCRETE:
        out["gibbs"] = fe.gibbs(energy, x, 4, rng=7).draws
        return out
    with warnings.catch_warnings():  # gradients by finite differences warn once per energy
        warnings.simplefilter("ignore", fe.FiniteDifferenceWarning)
        out["energy_and_grad"] = energy.energy_and_grad(x)
        if name in _RUNS:
            out["mala"] = fe.mala(energy, x, 0.2, 5, rng=11)
    return out


def _check_round_trip(original, back, name):
    assert type(back) is type(original)
    assert back is not original
    assert equal(back, original)
    assert back.dim == original.dim and back._beta == original._beta
    if name not in _NO_THETA:
        np.testing.assert_array_equal(back.theta, original.theta)
    expected, got = _outputs(original, name), _outputs(back, name)
    assert equal(got, expected), name


@pytest.mark.parametrize("pickler", list(PICKLERS))
@pytest.mark.parametrize("name", list(CONTINUOUS) + list(DISCRETE))
def test_energies_round_trip_to_the_same_numbers(name, pickler):
    original = {**CONTINUOUS, **DISCRETE}[name]()
    _outputs(original, name)  # compiled and cached state exists before the pickle
    _check_round_trip(original, _round_trip(original, pickler), name)


@pytest.mark.parametrize("name", list(BY_VALUE))
def test_script_functions_pickle_by_value_with_cloudpickle(name):
    original = BY_VALUE[name]()
    _outputs(original, name)
    back = _round_trip(original, "cloudpickle")
    assert back.fn is not original.fn  # sent by value, rebuilt
    _check_round_trip(original, back, name)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(original)  # the standard pickle finds functions by name only


def test_pickles_leave_compiled_state_out_and_rebuild_it_on_first_use():
    custom = fe.energy(_scaled, _scaled_grad, theta=[2.0], grad_theta=_scaled_grad_theta,
                       dim=2, specialize=True)
    x = _points(custom)
    custom.energy(x), custom.grad_theta(x), custom._kernel_form()
    total = fe.Gaussian([0.0, 0.0], covariance=_COV) + custom
    total.energy(x)  # its kernel family now holds compiled closures, which do not pickle
    state = total.__getstate__()
    assert state["_form"] is None
    inner = state["parts"][1].__getstate__()
    assert inner["_functions"] is inner["_specialized"] is inner["_grad_theta_point"] is None
    back = pickle.loads(pickle.dumps(total))
    assert back._form is None and back.parts[1]._functions is None
    np.testing.assert_array_equal(back.energy(x), total.energy(x))
    assert back._form is not None and back.parts[1]._functions is not None
    # the same functions give the same cached kernel family: nothing compiles again
    assert back._family is total._family
    lattice = _ising_lattice()
    assert lattice.__getstate__()["_J"] is None and lattice._J is not None


def test_copies_of_an_unpickled_user_energy_share_its_compiled_functions():
    back = pickle.loads(pickle.dumps(fe.energy(_scaled, _scaled_grad, theta=[2.0], dim=2)))
    copy = back.with_theta([3.0])
    assert copy._functions is back._functions is not None


def test_a_fresh_process_unpickles_and_computes_the_same_numbers(tmp_path):
    """A process that compiled nothing (a Dask worker) rebuilds the compiled forms."""
    energies = [fe.energy(lambda x: 0.5 * np.sum(x * x) + np.sin(x[0]), _square_grad, dim=2),
                fe.Gaussian([0.0, 1.0], covariance=_COV) + fe.energy(_square, _square_grad),
                fe.GaussianMixture([1.0, 2.0], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [2.0, 2.0]])]
    x = np.random.default_rng(3).normal(size=(5, 2))
    (tmp_path / "energies.pkl").write_bytes(cloudpickle.dumps((energies, x)))
    script = textwrap.dedent(f"""
        import pickle, sys
        import numpy as np
        energies, x = pickle.loads(open({str(tmp_path / "energies.pkl")!r}, "rb").read())
        out = [e.energy_and_grad(x) for e in energies]
        out.append(__import__("fastebm").mala(energies[0], x, 0.2, 5, rng=1).draws)
        open({str(tmp_path / "out.pkl")!r}, "wb").write(pickle.dumps(out))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(_ROOT),
                   env=_env_with_repo())
    got = pickle.loads((tmp_path / "out.pkl").read_bytes())
    expected = [e.energy_and_grad(x) for e in energies]
    expected.append(fe.mala(energies[0], x, 0.2, 5, rng=1).draws)
    assert equal(got, expected)


_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _env_with_repo():
    """The environment with this checkout first on the path (the tests' module too)."""
    path = os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


# -- result records -----------------------------------------------------------------------
_E = fe.Gaussian([0.0, 0.0], covariance=_COV)
_Q = fe.proposals.Gaussian([0.0, 0.0], [3.0, 3.0])
_X0 = np.random.default_rng(1).normal(size=(8, 2))
_DATA = np.random.default_rng(2).normal(size=(40, 2)) @ np.linalg.cholesky(_COV).T


def _fit_rbm():
    data = (np.random.default_rng(4).random((30, 3)) < 0.4).astype(float)
    return fe.fit(fe.BernoulliRBM(_W, np.zeros(3), np.zeros(2)), data, "pcd", n_epochs=2,
                  batch_size=10, monitor=("reconstruction", "pseudo_likelihood"), rng=0)


def _geyer_fit():
    model = fe.Gaussian([0.2], precision=[1.5])
    return fe.fit_geyer(model, _DATA[:, :1], fe.proposals.Gaussian([0.0], [3.0]), 200, rng=0)


def _gradient_error():
    data = (np.random.default_rng(5).random((20, 3)) < 0.5).astype(float)
    rbm = fe.BernoulliRBM(_W, np.zeros(3), np.zeros(2))
    exact = fe.exact_mle_gradient(rbm, data)

    def estimator(rng):
        return fe.mle_gradient(rbm, data, fe.gibbs(rbm, data[:10], 3, rng=rng).draws[-1])
    return fe.gradient_error(estimator, exact, 4, rng=0)


RESULTS = {
    "mcmc": lambda: fe.mala(_E, _X0, 0.3, 6, rng=0),
    "mcmc_moments_adapted": lambda: fe.mala(_E, _X0, 0.3, 6, burn_in=20, adapt=True,
                                            precondition="diag", keep="moments", rng=0),
    "chain_state_float32": lambda: fe.metropolis(_E, _X0.astype(np.float32), 5, rng=0).state,
    "importance": lambda: fe.importance_sample(_E, _Q, 64, rng=0),
    "importance_resample": lambda: fe.importance_resample(_E, _Q, 64, n_out=16, rng=0),
    "log_z_exact": lambda: fe.log_partition(_E),
    "log_z_ais": lambda: fe.ais(_E, _Q, 16, 4, rng=0),
    "fit": _fit_rbm,
    "replication": lambda: fe.replicate(fe.ImportanceEstimator(_E, _Q, 32), 4, rng=0,
                                        reference=_E.log_partition()),
    "geyer_fit": _geyer_fit,
    "gradient_estimate": lambda: fe.mle_gradient(_E, _DATA, fe.mala(_E, _X0, 0.3, 3, rng=1)
                                                 .draws[-1]),
    "ksd": lambda: fe.ksd(_E, _DATA[:20], n_bootstrap=20, rng=0),
    "nce": lambda: fe.nce_loss(_E, _DATA, _Q, _Q.sample(40, rng=0)),
    "gradient_error": _gradient_error,
}
# records whose == is fastebm.results.equal (the others are compared with equal itself)
_RECORDS = (fe.ChainState, fe.MCMCResult, fe.ImportanceResult, fe.LogZEstimate,
            fe.FitResult, fe.ReplicationResult, fe.GeyerFit)


@pytest.fixture(scope="module")
def results():
    return {name: make() for name, make in RESULTS.items()}


def test_every_result_class_in_the_api_is_covered(results):
    exported = {getattr(fe, n) for n in fe.__all__ if isinstance(getattr(fe, n), type)
                and dataclasses.is_dataclass(getattr(fe, n))}
    produced = {type(r) for r in results.values()} | {fe.ChainState}
    assert exported <= produced, exported - produced


@pytest.mark.parametrize("pickler", list(PICKLERS))
@pytest.mark.parametrize("name", list(RESULTS))
def test_results_round_trip_to_equal_records(results, name, pickler):
    result = results[name]
    back = _round_trip(result, pickler)
    assert type(back) is type(result) and back is not result
    assert equal(back, result)
    if isinstance(result, _RECORDS):
        assert back == result and not back != result
        with pytest.raises(TypeError):
            hash(back)


@pytest.mark.parametrize("name", list(RESULTS))
def test_equality_catches_a_changed_field(results, name):
    """Negative control: the same record with one field changed is not equal."""
    result = results[name]
    changed = dataclasses.replace(result, **_one_field_changed(result))
    assert not equal(changed, result)
    if isinstance(result, _RECORDS):
        assert changed != result


def _one_field_changed(record):
    """{name: a different value} for the first field that an array or number holds."""
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, np.ndarray) and value.size and value.dtype.kind == "f":
            bumped = value.copy()
            bumped.flat[0] = np.nextafter(bumped.flat[0], np.inf)
            return {field.name: bumped}
        if isinstance(value, float):
            return {field.name: np.nextafter(value, np.inf)}
        if isinstance(value, fe.Energy):
            return {field.name: value.with_theta(value.theta + 1e-3)}
    raise AssertionError(f"no field to change in {type(record).__name__}")


def test_equal_compares_arrays_by_shape_dtype_and_value_nan_included():
    a = np.array([1.0, np.nan, 3.0])
    assert equal(a, a.copy()) and equal(float("nan"), np.float64("nan"))
    assert not equal(a, np.array([1.0, 2.0, 3.0]))
    assert not equal(a, a.astype(np.float32))
    assert not equal(a, a[None])
    assert not equal(a, list(a))
    assert equal({"x": [a, 1]}, {"x": [a.copy(), 1]}) and not equal({"x": 1}, {"y": 1})
    assert equal(np.array([True, False]), np.array([True, False]))
    assert not equal(np.array([1, 2]), np.array([1, 3]))


def test_energies_are_equal_by_class_and_parameters():
    g = fe.Gaussian([0.0, 1.0], precision=[1.0, 2.0])
    assert equal(g, fe.Gaussian([0.0, 1.0], precision=[1.0, 2.0]))
    assert equal(g, g.tempered(1.0))
    assert not equal(g, g.tempered(0.5))
    assert not equal(g, fe.Gaussian([0.0, 1.0], precision=[1.0, 2.5]))
    assert not equal(g, fe.Gaussian([0.0, 1.0], precision=np.diag([1.0, 2.0])))
    assert not equal(fe.energy(_square, dim=2), fe.energy(_scaled, dim=2, theta=[1.0]))
    assert equal(fe.energy(_square, _square_grad, dim=2), fe.energy(_square, _square_grad, dim=2))
    assert not equal(fe.energy(_closure_energy(1.0), dim=2), fe.energy(_closure_energy(2.0), dim=2))


# -- continuing a run from an unpickled ChainState ------------------------------------------
_RBM = fe.BernoulliRBM(_W, [0.1, 0.0, -0.1], [0.2, -0.3])
_V0 = (np.random.default_rng(6).random((8, 3)) < 0.5).astype(float)
CONTINUATIONS = {  # (first start, a run from a start or a ChainState)
    "mala": (_X0, lambda x0, **kw: fe.mala(_E, x0, 0.3, 6, **kw)),
    "mala_adapted": (_X0, lambda x0, **kw: fe.mala(_E, x0, 0.3, 6, adapt=True, burn_in=20,
                                                   precondition="dense", **kw)),
    "langevin": (_X0, lambda x0, **kw: fe.langevin(_E, x0, 0.1, 6, **kw)),
    "metropolis_float32": (_X0.astype(np.float32),
                           lambda x0, **kw: fe.metropolis(_E, x0, 6, scale=0.8, **kw)),
    "user_energy": (_X0, lambda x0, **kw: fe.mala(fe.energy(_square, _square_grad, dim=2), x0,
                                                  0.3, 6, **kw)),
    "gibbs": (_V0, lambda x0, **kw: fe.gibbs(_RBM, x0, 6, **kw)),
}


@pytest.mark.parametrize("pickler", list(PICKLERS))
@pytest.mark.parametrize("name", list(CONTINUATIONS))
def test_a_run_continued_from_an_unpickled_state_is_bitwise_the_same(name, pickler):
    start, run = CONTINUATIONS[name]
    first = run(start, rng=5)
    state = _round_trip(first.state, pickler)
    assert state == first.state
    from_original, from_unpickled = run(first.state), run(state)
    assert from_unpickled == from_original
    np.testing.assert_array_equal(from_unpickled.draws, from_original.draws)
    assert not np.array_equal(from_original.draws[-1], first.draws[-1])  # it moved on


def test_objects_that_keep_their_state_in_reduce_compare_by_it():
    """A Generator or SeedSequence keeps its state in ``__reduce_ex__`` (its own
    ``__getstate__`` gives None): equal only when their states are."""
    assert equal(np.random.default_rng(0), np.random.default_rng(0))
    assert not equal(np.random.default_rng(0), np.random.default_rng(1))
    assert not equal(np.random.SeedSequence(0), np.random.SeedSequence(1))
