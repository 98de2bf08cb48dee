"""Student-t and mixture proposals: NumPy references of their streams (draw for draw),
log densities against SciPy, distributions by Kolmogorov-Smirnov within the DKW bound,
and their use in importance sampling and independent Metropolis-Hastings.

The references share only the stream mappings of ``fastebm._rng`` with the library: the
gamma variate (Marsaglia-Tsang with Box-Muller normals), the t draw and the component
choice are written out again here.
"""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import fastebm as fe
from fastebm._kernels.numba.proposals import gamma_variate, proposal_grad_log_density
from fastebm._rng import normals_reference, philox_key, uniforms_reference
from tests.statistical.harness import Z_CRIT, dkw_epsilon, mean_z

GAMMA_BIT, CHOICE_BIT = 1 << 30, 1 << 29
TAG_PROPOSAL = 2


def gamma_reference(key, chain, step, tag, shape):
    """Gamma(shape, 1) of stream (chain, step, tag | GAMMA_BIT), as the kernel draws it."""
    sub = tag | GAMMA_BIT
    a = shape if shape >= 1.0 else shape + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    u = uniforms_reference(key, chain, step, sub, 64)
    t = 0
    while True:
        if 4 + 3 * t > u.shape[0]:
            u = uniforms_reference(key, chain, step, sub, 2 * u.shape[0])
        u1, u2, u3 = u[1 + 3 * t], u[2 + 3 * t], u[3 + 3 * t]
        t += 1
        x = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v ** 3
        if np.log(u3) < 0.5 * x * x + d - d * v + d * np.log(v):
            break
    g = d * v
    if shape < 1.0:
        g *= np.exp(np.log(u[0]) / shape)
    return g


def t_draws(key, chains, step, tag, mean, scale, df):
    """Draws of t_ν(mean, scale) for each chain: μ + √(ν/g) Lξ, g = 2 Gamma(ν/2)."""
    chains = np.asarray(chains)
    chol = np.linalg.cholesky(scale)
    xi = normals_reference(key, chains, step, tag, mean.shape[0])
    g = np.array([2.0 * gamma_reference(key, int(c), step, tag, 0.5 * df) for c in chains])
    return mean + np.sqrt(df / g)[:, None] * (xi @ chol.T)


def mixture_draws(key, chains, step, tag, weights, components):
    """Draws of Σₖ wₖ qₖ; components are ("gauss", μ, Σ) or ("t", μ, Σ, ν)."""
    chains = np.asarray(chains)
    cum = np.cumsum(weights / np.sum(weights))
    u = uniforms_reference(key, chains, step, tag | CHOICE_BIT, 1)[:, 0]
    which = np.minimum(np.searchsorted(cum, u, side="left"), len(weights) - 1)
    out = np.empty((chains.shape[0], components[0][1].shape[0]))
    for i, (c, k) in enumerate(zip(chains, which)):
        comp = components[k]
        if comp[0] == "gauss":
            xi = normals_reference(key, int(c), step, tag, comp[1].shape[0])
            out[i] = comp[1] + np.linalg.cholesky(comp[2]) @ xi
        else:
            out[i] = t_draws(key, [int(c)], step, tag, comp[1], comp[2], comp[3])[0]
    return out


def mixture_logpdf(x, weights, components):
    """log Σₖ wₖ qₖ(x) with SciPy's densities."""
    weights = np.asarray(weights) / np.sum(weights)
    terms = []
    for w, comp in zip(weights, components):
        if comp[0] == "gauss":
            terms.append(np.log(w) + stats.multivariate_normal(comp[1], comp[2]).logpdf(x))
        else:
            terms.append(np.log(w) + stats.multivariate_t(comp[1], comp[2], df=comp[3]).logpdf(x))
    return np.logaddexp.reduce(np.atleast_2d(np.array(terms)), axis=0)


# --- the tests --------------------------------------------------------------------------

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT,
                               reason="statistical tests need the compiled kernels")

SCALE_3D = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
T_CASES = {
    "1d_df0.7": (np.array([0.5]), np.array([[2.0]]), 0.7),
    "3d_df3": (np.array([1.0, -1.0, 0.0]), SCALE_3D, 3.0),
    "2d_df30": (np.array([0.0, 2.0]), np.array([[1.0, 0.3], [0.3, 2.0]]), 30.0),
}
MIX_COMPONENTS = [("gauss", np.array([-2.0, 0.0]), np.array([[1.0, 0.2], [0.2, 0.5]])),
                  ("t", np.array([2.0, 1.0]), np.array([[0.5, 0.0], [0.0, 2.0]]), 2.5),
                  ("t", np.array([0.0, -3.0]), np.eye(2), 0.8)]
MIX_WEIGHTS = np.array([0.5, 0.3, 0.2])


def _mixture():
    comps = [fe.proposals.Gaussian(c[1], c[2]) if c[0] == "gauss"
             else fe.proposals.StudentT(c[1], c[2], c[3]) for c in MIX_COMPONENTS]
    return fe.proposals.Mixture(MIX_WEIGHTS, comps)


@pytest.mark.parametrize("case", T_CASES)
def test_student_t_equals_reference(case):
    mean, scale, df = T_CASES[case]
    q = fe.proposals.StudentT(mean, scale, df)
    draws = q.sample(300, rng=11)
    ref = t_draws(philox_key(11), np.arange(300), 0, TAG_PROPOSAL, mean, scale, df)
    np.testing.assert_allclose(draws, ref, rtol=1e-12, atol=1e-12)


def test_mixture_equals_reference():
    draws = _mixture().sample(300, rng=12)
    ref = mixture_draws(philox_key(12), np.arange(300), 0, TAG_PROPOSAL, MIX_WEIGHTS,
                        MIX_COMPONENTS)
    np.testing.assert_allclose(draws, ref, rtol=1e-12, atol=1e-12)


def test_draw_i_does_not_depend_on_n():
    q = _mixture()
    np.testing.assert_array_equal(q.sample(10, rng=5), q.sample(100, rng=5)[:10])


def test_reference_catches_a_wrong_gamma_shape():
    """Negative control of the draw-for-draw check: χ²_{ν+1} instead of χ²_ν differs."""
    mean, scale, df = T_CASES["3d_df3"]
    draws = fe.proposals.StudentT(mean, scale, df).sample(50, rng=11)
    chol = np.linalg.cholesky(scale)
    xi = normals_reference(philox_key(11), np.arange(50), 0, TAG_PROPOSAL, 3)
    g = np.array([2 * gamma_reference(philox_key(11), c, 0, TAG_PROPOSAL, 0.5 * (df + 1))
                  for c in range(50)])
    wrong = mean + np.sqrt(df / g)[:, None] * (xi @ chol.T)
    assert not np.allclose(draws, wrong, rtol=1e-6)


@pytest.mark.parametrize("case", T_CASES)
def test_student_t_log_density_equals_scipy(case):
    mean, scale, df = T_CASES[case]
    q = fe.proposals.StudentT(mean, scale, df)
    x = np.random.default_rng(0).normal(size=(50, mean.shape[0])) * 3 + mean
    np.testing.assert_allclose(q.log_density(x),
                               stats.multivariate_t(mean, scale, df=df).logpdf(x), rtol=1e-12)
    assert np.isclose(q.log_density(x[0]), stats.multivariate_t(mean, scale, df=df).logpdf(x[0]),
                      rtol=1e-12)


def test_student_t_log_density_at_its_draws():
    """The log q that a draw returns (from ‖ξ‖², no solve) equals log q(y) recomputed."""
    from fastebm._contract import Streams
    from fastebm._kernels.numba.sampling import draw_proposals
    mean, scale, df = T_CASES["3d_df3"]
    for q in (fe.proposals.StudentT(mean, scale, df), _mixture()):
        y, log_q = np.empty((200, q.dim)), np.empty(200)
        draw_proposals(q._kernel_params(), Streams(3, 4, 0, 0), y, log_q)
        np.testing.assert_allclose(log_q, q.log_density(y), rtol=1e-10)


def test_mixture_log_density_equals_scipy():
    x = np.random.default_rng(1).normal(size=(60, 2)) * 4
    np.testing.assert_allclose(_mixture().log_density(x),
                               mixture_logpdf(x, MIX_WEIGHTS, MIX_COMPONENTS), rtol=1e-12)


def test_nested_mixture_is_flattened():
    inner = fe.proposals.Mixture([1.0, 3.0], [fe.proposals.Gaussian([0.0], [1.0]),
                                             fe.proposals.StudentT([1.0], [2.0], 4.0)])
    outer = fe.proposals.Mixture([0.5, 0.5], [inner, fe.proposals.Gaussian([3.0], [0.5])])
    np.testing.assert_allclose(outer.weights, [0.125, 0.375, 0.5])
    x = np.linspace(-4, 6, 11)[:, None]
    expected = np.log(0.125 * stats.norm.pdf(x[:, 0]) + 0.375 * stats.t(4.0, 1.0, np.sqrt(2.0))
                      .pdf(x[:, 0]) + 0.5 * stats.norm(3.0, np.sqrt(0.5)).pdf(x[:, 0]))
    np.testing.assert_allclose(outer.log_density(x), expected, rtol=1e-12)


def test_zero_weight_component_is_never_drawn():
    q = fe.proposals.Mixture([0.0, 1.0], [fe.proposals.Gaussian([100.0], [1.0]),
                                          fe.proposals.Gaussian([0.0], [1.0])])
    assert np.all(np.abs(q.sample(2000, rng=3)) < 50)
    tail = fe.proposals.Mixture([0.1, 0.2, 0.7, 0.0], [fe.proposals.Gaussian([0.0], [1.0])] * 3
                                + [fe.proposals.Gaussian([100.0], [1.0])])
    assert tail._kernel_params().cum_weights[2] == 1.0
    assert np.all(np.abs(tail.sample(2000, rng=3)) < 50)


@pytest.mark.parametrize("q", [fe.proposals.StudentT([0.5, -1.0], [[2.0, 0.4], [0.4, 1.0]], 3.5),
                               _mixture()], ids=["student_t", "mixture"])
def test_grad_log_density_against_finite_differences(q):
    pp = q._kernel_params()
    rng = np.random.default_rng(2)
    for x in rng.normal(size=(5, 2)) * 2:
        out = np.empty(2)
        log_q = proposal_grad_log_density(pp, x, out)
        assert np.isclose(log_q, q.log_density(x), rtol=1e-12)
        h = 1e-6
        fd = [(q.log_density(x + h * e) - q.log_density(x - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(out, fd, rtol=1e-6, atol=1e-8)


@numba.njit
def _compiled_grad_log_density(pp, x, out):
    return proposal_grad_log_density(pp, x, out)


@pytest.mark.parametrize("q", [fe.proposals.StudentT([0.5, -1.0], [[2.0, 0.4], [0.4, 1.0]], 3.5),
                               _mixture()], ids=["student_t", "mixture"])
def test_compiled_grad_log_density_dispatch(q):
    """The overload used inside kernels gives the same ∇ log q as the Python dispatch."""
    x = np.array([0.3, -0.7])
    out, expected = np.empty(2), np.empty(2)
    log_q = _compiled_grad_log_density(q._kernel_params(), x, out)
    assert log_q == pytest.approx(proposal_grad_log_density(q._kernel_params(), x, expected),
                                  rel=1e-14)
    np.testing.assert_allclose(out, expected, rtol=1e-14)


# --- distribution: Kolmogorov-Smirnov within the DKW bound (TESTING.md) -------------------

@needs_jit
@pytest.mark.parametrize("case", T_CASES)
def test_student_t_distribution(case, seed):
    """Each standardized coordinate is t_ν and δ²/d = (y-μ)ᵀΣ⁻¹(y-μ)/d is F(d, ν)."""
    mean, scale, df = T_CASES[case]
    n = 100_000
    y = fe.proposals.StudentT(mean, scale, df).sample(n, rng=seed)
    eps = dkw_epsilon(n)
    for j in range(mean.shape[0]):
        z = (y[:, j] - mean[j]) / np.sqrt(scale[j, j])
        assert stats.kstest(z, stats.t(df).cdf).statistic < eps
    r = y - mean
    delta2 = np.einsum("ij,jk,ik->i", r, np.linalg.inv(scale), r) / mean.shape[0]
    assert stats.kstest(delta2, stats.f(mean.shape[0], df).cdf).statistic < eps


@needs_jit
def test_student_t_distribution_negative_control(seed):
    """The same KS check catches t draws built with χ²_{ν+1} (the reference, mutated)."""
    df = 3.0
    n = 20_000
    key = philox_key(seed)
    xi = normals_reference(key, np.arange(n), 0, TAG_PROPOSAL, 1)[:, 0]
    g = np.array([2 * gamma_reference(key, c, 0, TAG_PROPOSAL, 0.5 * (df + 1))
                  for c in range(n)])
    wrong = xi / np.sqrt(g / df)
    assert stats.kstest(wrong, stats.t(df).cdf).statistic > dkw_epsilon(n)


@numba.njit(parallel=True)
def _gammas(k0, k1, shape, out):
    for i in numba.prange(out.shape[0]):
        out[i] = gamma_variate(k0, k1, i, 0, 7, shape)


@needs_jit
@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 40.0])
def test_gamma_variate_distribution(shape, seed):
    n = 100_000
    out = np.empty(n)
    _gammas(*philox_key(seed), shape, out)
    assert stats.kstest(out, stats.gamma(shape).cdf).statistic < dkw_epsilon(n)
    assert mean_z(out[:, None], shape, shape) < Z_CRIT


@needs_jit
def test_mixture_distribution(seed):
    n = 100_000
    y = _mixture().sample(n, rng=seed)

    def cdf0(v):
        total = 0.0
        for w, c in zip(MIX_WEIGHTS, MIX_COMPONENTS):
            sd = np.sqrt(c[2][0, 0])
            dist = stats.norm(c[1][0], sd) if c[0] == "gauss" else stats.t(c[3], c[1][0], sd)
            total = total + w * dist.cdf(v)
        return total

    eps = dkw_epsilon(n)
    assert stats.kstest(y[:, 0], cdf0).statistic < eps
    # negative control: equal weights instead of MIX_WEIGHTS are caught by the same bound
    uniform_mix = fe.proposals.Mixture(np.ones(3), _mixture().components)
    assert stats.kstest(uniform_mix.sample(n, rng=seed)[:, 0], cdf0).statistic > eps


# --- use in importance sampling and independent Metropolis-Hastings -----------------------

@needs_jit
@pytest.mark.parametrize("proposal", [
    fe.proposals.StudentT([0.0, 1.0], [[3.0, 0.5], [0.5, 2.0]], 4.0),
    fe.proposals.Mixture([0.8, 0.2], [fe.proposals.Gaussian([0.0, 1.0], [2.0, 2.0]),
                                      fe.proposals.StudentT([0.0, 0.0], [9.0, 9.0], 2.0)]),
], ids=["student_t", "mixture"])
def test_importance_sample_log_z(proposal, seed):
    energy = fe.Gaussian([0.5, 1.0], covariance=[[1.0, 0.3], [0.3, 1.5]])
    result = fe.importance_sample(energy, proposal, 200_000, rng=seed)
    assert abs(result.log_z - energy.log_partition()) < Z_CRIT * result.stderr
    # negative control: a t proposal whose log density is off by 0.02 is caught
    if isinstance(proposal, fe.proposals.StudentT):
        proposal._log_norm += 0.02
        bad = fe.importance_sample(energy, proposal, 200_000, rng=seed)
        proposal._log_norm -= 0.02
        assert abs(bad.log_z - energy.log_partition()) > Z_CRIT * bad.stderr


def _imh_reference(energy, q_logpdf, draws_of_step, x0, n_steps, key):
    """Independent MH with proposals ``draws_of_step(s)`` (n, d) and SciPy's log q."""
    x = np.array(x0, dtype=float)
    e = energy(x)
    out = []
    for s in range(n_steps):
        y = draws_of_step(s)
        e_y = energy(y)
        log_alpha = e - e_y + q_logpdf(x) - q_logpdf(y)
        u = uniforms_reference(key, np.arange(x.shape[0]), s, 1, 1)[:, 0]
        take = (log_alpha >= 0) | (np.log(u) < log_alpha)
        x[take], e[take] = y[take], e_y[take]
        out.append(x.copy())
    return np.array(out)


def test_independent_metropolis_with_student_t_equals_reference():
    mean, scale, df = np.array([0.0, 1.0]), np.array([[3.0, 0.5], [0.5, 2.0]]), 4.0
    q = fe.proposals.StudentT(mean, scale, df)
    energy = fe.Gaussian([0.5, 1.0], covariance=[[1.0, 0.3], [0.3, 1.5]])
    x0 = np.random.default_rng(4).normal(size=(20, 2))
    result = fe.metropolis(energy, x0, 15, proposal=q, rng=9)
    key = philox_key(9)
    ref = _imh_reference(energy.energy, stats.multivariate_t(mean, scale, df=df).logpdf,
                         lambda s: t_draws(key, np.arange(20), s, 0, mean, scale, df),
                         x0, 15, key)
    np.testing.assert_allclose(result.draws, ref, rtol=1e-12, atol=1e-12)


def test_independent_metropolis_with_mixture_equals_reference():
    energy = fe.Gaussian([0.0, 0.0], covariance=[2.0, 1.0])
    x0 = np.random.default_rng(5).normal(size=(20, 2))
    result = fe.metropolis(energy, x0, 15, proposal=_mixture(), rng=10)
    key = philox_key(10)
    ref = _imh_reference(energy.energy, lambda x: mixture_logpdf(x, MIX_WEIGHTS, MIX_COMPONENTS),
                         lambda s: mixture_draws(key, np.arange(20), s, 0, MIX_WEIGHTS,
                                                 MIX_COMPONENTS), x0, 15, key)
    np.testing.assert_allclose(result.draws, ref, rtol=1e-12, atol=1e-12)


@needs_jit
def test_independent_metropolis_with_student_t_moments(seed):
    """20,000 chains, 30 steps from an overdispersed start: mean and variance of N(1, 4)."""
    energy = fe.Gaussian([1.0], covariance=[4.0])
    q = fe.proposals.StudentT([0.0], [6.0], 3.0)
    x0 = np.random.default_rng(seed).normal(0, 10, size=(20_000, 1))
    final = fe.metropolis(energy, x0, 30, proposal=q, keep="moments", rng=seed).state.position
    assert mean_z(final, 1.0, 4.0) < Z_CRIT
    assert abs(final.var(ddof=1) - 4.0) / np.sqrt(2 * 16 / 20_000) < Z_CRIT


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,error,match", [
    (lambda: fe.proposals.StudentT([0.0], [1.0], 0.0), ValueError, "df"),
    (lambda: fe.proposals.StudentT([0.0], [1.0], 0.05), ValueError, "df"),
    (lambda: fe.proposals.StudentT([0.0], [1.0], np.inf), ValueError, "df"),
    (lambda: fe.proposals.StudentT([0.0], [1.0], True), TypeError, "df"),
    (lambda: fe.proposals.StudentT([0.0], [1.0], "3"), TypeError, "df"),
    (lambda: fe.proposals.StudentT([0.0, 1.0], [1.0], 3.0), ValueError, "scale"),
    (lambda: fe.proposals.StudentT([0.0, 1.0], [[1.0, 2.0], [2.0, 1.0]], 3.0), ValueError,
     "positive definite"),
    (lambda: fe.proposals.StudentT([np.nan], [1.0], 3.0), ValueError, "mean"),
    (lambda: fe.proposals.Mixture([1.0, -0.5], [fe.proposals.Gaussian([0.0], [1.0])] * 2),
     ValueError, "weights"),
    (lambda: fe.proposals.Mixture([1.0], [fe.proposals.Gaussian([0.0], [1.0])] * 2),
     ValueError, "one per weight"),
    (lambda: fe.proposals.Mixture([1.0, 1.0], [fe.proposals.Gaussian([0.0], [1.0]),
                                               fe.proposals.Gaussian([0.0, 0.0], [1.0, 1.0])]),
     ValueError, "dimension"),
    (lambda: fe.proposals.Mixture([1.0], [fe.proposals.Uniform([0.0], [1.0])]), TypeError,
     "components"),
    (lambda: fe.proposals.Mixture([1.0], fe.proposals.Gaussian([0.0], [1.0])), ValueError,
     "sequence"),
])
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


@settings(max_examples=60, deadline=None)
@given(mean=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                       elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       scale=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
                        elements=st.floats(-5, 5)),
       df=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 5),
                    st.booleans(), st.none()))
def test_constructors_raise_only_documented_errors(mean, scale, df):
    """Any shapes and values: a proposal, or ValueError/TypeError, and then it samples."""
    for make in (lambda: fe.proposals.StudentT(mean, scale, df),
                 lambda: fe.proposals.Mixture([1.0, 2.0], [fe.proposals.StudentT(mean, scale, df),
                                                           fe.proposals.Gaussian(mean, scale)])):
        try:
            q = make()
        except (ValueError, TypeError):
            continue
        y = q.sample(3, rng=0)
        assert y.shape == (3, q.dim) and np.all(np.isfinite(q.log_density(y)))


def test_gaussian_rows_kernel_equals_generic_dispatch():
    """The written-out Gaussian kernel of draw_proposals gives the generic path's numbers."""
    from fastebm._contract import Streams
    from fastebm._kernels.numba.sampling import _draw_rows, draw_proposals
    q = fe.proposals.Gaussian([0.5, -1.0, 2.0], SCALE_3D)
    fast, slow = np.empty((600, 3)), np.empty((600, 3))
    log_fast, log_slow = np.empty(600), np.empty(600)
    draw_proposals(q._kernel_params(), Streams(5, 6, 3, 0), fast, log_fast)
    _draw_rows(q._kernel_params(), 5, 6, 3, 0, slow, log_slow)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(log_fast, log_slow)
