"""The moments of a burn-in window's states by chunks of chains, for every backend
(array module ``xp``); ``fastebm.samplers.adaptation`` merges the chunks."""
import numpy as np


def chunk_moments(kept, dim, kind, chunk, xp=np, to_numpy=np.asarray):
    """The moments of the finite states of each chunk of ``chunk`` consecutive chains in
    ``kept`` (n_draws, n, d): count (K,), mean (K, d), and M2, the sum of squared
    deviations, (K, d) for ``kind="diag"`` or (K, d, d) for ``"dense"``, as NumPy arrays.

    Each chunk's moments come from its own states only (a two-pass formula, batched over
    the chunks; the last chunk is padded with non-finite rows, which are left out), so a
    shard of chains starting on a chunk boundary computes exactly the chunks of the whole
    run. One formula for every backend, so that the host emulation of the GPU path
    estimates the very preconditioner the CPU does.
    """
    n_draws, n = kept.shape[0], kept.shape[1]
    n_chunks = max(1, -(-n // chunk))
    padded = xp.full((n_draws, n_chunks * chunk, dim), xp.nan)
    padded[:, :n] = kept
    x = padded.reshape(n_draws, n_chunks, chunk, dim).transpose(1, 0, 2, 3)
    x = x.reshape(n_chunks, n_draws * chunk, dim)
    finite = xp.all(xp.isfinite(x), axis=2)
    count = finite.sum(axis=1)
    mean = xp.where(finite[..., None], x, 0.0).sum(axis=1) / xp.maximum(count, 1)[:, None]
    centered = xp.where(finite[..., None], x - mean[:, None, :], 0.0)
    if kind == "diag":
        m2 = (centered * centered).sum(axis=1)
    else:
        m2 = xp.matmul(centered.transpose(0, 2, 1), centered)
    return to_numpy(count).astype(np.int64), to_numpy(mean), to_numpy(m2)
