"""Batched proposal draws and densities (importance sampling, proposal objects)."""
from numba import prange
import numpy as np

from ._jit import kernel
from .proposals import proposal_draw, proposal_log_density

TAG_PROPOSAL = 2


@kernel(parallel=True)
def draw_proposals(proposal, k0, k1, step, out, log_q):
    """Row i of ``out`` ~ q from stream (chain=i, step, TAG_PROPOSAL); log q into log_q."""
    for i in prange(out.shape[0]):
        xi = np.empty(out.shape[1])
        log_q[i] = proposal_draw(proposal, k0, k1, i, step, TAG_PROPOSAL, xi, out[i])


@kernel(parallel=True)
def batch_log_density(proposal, x, out):
    for i in prange(x.shape[0]):
        out[i] = proposal_log_density(proposal, x[i])
