"""Philox4x32-10 counter-based generator and the uniform and normal mappings on it.

Every random number in fastebm is ``philox(counter, key)`` for a counter that names
what the number is for, so a chain's stream never depends on thread scheduling or on
how many other chains run (DESIGN.md, "Randomness: one stream per chain").

Counter layout (four 32-bit words)::

    c0 = block index within the step (each block gives 4 words)
    c1 = step index (absolute, so a continued run goes on with the same stream)
    c2 = chain index
    c3 = tag (what the numbers are for: proposal noise, accept uniform, ...);
         the ziggurat's slow path sets the top bit and counts its attempts in bits 8-30

Mappings:

- uniform on the open interval (0, 1) from 64 bits: ``((a >> 11) + 0.5) * 2**-53``;
- standard normal by a 128-layer ziggurat (Marsaglia & Tsang 2000). A candidate uses
  two words: layer i = w0 & 127, sign = bit 7 of w0, 53-bit uniform from the top 21 bits
  of w0 and all of w1. The fast pass (accept if u < X[i+1]/X[i]) is branch free so that
  LLVM vectorizes it; the few rejected candidates (about 2.8 %) are finished by the exact
  wedge/tail procedure from a separate counter range.

Speed (PERFORMANCE.md): a loop over blocks vectorizes (``vpmuludq``, table gathers) only
if, when LLVM first optimizes it, it holds no call, no branch and no negative-index check.
So the helpers used inside such loops are inlined in Numba's IR (``helper(inline=True)``),
and the loops carry the product M0 * block as a running sum (else LLVM multiplies 64-bit
lanes, ``vpmullq``). The rejected candidates (NaN after the fast pass) are found by a
vectorized scan, 64 at a time, and finished back to back; the common outcome of their
wedge test is a select, not an unpredictable branch, so that consecutive ones overlap.

References
----------
Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3", SC11.
Marsaglia & Tsang (2000), "The ziggurat method for generating random variables", JSS 5(8).
"""
import numpy as np

from ..._contract import SLOW_FLAG
from ._jit import helper
from ..ziggurat_tables import ZIG_R, ZIG_X, ZIG_F, ZIG_RATIO

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
SHIFT11 = np.uint64(11)
LAYER_MASK = np.uint64(127)
SIGN_BIT = np.uint64(128)
TWO_M53 = 1.0 / 9007199254740992.0
# fill_normals_rows: rows of at least this length are finished through a row view (LLVM
# vectorizes the 1-d loops better; 1.62 against 1.80 ns per normal at n = 100), shorter
# ones by index (a view's two atomic reference counts cost more than the row: 2.6
# against 5.0 ns per normal at n = 2).
ROW_VIEW_MIN = 32


@helper(inline=True)
def _round(p0, p1, c1, c3, k0, k1):
    """One Philox round, from its products p0 = M0 * c0 and p1 = M1 * c2."""
    return (((p1 >> SHIFT32) ^ c1 ^ k0) & MASK32, p1 & MASK32,
            ((p0 >> SHIFT32) ^ c3 ^ k1) & MASK32, p0 & MASK32)


@helper(inline=True)
def _philox_from_products(p0, c1, p1, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) given p0 = M0 * c0 and p1 = M1 * c2 (mod 2**64)."""
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    c0, c1, c2, c3 = _round(p0, p1, np.uint64(c1), np.uint64(c3), k0, k1)
    for _ in range(9):
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
        c0, c1, c2, c3 = _round(M0 * c0, M1 * c2, c1, c3, k0, k1)
    return c0, c1, c2, c3


@helper()
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); words held in uint64."""
    return _philox_from_products(M0 * np.uint64(c0), c1, M1 * np.uint64(c2), c3, k0, k1)


@helper(inline=True)
def _bits_to_unit(bits):
    """(bits + 0.5) * 2**-53 for bits < 2**53, converted through int64 (vectorizes)."""
    return (np.float64(np.int64(bits)) + 0.5) * TWO_M53


@helper(inline=True)
def words_to_uniform(hi, lo):
    """53-bit uniform on (0, 1) from two 32-bit words (hi supplies the top bits)."""
    return _bits_to_unit(((hi << SHIFT32) | lo) >> SHIFT11)


@helper()
def uniform(k0, k1, chain, step, tag, index):
    """The ``index``-th uniform of (chain, step, tag); two per Philox block."""
    w0, w1, w2, w3 = philox4x32(index >> 1, step, chain, tag, k0, k1)
    if index & 1:
        return words_to_uniform(w2, w3)
    return words_to_uniform(w0, w1)


@helper()
def _candidate(hi, lo):
    """Ziggurat candidate from two words: (layer, sign, u); its value is sign * u * X[layer]."""
    layer = np.int64(hi & LAYER_MASK)
    sign = 1.0 - 2.0 * np.float64((hi & SIGN_BIT) >> np.uint64(7))
    return layer, sign, _bits_to_unit(((hi >> SHIFT11) << SHIFT32) | lo)


@helper(inline=True)
def _fast_value(hi, lo):
    """Signed fast-path normal, or NaN when the candidate falls outside the core."""
    layer = np.int64(hi & LAYER_MASK)
    u = _bits_to_unit(((hi >> SHIFT11) << SHIFT32) | lo)
    x = u * ZIG_X[layer]
    if hi & SIGN_BIT:  # the same bits as sign * x, but a select instead of a product
        x = -x
    return x if u < ZIG_RATIO[layer] else np.nan


@helper()
def _finish(k0, k1, chain, step, tag, index, hi, lo):
    """Finish rejected candidate ``index`` (words hi, lo) exactly: wedge test or tail."""
    layer, sign, u = _candidate(hi, lo)
    attempt = 0
    while True:
        attempt += 1
        a0, a1, a2, a3 = philox4x32(index, step, chain,
                                    SLOW_FLAG | (attempt << 8) | tag, k0, k1)
        if layer == 0:
            x = -np.log(words_to_uniform(a0, a1)) / ZIG_R
            y = -np.log(words_to_uniform(a2, a3))
            if 2.0 * y > x * x:
                return sign * (ZIG_R + x)
            continue
        x = u * ZIG_X[layer]
        v = words_to_uniform(a0, a1)
        y = ZIG_F[layer] + v * (ZIG_F[layer + 1] - ZIG_F[layer])
        inside = y < np.exp(-0.5 * x * x)
        layer, next_sign, next_u = _candidate(a2, a3)  # the next candidate, if outside
        next_value = next_sign * next_u * ZIG_X[layer]
        if inside | (next_u < ZIG_RATIO[layer]):  # almost always
            return sign * x if inside else next_value  # a select: both values are computed
        sign, u = next_sign, next_u


@helper()
def _slow_normal(k0, k1, chain, step, tag, index):
    """Normal number ``index`` whose fast-path candidate was rejected."""
    w0, w1, w2, w3 = philox4x32(index >> 1, step, chain, tag, k0, k1)
    odd = index & 1  # selects, not branches
    return _finish(k0, k1, chain, step, tag, index, w2 if odd else w0, w3 if odd else w1)


@helper()
def _fast_pass(k0, k1, chain, step, tag, out):
    """Branch-free first pass: fast-path normals into ``out``, NaN where rejected."""
    n = out.shape[0]
    p0 = np.uint64(0)  # M0 * block
    p1 = M1 * np.uint64(chain)
    for b in range(n >> 1):
        w0, w1, w2, w3 = _philox_from_products(p0, step, p1, tag, k0, k1)
        out[2 * b] = _fast_value(w0, w1)
        out[2 * b + 1] = _fast_value(w2, w3)
        p0 += M0
    if n & 1:
        w0, w1, _, _ = _philox_from_products(p0, step, p1, tag, k0, k1)
        out[n - 1] = _fast_value(w0, w1)


@helper()
def _nan_bits(x):
    """Bit i set where x[i] is NaN, for the first 64 entries of x (a vectorized scan)."""
    mask = np.uint64(0)
    for i in range(min(x.shape[0], 64)):
        mask |= np.uint64(x[i] != x[i]) << np.uint64(i)
    return mask


@helper()
def _lowest_bit(mask):
    """Index of the lowest set bit of a nonzero uint64 (the exponent of it as a float)."""
    low = mask & (~mask + np.uint64(1))
    return np.int64(np.float64(low).view(np.uint64) >> np.uint64(52)) - 1023


@helper()
def fill_normals(k0, k1, chain, step, tag, out):
    """Write standard normals number 0..len(out)-1 of (chain, step, tag) into ``out``."""
    _fast_pass(k0, k1, chain, step, tag, out)
    for start in range(0, out.shape[0], 64):
        mask = _nan_bits(out[start:])
        while mask:
            j = start + _lowest_bit(mask)
            mask &= mask - np.uint64(1)
            out[j] = _slow_normal(k0, k1, chain, step, tag, j)


@helper()
def fill_normals_rows(k0, k1, first_chain, step, tag, out, buf, short=None):
    """Row r of ``out`` (m, n) gets the normals of chain first_chain + r: the same numbers
    as ``fill_normals`` row by row, drawn across the rows at once.

    The fast pass loops over the rows innermost, so LLVM vectorizes it across chains
    (one Philox block of every row per iteration) even when a row is short; ``buf``
    (≥ n rounded up to even, ≥ m) takes its output contiguous in the rows, and is then
    transposed into ``out``. Rejected candidates are finished row by row. Measured for 32
    rows on 2 threads: 2.0 ns per normal at n = 10, 2.6 at n = 2 (bench/test_bench_rng.py
    -k rows has the comparison with row by row at n ≥ 64).

    ``short`` True says that n < ``ROW_VIEW_MIN``: Numba then prunes the finishing code
    of long rows before typing (a kernel for short rows compiles one of the two, about
    0.3 s of CPU of a first ``fe.mala`` with an empty cache); None (the default) picks
    by n at run time.
    """
    m, n = out.shape
    p1_first = M1 * np.uint64(first_chain)
    p0 = np.uint64(0)  # M0 * block
    for b in range((n + 1) >> 1):
        p1 = p1_first
        for r in range(m):
            w0, w1, w2, w3 = _philox_from_products(p0, step, p1, tag, k0, k1)
            buf[2 * b, r] = _fast_value(w0, w1)
            buf[2 * b + 1, r] = _fast_value(w2, w3)
            p1 += M1
        p0 += M0
    for r in range(m):
        if short is None and n >= ROW_VIEW_MIN:
            row = out[r]
            for j in range(n):
                row[j] = buf[j, r]
            for start in range(0, n, 64):
                mask = _nan_bits(row[start:])
                while mask:
                    j = start + _lowest_bit(mask)
                    mask &= mask - np.uint64(1)
                    row[j] = _slow_normal(k0, k1, first_chain + r, step, tag, j)
        else:  # short rows: no views (each costs two atomic reference counts)
            for start in range(0, n, 64):
                mask = np.uint64(0)
                for k in range(min(n - start, 64)):
                    value = buf[start + k, r]
                    out[r, start + k] = value
                    mask |= np.uint64(value != value) << np.uint64(k)
                while mask:
                    j = start + _lowest_bit(mask)
                    mask &= mask - np.uint64(1)
                    out[r, j] = _slow_normal(k0, k1, first_chain + r, step, tag, j)


@helper()
def fill_uniforms(k0, k1, chain, step, tag, out):
    """Write uniforms number 0..len(out)-1 of (chain, step, tag) into ``out``."""
    n = out.shape[0]
    p0 = np.uint64(0)  # M0 * block, as in _fast_pass
    p1 = M1 * np.uint64(chain)
    for b in range(n >> 1):
        w0, w1, w2, w3 = _philox_from_products(p0, step, p1, tag, k0, k1)
        out[2 * b] = words_to_uniform(w0, w1)
        out[2 * b + 1] = words_to_uniform(w2, w3)
        p0 += M0
    if n & 1:
        w0, w1, _, _ = _philox_from_products(p0, step, p1, tag, k0, k1)
        out[n - 1] = words_to_uniform(w0, w1)


@helper()
def fill_uniforms_rows(k0, k1, first_chain, step, tag, out):
    """out[j, r] = uniform j of (first_chain + r, step, tag), for out (n, m) with n even:
    ``fill_uniforms`` of m chains, unit-major, drawn across the chains at once (the loop
    over the chains is innermost and vectorizes, as in ``fill_normals_rows``)."""
    n, m = out.shape
    p1_first = M1 * np.uint64(first_chain)
    p0 = np.uint64(0)  # M0 * block
    for b in range(n >> 1):
        p1 = p1_first
        for r in range(m):
            w0, w1, w2, w3 = _philox_from_products(p0, step, p1, tag, k0, k1)
            out[2 * b, r] = words_to_uniform(w0, w1)
            out[2 * b + 1, r] = words_to_uniform(w2, w3)
            p1 += M1
        p0 += M0


@helper()
def fill_first_uniforms(k0, k1, first_chain, step, tag, out):
    """out[r] = uniform number 0 of (first_chain + r, step, tag), across the rows at once
    (one Philox block per chain, vectorized over the chains)."""
    p1 = M1 * np.uint64(first_chain)
    for r in range(out.shape[0]):
        w0, w1, _, _ = _philox_from_products(np.uint64(0), step, p1, tag, k0, k1)
        out[r] = words_to_uniform(w0, w1)
        p1 += M1
