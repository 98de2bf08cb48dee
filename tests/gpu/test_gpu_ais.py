"""Annealed importance sampling on the GPU path (the host emulation; a device when there is
one) against the Numba backend.

On the host the kernels of ``ais.cu`` are built by g++ with the Numba kernels'
arithmetic, on the same Philox streams and counters, so log weights, acceptance counts
and divergences equal the Numba backend's bit for bit, and so do the adaptive schedule,
the tuned steps and the number of moves per temperature (the same drivers on the same
numbers). The exceptions are the products the Numba kernels take through BLAS and the
CUDA kernels sum in the thread: a dense Gaussian energy (P x), a Gaussian base with a
full covariance (∇ log q = -P(x - μ), MALA and ULA), and the preconditioner's L
(``precondition="dense"``, the default with tuned steps): those agree to 1e-12 relative.
With NUMBA_DISABLE_JIT=1 the Numba kernels run as Python with NumPy's log and exp: 1e-12
there too.
"""
import sys
import warnings

import numpy as np
import pytest

import fastebm as fe
from fastebm import backend
from fastebm._kernels.cuda import build
from fastebm.energies.custom import FiniteDifferenceWarning
from fastebm.estimators.ais import BiasedAISWarning
from tests.gpu.energies import BANANA, DENSE, DIAG, MIXTURE, assert_same
from tests.statistical.harness import Z_CRIT

ENERGIES = {"diag": DIAG, "dense": DENSE, "mixture": MIXTURE}
BLAS_ENERGIES = {"dense"}  # P x by BLAS on the CPU, in the thread on the GPU path


def _bases(d):
    """Bases the CUDA AIS kernels anneal from; the full-covariance Gaussian's ∇ log q is a
    BLAS product on the CPU."""
    return {
        "gaussian_diag": fe.proposals.Gaussian(np.linspace(-0.5, 0.5, d), np.linspace(3, 5, d)),
        "gaussian_full": fe.proposals.Gaussian(np.full(d, 0.1), 4.0 * np.eye(d) + 0.5),
        "uniform": fe.proposals.Uniform(np.full(d, -6.0), np.linspace(5, 7, d)),
    }


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiniteDifferenceWarning)
        warnings.simplefilter("ignore", BiasedAISWarning)
        warnings.simplefilter("ignore", fe.warnings.LowESSWarning)
        return call()


def _both(call):
    """(the Numba backend's result, the emulated GPU path's) of ``call()``."""
    cpu = _quiet(call)
    with backend.emulate_gpu():
        gpu = _quiet(call)
    return cpu, gpu


def _assert_same(a, b, rtol=0.0):
    """``assert_same`` with an absolute floor of 1e-12 (log weights near zero)."""
    assert_same(a, b, rtol, atol=1e-12)


def _assert_same_estimate(cpu, gpu, rtol=0.0):
    """Log weights, log Z, temperatures, steps and the per-chain counts."""
    _assert_same(cpu.log_weights, gpu.log_weights, rtol)
    _assert_same(cpu.temperatures, gpu.temperatures, rtol)
    if cpu.step_size is not None:
        _assert_same(cpu.step_size, gpu.step_size, rtol)
    assert cpu.n_steps_per_temperature == gpu.n_steps_per_temperature
    np.testing.assert_array_equal(cpu.n_divergent, gpu.n_divergent)
    np.testing.assert_array_equal(cpu.acceptance_rate, gpu.acceptance_rate)
    _assert_same(cpu.log_z, gpu.log_z, rtol)


# --- the kernels are built into every module ---------------------------------------------

@pytest.mark.parametrize("defines", [{"FASTEBM_DIM": 3},
                                     {"FASTEBM_DIM": 2, "FASTEBM_ENERGY_DIAG_GAUSSIAN": None}])
def test_every_module_carries_the_ais_kernels(defines):
    """ais.cu is part of every module (so test_cuda_sources.py compiles it with NVRTC,
    nvcc and g++ -Wall -Wextra), with and without a pointwise energy."""
    assert "ais.cu" in build.ALGORITHMS
    source = build.module_source(defines)
    lib = build.host_library(source)
    for entry in ("ais_langevin", "ais_random_walk"):
        assert f"{entry}_body" in source
        assert hasattr(lib, entry), entry


def test_emulated_ais_goes_through_the_cuda_kernels(monkeypatch):
    calls = []
    original = build.HostLauncher.__call__
    monkeypatch.setattr(build.HostLauncher, "__call__",
                        lambda self, name, n, *a: calls.append(name) or original(self, name, n, *a))
    q = _bases(3)["gaussian_diag"]
    with backend.emulate_gpu():
        fe.ais(DIAG, q, 20, 5, step_size=0.3, rng=0)
        fe.ais(DIAG, q, 20, 5, step_size=0.3, transition="rwm", rng=0)
    assert calls == ["ais_langevin", "ais_random_walk"]
    calls.clear()
    fe.ais(DIAG, q, 20, 5, step_size=0.3, rng=0)  # outside: the Numba kernels
    assert calls == []


# --- fixed schedules with given steps: the Numba backend's log weights ---------------------

@pytest.mark.parametrize("base_name", list(_bases(3)))
@pytest.mark.parametrize("energy_name", list(ENERGIES))
@pytest.mark.parametrize("transition", ["mala", "ula", "rwm"])
def test_fixed_schedule_equals_the_numba_backend(transition, energy_name, base_name):
    """Bit for bit, except where the CPU takes a BLAS product: the dense Gaussian energy
    (every transition), a full-covariance Gaussian base's ∇ log q (Langevin moves; the
    random walk's log q is a loop on both backends)."""
    energy, base = ENERGIES[energy_name], _bases(3)[base_name]
    blas = energy_name in BLAS_ENERGIES or (base_name == "gaussian_full" and transition != "rwm")
    steps = np.linspace(0.2, 0.5, 12)
    cpu, gpu = _both(lambda: fe.ais(energy, base, 40, schedule="sigmoid", n_temperatures=12,
                                    transition=transition, step_size=steps,
                                    n_steps_per_temperature=2, rng=5))
    _assert_same_estimate(cpu, gpu, 1e-12 if blas else 0.0)
    assert cpu.acceptance_rate.mean() > 0.1


def test_user_energy_snippet_equals_the_numba_backend():
    """The banana: a CUDA snippet with energy_grad and its Numba twin."""
    base = fe.proposals.Gaussian(np.zeros(2), [4.0, 9.0])
    for transition in ("mala", "rwm"):
        cpu, gpu = _both(lambda: fe.ais(BANANA, base, 30, 10, transition=transition,
                                        step_size=0.3, rng=2))
        _assert_same_estimate(cpu, gpu)


def test_the_comparison_sees_another_stream():
    """Negative control: another key, or another first chain, changes the log weights."""
    q = _bases(3)["gaussian_diag"]
    with backend.emulate_gpu():
        run = lambda **kw: fe.ais(DIAG, q, 20, 8, step_size=0.3, **kw).log_weights  # noqa: E731
        base = run(rng=1)
        assert not np.array_equal(base, run(rng=2))
        assert not np.array_equal(base, run(rng=1, first_chain=1))


def test_preconditioned_mala_equals_the_numba_backend():
    """precondition="dense": the pilot's covariances per temperature (the same drivers on
    the same numbers) and moves through Lₖ; Lₖ's products are BLAS on the CPU (1e-12)."""
    base = _bases(3)["gaussian_diag"]
    cpu, gpu = _both(lambda: fe.ais(MIXTURE, base, 40, 15, step_size=0.4,
                                    precondition="dense", pilot_chains=64, rng=3))
    _assert_same_estimate(cpu, gpu, 1e-12)


# --- the default call: adaptive schedule, tuned steps, adaptive moves ----------------------

def test_adaptive_schedule_and_tuned_steps_equal_the_numba_backend():
    """schedule="adaptive", step_size=None, n_steps_per_temperature=None without a
    preconditioner: the pilot's temperatures, steps and moves, then the estimate, bit for
    bit."""
    base = _bases(2)["gaussian_diag"]
    energy = fe.Gaussian(np.array([0.5, -1.0]), np.array([0.5, 0.2]))
    for transition in ("mala", "rwm"):
        cpu, gpu = _both(lambda: fe.ais(energy, base, 50, transition=transition,
                                        precondition=None, pilot_chains=64,
                                        cess_target=0.95, rng=4))
        _assert_same_estimate(cpu, gpu)
        assert cpu.temperatures.size > 3


def test_default_call_equals_the_numba_backend():
    """fe.ais(E, q, n): the default (adaptive schedule, tuned steps, adaptive moves and the
    dense preconditioner for d ≤ 64): 1e-12 (the preconditioner's BLAS products)."""
    base = _bases(2)["gaussian_diag"]
    energy = fe.Gaussian(np.array([0.5, -1.0]), np.array([0.5, 0.2]))
    cpu, gpu = _both(lambda: fe.ais(energy, base, 50, pilot_chains=64, cess_target=0.95,
                                    rng=6))
    _assert_same_estimate(cpu, gpu, 1e-12)


# --- reverse AIS and sharding ---------------------------------------------------------------

def _exact_draws(n, seed):
    mean, var = np.array([0.5, -1.0, 0.0]), np.array([2.0, 1.0, 0.5])
    return mean + np.sqrt(var) * np.random.default_rng(seed).standard_normal((n, 3))


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_reverse_ais_equals_the_numba_backend(transition):
    base = _bases(3)["gaussian_diag"]
    x = _exact_draws(40, 1)
    cpu, gpu = _both(lambda: fe.reverse_ais(DIAG, base, x, 12, transition=transition,
                                            step_size=0.3, n_steps_per_temperature=2, rng=7))
    _assert_same_estimate(cpu, gpu)
    cpu, gpu = _both(lambda: fe.reverse_ais(DIAG, base, x, transition=transition,
                                            precondition=None, pilot_chains=64,
                                            cess_target=0.95, rng=7))
    _assert_same_estimate(cpu, gpu)


def test_rows_of_a_run_are_the_rows_of_the_whole_run():
    """first_chain=a on chains [a, b): those rows of the whole run, on the GPU path too."""
    q = _bases(3)["uniform"]
    with backend.emulate_gpu():
        whole = fe.ais(MIXTURE, q, 90, 10, step_size=0.3, rng=9)
        part = fe.ais(MIXTURE, q, 30, 10, step_size=0.3, rng=9, first_chain=40)
        cpu = fe.ais(MIXTURE, q, 90, 10, step_size=0.3, rng=9)
    np.testing.assert_array_equal(whole.log_weights[40:70], part.log_weights)
    _assert_same(fe.ais(MIXTURE, q, 30, 10, step_size=0.3, rng=9, first_chain=40).log_weights,
                 part.log_weights)
    _assert_same(cpu.log_weights, whole.log_weights)


def test_blocks_with_a_progress_bar_give_the_same_result(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setenv("FASTEBM_PROGRESS", "1")
    monkeypatch.setattr("fastebm.progress.FIRST_BLOCK_FRACTION", 0.1, raising=False)
    q = _bases(3)["gaussian_diag"]
    x = _exact_draws(300, 2)
    with backend.emulate_gpu():
        plain = fe.ais(DIAG, q, 300, 6, step_size=0.3, rng=4)
        barred = fe.ais(DIAG, q, 300, 6, step_size=0.3, rng=4, progress=True)
        reverse = fe.reverse_ais(DIAG, q, x, 6, step_size=0.3, rng=4)
        reverse_barred = fe.reverse_ais(DIAG, q, x, 6, step_size=0.3, rng=4, progress=True)
    np.testing.assert_array_equal(plain.log_weights, barred.log_weights)
    np.testing.assert_array_equal(reverse.log_weights, reverse_barred.log_weights)


# --- statistical: log Z of a Gaussian through the GPU path ------------------------------------

def _gaussian_case(gpu, shift=0.0):
    """N((0.5, -1), diag(2, 0.5)) and the base N(0, 6 I) (its parameters in the GPU's array
    module); ``shift`` moves the base's log normaliser (a wrong base)."""
    base = fe.proposals.Gaussian(gpu.asarray(np.zeros(2)), gpu.asarray(np.array([6.0, 6.0])))
    base._log_norm += shift
    return fe.Gaussian(np.array([0.5, -1.0]), np.array([2.0, 0.5])), base


STEP = {"mala": 0.5, "rwm": 1.0}


@pytest.mark.statistical
@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_log_z_within_standard_errors(gpu, seed, transition):
    """Forward (a lower bound in expectation) and reverse AIS (an upper one) both within
    Z_CRIT standard errors of the exact log Z."""
    energy, base = _gaussian_case(gpu)
    h = STEP[transition]
    x = energy.mean + np.sqrt([2.0, 0.5]) * np.random.default_rng(seed).standard_normal((4000, 2))
    with gpu.context():
        forward = fe.ais(energy, base, 4000, 200, transition=transition, step_size=h, rng=seed)
        reverse = fe.reverse_ais(energy, base, gpu.asarray(x), 200, transition=transition,
                                 step_size=h, rng=seed)
    for est in (forward, reverse):
        assert abs(est.log_z - energy.log_partition()) < Z_CRIT * est.stderr
        assert est.ess > 400


@pytest.mark.statistical
def test_negative_control_wrong_normaliser(gpu, seed):
    """A base whose log density is off by 0.1 (about 17 standard errors) must fail the
    same check."""
    energy, base = _gaussian_case(gpu, shift=0.1)
    with gpu.context():
        est = fe.ais(energy, base, 4000, 200, step_size=0.5, rng=seed)
    assert abs(est.log_z - energy.log_partition()) > Z_CRIT * est.stderr


# --- errors: named, never a silent fallback to the CPU ---------------------------------------

def _device_proposal():
    """A base marked as built from CuPy arrays (as ``placement`` marks one), without CuPy."""
    q = fe.proposals.Gaussian(np.zeros(3), np.eye(3))
    q._on_device = True
    return q


def test_a_device_base_with_numpy_x_target_is_refused():
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.reverse_ais(DIAG, _device_proposal(), _exact_draws(5, 0), 5, step_size=0.3)


def test_a_device_base_without_a_device_is_a_named_error():
    if "cupy" in sys.modules:
        pytest.skip("CuPy is installed")
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        fe.ais(DIAG, _device_proposal(), 10, 5, step_size=0.3, rng=0)


@pytest.mark.parametrize("transition", ["mala", "rwm"])
def test_a_base_without_cuda_ais_kernels_is_refused(transition):
    base = fe.proposals.StudentT(np.zeros(3), np.eye(3), 4.0)
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="StudentT base has no CUDA kernels"):
        fe.ais(DIAG, base, 10, 5, transition=transition, step_size=0.3, rng=0)


def test_an_energy_without_cuda_kernels_is_refused():
    python_only = fe.energy(lambda x: x[0] ** 2, dim=1)
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="no CUDA"):
        _quiet(lambda: fe.ais(python_only, fe.proposals.Gaussian([0.0], [4.0]), 10, 5,
                              step_size=0.3, rng=0))


def test_ising_ais_has_no_cuda_kernels_yet():
    """AIS of an Ising model runs on the CPU only: refused under the emulation (RBMs have
    CUDA AIS kernels: tests/gpu/test_gpu_rbm_ais.py)."""
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="no discrete_ais_log_weights for Ising"):
        fe.ais(fe.Ising.lattice(4, 4, 0.3), None, 10, 5, rng=0)


def test_a_missing_base_gradient_is_the_same_error_on_both_paths():
    """The Langevin moves need ∇ log q; a proposal without one is a TypeError on either
    path (the CUDA runners answer ``has_grad_log_density`` as the Numba runners do)."""
    class NoGradient(fe.proposals.Proposal):
        dim = 1

        def _params(self):
            return ("no-gradient",)

    for context in (backend.emulate_gpu(False), backend.emulate_gpu()):
        with context, pytest.raises(TypeError, match="∇ log q"):
            fe.ais(fe.Gaussian([0.0], [1.0]), NoGradient(), 10, 5, step_size=0.3, rng=0)
