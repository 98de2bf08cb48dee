"""MCMC samplers reach targets with known moments from cold, overdispersed starts.

The final states of many independent chains after burn-in are tested against the exact
mean and variance with standard errors from the exact fourth moment (harness.py); each
test also shows that a broken sampler fails the same check.
"""
import numpy as np
import pytest

import fastebm as fe
from tests.statistical import targets
from tests.statistical.harness import Z_CRIT, moments_z

N_CHAINS = 4000


def _cold_start(mean, var, n, seed):
    rng = np.random.default_rng(seed + 1)
    return mean + 3.0 * np.sqrt(var) * rng.standard_normal((n, mean.size))


def _target(name):
    if name == "normal_1d":
        return targets.normal_1d() + (None,)
    if name == "correlated_2d":
        return targets.correlated_2d() + (None,)
    if name == "ill_conditioned_20d":
        return targets.ill_conditioned_20d() + (None,)
    if name == "mixture":
        return targets.two_mode_mixture()
    return targets.banana()


RUNS = {
    "mala": lambda E, x0, seed, **kw: fe.mala(E, x0, 0.1, 1, burn_in=1500, adapt=True, rng=seed, **kw),
    # a random walk from x0 ≈ ±10 on the banana must climb a ridge of width 1 up to
    # x1 ≈ 50, about 2500 steps of diffusion: 3000 steps of burn-in were not always enough
    "rwm": lambda E, x0, seed, **kw: fe.metropolis(E, x0, 1, scale=0.5, burn_in=10000,
                                                  adapt=True, rng=seed, **kw),
}
CASES = [(s, t) for s in RUNS for t in ["normal_1d", "correlated_2d", "mixture", "banana"]]


@pytest.mark.parametrize("sampler,target", CASES)
def test_moments_from_cold_start(sampler, target, seed):
    energy, mean, var, fourth = _target(target)
    result = RUNS[sampler](energy, _cold_start(mean, var, N_CHAINS, seed), seed)
    assert moments_z(result.state.position, mean, var, fourth) < Z_CRIT


@pytest.mark.parametrize("sampler,precondition,burn_in", [
    ("mala", None, 4000), ("mala", "diag", 4000), ("mala", "dense", 1500),
    ("rwm", "dense", 3000)])
def test_ill_conditioned_20d(sampler, precondition, burn_in, seed):
    """Condition number 100 in a random rotation; without a dense metric the slow
    directions need more steps, and random walk without one needs far more (not run)."""
    energy, mean, var, _ = _target("ill_conditioned_20d")
    x0 = _cold_start(mean, var, 2000, seed)
    if sampler == "mala":
        run = fe.mala(energy, x0, 0.1, 1, burn_in=burn_in, adapt=True,
                      precondition=precondition, rng=seed)
    else:
        run = fe.metropolis(energy, x0, 1, scale=0.3, burn_in=burn_in, adapt=True,
                            precondition=precondition, rng=seed)
    assert moments_z(run.state.position, mean, var) < Z_CRIT


def test_independent_proposal_moments(seed):
    energy, mean, var = targets.correlated_2d()
    q = fe.proposals.Gaussian(mean, np.diag(var) * 4.0)
    result = fe.metropolis(energy, _cold_start(mean, var, N_CHAINS, seed), 1, proposal=q,
                           burn_in=200, rng=seed)
    assert moments_z(result.state.position, mean, var) < Z_CRIT


def test_negative_control_mala_without_accept_step(seed):
    """ULA at MALA's adapted step size is biased and the moment check must see it."""
    energy, mean, var = targets.normal_1d()
    x0 = _cold_start(mean, var, N_CHAINS, seed)
    adapted = fe.mala(energy, x0, 0.1, 1, burn_in=1500, adapt=True, rng=seed)
    ula = fe.langevin(energy, x0, adapted.step_size, 1, burn_in=1500, rng=seed)
    assert moments_z(ula.state.position, mean, var) > Z_CRIT


def test_negative_control_always_rejecting_sampler(seed):
    energy, mean, var = targets.correlated_2d()
    with pytest.warns(fe.LowAcceptanceWarning, match="barely move"):
        stuck = fe.mala(energy, _cold_start(mean, var, N_CHAINS, seed), 1e3, 1, burn_in=500,
                        rng=seed)
    assert stuck.acceptance_rate.mean() < 1e-3
    assert moments_z(stuck.state.position, mean, var) > Z_CRIT


def test_adaptation_reaches_target_acceptance(seed):
    energy, mean, var = targets.correlated_2d()
    x0 = _cold_start(mean, var, N_CHAINS, seed)
    mala = fe.mala(energy, x0, 0.01, 200, burn_in=1000, adapt=True, rng=seed)
    rwm = fe.metropolis(energy, x0, 200, scale=0.01, burn_in=1000, adapt=True, rng=seed)
    assert abs(mala.acceptance_rate.mean() - 0.574) < 0.08
    assert abs(rwm.acceptance_rate.mean() - 0.234) < 0.08


def _posterior_like():
    """Scales 10⁻² to 10², correlation -0.99 between the first two coordinates: the
    geometry of real posteriors that preconditioning is for."""
    sd = np.array([1e-2, 1.0, 1e2])
    corr = np.array([[1.0, -0.99, 0.0], [-0.99, 1.0, 0.05], [0.0, 0.05, 1.0]])
    cov = corr * np.outer(sd, sd)
    mean = np.array([0.05, -2.0, 30.0])
    return fe.Gaussian(mean, covariance=cov), mean, np.diag(cov)


@pytest.mark.parametrize("sampler", ["mala", "rwm"])
def test_dense_preconditioning_on_badly_scaled_correlated_target(sampler, seed):
    energy, mean, var = _posterior_like()
    x0 = mean + np.sqrt(var) * np.random.default_rng(seed).standard_normal((2000, 3)) * 2
    if sampler == "mala":
        run = fe.mala(energy, x0, 1e-4, 1, burn_in=1500, adapt=True, precondition="dense", rng=seed)
    else:
        run = fe.metropolis(energy, x0, 1, scale=1e-2, burn_in=3000, adapt=True,
                            precondition="dense", rng=seed)
    assert moments_z(run.state.position, mean, var) < Z_CRIT
    np.testing.assert_allclose(np.sqrt(np.diag(run.inverse_mass)), np.sqrt(var), rtol=0.2)


def test_negative_control_unpreconditioned_mala_fails_there(seed):
    """Without a metric, the same budget leaves the 10² scale unexplored."""
    energy, mean, var = _posterior_like()
    x0 = mean + np.sqrt(var) * np.random.default_rng(seed).standard_normal((2000, 3)) * 2
    run = fe.mala(energy, x0, 1e-4, 1, burn_in=1500, adapt=True, rng=seed)
    assert moments_z(run.state.position, mean, var) > Z_CRIT
