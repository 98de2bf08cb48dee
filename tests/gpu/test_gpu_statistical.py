"""The statistical checks of the CPU samplers, run through the GPU path (the host
emulation; a device when there is one).

Many independent chains from cold, overdispersed starts; their final states are tested
against the exact mean and variance, with standard errors from the exact fourth moment
(tests/statistical/harness.py). Each check has a negative control that the same test
must catch. The checks and their controls run in float64 and in float32 (the kernels'
float32 build: chain arrays, kept moments and the dense preconditioner's products in
float32).
"""
import numpy as np
import pytest

import fastebm as fe
from tests.gpu.energies import BANANA
from tests.statistical import targets
from tests.statistical.harness import Z_CRIT, moments_z

pytestmark = pytest.mark.statistical
N_CHAINS = 4000
DTYPES = [np.float64, np.float32]


def _cold_start(mean, var, n, seed, dtype=np.float64):
    rng = np.random.default_rng(seed + 1)
    return (mean + 3.0 * np.sqrt(var) * rng.standard_normal((n, mean.size))).astype(dtype)


def _banana():
    _, mean, var, fourth = targets.banana()
    return BANANA, mean, var, fourth


TARGETS = {"normal_1d": lambda: targets.normal_1d() + (None,),
           "correlated_2d": lambda: targets.correlated_2d() + (None,),
           "banana": _banana}
RUNS = {
    "mala": lambda E, x0, seed, **kw: fe.mala(E, x0, 0.1, 1, burn_in=1500, adapt=True,
                                              rng=seed, **kw),
    "rwm": lambda E, x0, seed, **kw: fe.metropolis(E, x0, 1, scale=0.5, burn_in=10000,
                                                  adapt=True, rng=seed, **kw),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("sampler", RUNS)
def test_moments_from_cold_start(gpu, sampler, target, dtype, seed):
    energy, mean, var, fourth = TARGETS[target]()
    x0 = gpu.asarray(_cold_start(mean, var, N_CHAINS, seed, dtype))
    with gpu.context():
        result = RUNS[sampler](energy, x0, seed)
    assert result.state.position.dtype == dtype
    assert moments_z(gpu.numpy(result.state.position), mean, var, fourth) < Z_CRIT


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sampler,precondition", [("mala", "dense"), ("rwm", "dense"),
                                                  ("mala", "diag")])
def test_ill_conditioned_20d(gpu, sampler, precondition, dtype, seed):
    """Condition number 100 in a random rotation, with an estimated preconditioner."""
    energy, mean, var = targets.ill_conditioned_20d()
    x0 = gpu.asarray(_cold_start(mean, var, 2000, seed, dtype))
    with gpu.context():
        if sampler == "mala":
            run = fe.mala(energy, x0, 0.1, 1, burn_in=1500 if precondition == "dense" else 4000,
                          adapt=True, precondition=precondition, rng=seed)
        else:
            run = fe.metropolis(energy, x0, 1, scale=0.3, burn_in=3000, adapt=True,
                                precondition=precondition, rng=seed)
    assert moments_z(gpu.numpy(run.state.position), mean, var) < Z_CRIT


@pytest.mark.parametrize("dtype", DTYPES)
def test_keep_moments_match_the_target(gpu, dtype, seed):
    """Per-chain running moments (keep="moments") pooled over chains."""
    energy, mean, var = targets.correlated_2d()
    x0 = gpu.asarray(_cold_start(mean, var, 1000, seed, dtype))
    with gpu.context():
        run = fe.mala(energy, x0, 0.1, 400, burn_in=500, adapt=True, keep="moments", rng=seed)
    chain_means = gpu.numpy(run.mean)
    # per-chain means of 400 correlated draws: check the pooled mean against its spread
    z = np.abs(chain_means.mean(axis=0) - mean) / (chain_means.std(axis=0) / np.sqrt(1000))
    assert np.all(z < Z_CRIT)
    assert np.all(np.abs(gpu.numpy(run.variance).mean(axis=0) / var - 1) < 0.1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_control_ula_at_mala_step_is_biased(gpu, dtype, seed):
    """ULA at MALA's adapted step size is biased, and the moment check sees it."""
    energy, mean, var = targets.normal_1d()
    x0 = gpu.asarray(_cold_start(mean, var, N_CHAINS, seed, dtype))
    with gpu.context():
        adapted = fe.mala(energy, x0, 0.1, 1, burn_in=1500, adapt=True, rng=seed)
        ula = fe.langevin(energy, x0, adapted.step_size, 1, burn_in=1500, rng=seed)
    assert moments_z(gpu.numpy(ula.state.position), mean, var) > Z_CRIT


def test_negative_control_always_rejecting_sampler(gpu, seed):
    energy, mean, var = targets.correlated_2d()
    with gpu.context(), pytest.warns(fe.LowAcceptanceWarning):
        stuck = fe.mala(energy, gpu.asarray(_cold_start(mean, var, N_CHAINS, seed)), 1e3, 1,
                        burn_in=500, rng=seed)
    assert gpu.numpy(stuck.acceptance_rate).mean() < 1e-3
    assert moments_z(gpu.numpy(stuck.state.position), mean, var) > Z_CRIT


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_control_wrong_target(gpu, dtype, seed):
    """A sampler of the banana with the wrong curvature b = 0.6 fails the b = 0.5 check."""
    wrong = fe.energy(lambda x: 0.0, dim=2, cuda=r"""
__device__ double energy(const double *x, const double *theta)
{
    double r = x[1] - 0.6 * x[0] * x[0];
    return 0.5 * x[0] * x[0] + 0.5 * r * r;
}""")
    _, mean, var, fourth = _banana()
    with gpu.context():
        result = fe.metropolis(wrong, gpu.asarray(_cold_start(mean, var, N_CHAINS, seed, dtype)),
                               1, scale=0.5, burn_in=3000, adapt=True, rng=seed)
    assert moments_z(gpu.numpy(result.state.position), mean, var, fourth) > Z_CRIT


def test_adaptation_reaches_target_acceptance(gpu, seed):
    energy, mean, var = targets.correlated_2d()
    x0 = gpu.asarray(_cold_start(mean, var, N_CHAINS, seed))
    with gpu.context():
        mala = fe.mala(energy, x0, 0.01, 200, burn_in=1000, adapt=True, rng=seed)
        rwm = fe.metropolis(energy, x0, 200, scale=0.01, burn_in=1000, adapt=True, rng=seed)
    assert abs(gpu.numpy(mala.acceptance_rate).mean() - 0.574) < 0.08
    assert abs(gpu.numpy(rwm.acceptance_rate).mean() - 0.234) < 0.08
