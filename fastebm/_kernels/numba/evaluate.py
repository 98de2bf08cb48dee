"""Batched energy and gradient of any energy, parallel over points."""
from numba import prange

from .dispatch import entry
from .energies import blas_energy_grad, energy_grad_point, energy_point, uses_blas


@entry
def batch_energy(params, x, out):
    for i in prange(x.shape[0]):
        out[i] = energy_point(params, x[i])


@entry
def batch_energy_grad(params, x, grad, out):
    if uses_blas(params):
        blas_energy_grad(params, x, grad, out)
    else:
        for i in prange(x.shape[0]):
            out[i] = energy_grad_point(params, x[i], grad[i])


@entry
def blocked_energy_grad(params, x, grad, out, block):
    """The same, with one matrix product per block of ``block`` points per thread, as
    the samplers' kernels do (a whole-batch product would wake BLAS's own thread pool,
    whose spinning workers then slow the kernel's threads)."""
    n = x.shape[0]
    for b in prange((n + block - 1) // block):
        lo = b * block
        hi = min(n, lo + block)
        if uses_blas(params):
            blas_energy_grad(params, x[lo:hi], grad[lo:hi], out[lo:hi])
        else:
            for i in range(lo, hi):
                out[i] = energy_grad_point(params, x[i], grad[i])
