"""Ising models: energies, lattice couplings, exact log Z and ∇θ against brute force and
finite differences; the Gibbs and AIS kernels against their NumPy references draw for
draw; πP = π for one sweep; marginals and AIS against enumeration, each statistical test
with a mutant it must catch."""
import numba
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from fastebm.estimators.ais_discrete import ais_discrete
from fastebm.resampling import log_mean_exp
from tests.discrete import reference_ising as ref
from tests.discrete.checks import check_gibbs_streams
from tests.discrete.reference import grad_theta_by_finite_differences
from tests.statistical.harness import Z_CRIT, mean_z, unbiased_ratio_z

statistical = pytest.mark.statistical  # skipped under NUMBA_DISABLE_JIT (tests/conftest.py)


def _dense(seed, n=7, scale=0.5):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(size=(n, n)) * scale, 1)
    return J + J.T, rng.normal(size=n) * 0.3


def _spins(seed, shape):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, 1.0, -1.0)


# -- the model ---------------------------------------------------------------------------------
def test_energy_matches_brute_force(seed):
    J, h = _dense(seed)
    s = ref.spin_states(7)
    for beta in (1.0, 0.3):
        model = fe.Ising(J, h).tempered(beta)
        np.testing.assert_allclose(model.energy(s), beta * ref.brute_energy(J, h, s),
                                   rtol=0, atol=1e-12)
    assert isinstance(fe.Ising(J, h).energy(s[5]), float)
    np.testing.assert_array_equal(fe.Ising(J, h).magnetization(s), s.mean(axis=1))


@pytest.mark.parametrize("shape", [(3, 4), (4, 4), (5, 3), (2, 5), (2, 2), (3, 2)])
def test_lattice_matches_neighbour_list(seed, shape):
    """Dense J, energy (computed without J) and θ against the four-neighbour list; a size-2
    dimension couples its two neighbours twice."""
    L, M = shape
    model = fe.Ising.lattice(L, M, 0.37, field=-0.2)
    J = ref.lattice_J(L, M, 0.37)
    np.testing.assert_allclose(model.J, J, rtol=0, atol=1e-15)
    if L == 2:
        assert model.J[0, M] == pytest.approx(2 * 0.37)
    s = _spins(seed, (50, L * M))
    np.testing.assert_allclose(model.energy(s), ref.brute_energy(J, np.full(L * M, -0.2), s),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.tempered(0.5).energy(s), 0.5 * model.energy(s), atol=1e-12)
    assert model.sweep == ("checkerboard" if L % 2 == 0 and M % 2 == 0 else "sequential")
    dense = fe.Ising(J, np.full(L * M, -0.2))
    np.testing.assert_allclose(model.theta, dense.theta, atol=1e-15)


def test_exact_log_partition_matches_brute_force(seed):
    J, h = _dense(seed, n=8, scale=0.8)
    for beta in (1.0, 0.5):
        assert fe.Ising(J, h).tempered(beta).log_partition() == pytest.approx(
            ref.log_z_brute(J, h, beta), abs=1e-11)
    for L, M in ((2, 3), (3, 3), (2, 2)):
        model = fe.Ising.lattice(L, M, 0.6, field=0.25)
        assert model.log_partition() == pytest.approx(
            ref.log_z_brute(ref.lattice_J(L, M, 0.6), np.full(L * M, 0.25)), abs=1e-11)


@pytest.mark.parametrize("n", [13, 15])
def test_chunked_enumeration_matches_brute_force(seed, n):
    """n > 12 spins: 2 and 8 chunks of 2¹² states, each restarted exactly."""
    J, h = _dense(seed, n=n, scale=0.4)
    assert fe.Ising(J, h).log_partition() == pytest.approx(ref.log_z_brute(J, h), abs=1e-10)
    model = fe.Ising.lattice(3, 5, 0.9, field=0.1) if n == 15 else None
    if model is not None:
        assert model.log_partition() == pytest.approx(
            ref.log_z_brute(ref.lattice_J(3, 5, 0.9), np.full(15, 0.1)), abs=1e-10)


def test_log_partition_beyond_enumeration_points_to_ais():
    with pytest.raises(ValueError, match="ais"):
        fe.Ising.lattice(6, 5, 0.3).log_partition()
    with pytest.raises(ValueError, match="log_partition"):
        fe.Ising(np.zeros((26, 26)), np.zeros(26)).log_partition()



def test_grad_theta_against_finite_differences(seed):
    J, h = _dense(seed, n=5)
    model = fe.Ising(J, h).tempered(0.7)
    s = ref.spin_states(5)[::3]
    np.testing.assert_allclose(model.grad_theta(s), grad_theta_by_finite_differences(model, s), atol=1e-8)
    assert model.grad_theta(s[0]).shape == (10 + 5,)
    lattice = fe.Ising.lattice(3, 3, 0.4, field=0.1).tempered(1.3)
    s = _spins(seed, (6, 9))
    np.testing.assert_allclose(lattice.grad_theta(s), grad_theta_by_finite_differences(lattice, s), atol=1e-8)
    again = lattice.with_theta(lattice.theta)
    np.testing.assert_allclose(again.energy(s), lattice.energy(s), atol=1e-12)
    assert again.beta == pytest.approx(1.3)


# -- the Gibbs kernels against their references ------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 6), (2, 4), (6, 2)])
def test_checkerboard_kernel_equals_reference(seed, shape):
    L, M = shape
    model = fe.Ising.lattice(L, M, 0.5, field=0.2).tempered(0.8)
    s0 = _spins(1, (37, L * M))
    res = fe.gibbs(model, s0, 9, rng=seed)
    sweep = lambda s, u: ref.checkerboard_sweep(L, M, 0.8 * 0.5, 0.8 * 0.2, s, u)  # noqa: E731
    expected = ref.gibbs(sweep, s0, 9, philox_key(seed))
    np.testing.assert_array_equal(res.draws, expected)
    np.testing.assert_array_equal(res.state.position, expected[-1])


def test_sequential_kernels_equal_reference(seed):
    """Dense couplings (fields computed afresh in the reference, kept incrementally in the
    kernel), and an odd lattice, which must equal the dense sweep of its own J."""
    J, h = _dense(seed, n=9, scale=0.7)
    s0 = _spins(2, (41, 9))
    res = fe.gibbs(fe.Ising(J, h).tempered(1.5), s0, 10, rng=seed)
    sweep = lambda s, u: ref.sequential_sweep(1.5 * J, 1.5 * h, s, u)  # noqa: E731
    np.testing.assert_array_equal(res.draws, ref.gibbs(sweep, s0, 10, philox_key(seed)))
    lattice = fe.Ising.lattice(3, 5, 0.45, field=-0.1)
    s0 = _spins(3, (41, 15))
    res = fe.gibbs(lattice, s0, 10, rng=seed)
    sweep = lambda s, u: ref.lattice_sequential_sweep(3, 5, 0.45, -0.1, s, u)  # noqa: E731
    np.testing.assert_array_equal(res.draws, ref.gibbs(sweep, s0, 10, philox_key(seed)))
    dense = fe.gibbs(fe.Ising(lattice.J, lattice.h), s0, 10, rng=seed)
    np.testing.assert_array_equal(dense.draws, res.draws)


@pytest.mark.parametrize("kind", ["checkerboard", "sequential", "dense"])
def test_streams_thin_burn_in_and_continuation(seed, kind):
    model = {"checkerboard": fe.Ising.lattice(4, 4, 0.4),
             "sequential": fe.Ising.lattice(3, 3, 0.4),
             "dense": fe.Ising(*_dense(seed, n=6))}[kind]
    full = check_gibbs_streams(model, _spins(4, (60, model.n_spins)), seed)
    assert np.all(full.acceptance_rate == 1.0)


def test_draws_and_ais_do_not_depend_on_thread_count(seed):
    models = [fe.Ising.lattice(4, 4, 0.4), fe.Ising.lattice(3, 3, 0.4),
              fe.Ising(*_dense(seed, n=6))]
    runs = lambda: [(fe.gibbs(m, _spins(5, (90, m.n_spins)), 8, rng=seed).draws,  # noqa: E731
                     ais_discrete(m, None, 90, 10, rng=seed).log_weights) for m in models]
    reference = runs()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = runs()
    finally:
        numba.set_num_threads(before)
    for (draws, log_w), (draws1, log_w1) in zip(reference, single):
        np.testing.assert_array_equal(draws, draws1)
        np.testing.assert_array_equal(log_w, log_w1)


# -- exact invariance ----------------------------------------------------------------------------
def _invariance_error(P, J, h, states):
    pi = np.exp(-ref.brute_energy(J, h, states))
    pi /= pi.sum()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    return np.abs(pi @ P - pi).max()


@pytest.mark.parametrize("model", ["lattice", "dense"])
def test_sequential_sweep_transition_matrix_is_invariant(model):
    """One sequential sweep on 9 spins (512 states): πP = π to 1e-12; the sweep with
    stale local fields (all drawn from the state at the start) is caught."""
    if model == "lattice":
        J, h = ref.lattice_J(3, 3, 0.7), np.full(9, 0.3)
    else:
        J, h = _dense(11, n=9, scale=0.9)
    P, states = ref.sequential_transition(J, h)
    assert _invariance_error(P, J, h, states) < 1e-12
    P_stale, _ = ref.sequential_transition(J, h, stale=True)
    assert _invariance_error(P_stale, J, h, states) > 1e-3


def test_checkerboard_transition_matrix_is_invariant():
    """One checkerboard sweep on the 2 × 4 lattice (its doubled vertical bonds included)."""
    J, h = ref.lattice_J(2, 4, 0.8), np.full(8, -0.2)
    parity = np.array([(i + j) % 2 for i in range(2) for j in range(4)])
    P, states = ref.checkerboard_transition(J, h, parity)
    assert _invariance_error(P, J, h, states) < 1e-12
    wrong = np.arange(8) % 2  # a "checkerboard" whose classes hold neighbours
    P_wrong, _ = ref.checkerboard_transition(J, h, wrong)
    assert _invariance_error(P_wrong, J, h, states) > 1e-3


# -- marginals against enumeration ------------------------------------------------------------
def _exact_moments(J, h):
    states = ref.spin_states(J.shape[0])
    E = ref.brute_energy(J, h, states)
    p = np.exp(-E - ref.log_z_brute(J, h))
    m = p @ states
    mean_e = p @ E
    return np.append(m, mean_e), np.append(1 - m ** 2, p @ E ** 2 - mean_e ** 2)


def _stack(J, h, s):
    return np.column_stack([s, ref.brute_energy(J, h, s)])


@statistical
@pytest.mark.parametrize("kind", ["checkerboard", "dense"])
def test_gibbs_marginals_match_enumeration(seed, kind):
    """Final states of 20,000 independent chains after 40 sweeps from uniform spins: each
    spin's mean and the mean energy within Z_CRIT standard errors of the enumerated
    values. Mutants: checkerboard updating both classes from the old state; sequential
    sweeps with stale local fields."""
    n_chains, n_sweeps = 20000, 40
    if kind == "checkerboard":
        model = fe.Ising.lattice(4, 4, 0.35, field=0.1)
        J, h = ref.lattice_J(4, 4, 0.35), np.full(16, 0.1)
        mutant = lambda s, u: ref.checkerboard_sweep(4, 4, 0.35, 0.1, s, u,  # noqa: E731
                                                     synchronous=True)
    else:
        J, h = _dense(7, n=10, scale=0.45)
        model = fe.Ising(J, h)
        mutant = lambda s, u: ref.sequential_sweep(J, h, s, u, stale=True)  # noqa: E731
    mean, var = _exact_moments(J, h)
    s0 = _spins(seed, (n_chains, model.n_spins))
    final = fe.gibbs(model, s0, 1, burn_in=n_sweeps - 1, rng=seed).draws[-1]
    assert mean_z(_stack(J, h, final), mean, var) < Z_CRIT
    wrong = ref.final_state(mutant, s0, n_sweeps, philox_key(seed))
    assert mean_z(_stack(J, h, wrong), mean, var) > Z_CRIT


# -- AIS ----------------------------------------------------------------------------------------
def _ais_case(kind, seed):
    """(model, sweep at β of its effective parameters) for the AIS reference."""
    if kind == "checkerboard":
        model = fe.Ising.lattice(4, 4, 0.5, field=0.15).tempered(0.9)
        c, f = 0.9 * 0.5, 0.9 * 0.15

        def sweep(b, s, u):
            return ref.checkerboard_sweep(4, 4, b * c, b * f, s, u)
    elif kind == "sequential":
        model = fe.Ising.lattice(3, 3, 0.6, field=-0.2)

        def sweep(b, s, u):
            return ref.lattice_sequential_sweep(3, 3, b * 0.6, b * -0.2, s, u)
    else:
        J, h = _dense(seed, n=8, scale=0.6)
        model = fe.Ising(J, h).tempered(1.2)

        def sweep(b, s, u):
            return ref.sequential_sweep(1.2 * J, 1.2 * h, s, u, scale=b)
    return model, sweep


@pytest.mark.parametrize("kind", ["checkerboard", "sequential", "dense"])
def test_ais_kernel_equals_reference(seed, kind):
    model, sweep = _ais_case(kind, seed)
    betas = np.linspace(0, 1, 15) ** 2
    est = ais_discrete(model, None, 70, schedule=betas, rng=seed)
    log_w = ref.ais(model.energy, sweep, model.n_spins, betas, 70, philox_key(seed))
    np.testing.assert_allclose(est.log_weights, log_w, rtol=0, atol=1e-12)
    assert est.log_z == pytest.approx(model.n_spins * np.log(2) + log_mean_exp(log_w), abs=1e-12)
    few = ais_discrete(model, None, 5, schedule=betas, rng=seed)  # chain i independent of n
    np.testing.assert_array_equal(few.log_weights, est.log_weights[:5])


@statistical
@pytest.mark.parametrize("coupling", [0.2, 0.44, 0.8])
def test_ais_log_z_within_standard_errors_of_enumeration(seed, coupling):
    """4 × 4 lattice (checkerboard sweeps), 4000 chains × 50 linear temperatures:
    |log Ẑ - log Z| < Z_CRIT se. The mutant that takes each weight increment after the
    sweep at βₖ instead of before it is rejected at the same threshold."""
    model = fe.Ising.lattice(4, 4, coupling)
    exact = model.log_partition()
    betas = np.linspace(0, 1, 50)
    est = ais_discrete(model, None, 4000, schedule=betas, rng=seed)
    assert est.method == "ais" and est.bound == "lower" and 0 < est.ess <= 4000
    assert abs(est.log_z - exact) < Z_CRIT * est.stderr
    sweep = lambda b, s, u: ref.checkerboard_sweep(4, 4, b * coupling, 0.0, s, u)  # noqa: E731
    log_w = ref.ais(model.energy, sweep, 16, betas, 4000, philox_key(seed), weight_after_move=True)
    w = np.exp(log_w - log_w.max())
    se = w.std(ddof=1) / (np.sqrt(w.size) * w.mean())
    mutant = 16 * np.log(2) + log_mean_exp(log_w)
    assert abs(mutant - exact) > Z_CRIT * se


@statistical
def test_ais_unbiased_z_and_jensen_over_repeats(seed):
    """200 independent short runs (50 chains, 20 temperatures) on the 4 × 4 lattice at
    coupling 0.44: mean Ẑ/Z within 5 standard errors of 1, mean log Ẑ ≤ log Z + 5 se."""
    model = fe.Ising.lattice(4, 4, 0.44)
    exact = model.log_partition()
    seeds = np.random.SeedSequence(seed).spawn(200)
    logs = np.array([ais_discrete(model, None, 50, 20, rng=s).log_z for s in seeds])
    assert unbiased_ratio_z(logs, exact) < 5
    assert logs.mean() - exact < 5 * logs.std(ddof=1) / np.sqrt(logs.size)


def test_exact_log_partition_through_fe_log_partition():
    model = fe.Ising.lattice(3, 3, 0.3)
    est = fe.log_partition(model)
    assert est.log_z == model.log_partition() and est.stderr == 0.0


# -- bad input ----------------------------------------------------------------------------------
def test_bad_input_is_named(seed):
    J, h = _dense(seed, n=4)
    with pytest.raises(ValueError, match="J must be a non-empty square"):
        fe.Ising(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="J must be symmetric"):
        fe.Ising(np.triu(J), h)
    with pytest.raises(ValueError, match="zero diagonal"):
        fe.Ising(J + np.eye(4), h)
    with pytest.raises(ValueError, match="h must have shape"):
        fe.Ising(J, np.zeros(5))
    with pytest.raises(ValueError, match="J must be finite"):
        fe.Ising(np.full((2, 2), np.nan), np.zeros(2))
    with pytest.raises(ValueError, match="J must have 2"):
        fe.Ising(np.zeros(4), np.zeros(4))
    model = fe.Ising(J, h)
    with pytest.raises(ValueError, match="s must hold spins"):
        model.energy(np.array([1.0, 0.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="x0 must hold spins"):
        fe.gibbs(model, np.zeros((3, 4)), 5)
    with pytest.raises(ValueError, match="x0 must have shape"):
        fe.gibbs(model, np.ones((3, 5)), 5)
    with pytest.raises(TypeError, match="x0 must be a numeric"):
        fe.gibbs(model, np.array([["a"] * 4]), 5)
    with pytest.raises(TypeError, match="gibbs"):
        fe.mala(model, np.ones((2, 4)), 0.1, 10)
    with pytest.raises(TypeError, match="no gradient"):
        model.grad(np.ones(4))
    with pytest.raises(ValueError, match="theta must have shape"):
        model.with_theta(np.zeros(3))
    with pytest.raises(ValueError, match="base must be None"):
        ais_discrete(model, np.ones((3, 4)), 10, 10)
    with pytest.raises(ValueError, match="M must be >= 2"):
        fe.Ising.lattice(4, 1, 0.3)
    with pytest.raises(TypeError, match="L must be an integer"):
        fe.Ising.lattice(4.0, 4, 0.3)
    with pytest.raises(ValueError, match="coupling must be finite"):
        fe.Ising.lattice(4, 4, np.inf)
    with pytest.raises(ValueError, match="field must have 0"):
        fe.Ising.lattice(4, 4, 0.3, field=[0.1, 0.2])
