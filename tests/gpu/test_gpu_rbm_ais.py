"""AIS of RBMs through the GPU path (``discrete_ais_log_weights`` of the CUDA runners,
``rbm_ais_weights`` of rbm.cu): the emulated log weights against the Numba backend's,
log Ẑ against the enumerated log Z (with a negative control that must fail), and the
errors by name.

To 1e-12 relative (1e-13 absolute near zero): the hidden products v·W of the emulation
(NumPy's (H, V)·(V, n), the layout of the GPU path's ``xp.matmul``) and of the Numba
kernel ((m, V)·(V, H)) put the chains and the units on different sides of BLAS's tiles.
Which tiles sum in which order is the BLAS kernel's choice: OpenBLAS's AVX-512 kernels
gave a Bernoulli RBM's log weights bit for bit (its terms are exact, its sums not), its
Haswell kernels on a Zen 3 gave 1-ulp differences (seen at 13 × 7, 37 chains). With
NUMBA_DISABLE_JIT=1 the Numba kernels run as Python, whose log is NumPy's, not the C
library's that both compiled builds call: also within 1e-12.
"""
import numpy as np
import pytest

import fastebm as fe
from fastebm import backend
from fastebm._kernels.cuda import runners as cuda_runners
from fastebm._rng import philox_key
from fastebm.resampling import log_mean_exp
from tests.statistical.harness import Z_CRIT


def _rbm(seed, V, H, scale=0.5):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(V, H)) * scale
    b, c = rng.normal(size=V) * 0.5, rng.normal(size=H) * 0.5
    data = (rng.random((40, V)) < 0.3).astype(float)
    return W, b, c, data


def _both(model, base, n, betas, seed, **kw):
    """(Numba backend's log weights, emulated GPU path's) of fe.ais."""
    cpu = fe.ais(model, base, n, schedule=betas, rng=seed, **kw)
    with backend.emulate_gpu():
        gpu = fe.ais(model, base, n, schedule=betas, rng=seed, **kw)
    return cpu, gpu


SCHEDULES = {"linear": np.linspace(0.0, 1.0, 12),
             "geometric": np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 9)]),
             "two": np.array([0.0, 1.0])}


@pytest.mark.parametrize("shape", [(6, 5), (13, 7), (9, 1003)])
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("kind", ["uniform", "data", "tempered"])
def test_emulated_bernoulli_log_weights_match_the_numba_backend(shape, schedule, kind, seed):
    W, b, c, data = _rbm(seed, *shape)
    model = fe.BernoulliRBM(W, b, c)
    if kind == "tempered":
        model = model.tempered(0.6)
    base = None if kind == "uniform" else data
    cpu, gpu = _both(model, base, 37, SCHEDULES[schedule], seed)
    np.testing.assert_allclose(gpu.log_weights, cpu.log_weights, rtol=1e-12, atol=1e-13)
    assert gpu.log_z == pytest.approx(cpu.log_z, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("shape", [(6, 5), (9, 1003)])
def test_emulated_gaussian_bernoulli_log_weights_match_the_numba_backend(shape, seed):
    """To 1e-12 relative (the module docstring says why not bitwise)."""
    W, b, c, _ = _rbm(seed, *shape)
    model = fe.GaussianBernoulliRBM(W, b, c, np.linspace(0.5, 1.5, shape[0]))
    cpu, gpu = _both(model, None, 33, SCHEDULES["linear"], seed)
    np.testing.assert_allclose(gpu.log_weights, cpu.log_weights, rtol=1e-12, atol=0)


def test_first_chain_shards_and_blocks_are_the_same_chains(seed, monkeypatch):
    """Chains [20, 40) of a run are a run with first_chain=20 (also against the Numba
    backend), and a progress bar's tiny blocks change nothing."""
    import fastebm.progress
    W, b, c, data = _rbm(seed, 7, 6)
    model, betas = fe.BernoulliRBM(W, b, c), SCHEDULES["linear"]
    with backend.emulate_gpu():
        whole = fe.ais(model, data, 40, schedule=betas, rng=seed)
        shard = fe.ais(model, data, 20, schedule=betas, rng=seed, first_chain=20)
    np.testing.assert_array_equal(whole.log_weights[20:], shard.log_weights)
    cpu = fe.ais(model, data, 20, schedule=betas, rng=seed, first_chain=20)
    np.testing.assert_allclose(shard.log_weights, cpu.log_weights, rtol=1e-12, atol=1e-13)
    monkeypatch.setattr(fastebm.progress, "BLOCK_SECONDS", 1e-6)
    monkeypatch.delenv(fastebm.progress.ENV_SWITCH, raising=False)
    with backend.emulate_gpu():
        blocked = fe.ais(model, data, 40, schedule=betas, rng=seed, progress=True)
    np.testing.assert_array_equal(blocked.log_weights, whole.log_weights)


def test_the_runner_goes_through_the_cuda_kernels(seed, monkeypatch):
    """Inside the emulation the estimate comes from the CUDA runners' function."""
    calls = []
    original = cuda_runners.discrete_ais_log_weights

    def spy(*args, **kw):
        calls.append(args[2])
        return original(*args, **kw)

    monkeypatch.setattr(cuda_runners, "discrete_ais_log_weights", spy)
    W, b, c, _ = _rbm(seed, 5, 4)
    with backend.emulate_gpu():
        fe.ais(fe.BernoulliRBM(W, b, c), None, 10, 5, rng=seed)
    assert calls == [10]
    direct = original(fe.BernoulliRBM(W, b, c)._ais_form(None)[0], np.linspace(0, 1, 5), 10, 5,
                      philox_key(seed))
    assert isinstance(direct, np.ndarray) and direct.shape == (10,)


def test_the_uniform_base_from_two_rows_is_exactly_the_uniform_base(seed):
    """docs: the rows 0…0 and 1…1 give b_A = 0 bit for bit (how a CuPy base selects the
    device with the uniform base)."""
    W, b, c, _ = _rbm(seed, 6, 5)
    model = fe.BernoulliRBM(W, b, c)
    two = np.stack([np.zeros(6), np.ones(6)])
    with backend.emulate_gpu():
        none = fe.ais(model, None, 20, 8, rng=seed)
        rows = fe.ais(model, two, 20, 8, rng=seed)
    np.testing.assert_array_equal(none.log_weights, rows.log_weights)
    assert none.log_z == rows.log_z


@pytest.mark.statistical
@pytest.mark.parametrize("base_kind", ["data", "uniform"])
def test_gpu_ais_log_z_within_standard_errors_of_enumeration(gpu, seed, base_kind):
    """2000 chains × 100 linear temperatures on a 10 × 8 RBM through the GPU path:
    |log Ẑ - log Z| < Z_CRIT se against ``log_partition()`` (enumeration). Negative
    control: the same weights with the log Z₀ of the other base (the data base's
    H log 2 + Σ softplus(b_A) for the uniform path, and conversely) must fail."""
    W, b, c, data = _rbm(seed, 10, 8, scale=1.0)
    data = (np.random.default_rng(seed + 1).random((50, 10)) < 0.3).astype(float)
    rbm = fe.BernoulliRBM(W, b, c)
    exact = rbm.log_partition()
    uniform_rows = np.stack([np.zeros(10), np.ones(10)])
    base = data if base_kind == "data" else uniform_rows
    with gpu.context():
        est = fe.ais(rbm, gpu.asarray(base), 2000, 100, rng=seed)
    assert est.method == "ais" and est.bound == "lower" and 0 < est.ess <= 2000
    assert isinstance(est.log_weights, np.ndarray)
    assert abs(est.log_z - exact) < Z_CRIT * est.stderr
    other = uniform_rows if base_kind == "data" else data
    wrong_z0 = 8 * np.log(2.0) + float(np.logaddexp(0.0, rbm.base_rate_biases(other)).sum())
    mutant = wrong_z0 + log_mean_exp(est.log_weights)
    assert abs(mutant - exact) > Z_CRIT * est.stderr


@pytest.mark.statistical
def test_emulated_gaussian_bernoulli_ais_within_standard_errors(seed):
    W, b, c, _ = _rbm(seed, 6, 8)
    gb = fe.GaussianBernoulliRBM(W, b, c, np.linspace(0.5, 1.5, 6))
    with backend.emulate_gpu():
        est = fe.ais(gb, None, 2000, 100, rng=seed)
    assert abs(est.log_z - gb.log_partition()) < Z_CRIT * est.stderr


def test_ising_ais_is_refused_by_name():
    model = fe.Ising.lattice(4, 4, 0.3)
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="discrete_ais_log_weights for Ising"):
        fe.ais(model, None, 10, 5, rng=0)
    dense = fe.Ising(0.1 * np.ones((3, 3)) - 0.1 * np.eye(3), np.zeros(3))
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError,
                                              match="discrete_ais_log_weights for Ising"):
        fe.ais(dense, None, 10, 5, rng=0)


def test_a_form_that_is_not_an_rbm_is_refused_by_name():
    with pytest.raises(backend.BackendUnavailableError, match="for str forms"):
        cuda_runners.discrete_ais_log_weights(("not-a-form", np.zeros(2)), np.linspace(0, 1, 3),
                                              4, 2, philox_key(0))


def test_gaussian_bernoulli_with_a_base_is_refused_inside_the_emulation(seed):
    W, b, c, data = _rbm(seed, 6, 5)
    gb = fe.GaussianBernoulliRBM(W, b, c, 1.0)
    with backend.emulate_gpu(), pytest.raises(ValueError, match="base must be None"):
        fe.ais(gb, data, 10, 5, rng=0)


class _FakeCupyArray:
    """Looks like a CuPy array to ``backend.is_cupy_array`` (without CuPy installed)."""


_FakeCupyArray.__module__ = "cupy._core.core"


def test_a_cupy_base_without_cupy_is_a_named_error():
    import sys
    if "cupy" in sys.modules:
        pytest.skip("CuPy is installed")
    W, b, c, _ = _rbm(0, 4, 3)
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        fe.ais(fe.BernoulliRBM(W, b, c), _FakeCupyArray(), 10, 5, rng=0)
