"""Gibbs sampling of RBMs and Ising lattices through the GPU path (host emulation; a
device when there is one): against the Numba kernels and the NumPy reference of the same
streams, the streams' guarantees, and the marginals of enumerable models."""
import numpy as np
import pytest

import fastebm as fe
from fastebm._rng import philox_key
from fastebm.backend import emulate_gpu
from tests.discrete.checks import check_gibbs_streams
from tests.discrete.reference import (bernoulli_gibbs, gaussian_bernoulli_gibbs,
                                      visible_marginals)
from tests.statistical.harness import Z_CRIT, mean_z


def _params(seed, V=6, H=5, scale=0.8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, H)) * scale, rng.normal(size=V) * 0.5, rng.normal(size=H) * 0.5


def _models(seed):
    W, b, c = _params(seed)
    return {"bernoulli": fe.BernoulliRBM(W, b, c),
            "tempered": fe.BernoulliRBM(W, b, c).tempered(0.6),
            "gaussian": fe.GaussianBernoulliRBM(W, b, c, np.linspace(0.5, 1.5, 6)),
            "gaussian_tempered": fe.GaussianBernoulliRBM(W, b, c, np.linspace(0.5, 1.5, 6))
            .tempered(0.6)}


def _start(name, n=70):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 6)) if name.startswith("gaussian") else (
        rng.random((n, 6)) < 0.5).astype(float)


@pytest.mark.parametrize("kw", [dict(), dict(thin=3, burn_in=4), dict(keep="moments")])
@pytest.mark.parametrize("name", ["bernoulli", "tempered", "gaussian", "gaussian_tempered"])
@pytest.mark.parametrize("blocks", [False, True])
def test_emulated_gibbs_equals_the_numba_backend(name, kw, blocks, seed, monkeypatch):
    """Also with ``progress=True``, whose tiny blocks make a kernel call per sweep."""
    import fastebm.progress
    monkeypatch.setattr(fastebm.progress, "BLOCK_SECONDS", 1e-6)
    monkeypatch.delenv(fastebm.progress.ENV_SWITCH, raising=False)
    model, x0 = _models(seed)[name], _start(name)
    cpu = fe.gibbs(model, x0, 15, rng=seed, **kw)
    with emulate_gpu():
        gpu = fe.gibbs(model, x0, 15, rng=seed, progress=blocks, **kw)
    key = "mean" if kw.get("keep") == "moments" else "draws"
    np.testing.assert_array_equal(getattr(cpu, key), getattr(gpu, key))
    np.testing.assert_array_equal(cpu.state.position, gpu.state.position)


def test_gibbs_equals_the_numpy_reference(gpu, seed):
    """Bernoulli draws exactly (the sigmoid's exp is the kernels' own arithmetic, the same
    on every backend); Gaussian visibles to rounding."""
    W, b, c = _params(seed)
    v0 = _start("bernoulli")
    with gpu.context():
        res = fe.gibbs(fe.BernoulliRBM(W, b, c), gpu.asarray(v0), 12, rng=seed)
    ref = bernoulli_gibbs(W, b, c, v0, 12, philox_key(seed))
    same = np.mean(gpu.numpy(res.draws) == ref)
    assert same == 1.0 if gpu.exact else same > 0.999
    sigma = np.linspace(0.5, 1.5, 6)
    x0 = _start("gaussian")
    with gpu.context():
        res = fe.gibbs(fe.GaussianBernoulliRBM(W, b, c, sigma), gpu.asarray(x0), 8, rng=seed)
    ref = gaussian_bernoulli_gibbs(W, b, c, sigma, x0, 8, philox_key(seed))
    np.testing.assert_allclose(gpu.numpy(res.draws)[0], ref[0], rtol=0, atol=1e-12)
    if gpu.exact:
        np.testing.assert_allclose(res.draws, ref, rtol=0, atol=1e-12)


def test_emulated_streams_thin_burn_in_and_continuation(seed):
    with emulate_gpu():
        check_gibbs_streams(_models(seed)["bernoulli"], np.zeros((100, 6)), seed)


@pytest.mark.statistical
def test_gibbs_marginals_match_enumeration(gpu, seed):
    """Final states of 20,000 chains after 50 sweeps on the GPU path: every visible
    unit's mean within Z_CRIT standard errors of the enumerated marginal; the mean-field
    mutant (NumPy reference) is caught by the same check."""
    W, b, c = _params(seed, V=6, H=4, scale=1.2)
    rbm = fe.BernoulliRBM(W, b, c)
    mean, var = visible_marginals(rbm)
    v0 = np.zeros((20000, 6))
    with gpu.context():
        final = gpu.numpy(fe.gibbs(rbm, gpu.asarray(v0), 1, burn_in=49, rng=seed).draws[-1])
    assert mean_z(final, mean, var) < Z_CRIT
    mutant = bernoulli_gibbs(W, b, c, v0, 50, philox_key(seed), mean_field_hidden=True)[-1]
    assert mean_z(mutant, mean, var) > Z_CRIT


LATTICES = {"checkerboard": (4, 6), "sequential": (3, 5), "size_two": (2, 4)}


@pytest.mark.parametrize("beta", [1.0, 0.6])
@pytest.mark.parametrize("shape", LATTICES)
def test_lattice_sweeps_equal_the_numba_backend(gpu, shape, beta, seed):
    """Checkerboard half-sweeps (one thread per site and chain) and sequential sweeps (L
    or M odd) give the CPU's spins: bitwise on the host; on a device too, since the
    thresholds come from the host's exp and a spin's decision is one comparison."""
    L, M = LATTICES[shape]
    model = fe.Ising.lattice(L, M, 0.4, field=0.1).tempered(beta)
    s0 = np.where(np.random.default_rng(1).random((40, L * M)) < 0.5, 1.0, -1.0)
    cpu = fe.gibbs(model, s0, 20, rng=seed, thin=2)
    with gpu.context():
        other = fe.gibbs(model, gpu.asarray(s0), 20, rng=seed, thin=2)
    np.testing.assert_array_equal(gpu.numpy(other.draws), cpu.draws)


def test_emulated_lattice_streams(seed):
    with emulate_gpu():
        check_gibbs_streams(fe.Ising.lattice(4, 4, 0.3), np.ones((100, 16)), seed)


def _bond_statistic(spins, L, M):
    """Per state: the mean of s_x s_right(x) over the sites of a periodic L × M lattice."""
    s = spins.reshape(-1, L, M)
    return (s * np.roll(s, -1, axis=2)).mean(axis=(1, 2))


@pytest.mark.statistical
def test_lattice_bond_correlation_matches_enumeration(gpu, seed):
    """A 4 × 4 lattice (2¹⁶ states, enumerated): the mean nearest-neighbour correlation of
    20,000 chains' final states after 100 sweeps, within Z_CRIT standard errors of the
    exact value; chains of a lattice at coupling 0.3 instead of 0.4 are caught."""
    L = M = 4
    target = fe.Ising.lattice(L, M, 0.4, field=0.1)
    all_states = np.where((np.arange(2 ** 16)[:, None] >> np.arange(16)) & 1, 1.0, -1.0)
    log_p = -target.energy(all_states)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    stat = _bond_statistic(all_states, L, M)
    mean, var = p @ stat, p @ (stat - p @ stat) ** 2
    s0 = np.ones((20000, L * M))
    for coupling, should_pass in ((0.4, True), (0.3, False)):
        with gpu.context():
            run = fe.gibbs(fe.Ising.lattice(L, M, coupling, field=0.1), gpu.asarray(s0), 1,
                           burn_in=99, rng=seed)
        z = mean_z(_bond_statistic(gpu.numpy(run.draws[-1]), L, M), mean, var)
        assert (z < Z_CRIT) == should_pass, (coupling, z)
