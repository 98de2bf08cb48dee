"""The GPU path (host emulation; a device when there is one) against the Numba backend.

On the host the CUDA kernels are built by g++ from the same source with the Numba
kernels' arithmetic, so whole runs must be bit-for-bit equal, except where the energy's
arithmetic differs by design (the dense Gaussian's energy in the random walk: BLAS there,
a dot product on the CPU), which only adaptation can amplify. On a device a single step
agrees to 1e-12; whole runs are compared statistically (test_gpu_statistical.py).
"""
import numba
import numpy as np
import pytest

import fastebm as fe
from tests.gpu.energies import ENERGIES, kept, run_sampler

OPTIONS = {
    "plain": dict(),
    "adapt": dict(burn_in=60, adapt=True),
    "diag": dict(burn_in=200, precondition="diag", adapt=True),
    "dense": dict(burn_in=200, precondition="dense"),
    "moments": dict(keep="moments", thin=3),
    "thin": dict(thin=4, burn_in=5),
}
SAMPLERS = ("mala", "langevin", "metropolis")
# float32 starts run the kernels' float32 build (chain arrays as float32): the paths and
# splits of a run must agree bit for bit there too (its new states are rounded to float32
# wherever they are computed, common.cuh's fastebm_as_real)
DTYPES = [np.float64, np.float32]


def _start(energy, n=40, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, energy.dim or 2)).astype(dtype)



@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", ENERGIES)
def test_whole_runs_equal_the_numba_backend(name, sampler, option):
    """Emulated GPU path: the same draws, acceptance and final state, bit for bit."""
    energy, kw = ENERGIES[name], OPTIONS[option]
    if numba.config.DISABLE_JIT and kw.get("adapt"):
        pytest.skip("the Numba kernels as Python use NumPy's exp and log, not the C "
                    "library's: adaptation amplifies the last-bit differences")
    x0 = _start(energy)
    cpu = run_sampler(sampler, energy, x0, 50, rng=3, **kw)
    with fe.backend.emulate_gpu():
        emulated = run_sampler(sampler, energy, x0, 50, rng=3, **kw)
    a, b = kept(cpu), kept(emulated)
    if name == "dense" and sampler == "metropolis" and kw.get("adapt"):
        # E(y) by BLAS against a dot product: 1-ulp differences, amplified by adaptation
        assert np.max(np.abs(a - b)) < 1e-3
        return
    if numba.config.DISABLE_JIT:  # NumPy's exp and log (see above): equal to rounding
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        return
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cpu.acceptance_rate, emulated.acceptance_rate)
    np.testing.assert_array_equal(cpu.state.position, emulated.state.position)
    np.testing.assert_array_equal(cpu.step_size, emulated.step_size)


def test_the_comparison_sees_a_different_stream():
    """Negative control: another seed, or another first chain, changes the emulated run."""
    energy = ENERGIES["banana"]
    x0 = _start(energy)
    with fe.backend.emulate_gpu():
        base = fe.mala(energy, x0, 0.2, 20, rng=3).draws
        assert not np.array_equal(base, fe.mala(energy, x0, 0.2, 20, rng=4).draws)
        assert not np.array_equal(base, fe.mala(energy, x0, 0.2, 20, rng=3, first_chain=1).draws)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", ENERGIES)
def test_one_step_agrees_with_the_numba_backend(gpu, name, sampler):
    """One step from the same state, on the host emulation and on a device: 1e-12."""
    energy = ENERGIES[name]
    x0 = _start(energy, n=300)
    cpu = run_sampler(sampler, energy, x0, 1, rng=11)
    with gpu.context():
        other = run_sampler(sampler, energy, gpu.asarray(x0), 1, rng=11)
    np.testing.assert_allclose(gpu.numpy(other.draws), cpu.draws, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(gpu.numpy(other.acceptance_rate), cpu.acceptance_rate)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sampler", ["mala", "langevin"])
@pytest.mark.parametrize("name", ["diag", "banana"])
def test_fused_kernel_equals_three_launches_a_step(gpu, name, sampler, dtype, monkeypatch):
    """A pointwise energy runs every step in one launch; the general path (propose,
    energy, accept) must give the same numbers."""
    from fastebm._kernels.cuda import runners
    energy = ENERGIES[name]
    x0 = gpu.asarray(_start(energy, dtype=dtype))
    with gpu.context():
        fused = run_sampler(sampler, energy, x0, 30, rng=5, burn_in=10, adapt=True)
        monkeypatch.setattr(runners.LangevinRunner, "fused", property(lambda self: False))
        stepped = run_sampler(sampler, energy, x0, 30, rng=5, burn_in=10, adapt=True)
    np.testing.assert_array_equal(gpu.numpy(fused.draws), gpu.numpy(stepped.draws))


@pytest.mark.parametrize("precondition", [None, "dense"])
def test_stored_noise_equals_redrawn_noise(gpu, precondition, monkeypatch):
    """MALA's accept reads the stored noise or draws it again: the same run."""
    from fastebm._kernels.cuda import runners
    energy = ENERGIES["dense"]
    x0 = gpu.asarray(_start(energy))
    kw = dict(burn_in=40, adapt=True, precondition=precondition)
    with gpu.context():
        monkeypatch.setattr(runners.LangevinRunner, "store_noise", True)
        stored = fe.mala(energy, x0, 0.2, 20, rng=6, **kw)
        monkeypatch.setattr(runners.LangevinRunner, "store_noise", False)
        redrawn = fe.mala(energy, x0, 0.2, 20, rng=6, **kw)
    np.testing.assert_array_equal(gpu.numpy(redrawn.draws), gpu.numpy(stored.draws))


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_walk_paths_agree(gpu, dtype, monkeypatch):
    """The random walk's fused kernel against its three launches a step (a pointwise
    energy forced onto the general path)."""
    from fastebm._kernels.cuda import device_energy
    energy = ENERGIES["banana"]
    x0 = gpu.asarray(_start(energy, dtype=dtype))
    with gpu.context():
        fused = fe.metropolis(energy, x0, 30, scale=0.7, rng=5)
        monkeypatch.setattr(device_energy.DeviceEnergy, "pointwise", False, raising=False)
        monkeypatch.setattr(device_energy.DeviceEnergy, "energy",
                            lambda self, xt, e, scratch=None: self.launch(
                                "energy_rows", xt.shape[1], xt, xt, e, self.theta, self.beta,
                                np.int32(0)))
        stepped = fe.metropolis(energy, x0, 30, scale=0.7, rng=5)
    np.testing.assert_array_equal(gpu.numpy(fused.draws), gpu.numpy(stepped.draws))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_continued_run_equals_one_run(gpu, sampler, dtype):
    energy = ENERGIES["banana"]
    x0 = gpu.asarray(_start(energy, dtype=dtype))
    with gpu.context():
        whole = run_sampler(sampler, energy, x0, 40, rng=9)
        first = run_sampler(sampler, energy, x0, 25, rng=9)
        rest = run_sampler(sampler, energy, first.state, 15)
    np.testing.assert_array_equal(gpu.numpy(whole.draws[25:]), gpu.numpy(rest.draws))


def test_rows_of_a_run_are_the_rows_of_the_whole_run(gpu):
    energy = ENERGIES["dense"]
    x0 = _start(energy, n=50)
    with gpu.context():
        whole = fe.mala(energy, gpu.asarray(x0), 0.2, 20, rng=2)
        part = fe.mala(energy, gpu.asarray(x0[17:31]), 0.2, 20, rng=2, first_chain=17)
    np.testing.assert_allclose(gpu.numpy(part.draws), gpu.numpy(whole.draws)[:, 17:31],
                               rtol=0, atol=0 if gpu.exact else 1e-12)


def test_results_stay_in_the_array_module(gpu):
    energy = ENERGIES["diag"]
    x0 = gpu.asarray(_start(energy))
    with gpu.context():
        r = fe.mala(energy, x0, 0.2, 10, rng=1)
        e, g = energy.energy_and_grad(x0)
    assert type(r.draws) is type(x0) and type(r.state.position) is type(x0)
    assert type(e) is type(x0) and type(g) is type(x0)
    cpu_e, cpu_g = energy.energy_and_grad(gpu.numpy(x0))
    np.testing.assert_allclose(gpu.numpy(e), cpu_e, rtol=1e-14)
    np.testing.assert_allclose(gpu.numpy(g), cpu_g, rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", ["plain", "moments", "thin"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_run_in_blocks_equals_one_run(gpu, sampler, option, dtype, monkeypatch):
    """``progress=True`` cuts a run into kernel calls (fastebm.progress): the draws go to
    their slots and the running moments continue from the states they hold, exactly."""
    import fastebm.progress
    monkeypatch.setattr(fastebm.progress, "BLOCK_SECONDS", 1e-5)
    monkeypatch.delenv(fastebm.progress.ENV_SWITCH, raising=False)
    energy = ENERGIES["banana"]
    x0 = gpu.asarray(_start(energy, dtype=dtype))
    with gpu.context():
        whole = run_sampler(sampler, energy, x0, 60, rng=4, **OPTIONS[option])
        blocks = run_sampler(sampler, energy, x0, 60, rng=4, progress=True, **OPTIONS[option])
    np.testing.assert_array_equal(gpu.numpy(kept(blocks)), gpu.numpy(kept(whole)))
    if whole.variance is not None:
        np.testing.assert_array_equal(gpu.numpy(blocks.variance), gpu.numpy(whole.variance))
