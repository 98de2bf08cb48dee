"""An energy as the CUDA kernels see it: its compiled module and its parameters on the
device (or, in the GPU emulation, on the host), copied there once per energy.

``DeviceEnergy(energy, dim, xp)`` reads ``energy._cuda_form()`` (``fastebm._contract.CudaForm``)
and gives ``energy_grad(xt, gt, e)`` / ``energy(xt, e)`` for every chain of column-major
points xt (d, n), through the form's pointwise kernel (``energy_rows``) or, for the
dense Gaussian, a matrix product Gᵀ = P Xᵀ (``xp.matmul``: cuBLAS or BLAS) finished by
``affine_quadratic_rows``.
"""
import weakref

import numpy as np

from .build import launcher, module_source

_ON_DEVICE = weakref.WeakKeyDictionary()  # energy -> {(xp name, device): arrays}


def _device_key(xp):
    if xp is np:
        return ("numpy", None)
    return ("cupy", xp.cuda.Device().id)


def arrays_on(model, arrays, xp):
    """``arrays`` (NumPy, the model's parameters) in ``xp``: copied there on first use and
    kept with the model (an energy's parameters cross to a device once)."""
    per_model = _ON_DEVICE.setdefault(model, {})
    key = _device_key(xp)
    if key not in per_model:
        per_model[key] = tuple(xp.ascontiguousarray(xp.asarray(a, dtype=np.float64))
                               for a in arrays)
    return per_model[key]


def _defines(form, dim):
    defines = {"FASTEBM_DIM": int(dim)}
    if form.kind == "diag_gaussian":
        defines["FASTEBM_ENERGY_DIAG_GAUSSIAN"] = None
    elif form.kind in ("user", "user_grad"):
        defines["FASTEBM_ENERGY_USER"] = None
        if form.kind == "user_grad":
            defines["FASTEBM_USER_HAS_GRAD"] = None
    return defines


class DeviceEnergy:
    """``energy`` on ``dim``-dimensional points held in arrays of module ``xp``."""

    def __init__(self, energy, dim, xp):
        form = energy._cuda_form()
        self.xp, self.dim, self.kind, self.beta = xp, dim, form.kind, np.float64(form.beta)
        self.pointwise = form.kind != "dense_gaussian"
        self.launch = launcher(xp, module_source(_defines(form, dim), form.source))
        self.arrays = arrays_on(energy, form.arrays, xp)

    @property
    def theta(self):
        """The pointwise kernels' parameter array (θ of a user energy, [μ, p] of a diagonal
        Gaussian)."""
        return self.arrays[0]

    def energy_grad(self, xt, gt, e):
        """e[i] = E(x_i) and column i of gt = ∇E(x_i), for the columns of xt (d, n)."""
        n = xt.shape[1]
        if self.pointwise:
            self.launch("energy_rows", n, xt, gt, e, self.theta, self.beta, np.int32(1))
            return
        mean, precision, shift = self.arrays
        self.xp.matmul(precision, xt, out=gt)
        self.launch("affine_quadratic_rows", n, xt, gt, mean, shift,
                    np.float64(0.0), self.beta, e)

    def energy(self, xt, e, scratch=None):
        """e[i] = E(x_i) for the columns of xt (the dense Gaussian uses ``scratch`` (d, n)
        for its product)."""
        if self.pointwise:
            self.launch("energy_rows", xt.shape[1], xt, xt, e, self.theta, self.beta,
                        np.int32(0))
        else:
            self.energy_grad(xt, self.xp.empty_like(xt) if scratch is None else scratch, e)
