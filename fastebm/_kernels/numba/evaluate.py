"""Batched energy and gradient of any energy, parallel over points."""
from numba import prange

from .dispatch import entry
from .energies import blas_grad, energy_grad_point, energy_point, finish_grad, uses_blas


@entry
def batch_energy(params, x, out):
    for i in prange(x.shape[0]):
        out[i] = energy_point(params, x[i])


@entry
def batch_energy_grad(params, x, grad, out):
    if uses_blas(params):
        blas_grad(params, x, grad)
        for i in prange(x.shape[0]):
            out[i] = finish_grad(params, x[i], grad[i])
    else:
        for i in prange(x.shape[0]):
            out[i] = energy_grad_point(params, x[i], grad[i])
