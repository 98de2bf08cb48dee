"""The compiled AIS equals its NumPy reference weight for weight on the same streams;
same rng → same result; chain i does not depend on the number of chains."""
import numba
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from fastebm.estimators import schedules
from tests.estimators.reference_ais import (GaussianBase, UniformBase, ais_reference,
                                            mixture_energy)
from tests.samplers.reference import gaussian_energy

MEAN = np.array([0.5, -1.0, 2.0])
PRECISION = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
BASE_MEAN, BASE_COV = np.array([0.0, -0.5, 1.0]), np.array([[4.0, 1.0, 0.0],
                                                           [1.0, 3.0, 0.5],
                                                           [0.0, 0.5, 5.0]])
BETAS = schedules.sigmoid(9)
STEPS = {"mala": 0.3, "ula": 0.1, "rwm": 0.8}
N_CHAINS, N_STEPS = 25, 2


def _gaussian():
    return fe.Gaussian(MEAN, precision=PRECISION), gaussian_energy(MEAN, PRECISION)


def _mixture():
    w, m, v = np.array([0.3, 0.7]), np.array([[-1.5, 0.0], [1.5, 1.0]]), np.array([[1.0, 2.0],
                                                                                  [0.5, 1.0]])
    return fe.GaussianMixture(w, m, v), mixture_energy(w, m, v)


def _run(energy, base, transition, rng, n_chains=N_CHAINS, **kw):
    with _maybe_warns(transition):
        return fe.ais(energy, base, n_chains, schedule=BETAS, transition=transition,
                      step_size=STEPS[transition], n_steps_per_temperature=N_STEPS, rng=rng, **kw)


def _maybe_warns(transition):
    return pytest.warns(fe.BiasedAISWarning) if transition == "ula" else _nothing()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("transition", ["mala", "ula", "rwm"])
@pytest.mark.parametrize("target", ["gaussian", "mixture"])
def test_forward_ais_equals_reference(transition, target):
    energy, reference_energy = _gaussian() if target == "gaussian" else _mixture()
    d = energy.dim
    base_fe = fe.proposals.Gaussian(BASE_MEAN[:d], BASE_COV[:d, :d])
    result = _run(energy, base_fe, transition, 11)
    log_w, n_acc = ais_reference(reference_energy, GaussianBase(BASE_MEAN[:d], BASE_COV[:d, :d]),
                                 BETAS, np.full(BETAS.size, STEPS[transition]), N_STEPS,
                                 philox_key(11), transition=transition, n_chains=N_CHAINS)
    np.testing.assert_allclose(result.log_weights, log_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.acceptance_rate, n_acc / ((BETAS.size - 2) * N_STEPS))
    if transition != "ula":
        assert 0.2 < result.acceptance_rate.mean() < 1.0  # both branches exercised


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_uniform_base_equals_reference(transition):
    """A box base: proposals leaving the box are rejected (π_β is zero there, β < 1)."""
    energy, reference_energy = _gaussian()
    low, high = MEAN - 3.0, MEAN + 3.5
    result = _run(energy, fe.proposals.Uniform(low, high), transition, 5)
    log_w, n_acc = ais_reference(reference_energy, UniformBase(low, high), BETAS,
                                 np.full(BETAS.size, STEPS[transition]), N_STEPS, philox_key(5),
                                 transition=transition, n_chains=N_CHAINS)
    np.testing.assert_allclose(result.log_weights, log_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(result.acceptance_rate, n_acc / ((BETAS.size - 2) * N_STEPS))


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_reverse_ais_equals_reference(transition):
    energy, reference_energy = _gaussian()
    x_target = np.random.default_rng(2).multivariate_normal(MEAN, np.linalg.inv(PRECISION),
                                                            N_CHAINS)
    step_sizes = np.linspace(0.2, 0.4, BETAS.size) if transition == "mala" else 0.8
    result = fe.reverse_ais(energy, fe.proposals.Gaussian(BASE_MEAN, BASE_COV), x_target,
                            schedule=BETAS, transition=transition, step_size=step_sizes,
                            n_steps_per_temperature=N_STEPS, rng=9)
    log_w, _ = ais_reference(reference_energy, GaussianBase(BASE_MEAN, BASE_COV), BETAS[::-1],
                             np.broadcast_to(step_sizes, BETAS.shape)[::-1], N_STEPS,
                             philox_key(9), transition=transition, x0=x_target)
    np.testing.assert_allclose(result.log_weights, log_w, rtol=1e-12, atol=1e-12)
    assert result.bound == "upper" and result.method == "reverse_ais"
    np.testing.assert_allclose(result.log_z, -np.log(np.mean(np.exp(log_w))), rtol=1e-12)


@pytest.mark.parametrize("mutant", ["new_state", "half_step"])
def test_reference_catches_wrong_weight_increment(mutant):
    """Negative control: a reference with a wrong increment does not match the kernel."""
    energy, reference_energy = _gaussian()
    result = _run(energy, fe.proposals.Gaussian(BASE_MEAN, BASE_COV), "mala", 11)
    log_w, _ = ais_reference(reference_energy, GaussianBase(BASE_MEAN, BASE_COV), BETAS,
                             np.full(BETAS.size, STEPS["mala"]), N_STEPS, philox_key(11),
                             transition="mala", n_chains=N_CHAINS, increment=mutant)
    assert not np.allclose(result.log_weights, log_w, rtol=1e-6)


def _user_gaussian():
    def fn(x):
        r = x - MEAN
        return 0.5 * r @ PRECISION @ r

    def grad(x, out):
        r = x - MEAN
        out[:] = PRECISION @ r
        return 0.5 * r @ out
    return fe.energy(fn, grad, dim=3)


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_user_energy_equals_builtin(transition):
    """A user energy (its own specialised kernel) gives the built-in's weights."""
    base = fe.proposals.Gaussian(BASE_MEAN, BASE_COV)
    builtin = _run(_gaussian()[0], base, transition, 3)
    user = _run(_user_gaussian(), base, transition, 3)
    np.testing.assert_allclose(user.log_weights, builtin.log_weights, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_same_rng_same_result(transition):
    energy, base = _gaussian()[0], fe.proposals.Gaussian(BASE_MEAN, BASE_COV)
    a = _run(energy, base, transition, 1)
    b = _run(energy, base, transition, np.random.SeedSequence(1))
    c = _run(energy, base, transition, 2)
    np.testing.assert_array_equal(a.log_weights, b.log_weights)
    assert a.log_z == b.log_z
    assert not np.array_equal(a.log_weights, c.log_weights)


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_chain_does_not_depend_on_number_of_chains(transition):
    energy, base = _gaussian()[0], fe.proposals.Gaussian(BASE_MEAN, BASE_COV)
    few = _run(energy, base, transition, 4, n_chains=10)
    many = _run(energy, base, transition, 4, n_chains=203)
    np.testing.assert_array_equal(few.log_weights, many.log_weights[:10])


def test_result_does_not_depend_on_thread_count():
    energy, base = _gaussian()[0], fe.proposals.Gaussian(BASE_MEAN, BASE_COV)
    reference = _run(energy, base, "mala", 6, n_chains=150)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _run(energy, base, "mala", 6, n_chains=150)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(reference.log_weights, single.log_weights)


def test_adaptive_schedule_reproducible_and_independent_of_n_chains():
    energy, base = _gaussian()[0], fe.proposals.Gaussian(BASE_MEAN, BASE_COV)
    kw = dict(schedule="adaptive", step_size=0.3, cess_target=0.9, pilot_chains=200, rng=8)
    few = fe.ais(energy, base, 10, **kw)
    many = fe.ais(energy, base, 60, **kw)
    np.testing.assert_array_equal(few.temperatures, many.temperatures)
    np.testing.assert_array_equal(few.log_weights, many.log_weights[:10])


def test_no_global_state_and_does_not_modify_inputs():
    energy = _gaussian()[0]
    x_target = np.random.default_rng(2).multivariate_normal(MEAN, np.linalg.inv(PRECISION), 5)
    keep = x_target.copy()
    fe.reverse_ais(energy, fe.proposals.Gaussian(BASE_MEAN, BASE_COV), x_target, schedule=BETAS,
                   step_size=0.3, rng=0)
    np.testing.assert_array_equal(x_target, keep)


@pytest.mark.parametrize("kind", ["gaussian", "gaussian_base", "uniform"])
def test_proposal_grad_log_density_against_finite_differences(kind):
    """∇ log q of every base the annealing kernels use: value equal to log q, gradient
    equal to central finite differences of log q."""
    from numba import njit

    from fastebm._kernels.numba.proposals import (base_params, proposal_grad_log_density,
                                                  proposal_log_density)
    if kind == "uniform":
        pp = fe.proposals.Uniform(BASE_MEAN - 5.0, BASE_MEAN + 6.0)._kernel_params()
    else:
        pp = fe.proposals.Gaussian(BASE_MEAN, BASE_COV)._kernel_params()
        pp = base_params(pp) if kind == "gaussian_base" else pp
    value_and_grad = njit(lambda pp, x, out: proposal_grad_log_density(pp, x, out))
    value = njit(lambda pp, x: proposal_log_density(pp, x))
    for x in np.random.default_rng(1).normal(size=(5, 3)):
        grad = np.empty(3)
        log_q = value_and_grad(pp, x, grad)
        np.testing.assert_allclose(log_q, value(pp, x), rtol=1e-13)
        h = 1e-5
        fd = [(value(pp, x + h * e) - value(pp, x - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)
    if kind != "uniform":
        expected = -np.linalg.solve(BASE_COV, x - BASE_MEAN)
        np.testing.assert_allclose(grad, expected, rtol=1e-12)
