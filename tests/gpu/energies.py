"""Energies with a CUDA form, shared by the GPU tests, each with its Numba twin written
with the same floating-point operations (so the host build can match it bit for bit)."""
import numpy as np

import fastebm as fe
from tests.statistical import targets

DENSE = fe.Gaussian(np.array([0.5, -1.0, 0.0]),
                    np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]]))
DIAG = fe.Gaussian(np.array([0.5, -1.0, 0.0]), np.array([2.0, 1.0, 0.5]))

BANANA_CUDA = r"""
__device__ double energy(const double *x, const double *theta)
{
    double r = x[1] - 0.5 * x[0] * x[0];
    return 0.5 * x[0] * x[0] / 1.0 + 0.5 * r * r;
}
"""
BANANA_GRAD_CUDA = BANANA_CUDA + r"""
__device__ double energy_grad(const double *x, const double *theta, double *g)
{
    double r = x[1] - 0.5 * x[0] * x[0];
    g[0] = x[0] - x[0] * r;
    g[1] = r;
    return 0.5 * x[0] * x[0] + 0.5 * r * r;
}
"""
# targets.banana's functions (x0 ~ N(0, 1), x1 | x0 ~ N(x0²/2, 1)) with their CUDA twins
BANANA = fe.energy(targets._banana, targets._banana_grad, dim=2, cuda=BANANA_GRAD_CUDA)


def _scaled(x, theta):
    return 0.5 * theta[0] * (x[0] * x[0] + x[1] * x[1])


SCALED_CUDA = r"""
__device__ double energy(const double *x, const double *theta)
{
    return 0.5 * theta[0] * (x[0] * x[0] + x[1] * x[1]);
}
"""
# a user energy with θ and without a gradient (central differences on both backends)
SCALED = fe.energy(_scaled, theta=[2.0], dim=2, cuda=SCALED_CUDA)

ENERGIES = {"dense": DENSE, "diag": DIAG, "banana": BANANA, "scaled_fd": SCALED}
