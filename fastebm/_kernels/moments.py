"""Pooled moments of a burn-in window's states, for every backend (array module ``xp``)."""
import numpy as np

from .._contract import PooledMoments


def pooled_moments(kept, dim, kind, xp=np, to_numpy=np.asarray):
    """``PooledMoments`` (NumPy) of the finite states in ``kept`` (n_draws, n, d): their
    count, mean and M2, the sum of squared deviations, (d,) for ``kind="diag"`` and the
    matrix (d, d) for ``"dense"``. One formula for every backend, so that the host
    emulation of the GPU path estimates the very preconditioner the CPU does."""
    samples = kept.reshape(-1, dim)
    samples = samples[xp.all(xp.isfinite(samples), axis=1)]
    if samples.shape[0] == 0:
        shape = (dim,) if kind == "diag" else (dim, dim)
        return PooledMoments(0, np.zeros(dim), np.zeros(shape))
    mean = samples.mean(axis=0)
    centered = samples - mean
    m2 = (centered * centered).sum(axis=0) if kind == "diag" else centered.T @ centered
    return PooledMoments(int(samples.shape[0]), to_numpy(mean), to_numpy(m2))
