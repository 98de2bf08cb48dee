"""Importance sampling and resampling on the GPU path (the host emulation; a device when
there is one) against the Numba backend.

On the host the kernels of ``importance.cu`` are built by g++ with the Numba kernels'
arithmetic, and the cumulative sums of resampling are NumPy's (sequential, as the Numba
merge's running total), so draws, log q, log weights, log Z and resampled indices must
equal the Numba backend's bit for bit. The one exception is the dense Gaussian energy,
a matrix product on the GPU path and a dot product per point on the CPU: its log weights
agree to 1e-12 relative. With NUMBA_DISABLE_JIT=1 the Numba kernels run as Python with
NumPy's log, exp and cos instead of the C library's: equality to 1e-12 there.

On a device (skipped without one) the statistical checks run with CuPy proposals, and
draws agree with the CPU to rounding (libdevice's log and exp in the ziggurat's slow
path and the Student-t's gamma variate).
"""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastebm as fe
from fastebm import backend
from fastebm._kernels.cuda import build
from fastebm._rng import philox_key
from fastebm.energies.custom import FiniteDifferenceWarning
from tests.gpu.energies import BANANA, DIAG, ENERGIES, assert_same
from tests.statistical.harness import Z_CRIT, unbiased_ratio_z

ENTRIES = ["proposal_gaussian_draws", "proposal_uniform_draws", "proposal_student_t_draws",
           "proposal_mixture_draws", "proposal_component_log_density",
           "proposal_uniform_log_density", "proposal_mixture_log_density", "philox_uniforms",
           "sorted_uniform_log_terms", "exp_in_place"]


def _proposals(d):
    """One proposal of every kind the CUDA backend draws from, for dimension d; the
    Student-t with ν < 2 (gamma variates of shape < 1) and a mixture with a zero-weight
    component."""
    scale = 1.5 * np.eye(d) + 0.3
    return {
        "gaussian": fe.proposals.Gaussian(np.full(d, 0.1), 2.0 * np.eye(d) + 0.3),
        "gaussian_diag": fe.proposals.Gaussian(np.linspace(-1, 1, d), np.linspace(1, 3, d)),
        "uniform": fe.proposals.Uniform(np.full(d, -3.0), np.linspace(2, 4, d)),
        "student_t": fe.proposals.StudentT(np.zeros(d), scale, 3.5),
        "student_t_small_df": fe.proposals.StudentT(np.ones(d), scale, 0.7),
        "mixture": fe.proposals.Mixture(
            [0.3, 0.7, 0.0], [fe.proposals.Gaussian(np.ones(d), np.eye(d)),
                              fe.proposals.StudentT(np.zeros(d), 4.0 * np.eye(d) + 0.5, 2.0),
                              fe.proposals.Gaussian(np.zeros(d), np.eye(d))]),
    }


PROPOSALS = list(_proposals(2))




def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiniteDifferenceWarning)
        warnings.simplefilter("ignore", fe.warnings.LowESSWarning)
        return call()


# --- the kernels are built into every module ---------------------------------------------

def test_every_module_carries_the_importance_kernels():
    """importance.cu is part of every module, so the compile tests (NVRTC, nvcc, g++
    -Wall -Wextra in test_cuda_sources.py) build it, and the host build exports its
    entries."""
    assert "importance.cu" in build.ALGORITHMS
    source = build.module_source({"FASTEBM_DIM": 2})
    lib = build.host_library(source)
    for entry in ENTRIES:
        assert f"{entry}_body" in source
        assert hasattr(lib, entry), entry


# --- draws, log q and log densities: the Numba backend's numbers ---------------------------

@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name", PROPOSALS)
def test_draws_and_log_q_equal_the_numba_backend(name, d):
    """Draw i on stream (first_chain + i, step, TAG_PROPOSAL) on both backends."""
    q = _proposals(d)[name]
    key = philox_key(11)
    for first_chain, step in ((0, 0), (1234, 7)):
        cpu = backend.CPU.runners.proposal_draws(q, 3000, d, key, first_chain, step)
        gpu = backend.CUDA_HOST.runners.proposal_draws(q, 3000, d, key, first_chain, step)
        assert_same(cpu[0], gpu[0])
        assert_same(cpu[1], gpu[1])


def test_the_draw_comparison_sees_another_stream():
    """Negative control: another key, first chain or step changes the emulated draws."""
    q = _proposals(2)["student_t"]
    run = backend.CUDA_HOST.runners.proposal_draws
    base = run(q, 100, 2, philox_key(11), 0, 0)[0]
    assert not np.array_equal(base, run(q, 100, 2, philox_key(12), 0, 0)[0])
    assert not np.array_equal(base, run(q, 100, 2, philox_key(11), 1, 0)[0])
    assert not np.array_equal(base, run(q, 100, 2, philox_key(11), 0, 1)[0])


@pytest.mark.parametrize("name", PROPOSALS)
def test_sample_and_log_density_equal_the_numba_backend(name):
    q = _proposals(3)[name]
    x = 3.0 * np.random.default_rng(1).standard_normal((500, 3))
    cpu_density, cpu_sample = q.log_density(x), q.sample(200, rng=2)
    with backend.emulate_gpu():
        density, sample, one = q.log_density(x), q.sample(200, rng=2), q.log_density(x[0])
    assert_same(cpu_density, density)
    assert_same(cpu_sample, sample)
    assert_same(cpu_density[0], one)


# --- importance sampling ------------------------------------------------------------------

@pytest.mark.parametrize("name", PROPOSALS)
@pytest.mark.parametrize("energy_name", ENERGIES)
def test_importance_sample_equals_the_numba_backend(energy_name, name):
    """Draws, log weights, log Z, its standard error and the ESS. The dense Gaussian's
    energy is a matrix product on the GPU path and a dot product on the CPU: its log
    weights -E - log q agree to 1e-12 of |E| + |log q| (the rounding of E, which a
    cancellation in the difference can make large relative to log w itself), and what is
    computed from them to 1e-12 relative; the draws exactly."""
    energy = ENERGIES[energy_name]
    q = _proposals(energy.dim)[name]
    cpu = _quiet(lambda: fe.importance_sample(energy, q, 4000, rng=5, first_chain=3))
    with backend.emulate_gpu():
        emulated = _quiet(lambda: fe.importance_sample(energy, q, 4000, rng=5, first_chain=3))
    assert isinstance(emulated.draws, np.ndarray)
    assert_same(cpu.draws, emulated.draws)
    if energy_name != "dense":
        assert_same(cpu.log_weights, emulated.log_weights)
        for field in ("log_z", "stderr", "ess"):
            assert_same(getattr(cpu, field), getattr(emulated, field))
        return
    e = energy.energy(cpu.draws)
    scale = 1.0 + np.abs(e) + np.abs(cpu.log_weights + e)  # 1 + |E| + |log q|
    assert np.all(np.abs(cpu.log_weights - emulated.log_weights) <= 1e-12 * scale)
    for field in ("log_z", "stderr", "ess"):
        assert_same(getattr(cpu, field), getattr(emulated, field), rtol=1e-12)


def test_summaries_are_the_public_functions_bit_for_bit():
    """The one summary of both paths (array expressions on NumPy or CuPy) gives, on NumPy,
    the very bits of log_mean_exp, log_z_stderr and weights_ess."""
    from fastebm.samplers.importance import _summary
    log_weights = np.r_[3.0 * np.random.default_rng(2).standard_normal(10_001), -np.inf]
    assert _summary(log_weights) == (fe.resampling.log_mean_exp(log_weights),
                                     fe.diagnostics.log_z_stderr(log_weights),
                                     fe.weights_ess(log_weights))


def test_emulated_importance_sample_goes_through_the_cuda_kernels(monkeypatch):
    calls = []
    original = build.HostLauncher.__call__
    monkeypatch.setattr(build.HostLauncher, "__call__",
                        lambda self, name, n, *a: calls.append(name) or original(self, name, n, *a))
    q = fe.proposals.Gaussian(np.zeros(3), 4.0 * np.eye(3))
    with backend.emulate_gpu():
        fe.importance_sample(DIAG, q, 100, rng=0)
        fe.importance_resample(DIAG, q, 100, method="multinomial", rng=0)
    assert calls.count("proposal_gaussian_draws") == 2 and calls.count("energy_rows") == 2
    assert {"sorted_uniform_log_terms", "exp_in_place"} <= set(calls)
    calls.clear()
    fe.importance_sample(DIAG, q, 100, rng=0)  # outside: the Numba kernels
    assert calls == []


def test_rows_of_a_run_are_the_rows_of_the_whole_run():
    """first_chain=a on draws [a, b): those rows of the whole run, on the GPU path too."""
    q = _proposals(2)["mixture"]
    with backend.emulate_gpu():
        whole = fe.importance_sample(BANANA, q, 300, rng=9)
        part = fe.importance_sample(BANANA, q, 100, rng=9, first_chain=120)
    np.testing.assert_array_equal(whole.draws[120:220], part.draws)
    np.testing.assert_array_equal(whole.log_weights[120:220], part.log_weights)


def test_blocks_with_a_progress_bar_give_the_same_result(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setenv("FASTEBM_PROGRESS", "1")
    monkeypatch.setattr("fastebm.progress.FIRST_BLOCK_FRACTION", 0.1, raising=False)
    q = _proposals(2)["gaussian"]
    with backend.emulate_gpu():
        plain = fe.importance_sample(BANANA, q, 2000, rng=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tqdm's own warnings outside a terminal
            barred = fe.importance_sample(BANANA, q, 2000, rng=4, progress=True)
    np.testing.assert_array_equal(plain.draws, barred.draws)
    np.testing.assert_array_equal(plain.log_weights, barred.log_weights)


# --- resampling -----------------------------------------------------------------------------

def _log_weight_cases():
    rng = np.random.default_rng(0)
    cases = {"one": np.array([0.3]), "one_hot": np.where(np.arange(6) == 2, 0.0, -np.inf)}
    for n in (2, 7, 1000, 50_000):
        cases[f"normal_{n}"] = 3.0 * rng.standard_normal(n)
        zero = rng.random(n) < 0.4
        zero[n // 2] = False
        cases[f"zeros_{n}"] = np.where(zero, -np.inf, rng.standard_normal(n))
    cases["tail_zeros"] = np.r_[rng.standard_normal(50), np.full(50, -np.inf)]
    return cases


CASES = _log_weight_cases()


@pytest.mark.parametrize("method", fe.resampling.METHODS)
@pytest.mark.parametrize("case", CASES)
def test_resampled_indices_equal_the_numba_backend(case, method):
    """The uniforms from the same Philox streams, the cumulative sums in the same order
    (NumPy's cumsum is the merge's running total): the same indices."""
    log_weights = CASES[case]
    n = log_weights.shape[0]
    for n_out in (None, 1, 3 * n + 1):
        cpu = fe.resample(log_weights, n_out, method=method, rng=5)
        with backend.emulate_gpu():
            emulated = fe.resample(log_weights, n_out, method=method, rng=5)
        assert emulated.dtype == np.int64
        np.testing.assert_array_equal(cpu, emulated)
        assert np.all(np.isfinite(log_weights[emulated]))  # a zero weight is never drawn


@pytest.mark.parametrize("method", fe.resampling.METHODS)
def test_importance_resample_equals_the_numba_backend(method):
    q = _proposals(2)["student_t"]
    cpu = fe.importance_resample(BANANA, q, 5000, n_out=777, method=method, rng=3)
    with backend.emulate_gpu():
        emulated = fe.importance_resample(BANANA, q, 5000, n_out=777, method=method, rng=3)
    assert_same(cpu.resampled, emulated.resampled)
    assert_same(cpu.log_weights, emulated.log_weights)


def test_the_index_comparison_sees_another_stream():
    """Negative control: another seed changes the emulated indices of every scheme."""
    log_weights = CASES["normal_1000"]
    with backend.emulate_gpu():
        for method in fe.resampling.METHODS:
            assert not np.array_equal(fe.resample(log_weights, method=method, rng=5),
                                      fe.resample(log_weights, method=method, rng=6))


def test_offspring_counts_within_one_of_n_w():
    """Systematic resampling on the GPU path: |N_i - n w_i| < 1 (Douc & Cappé 2005)."""
    log_weights = CASES["zeros_1000"]
    w = np.exp(log_weights - log_weights.max())
    w /= w.sum()
    with backend.emulate_gpu():
        counts = np.bincount(fe.resample(log_weights, method="systematic", rng=1),
                             minlength=w.size)
    assert np.all(np.abs(counts - w.size * w) < 1)


# --- the statistical checks of importance sampling, through the GPU path --------------------

def _gaussian_case(gpu, shift=0.0):
    """N(1, 2) and the proposal N(0, 6) (its parameters in the GPU's array module)."""
    proposal = fe.proposals.Gaussian(gpu.asarray(np.array([0.0])), gpu.asarray(np.array([6.0])))
    proposal._log_norm += shift
    return fe.Gaussian([1.0], covariance=[2.0]), proposal


def _cases(gpu):
    """(energy, proposal, exact log Z): a 1-d Gaussian, a 10-d correlated one (the dense
    energy), and the banana (a CUDA snippet, Z = 2π) from a Student-t."""
    from tests.statistical.targets import rotation_spd
    yield _gaussian_case(gpu) + (0.5 * np.log(2 * np.pi * 2.0),)
    dense = fe.Gaussian(np.linspace(-1, 1, 10), covariance=rotation_spd(10, 4.0, 1))
    yield (dense, fe.proposals.Gaussian(gpu.asarray(np.zeros(10)), gpu.asarray(6.0 * np.eye(10))),
           dense.log_partition())
    yield (BANANA, fe.proposals.StudentT(gpu.asarray(np.array([0.0, 0.5])),
                                         gpu.asarray(np.array([2.0, 6.0])), 4.0),
           np.log(2 * np.pi))


@pytest.mark.statistical
def test_log_z_within_standard_errors(gpu, seed):
    for energy, proposal, log_z in _cases(gpu):
        with gpu.context():
            result = fe.importance_sample(energy, proposal, 200_000, rng=seed)
        assert type(result.draws).__module__.split(".")[0] == (
            "numpy" if gpu.name == "emulated" else "cupy")
        assert abs(result.log_z - log_z) < Z_CRIT * result.stderr
        assert 0 < result.ess <= 200_000


@pytest.mark.statistical
def test_negative_control_wrong_normaliser(gpu, seed):
    """A proposal whose log density is off by 0.05 must be caught by the same check."""
    energy, proposal = _gaussian_case(gpu, shift=0.05)
    with gpu.context():
        result = fe.importance_sample(energy, proposal, 200_000, rng=seed)
    assert abs(result.log_z - 0.5 * np.log(2 * np.pi * 2.0)) > Z_CRIT * result.stderr


@pytest.mark.statistical
def test_z_hat_unbiased_and_log_z_hat_biased_low(gpu, seed):
    energy, proposal = _gaussian_case(gpu)
    exact = energy.log_partition()
    with gpu.context():
        log_z = np.array([fe.importance_sample(energy, proposal, 500, rng=s).log_z
                          for s in np.random.SeedSequence(seed).spawn(200)])
    assert unbiased_ratio_z(log_z, exact) < 5
    assert log_z.mean() < exact + Z_CRIT * log_z.std(ddof=1) / np.sqrt(log_z.size)


def _resampled_mean_z(draws, log_weights, resampled, mean, var):
    """z of the resampled mean: se² = Σ w̃ᵢ²(yᵢ - ȳ_w)² (self-normalized IS) + σ²/n_out
    (tests/statistical/test_importance.py)."""
    w = np.exp(log_weights - log_weights.max())
    w /= w.sum()
    y = draws[:, 0]
    weighted_mean = np.sum(w * y)
    se = np.sqrt(np.sum(w ** 2 * (y - weighted_mean) ** 2) + var / resampled.shape[0])
    return abs(resampled[:, 0].mean() - mean) / se


@pytest.mark.statistical
@pytest.mark.parametrize("method", fe.resampling.METHODS)
def test_importance_resample_mean(gpu, seed, method):
    """Every scheme on the GPU path gives a resampled mean within Z_CRIT of N(1, 2)'s; the
    negative control (the first n_out draws, unweighted) must fail the same check."""
    energy, proposal = _gaussian_case(gpu)
    with gpu.context():
        r = fe.importance_resample(energy, proposal, 400_000, n_out=20_000, method=method,
                                   rng=seed)
    draws, log_weights = gpu.numpy(r.draws), gpu.numpy(r.log_weights)
    assert _resampled_mean_z(draws, log_weights, gpu.numpy(r.resampled), 1.0, 2.0) < Z_CRIT
    assert _resampled_mean_z(draws, log_weights, draws[:20_000], 1.0, 2.0) > Z_CRIT


# --- errors: named, never a silent fallback to the CPU ---------------------------------------

class FakeCupyArray:
    """Recognised as a CuPy array by its type's module, without CuPy."""


FakeCupyArray.__module__ = "cupy._core.core"


def test_cupy_and_numpy_mixed_in_a_proposal_are_refused():
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.proposals.Gaussian(FakeCupyArray(), np.eye(2))
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.proposals.Uniform(np.zeros(2), FakeCupyArray())
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.proposals.StudentT(FakeCupyArray(), np.eye(2), 3.0)
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.proposals.Mixture(FakeCupyArray(), [fe.proposals.Gaussian([0.0], [1.0])])


def test_cupy_proposal_without_cupy_is_a_named_error():
    if "cupy" in sys.modules:
        pytest.skip("CuPy is installed")
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        fe.proposals.Gaussian(FakeCupyArray(), FakeCupyArray())


def _device_proposal():
    """A proposal marked as built from CuPy arrays (as ``placement`` marks one), without
    needing CuPy: what a device proposal meets on the CPU paths."""
    q = fe.proposals.Gaussian(np.zeros(3), np.eye(3))
    q._on_device = True
    return q


def test_a_device_proposal_never_runs_on_the_cpu():
    q = _device_proposal()
    with pytest.raises(backend.BackendUnavailableError, match="CuPy arrays"):
        q._kernel_params()
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        q.log_density(np.zeros((2, 3)))  # NumPy points beside a device proposal
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        fe.metropolis(DIAG, np.zeros((2, 3)), 3, proposal=q, rng=0)


def test_a_device_proposal_without_a_device_is_a_named_error():
    if "cupy" in sys.modules:
        pytest.skip("CuPy is installed")
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        fe.importance_sample(DIAG, _device_proposal(), 10, rng=0)


def test_unsupported_proposal_kind_is_refused_with_a_clear_message():
    class Shifted(fe.proposals.Proposal):
        dim = 1

        def _params(self):
            return ("shifted", 1.0)

    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="Shifted proposals have no CUDA kernels"):
        fe.importance_sample(fe.Gaussian([0.0], [1.0]), Shifted(), 10, rng=0)


def test_energy_without_cuda_kernels_is_refused():
    """A user energy given without cuda=: the GPU path refuses it by name."""
    python_only = fe.energy(lambda x: x[0] ** 2, dim=1)
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="no CUDA"):
        fe.importance_sample(python_only, fe.proposals.Gaussian([0.0], [4.0]), 10, rng=0)


def _snippet_energy(body):
    return fe.energy(lambda x: 0.0, dim=1, cuda=(
        "__device__ double energy(const double *x, const double *theta) { " + body + " }"))


@pytest.mark.parametrize("body,match", [
    ("return sqrt(-1.0 - x[0] * x[0]);", "NaN"),
    ("return log(0.0 * x[0]);", "-inf"),
    ("return -log(0.0 * x[0]);", "zero"),
])
def test_bad_energies_at_the_draws_are_named_errors(body, match):
    with backend.emulate_gpu(), pytest.raises(ValueError, match=match):
        fe.importance_sample(_snippet_energy(body), fe.proposals.Gaussian([0.0], [1.0]), 10,
                             rng=0)


def test_emulated_importance_sampling_never_imports_cupy():
    code = ("import sys, numpy as np, fastebm as fe\n"
            "from fastebm.backend import emulate_gpu\n"
            "q = fe.proposals.Gaussian(np.zeros(3), np.eye(3))\n"
            "E = fe.Gaussian(np.zeros(3), np.array([1.0, 2.0, 3.0]))\n"
            "with emulate_gpu():\n"
            "    fe.importance_resample(E, q, 50, rng=0)\n"
            "assert 'cupy' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)

