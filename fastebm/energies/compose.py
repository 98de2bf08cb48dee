"""Products of experts: E1 + E2, i.e. p(x) ∝ exp(-E1(x) - E2(x))."""
import numpy as np
from numba import njit

from .._contract import BackendUnavailableError, CudaForm
from .base import Energy, cannot_save
from .custom import family_of

_FAMILIES = {}
_identity = njit(lambda flat: flat)


def _sum_functions(first, second):
    """Compiled (energy, energy_grad) of a sum on the flat tuple of both parts' parameters.

    Cached per pair of parts' functions, builders and parameter count of the first part.
    """
    n1 = len(first._kernel_params())
    (e1, g1), b1 = first._point_functions(), first._params_builder()
    (e2, g2), b2 = second._point_functions(), second._params_builder()
    key = (e1, g1, b1, e2, g2, b2, n1)
    if key not in _FAMILIES:
        def energy(p, x):
            return e1(b1(p[:n1]), x) + e2(b2(p[n1:]), x)

        def energy_grad(p, x, out):
            tmp = np.empty_like(out)
            value = g1(b1(p[:n1]), x, out) + g2(b2(p[n1:]), x, tmp)
            out += tmp
            return value
        _FAMILIES[key] = (njit(energy), njit(energy_grad))
    return _FAMILIES[key]


class SumEnergy(Energy):
    """The sum of two energies (a product of experts); θ is the concatenation of theirs.

    Notes
    -----
    E(x) = E₁(x) + E₂(x), ∇ₓE = ∇ₓE₁ + ∇ₓE₂, ∇_θE = (∇_θ₁E₁, ∇_θ₂E₂). The sum of two
    Gaussians is Gaussian, and its log Z is exact (``log_partition``).
    """

    def __init__(self, first, second):
        if not isinstance(first, Energy) or not isinstance(second, Energy):
            raise TypeError("both terms of a sum must be fastebm energies")
        dims = {d for d in (first.dim, second.dim) if d is not None}
        if len(dims) > 1:
            raise ValueError(f"cannot add energies of dimensions {first.dim} and {second.dim}")
        self.parts = (first, second)
        self.dim = dims.pop() if dims else None
        self._form = None
        self._compiled_form()  # a term without a compiled form raises here

    def _compiled_form(self):
        """(point functions, kernel family) of the sum, shared by every sum of terms with
        the same functions; built again on first use after unpickling."""
        if self._form is None:
            point = _sum_functions(*self.parts)
            self._form = (point, family_of(*point))
        return self._form

    def __getstate__(self):
        """Pickled as its two terms: the compiled form is left out (its kernels hold
        closures that do not pickle) and built again on first use."""
        state = super().__getstate__()
        state["_form"] = None
        return state

    def _saved_state(self):
        """The ``.npz`` entries of both terms, under ``0/`` and ``1/`` (with their
        ``class``): only a sum of built-in models saves."""
        if type(self) is not SumEnergy:
            raise cannot_save(self)
        arrays = {}
        for i, part in enumerate(self.parts):
            name, entries = part._saved_state()
            arrays[f"{i}/class"] = np.array(name)
            arrays.update({f"{i}/{key}": value for key, value in entries.items()})
        return "SumEnergy", arrays

    @property
    def _family(self):
        return self._compiled_form()[1]

    def _kernel_params(self):
        return tuple(self.parts[0]._kernel_params()) + tuple(self.parts[1]._kernel_params())

    def _params_builder(self):
        return _identity

    def _point_functions(self):
        return self._compiled_form()[0]

    def _cuda_form(self):
        """The CUDA kernels' sum (``energies.cuh``, ``FASTEBM_ENERGY_SUM``): both terms'
        forms, evaluated in one pass per point; each term keeps its own β (tempering a sum
        tempers its terms), so the sum's is 1."""
        parts = []
        for part in self.parts:
            try:
                parts.append(part._cuda_form())
            except BackendUnavailableError as exc:
                raise BackendUnavailableError(
                    f"a sum of energies runs on the CUDA backend when each term has a CUDA "
                    f"form, and its term {type(part).__name__} has none: {exc}") from None
        return CudaForm("sum", "", (), 1.0, tuple(parts))

    def tempered(self, beta):
        return SumEnergy(*(p.tempered(beta) for p in self.parts))

    @property
    def beta(self):
        raise AttributeError("a sum of energies has no single temperature")

    def warn_if_finite_differences(self):
        for part in self.parts:
            part.warn_if_finite_differences()

    def energy_and_grad(self, x):
        self.warn_if_finite_differences()
        return super().energy_and_grad(x)

    @property
    def theta(self):
        return np.concatenate([p.theta for p in self.parts])

    def with_theta(self, theta):
        theta = np.asarray(theta)
        if theta.shape != self.theta.shape:
            raise ValueError(f"theta must have shape {self.theta.shape}, got {theta.shape}")
        n_first = self.parts[0].theta.size
        return SumEnergy(self.parts[0].with_theta(theta[:n_first]),
                         self.parts[1].with_theta(theta[n_first:]))

    def _grad_theta(self, x):
        return np.hstack([p._grad_theta(x) for p in self.parts])

    def _gaussian_form(self):
        """Where both parts are Gaussian, Eₖ(x) = ½(x-μₖ)ᵀPₖ(x-μₖ) + cₖ, so is the sum (a
        product of Gaussian experts): P = P₁ + P₂, μ = P⁻¹(P₁μ₁ + P₂μ₂) and
        c = c₁ + c₂ + ½(μ₁ᵀP₁μ₁ + μ₂ᵀP₂μ₂ - μᵀPμ); else None."""
        forms = [p._gaussian_form() for p in self.parts]
        if any(form is None for form in forms):
            return None
        total = forms[0][0] + forms[1][0]
        mean = np.linalg.solve(total, sum(P @ m for P, m, _ in forms))
        const = 0.5 * (sum(m @ P @ m for P, m, _ in forms) - mean @ total @ mean)
        return total, mean, forms[0][2] + forms[1][2] + const

    def log_partition(self):
        """Exact where both parts are Gaussian: log Z = d/2 log 2π - ½ log det P - c
        with P and c of ``_gaussian_form``."""
        form = self._gaussian_form()
        if form is None:
            return super().log_partition()
        total, _, const = form
        return 0.5 * self.dim * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(total)[1] - const
