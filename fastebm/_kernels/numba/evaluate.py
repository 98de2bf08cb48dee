"""Batched energy and gradient of any energy, parallel over points: ``batch_energy``
serial over one share of its blocks of points, one thread per share
(``_jit.over_blocks``), ``batch_energy_grad`` a parallel loop. (The Langevin samplers
evaluate their start with their own step kernel: ``langevin.langevin_run``.)"""
from numba import prange

from .chains import share_of_blocks
from .dispatch import block_entry, entry
from .energies import blas_energy_grad, energy_grad_point, energy_point, uses_blas


ENERGY_BLOCK = 256  # points per block of ``batch_energy``


@block_entry
def batch_energy(params, x, out, share, shares):
    """out[i] = E(x[i]) for the points of the blocks of share ``share`` of ``shares``
    (``chains.share_of_blocks``); called without the last two, for every point."""
    n = x.shape[0]
    first_block, end_block = share_of_blocks(n, ENERGY_BLOCK, share, shares)
    for i in range(first_block * ENERGY_BLOCK, min(n, end_block * ENERGY_BLOCK)):
        out[i] = energy_point(params, x[i])


@entry
def batch_energy_grad(params, x, grad, out):
    if uses_blas(params):
        blas_energy_grad(params, x, grad, out)
    else:
        for i in prange(x.shape[0]):
            out[i] = energy_grad_point(params, x[i], grad[i])
