"""Proposal distributions q for independent Metropolis-Hastings and importance sampling.

Each proposal draws on the per-chain Philox streams (in compiled code) and evaluates
its log density: ``Gaussian`` (full or diagonal covariance), ``StudentT`` (multivariate
t, heavier tails: the safe choice when p's tails are unknown), ``Uniform`` (a box) and
``Mixture`` (a finite mixture of Gaussians and t's, e.g. a defensive mixture).
``fe.metropolis(E, x0, n_steps, proposal=q)`` is the independent sampler of seed 002
(sec. 6); ``fe.importance_sample(E, q, n)`` weights draws of q.

A proposal that depends on the parameters θ, q(y|θ) (seed 002, sec. 3.2), is simply a
Python callable ``theta -> proposal``; ``fastebm.geyer_nll`` accepts one, e.g.
``lambda theta: fe.proposals.Gaussian([2.0], [(2.0 + theta[0]) ** 2])`` (seed 002,
eq. 25).

Where a proposal runs: one built from CuPy arrays (``Gaussian(cp.zeros(d), cp.eye(d))``)
runs on the GPU, and ``importance_sample``, ``importance_resample``, ``sample`` and
``log_density`` then return CuPy arrays (``docs/gpu.md``); inside
``fastebm.backend.emulate_gpu()`` a proposal built from NumPy arrays runs the same CUDA
kernels on the host. Its parameters are kept as NumPy arrays (attributes ``mean``,
``chol``, ...) and copied to the device once, on first use. CuPy and NumPy arrays mixed
in one proposal are refused (``fastebm.backend.BackendUnavailableError``), as is a
device proposal where a call has no CUDA kernels: nothing falls back to the CPU.
"""
import numbers
from math import lgamma

import numpy as np

from ._contract import (GaussianProposalParams, MixtureProposalParams, StudentTProposalParams,
                        UniformProposalParams)
from ._rng import philox_key
from ._validation import as_float_array, as_points, int_at_least, symmetric_positive_definite
from .backend import BackendUnavailableError, is_cupy_array, placement, resolve

LOG_2PI = float(np.log(2.0 * np.pi))
MIN_DF = 0.1


def _host(value):
    """A CuPy parameter copied to the host (explicitly); anything else unchanged."""
    return value.get() if is_cupy_array(value) else value


class Proposal:
    """Base class: a normalized density q on Rᵈ that compiled kernels can draw from.

    ``_on_device`` is True for a proposal built from CuPy arrays: its calls then run on
    the GPU (``_backend``), and the Numba kernels refuse it (``_kernel_params``).
    """

    dim = None
    _on_device = False

    def _params(self):
        """The parameter record (``fastebm._contract``, NumPy arrays) of any backend."""
        raise NotImplementedError

    def _kernel_params(self):
        """The parameter record for the Numba kernels; a proposal built from CuPy arrays
        raises ``BackendUnavailableError`` (it never runs on the CPU silently)."""
        if self._on_device:
            raise BackendUnavailableError(
                f"this {type(self).__name__} proposal was built from CuPy arrays, so it runs "
                "on the GPU, and this call has no CUDA kernels for it (the GPU runs "
                "importance_sample, importance_resample, Proposal.sample, "
                "Proposal.log_density, and ais and reverse_ais from Gaussian and Uniform "
                "bases): build the proposal from NumPy arrays to run the call "
                "on the CPU")
        return self._params()

    def _backend(self, *arrays):
        """The backend of a call on this proposal and ``arrays``: the device for a
        proposal built from CuPy arrays (NumPy ``arrays`` beside it are refused as mixed),
        else the one ``arrays`` resolve to (``fastebm.backend.resolve``)."""
        return resolve(*arrays, on_device=self._on_device)

    def log_density(self, x):
        """log q(x) for x of shape (n, d) → (n,), or (d,) → float (CuPy x, or a proposal
        built from CuPy arrays: a CuPy array, computed on the GPU)."""
        backend = self._backend(x)
        pts, single, _ = as_points(x, self.dim)
        out = backend.runners.proposal_log_density(self, pts)
        return out[0] if single else out

    def sample(self, n, *, rng=None):
        """n draws of q, shape (n, d), on the Philox streams (draw i is chain i, step 0);
        a CuPy array, drawn on the GPU, for a proposal built from CuPy arrays."""
        n = int_at_least(n, "n", 1)
        return self._backend().runners.proposal_draws(self, n, self.dim, philox_key(rng))[0]


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
        self._on_device = placement(mean, covariance)
        mean, covariance = _host(mean), _host(covariance)
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

    def _params(self):
        return GaussianProposalParams(self.mean, self.chol, self._log_norm)

    def _parts(self):
        """[(weight, (μ, L, df = inf, log_norm))]: this proposal as a mixture component."""
        return [(1.0, (self.mean, self.chol, np.inf, self._log_norm))]


class Uniform(Proposal):
    """Uniform proposal on the box [low, high] (componentwise).

    Parameters
    ----------
    low, high : array_like of shape (d,)
        Box corners, low < high.
    """

    def __init__(self, low, high):
        self._on_device = placement(low, high)
        low, high = _host(low), _host(high)
        self.low = as_float_array(low, "low", ndim=1)
        self.high = as_float_array(high, "high", ndim=1)
        if self.low.shape != self.high.shape or not np.all(self.low < self.high):
            raise ValueError("low and high must have the same shape with low < high")
        self.dim = self.low.shape[0]
        self._log_norm = -np.sum(np.log(self.high - self.low))

    def _params(self):
        return UniformProposalParams(self.low, self.high, self._log_norm)


def _mean_and_chol(mean, matrix, name):
    """(μ (d,), lower Cholesky factor (d, d)) of a full matrix or a positive diagonal."""
    mean = as_float_array(mean, "mean", ndim=1)
    dim = mean.shape[0]
    if dim == 0:
        raise ValueError("mean must have at least one coordinate")
    mat = as_float_array(matrix, name, ndim=(1, 2))
    if mat.ndim == 1:
        if mat.shape != (dim,) or not np.all(mat > 0):
            raise ValueError(f"{name} must be {dim} positive variances or a ({dim}, {dim}) "
                             f"matrix, got shape {mat.shape}")
        mat = np.diag(mat)
    if mat.shape != (dim, dim):
        raise ValueError(f"{name} must have shape ({dim}, {dim}), got {mat.shape}")
    mat, chol = symmetric_positive_definite(mat, name)
    return mean, mat, chol


class StudentT(Proposal):
    """Multivariate Student-t proposal t_ν(mean, scale): heavier tails than a Gaussian.

    Parameters
    ----------
    mean : array_like of shape (d,)
        The location μ (the mean when ν > 1).
    scale : array_like of shape (d, d) or (d,)
        The scale (shape) matrix Σ, or its diagonal; the covariance is ν/(ν-2) Σ for ν > 2.
    df : float
        Degrees of freedom ν ≥ 0.1 (ν → ∞ is N(μ, Σ)). A t draw exceeds the largest double
        with probability about 10^(-308ν): for ν < 0.1 that stops being negligible.

    Notes
    -----
    A draw is y = μ + Lξ / √(g/ν) with LLᵀ = Σ, ξ ~ N(0, I) and g ~ χ²_ν = 2 Gamma(ν/2, 1)
    (Marsaglia-Tsang gamma on its own Philox sub-stream). The density is

        log q(y) = log Γ((ν+d)/2) - log Γ(ν/2) - d/2 log(νπ) - ½ log det Σ
                   - (ν+d)/2 log(1 + δ²/ν),   δ² = (y-μ)ᵀΣ⁻¹(y-μ).

    Importance weights exp(-E)/q have finite variance for any p with Gaussian tails, which
    a Gaussian q only guarantees when it is wide enough (seed 002, sec. 3.2).

    References
    ----------
    Kotz & Nadarajah (2004), *Multivariate t Distributions and Their Applications*, ch. 1.
    Marsaglia & Tsang (2000), "A simple method for generating gamma variables", ACM TOMS
    26(3), 363-372.
    """

    def __init__(self, mean, scale, df):
        self._on_device = placement(mean, scale)
        self.mean, self.scale, self.chol = _mean_and_chol(_host(mean), _host(scale), "scale")
        self.dim = self.mean.shape[0]
        if isinstance(df, bool) or not isinstance(df, numbers.Real):
            raise TypeError(f"df must be a real number, got {type(df).__name__}")
        self.df = float(df)
        if not (np.isfinite(self.df) and self.df >= MIN_DF):
            raise ValueError(f"df must be finite and >= {MIN_DF} (use Gaussian for df = inf; "
                             f"smaller df overflows double precision), got {df}")
        d, nu = self.dim, self.df
        self._log_norm = (lgamma(0.5 * (nu + d)) - lgamma(0.5 * nu) - 0.5 * d * np.log(nu * np.pi)
                          - np.sum(np.log(np.diag(self.chol))))

    def _params(self):
        return StudentTProposalParams(self.mean, self.chol, self.df, self._log_norm)

    def _parts(self):
        return [(1.0, (self.mean, self.chol, self.df, self._log_norm))]


class Mixture(Proposal):
    """A finite mixture q(y) = Σₖ wₖ qₖ(y) of Gaussian and Student-t proposals.

    Parameters
    ----------
    weights : array_like of shape (K,)
        Non-negative mixture weights (normalized here).
    components : sequence of K Gaussian, StudentT or Mixture proposals
        All of the same dimension; a Mixture component is flattened into its parts.

    Notes
    -----
    A draw picks component k with probability wₖ (one uniform on its own Philox
    sub-stream, inverted through the cumulative weights) and draws from it;
    log q(y) = log Σₖ exp(log wₖ + log qₖ(y)). A defensive mixture, a little weight on a
    wide component, bounds the weights wherever that component dominates
    (Hesterberg 1995). Uniform components are not supported.

    References
    ----------
    Hesterberg (1995), "Weighted average importance sampling and defensive mixture
    distributions", Technometrics 37(2), 185-194.
    """

    def __init__(self, weights, components):
        try:
            components = None if isinstance(components, Proposal) else list(components)
        except TypeError:
            components = None
        # where the parts live (CuPy or NumPy), decided before any array is touched
        where = {comp._on_device for comp in components or () if isinstance(comp, Proposal)}
        if isinstance(weights, np.ndarray) or is_cupy_array(weights):
            where.add(is_cupy_array(weights))
        if len(where) > 1:
            raise BackendUnavailableError(
                "CuPy and NumPy arrays were mixed in one Mixture (its weights and components): "
                "build every part from arrays of one kind")
        self._on_device = placement(weights) or bool(where and where.pop())
        weights = as_float_array(_host(weights), "weights", ndim=1)
        if components is None or len(components) != weights.shape[0] or not components:
            raise ValueError("components must be a sequence of proposals, one per weight")
        if not np.all(weights >= 0) or not weights.sum() > 0:
            raise ValueError("weights must be non-negative with a positive sum")
        parts = []
        for w, comp in zip(weights / weights.sum(), components):
            if not isinstance(comp, (Gaussian, StudentT, Mixture)):
                raise TypeError("components must be fastebm.proposals Gaussian, StudentT or "
                                f"Mixture objects, got {type(comp).__name__}")
            parts.extend((w * wk, part) for wk, part in comp._parts())
        dims = {part[1][0].shape[0] for part in parts}
        if len(dims) != 1:
            raise ValueError(f"components must share one dimension, got {sorted(dims)}")
        self.dim = dims.pop()
        self.weights = np.array([w for w, _ in parts])
        self._means = np.stack([p[0] for _, p in parts])
        self._chols = np.stack([p[1] for _, p in parts])
        self._dfs = np.array([p[2] for _, p in parts])
        self._log_norms = np.array([p[3] for _, p in parts])
        self.components = components

    def _parts(self):
        return [(w, (m, c, df, ln)) for w, m, c, df, ln in
                zip(self.weights, self._means, self._chols, self._dfs, self._log_norms)]

    def _params(self):
        cum = np.cumsum(self.weights)
        cum[np.flatnonzero(self.weights)[-1]:] = 1.0  # u ≤ 1 never reaches a zero-weight tail
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        return MixtureProposalParams(log_w, cum, self._means, self._chols, self._dfs,
                                     self._log_norms)

