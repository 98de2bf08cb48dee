"""Energies with a CUDA form, shared by the GPU tests, each with its Numba twin written
with the same floating-point operations (so the host build can match it bit for bit)."""
import warnings

import numba
import numpy as np

import fastebm as fe
from fastebm.energies.custom import FiniteDifferenceWarning
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

# --- mixtures and sums (tests/gpu/test_gpu_energies.py) ------------------------------------

MIXTURE = fe.GaussianMixture(
    [0.3, 0.7], [[-1.0, 0.5, 0.0], [1.0, -0.5, 0.2]],
    [np.eye(3), [[1.0, 0.4, 0.0], [0.4, 2.0, 0.1], [0.0, 0.1, 0.5]]])
"""A 3-d mixture of two full-covariance components."""
MIXTURE_1D = fe.GaussianMixture([0.2, 0.5, 0.3], [[-2.0], [0.0], [1.5]], [[0.5], [1.0], [2.0]])
"""Three components in one dimension (the shortest loops)."""
MIXTURE_5D = fe.GaussianMixture(
    [1.0], [np.linspace(-1.0, 1.0, 5)],
    [np.diag(np.linspace(0.5, 2.0, 5)) + 0.1 * np.ones((5, 5))])
"""One component in five dimensions."""
MIXTURE_2D = fe.GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.0, -0.5]],
                                [[[1.0, 0.3], [0.3, 0.8]], [[0.6, -0.2], [-0.2, 1.2]]])
DENSE_2D = fe.Gaussian(np.array([0.2, -0.3]), np.array([[1.5, 0.4], [0.4, 0.7]]))
DIAG_2D = fe.Gaussian(np.array([0.1, 0.2]), np.array([0.5, 1.5]))

SUMS = {
    "mixture+diag": MIXTURE + DIAG.tempered(0.5),
    "(mixture+diag)+diag": (MIXTURE + DIAG) + DIAG.tempered(2.0),
    "tempered(mixture+diag)": (MIXTURE + DIAG).tempered(0.6),
    "mixture+dense": MIXTURE + DENSE,
    "diag+(mixture+dense)": DIAG + (MIXTURE.tempered(1.5) + DENSE),
    "banana+scaled_fd": BANANA + SCALED.tempered(0.5),
    "mixture+banana": MIXTURE_2D + BANANA,
    "every_kind": ((MIXTURE_2D + DENSE_2D) + (DIAG_2D + BANANA)) + SCALED,
}
"""Sums of energies with CUDA forms, every one bit for bit on the host emulation (a dense
Gaussian term in dimension ≤ 32 sums P x in the CUDA kernel's order on the CPU too)."""


def run_sampler(sampler, energy, x0, n_steps, **kw):
    """``fe.<sampler>`` (mala, langevin with h = 0.2, or metropolis) from x0, quiet about
    finite-difference gradients."""
    f = getattr(fe, sampler)
    args = (energy, x0, 0.2, n_steps) if sampler != "metropolis" else (energy, x0, n_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FiniteDifferenceWarning)
        return f(*args, **kw)


def kept(result):
    """What a run kept: its draws, or its running mean with keep="moments"."""
    return result.mean if result.draws is None else result.draws


# bit for bit against the Numba backend with its kernels compiled; with
# NUMBA_DISABLE_JIT=1 the Python kernels use NumPy's log/exp/cos, so to 1e-12
EXACT = not numba.config.DISABLE_JIT


def assert_same(a, b, rtol=0.0, atol=1e-300):
    """Bit for bit (``EXACT``), or to ``rtol`` (a reason the caller gives) and at least
    1e-12 relative."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if EXACT and rtol == 0.0:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=max(rtol, 1e-12), atol=atol)
