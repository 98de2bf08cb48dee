import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from fastebm._contract import TAG_MULTINOMIAL, TAG_RESIDUAL, TAG_STRATIFIED, TAG_SYSTEMATIC
from fastebm._kernels.numba.resampling import inverse_cdf, sorted_uniforms
from fastebm._rng import philox_key, uniforms_reference
from fastebm.resampling import (METHODS, log_mean_exp, log_sum_exp, normalized_weights,
                                resample)

# ---------------------------------------------------------------- NumPy references


def inverse_cdf_ref(points, w):
    """First j with points <= cumsum(w)[j], capped at the last positive weight."""
    idx = np.searchsorted(np.cumsum(w), points, side="left")
    return np.minimum(idx, np.flatnonzero(w > 0)[-1])


def sorted_uniforms_ref(key, tag, n):
    log_v = np.log(uniforms_reference(key, 0, 0, tag, n)) / np.arange(1, n + 1)
    return np.exp(np.cumsum(log_v[::-1])[::-1])


def multinomial_ref(key, w, n, tag=TAG_MULTINOMIAL):
    return inverse_cdf_ref(sorted_uniforms_ref(key, tag, n), w)


def systematic_ref(key, w, n):
    u = uniforms_reference(key, 0, 0, TAG_SYSTEMATIC, 1)[0]
    return inverse_cdf_ref((u + np.arange(n)) / n, w)


def systematic_unscaled_ref(key, w, n):
    """Mutant: the uniform is not divided by n (points u + k / n)."""
    u = uniforms_reference(key, 0, 0, TAG_SYSTEMATIC, 1)[0]
    return inverse_cdf_ref(u + np.arange(n) / n, w)


def stratified_ref(key, w, n):
    u = uniforms_reference(key, 0, 0, TAG_STRATIFIED, n)
    return inverse_cdf_ref((u + np.arange(n)) / n, w)


def residual_ref(key, w, n):
    copies = np.floor(n * w)
    n_rest = n - int(copies.sum())
    fixed = np.repeat(np.arange(w.size), copies.astype(np.int64))
    if n_rest == 0:
        return fixed
    rest = (n * w - copies) / n_rest
    return np.concatenate([fixed, multinomial_ref(key, rest, n_rest, TAG_RESIDUAL)])


REFERENCES = {"multinomial": multinomial_ref, "systematic": systematic_ref,
              "stratified": stratified_ref, "residual": residual_ref}


def counts(indices, size):
    return np.bincount(indices, minlength=size)


def random_log_weights(rng, size, p_zero=0.2):
    lw = rng.normal(scale=2.0, size=size)
    lw[rng.random(size) < p_zero] = -np.inf
    lw[rng.integers(size)] = 0.0
    return lw


# ---------------------------------------------------------------- kernel vs reference


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size,n", [(1, 1), (5, 1), (7, 7), (50, 13), (64, 200), (300, 300)])
def test_scheme_equals_reference(method, size, n, seed):
    rng = np.random.default_rng([seed, size, n])
    lw = random_log_weights(rng, size)
    got = resample(lw, n, method=method, rng=seed)
    want = REFERENCES[method](philox_key(seed), normalized_weights(lw), n)
    assert got.dtype == np.int64 and got.shape == (n,)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [1, 2, 9, 1000])
def test_sorted_uniforms_equal_reference(n):
    got = sorted_uniforms(3, 4, TAG_MULTINOMIAL, n)
    np.testing.assert_allclose(got, sorted_uniforms_ref((3, 4), TAG_MULTINOMIAL, n),
                               rtol=1e-12, atol=0)
    assert np.all(np.diff(got) >= 0) and got[0] > 0 and got[-1] < 1


def test_sorted_uniforms_are_uniform_order_statistics(seed):
    """Pooled order statistics of iid uniforms are uniform: DKW bound at 1e-4."""
    key = philox_key(seed)
    u = np.concatenate([sorted_uniforms(key[0], key[1], tag, 50) for tag in range(400)])
    eps = np.sqrt(np.log(2 / 1e-4) / (2 * u.size))
    assert stats.kstest(u, "uniform").statistic < eps


def test_inverse_cdf_equals_searchsorted(seed):
    rng = np.random.default_rng(seed)
    w = normalized_weights(random_log_weights(rng, 40))
    points = np.sort(rng.random(500))
    np.testing.assert_array_equal(inverse_cdf(points, w), inverse_cdf_ref(points, w))


def test_inverse_cdf_rounding_above_total_stays_on_positive_weight():
    w = np.array([0.0, 0.5, 0.5 - 1e-12, 0.0])
    np.testing.assert_array_equal(inverse_cdf(np.array([0.25, 1.0 - 1e-13]), w), [1, 2])


# ---------------------------------------------------------------- deterministic properties


@pytest.mark.parametrize("method", METHODS)
def test_zero_weights_never_chosen(method, seed):
    lw = np.array([-np.inf, 0.3, -np.inf, -np.inf, 1.0, -2.0, -np.inf])
    rng = np.random.default_rng(seed)
    for _ in range(200):
        idx = resample(lw, 25, method=method, rng=rng)
        assert np.all(np.isfinite(lw[idx]))
        assert idx.min() >= 0 and idx.max() < lw.size


@pytest.mark.parametrize("method", METHODS)
def test_one_hot_weights(method):
    lw = np.full(6, -np.inf)
    lw[3] = -1234.5
    np.testing.assert_array_equal(resample(lw, 11, method=method, rng=0), np.full(11, 3))


@pytest.mark.parametrize("method", METHODS)
def test_n_one_and_default_n(method):
    lw = np.log([0.2, 0.3, 0.5])
    one = resample(lw, 1, method=method, rng=1)
    assert one.shape == (1,) and 0 <= one[0] < 3
    assert resample(lw, method=method, rng=1).shape == (3,)


def offspring_deviations(method, seed, n_trials=300):
    """n_i(trial) - n w_i over random weight vectors and sizes."""
    rng = np.random.default_rng(seed)
    for _ in range(n_trials):
        size, n = rng.integers(1, 30), rng.integers(1, 60)
        lw = random_log_weights(rng, size)
        idx = resample(lw, n, method=method, rng=rng)
        w = normalized_weights(lw)
        yield counts(idx, size), n * w


def test_systematic_counts_within_one(seed):
    for c, nw in offspring_deviations("systematic", seed):
        assert np.all(np.abs(c - nw) < 1 + 1e-9)


def test_stratified_counts_within_two(seed):
    for c, nw in offspring_deviations("stratified", seed):
        assert np.all(np.abs(c - nw) < 2 + 1e-9)


def test_stratified_count_can_be_more_than_one_off():
    """The bound for stratified is 2, not 1: w = (.01, .98, .01), n = 3, u = (.01, .5, .99)."""
    w = np.array([0.01, 0.98, 0.01])
    idx = inverse_cdf((np.array([0.01, 0.5, 0.99]) + np.arange(3)) / 3, w)
    assert abs(counts(idx, 3)[1] - 3 * w[1]) > 1.9


def test_residual_counts_at_least_floor(seed):
    for c, nw in offspring_deviations("residual", seed):
        assert np.all(c >= np.floor(nw))


# ---------------------------------------------------------------- unbiasedness


UNBIASED_LW = np.log([0.03, 0.17, 0.25, 1.0, 0.05, 0.34, 0.16])
UNBIASED_LW[3] = -np.inf  # a zero weight: its count must stay exactly 0
UNBIASED_N = 10


def is_unbiased(offspring, expected, z_crit):
    """Mean offspring counts (n_repeats, size) equal ``expected`` within the MC error.

    A z test per particle on the mean over independent repeats, the threshold
    Bonferroni-corrected over the particles so the family has the false-alarm rate of
    one z test at ``z_crit``. A count with no spread (se = 0) must equal its expectation.
    """
    diff = offspring.mean(axis=0) - expected
    se = offspring.std(axis=0, ddof=1) / np.sqrt(offspring.shape[0])
    threshold = stats.norm.isf(stats.norm.sf(z_crit) / offspring.shape[1])
    return bool(np.all(np.abs(diff) <= threshold * se + 1e-9))


def offspring_over_repeats(draw, seed, n_repeats=4000):
    rng = np.random.default_rng(seed)
    return np.stack([counts(draw(rng), UNBIASED_LW.size) for _ in range(n_repeats)])


@pytest.mark.parametrize("method", METHODS)
def test_unbiased(method, seed, z_crit):
    offspring = offspring_over_repeats(
        lambda rng: resample(UNBIASED_LW, UNBIASED_N, method=method, rng=rng), seed)
    assert is_unbiased(offspring, UNBIASED_N * normalized_weights(UNBIASED_LW), z_crit)


def test_unbiasedness_check_catches_unscaled_systematic(seed, z_crit):
    w = normalized_weights(UNBIASED_LW)
    offspring = offspring_over_repeats(
        lambda rng: systematic_unscaled_ref(philox_key(rng), w, UNBIASED_N), seed)
    assert not is_unbiased(offspring, UNBIASED_N * w, z_crit)


# ---------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("method", METHODS)
def test_same_rng_same_indices(method):
    lw = np.random.default_rng(0).normal(size=40)
    a = resample(lw, 100, method=method, rng=7)
    np.testing.assert_array_equal(a, resample(lw, 100, method=method, rng=7))
    np.testing.assert_array_equal(a, resample(lw, 100, method=method,
                                              rng=np.random.SeedSequence(7)))
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(resample(lw, 100, method=method, rng=g1),
                                  resample(lw, 100, method=method, rng=g2))


@pytest.mark.parametrize("method", ["multinomial", "stratified", "residual"])
def test_generator_advances(method):
    lw = np.random.default_rng(0).normal(size=40)
    g = np.random.default_rng(7)
    a = resample(lw, 100, method=method, rng=g)
    assert not np.array_equal(a, resample(lw, 100, method=method, rng=g))


# ---------------------------------------------------------------- helpers


def test_normalized_weights_and_log_sum_exp():
    lw = np.array([-1000.0, -1001.0, -np.inf, -999.5])
    np.testing.assert_allclose(normalized_weights(lw), special.softmax(lw), rtol=1e-14)
    assert log_sum_exp(lw) == pytest.approx(special.logsumexp(lw), rel=1e-14)
    assert log_mean_exp(lw) == pytest.approx(special.logsumexp(lw) - np.log(4), rel=1e-14)
    assert log_sum_exp([-np.inf, -np.inf]) == -np.inf
    assert normalized_weights(np.zeros(4, dtype=np.float32)).dtype == np.float64


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("lw,error,match", [
    ([0.0, np.nan], ValueError, "NaN"),
    ([0.0, np.inf], ValueError, r"\+inf"),
    ([-np.inf, -np.inf], ValueError, "no defined answer"),
    ([], ValueError, "non-empty"),
    ([[0.0, 1.0]], ValueError, "1-d"),
    (0.5, ValueError, "1-d"),
    ([0, 1], TypeError, "float"),
    (["a", "b"], TypeError, "float"),
])
def test_bad_log_weights(lw, error, match):
    with pytest.raises(error, match=match) as info:
        resample(lw, rng=0)
    assert "log_weights" in str(info.value)


@pytest.mark.parametrize("n,error", [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                     (True, TypeError), ("3", TypeError)])
def test_bad_n(n, error):
    with pytest.raises(error, match="n must"):
        resample([0.0, 1.0], n, rng=0)


@pytest.mark.parametrize("method", ["Systematic", "kitagawa", None])
def test_bad_method_lists_valid_ones(method):
    with pytest.raises(ValueError, match="method.*'multinomial'.*'systematic'"):
        resample([0.0, 1.0], method=method, rng=0)


def test_bad_rng():
    with pytest.raises(TypeError, match="rng"):
        resample([0.0, 1.0], rng=1.5)


# ---------------------------------------------------------------- property test


log_weight_lists = st.lists(
    st.one_of(st.floats(-50, 50), st.just(-np.inf)), min_size=1, max_size=30
).filter(lambda v: any(np.isfinite(v)))


@settings(deadline=None, max_examples=200)
@given(lw=log_weight_lists, n=st.integers(1, 80), method=st.sampled_from(METHODS),
       seed=st.integers(0, 2**32 - 1))
def test_property_in_range_and_positive_weight(lw, n, method, seed):
    lw = np.array(lw)
    idx = resample(lw, n, method=method, rng=seed)
    assert idx.shape == (n,) and idx.dtype == np.int64
    assert np.all((idx >= 0) & (idx < lw.size))
    assert np.all(normalized_weights(lw)[idx] > 0)
