"""Batched proposal draws and densities (importance sampling, proposal objects).

Row i of a batch is the draw of stream (chain=first_chain + i, step, TAG_PROPOSAL). A Gaussian
proposal's draw is written out in its own kernel (the same numbers as ``proposal_draw``,
without a function call per row, which costs as much as the draw itself at small d),
serial over one share of its blocks of rows, one thread per share (``_jit.over_blocks``).
"""
from numba import prange
import numpy as np

from ..._contract import TAG_PROPOSAL, GaussianProposalParams
from ._jit import block_kernel, kernel
from .chains import share_of_blocks
from .philox import fill_normals
from .proposals import proposal_draw, proposal_log_density

BLOCK = 256  # rows per parallel iteration: one scratch allocation per block, not per row


def draw_proposals(proposal, streams, out, log_q):
    """Row i of ``out`` ~ q from stream (first_chain + i, first_step, TAG_PROPOSAL) of
    ``streams``; log q into log_q."""
    k0, k1, step, first = streams
    if type(proposal) is GaussianProposalParams:
        _draw_gaussian_rows(proposal.mean, proposal.chol, proposal.log_norm, k0, k1, step,
                            first, out, log_q)
    else:
        _draw_rows(proposal, k0, k1, step, first, out, log_q)


@kernel(parallel=True)
def _draw_rows(proposal, k0, k1, step, first, out, log_q):
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        xi = np.empty(out.shape[1])
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            log_q[i] = proposal_draw(proposal, k0, k1, first + i, step, TAG_PROPOSAL, xi,
                                     out[i])


@block_kernel
def _draw_gaussian_rows(mean, chol, log_norm, k0, k1, step, first, out, log_q, share, shares):
    """y = μ + Lξ, log q = log_norm - ½‖ξ‖², as ``proposals._gaussian_draw``, for the
    rows of the blocks of share ``share`` of ``shares`` (``chains.share_of_blocks``);
    called without the last two, for every row, one thread per share."""
    n, d = out.shape
    first_block, end_block = share_of_blocks(n, BLOCK, share, shares)
    for b in range(first_block, end_block):
        xi = np.empty(d)
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            fill_normals(k0, k1, first + i, step, TAG_PROPOSAL, xi)
            sq = 0.0
            for j in range(d):
                acc = mean[j]
                for k in range(j + 1):
                    acc += chol[j, k] * xi[k]
                out[i, j] = acc
                sq += xi[j] * xi[j]
            log_q[i] = log_norm - 0.5 * sq


@kernel(parallel=True)
def batch_log_density(proposal, x, out):
    for i in prange(x.shape[0]):
        out[i] = proposal_log_density(proposal, x[i])
