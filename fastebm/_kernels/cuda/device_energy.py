"""An energy as the CUDA kernels see it: its compiled module and its parameters on the
device (or, in the GPU emulation, on the host), copied there once per energy.

``DeviceEnergy(energy, dim, xp)`` reads ``energy._cuda_form()`` (``fastebm._contract.CudaForm``)
and gives ``energy_grad(xt, gt, e)`` / ``energy(xt, e)`` for every chain of column-major
points xt (d, n), through the form's pointwise kernel (``energy_rows``) or, for the
dense Gaussian, a matrix product Gᵀ = P Xᵀ (``xp.matmul``: cuBLAS or BLAS) finished by
``affine_quadratic_rows``.

A pointwise energy (a diagonal Gaussian, a Gaussian mixture, a user snippet, a sum of
energies with CUDA forms) is one function of one point, which the samplers' fused
kernels call inside their loop over steps: a run is one launch. Its parameters are one
array θ.

**Sums.** E₁ + E₂ (nested: the terms of a sum may be sums) is compiled as one pointwise
energy, not as one pass per term: the glue flattens the sum's tree into its terms, lays
their parameters end to end in one θ (each term's block starts with its β: tempering a
sum tempers its terms), and lists the terms for ``energies.cuh`` as the X-macro
``FASTEBM_SUM_TERMS(LEAF, ADD)``, with ``ADD`` in the tree's post-order so that the
values add up in the CPU's order (``fastebm/energies/compose.py``). Each user snippet of
a sum is compiled inside a namespace of its own (``fastebm_part<i>``, i the term's
index). The fused form keeps one launch per run and one read of θ per step, where one
pass per term would launch and move the chains through memory once per term. A dense
Gaussian inside a sum therefore computes P x in its thread (d² multiply-adds, the flops
of its share of a matrix product) instead of calling BLAS; alone, it keeps the matrix
product.
"""
import weakref

import numpy as np

from .build import launcher, module_source

_ON_DEVICE = weakref.WeakKeyDictionary()  # energy -> {(xp name, device): arrays}


def _device_key(xp):
    if xp is np:
        return ("numpy", None)
    return ("cupy", xp.cuda.Device().id)


def device_array(a, xp, dtype=np.float64):
    """``a`` (NumPy or ``xp``) as a C-contiguous array of ``xp`` and ``dtype``: what a
    kernel argument must be."""
    return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))


def arrays_on(model, arrays, xp, dtypes=None):
    """``arrays`` (NumPy, the model's parameters) in ``xp``, as ``dtypes`` (one per array;
    float64 by default): copied there on first use and kept with the model (an energy's
    parameters cross to a device once per dtype)."""
    dtypes = tuple(np.dtype(t) for t in (dtypes or (np.float64,) * len(arrays)))
    per_model = _ON_DEVICE.setdefault(model, {})
    key = (_device_key(xp), dtypes)
    if key not in per_model:
        per_model[key] = tuple(device_array(a, xp, t) for a, t in zip(arrays, dtypes))
    return per_model[key]


_LEAF_KINDS = {"diag_gaussian": "DIAG_GAUSSIAN", "dense_gaussian": "DENSE_GAUSSIAN",
               "mixture": "MIXTURE", "user": "USER", "user_grad": "USER_GRAD"}


def mixture_components(flat, dim):
    """K of a mixture's flat parameters [c (K), μ (K·d), P (K·d·d)]."""
    per = 1 + dim + dim * dim
    if flat.size % per:
        raise ValueError(f"a mixture's CUDA parameters have {flat.size} numbers, not a "
                         f"multiple of 1 + d + d² = {per}")
    return flat.size // per


def _flat(arrays):
    return [np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays]


def _sum_terms(form, dim, terms):
    """Append the terms of ``form``'s tree to ``terms`` (kind, K, θ block [β, params],
    snippet) and return the post-order list of ``(a, b)`` additions (term indices)."""
    if form.kind == "sum":
        first = len(terms)
        adds = _sum_terms(form.parts[0], dim, terms)
        second = len(terms)
        adds += _sum_terms(form.parts[1], dim, terms)
        return adds + [(first, second)]
    if form.kind not in _LEAF_KINDS:
        raise ValueError(f"no CUDA form of kind {form.kind!r} in a sum")
    arrays = _flat(form.arrays)
    k = mixture_components(arrays[0], dim) if form.kind == "mixture" else 0
    block = np.concatenate([[np.float64(form.beta)], *arrays])
    terms.append((_LEAF_KINDS[form.kind], k, block, form.source))
    return []


def module_parts(form, dim):
    """(``#define``s, source before ``energies.cuh``, the pointwise θ or None) of the module
    of ``form`` on ``dim``-dimensional points."""
    defines = {"FASTEBM_DIM": int(dim)}
    if form.kind == "dense_gaussian":
        return defines, "", None
    if form.kind == "diag_gaussian":
        defines["FASTEBM_ENERGY_DIAG_GAUSSIAN"] = None
        return defines, "", _flat(form.arrays)[0]
    if form.kind == "mixture":
        theta = _flat(form.arrays)[0]
        defines.update(FASTEBM_ENERGY_MIXTURE=None,
                       FASTEBM_MIXTURE_K=mixture_components(theta, dim))
        return defines, "", theta
    if form.kind in ("user", "user_grad"):
        defines["FASTEBM_ENERGY_USER"] = None
        if form.kind == "user_grad":
            defines["FASTEBM_USER_HAS_GRAD"] = None
        return defines, form.source, _flat(form.arrays)[0]
    if form.kind == "sum":
        terms = []
        adds = _sum_terms(form, dim, terms)
        offsets = np.cumsum([0] + [block.size for _, _, block, _ in terms])
        listing = [f"LEAF({i}, {kind}, {offsets[i]}, {k})"
                   for i, (kind, k, _, _) in enumerate(terms)]
        listing += [f"ADD({a}, {b})" for a, b in adds]
        defines.update({"FASTEBM_ENERGY_SUM": None,
                        "FASTEBM_SUM_TERMS(LEAF, ADD)": " ".join(listing)})
        snippets = [f"namespace fastebm_part{i} {{\n{source}\n}} // namespace fastebm_part{i}"
                    for i, (kind, _, _, source) in enumerate(terms) if kind.startswith("USER")]
        theta = np.concatenate([block for _, _, block, _ in terms])
        return defines, "\n".join(snippets), theta
    raise ValueError(f"unknown CUDA form kind {form.kind!r}")


class DeviceEnergy:
    """``energy`` on ``dim``-dimensional points held in arrays of module ``xp`` and type
    ``dtype`` (float64, or float32: the module's ``FASTEBM_REAL``). The parameters read in
    the thread (θ; a dense Gaussian's μ and Pμ) are float64 either way; a dense Gaussian's
    P, an operand of the matrix product, has the points' dtype."""

    def __init__(self, energy, dim, xp, dtype=np.float64):
        form = energy._cuda_form()
        self.xp, self.dim, self.kind, self.beta = xp, dim, form.kind, np.float64(form.beta)
        self.dtype = np.dtype(dtype)
        self.pointwise = form.kind != "dense_gaussian"
        defines, source, theta = module_parts(form, dim)
        self.launch = launcher(xp, module_source(defines, source, self.dtype))
        if theta is None:  # the dense Gaussian's (μ, P, Pμ)
            self.arrays = arrays_on(energy, form.arrays, xp,
                                    (np.float64, self.dtype, np.float64))
        else:
            self.arrays = arrays_on(energy, (theta,), xp)

    @property
    def theta(self):
        """The pointwise kernels' parameter array (θ of a user energy, [μ, p] of a diagonal
        Gaussian, [c, μ, P] of a mixture, the terms' [β, parameters] of a sum)."""
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
