"""Score matching (Hyvärinen 2005): fit an energy without its normalizer.

    J(θ) = E_data[ ½‖∇ₓE_θ(x)‖² − Δₓ E_θ(x) ]          (seed 004, eq. 12)

equals the Fisher divergence ½E‖∇ log p_data − ∇ log p_θ‖² up to a constant, so its
minimiser is consistent, and no sampling from the model is needed. Its θ-gradient is

    ∇_θJ = E_data[ ∇_θ(gᵀ∇ₓE_θ(x))|_{g = ∇ₓE_θ(x)} − ∇_θ ΔₓE_θ(x) ].

The family shares one call, ``loss(energy, data, ..., rng=None) -> (loss, grad_theta)``:
``score_matching_loss`` (exact; here), ``dsm_loss`` (denoising, ``dsm.py``) and
``ssm_loss`` (sliced, ``ssm.py``). When unsure, use exact score matching in low
dimension and sliced score matching otherwise; denoising score matching fits the
σ-smoothed data and is biased by O(σ²).

The second derivatives they need are hand-derived for ``Gaussian`` and
``GaussianMixture`` (methods ``laplacian``, ``hessian_vector_product``,
``grad_theta_directional`` = ∇_θ(vᵀ∇ₓE), ``grad_theta_laplacian``,
``grad_theta_hessian_quadratic`` = ∇_θ(vᵀ∇²ₓE v)) and for sums of them. For any other
continuous energy they come from central finite differences along v (h relative to
max(1, ‖x‖∞)/‖v‖∞):

    ∇²ₓE v ≈ [∇ₓE(x + hv) − ∇ₓE(x − hv)] / 2h,                    h = ε^(1/3)·scale
    ∇_θ(vᵀ∇ₓE) ≈ [∇_θE(x + hv) − ∇_θE(x − hv)] / 2h,             h = ε^(1/3)·scale
    ∇_θ(vᵀ∇²ₓE v) ≈ [∇_θE(x + hv) − 2∇_θE(x) + ∇_θE(x − hv)] / h², h = ε^(1/4)·scale

and the Laplacian from Hutchinson's estimator ΔE = E_v[vᵀ∇²ₓE v] with Rademacher v
(``n_probes`` per point, drawn on the Philox stream of ``rng``): exact for a diagonal
Hessian, unbiased otherwise. These need ∇_θE: a user energy must be built with
``theta=`` and ``grad_theta=`` (else ValueError).

References
----------
Hyvärinen (2005), "Estimation of non-normalized statistical models by score matching",
JMLR 6. Seed 004, eq. 12; seed 003 ("Score Matching"). Hutchinson (1989), "A stochastic
estimator of the trace of the influence matrix", Commun. Stat. Simul. Comput. 18.
"""
import numpy as np

from .._contract import TAG_PROBE
from ..backend import CPU
from .._rng import philox_key
from .._validation import int_at_least
from ..energies.base import Energy
from ..energies.compose import SumEnergy
from ..energies.custom import CustomEnergy

HAND_DERIVED = ("laplacian", "hessian_vector_product", "grad_theta_directional",
                "grad_theta_laplacian", "grad_theta_hessian_quadratic")
_SUMMED = ("laplacian", "hessian_vector_product")  # values add over a sum's parts
_FD_STEP = np.finfo(np.float64).eps ** (1.0 / 3.0)
_FD_STEP_SECOND = np.finfo(np.float64).eps ** 0.25


def score_matching_loss(energy, data, *, n_probes=1, rng=None):
    """J(θ) and ∇_θJ of exact score matching on ``data``: seed 004's eq. 12.

    Parameters
    ----------
    energy : Energy
        A continuous energy with parameters θ. ``Gaussian`` and ``GaussianMixture`` (and
        sums of them) use their hand-derived Laplacian; any other energy uses
        Hutchinson's estimator with finite-difference Hessian-vector products (module
        docstring) and needs ∇_θE.
    data : array_like of shape (n, d)
    n_probes : int, default 1
        Rademacher probes per point for Hutchinson's estimator (ignored where the
        Laplacian is hand-derived).
    rng : None, int, SeedSequence or Generator
        Seeds the probes (ignored where the Laplacian is hand-derived); the same ``rng``
        gives the same probes, so the loss is a deterministic function of θ.

    Returns
    -------
    loss : float
    grad : ndarray of shape (p,)

    Notes
    -----
    J = mean[½‖∇ₓE‖² − ΔₓE], ∇_θJ = mean[∇_θ(gᵀ∇ₓE)|_{g=∇ₓE} − ∇_θΔₓE]. Cost: one
    gradient and the hand-derived second derivatives per point; with Hutchinson, per
    probe two more ∇ₓE and three ∇_θE evaluations (plus two ∇_θE for ½‖∇ₓE‖²). For a Gaussian the minimiser is
    the sample mean and the inverse (ddof=0) sample covariance.

    References
    ----------
    Hyvärinen (2005), JMLR 6; seed 004, eq. 12.

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> loss, grad = fe.score_matching_loss(fe.Gaussian([0.0, 0.0], precision=[1.0, 1.0]), x)
    """
    pts = checked_points(energy, data)
    n_probes = int_at_least(n_probes, "n_probes", 1)
    key = None if has_hand_derived(energy) else philox_key(rng)
    loss, grad = sm_terms(energy, pts, key, n_probes)
    return float(loss.mean()), grad


def sm_terms(energy, pts, key, n_probes, per_point=False):
    """Per-point losses (n,) and the mean θ-gradient (p,) of exact score matching (the
    per-point θ-gradients (n, p) with ``per_point=True``)."""
    g = energy.grad(pts)
    if key is None:
        lap = derivative(energy, "laplacian", pts)
        grad_lap = derivative(energy, "grad_theta_laplacian", pts, mean=not per_point)
    else:
        lap, grad_lap = hutchinson(energy, pts, key, n_probes, per_point)
    loss = 0.5 * np.sum(g * g, axis=1) - lap
    return loss, derivative(energy, "grad_theta_directional", pts, g, mean=not per_point) - grad_lap


def hutchinson(energy, pts, key, n_probes, per_point=False):
    """ΔE ≈ mean_j v_jᵀ∇²E v_j per point (n,), Rademacher v_j, and its θ-gradient (the
    mean (p,), or per point (n, p))."""
    n, d = pts.shape
    probes = draw("sign", key, TAG_PROBE, n, n_probes, d)
    rep = np.repeat(pts, n_probes, axis=0)
    quad = np.sum(probes * derivative(energy, "hessian_vector_product", rep, probes), axis=1)
    grad = derivative(energy, "grad_theta_hessian_quadratic", rep, probes, mean=not per_point)
    return quad.reshape(n, n_probes).mean(axis=1), per_point_mean(grad, n, n_probes, per_point)


def per_point_mean(grad, n, m, per_point):
    """Rows i·m .. i·m + m - 1 of a per-row θ-gradient averaged into point i's (n, p);
    already a mean over all rows (p,) when not ``per_point``."""
    return grad.reshape(n, m, -1).mean(axis=1) if per_point else grad


def draw(kind, key, tag, n, m, d):
    """(n·m, d) standard normals (``kind="normal"``) or Rademacher signs (``"sign"``);
    row i·m + j is the stream (point i, draw j, tag)."""
    return CPU.runners.score_noise(kind, key, tag, n, m, d)


def normals(key, tag, n, m, d):
    return draw("normal", key, tag, n, m, d)


# -- the second derivatives: hand-derived where they exist, finite differences otherwise --
def has_hand_derived(energy):
    """True where every method in ``HAND_DERIVED`` exists (sums: for every part)."""
    if isinstance(energy, SumEnergy):
        return all(has_hand_derived(part) for part in energy.parts)
    return all(callable(getattr(energy, name, None)) for name in HAND_DERIVED)


def derivative(energy, name, x, *v, mean=False):
    """``energy.<name>(x, *v)`` for a name in ``HAND_DERIVED``, by finite differences where
    it is not hand-derived, and part by part for sums (values add, θ-gradients stack).
    ``mean=True`` (θ-gradients only) gives the mean over the points, shape (p,)."""
    kwargs = {} if name in _SUMMED else {"mean": mean}
    if isinstance(energy, SumEnergy) and has_hand_derived(energy):
        parts = [derivative(part, name, x, *v, **kwargs) for part in energy.parts]
        return parts[0] + parts[1] if name in _SUMMED else np.concatenate(parts, axis=-1)
    if has_hand_derived(energy):
        return getattr(energy, name)(x, *v, **kwargs)
    out = _FINITE_DIFFERENCES[name](energy, x, *v)
    return out.mean(axis=0) if mean else out


def _steps(x, v, rel):
    """Per-row step t such that t·v moves x by rel·max(1, ‖x‖∞) in its largest coordinate."""
    size = np.max(np.abs(v), axis=1)
    return rel * np.maximum(1.0, np.max(np.abs(x), axis=1)) / np.where(size > 0, size, 1.0)


def _fd_hvp(energy, x, v):
    h = _steps(x, v, _FD_STEP)[:, None]
    return (energy.grad(x + h * v) - energy.grad(x - h * v)) / (2.0 * h)


def _fd_grad_theta_directional(energy, x, v):
    h = _steps(x, v, _FD_STEP)[:, None]
    return (energy.grad_theta(x + h * v) - energy.grad_theta(x - h * v)) / (2.0 * h)


def _fd_grad_theta_hessian_quadratic(energy, x, v):
    h = _steps(x, v, _FD_STEP_SECOND)[:, None]
    up, mid, down = (energy.grad_theta(x + h * v), energy.grad_theta(x),
                     energy.grad_theta(x - h * v))
    return (up - 2.0 * mid + down) / (h * h)


def _no_hand_derived(energy, *_):
    raise ValueError(f"{type(energy).__name__} has no hand-derived Laplacian: use Hutchinson's "
                     "estimator (score_matching_loss does so for such energies)")


_FINITE_DIFFERENCES = {
    "hessian_vector_product": _fd_hvp,
    "grad_theta_directional": _fd_grad_theta_directional,
    "grad_theta_hessian_quadratic": _fd_grad_theta_hessian_quadratic,
    "laplacian": _no_hand_derived,
    "grad_theta_laplacian": _no_hand_derived,
}


# -- validation shared by the three losses -------------------------------------------------
def checked_points(energy, data):
    """``data`` as (n, d) float64 after checking that ``energy`` suits score matching."""
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    if getattr(energy, "is_discrete", False):
        raise ValueError(f"score matching needs a continuous energy; {type(energy).__name__} is "
                         "discrete (use CD, PCD or pseudo-likelihood)")
    _require_grad_theta(energy)
    return energy._points(data, "data")[0]


def _require_grad_theta(energy):
    if isinstance(energy, SumEnergy):
        for part in energy.parts:
            _require_grad_theta(part)
        return
    try:
        energy.theta
    except (NotImplementedError, ValueError) as exc:
        raise ValueError(f"score matching needs parameters θ: {exc}") from None
    if isinstance(energy, CustomEnergy) and energy.grad_theta_fn is None:
        raise ValueError("score matching of a user energy needs its θ-gradient: build it with "
                         "fastebm.energy(fn, grad, theta=..., grad_theta=...)")
