"""The energy interface shared by every model: p(x) = exp(-E(x)) / Z.

An energy evaluates E(x; θ), ∇ₓE and ∇_θE on a batch of points of shape (n, d) (a
single point (d,) gives outputs without the batch axis), knows its parameters θ, and
gives log Z where it is known exactly. ``E1 + E2`` is the product of experts
exp(-E1-E2) and ``E.tempered(beta)`` is exp(-βE). Samplers reach the compiled form of an
energy through ``_kernel_params()`` (the parameters as a named tuple) and ``_family``
(the kernels specialised to its functions).

Energies pickle (``pickle``; ``cloudpickle`` for a user's functions defined in a script)
without their compiled forms, which are built again on first use where they are
unpickled. Built-in models also save to an ``.npz`` file of arrays without pickle
(``model.save(path)``, read back by ``fastebm.load``).
"""
import copy
import functools

import numpy as np
from numba import njit

from .._kernels.numba import energies as _generic
from .._kernels.numba import evaluate as _evaluate  # noqa: F401  (registers the kernels)
from .._kernels.numba.dispatch import BUILTIN
from .._contract import BackendUnavailableError
from .._validation import as_points, positive_float
from ..backend import CPU, resolve

SAVE_FORMAT = "fastebm.energy"
"""The ``format`` entry of a model's ``.npz`` file."""
SAVE_FORMAT_VERSION = 1
"""The ``format_version`` entry: ``fastebm.load`` refuses files of a newer version."""


def cannot_save(energy):
    """The TypeError of ``save`` for an energy that an ``.npz`` file cannot hold."""
    return TypeError(f"{type(energy).__name__} cannot be saved to an .npz file (only the "
                     "built-in models can): pickle it instead")


@functools.lru_cache(maxsize=None)
def _namedtuple_builder(cls):
    return njit(lambda flat: cls(*flat))


def _shaped(out, single, dtype):
    out = out.astype(dtype, copy=False)
    return out[0] if single else out


class Energy:
    """Base class of energies. Subclasses set ``dim`` and implement ``_kernel_params``."""

    dim = None
    _family = BUILTIN
    _beta = 1.0

    # -- the compiled form -------------------------------------------------------------
    def _kernel_params(self):
        raise NotImplementedError

    def _kernel_form(self, work=0):
        """(parameter record, kernel family) for a call of about ``work`` energy
        evaluations (a user energy picks its kernels by the size of the run)."""
        return self._kernel_params(), self._family

    def _point_functions(self):
        """(energy_point, energy_grad_point) callable from compiled code on the params."""
        return _generic.energy_point, _generic.energy_grad_point

    def _params_builder(self):
        """Compiled function rebuilding ``_kernel_params()`` from its flat tuple.

        Numba's parallel loops cannot capture nested tuples, so a composite energy
        passes its parts' parameters as one flat tuple and rebuilds each part's.
        """
        return _namedtuple_builder(type(self._kernel_params()))

    def warn_if_finite_differences(self):
        """Warn once when gradients come from finite differences (no-op here)."""

    def _cuda_form(self):
        """How the CUDA kernels evaluate this energy (``fastebm._contract.CudaForm``)."""
        raise BackendUnavailableError(
            f"{type(self).__name__} has no CUDA kernels yet (the CUDA backend runs Gaussian "
            "energies, Gaussian mixtures, user energies given with cuda=..., their tempered "
            "versions and their sums): pass NumPy arrays to run it on the CPU")

    def _points(self, x, name="x"):
        if self.dim is None:
            dim = x.shape[-1] if getattr(x, "ndim", np.ndim(x)) in (1, 2) else -1
        else:
            dim = self.dim
        return as_points(x, dim, name)

    # -- batched evaluation ------------------------------------------------------------
    def _evaluated_elsewhere(self, pts, grad):
        """(E, ∇E or None) through the CUDA backend when ``pts`` resolve to it, else None."""
        backend = resolve(pts)
        if backend is CPU:
            return None
        return backend.runners.energy_and_grad(self, pts, grad)

    def energy(self, x):
        """E(x) for x of shape (n, d) → (n,), or (d,) → float."""
        pts, single, dtype = self._points(x)
        elsewhere = self._evaluated_elsewhere(pts, grad=False)
        if elsewhere is not None:
            return _shaped(elsewhere[0], single, dtype)
        out = np.empty(pts.shape[0])
        self._family["batch_energy"](self._kernel_params(), pts, out)
        return _shaped(out, single, dtype)

    def energy_and_grad(self, x):
        """(E(x), ∇ₓE(x)) with shapes (n,), (n, d) — from one pass over the points."""
        pts, single, dtype = self._points(x)
        elsewhere = self._evaluated_elsewhere(pts, grad=True)
        if elsewhere is not None:
            return _shaped(elsewhere[0], single, dtype), _shaped(elsewhere[1], single, dtype)
        out, grad = np.empty(pts.shape[0]), np.empty_like(pts)
        self._family["batch_energy_grad"](self._kernel_params(), pts, grad, out)
        return _shaped(out, single, dtype), _shaped(grad, single, dtype)

    def grad(self, x):
        """∇ₓE(x) for x of shape (n, d) → (n, d), or (d,) → (d,)."""
        return self.energy_and_grad(x)[1]

    def grad_theta(self, x):
        """∇_θE(x) for x of shape (n, d) → (n, p), or (d,) → (p,)."""
        pts, single, dtype = self._points(x)
        return _shaped(self._grad_theta(pts), single, dtype)

    def _grad_theta(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no gradient in its parameters")

    def expected_grad_theta(self):
        """E_{p_θ}[∇_θE] in closed form, shape (p,), where the model has one."""
        raise ValueError(f"{type(self).__name__} has no closed-form model expectation of its "
                         "θ-gradient: estimate it with mle_gradient and model draws")

    def score_matching(self, x):
        """(J(θ), ∇_θJ) of exact score matching on points x (n, d), where the Laplacian
        of this energy and its θ-gradient are hand-derived."""
        raise ValueError(f"{type(self).__name__} has no hand-derived Laplacian for exact score "
                         "matching")

    # -- parameters and normalizer -----------------------------------------------------
    @property
    def theta(self):
        """The parameters θ as a flat array of shape (p,)."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter vector")

    def with_theta(self, theta):
        """A new energy of the same kind with parameters ``theta`` (same temperature)."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter vector")

    def _gaussian_form(self):
        """(P (d, d), μ (d,), c) where E(x) = ½(x-μ)ᵀP(x-μ) + c (β included), else None:
        what a sum of energies needs for its exact log Z."""
        return None

    def log_partition(self):
        """log Z = log ∫ exp(-E(x)) dx where it is known in closed form."""
        raise ValueError(f"log Z of {type(self).__name__} has no closed form; estimate it "
                         "with fastebm.importance_sample(energy, proposal, n)")

    # -- composition ---------------------------------------------------------------------
    _sum_type = None  # compose.SumEnergy, set by fastebm.energies (base does not import it)

    def __add__(self, other):
        return self._sum_type(self, other)

    def tempered(self, beta):
        """exp(-β E(x)): the same energy multiplied by the inverse temperature β > 0."""
        beta = positive_float(beta, "beta")
        new = copy.copy(self)
        new._beta = self._beta * beta
        return new

    @property
    def beta(self):
        """The inverse temperature β of this energy (1 unless ``tempered``)."""
        return self._beta

    def _at_beta(self, beta):
        """This energy at inverse temperature ``beta`` (itself when β = 1)."""
        return self if beta == 1.0 else self.tempered(beta)

    # -- pickling and saving -------------------------------------------------------------
    def __getstate__(self):
        """The state that pickles, and that makes two energies equal
        (``fastebm.results.equal``): the parameters and β (given even where β is the
        class default), never a compiled form."""
        state = dict(self.__dict__)
        state["_beta"] = self._beta
        return state

    def _saved_state(self):
        """(class name, {entry name: array}) of the model's ``.npz`` file."""
        raise cannot_save(self)

    def save(self, path):
        """Write this model to an ``.npz`` file of arrays, without pickle.

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            Where to write; a path is written as given (no ``.npz`` suffix is added).

        Raises
        ------
        TypeError
            For a model that an ``.npz`` file cannot hold: a user energy (its functions
            are code; pickle it, with cloudpickle for functions defined in a script), or
            a sum with one among its terms.

        See Also
        --------
        fastebm.load : reads the file back.

        Notes
        -----
        The file holds ``format`` ("fastebm.energy"), ``format_version``, ``class``
        (the model's class name) and the model's parameter arrays (e.g. ``W``, ``b``,
        ``c`` and ``beta`` for a ``BernoulliRBM``), so that NumPy alone can read it
        (``np.load(path, allow_pickle=False)``). A sum of built-in models stores its
        terms' entries under ``0/`` and ``1/``.
        """
        class_name, arrays = self._saved_state()
        entries = {"format": np.array(SAVE_FORMAT),
                   "format_version": np.array(SAVE_FORMAT_VERSION),
                   "class": np.array(class_name), **arrays}
        if hasattr(path, "write"):
            np.savez(path, **entries)
            return
        with open(path, "wb") as file:
            np.savez(file, **entries)

    def _saved_as(self, cls, arrays):
        """(class name, arrays) for ``_saved_state`` when this energy is exactly the
        built-in ``cls``: a subclass (a user's) would load as its parent, so it raises."""
        if type(self) is not cls:
            raise cannot_save(self)
        return cls.__name__, arrays
