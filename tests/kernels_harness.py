"""Small compiled drivers that expose the Philox mappings to tests, one stream per row."""
import numpy as np
from numba import njit, prange

from fastebm._kernels.numba.philox import (fill_normals, fill_normals_rows, fill_uniforms,
                                           fill_uniforms_rows)


@njit(parallel=True, cache=True)
def normals_rows(k0, k1, step, tag, out):
    for i in prange(out.shape[0]):
        fill_normals(k0, k1, i, step, tag, out[i])


@njit(parallel=True, cache=True)
def uniforms_rows(k0, k1, step, tag, out):
    for i in prange(out.shape[0]):
        fill_uniforms(k0, k1, i, step, tag, out[i])


@njit(cache=True)
def normals_block(k0, k1, first_chain, step, tag, out):
    """``fill_normals_rows``: row r is chain first_chain + r, drawn across the rows."""
    fill_normals_rows(k0, k1, first_chain, step, tag, out, np.empty((out.shape[1] + 1,
                                                                     out.shape[0])))



@njit(cache=True)
def uniforms_block(k0, k1, first_chain, step, tag, out):
    """``fill_uniforms_rows`` transposed: row r is chain first_chain + r, drawn across the
    rows (n rounded up to even, as the RBM kernels' scratch)."""
    n = out.shape[1]
    units = np.empty((n + (n & 1), out.shape[0]))
    fill_uniforms_rows(k0, k1, first_chain, step, tag, units)
    out[:] = units[:n].T
