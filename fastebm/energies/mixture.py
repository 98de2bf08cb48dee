"""The Gaussian-mixture energy E(x) = -β log Σₖ wₖ N(x; μₖ, Σₖ), with its parameters θ and
the second derivatives that score matching needs (hand-derived, below)."""
import numpy as np

from .._contract import CudaForm, MixtureParams
from .._validation import as_float_array, as_points, symmetric_positive_definite
from .base import Energy
from .gaussian import tril_indices


class GaussianMixture(Energy):
    """Mixture of K Gaussians as an energy; the weights need not sum to one.

    Parameters
    ----------
    weights : array_like of shape (K,)
        Positive component weights wₖ; Z = Σₖ wₖ at β = 1.
    means : array_like of shape (K, d)
    covariances : array_like of shape (K, d, d) or (K, d), optional
        Full covariance matrices, or their diagonals.
    precisions : array_like of shape (K, d, d) or (K, d), optional
        The precisions Pₖ = Σₖ⁻¹ instead (keyword only). Give exactly one of
        ``covariances`` and ``precisions``.

    Notes
    -----
    E(x) = -β log Σₖ exp(ℓₖ(x)) with ℓₖ(x) = aₖ + ½ log det Pₖ - d/2 log 2π - ½ rₖᵀPₖrₖ,
    aₖ = log wₖ, rₖ = x - μₖ. With uₖ = Pₖrₖ, responsibilities γₖ = softmax(ℓ)ₖ and
    ū = Σₖ γₖuₖ (derived here from ∇ₓℓₖ = -uₖ and ∇ₓγₖ = γₖ(ū - uₖ)):

    - ∇ₓE = β ū;
    - ∇²ₓE = β [Σₖ γₖPₖ - Σₖ γₖ uₖuₖᵀ + ūūᵀ]   (a mean precision minus the
      γ-covariance of the uₖ), so ΔₓE = β [Σₖ γₖ tr Pₖ - Σₖ γₖ‖uₖ‖² + ‖ū‖²] and
      ∇²ₓE v = β [Σₖ γₖPₖv - Σₖ γₖ uₖ(uₖᵀv) + ū(ūᵀv)].

    The parameters are θ = (a, μ, vech P): the K unnormalized log-weights, the means row
    by row (K·d), then for each component the lower triangle of Pₖ row by row (i ≥ j),
    an off-diagonal entry standing for both Pᵢⱼ and Pⱼᵢ (as in ``Gaussian``). Score-based
    losses do not see a common shift of a (it only rescales Z). With
    dℓₖ = daₖ + uₖᵀdμₖ + ½ tr((Σₖ - rₖrₖᵀ) dPₖ) and dγₖ = γₖ(dℓₖ - Σⱼ γⱼ dℓⱼ):
    ∂E/∂aₖ = -βγₖ, ∇_μₖE = -βγₖuₖ, ∇_PₖE = -½βγₖ(Σₖ - rₖrₖᵀ).
    log Z = log Σₖ wₖ at β = 1; a tempered mixture has no closed-form Z.
    """

    def __init__(self, weights, means, covariances=None, *, precisions=None):
        self.weights = as_float_array(weights, "weights", ndim=1)
        if self.weights.size == 0 or not np.all(self.weights > 0):
            raise ValueError("weights must be a non-empty array of positive numbers")
        self.means = as_float_array(means, "means", ndim=2)
        n_comp, self.dim = self.means.shape
        if n_comp != self.weights.size:
            raise ValueError(f"means must have {self.weights.size} rows (one per weight), "
                             f"got shape {self.means.shape}")
        if (covariances is None) == (precisions is None):
            raise ValueError("give exactly one of covariances and precisions")
        name = "covariances" if precisions is None else "precisions"
        given = _matrices(covariances if precisions is None else precisions, name, n_comp, self.dim)
        chols = [symmetric_positive_definite(m, f"{name}[{k}]")[1] for k, m in enumerate(given)]
        inverses = np.stack([_inverse_from_cholesky(c) for c in chols])
        log_det = np.array([2.0 * np.sum(np.log(np.diag(c))) for c in chols])
        self._given = name  # what was given, and saved: the other is computed from it
        if precisions is None:
            self.covariances, self.precisions = given, np.ascontiguousarray(inverses)
            log_det_cov = log_det
        else:
            self.covariances, self.precisions = inverses, np.ascontiguousarray(given)
            log_det_cov = -log_det
        self._log_coef = (np.log(self.weights) - 0.5 * log_det_cov
                          - 0.5 * self.dim * np.log(2.0 * np.pi))

    def _kernel_params(self):
        return MixtureParams(self._log_coef, self.means, self.precisions, self._beta)

    def _cuda_form(self):
        """The CUDA kernels' mixture (``energies.cuh``): the flat [c (K), μ (K·d), P (K·d·d)]
        of ``_kernel_params``, evaluated one point per thread with the CPU's log-sum-exp."""
        flat = np.concatenate([self._log_coef, self.means.ravel(), self.precisions.ravel()])
        return CudaForm("mixture", "", (flat,), self._beta)

    def _saved_state(self):
        """The ``.npz`` entries: ``weights`` (K,), ``means`` (K, d), the matrices the
        model was built from (``covariances`` or ``precisions``, (K, d, d)), ``beta``:
        the loaded model computes the others as this one did, to the last bit."""
        given = self.covariances if self._given == "covariances" else self.precisions
        return self._saved_as(GaussianMixture, {"weights": self.weights, "means": self.means,
                                                self._given: given,
                                                "beta": np.array(self._beta)})

    @classmethod
    def _from_saved(cls, entries):
        """The model of a file's entries (``fastebm.io``), checked by the constructor."""
        name = "covariances" if "covariances" in entries else "precisions"
        return cls(entries.array("weights"), entries.array("means"),
                   **{name: entries.array(name)})._at_beta(entries.scalar("beta"))

    def log_partition(self):
        if self._beta != 1.0:
            return super().log_partition()
        return float(np.log(np.sum(self.weights)))

    # -- parameters ----------------------------------------------------------------------
    @property
    def theta(self):
        """θ = (log wₖ, μₖ row by row, vech Pₖ per component), shape (K + K·d + K·d(d+1)/2,)."""
        rows, cols = tril_indices(self.dim)
        return np.concatenate([np.log(self.weights), self.means.ravel(),
                               self.precisions[:, rows, cols].ravel()])

    def with_theta(self, theta):
        theta = as_float_array(theta, "theta", ndim=1)
        n_comp, d = self.means.shape
        if theta.shape != (self._n_theta(),):
            raise ValueError(f"theta must have shape ({self._n_theta()},), got {theta.shape}")
        rows, cols = tril_indices(d)
        prec = np.zeros((n_comp, d, d))
        prec[:, rows, cols] = theta[n_comp * (1 + d):].reshape(n_comp, -1)
        prec = prec + np.tril(prec, -1).transpose(0, 2, 1)
        means = theta[n_comp:n_comp * (1 + d)].reshape(n_comp, d)
        new = GaussianMixture(np.exp(theta[:n_comp]), means, precisions=prec)
        return new.tempered(self._beta)

    def _n_theta(self):
        n_comp, d = self.means.shape
        return n_comp * (1 + d + d * (d + 1) // 2)

    # -- derivatives (shapes: x (n, d), v (n, d); n points, K components) ----------------
    def _parts(self, x):
        """rₖ = x - μₖ, uₖ = Pₖrₖ (n, K, d), γ (n, K) and ū (n, d)."""
        r = x[:, None, :] - self.means[None]
        u = np.einsum("kij,nkj->nki", self.precisions, r)
        log_comp = self._log_coef - 0.5 * np.einsum("nki,nki->nk", r, u)
        log_comp -= log_comp.max(axis=1, keepdims=True)
        gamma = np.exp(log_comp)
        gamma /= gamma.sum(axis=1, keepdims=True)
        return r, u, gamma, np.einsum("nk,nki->ni", gamma, u)

    def _to_theta(self, r, u, rho, coef_u=None, coef_p=None, mean=False):
        """Per-point θ-gradient (n, p) of a function f(ℓ, u, P) of the components, given
        ρₖ = ∂f/∂ℓₖ (n, K), bₖ = ∂f/∂uₖ (n, K, d) and the direct ∂f/∂Pₖ = wₖM as a pair
        (w (n, K), M (n, d, d)):
        ∂f/∂aₖ = ρₖ, ∇_μₖ f = ρₖuₖ - Pₖbₖ, ∇_Pₖ f = ½ρₖ(Σₖ - rₖrₖᵀ) + bₖrₖᵀ + wₖM,
        the matrix then symmetrized and read off in θ's vech order (from duₖ = dPₖrₖ - Pₖdμₖ).
        ``mean=True`` returns the mean over the points, (p,), without (n, K, d, d) arrays."""
        n, n_comp, d = r.shape
        sums = "k" if mean else "nk"
        grad_a = rho.mean(axis=0) if mean else rho
        grad_mu = np.einsum(f"nk,nki->{sums}i", rho, u)
        grad_p = (0.5 * np.einsum(f"nk,kij->{sums}ij", rho, self.covariances)
                  - 0.5 * np.einsum(f"nk,nki,nkj->{sums}ij", rho, r, r, optimize=True))
        if coef_u is not None:
            grad_mu = grad_mu - np.einsum(f"kij,nkj->{sums}i", self.precisions, coef_u,
                                          optimize=True)
            grad_p = grad_p + np.einsum(f"nki,nkj->{sums}ij", coef_u, r, optimize=True)
        if coef_p is not None:
            grad_p = grad_p + np.einsum(f"nk,nij->{sums}ij", *coef_p, optimize=True)
        if mean:
            grad_mu, grad_p = grad_mu / n, grad_p / n
        rows, cols = tril_indices(d)
        vech = grad_p[..., rows, cols] + np.where(rows == cols, 0.0, 1.0) * grad_p[..., cols, rows]
        lead = () if mean else (n,)
        return np.concatenate([grad_a, grad_mu.reshape(lead + (-1,)), vech.reshape(lead + (-1,))],
                              axis=-1)

    def _grad_theta(self, x):
        r, u, gamma, _ = self._parts(x)
        return self._to_theta(r, u, -self._beta * gamma)

    def _quadratic_terms(self, x, m, mean=False):
        """Value (n,) and θ-gradient (per point (n, p), or their mean) of q = tr(M ∇²ₓE),
        M (n, d, d) symmetric.

        q = β[Σₖ γₖ tr(MPₖ) - Σₖ γₖ uₖᵀMuₖ + ūᵀMū]; with cₖ = tr(MPₖ) - uₖᵀMuₖ + 2ūᵀMuₖ:
        ρₖ = βγₖ(cₖ - Σⱼ γⱼcⱼ), bₖ = 2βγₖ M(ū - uₖ) and the direct ∂q/∂Pₖ = βγₖM.
        M = I gives the Laplacian, M = vvᵀ the quadratic form vᵀ∇²ₓE v."""
        beta = self._beta
        r, u, gamma, u_bar = self._parts(x)
        mu = np.einsum("nij,nkj->nki", m, u)
        mu_bar = np.einsum("nk,nki->ni", gamma, mu)
        tr_mp = np.einsum("nij,kji->nk", m, self.precisions)
        umu = np.einsum("nki,nki->nk", u, mu)
        value = beta * (np.sum(gamma * (tr_mp - umu), axis=1)
                        + np.einsum("ni,ni->n", u_bar, mu_bar))
        c = tr_mp - umu + 2.0 * np.einsum("ni,nki->nk", u_bar, mu)
        rho = beta * gamma * (c - np.sum(gamma * c, axis=1, keepdims=True))
        coef_u = 2.0 * beta * gamma[..., None] * (mu_bar[:, None, :] - mu)
        return value, self._to_theta(r, u, rho, coef_u, (beta * gamma, m), mean)

    def laplacian(self, x):
        """ΔₓE = β[Σₖ γₖ tr Pₖ - Σₖ γₖ‖uₖ‖² + ‖ū‖²] for x (n, d) → (n,), or (d,) → float."""
        pts, single, dtype = self._points(x)
        _, u, gamma, u_bar = self._parts(pts)
        out = self._beta * (gamma @ np.trace(self.precisions, axis1=1, axis2=2)
                            - np.einsum("nk,nki,nki->n", gamma, u, u)
                            + np.einsum("ni,ni->n", u_bar, u_bar))
        return _shaped(out, single, dtype)

    def hessian_vector_product(self, x, v):
        """∇²ₓE(x) v = β[Σₖ γₖPₖv - Σₖ γₖuₖ(uₖᵀv) + ū(ūᵀv)], shape (n, d)."""
        pts, v, single, dtype = _points_and_directions(self, x, v)
        _, u, gamma, u_bar = self._parts(pts)
        s = np.einsum("nki,ni->nk", u, v)
        out = (np.einsum("nk,kij,nj->ni", gamma, self.precisions, v)
               - np.einsum("nk,nki->ni", gamma * s, u)
               + u_bar * np.einsum("ni,ni->n", u_bar, v)[:, None])
        return _shaped(self._beta * out, single, dtype)

    def grad_theta_directional(self, x, v, *, mean=False):
        """∇_θ(vᵀ∇ₓE(x)) for fixed v, shape (n, p) (the mixed derivative DSM needs), or
        its mean over the points (p,) with ``mean=True``.

        With sₖ = vᵀuₖ and s̄ = Σₖ γₖsₖ, vᵀ∇ₓE = βs̄: ρₖ = βγₖ(sₖ - s̄), bₖ = βγₖv."""
        pts, v, single, dtype = _points_and_directions(self, x, v)
        r, u, gamma, _ = self._parts(pts)
        s = np.einsum("nki,ni->nk", u, v)
        rho = self._beta * gamma * (s - np.sum(gamma * s, axis=1, keepdims=True))
        coef_u = self._beta * gamma[..., None] * v[:, None, :]
        out = self._to_theta(r, u, rho, coef_u, mean=mean)
        return out if mean else _shaped(out, single, dtype)

    def grad_theta_laplacian(self, x, *, mean=False):
        """∇_θ(ΔₓE(x)), shape (n, p) (or the mean, (p,)): ``_quadratic_terms`` with M = I."""
        pts, single, dtype = self._points(x)
        eye = np.broadcast_to(np.eye(self.dim), (pts.shape[0], self.dim, self.dim))
        out = self._quadratic_terms(pts, eye, mean)[1]
        return out if mean else _shaped(out, single, dtype)

    def grad_theta_hessian_quadratic(self, x, v, *, mean=False):
        """∇_θ(vᵀ∇²ₓE(x) v) for fixed v, shape (n, p) (or the mean, (p,)):
        ``_quadratic_terms`` with M = vvᵀ."""
        pts, v, single, dtype = _points_and_directions(self, x, v)
        out = self._quadratic_terms(pts, v[:, :, None] * v[:, None, :], mean)[1]
        return out if mean else _shaped(out, single, dtype)

    def score_matching(self, x):
        """(J, ∇_θJ) of exact score matching, J = mean[½‖∇ₓE‖² - ΔₓE] (seed 004, eq. 12).

        ∇_θJ = mean[∇_θ(gᵀ∇ₓE)|_{g=∇ₓE} - ∇_θΔₓE], both hand-derived (class Notes)."""
        x, _, _ = self._points(x)  # a single point (d,) is a batch of one
        g = self.grad(x)
        loss = np.mean(0.5 * np.sum(g * g, axis=1) - self.laplacian(x))
        grad = (self.grad_theta_directional(x, g, mean=True)
                - self.grad_theta_laplacian(x, mean=True))
        return float(loss), grad


def _points_and_directions(energy, x, v):
    pts, single, dtype = energy._points(x)
    v = as_points(v, pts.shape[1], "v")[0]
    if v.shape != pts.shape:
        raise ValueError(f"v must have the shape of x, {pts.shape}, got {v.shape}")
    return pts, v, single, dtype


def _shaped(out, single, dtype):
    out = out.astype(dtype, copy=False)
    return out[0] if single else out


def _matrices(given, name, n_comp, dim):
    arr = as_float_array(given, name, ndim=(2, 3))
    if arr.shape == (n_comp, dim):
        if not np.all(arr > 0):
            raise ValueError(f"{name} must be positive (diagonals)")
        arr = np.stack([np.diag(c) for c in arr])
    if arr.shape != (n_comp, dim, dim):
        raise ValueError(f"{name} must have shape ({n_comp}, {dim}, {dim}) "
                         f"or ({n_comp}, {dim}), got {arr.shape}")
    return arr


def _inverse_from_cholesky(chol):
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol
