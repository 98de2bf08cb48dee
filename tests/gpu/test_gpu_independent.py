"""Independent-proposal Metropolis-Hastings (Hastings 1970) on the GPU path: a proposal's
draw on (chain, step, TAG_NOISE) by importance.cu's kernels, the energy's pass, and
metropolis.cu's independent_accept, against the Numba backend's independent_run."""
import numpy as np
import pytest

import fastebm as fe
from fastebm.backend import BackendUnavailableError, emulate_gpu
from tests.gpu.energies import ENERGIES, EXACT, MIXTURE
from tests.statistical import targets
from tests.statistical.harness import Z_CRIT, moments_z

P = fe.proposals


def _proposals(dim, xp=np):
    """One proposal of each kind with CUDA kernels, in ``xp``'s arrays."""
    a = lambda v: xp.asarray(np.asarray(v, dtype=np.float64))  # noqa: E731
    return {"gaussian": P.Gaussian(a(np.zeros(dim)), a(2.0 * np.eye(dim))),
            "student_t": P.StudentT(a(np.zeros(dim)), a(np.full(dim, 2.0)), 5.0),
            "uniform": P.Uniform(a(np.full(dim, -6.0)), a(np.full(dim, 6.0))),
            "mixture": P.Mixture(a([0.3, 0.7]),
                                 [P.Gaussian(a(np.zeros(dim)), a(np.eye(dim))),
                                  P.StudentT(a(np.ones(dim)), a(np.ones(dim)), 4.0)])}


CASES = dict(ENERGIES, mixture=MIXTURE)
KINDS = list(_proposals(2))


def _start(energy, n=50, dtype=np.float64):
    return np.random.default_rng(0).normal(size=(n, energy.dim or 2)).astype(dtype)


@pytest.mark.parametrize("kw", [dict(), dict(thin=3, burn_in=5), dict(keep="moments")])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", CASES)
def test_emulated_runs_equal_the_numba_backend(name, kind, kw):
    """The same draws, acceptance and final state, bit for bit (to 1e-9 with the Numba
    kernels run as Python, whose exp and log are NumPy's)."""
    energy = CASES[name]
    q = _proposals(energy.dim or 2)[kind]
    x0 = _start(energy)
    cpu = fe.metropolis(energy, x0, 30, proposal=q, rng=3, **kw)
    with emulate_gpu():
        gpu = fe.metropolis(energy, x0, 30, proposal=q, rng=3, **kw)
    key = "mean" if kw.get("keep") == "moments" else "draws"
    if EXACT:
        np.testing.assert_array_equal(getattr(gpu, key), getattr(cpu, key))
        np.testing.assert_array_equal(gpu.acceptance_rate, cpu.acceptance_rate)
    else:
        np.testing.assert_allclose(getattr(gpu, key), getattr(cpu, key), rtol=1e-9, atol=1e-9)
    assert 0.0 < cpu.acceptance_rate.mean() < 1.0  # the runs move, and reject


def test_the_comparison_sees_another_stream():
    """Negative control: another seed changes the emulated run."""
    energy = ENERGIES["diag"]
    q = _proposals(3)["student_t"]
    with emulate_gpu():
        a = fe.metropolis(energy, _start(energy), 20, proposal=q, rng=3).draws
        b = fe.metropolis(energy, _start(energy), 20, proposal=q, rng=4).draws
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
def test_one_step_agrees_with_the_numba_backend(gpu, kind, dtype):
    """On the host emulation and on a device: 1e-12 in float64, 1e-5 in float32 (the
    proposal rounded to float32 where it is stored)."""
    energy = ENERGIES["banana"]
    x0 = _start(energy, n=300, dtype=dtype)
    cpu = fe.metropolis(energy, x0, 1, proposal=_proposals(2)[kind], rng=11)
    with gpu.context():
        other = fe.metropolis(energy, gpu.asarray(x0), 1,
                              proposal=_proposals(2, gpu.cupy if gpu.name == "device" else np)
                              [kind], rng=11)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    draws = gpu.numpy(other.draws)
    assert draws.dtype == dtype
    np.testing.assert_allclose(draws, cpu.draws, rtol=tol, atol=tol)
    np.testing.assert_array_equal(gpu.numpy(other.acceptance_rate), cpu.acceptance_rate)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_run_in_blocks_equals_one_run(dtype, monkeypatch):
    import fastebm.progress
    monkeypatch.setattr(fastebm.progress, "BLOCK_SECONDS", 1e-5)
    monkeypatch.delenv(fastebm.progress.ENV_SWITCH, raising=False)
    energy, q = ENERGIES["banana"], _proposals(2)["mixture"]
    with emulate_gpu():
        whole = fe.metropolis(energy, _start(energy, dtype=dtype), 40, proposal=q, rng=4)
        blocks = fe.metropolis(energy, _start(energy, dtype=dtype), 40, proposal=q, rng=4,
                               progress=True)
        first = fe.metropolis(energy, _start(energy, dtype=dtype), 25, proposal=q, rng=4)
        rest = fe.metropolis(energy, first.state, 15, proposal=q)
    np.testing.assert_array_equal(blocks.draws, whole.draws)
    np.testing.assert_array_equal(rest.draws, whole.draws[25:])


def test_a_proposal_on_another_device_is_refused(monkeypatch):
    """Chains in NumPy (the emulation) with a proposal that says it lives on a device:
    a named error, nothing copied between them."""
    q = _proposals(3)["gaussian"]
    monkeypatch.setattr(q, "_on_device", True)
    with emulate_gpu(), pytest.raises(BackendUnavailableError, match="different devices"):
        fe.metropolis(ENERGIES["diag"], _start(ENERGIES["diag"]), 3, proposal=q, rng=0)


def test_a_start_outside_the_support_is_refused():
    q = P.Uniform(np.full(3, -1.0), np.full(3, 1.0))
    x0 = _start(ENERGIES["diag"])
    with emulate_gpu(), pytest.raises(ValueError, match="outside the proposal's support"):
        fe.metropolis(ENERGIES["diag"], x0 * 10, 3, proposal=q, rng=0)


CORRELATION = 0.9  # targets.correlated_2d: unit variances, correlation 0.9


def _gaussian_z(states, mean, var):
    """The largest of the moment check's z (mean and variance) and the z of the mean of
    (x0 - μ0)(x1 - μ1) against the covariance CORRELATION: ≤ Z_CRIT for draws of
    targets.correlated_2d."""
    x = np.asarray(states, dtype=np.float64)
    cross = (x[:, 0] - mean[0]) * (x[:, 1] - mean[1])
    # Var[(x0 - μ0)(x1 - μ1)] = 1 + ρ² for unit variances
    z_cross = abs(cross.mean() - CORRELATION) / np.sqrt((1 + CORRELATION**2) / cross.size)
    return max(moments_z(x, mean, var), z_cross)


@pytest.mark.statistical
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_moments_match_the_target(gpu, dtype, seed):
    """4000 chains from an overdispersed start, 200 independent-proposal steps with a
    heavy-tailed StudentT proposal: the final states' means, variances and covariance
    within Z_CRIT standard errors of the correlated 2-d Gaussian's; the same run on the
    target without its correlation (a wrong sampler of it) fails the same check."""
    energy, mean, var = targets.correlated_2d()
    x0 = (mean + 3.0 * np.sqrt(var) * np.random.default_rng(seed + 1).standard_normal(
        (4000, 2))).astype(dtype)
    xp = gpu.cupy if gpu.name == "device" else np
    q = P.StudentT(xp.asarray(mean), xp.asarray(2.0 * np.sqrt(var)), 4.0)
    wrong = fe.Gaussian(mean, covariance=np.diag(var))
    with gpu.context():
        run = fe.metropolis(energy, gpu.asarray(x0), 1, burn_in=200, proposal=q, rng=seed)
        control = fe.metropolis(wrong, gpu.asarray(x0), 1, burn_in=200, proposal=q, rng=seed)
    assert _gaussian_z(gpu.numpy(run.state.position), mean, var) < Z_CRIT
    assert _gaussian_z(gpu.numpy(control.state.position), mean, var) > Z_CRIT
