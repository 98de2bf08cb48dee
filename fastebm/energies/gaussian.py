"""The Gaussian energy E(x) = ½ (x-μ)ᵀ P (x-μ), full or diagonal precision P."""
import copy
import functools

import numpy as np

from .._contract import CudaForm, DiagGaussianParams, GaussianParams
from .._validation import as_float_array, symmetric_positive_definite
from .base import Energy


@functools.lru_cache(maxsize=64)
def tril_indices(d):
    """(rows, cols) of the lower triangle of a d × d matrix, row by row (θ's vech order),
    computed once per d (read-only arrays)."""
    rows, cols = np.tril_indices(d)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


class Gaussian(Energy):
    """Gaussian energy with mean μ and precision P (or covariance Σ = P⁻¹).

    Parameters
    ----------
    mean : array_like of shape (d,)
    precision : array_like of shape (d, d) or (d,), optional
        Full precision matrix, or its diagonal. Give exactly one of ``precision`` and
        ``covariance``.
    covariance : array_like of shape (d, d) or (d,), optional
        Full covariance matrix, or its diagonal.

    Notes
    -----
    E(x) = β/2 (x-μ)ᵀP(x-μ), ∇ₓE = βP(x-μ). The parameters are θ = (μ, vech P): the
    mean, then the lower triangle of P row by row (i ≥ j), or θ = (μ, diag P) for a
    diagonal energy; ∇_μE = -βP(x-μ), ∂E/∂Pᵢᵢ = β/2 (x-μ)ᵢ², and for i > j the entry
    stands for both Pᵢⱼ and Pⱼᵢ, so ∂E/∂Pᵢⱼ = β (x-μ)ᵢ(x-μ)ⱼ. The normalizer is exact:
    log Z = d/2 log 2π - ½ log det(βP).
    """

    def __init__(self, mean, precision=None, covariance=None):
        self.mean = as_float_array(mean, "mean", ndim=1)
        self.dim = self.mean.shape[0]
        if self.dim == 0:
            raise ValueError("mean must have at least one coordinate")
        if (precision is None) == (covariance is None):
            raise ValueError("give exactly one of precision and covariance")
        name, given = ("precision", precision) if covariance is None else ("covariance", covariance)
        given = as_float_array(given, name, ndim=(1, 2))
        if given.shape not in ((self.dim,), (self.dim, self.dim)):
            raise ValueError(f"{name} must have shape ({self.dim},) or ({self.dim}, {self.dim}), "
                             f"got {given.shape}")
        self.diagonal = given.ndim == 1
        if self.diagonal:
            if not np.all(given > 0):
                raise ValueError(f"{name} must be positive (a diagonal of variances or precisions)")
            self.precision = given if name == "precision" else 1.0 / given
        else:
            given, chol = symmetric_positive_definite(given, name)
            self.precision = given if name == "precision" else _inverse_from_cholesky(chol)
        self._precision_mean = (self.precision * self.mean if self.diagonal
                                else self.precision @ self.mean)

    def _kernel_params(self):
        if self.diagonal:
            return DiagGaussianParams(self.mean, self.precision, self._beta)
        return GaussianParams(self.mean, self.precision, self._precision_mean, self._beta)

    def _saved_state(self):
        """The ``.npz`` entries: ``mean`` (d,), ``precision`` (d,) or (d, d), ``beta``."""
        return self._saved_as(Gaussian, {"mean": self.mean, "precision": self.precision,
                                         "beta": np.array(self._beta)})

    @classmethod
    def _from_saved(cls, entries):
        """The model of a file's entries (``fastebm.io``), checked by the constructor."""
        return cls(entries.array("mean"), precision=entries.array("precision"))._at_beta(
            entries.scalar("beta"))

    def _cuda_form(self):
        if self.diagonal:
            return CudaForm("diag_gaussian", "", (np.concatenate([self.mean, self.precision]),),
                            self._beta)
        return CudaForm("dense_gaussian", "", (self.mean, self.precision, self._precision_mean),
                        self._beta)

    @property
    def covariance(self):
        """Σ = (βP)⁻¹, shape (d,) for a diagonal energy, else (d, d)."""
        if self.diagonal:
            return 1.0 / (self._beta * self.precision)
        return _inverse_from_cholesky(np.linalg.cholesky(self._beta * self.precision))

    def _gaussian_form(self):
        """(βP as a (d, d) matrix, μ, 0): E(x) = ½(x-μ)ᵀβP(x-μ) + 0."""
        precision = np.diag(self.precision) if self.diagonal else self.precision
        return self._beta * precision, self.mean, 0.0

    def log_partition(self):
        if self.diagonal:
            logdet = np.sum(np.log(self._beta * self.precision))
        else:
            logdet = np.linalg.slogdet(self._beta * self.precision)[1]
        return 0.5 * self.dim * np.log(2.0 * np.pi) - 0.5 * logdet

    @property
    def theta(self):
        if self.diagonal:
            return np.concatenate([self.mean, self.precision])
        return np.concatenate([self.mean, self.precision[tril_indices(self.dim)]])

    def with_theta(self, theta):
        theta = as_float_array(theta, "theta", ndim=1)
        if theta.shape != self.theta.shape:
            raise ValueError(f"theta must have shape {self.theta.shape}, got {theta.shape}")
        d = self.dim
        if self.diagonal:
            prec = theta[d:].copy()
            if not np.all(prec > 0):
                raise ValueError("precision must be positive (a diagonal of precisions)")
        else:
            prec = np.zeros((d, d))
            rows, cols = tril_indices(d)
            prec[rows, cols] = theta[d:]
            prec[cols, rows] = theta[d:]  # symmetric by construction
            try:
                np.linalg.cholesky(prec)
            except np.linalg.LinAlgError:
                raise ValueError("precision must be positive definite") from None
        # θ was validated above and P is symmetric by construction: skip __init__'s checks
        new = copy.copy(self)
        new.mean, new.precision = theta[:d].copy(), prec
        new._precision_mean = prec * new.mean if self.diagonal else prec @ new.mean
        return new

    def _grad_theta(self, x):
        r = x - self.mean
        if self.diagonal:
            return self._beta * np.hstack([-r * self.precision, 0.5 * r * r])
        rows, cols = tril_indices(self.dim)
        pair = r[:, rows] * r[:, cols] * np.where(rows == cols, 0.5, 1.0)
        return self._beta * np.hstack([-r @ self.precision, pair])


    def expected_grad_theta(self):
        """E_{p_θ}[∇_θE] in closed form, shape (p,): the negative phase without sampling.

        With Σ = (βP)⁻¹: E[∇_μE] = 0, E[∂E/∂Pᵢᵢ] = β Σᵢᵢ / 2, E[∂E/∂Pᵢⱼ] = β Σᵢⱼ (i > j)."""
        cov = self.covariance
        if self.diagonal:
            return np.concatenate([np.zeros(self.dim), 0.5 * self._beta * cov])
        rows, cols = tril_indices(self.dim)
        weight = np.where(rows == cols, 0.5, 1.0)
        return np.concatenate([np.zeros(self.dim), self._beta * weight * cov[rows, cols]])


    def score_matching(self, x):
        """(J, ∇_θJ) with J = mean ½‖βP r‖² − β tr P, r = x − μ (Hyvärinen 2005).

        ∇_μJ = −β² P² r̄; ∇_P J = ½β² mean(P r rᵀ + r rᵀ P) − βI, mapped to θ's entries
        (diagonal, or vech with off-diagonal entries standing for both Pᵢⱼ and Pⱼᵢ)."""
        beta, r = self._beta, x - self.mean
        if self.diagonal:
            pr = r * self.precision
            loss = 0.5 * beta ** 2 * np.mean(np.sum(pr * pr, axis=1)) - beta * np.sum(self.precision)
            grad_p = beta ** 2 * np.mean(pr * r, axis=0) - beta
            return float(loss), np.concatenate([-beta ** 2 * self.precision * pr.mean(axis=0), grad_p])
        pr = r @ self.precision
        loss = 0.5 * beta ** 2 * np.mean(np.sum(pr * pr, axis=1)) - beta * np.trace(self.precision)
        outer = pr.T @ r / len(x)  # mean P r rᵀ
        grad_full = 0.5 * beta ** 2 * (outer + outer.T) - beta * np.eye(self.dim)
        rows, cols = tril_indices(self.dim)
        grad_p = np.where(rows == cols, 1.0, 2.0) * grad_full[rows, cols]
        grad_mu = -beta ** 2 * self.precision @ pr.mean(axis=0)
        return float(loss), np.concatenate([grad_mu, grad_p])

    # -- second derivatives for score matching (SM, DSM, SSM) -----------------------------
    # The θ-gradients take ``mean=True`` to return their mean over the points, shape (p,),
    # from matrix products instead of (n, d, d) per-point arrays (what the losses need).
    def _vech(self, matrices):
        """θ's precision entries of symmetric gradient matrices (..., d, d): Gᵢᵢ, and
        Gᵢⱼ + Gⱼᵢ for i > j (the entry stands for both); the diagonal for a diagonal P."""
        if self.diagonal:
            return np.diagonal(matrices, axis1=-2, axis2=-1)
        rows, cols = tril_indices(self.dim)
        return (matrices[..., rows, cols]
                + np.where(rows == cols, 0.0, 1.0) * matrices[..., cols, rows])

    def _directions(self, x, v):
        pts, single, dtype = self._points(x)
        v = self._points(v, "v")[0]
        if v.shape != pts.shape:
            raise ValueError(f"v must have the shape of x, {pts.shape}, got {v.shape}")
        return pts, v, single, dtype

    def _full_precision(self):
        return np.diag(self.precision) if self.diagonal else self.precision

    def _sym_products(self, a, b, mean):
        """sym(aᵢbᵢᵀ) per point (n, d, d), or the mean of them (d, d)."""
        if mean:
            outer = a.T @ b / a.shape[0]
            return 0.5 * (outer + outer.T)
        return 0.5 * (a[:, :, None] * b[:, None, :] + b[:, :, None] * a[:, None, :])

    def _theta_out(self, grad_mu, grad_p, single, dtype, mean):
        out = np.concatenate([grad_mu, grad_p], axis=-1)
        return out if mean else _shaped(out, single, dtype)

    def laplacian(self, x):
        """ΔₓE = β tr P, the same at every point: x (n, d) → (n,), or (d,) → float."""
        pts, single, dtype = self._points(x)
        return _shaped(np.full(pts.shape[0], self._beta * np.trace(self._full_precision())),
                       single, dtype)

    def hessian_vector_product(self, x, v):
        """∇²ₓE v = βPv for x and v of shape (n, d) → (n, d)."""
        _, v, single, dtype = self._directions(x, v)
        return _shaped(self._beta * v @ self._full_precision(), single, dtype)

    def grad_theta_directional(self, x, v, *, mean=False):
        """∇_θ(vᵀ∇ₓE(x)) for fixed v, shape (n, p) (the mixed derivative DSM needs).

        vᵀ∇ₓE = β vᵀP(x-μ): ∇_μ = -βPv, ∇_P = β sym(v rᵀ) read off in θ's order."""
        pts, v, single, dtype = self._directions(x, v)
        r = pts - self.mean
        grad_mu = -self._beta * v @ self._full_precision()
        grad_p = self._vech(self._beta * self._sym_products(v, r, mean))
        return self._theta_out(grad_mu.mean(axis=0) if mean else grad_mu, grad_p, single, dtype,
                               mean)

    def grad_theta_laplacian(self, x, *, mean=False):
        """∇_θ(ΔₓE) = (0, β vech I): constant, shape (n, p)."""
        pts, single, dtype = self._points(x)
        grad_p = self._vech(self._beta * np.eye(self.dim))
        if mean:
            return np.concatenate([np.zeros(self.dim), grad_p])
        return _shaped(np.hstack([np.zeros_like(pts), np.tile(grad_p, (pts.shape[0], 1))]),
                       single, dtype)

    def grad_theta_hessian_quadratic(self, x, v, *, mean=False):
        """∇_θ(vᵀ∇²ₓE v) = ∇_θ(β vᵀPv) = (0, β vech(vvᵀ)) for fixed v, shape (n, p)."""
        _, v, single, dtype = self._directions(x, v)
        grad_p = self._vech(self._beta * self._sym_products(v, v, mean))
        grad_mu = np.zeros(self.dim) if mean else np.zeros_like(v)
        return self._theta_out(grad_mu, grad_p, single, dtype, mean)


def _shaped(out, single, dtype):
    out = out.astype(dtype, copy=False)
    return out[0] if single else out


def _inverse_from_cholesky(chol):
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol
