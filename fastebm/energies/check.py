"""Check a gradient against central finite differences of the energy."""
import numpy as np

from .base import Energy

_REL_STEP = np.finfo(np.float64).eps ** (1.0 / 3.0)


def finite_difference_grad(energy, x):
    """Central differences (E(x + hⱼeⱼ) - E(x - hⱼeⱼ)) / 2hⱼ, hⱼ = ε^(1/3) max(1, |xⱼ|).

    x of shape (n, d) → (n, d); error O(h²) ≈ 1e-10 relative for smooth energies.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        h = _REL_STEP * np.maximum(1.0, np.abs(x[:, j]))
        up, down = x.copy(), x.copy()
        up[:, j] += h
        down[:, j] -= h
        out[:, j] = (energy.energy(up) - energy.energy(down)) / (2.0 * h)
    return out


def check_grad(energy, x):
    """Largest error of ``energy.grad`` against central finite differences.

    Parameters
    ----------
    energy : Energy
    x : array_like of shape (n, d) or (d,)
        Points at which to compare.

    Returns
    -------
    float
        ``maxᵢⱼ |∇E(x)ᵢⱼ - FDᵢⱼ| / max(1, |FDᵢⱼ|)``. Values near 1e-8 or below mean the
        gradient agrees; a wrong gradient typically gives 1e-2 or more.
    """
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    pts, _, _ = energy._points(x)
    reference = finite_difference_grad(energy, pts)
    grad = np.atleast_2d(energy.grad(pts))
    return float(np.max(np.abs(grad - reference) / np.maximum(1.0, np.abs(reference))))
