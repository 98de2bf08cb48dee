"""Gaussian mixtures and sums of energies on the GPU path (the host emulation; a device
when there is one) against the Numba backend.

The CUDA mixture does the Numba mixture's arithmetic operation for operation (the same
streamed log-sum-exp, the same loops); exp and log are the C library's on both sides
(Numba calls libm), so the emulation equals the Numba backend bit for bit. A sum is one
pointwise function adding its terms in the order of its tree, bit for bit too; a dense
Gaussian term (d ≤ 32) sums P x in the thread in the CUDA kernel's order on both sides.
With NUMBA_DISABLE_JIT=1 the Numba functions run as Python with NumPy's exp and log, which
need not round as the C library's: the comparisons are then to 1e-12.
"""
import warnings

import numba
import numpy as np
import pytest

import fastebm as fe
from fastebm.backend import BackendUnavailableError
from fastebm.energies.custom import FiniteDifferenceWarning
from tests.gpu.energies import (DIAG, MIXTURE, MIXTURE_1D, MIXTURE_5D, SUMS, kept,
                                run_sampler)
from tests.statistical.harness import Z_CRIT, mean_z, variance_z

MIXTURES = {"mixture_3d": MIXTURE, "mixture_1d": MIXTURE_1D, "mixture_5d": MIXTURE_5D,
            "tempered_mixture": MIXTURE.tempered(0.4)}
ALL = {**MIXTURES, **SUMS}


def _points(energy, n=200, seed=0, scale=2.0):
    return scale * np.random.default_rng(seed).normal(size=(n, energy.dim))


def _assert_equal(name, a, b):
    """Bit for bit, except as Python (see the module's docstring)."""
    if not numba.config.DISABLE_JIT:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_energy_and_gradient_equal_the_numba_backend(gpu, name):
    energy = ALL[name]
    x = _points(energy)
    with warnings.catch_warnings():  # a user term without energy_grad: finite differences
        warnings.simplefilter("ignore", FiniteDifferenceWarning)
        e_cpu, g_cpu = energy.energy_and_grad(x)
        only_cpu = energy.energy(x)
        with gpu.context():
            e, g = energy.energy_and_grad(gpu.asarray(x))
            only = energy.energy(gpu.asarray(x))
    e, g, only = gpu.numpy(e), gpu.numpy(g), gpu.numpy(only)
    if not gpu.exact:  # a device: libdevice's exp and log
        np.testing.assert_allclose(e, e_cpu, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g, g_cpu, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(only, only_cpu, rtol=1e-12, atol=1e-12)
        return
    _assert_equal(name, e, e_cpu)
    _assert_equal(name, g, g_cpu)
    _assert_equal(name, only, only_cpu)
    # the energy without the gradient is the same function's value
    np.testing.assert_array_equal(only, e)


def test_the_comparison_sees_a_wrong_term():
    """Negative control: one term at another temperature (β 1 + 1e-15) changes the
    emulated values; the terms of a sum swapped (added in the other order) agree to
    rounding."""
    x = _points(MIXTURE)
    with fe.backend.emulate_gpu():
        base = (MIXTURE + DIAG).energy(x)
        assert not np.array_equal(base, (MIXTURE.tempered(1.0 + 1e-15) + DIAG).energy(x))
        np.testing.assert_allclose((DIAG + MIXTURE).energy(x), base, rtol=1e-14)


def test_mixture_where_every_term_is_minus_infinity():
    """Every component's log term is -inf (its quadratic form overflows): E = +inf, not
    NaN, and the gradient is what the CPU gives, NaN (the proposal is then rejected)."""
    mixture = fe.GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[1e-6], [1e-6]])
    x = np.array([[0.5], [1e200], [-1e200]])
    with np.errstate(all="ignore"):  # the Numba functions run as Python: NumPy's warnings
        cpu = mixture.energy_and_grad(x)
    with fe.backend.emulate_gpu():
        emulated = mixture.energy_and_grad(x)
    for a, b in zip(emulated, cpu):
        _assert_equal("mixture_1d", a, b)
    assert np.isfinite(emulated[0][0]) and np.all(np.isposinf(emulated[0][1:]))


@pytest.mark.parametrize("name", ["mixture_3d", "mixture_1d", "mixture_5d", "tempered_mixture",
                                  "mixture+dense"])
def test_gradient_against_central_differences(name):
    """The CUDA gradient against central differences of the CUDA energy (both
    emulated): h = 1e-5, error O(h²) ≈ 1e-10 times the third derivative."""
    energy = ALL[name]
    x = _points(energy, n=30, seed=4, scale=1.0)
    h = 1e-5
    with fe.backend.emulate_gpu():
        g = energy.grad(x)
        fd = np.empty_like(x)
        for j in range(energy.dim):
            step = np.zeros(energy.dim)
            step[j] = h
            fd[:, j] = (energy.energy(x + step) - energy.energy(x - step)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
    # negative control: a gradient off by 1e-4 in one coordinate is caught
    assert not np.allclose(g + np.where(np.arange(energy.dim) == 0, 1e-4, 0.0), fd,
                           rtol=1e-6, atol=1e-6)


OPTIONS = {
    "plain": dict(),
    "adapt": dict(burn_in=60, adapt=True),
    "dense": dict(burn_in=100, precondition="dense"),
    "moments": dict(keep="moments", thin=3),
}
RUN_ENERGIES = ["mixture_3d", "tempered_mixture", "mixture+diag", "diag+(mixture+dense)",
                "banana+scaled_fd", "mixture+banana"]




@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("sampler", ["mala", "metropolis"])
@pytest.mark.parametrize("name", RUN_ENERGIES)
def test_whole_runs_equal_the_numba_backend(name, sampler, option):
    """Emulated MALA and random walk: the same draws, acceptance and final state as the
    Numba backend, bit for bit (as Python, to rounding, which adaptation may amplify)."""
    energy, kw = ALL[name], OPTIONS[option]
    x0 = np.random.default_rng(1).normal(size=(40, energy.dim))
    cpu = run_sampler(sampler, energy, x0, 50, rng=3, **kw)
    with fe.backend.emulate_gpu():
        emulated = run_sampler(sampler, energy, x0, 50, rng=3, **kw)
    a, b = kept(cpu), kept(emulated)
    if numba.config.DISABLE_JIT:
        # last-bit differences of the energy (see the module's docstring): one differing
        # accept decision would move a chain by a whole step, so compare to 1e-9 without
        # adaptation and, with it (dual averaging feeds exp(ΔE) back), to 1e-6
        tol = 1e-6 if kw.get("adapt") else 1e-9
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        np.testing.assert_array_equal(cpu.acceptance_rate, emulated.acceptance_rate)
        return
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cpu.acceptance_rate, emulated.acceptance_rate)
    np.testing.assert_array_equal(cpu.state.position, emulated.state.position)
    np.testing.assert_array_equal(cpu.step_size, emulated.step_size)


@pytest.mark.parametrize("name", ["mixture_3d", "mixture+diag"])
def test_one_step_agrees_with_the_numba_backend(gpu, name):
    """One MALA step from the same state, on the host emulation and on a device: 1e-12."""
    energy = ALL[name]
    x0 = _points(energy, n=300, scale=1.0)
    cpu = fe.mala(energy, x0, 0.2, 1, rng=11)
    with gpu.context():
        other = fe.mala(energy, gpu.asarray(x0), 0.2, 1, rng=11)
    np.testing.assert_allclose(gpu.numpy(other.draws), cpu.draws, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(gpu.numpy(other.acceptance_rate), cpu.acceptance_rate)


@pytest.mark.parametrize("sampler", ["mala", "langevin"])
def test_fused_kernel_equals_three_launches_a_step(gpu, sampler, monkeypatch):
    """A sum is pointwise: its fused run equals the general path (propose, energy
    pass, accept) to the last bit."""
    from fastebm._kernels.cuda import runners
    energy = SUMS["mixture+banana"]
    x0 = gpu.asarray(np.random.default_rng(2).normal(size=(40, 2)))
    with gpu.context():
        fused = run_sampler(sampler, energy, x0, 30, rng=5, burn_in=10, adapt=True)
        monkeypatch.setattr(runners.LangevinRunner, "fused", property(lambda self: False))
        stepped = run_sampler(sampler, energy, x0, 30, rng=5, burn_in=10, adapt=True)
    np.testing.assert_array_equal(gpu.numpy(fused.draws), gpu.numpy(stepped.draws))


def test_a_term_without_a_cuda_form_is_named():
    """A sum runs on the GPU only when each term has a CUDA form; the error says which
    term has none and what runs."""
    plain = fe.energy(lambda x: 0.5 * x[0] * x[0], lambda x, g: 0.0, dim=1)
    total = fe.Gaussian([0.0], [1.0]) + plain
    with fe.backend.emulate_gpu():
        with pytest.raises(BackendUnavailableError, match="CustomEnergy.*cuda="):
            fe.mala(total, np.zeros((2, 1)), 0.1, 2, rng=0)
        with pytest.raises(BackendUnavailableError, match="mixtures"):
            fe.mala(fe.GaussianBernoulliRBM(np.ones((1, 2)), np.zeros(1), np.zeros(2),
                                            np.ones(1)), np.zeros((2, 1)), 0.1, 2, rng=0)


# --- statistics: a 2-d two-component mixture sampled by MALA through the GPU path ---------

WEIGHTS = np.array([0.35, 0.65])
MEANS = np.array([[-1.0, 0.5], [1.0, -0.5]])
COVS = np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.7, -0.2], [-0.2, 1.1]]])


def _mixture_moments(weights, means, covs):
    """Mean, covariance, and the marginals' fourth central moments of Σₖ wₖ N(μₖ, Σₖ)
    (w normalised): μ = Σ wₖμₖ, Σ = Σ wₖ(Σₖ + cₖcₖᵀ) with cₖ = μₖ - μ, and per coordinate
    E(x - μ)⁴ = Σ wₖ(cₖ⁴ + 6cₖ²sₖ² + 3sₖ⁴), sₖ² = Σₖ,ⱼⱼ."""
    w = weights / weights.sum()
    mean = w @ means
    c = means - mean
    cov = np.einsum("k,kij->ij", w, covs + c[:, :, None] * c[:, None, :])
    s2 = np.diagonal(covs, axis1=1, axis2=2)
    fourth = w @ (c ** 4 + 6 * c ** 2 * s2 + 3 * s2 ** 2)
    return mean, cov, fourth


def _mixture_z(x, weights):
    """The largest |z| of the draws' means, variances and covariance against the
    moments of the mixture with ``weights``. The covariance's standard error is that of
    the mean of (x₀ - μ₀)(x₁ - μ₁), estimated from the draws (n = 4000)."""
    mean, cov, fourth = _mixture_moments(weights, MEANS, COVS)
    z = max(mean_z(x, mean, np.diag(cov)), variance_z(x, np.diag(cov), fourth))
    prod = (x[:, 0] - mean[0]) * (x[:, 1] - mean[1])
    z_cov = abs(prod.mean() - cov[0, 1]) / (prod.std(ddof=1) / np.sqrt(prod.size))
    return max(z, z_cov)


def _sample(gpu, weights, seed, n=4000):
    energy = fe.GaussianMixture(weights, MEANS, COVS)
    mean, cov, _ = _mixture_moments(WEIGHTS, MEANS, COVS)
    x0 = mean + 3.0 * np.sqrt(np.diag(cov)) * np.random.default_rng(seed + 1).normal(size=(n, 2))
    with gpu.context():
        run = fe.mala(energy, gpu.asarray(x0), 0.1, 1, burn_in=1500, adapt=True, rng=seed)
    return gpu.numpy(run.state.position)


@pytest.mark.statistical
def test_mala_samples_a_two_component_mixture(gpu, seed):
    """4000 independent chains from an overdispersed start, their final states against
    the exact mean, variances and covariance (tolerance from the standard errors)."""
    assert _mixture_z(_sample(gpu, WEIGHTS, seed), WEIGHTS) < Z_CRIT


@pytest.mark.statistical
def test_negative_control_wrong_component_weight(gpu, seed):
    """The same sampler on the mixture with weights (0.5, 0.5) fails the check of the
    (0.35, 0.65) mixture (the mean moves by 0.15 · 2 = 0.3 in x₀, about 15 standard
    errors)."""
    wrong = np.array([0.5, 0.5])
    assert _mixture_z(_sample(gpu, wrong, seed), WEIGHTS) > Z_CRIT
