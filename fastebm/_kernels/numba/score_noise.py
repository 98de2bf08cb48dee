"""Noise for the score-matching losses: Gaussian perturbations (DSM), Gaussian or
Rademacher projections (SSM) and Rademacher probes (Hutchinson's trace estimator).

Draw j of data point i is the stream (chain=i, step=j, tag), so a point's noise does not
depend on how many other points are in the batch nor on thread scheduling.
"""
from numba import prange

from ._jit import kernel
from .philox import fill_normals, fill_uniforms



@kernel(parallel=True)
def draw_normals(k0, k1, tag, out):
    """out[i, j] (shape (n, m, d)) ← the standard normals of stream (i, j, tag)."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            fill_normals(k0, k1, i, j, tag, out[i, j])


@kernel(parallel=True)
def draw_signs(k0, k1, tag, out):
    """out[i, j] ← Rademacher signs, -1 where the uniform of stream (i, j, tag) is < ½."""
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            row = out[i, j]
            fill_uniforms(k0, k1, i, j, tag, row)
            for k in range(row.shape[0]):
                row[k] = -1.0 if row[k] < 0.5 else 1.0
