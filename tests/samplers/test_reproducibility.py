"""Same rng → same chains, whatever the thread count or the number of chains; a run can
be continued from its state with the same streams."""
import numba
import numpy as np
import pytest

import fastebm as fe

ENERGY = fe.Gaussian(np.zeros(4), precision=np.diag([1.0, 2.0, 3.0, 4.0]) + 0.3)


def _banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2


BANANA = fe.energy(_banana, dim=2)
SAMPLERS = {
    "mala": lambda x0, n, **kw: fe.mala(ENERGY, x0, 0.2, n, **kw),
    "ula": lambda x0, n, **kw: fe.langevin(ENERGY, x0, 0.05, n, **kw),
    "rwm": lambda x0, n, **kw: fe.metropolis(ENERGY, x0, n, scale=0.7, **kw),
    "rwm_user": lambda x0, n, **kw: fe.metropolis(
        BANANA, x0[:, :2] if isinstance(x0, np.ndarray) else x0, n, scale=0.7, **kw),
    "imh": lambda x0, n, **kw: fe.metropolis(
        ENERGY, x0, n, proposal=fe.proposals.Gaussian(np.zeros(4), np.eye(4)), **kw),
}


def _x0(n):
    return np.random.default_rng(0).normal(size=(n, 4))


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_rng_same_draws(name):
    a = SAMPLERS[name](_x0(50), 30, rng=1)
    b = SAMPLERS[name](_x0(50), 30, rng=np.random.SeedSequence(1))
    c = SAMPLERS[name](_x0(50), 30, rng=2)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)


@pytest.mark.parametrize("name", SAMPLERS)
def test_chain_does_not_depend_on_number_of_chains(name):
    few = SAMPLERS[name](_x0(1000)[:10], 30, rng=4)
    many = SAMPLERS[name](_x0(1000), 30, rng=4)
    np.testing.assert_array_equal(few.draws, many.draws[:, :10])


@pytest.mark.parametrize("name", SAMPLERS)
def test_draws_do_not_depend_on_thread_count(name):
    reference = SAMPLERS[name](_x0(200), 30, rng=6)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = SAMPLERS[name](_x0(200), 30, rng=6)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(reference.draws, single.draws)


@pytest.mark.parametrize("name", SAMPLERS)
def test_continuing_from_state_equals_one_long_run(name):
    whole = SAMPLERS[name](_x0(20), 200, rng=9)
    first = SAMPLERS[name](_x0(20), 100, rng=9)
    second = SAMPLERS[name](first.state, 100)
    np.testing.assert_array_equal(whole.draws, np.concatenate([first.draws, second.draws]))
    np.testing.assert_array_equal(whole.state.position, second.state.position)


def test_final_draw_is_state_and_thin_keeps_every_kth():
    full = fe.mala(ENERGY, _x0(8), 0.2, 12, rng=3)
    thinned = fe.mala(ENERGY, _x0(8), 0.2, 12, thin=4, rng=3)
    np.testing.assert_array_equal(full.draws[-1], full.state.position)
    np.testing.assert_array_equal(thinned.draws, full.draws[3::4])


def test_burn_in_is_the_start_of_the_same_stream():
    whole = fe.mala(ENERGY, _x0(8), 0.2, 30, rng=3)
    after = fe.mala(ENERGY, _x0(8), 0.2, 20, burn_in=10, rng=3)
    np.testing.assert_array_equal(after.draws, whole.draws[10:])


def test_generator_rng_advances():
    g = np.random.default_rng(5)
    a = fe.mala(ENERGY, _x0(8), 0.2, 5, rng=g)
    b = fe.mala(ENERGY, _x0(8), 0.2, 5, rng=g)
    assert not np.array_equal(a.draws, b.draws)


def test_adapted_run_continues_with_its_step_size_and_preconditioner():
    first = fe.mala(ENERGY, _x0(50), 0.1, 10, burn_in=200, adapt=True, precondition="diag", rng=1)
    second = fe.mala(ENERGY, first.state, None, 10)
    np.testing.assert_array_equal(second.step_size, first.step_size)
    np.testing.assert_array_equal(second.inverse_mass, first.inverse_mass)


def test_keep_moments_matches_draws():
    draws = fe.mala(ENERGY, _x0(30), 0.2, 50, thin=2, rng=2)
    moments = fe.mala(ENERGY, _x0(30), 0.2, 50, thin=2, keep="moments", rng=2)
    assert moments.draws is None
    np.testing.assert_allclose(moments.mean, draws.draws.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.variance, draws.draws.var(axis=0), rtol=1e-10)


def test_single_chain_input_drops_chain_axis():
    result = fe.mala(ENERGY, np.zeros(4), 0.2, 7, rng=0)
    assert result.draws.shape == (7, 4)
    assert isinstance(result.acceptance_rate, float)
    assert result.state.position.shape == (4,)
    again = fe.mala(ENERGY, result.state, None, 3)
    assert again.draws.shape == (3, 4)


def test_float32_in_float32_out():
    result = fe.mala(ENERGY, _x0(5).astype(np.float32), 0.2, 4, rng=0)
    assert result.draws.dtype == np.float32


def test_metropolis_continues_with_adapted_scale():
    first = fe.metropolis(ENERGY, _x0(50), 5, burn_in=300, adapt=True, rng=1)
    second = fe.metropolis(ENERGY, first.state, 5)
    np.testing.assert_array_equal(second.step_size, first.step_size)
    assert np.median(first.step_size) != 1.0


def test_diverged_ula_chain_stays_stopped_when_continued():
    energy = fe.Gaussian([0.0], covariance=[1.0])
    x0 = np.array([[0.5], [1.0]])
    whole = fe.langevin(energy, x0, 2.5, 200, rng=3)
    first = fe.langevin(energy, x0, 2.5, 100, rng=3)
    second = fe.langevin(energy, first.state, None, 100)
    np.testing.assert_array_equal(whole.draws, np.concatenate([first.draws, second.draws]))
    assert np.all(second.n_divergent == 0) and np.all(np.isnan(second.draws))


def test_float32_continuation_is_exact():
    x0 = _x0(6).astype(np.float32)
    whole = fe.mala(ENERGY, x0, 0.2, 20, rng=2)
    first = fe.mala(ENERGY, x0, 0.2, 10, rng=2)
    second = fe.mala(ENERGY, first.state, None, 10)
    assert second.draws.dtype == np.float32
    np.testing.assert_array_equal(whole.draws, np.concatenate([first.draws, second.draws]))


def test_float32_draws_are_the_float64_draws_rounded():
    x0 = _x0(6).astype(np.float32)
    low = fe.mala(ENERGY, x0, 0.2, 10, rng=2)
    high = fe.mala(ENERGY, x0.astype(np.float64), 0.2, 10, rng=2)
    np.testing.assert_array_equal(low.draws, high.draws.astype(np.float32))


def test_continuation_with_thin_when_steps_are_a_multiple_of_thin():
    whole = fe.mala(ENERGY, _x0(6), 0.2, 24, thin=3, rng=2)
    first = fe.mala(ENERGY, _x0(6), 0.2, 12, thin=3, rng=2)
    second = fe.mala(ENERGY, first.state, None, 12, thin=3)
    np.testing.assert_array_equal(whole.draws, np.concatenate([first.draws, second.draws]))


def test_metropolis_keep_moments_matches_draws():
    draws = fe.metropolis(ENERGY, _x0(30), 40, scale=0.5, thin=2, rng=2)
    moments = fe.metropolis(ENERGY, _x0(30), 40, scale=0.5, thin=2, keep="moments", rng=2)
    np.testing.assert_allclose(moments.mean, draws.draws.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.variance, draws.draws.var(axis=0), rtol=1e-10)
