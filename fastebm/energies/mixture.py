"""The Gaussian-mixture energy E(x) = -log Σₖ wₖ N(x; μₖ, Σₖ)."""
import numpy as np

from .._kernels.numba.energies import MixtureParams
from .._validation import as_float_array, symmetric_positive_definite
from .base import Energy


class GaussianMixture(Energy):
    """Mixture of K Gaussians as an energy; the weights need not sum to one.

    Parameters
    ----------
    weights : array_like of shape (K,)
        Positive component weights wₖ; Z = Σₖ wₖ at β = 1.
    means : array_like of shape (K, d)
    covariances : array_like of shape (K, d, d) or (K, d)
        Full covariance matrices, or their diagonals.

    Notes
    -----
    E(x) = -β log Σₖ exp(ℓₖ(x)) with ℓₖ(x) = log wₖ - ½ log det(2πΣₖ) - ½(x-μₖ)ᵀΣₖ⁻¹(x-μₖ);
    ∇ₓE = β Σₖ rₖ(x) Σₖ⁻¹(x-μₖ) with responsibilities rₖ = exp(ℓₖ) / Σⱼ exp(ℓⱼ).
    log Z = log Σₖ wₖ at β = 1; a tempered mixture has no closed-form Z.
    """

    def __init__(self, weights, means, covariances):
        self.weights = as_float_array(weights, "weights", ndim=1)
        if self.weights.size == 0 or not np.all(self.weights > 0):
            raise ValueError("weights must be a non-empty array of positive numbers")
        self.means = as_float_array(means, "means", ndim=2)
        n_comp, self.dim = self.means.shape
        if n_comp != self.weights.size:
            raise ValueError(f"means must have {self.weights.size} rows (one per weight), "
                             f"got shape {self.means.shape}")
        cov = as_float_array(covariances, "covariances", ndim=(2, 3))
        if cov.shape == (n_comp, self.dim):
            if not np.all(cov > 0):
                raise ValueError("covariances must be positive (diagonals of variances)")
            cov = np.stack([np.diag(c) for c in cov])
        if cov.shape != (n_comp, self.dim, self.dim):
            raise ValueError(f"covariances must have shape ({n_comp}, {self.dim}, {self.dim}) "
                             f"or ({n_comp}, {self.dim}), got {cov.shape}")
        self.covariances = cov
        chols = [symmetric_positive_definite(c, f"covariances[{k}]")[1] for k, c in enumerate(cov)]
        inv = [np.linalg.inv(c) for c in chols]
        self.precisions = np.ascontiguousarray(np.stack([i.T @ i for i in inv]))
        log_det_cov = np.array([2.0 * np.sum(np.log(np.diag(c))) for c in chols])
        self._log_coef = (np.log(self.weights) - 0.5 * log_det_cov
                          - 0.5 * self.dim * np.log(2.0 * np.pi))

    def _kernel_params(self):
        return MixtureParams(self._log_coef, self.means, self.precisions, self._beta)

    def log_partition(self):
        if self._beta != 1.0:
            return super().log_partition()
        return float(np.log(np.sum(self.weights)))
