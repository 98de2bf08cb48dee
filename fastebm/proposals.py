"""Proposal distributions q for independent Metropolis-Hastings and importance sampling.

Each proposal draws on the per-chain Philox streams (in compiled code) and evaluates
its log density. ``fe.metropolis(E, x0, n_steps, proposal=q)`` is the independent
sampler of seed 002 (sec. 6); ``fe.importance_sample(E, q, n)`` weights draws of q.
"""
import numpy as np

from ._kernels.numba.proposals import LOG_2PI, GaussianProposalParams, UniformProposalParams
from ._validation import as_float_array, symmetric_positive_definite


class Proposal:
    """Base class: a normalized density q on Rᵈ that compiled kernels can draw from."""

    dim = None

    def _kernel_params(self):
        raise NotImplementedError

    def log_density(self, x):
        """log q(x) for x of shape (n, d) → (n,), or (d,) → float."""
        from ._kernels.numba.sampling import batch_log_density
        from ._validation import as_points
        pts, single, _ = as_points(x, self.dim)
        out = np.empty(pts.shape[0])
        batch_log_density(self._kernel_params(), pts, out)
        return out[0] if single else out

    def sample(self, n, *, rng=None):
        """n draws of q, shape (n, d), on the Philox streams (draw i is chain i, step 0)."""
        from ._kernels.numba.sampling import draw_proposals
        from ._rng import philox_key
        from ._validation import int_at_least
        n = int_at_least(n, "n", 1)
        out, log_q = np.empty((n, self.dim)), np.empty(n)
        draw_proposals(self._kernel_params(), *philox_key(rng), 0, out, log_q)
        return out


class Gaussian(Proposal):
    """Gaussian proposal N(mean, covariance).

    Parameters
    ----------
    mean : array_like of shape (d,)
    covariance : array_like of shape (d, d) or (d,)
        Full covariance, or its diagonal.

    Notes
    -----
    y = μ + Lξ with LLᵀ = Σ; log q(y) = -½‖L⁻¹(y-μ)‖² - Σ log Lᵢᵢ - d/2 log 2π.
    """

    def __init__(self, mean, covariance):
        self.mean = as_float_array(mean, "mean", ndim=1)
        self.dim = self.mean.shape[0]
        cov = as_float_array(covariance, "covariance", ndim=(1, 2))
        if cov.ndim == 1:
            if cov.shape != (self.dim,) or not np.all(cov > 0):
                raise ValueError(f"covariance must be {self.dim} positive variances or a "
                                 f"({self.dim}, {self.dim}) matrix, got shape {cov.shape}")
            cov = np.diag(cov)
        if cov.shape != (self.dim, self.dim):
            raise ValueError(f"covariance must have shape ({self.dim}, {self.dim}), got {cov.shape}")
        self.covariance, self.chol = symmetric_positive_definite(cov, "covariance")
        self._log_norm = -np.sum(np.log(np.diag(self.chol))) - 0.5 * self.dim * LOG_2PI

    def _kernel_params(self):
        return GaussianProposalParams(self.mean, self.chol, self._log_norm)


class Uniform(Proposal):
    """Uniform proposal on the box [low, high] (componentwise).

    Parameters
    ----------
    low, high : array_like of shape (d,)
        Box corners, low < high.
    """

    def __init__(self, low, high):
        self.low = as_float_array(low, "low", ndim=1)
        self.high = as_float_array(high, "high", ndim=1)
        if self.low.shape != self.high.shape or not np.all(self.low < self.high):
            raise ValueError("low and high must have the same shape with low < high")
        self.dim = self.low.shape[0]
        self._log_norm = -np.sum(np.log(self.high - self.low))

    def _kernel_params(self):
        return UniformProposalParams(self.low, self.high, self._log_norm)
