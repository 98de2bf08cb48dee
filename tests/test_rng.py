import numpy as np
import pytest
from scipy import stats

from fastebm._kernels.numba.philox import philox4x32
from fastebm._kernels.ziggurat_tables import ZIG_F, ZIG_R, ZIG_X
from fastebm._rng import (normals_reference, philox4x32_reference, philox_key,
                          uniforms_reference)
from tests.kernels_harness import normals_block, normals_rows, uniforms_block, uniforms_rows

# Random123 known-answer vectors (DESIGN.md): counter, key, output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers_reference(counter, key, expected):
    assert tuple(int(w) for w in philox4x32_reference(np.array(counter), key)) == expected


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers_kernel(counter, key, expected):
    assert tuple(int(w) for w in philox4x32(*counter, *key)) == expected


def test_nine_rounds_fail_known_answers():
    """Negative control: a Philox with nine rounds must not pass the vectors."""
    import fastebm._rng as r
    c = [np.uint64(0)] * 4
    k0, k1 = np.uint64(0), np.uint64(0)
    for _ in range(9):
        p0, p1 = r._M[0] * c[0], r._M[1] * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k0) & r._MASK, p1 & r._MASK,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k1) & r._MASK, p0 & r._MASK]
        k0, k1 = (k0 + r._W[0]) & r._MASK, (k1 + r._W[1]) & r._MASK
    assert tuple(int(w) for w in c) != KAT[0][2]


@pytest.mark.parametrize("n", [1, 2, 7, 100, 101])
def test_normals_kernel_equals_reference(n):
    key = (2024, 11)
    out = np.empty((40, n))
    normals_rows(*key, 5, 3, out)
    np.testing.assert_array_equal(out, normals_reference(key, np.arange(40), 5, 3, n))


@pytest.mark.parametrize("n", [1, 2, 9])
def test_uniforms_kernel_equals_reference(n):
    key = (7, 8)
    out = np.empty((30, n))
    uniforms_rows(*key, 2, 1, out)
    np.testing.assert_array_equal(out, uniforms_reference(key, np.arange(30), 2, 1, n))


def test_uniforms_open_interval_and_uniform(seed):
    u = uniforms_reference(philox_key(seed), np.arange(2000), 0, 0, 100).ravel()
    assert u.min() > 0.0 and u.max() < 1.0
    # DKW: P(sup|F_n - F| > eps) <= 2 exp(-2 n eps^2); eps for a 1e-4 false-alarm rate.
    eps = np.sqrt(np.log(2 / 1e-4) / (2 * u.size))
    assert stats.kstest(u, "uniform").statistic < eps


def test_normals_distribution(seed):
    out = np.empty((2000, 500))
    normals_rows(*philox_key(seed), 0, 0, out)
    z = out.ravel()
    eps = np.sqrt(np.log(2 / 1e-4) / (2 * z.size))
    assert stats.kstest(z, "norm").statistic < eps
    # the tail beyond R comes from the slow path: its mass must be right too
    p_tail = 2 * stats.norm.sf(ZIG_R)
    se = np.sqrt(p_tail * (1 - p_tail) / z.size)
    assert abs(np.mean(np.abs(z) > ZIG_R) - p_tail) < 4.75 * se


def test_ziggurat_layers_have_equal_area():
    v = ZIG_X[1] * ZIG_F[1] + np.sqrt(np.pi / 2) * stats.norm.sf(ZIG_R) * 2
    areas = ZIG_X[1:-1] * (ZIG_F[2:] - ZIG_F[1:-1])
    np.testing.assert_allclose(areas, v, rtol=1e-10)
    assert ZIG_X[0] * ZIG_F[1] == pytest.approx(v, rel=1e-12)


def test_streams_depend_on_chain_step_tag_and_key():
    base = normals_reference((1, 2), 0, 0, 0, 8)
    for other in [normals_reference((1, 2), 1, 0, 0, 8), normals_reference((1, 2), 0, 1, 0, 8),
                  normals_reference((1, 2), 0, 0, 1, 8), normals_reference((1, 3), 0, 0, 0, 8)]:
        assert not np.any(base == other)


def test_philox_key_from_spec7_inputs():
    assert philox_key(3) == philox_key(np.random.SeedSequence(3))
    assert philox_key(3) != philox_key(4)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert philox_key(g1) == philox_key(g2)
    assert philox_key(g1) != philox_key(np.random.default_rng(5))  # the generator advanced
    assert philox_key(None) != philox_key(None)


@pytest.mark.parametrize("bad", [-1, 1.5, "seed", True, np.random.RandomState(0)])
def test_philox_key_rejects_bad_rng(bad):
    with pytest.raises((TypeError, ValueError), match="rng"):
        philox_key(bad)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_short_and_long_rows_agree_with_reference(n):
    """Short rows, with enough of them that slow-path candidates occur, match too."""
    key = (99, 100)
    out = np.empty((3000, n))  # enough rows that slow-path candidates occur on short rows
    normals_rows(*key, 1, 0, out)
    np.testing.assert_array_equal(out, normals_reference(key, np.arange(3000), 1, 0, n))


@pytest.mark.parametrize("n", [1, 2, 7, 10, 101])
def test_normals_drawn_across_chains_equal_the_streams(n):
    """``fill_normals_rows`` (vectorized across a block of chains) gives the very numbers
    of the per-chain reference, slow-path rejections included (40 × 101 normals hold
    about 110 of them)."""
    key = (2024, 11)
    block = np.empty((40, n))
    normals_block(*key, 17, 5, 3, block)
    np.testing.assert_array_equal(block, normals_reference(key, np.arange(17, 57), 5, 3, n))


@pytest.mark.parametrize("n", [1, 2, 7, 12])
def test_uniforms_drawn_across_chains_equal_the_streams(n):
    """``fill_uniforms_rows`` (the RBM kernels' draws across a block of chains) gives the
    per-chain reference's numbers, an odd last unit included."""
    key = (2024, 11)
    block = np.empty((40, n))
    uniforms_block(*key, 17, 5, 3, block)
    np.testing.assert_array_equal(block, uniforms_reference(key, np.arange(17, 57), 5, 3, n))
