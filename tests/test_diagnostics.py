"""Tests of fastebm.diagnostics: ESS and R-hat against ArviZ, statistical sanity checks
with negative controls, Kish's weight ESS, and bad input."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.signal import lfilter

from fastebm.diagnostics import ess, rhat, weights_ess

with warnings.catch_warnings():
    # ArviZ announces its refactor with a FutureWarning on import.
    warnings.simplefilter("ignore")
    az = pytest.importorskip("arviz")

RTOL = 1e-10  # agreement with ArviZ: only the summation order differs


def ar1(rng, n_draws, n_chains, phi, shifts=0.0, d=None):
    """Stationary N(0, 1) AR(1) chains, draw axis first, plus a per-chain shift."""
    shape = (n_draws, n_chains) if d is None else (n_draws, n_chains, d)
    c = np.sqrt(1.0 - phi**2)
    noise = rng.standard_normal(shape)
    noise[0] /= c  # so that x[0] = noise[0] ~ N(0, 1)
    shifts = np.asarray(shifts).reshape((1, -1) + (1,) * (len(shape) - 2))
    return lfilter([c], [1.0, -phi], noise, axis=0) + shifts


def arviz_ess(draws):
    """ArviZ's bulk ESS of our (n_draws, n_chains[, d]) layout; it wants chains first."""
    return az.ess(np.swapaxes(np.asarray(draws), 0, 1), method="bulk")


def arviz_rhat(draws):
    return az.rhat(np.swapaxes(np.asarray(draws), 0, 1), method="rank")


def arviz_per_coordinate(fn, draws):
    dataset = az.convert_to_dataset(np.swapaxes(draws, 0, 1))  # (chain, draw, d)
    return fn(dataset)["x"].values


# --------------------------------------------------------------- agreement with ArviZ

SHAPES = [(4, 2), (5, 3), (9, 2), (10, 4), (11, 1), (50, 4), (101, 3), (1000, 4)]
PHIS = [-0.6, 0.0, 0.5, 0.9, 0.99]


@pytest.mark.parametrize("n_draws, n_chains", SHAPES)
@pytest.mark.parametrize("phi", PHIS)
def test_ess_matches_arviz(n_draws, n_chains, phi):
    rng = np.random.default_rng([n_draws, n_chains, int(100 * phi) + 100])
    draws = ar1(rng, n_draws, n_chains, phi, shifts=0.3 * np.arange(n_chains))
    assert ess(draws) == pytest.approx(arviz_ess(draws), rel=RTOL)


@pytest.mark.parametrize("n_draws, n_chains", [s for s in SHAPES if s[1] > 1])
@pytest.mark.parametrize("phi", PHIS)
@pytest.mark.parametrize("shift", [0.0, 0.2, 2.0])
def test_rhat_matches_arviz(n_draws, n_chains, phi, shift):
    rng = np.random.default_rng([n_draws, n_chains, int(100 * phi) + 100, int(10 * shift)])
    draws = ar1(rng, n_draws, n_chains, phi, shifts=shift * np.arange(n_chains))
    assert rhat(draws) == pytest.approx(arviz_rhat(draws), rel=RTOL)


def test_tail_rhat_matches_arviz_for_unequal_scales():
    rng = np.random.default_rng(7)
    draws = rng.standard_normal((400, 4)) * np.array([1.0, 1.0, 3.0, 3.0])
    assert rhat(draws) == pytest.approx(arviz_rhat(draws), rel=RTOL)


def test_ties_match_arviz():
    rng = np.random.default_rng(11)
    draws = np.round(ar1(rng, 300, 3, 0.7, shifts=[0.0, 0.0, 0.5]))  # few distinct values
    assert ess(draws) == pytest.approx(arviz_ess(draws), rel=RTOL)
    assert rhat(draws) == pytest.approx(arviz_rhat(draws), rel=RTOL)


@pytest.mark.parametrize("chunk", [None, 7])
@pytest.mark.parametrize("kind", ["continuous", "rounded", "few_values", "constant"])
def test_blom_scores_equal_those_of_scipy_average_ranks(kind, chunk, monkeypatch):
    """The rank normalization's scores (one unstable sort, untied values from the cached
    scores of 1..S, few distinct values group by group, many by one repeat) against
    those of SciPy's average ranks, ties included; the same data ranked without
    averaging ties (SciPy's "ordinal") differs, so a tie handled as no tie would be
    caught. With the sorted values gathered 7 at a time, ties straddle the chunks."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    from fastebm import diagnostics
    from fastebm.diagnostics import _FEW_TIE_GROUPS, _blom_scores_into
    if chunk is not None:
        monkeypatch.setattr(diagnostics, "_SORTED_CHUNK", chunk)
    rng = np.random.default_rng(5)
    x = {"continuous": rng.standard_normal(2001),
         "rounded": np.round(rng.standard_normal(2001), 1),  # many tie groups
         "few_values": rng.integers(0, 3, size=2001).astype(float),
         "constant": np.full(50, 1.5)}[kind]
    groups = np.unique(x).size
    assert (groups > _FEW_TIE_GROUPS) == (kind in ("continuous", "rounded"))

    def scores(method):
        return ndtri((rankdata(x, method=method) - 0.375) / (x.shape[0] + 0.25))
    got = x.copy()
    _blom_scores_into(got)
    np.testing.assert_array_equal(got, scores("average"))
    if kind != "continuous":
        assert not np.array_equal(got, scores("ordinal"))


@pytest.mark.parametrize("fn", [ess, rhat])
@pytest.mark.parametrize("values", ["continuous", "binary"])
def test_draws_are_not_written(fn, values):
    """The scores are written over a copy of each coordinate's draws, never over the
    caller's array (even, contiguous 2-d draws included, whose split halves are views
    of it)."""
    rng = np.random.default_rng(2)
    draws = rng.standard_normal((400, 4, 2))
    if values == "binary":
        draws = (draws > 0).astype(float)
    for x in (draws, np.ascontiguousarray(draws[..., 0]), draws[:, 0, 0].copy()):
        before = x.copy()
        fn(x)
        np.testing.assert_array_equal(x, before)


def test_per_coordinate_matches_arviz():
    rng = np.random.default_rng(3)
    phis = [0.0, 0.5, 0.95]
    draws = np.stack([ar1(rng, 200, 4, phi, shifts=[0, 0, 0, 0.5 * j])
                      for j, phi in enumerate(phis)], axis=2)
    assert ess(draws).shape == rhat(draws).shape == (3,)
    np.testing.assert_allclose(ess(draws), arviz_per_coordinate(az.ess, draws), rtol=RTOL)
    np.testing.assert_allclose(rhat(draws), arviz_per_coordinate(az.rhat, draws), rtol=RTOL)


def test_one_chain_1d_matches_arviz():
    draws = ar1(np.random.default_rng(5), 301, 1, 0.8)[:, 0]
    assert ess(draws) == pytest.approx(az.ess(draws[None, :], method="bulk"), rel=RTOL)
    assert ess(draws) == ess(draws[:, None])
    assert rhat(draws) == rhat(draws[:, None])


# ------------------------------------------------------------------ shapes, exactness


@pytest.mark.parametrize("shape", [(100, 3, 4), (57, 5, 7), (1000, 20, 3)])
def test_output_types_and_coordinates(shape):
    """A coordinate's value is that of the coordinate alone, bit for bit (reductions
    over a (n, m, d) array summed a coordinate in another order than alone: each of
    these shapes differed by 1e-15 to 1e-13 before each coordinate was computed on its
    own)."""
    draws = np.random.default_rng(2).normal(size=shape).cumsum(axis=0)
    assert isinstance(ess(draws[:, :, 0]), float)
    assert isinstance(rhat(draws[:, :, 0]), float)
    for j in range(shape[2]):
        assert ess(draws)[j] == ess(draws[:, :, j])
        assert rhat(draws)[j] == rhat(draws[:, :, j])


def test_odd_length_drops_the_middle_draw():
    draws = ar1(np.random.default_rng(4), 101, 2, 0.5)
    shorter = np.delete(draws, 50, axis=0)
    assert ess(draws) == ess(shorter)
    assert rhat(draws) == rhat(shorter)


def test_invariant_under_monotone_transforms():
    draws = ar1(np.random.default_rng(6), 500, 4, 0.6, shifts=[0, 0, 0.1, 0.2])
    # Rank-based: the bulk is unchanged by any increasing map; the tail (folded)
    # diagnostic is not, so only ESS and bulk-dominated R-hat are compared.
    assert ess(np.exp(draws)) == pytest.approx(ess(draws), rel=1e-12)
    assert ess(3.0 * draws - 1.0) == pytest.approx(ess(draws), rel=1e-12)
    assert rhat(3.0 * draws - 1.0) == pytest.approx(rhat(draws), rel=1e-12)


def test_integer_and_float32_input():
    draws = ar1(np.random.default_rng(8), 200, 3, 0.5)
    assert ess(draws.astype(np.float32)) == pytest.approx(ess(draws), rel=1e-6)
    ints = np.round(10 * draws).astype(np.int64)
    assert ess(ints) == ess(ints.astype(float))
    assert rhat(ints) == rhat(ints.astype(float))


def test_constant_draws_are_nan():
    draws = np.ones((20, 3, 2))
    draws[:, :, 1] = np.arange(60).reshape(20, 3)
    assert np.isnan(ess(draws)[0]) and np.isfinite(ess(draws)[1])
    assert np.isnan(rhat(draws)[0]) and np.isfinite(rhat(draws)[1])


def test_stuck_chains_at_different_values():
    """A sampler that always rejects: each chain constant, chains apart."""
    draws = np.broadcast_to(np.array([0.0, 1.0, 2.0]), (100, 3))
    assert rhat(draws) > 1e6  # W is 0 up to rounding
    assert ess(draws) < 10


def test_coordinates_in_threads_divide_quietly(monkeypatch):
    """Coordinates are computed by several threads (one per coordinate here, whatever
    the machine's cores), and each thread must divide under the statistics' own
    ``np.errstate`` (NumPy's error state is per thread; a division by zero, as W = 0
    gives in R-hat, would warn, and under pytest's warnings-as-errors fail). Stuck
    chains only come near W = 0 (W is 0 up to rounding), so the division is forced."""
    from fastebm import diagnostics
    monkeypatch.setattr(diagnostics, "_workers", lambda d, size: d)
    monkeypatch.setattr(diagnostics, "_split_rhat", lambda z: np.float64(1.0) / np.float64(0.0))
    draws = np.random.default_rng(0).normal(size=(20, 3, 3))
    np.testing.assert_array_equal(rhat(draws), np.inf)


# ------------------------------------------------------ statistical checks, controls
# For S = 16,000 split draws the autocorrelation estimates have sd about 1/sqrt(S)
# = 0.008, and over 1,000 seeds ESS / ESS_true had sd 0.024 (iid) and 0.046
# (phi = 0.5), extremes 0.87 and 0.83: the bounds [2/3, 3/2] are about 7 sd away.


@pytest.mark.parametrize("phi", [0.0, 0.5])
def test_ess_near_truth_for_ar1(seed, phi):
    draws = ar1(np.random.default_rng(seed), 4000, 4, phi)
    true_ess = draws.size * (1 - phi) / (1 + phi)
    assert 2 / 3 < ess(draws) / true_ess < 3 / 2


def test_ess_catches_correlation(seed):
    """Negative control: strongly correlated draws must not look independent."""
    draws = ar1(np.random.default_rng(seed), 4000, 4, 0.9)
    assert ess(draws) < draws.size / 10


def test_rhat_near_one_for_iid(seed):
    # Bulk: R^2 - 1 is about (F(7, 7992) - 1) / 2000; exceeding 1.01 needs F > 41.
    draws = np.random.default_rng(seed).standard_normal((4000, 4))
    assert rhat(draws) < 1.01


def test_rhat_catches_shifted_means(seed):
    """Negative control: one chain one standard deviation off (B/W near 200; it
    must stay above 21 for R-hat > 1.01)."""
    draws = np.random.default_rng(seed).standard_normal((2000, 4)) + [0, 0, 0, 1.0]
    assert rhat(draws) > 1.01


def test_rhat_catches_unequal_scales(seed):
    """Negative control for the tail (folded) R-hat: same centre, different scales."""
    draws = np.random.default_rng(seed).standard_normal((1000, 4)) * [1, 1, 1, 3]
    assert rhat(draws) > 1.01


def test_rhat_catches_a_trend(seed):
    """Negative control for splitting: one chain drifting, the others not."""
    trend = np.linspace(0.0, 2.0, 1000)[:, None]
    draws = np.random.default_rng(seed).standard_normal((1000, 1)) + trend
    assert rhat(draws) > 1.01


# ----------------------------------------------------------------------- weights ESS


def test_weights_ess_equal_weights():
    assert weights_ess(np.full(10, -3.7)) == 10.0
    assert weights_ess(np.zeros(1)) == 1.0


def test_weights_ess_one_hot():
    log_w = np.full(8, -np.inf)
    log_w[3] = 2.0
    assert weights_ess(log_w) == 1.0


def test_weights_ess_known_value():
    # w = (1, 2, 3, 4): (sum w)^2 / sum w^2 = 100 / 30
    assert weights_ess(np.log([1.0, 2.0, 3.0, 4.0])) == pytest.approx(10 / 3, rel=1e-14)
    assert weights_ess([0.0, 0.0, -np.inf]) == 2.0


def test_weights_ess_no_overflow_and_shift_invariance():
    log_w = np.random.default_rng(1).normal(size=50) * 3
    expected = weights_ess(log_w)
    for shift in (-1e4, -700.0, 700.0, 1e4):
        assert weights_ess(log_w + shift) == pytest.approx(expected, rel=1e-12)


def test_weights_ess_batch_along_last_axis():
    log_w = np.random.default_rng(2).normal(size=(2, 3, 20))
    out = weights_ess(log_w)
    assert out.shape == (2, 3)
    w = np.exp(log_w)
    np.testing.assert_allclose(out, w.sum(-1) ** 2 / (w**2).sum(-1), rtol=1e-12)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e3, 1e3)),
       st.floats(-1e3, 1e3))
def test_weights_ess_properties(log_w, shift):
    value = weights_ess(log_w)
    assert 1.0 - 1e-12 <= value <= log_w.size * (1 + 1e-12)  # Cauchy-Schwarz
    assert weights_ess(log_w + shift) == pytest.approx(value, rel=1e-9)


# ------------------------------------------------------------------------- bad input

GOOD = np.random.default_rng(0).standard_normal((10, 2))


def _with(value, where=(0, 0)):
    bad = GOOD.copy()
    bad[where] = value
    return bad


@pytest.mark.parametrize("fn", [ess, rhat])
@pytest.mark.parametrize("draws, error", [
    (np.float64(1.0), ValueError),                       # 0-d
    (np.zeros((10, 2, 2, 2)), ValueError),               # 4-d
    (GOOD[:3], ValueError),                              # fewer than 4 draws
    (np.zeros((10, 0)), ValueError),                     # no chains
    (np.zeros((10, 2, 0)), ValueError),                  # no coordinates
    (_with(np.nan), ValueError),
    (_with(np.inf), ValueError),
    (_with(-np.inf), ValueError),
    (GOOD.astype(complex), TypeError),
    (np.array([["a"] * 2] * 10), TypeError),
    (np.empty((10, 2), dtype=object), TypeError),
    ([[1.0, 2.0], [3.0]] * 4, ValueError),               # ragged
])
def test_bad_draws(fn, draws, error):
    with pytest.raises(error, match="draws"):
        fn(draws)


@pytest.mark.parametrize("log_weights, error", [
    ([0.0, np.nan], ValueError),
    ([0.0, np.inf], ValueError),
    ([-np.inf, -np.inf], ValueError),
    ([[0.0, 1.0], [-np.inf, -np.inf]], ValueError),      # one row without weight
    (np.float64(0.0), ValueError),                       # 0-d
    (np.zeros(0), ValueError),                           # empty
    (np.zeros(3, dtype=complex), TypeError),
    (["a", "b"], TypeError),
])
def test_bad_log_weights(log_weights, error):
    with pytest.raises(error, match="log_weights"):
        weights_ess(log_weights)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32, np.int32, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_only_documented_exceptions(draws):
    """Any shape, dtype and value (NaN, inf included): a result or a named error."""
    for fn in (ess, rhat):
        try:
            out = fn(draws)
        except (ValueError, TypeError) as err:
            assert "draws" in str(err)
        else:
            assert np.shape(out) == (draws.shape[2:] if draws.ndim == 3 else ())
