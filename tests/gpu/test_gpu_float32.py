"""float32 runs on the GPU path: the kernels' float32 build (``common.cuh``'s
``fastebm_real``), against the Numba backend, which computes a float32 run in float64
and casts its outputs.

A float32 run keeps its chains (positions, gradients, proposals, layers, spins, kept
draws and moments) in float32 on the device, half the bytes of float64; a step's
arithmetic is float64 in the thread, and the matrix products (a dense Gaussian's P x, the
dense preconditioner, an RBM's W'v) are float32 (sgemm). One step from the same float32
state therefore agrees with the Numba backend to float32 rounding (1e-5, ``docs/gpu.md``);
the splits and paths of a run agree bit for bit (tests/gpu/test_gpu_samplers.py), and the
statistical checks run in float32 too (tests/gpu/test_gpu_statistical.py).
"""
import numpy as np
import pytest

import fastebm as fe
from fastebm._kernels.cuda import runners
from tests.gpu.energies import ENERGIES, MIXTURE, SUMS, run_sampler
from tests.gpu.test_gpu_gibbs import _models, _start as _rbm_start

F32_TOL = 1e-5
SAMPLERS = ("mala", "langevin", "metropolis")
CASES = dict(ENERGIES, mixture=MIXTURE, every_kind=SUMS["every_kind"])
OPTIONS = {"plain": dict(), "dense": dict(precondition="dense", burn_in=20)}


def _start(energy, n=300, seed=0):
    return np.random.default_rng(seed).normal(size=(n, energy.dim or 2)).astype(np.float32)


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", CASES)
def test_one_step_agrees_with_the_numba_backend(gpu, name, sampler, option):
    """From the same float32 state (after the same burn-in for "dense": its
    preconditioner's products are float32 here), one step agrees to 1e-5, the
    accept/reject decisions included, and the draws come back float32."""
    energy, x0 = CASES[name], _start(CASES[name])
    kw = OPTIONS[option]
    cpu = run_sampler(sampler, energy, x0, 1, rng=11, **kw)
    with gpu.context():
        other = run_sampler(sampler, energy, gpu.asarray(x0), 1, rng=11, **kw)
    draws = gpu.numpy(other.draws)
    assert draws.dtype == np.float32 and cpu.draws.dtype == np.float32
    np.testing.assert_allclose(draws, cpu.draws, rtol=F32_TOL, atol=F32_TOL)
    if not kw:  # after a burn-in, a flipped decision there moves the start (allowed)
        np.testing.assert_array_equal(gpu.numpy(other.acceptance_rate), cpu.acceptance_rate)


def test_the_tolerance_sees_a_wrong_step():
    """Negative control: a step of another stream, or of 1.001 times the step size, is
    outside 1e-5."""
    energy, x0 = ENERGIES["banana"], _start(ENERGIES["banana"])
    cpu = fe.mala(energy, x0, 0.2, 1, rng=11)
    with fe.backend.emulate_gpu():
        for other in (fe.mala(energy, x0, 0.2, 1, rng=12),
                      fe.mala(energy, x0, 0.2 * 1.001, 1, rng=11)):
            assert not np.allclose(other.draws, cpu.draws, rtol=F32_TOL, atol=F32_TOL)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_float32_chains_stay_float32(sampler, monkeypatch):
    """The runner keeps float32 chain arrays (the float32 build), not float64 copies: its
    positions, its gradients and what it keeps; float64 runs keep float64."""
    seen = []
    for cls in (runners.LangevinRunner, runners.MetropolisRunner):
        original = cls.advance

        def spy(self, *args, _original=original, **kw):
            out = _original(self, *args, **kw)
            seen.append((self.xt.dtype, getattr(self, "gt", self.xt).dtype, out.dtype))
            return out
        monkeypatch.setattr(cls, "advance", spy)
    energy = ENERGIES["diag"]
    with fe.backend.emulate_gpu():
        for dtype in (np.float32, np.float64):
            seen.clear()
            run_sampler(sampler, energy, _start(energy, 20).astype(dtype), 5)
            assert seen and all(t == (dtype, dtype, dtype) for t in seen), seen


def test_float32_draws_need_half_the_device_memory():
    """The memory check counts 4 bytes a float32 number: a run that fits in float32 is
    refused in float64."""
    n_draws, n, d = 100, 10**5, 100
    free = 2 * 4 * n_draws * n * d
    runners.ensure_fits(n_draws, n, d, free, itemsize=4)
    with pytest.raises(MemoryError, match='keep="moments"'):
        runners.ensure_fits(n_draws, n, d, free, itemsize=8)


def _rbm_runs(gpu, name, seed, n_sweeps):
    """(the GPU path's float32 draws, the Numba backend's) of Gibbs on model ``name`` from
    the same float32 start."""
    model, v0 = _models(seed)[name], _rbm_start(name).astype(np.float32)
    cpu = fe.gibbs(model, v0, n_sweeps, rng=seed)
    with gpu.context():
        other = fe.gibbs(model, gpu.asarray(v0), n_sweeps, rng=seed)
    draws = gpu.numpy(other.draws)
    assert draws.dtype == np.float32 and cpu.draws.dtype == np.float32
    return draws, cpu.draws


@pytest.mark.parametrize("name", ["bernoulli", "tempered"])
def test_bernoulli_rbm_gibbs_equals_the_numba_backend(gpu, name, seed):
    """0/1 units are exact in float32; the pre-activations come from sgemm, which changes
    a draw only where a uniform falls within float32 rounding of its threshold: none in
    this run (and on a device, fewer than one in a thousand)."""
    draws, cpu = _rbm_runs(gpu, name, seed, 15)
    same = np.mean(draws == cpu)
    assert same == 1.0 if gpu.exact else same > 0.999


@pytest.mark.parametrize("name", ["gaussian", "gaussian_tempered"])
def test_gaussian_rbm_sweep_agrees_to_float32_rounding(gpu, name, seed):
    draws, cpu = _rbm_runs(gpu, name, seed, 1)
    np.testing.assert_allclose(draws, cpu, rtol=F32_TOL, atol=F32_TOL)


@pytest.mark.parametrize("shape", [(4, 6), (3, 5)])
def test_lattice_sweeps_equal_the_numba_backend(gpu, shape, seed):
    """Spins ±1 are exact in float32 and a decision compares a float64 uniform with the
    float64 thresholds: float32 lattices give the CPU's spins bit for bit."""
    L, M = shape
    model = fe.Ising.lattice(L, M, 0.4, field=0.1)
    s0 = np.where(np.random.default_rng(1).random((40, L * M)) < 0.5, 1.0, -1.0)
    cpu = fe.gibbs(model, s0.astype(np.float32), 20, rng=seed, thin=2)
    with gpu.context():
        other = fe.gibbs(model, gpu.asarray(s0.astype(np.float32)), 20, rng=seed, thin=2)
    assert gpu.numpy(other.draws).dtype == np.float32
    np.testing.assert_array_equal(gpu.numpy(other.draws), cpu.draws)


def test_float32_running_moments_do_not_stall():
    """keep="moments" of a long float32 run: the running mean is summed in float64 (as on
    the CPU), so it equals the mean of the same run's float32 draws to float32 rounding.
    With float32 sums (the first version) the updates of a mean near 1000 rounded away:
    1.7e-5 off after 2·10⁵ steps, 280 of its ulps."""
    energy = fe.Gaussian(np.full(1, 1000.0), np.eye(1))
    x0 = np.full((2, 1), 1000.0, dtype=np.float32)
    with fe.backend.emulate_gpu():
        moments = fe.metropolis(energy, x0, 200_000, scale=2.4, rng=1, keep="moments")
        draws = fe.metropolis(energy, x0, 200_000, scale=2.4, rng=1).draws
    assert moments.mean.dtype == np.float32
    np.testing.assert_allclose(moments.mean, draws.astype(np.float64).mean(axis=0), rtol=1e-7)


def test_float32_independent_proposal_stays_in_its_uniform_box():
    """A uniform box whose edge is not a float32 number: a draw rounded out of it has
    q = 0 at the stored point and is rejected, so the states stay in the box and the run
    continues (the first version accepted them, and the continuation then refused its
    own start)."""
    energy = fe.Gaussian(np.full(1, 0.3), np.eye(1))
    q = fe.proposals.Uniform([0.3 - 3e-8], [0.3])
    x0 = np.full((40, 1), np.float32(0.29999998))
    with fe.backend.emulate_gpu():
        run = fe.metropolis(energy, x0, 20, proposal=q, rng=1)
        assert np.all(run.state.position <= 0.3) and np.all(run.state.position >= 0.3 - 3e-8)
        more = fe.metropolis(energy, run.state, 5, proposal=q)
    assert more.draws.dtype == np.float32
