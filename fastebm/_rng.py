"""From the user's ``rng`` to a Philox key, and a vectorized NumPy reference of the stream.

``rng`` follows SPEC 7: None (fresh OS entropy), a non-negative int, a
``numpy.random.SeedSequence`` or a ``numpy.random.Generator`` (from which the key is
drawn, so the generator advances). NumPy's global random state is never touched.

The NumPy functions here are the reference the compiled kernels are tested against:
same counters, same words, same mappings (see ``fastebm._kernels.numba.philox``).
"""
import numbers

import numpy as np

from ._contract import SLOW_FLAG
from ._kernels.ziggurat_tables import ZIG_F, ZIG_R, ZIG_RATIO, ZIG_X

_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_W = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))
_MASK = np.uint64(0xFFFFFFFF)


class PhiloxKey(tuple):
    """A key already derived from a user's ``rng``: what ``fastebm.dask`` hands to each
    shard of a run, so that every shard draws from the very same streams (a Generator
    would advance, and a fresh SeedSequence give another key)."""

    def __new__(cls, key):
        return super().__new__(cls, (int(key[0]), int(key[1])))


def philox_key(rng):
    """Two 32-bit key words (as Python ints) from a SPEC 7 ``rng`` (or a ``PhiloxKey``)."""
    if isinstance(rng, PhiloxKey):
        return rng[0], rng[1]
    if isinstance(rng, np.random.Generator):
        words = rng.integers(0, 2**32, size=2, dtype=np.uint64)
    elif isinstance(rng, np.random.SeedSequence):
        words = rng.generate_state(2, dtype=np.uint32)
    elif rng is None:
        words = np.random.SeedSequence().generate_state(2, dtype=np.uint32)
    elif isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative integer seed, got {rng}")
        words = np.random.SeedSequence(int(rng)).generate_state(2, dtype=np.uint32)
    else:
        raise TypeError("rng must be None, a non-negative int, a numpy.random.SeedSequence "
                        f"or a numpy.random.Generator, got {type(rng).__name__}")
    return int(words[0]), int(words[1])


def philox4x32_reference(counter, key):
    """Philox4x32-10, vectorized: counter (..., 4) and key (2,) of uint32 → (..., 4) uint32."""
    c = [np.asarray(counter, dtype=np.uint64)[..., i] for i in range(4)]
    k0, k1 = (np.uint64(int(key[0])), np.uint64(int(key[1])))
    for _ in range(10):
        p0 = _M[0] * c[0]
        p1 = _M[1] * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k0) & _MASK, p1 & _MASK,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k1) & _MASK, p0 & _MASK]
        k0 = (k0 + _W[0]) & _MASK
        k1 = (k1 + _W[1]) & _MASK
    return np.stack(c, axis=-1).astype(np.uint32)


def _words(key, chains, steps, tag, n):
    """Words 0..2n-1 of each (chain, step, tag) stream: shape (..., 2n) as uint64."""
    chains, steps = np.broadcast_arrays(np.asarray(chains), np.asarray(steps))
    blocks = np.arange((n + 1) // 2)
    ctr = np.zeros(chains.shape + blocks.shape + (4,), dtype=np.uint64)
    ctr[..., 0] = blocks
    ctr[..., 1] = steps[..., None]
    ctr[..., 2] = chains[..., None]
    ctr[..., 3] = tag
    w = philox4x32_reference(ctr, key).astype(np.uint64)
    return w.reshape(chains.shape + (-1,))[..., : 2 * n]


def _to_uniform(hi, lo):
    bits = ((hi << np.uint64(32)) | lo) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * 2.0**-53


def uniforms_reference(key, chains, steps, tag, n):
    """Uniforms on (0, 1): shape broadcast(chains, steps) + (n,)."""
    w = _words(key, chains, steps, tag, n)
    return _to_uniform(w[..., 0::2], w[..., 1::2])


def _candidates(hi, lo):
    layer = (hi & np.uint64(127)).astype(np.int64)
    sign = 1.0 - 2.0 * ((hi >> np.uint64(7)) & np.uint64(1)).astype(np.float64)
    bits = ((hi >> np.uint64(11)) << np.uint64(32)) | lo
    return layer, sign, (bits.astype(np.float64) + 0.5) * 2.0**-53


def _slow_normal(key, chain, step, tag, index, layer, sign, u):
    """The exact wedge/tail completion of one rejected candidate (scalar, as the kernel)."""
    attempt = 0
    while True:
        attempt += 1
        ctr = np.array([index, step, chain, SLOW_FLAG | (attempt << 8) | tag])
        a = philox4x32_reference(ctr, key).astype(np.uint64)
        if layer == 0:
            x = -np.log(_to_uniform(a[0], a[1])) / ZIG_R
            y = -np.log(_to_uniform(a[2], a[3]))
            if 2.0 * y > x * x:
                return sign * (ZIG_R + x)
            continue
        x = u * ZIG_X[layer]
        y = ZIG_F[layer] + _to_uniform(a[0], a[1]) * (ZIG_F[layer + 1] - ZIG_F[layer])
        if y < np.exp(-0.5 * x * x):
            return sign * x
        layer, sign, u = _candidates(a[2], a[3])
        if u < ZIG_RATIO[layer]:
            return sign * u * ZIG_X[layer]


def normals_reference(key, chains, steps, tag, n):
    """Standard normals of each (chain, step, tag) stream: shape broadcast + (n,)."""
    w = _words(key, chains, steps, tag, n)
    layer, sign, u = _candidates(w[..., 0::2], w[..., 1::2])
    out = sign * u * ZIG_X[layer]
    chains, steps = np.broadcast_arrays(np.asarray(chains), np.asarray(steps))
    for idx in zip(*np.nonzero(u >= ZIG_RATIO[layer])):
        out[idx] = _slow_normal(key, int(chains[idx[:-1]]), int(steps[idx[:-1]]), tag,
                                idx[-1], layer[idx], sign[idx], u[idx])
    return out


def seed_sequence(rng):
    """A SeedSequence from a SPEC 7 ``rng``, for work split into independent parts (a
    Generator gives entropy, and advances)."""
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(rng.integers(0, 2**63, size=2, dtype=np.uint64).tolist())
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng must be a non-negative integer seed, got {rng}")
        return np.random.SeedSequence(None if rng is None else int(rng))
    raise TypeError("rng must be None, a non-negative int, a numpy.random.SeedSequence or a "
                    f"numpy.random.Generator, got {type(rng).__name__}")
