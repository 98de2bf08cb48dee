"""The CUDA backend's runners: the same protocol as the Numba runners
(``fastebm._kernels.numba.runners``), over arrays of module ``xp``.

The glue is written once: ``xp`` is CuPy for CuPy arrays (kernels launched on the
device) and NumPy in the GPU emulation (the same kernels built for the host,
``fastebm.backend.emulate_gpu``). Which one is decided by the type of the positions the
runner is given. The driver's small arrays (step sizes, dual-averaging states, the
preconditioner) stay NumPy and are copied to ``xp`` per call; positions, energies,
gradients, counters and kept draws stay in ``xp``.

Precision: the samplers' chain arrays have the dtype of the positions they are given,
float32 or float64 (``_Chains.dtype``), and run the module built for it (``common.cuh``:
float64 arithmetic in the thread, float32 storage and float32 matrix products);
``fastebm.samplers`` gives float32 positions where the caller passed float32
(``Backend.float32_kernels``). Energies, step sizes and adaptation states stay float64.

The kernels keep the chains column-major (``xt`` of shape (d, n): a warp's threads, one
per chain, then read adjacent addresses; row-major rows measured 10× slower on an H200
for MALA at d = 100). The runner shows the protocol's row-major views (``x``, ``g``) and
returns kept draws (n_draws, n, d) and moments (n, d) as the other backend does.

Importance sampling and resampling (``importance.cu``): a proposal's draws and log
densities one thread a draw, the energies of the draws through ``DeviceEnergy``, and the
resampling schemes as Philox uniforms from a kernel and cumulative sums and searches
through ``xp`` (``proposal_draws``, ``proposal_log_density``, ``importance_draws``,
``resample``). A proposal's module is CuPy when it was built from CuPy arrays, else NumPy
(the emulation).

Annealed importance sampling (``ais.cu``): ``Annealer``, the Numba backend's protocol,
one launch per call that takes every chain through the given temperatures in its thread.
AIS of an RBM (``discrete_ais_log_weights``, ``rbm.cu``): the products through
``xp.matmul``, the weight increments and the Gibbs draws in kernels, one temperature at
a time; Ising models' AIS has no CUDA kernels yet.

Algorithms without CUDA kernels yet are named by ``__getattr__``: asking for one raises
``BackendUnavailableError`` instead of running anything on another backend.
"""
import math
import sys

import numpy as np

from ..._contract import (PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE, RECORD_DRAWS,
                          RECORD_MOMENTS, RECORD_NONE, TAG_MULTINOMIAL, TAG_NOISE,
                          TAG_PROPOSAL, TAG_RBM_HIDDEN,
                          TAG_RBM_INIT, TAG_RBM_VISIBLE, TAG_RESIDUAL, TAG_STRATIFIED,
                          TAG_SYSTEMATIC, BackendUnavailableError, GaussianProposalParams,
                          IsingDenseParams, IsingLatticeParams, MixtureProposalParams,
                          RBMParams, StudentTProposalParams,
                          UniformProposalParams)
from ..moments import chunk_moments
from .build import launcher, module_source
from .device_energy import DeviceEnergy, arrays_on, device_array

def array_module(x):
    """CuPy for a CuPy array, else NumPy."""
    if type(x).__module__.split(".")[0] == "cupy":
        return sys.modules["cupy"]
    return np


def to_numpy(a):
    """A NumPy copy (or the array itself) of an array of either module."""
    return a if isinstance(a, np.ndarray) else a.get()


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise BackendUnavailableError(
        f"the CUDA backend has no {name} yet (it runs mala, langevin and metropolis (random "
        "walk and independent proposals) on Gaussian and user CUDA energies, gibbs on RBMs "
        "and lattices, "
        "importance_sample, importance_resample and resample with Gaussian, Uniform, "
        "StudentT and Mixture proposals, ais and reverse_ais of continuous energies from "
        "Gaussian and Uniform bases with mala, ula or rwm moves, and ais of Bernoulli and "
        "Gaussian-Bernoulli RBMs (not of Ising models)): pass NumPy arrays "
        "(and proposals built from NumPy arrays), outside fastebm.backend.emulate_gpu(), to "
        "run this on the CPU")


def energy_and_grad(energy, x, grad=True):
    """(E (n,), ∇E (n, d) or None) of the rows of x through the CUDA kernels."""
    xp = array_module(x)
    dev = DeviceEnergy(energy, x.shape[1], xp)
    xt = xp.ascontiguousarray(x.T)
    e, gt = xp.empty(x.shape[0]), xp.empty_like(xt)
    if grad:
        dev.energy_grad(xt, gt, e)
        return e, xp.ascontiguousarray(gt.T)
    dev.energy(xt, e, gt)
    return e, None


def _preconditioner(inverse_mass, dim, xp):
    """(mode, √diag Σ (d,), lower Cholesky factor L (d, d)) in ``xp``, from NumPy Σ."""
    if inverse_mass is None:
        mode, scale, chol = PRECOND_NONE, np.ones(dim), np.eye(dim)
    elif np.ndim(inverse_mass) == 1:
        mode, scale, chol = PRECOND_DIAG, np.sqrt(inverse_mass), np.eye(dim)
    else:
        mode, scale, chol = (PRECOND_DENSE, np.ones(dim),
                             np.ascontiguousarray(np.linalg.cholesky(inverse_mass)))
    return mode, xp.asarray(scale), xp.asarray(chol)


def ensure_fits(n_draws, n, d, free_bytes, itemsize=8):
    """Raise before allocating kept draws (n_draws, n, d) of ``itemsize`` bytes each (8:
    float64, 4: float32) that would not fit in ``free_bytes`` of device memory (CuPy would
    fail mid-run instead). The kernels write them column-major and the runner returns them
    row-major: twice their size at the end."""
    need = 2 * itemsize * n_draws * n * d
    if need > free_bytes:
        raise MemoryError(
            f"keeping {n_draws} draws of {n} chains x {d} needs {need / 2**30:.2f} GiB, and the "
            f"device has {free_bytes / 2**30:.2f} GiB free: keep fewer draws (thin=...), or "
            'keep="moments" (per-chain running mean and variance) instead')


class _Records:
    """What a call keeps: draws (n_draws, d, n) in the chains' dtype, or running mean and
    M2 (d, n) in float64 (float32 sums would stall over a long run), or nothing;
    ``kept()`` gives them as the protocol does: (n_draws, n, d), ((n, d), (n, d)) or None.

    ``into`` = (draws, first) or ((mean, M2), first), row-major, continues the buffers of a
    run split into calls: the call's draws are copied to rows [first, first + k) of
    ``draws``, and its moments continue from the ``first`` states already in (mean, M2)
    (the kernels' slot ``first`` onward), written back in place."""

    def __init__(self, xp, n_steps, thin, n, d, keep_draws, keep_moments, into=None,
                 dtype=np.float64):
        if keep_draws and xp is not np:
            ensure_fits(n_steps // thin, n, d, xp.cuda.runtime.memGetInfo()[0],
                        np.dtype(dtype).itemsize)
        self.xp = xp
        self.mode = (RECORD_DRAWS if keep_draws else RECORD_MOMENTS if keep_moments
                     else RECORD_NONE)
        self.thin = thin
        self.into = None if self.mode == RECORD_NONE else into
        self.draws = xp.empty((n_steps // thin if keep_draws else 0, d, n), dtype=dtype)
        self.first = 0  # the kernels' first slot: draws go to this call's own buffer
        if self.into is not None and self.mode == RECORD_MOMENTS:
            (mean, m2), self.first = self.into
            self.mean, self.m2 = xp.ascontiguousarray(mean.T), xp.ascontiguousarray(m2.T)
        else:
            self.mean = xp.zeros((d, n) if keep_moments else (0, n))
            self.m2 = xp.zeros_like(self.mean)

    def slot(self, s):
        """The slot step s (0-based, of this call) records into, or -1."""
        if self.mode == RECORD_NONE or (s + 1) % self.thin:
            return -1
        return self.first + (s + 1) // self.thin - 1

    def args(self):
        return np.int32(self.mode), self.draws, self.mean, self.m2

    def kept(self):
        row_major = self.xp.ascontiguousarray
        if self.mode == RECORD_DRAWS:
            draws = self.draws.transpose(0, 2, 1)
            if self.into is None:
                return row_major(draws)
            out, first = self.into
            out[first:first + draws.shape[0]] = draws
            return out
        if self.mode == RECORD_MOMENTS:
            if self.into is None:
                return row_major(self.mean.T), row_major(self.m2.T)
            (mean, m2), _ = self.into
            mean[...], m2[...] = self.mean.T, self.m2.T
            return mean, m2
        return None


class _Chains:
    """Positions (column-major ``xt``), streams and per-chain counters in ``xp``. The
    chain arrays have x's dtype when it is float32 (the kernels' float32 build,
    ``common.cuh``), else float64."""

    def __init__(self, x, key, step, first_chain):
        self.xp = xp = array_module(x)
        self.dtype = np.dtype(np.float32 if x.dtype == np.float32 else np.float64)
        self.xt = xp.ascontiguousarray(x.T, dtype=self.dtype)
        self.n_chains, self.dim = x.shape
        self.key, self.step, self.first_chain = key, step, first_chain
        self.n_accepted = xp.zeros(self.n_chains, dtype=np.int64)
        self.n_divergent = xp.zeros(self.n_chains, dtype=np.int64)
        # the kernels' stream arguments (k0, k1, first chain), as the C types they take
        self.streams = (np.uint32(key[0]), np.uint32(key[1]), np.uint32(first_chain))

    @property
    def x(self):
        """The positions (n, d) (a view of the column-major ``xt``)."""
        return self.xt.T

    def _adaptation(self, adapt_state):
        """(adapt flag, the dual-averaging states as (5, n) in ``xp``)."""
        if adapt_state is None:
            return np.int32(0), self.xp.zeros((5, 1))
        return np.int32(1), self.xp.ascontiguousarray(self.xp.asarray(adapt_state).T)

    @staticmethod
    def _adapted(adapt_state, on_xp):
        """Copy the adapted states back into the driver's NumPy array (n, 5)."""
        if adapt_state is not None:
            adapt_state[...] = to_numpy(on_xp).T

    def chunk_moments(self, kept, kind, chunk):
        """The moments of the finite states in ``kept`` (a burn-in window's draws,
        (n_draws, n, d)) by chunks of ``chunk`` chains: ``fastebm._kernels.moments``."""
        return chunk_moments(kept, self.dim, kind, chunk, self.xp, to_numpy)


class _EnergyChains(_Chains):
    """``_Chains`` of a continuous energy, with its device form and module."""

    def __init__(self, energy, x, key, step, first_chain):
        super().__init__(x, key, step, first_chain)
        self.energy_form = DeviceEnergy(energy, self.dim, self.xp, self.dtype)
        self.launch = self.energy_form.launch

    def records(self, n_steps, thin, keep_draws, keep_moments, into):
        """The ``_Records`` of a call of ``n_steps`` steps."""
        return _Records(self.xp, n_steps, thin, self.n_chains, self.dim, keep_draws,
                        keep_moments, into, self.dtype)


class LangevinRunner(_EnergyChains):
    """All chains of a ULA or MALA run (``metropolize``) in the CUDA kernels of
    ``langevin.cu``: every step in one launch for a pointwise energy without a dense
    preconditioner, else three launches (and the products through ``xp.matmul``) a step.

    ``store_noise``: in the three-launch step, MALA's accept reads the noise that the
    proposal stored (True) or draws it again from its counter (False); the same numbers
    either way. Storing measured 1.19-1.21x faster on an H200 (d = 100, 10⁵ and 10⁶
    chains: writing and reading 8d bytes a chain costs less than 50 more Philox blocks
    and ziggurat draws; bench/gpu/bench_gpu.py).
    """

    store_noise = True

    def __init__(self, energy, x, key, step, first_chain, *, metropolize, target,
                 inverse_mass=None, energy_start=None, diverged=None, work=0):
        super().__init__(energy, x, key, step, first_chain)
        xp, n, d = self.xp, self.n_chains, self.dim
        self.metropolize, self.target = metropolize, target
        self.e, self.gt = xp.empty(n), xp.empty((d, n), dtype=self.dtype)
        self.energy_form.energy_grad(self.xt, self.gt, self.e)
        self.e_start = self.e.copy() if energy_start is None else xp.asarray(
            energy_start, dtype=np.float64).copy()
        self.stopped = (xp.zeros(n, dtype=np.uint8) if diverged is None
                        else xp.asarray(diverged).astype(np.uint8))
        self._scratch = None
        self.set_inverse_mass(inverse_mass)

    @property
    def g(self):
        """∇E at the positions (n, d) (a view)."""
        return self.gt.T

    @property
    def diverged(self):
        """Which ULA chains have stopped (bool); the kernels keep it as bytes."""
        return self.stopped.astype(bool)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass
        self.mode, self.scale, chol = _preconditioner(inverse_mass, self.dim, self.xp)
        self.chol = chol.astype(self.dtype, copy=False)  # an operand of xp.matmul
        if self.mode == PRECOND_DENSE:  # u = Lᵀ∇E, column by column
            self.ut = self.xp.ascontiguousarray(self.chol.T @ self.gt)
        elif self.mode == PRECOND_DIAG:
            self.ut = (self.gt * self.scale[:, None]).astype(self.dtype)
        else:
            self.ut = self.gt  # the kernels then keep u and g as one array

    @property
    def fused(self):
        """Whether a call runs every step in one launch."""
        return self.energy_form.pointwise and self.mode != PRECOND_DENSE

    def advance(self, n_steps, step_size, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` steps; returns kept draws, (mean, M2), or None (in ``xp``)."""
        xp = self.xp
        rec = self.records(n_steps, thin, keep_draws, keep_moments, into)
        h = device_array(step_size, xp)
        adapt, state = self._adaptation(adapt_state)
        k0, k1, chain0 = self.streams
        flags = (np.int32(self.metropolize), adapt, np.float64(self.target), np.int32(self.mode))
        if self.fused:
            mode, draws, mean, m2 = rec.args()
            self.launch("langevin_fused", self.n_chains, k0, k1, chain0, np.uint32(self.step),
                        np.uint32(n_steps), *flags, h, self.e_start, self.stopped, self.xt,
                        self.e, self.gt, self.ut, self.scale, state, self.n_accepted,
                        self.n_divergent, mode, np.int64(thin), np.int64(rec.first), draws,
                        mean, m2, self.energy_form.theta, self.energy_form.beta)
        else:
            for s in range(n_steps):
                self._step(np.uint32(self.step + s), flags, h, state, rec, rec.slot(s))
        self._adapted(adapt_state, state)
        self.step += n_steps
        return rec.kept()

    def _buffers(self):
        if self._scratch is None:
            xp, n, d = self.xp, self.n_chains, self.dim
            self._scratch = {name: xp.empty((d, n), dtype=self.dtype)
                             for name in ("y", "g_y", "u_y", "v")}
            # the noise stays float64: MALA's accept reads the very numbers the proposal drew
            self._scratch["xi"] = xp.empty((d, n) if self.store_noise else (1, 1))
            self._scratch.update(e_y=xp.empty(n), h_now=xp.empty(n))
        return self._scratch

    def _step(self, step, flags, h, state, rec, slot):
        """One step in three launches: propose, energy and gradient, accept."""
        b, n = self._buffers(), self.n_chains
        k0, k1, chain0 = self.streams
        metropolize, adapt, target, mode = flags
        dense = self.mode == PRECOND_DENSE
        store = np.int32(self.store_noise and (self.metropolize or adapt))
        self.launch("langevin_propose", n, k0, k1, chain0, step, mode, adapt, h, state,
                    b["h_now"], self.xt, self.ut, self.scale, b["v"] if dense else b["y"],
                    store, b["xi"])
        if dense:  # yᵀ = L vᵀ + xᵀ
            self.xp.matmul(self.chol, b["v"], out=b["y"])
            b["y"] += self.xt
        self.energy_form.energy_grad(b["y"], b["g_y"], b["e_y"])
        u_y = b["u_y"] if self.mode != PRECOND_NONE else b["g_y"]
        if dense:
            self.xp.matmul(self.chol.T, b["g_y"], out=u_y)
        rec_mode, draws, mean, m2 = rec.args()
        self.launch("langevin_accept", n, k0, k1, chain0, step, metropolize, adapt, target,
                    mode, np.int32(self.mode != PRECOND_NONE), b["h_now"], self.e_start,
                    self.stopped, self.xt, self.e, self.gt, self.ut, b["y"], b["e_y"],
                    b["g_y"], u_y, self.scale, state, self.n_accepted, self.n_divergent,
                    rec_mode, np.int64(slot), draws, mean, m2, store, b["xi"])


class MetropolisRunner(_EnergyChains):
    """All chains of a Metropolis run in the CUDA kernels of ``metropolis.cu``: the random
    walk (``proposal=None``), or an independent proposal q (Gaussian, Uniform, StudentT or
    Mixture), drawn by ``importance.cu``'s kernels on (chain, step, TAG_NOISE) as on the
    CPU. A proposal must live where the chains do (built from CuPy arrays for CuPy
    chains, from NumPy arrays in the emulation); ``log_q`` is log q at the positions
    (NumPy, for the caller's check of the start)."""

    def __init__(self, energy, x, key, step, first_chain, *, proposal=None, target,
                 inverse_mass=None, work=0):
        super().__init__(energy, x, key, step, first_chain)
        self.proposal, self.target = proposal, target
        self.e = self.xp.empty(self.n_chains)
        self.energy_form.energy(self.xt, self.e)
        self._scratch = None
        if proposal is not None:
            if proposal._on_device != (self.xp is not np):
                raise BackendUnavailableError(
                    "the proposal and the chains live on different devices: build the "
                    "proposal from arrays of the chains' kind (CuPy for CuPy chains)")
            self._proposal = _DeviceProposal(proposal, self.xp)
            self.log_q_ = self.xp.empty(self.n_chains)
            self._proposal.log_density(self.launch, self.xt, self.log_q_)
        self.set_inverse_mass(inverse_mass)

    @property
    def log_q(self):
        """log q at the positions, NumPy (independent proposals only)."""
        return to_numpy(self.log_q_)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass
        self.mode, self.scale, self.chol = _preconditioner(inverse_mass, self.dim, self.xp)

    def advance(self, n_steps, scale, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` steps; returns kept draws, (mean, M2), or None (in ``xp``)."""
        xp = self.xp
        rec = self.records(n_steps, thin, keep_draws, keep_moments, into)
        sigma = device_array(scale, xp)
        adapt, state = self._adaptation(adapt_state)
        k0, k1, chain0 = self.streams
        walk = (np.int32(self.mode), adapt, np.float64(self.target))
        if self.proposal is not None:
            for s in range(n_steps):
                self._independent_step(np.uint32(self.step + s), rec, rec.slot(s))
        elif self.energy_form.pointwise:
            mode, draws, mean, m2 = rec.args()
            self.launch("random_walk_fused", self.n_chains, k0, k1, chain0,
                        np.uint32(self.step), np.uint32(n_steps), *walk, sigma, self.xt,
                        self.e, self.scale, self.chol, state, self.n_accepted,
                        self.n_divergent, mode, np.int64(thin), np.int64(rec.first), draws,
                        mean, m2, self.energy_form.theta, self.energy_form.beta)
        else:
            for s in range(n_steps):
                self._step(np.uint32(self.step + s), walk, sigma, state, rec, rec.slot(s))
        self._adapted(adapt_state, state)
        self.step += n_steps
        return rec.kept()

    def _buffers(self):
        """(y, the dense energy's product, E(y), log q(y)): a step's scratch."""
        if self._scratch is None:
            xp, n, d = self.xp, self.n_chains, self.dim
            self._scratch = (xp.empty((d, n), dtype=self.dtype),
                             xp.empty((d, n), dtype=self.dtype), xp.empty(n), xp.empty(n))
        return self._scratch

    def _independent_step(self, step, rec, slot):
        """One independent-proposal step in three launches: draw, energy, accept."""
        y, product, e_y, log_q_y = self._buffers()
        n = self.n_chains
        k0, k1, chain0 = self.streams
        self._proposal.draw(self.launch, n, (k0, k1), chain0, step, y, log_q_y, TAG_NOISE)
        if self.dtype != np.float64:  # q at the draw as stored (rounded): -inf is rejected
            self._proposal.log_density(self.launch, y, log_q_y)
        self.energy_form.energy(y, e_y, product)
        rec_mode, draws, mean, m2 = rec.args()
        self.launch("independent_accept", n, k0, k1, chain0, step, self.xt, self.e,
                    self.log_q_, y, e_y, log_q_y, self.n_accepted, self.n_divergent,
                    rec_mode, np.int64(slot), draws, mean, m2)

    def _step(self, step, walk, sigma, state, rec, slot):
        """One step in three launches: propose, energy, accept."""
        y, product, e_y, _ = self._buffers()
        n = self.n_chains
        k0, k1, chain0 = self.streams
        mode, adapt, target = walk
        self.launch("random_walk_propose", n, k0, k1, chain0, step, mode, adapt, sigma, state,
                    self.xt, self.scale, self.chol, y)
        self.energy_form.energy(y, e_y, product)
        rec_mode, draws, mean, m2 = rec.args()
        self.launch("random_walk_accept", n, k0, k1, chain0, step, adapt, target, self.xt,
                    self.e, y, e_y, state, self.n_accepted, self.n_divergent, rec_mode,
                    np.int64(slot), draws, mean, m2)


class GibbsRunner(_Chains):
    """All chains of a Gibbs run on an RBM (``rbm.cu``) or a periodic Ising lattice
    (``ising.cu``). An RBM sweep: the products W'v and Wh through ``xp.matmul`` (cuBLAS on a
    device) and the fused sigmoid and Bernoulli (or Gaussian) draws of each layer. A
    lattice sweep: two half-sweeps of one thread per (site, chain) when L and M are even
    (checkerboard), else a sequential sweep per chain. Ising models with a dense J have no
    CUDA kernels yet."""

    def __init__(self, model, x, key, step, first_chain):
        form = model._gibbs_form()
        if not isinstance(form, (RBMParams, IsingLatticeParams)):
            raise BackendUnavailableError(
                f"{type(model).__name__} with dense couplings has no CUDA Gibbs kernels yet "
                "(RBMs and lattices have): pass NumPy arrays to run it on the CPU")
        super().__init__(x, key, step, first_chain)
        xp = self.xp
        self.inverse_mass = None
        self.launch = launcher(xp, module_source({"FASTEBM_DIM": self.dim}, dtype=self.dtype))
        if isinstance(form, RBMParams):
            # column-major chains: pre_hᵀ = Wᵀ vᵀ (hidden half), pre_vᵀ = (the form's Wᵀ)ᵀ hᵀ
            # (visible half; the two differ for Gaussian visibles); the matrices in the
            # chains' dtype (sgemm for float32 chains), the biases float64
            self.hidden_matrix, self.visible_matrix, self.b, self.c, self.sigma = arrays_on(
                model, (form.W.T, form.WT.T, form.b, form.c, form.sigma), xp,
                (self.dtype, self.dtype, np.float64, np.float64, np.float64))
            self.gaussian = bool(form.gaussian)
            n_hid = self.hidden_matrix.shape[0]
            self._scratch = tuple(xp.empty((units, self.n_chains), dtype=self.dtype)
                                  for units in (n_hid, n_hid, self.dim))
            self._sweep = self._rbm_sweep
        else:
            self.lattice = form
            self.q = xp.asarray(lattice_thresholds(form.coupling, form.field))
            self._sweep = self._lattice_sweep

    def set_inverse_mass(self, inverse_mass):
        raise TypeError("Gibbs sampling has no preconditioner")

    def advance(self, n_steps, step_size=None, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` sweeps; returns kept draws, (mean, M2), or None (in ``xp``)."""
        n = self.n_chains
        rec = _Records(self.xp, n_steps, thin, n, self.dim, keep_draws, keep_moments, into,
                       self.dtype)
        for s in range(n_steps):
            self._sweep(self.streams, np.uint32(self.step + s))
            slot = rec.slot(s)
            if slot >= 0:
                mode, draws, mean, m2 = rec.args()
                self.launch("record_rows", n, np.int32(self.dim), mode, np.int64(slot), self.xt,
                            draws, mean, m2)
        self.n_accepted += n_steps  # a Gibbs sweep always moves
        self.step += n_steps
        return rec.kept()

    def _rbm_sweep(self, streams, step):
        """h ~ p(h | v) on (chain, step, TAG_RBM_HIDDEN), then v ~ p(v | h) on TAG_RBM_VISIBLE."""
        xp, n = self.xp, self.n_chains
        pre_h, ht, pre_v = self._scratch
        n_hid, n_vis = np.int32(pre_h.shape[0]), np.int32(self.dim)
        xp.matmul(self.hidden_matrix, self.xt, out=pre_h)
        self.launch("rbm_bernoulli", n, n_hid, pre_h, self.c, np.float64(1.0), *streams, step,
                    np.uint32(TAG_RBM_HIDDEN), ht)
        xp.matmul(self.visible_matrix, ht, out=pre_v)
        if self.gaussian:
            self.launch("rbm_gaussian", n, n_vis, pre_v, self.b, self.sigma, *streams, step,
                        np.uint32(TAG_RBM_VISIBLE), self.xt)
        else:
            self.launch("rbm_bernoulli", n, n_vis, pre_v, self.b, np.float64(1.0), *streams, step,
                        np.uint32(TAG_RBM_VISIBLE), self.xt)

    def _lattice_sweep(self, streams, step):
        """One heat-bath sweep of every lattice on (chain, step, TAG_ISING_SWEEP)."""
        L, M, _, _, checkerboard = self.lattice
        n = self.n_chains
        if checkerboard:
            for parity in (0, 1):
                self.launch("ising_half_sweep", n * (L * M // 2), np.uint64(n), np.int32(L),
                            np.int32(M), np.int32(parity), self.q, *streams, step, self.xt)
        else:
            self.launch("ising_sequential_sweep", n, np.int32(L), np.int32(M), self.q, *streams,
                        step, self.xt)


def lattice_thresholds(coupling, field):
    """q[k] = 1 + exp(-2(coupling (2k - 4) + field)), k = 0..4: the heat-bath thresholds of
    the five neighbour sums, with the C library's exp (as the Numba kernels')."""
    return np.array([1.0 + math.exp(-2.0 * (coupling * (2.0 * k - 4.0) + field))
                     for k in range(5)])


# --- importance sampling and resampling (importance.cu) --------------------------------


def _proposal_module(proposal):
    """The array module of a proposal's calls: CuPy for a proposal built from CuPy arrays
    (``Proposal._on_device``), else NumPy (the GPU emulation)."""
    return sys.modules["cupy"] if proposal._on_device else np


def _plain_launcher(xp, dim):
    """The launcher of a module without an energy, for points of dimension ``dim``."""
    return launcher(xp, module_source({"FASTEBM_DIM": int(dim)}))


class _DeviceProposal:
    """A proposal as ``importance.cu`` sees it: its kind, its parameter arrays in ``xp``
    (copied there once per proposal, as an energy's) and its scalars (read per call).

    Gaussian: (μ, L) and log_norm; Uniform: (low, high) and log_norm; Student-t: (μ, L),
    ν and log_norm; Mixture: (log w, cumulative w, means (K, d), Cholesky factors
    (K, d, d), ν (K; inf for a Gaussian component), log_norms) and K.
    """

    def __init__(self, proposal, xp):
        pp = proposal._params()
        if isinstance(pp, GaussianProposalParams):
            self.kind, arrays = "gaussian", (pp.mean, pp.chol)
            self.scalars = (np.float64(pp.log_norm),)
        elif isinstance(pp, UniformProposalParams):
            self.kind, arrays = "uniform", (pp.low, pp.high)
            self.scalars = (np.float64(pp.log_norm),)
        elif isinstance(pp, StudentTProposalParams):
            self.kind, arrays = "student_t", (pp.mean, pp.chol)
            self.scalars = (np.float64(pp.df), np.float64(pp.log_norm))
        elif isinstance(pp, MixtureProposalParams):
            self.kind = "mixture"
            arrays = (pp.log_weights, pp.cum_weights, pp.means, pp.chols, pp.dfs, pp.log_norms)
            self.scalars = (np.int32(pp.log_weights.shape[0]),)
        else:
            raise BackendUnavailableError(
                f"{type(proposal).__name__} proposals have no CUDA kernels (Gaussian, Uniform, "
                "StudentT and Mixture have): pass a proposal built from NumPy arrays, outside "
                "fastebm.backend.emulate_gpu(), to run this on the CPU")
        self.arrays = arrays_on(proposal, arrays, xp)

    def draw(self, launch, n, key, first_chain, step, xt, log_q, tag=TAG_PROPOSAL):
        """Column i of xt (d, n) ~ q from stream (first_chain + i, step, tag), and its log q
        into log_q[i]."""
        head = (np.uint32(key[0]), np.uint32(key[1]), np.uint32(first_chain), np.uint32(step),
                np.uint32(tag))
        if self.kind == "mixture":
            launch("proposal_mixture_draws", n, *head, *self.scalars, *self.arrays, xt, log_q)
        else:
            launch(f"proposal_{self.kind}_draws", n, *head, *self.arrays, *self.scalars, xt,
                   log_q)

    def log_density(self, launch, xt, out):
        """out[i] = log q of column i of xt (d, n)."""
        n = xt.shape[1]
        if self.kind == "mixture":
            log_w, _, means, chols, dfs, log_norms = self.arrays
            launch("proposal_mixture_log_density", n, *self.scalars, log_w, means, chols, dfs,
                   log_norms, xt, out)
        elif self.kind == "uniform":
            launch("proposal_uniform_log_density", n, *self.arrays, *self.scalars, xt, out)
        else:  # a Gaussian is the component with ν = inf
            scalars = self.scalars if self.kind == "student_t" else (np.float64(np.inf),
                                                                      *self.scalars)
            launch("proposal_component_log_density", n, *self.arrays, *scalars, xt, out)


def proposal_draws(proposal, n, dim, key, first_chain=0, step=0):
    """n draws (n, dim) of a proposal and their log densities (n,) in the proposal's
    module; draw i is the stream (first_chain + i, step, TAG_PROPOSAL), as on the CPU."""
    xp = _proposal_module(proposal)
    xt, log_q = xp.empty((dim, n)), xp.empty(n)
    _DeviceProposal(proposal, xp).draw(_plain_launcher(xp, dim), n, key, first_chain, step,
                                       xt, log_q)
    return xp.ascontiguousarray(xt.T), log_q


def proposal_log_density(proposal, x):
    """log q(x) (n,) of a proposal at the points x (n, d), in x's module."""
    xp = array_module(x)
    out = xp.empty(x.shape[0])
    _DeviceProposal(proposal, xp).log_density(_plain_launcher(xp, x.shape[1]),
                                              xp.ascontiguousarray(x.T), out)
    return out


def importance_draws(energy, proposal, n, key, first_chain=0):
    """(draws (n, d), log q (n,), E (n,)) in the proposal's module: n draws of the
    proposal (draw i on stream (first_chain + i, 0, TAG_PROPOSAL)), drawn column-major
    and evaluated in the energy's module (``DeviceEnergy``)."""
    xp, d = _proposal_module(proposal), proposal.dim
    energy_form = DeviceEnergy(energy, d, xp)
    xt, log_q, e = xp.empty((d, n)), xp.empty(n), xp.empty(n)
    _DeviceProposal(proposal, xp).draw(energy_form.launch, n, key, first_chain, 0, xt, log_q)
    energy_form.energy(xt, e)
    return xp.ascontiguousarray(xt.T), log_q, e


def _uniforms(launch, xp, key, tag, n):
    """Uniforms 0..n-1 of (chain 0, step 0, tag): the Numba kernels' fill_uniforms."""
    out = xp.empty(n)
    launch("philox_uniforms", n, np.uint32(key[0]), np.uint32(key[1]), np.uint32(0),
           np.uint32(0), np.uint32(tag), out)
    return out


def _sorted_uniforms(launch, xp, key, tag, n):
    """n sorted iid uniforms without a sort (Bentley & Saxe 1980): U_(j) =
    exp(Σ_{m ≥ j} log(u_m) / (m + 1)), the terms and exp in a kernel (the C library's log
    and exp, as the Numba kernels), the suffix sums by ``xp.cumsum`` (in order on the host:
    the Numba kernel's running sum, bit for bit)."""
    terms = xp.empty(n)
    launch("sorted_uniform_log_terms", n, np.uint32(key[0]), np.uint32(key[1]),
           np.uint32(tag), terms)
    out = xp.ascontiguousarray(xp.cumsum(terms[::-1])[::-1])
    launch("exp_in_place", n, out)
    return out


def _inverse_cdf(xp, points, weights):
    """a_k = min{j : u_k ≤ W_j} with W the cumulative weights, capped at the last positive
    weight (so that a point above the rounded total never picks a zero weight): the Numba
    kernels' merge as ``xp.cumsum`` and ``xp.searchsorted``."""
    positive = xp.flatnonzero(weights > 0.0)
    last = int(positive[-1]) if positive.shape[0] else 0
    totals = xp.cumsum(weights)
    return xp.minimum(xp.searchsorted(totals, points, side="left"), last).astype(np.int64)


def resample(method, key, weights, n):
    """n indices (int64, in ``weights``' module) drawn from normalized ``weights`` by
    ``method``, on the streams of the Numba backend's schemes (see fastebm.resampling):
    multinomial (sorted uniforms), systematic ((u + k) / n), stratified ((u_k + k) / n),
    residual (⌊n wᵢ⌋ copies, then multinomial on the rest)."""
    xp = array_module(weights)
    launch = _plain_launcher(xp, 1)
    if method == "systematic":
        u = _uniforms(launch, xp, key, TAG_SYSTEMATIC, 1)
        return _inverse_cdf(xp, (u[0] + xp.arange(n)) / n, weights)
    if method == "stratified":
        u = _uniforms(launch, xp, key, TAG_STRATIFIED, n)
        return _inverse_cdf(xp, (u + xp.arange(n)) / n, weights)
    if method == "multinomial":
        return _inverse_cdf(xp, _sorted_uniforms(launch, xp, key, TAG_MULTINOMIAL, n), weights)
    if method == "residual":
        scaled = n * weights
        copies = xp.floor(scaled)
        n_rest = n - int(copies.sum())
        rest = (scaled - copies) / max(n_rest, 1)
        ends = xp.cumsum(copies.astype(np.int64))  # copies of i fill [ends[i-1], ends[i])
        fixed = xp.searchsorted(ends, xp.arange(n - n_rest), side="right").astype(np.int64)
        drawn = _inverse_cdf(xp, _sorted_uniforms(launch, xp, key, TAG_RESIDUAL, n_rest), rest)
        return xp.concatenate((fixed, drawn))
    raise ValueError(f"unknown resampling method {method!r}")


# --- annealed importance sampling (ais.cu) ---------------------------------------------


def has_grad_log_density(proposal):
    """Whether a proposal has ∇ log q on the CPU (the same answer as the Numba backend's,
    so that a missing gradient is the same ``TypeError`` on every backend); the bases the
    CUDA AIS kernels anneal from are Gaussian and Uniform (``Annealer``)."""
    return isinstance(proposal._params(), (GaussianProposalParams, UniformProposalParams,
                                           StudentTProposalParams, MixtureProposalParams))


AIS_BASE_GAUSSIAN, AIS_BASE_UNIFORM = 0, 1  # ais.cu's FASTEBM_AIS_BASE_*


class _AnnealingBase:
    """A base proposal as ``ais.cu`` sees it: (kind, a, b, P, Pμ, log_norm) in ``xp``.

    Gaussian N(μ, LLᵀ): a = μ, b = L, P = (LLᵀ)⁻¹ and Pμ computed as the Numba backend's
    ``base_params`` (``inv(L)ᵀ inv(L)``, the same NumPy calls, so the same bits);
    Uniform: a = low, b = high (P and Pμ unused)."""

    def __init__(self, proposal, xp):
        pp = proposal._params()
        if isinstance(pp, GaussianProposalParams):
            inverse = np.linalg.inv(pp.chol)
            precision = np.ascontiguousarray(inverse.T @ inverse)
            self.kind = AIS_BASE_GAUSSIAN
            arrays = (pp.mean, pp.chol, precision, precision @ pp.mean)
        elif isinstance(pp, UniformProposalParams):
            self.kind = AIS_BASE_UNIFORM
            arrays = (pp.low, pp.high, np.zeros(1), np.zeros(1))
        else:
            raise BackendUnavailableError(
                f"AIS from a {type(proposal).__name__} base has no CUDA kernels (Gaussian and "
                "Uniform bases have): pass a base built from NumPy arrays, outside "
                "fastebm.backend.emulate_gpu(), to run it on the CPU")
        self.arrays = tuple(device_array(a, xp) for a in arrays)
        self.log_norm = np.float64(pp.log_norm)


class Annealer:
    """The chains of one continuous AIS run in the CUDA kernels of ``ais.cu``: the protocol
    of the Numba backend's ``Annealer``, one launch per ``run`` (every chain through the
    given temperatures in its thread).

    The module is the base's (``Proposal._on_device``: CuPy for a base built from CuPy
    arrays, else NumPy, the GPU emulation). The chains live column-major in that module
    (``xt``, ``gt``, ``glqt`` (d, n); ``e_``, ``log_q_``, ``log_w_``, counters (n,)); the
    protocol's attributes ``x`` (a C-ordered copy), ``e``, ``log_q``, ``log_w``,
    ``n_accepted``, ``n_divergent`` are NumPy (views in the emulation, copies from a
    device); write positions with ``start_at``. NumPy is
    what the drivers (``fastebm.estimators.ais``, ``ais_tuning``) compute with: the pilot
    of an adaptive schedule is 1000 chains, an estimate's outcome n numbers.

    The energy runs in the thread: its pointwise CUDA form, or for a dense Gaussian the
    in-thread form on θ = [μ, P, Pμ] (``energies.cuh``).
    """

    def __init__(self, energy, base, transition, n_chains, key, tag_shift, first_chain=0,
                 work=0):
        xp = self.xp = _proposal_module(base)
        d = base.dim
        self.base = _AnnealingBase(base, xp)
        self.energy_form = DeviceEnergy(energy, d, xp)
        self.launch = self.energy_form.launch
        if self.energy_form.pointwise:
            self.theta = self.energy_form.theta
        else:
            self.theta = xp.ascontiguousarray(xp.concatenate([a.ravel()
                                                              for a in self.energy_form.arrays]))
        self.transition = transition
        self.streams = (np.uint32(key[0]), np.uint32(key[1]), np.uint32(first_chain))
        self.tag0 = np.uint32(tag_shift)
        self.xt, self.gt, self.glqt = (xp.zeros((d, n_chains)) for _ in range(3))
        self.e_, self.log_q_, self.log_w_ = (xp.zeros(n_chains) for _ in range(3))
        self.n_accepted_ = xp.zeros(n_chains, dtype=np.int64)
        self.n_divergent_ = xp.zeros(n_chains, dtype=np.int64)

    x = property(lambda self: np.ascontiguousarray(to_numpy(self.xt).T),
                 doc="positions (n, d), a C-ordered NumPy copy (NumPy's reductions over "
                     "the drivers' axis then sum in the Numba backend's order)")
    e = property(lambda self: to_numpy(self.e_), doc="E at the positions, NumPy")
    log_q = property(lambda self: to_numpy(self.log_q_), doc="log q at the positions, NumPy")
    log_w = property(lambda self: to_numpy(self.log_w_), doc="accumulated log weights, NumPy")
    n_accepted = property(lambda self: to_numpy(self.n_accepted_), doc="accepted moves")
    n_divergent = property(lambda self: to_numpy(self.n_divergent_), doc="divergent moves")

    def start_at(self, x):
        """Set the positions (n, d) (for ``START_EVAL``), from either module."""
        self.xt[...] = self.xp.asarray(x, dtype=np.float64).T

    def run(self, betas, step_size, n_steps, k_offset, transition_last, start, chol=None):
        """Visit ``betas`` (NumPy), starting as ``start`` (START_*) says: ``step_size[k]``
        at ``betas[k]``, step counters (k_offset + k)·n_steps + s, moves at the last
        temperature only with ``transition_last``; ``chol`` (len(betas), d, d): the lower
        Cholesky factors of the Langevin moves' preconditioner per temperature, or None."""
        xp = self.xp
        k0, k1, chain0 = self.streams
        n = self.xt.shape[1]
        betas_x = device_array(betas, xp)
        steps_x = device_array(step_size, xp)
        head = (k0, k1, chain0, self.tag0, np.int32(start))
        schedule = (np.int64(betas_x.shape[0]), betas_x, steps_x, np.int64(n_steps),
                    np.int64(k_offset), np.int32(bool(transition_last)))
        qa, qb, qp, qs = self.base.arrays
        tail = (self.theta, self.energy_form.beta)
        if self.transition == "rwm":
            self.launch("ais_random_walk", n, *head, *schedule, np.int32(self.base.kind), qa, qb,
                        qp, self.base.log_norm, self.xt, self.e_, self.log_q_, self.log_w_,
                        self.n_accepted_, self.n_divergent_, *tail)
            return
        if chol is None:
            precondition, chol_x = np.int32(0), xp.zeros(1)
        else:
            precondition = np.int32(1)
            chol_x = device_array(chol, xp)
        self.launch("ais_langevin", n, *head, np.int32(self.transition == "mala"), *schedule,
                    precondition, chol_x, np.int32(self.base.kind), qa, qb, qp, qs,
                    self.base.log_norm, self.xt, self.e_, self.gt, self.log_q_, self.glqt,
                    self.log_w_, self.n_accepted_, self.n_divergent_, *tail)


# --- AIS of an RBM (rbm.cu) --------------------------------------------------------------


def discrete_ais_log_weights(form, betas, n_chains, dim, key, first_chain=0, xp=np):
    """Log weights (n_chains,) of AIS on an RBM's path (the Numba backend's ``rbm.ais_run``,
    Salakhutdinov & Murray 2008): ``form`` = (RBMParams, base-rate biases b_A) from
    ``model._ais_form``, the chains column-major in ``xp`` (CuPy on a device, NumPy in the
    emulation); returned as NumPy.

    Chains start at v ~ Πᵢ Bern(σ(b_A,ᵢ)) (Gaussian-Bernoulli: v = b + σξ) on (chain, 0,
    TAG_RBM_INIT); for k = 1..K the weight increment log f_{β_k}(v) - log f_{β_{k-1}}(v)
    (``rbm_ais_weights``, from pre = Wᵀv by ``xp.matmul``), then for k < K one Gibbs sweep
    at β_k: hⱼ ~ Bern(σ(β_k(cⱼ + preⱼ))) on (chain, k, TAG_RBM_HIDDEN), vᵢ ~
    Bern(σ((1-β_k) b_A,ᵢ + β_k (bᵢ + (Wh)ᵢ))) (Gaussian: N(b + β_k σ(Wh), σ²)) on (chain, k,
    TAG_RBM_VISIBLE). The same streams and arithmetic as ``ais_run``: the host emulation's
    weights equal the Numba backend's bit for bit where the two BLAS products sum in the
    same order (tests/gpu/test_gpu_rbm_ais.py).

    Raises ``BackendUnavailableError`` for an Ising model's form (no CUDA kernels yet).
    """
    if isinstance(form, (IsingDenseParams, IsingLatticeParams)):
        raise BackendUnavailableError(
            "the CUDA backend has no discrete_ais_log_weights for Ising models yet (it anneals "
            "Bernoulli and Gaussian-Bernoulli RBMs): pass NumPy arrays, outside "
            "fastebm.backend.emulate_gpu(), to run it on the CPU")
    model, b_base = form
    if not isinstance(model, RBMParams):
        raise BackendUnavailableError(
            f"the CUDA backend has no discrete_ais_log_weights for {type(model).__name__} "
            "forms (it anneals RBMs)")
    if n_chains == 1:  # BLAS sums a one-column product in gemv's order: run two columns,
        # as the Numba kernels' dot_rows does a one-row block (fastebm/_kernels/numba/blas.py)
        return discrete_ais_log_weights(form, betas, 2, dim, key, first_chain, xp)[:1]
    launch = launcher(xp, module_source({"FASTEBM_DIM": int(dim)}))
    hidden_matrix, visible_matrix, b, c, sigma, b_a = (
        device_array(a, xp) for a in (model.W.T, model.WT.T, model.b, model.c, model.sigma, b_base))
    n, n_vis, n_hid = n_chains, np.int32(dim), np.int32(model.W.shape[1])
    k0, k1, chain0 = np.uint32(key[0]), np.uint32(key[1]), np.uint32(first_chain)
    xt, ht = xp.empty((dim, n)), xp.empty((int(n_hid), n))
    pre_h, pre_v = xp.empty((int(n_hid), n)), xp.empty((dim, n))
    log_w = xp.zeros(n)
    zero = xp.zeros((dim, n))
    if model.gaussian:
        launch("rbm_gaussian", n, n_vis, zero, b, sigma, k0, k1, chain0, np.uint32(0),
               np.uint32(TAG_RBM_INIT), xt)
    else:
        launch("rbm_bernoulli", n, n_vis, zero, b_a, np.float64(1.0), k0, k1, chain0,
               np.uint32(0), np.uint32(TAG_RBM_INIT), xt)
    betas = np.asarray(betas, dtype=np.float64)
    b_host, b_a_host = np.asarray(model.b, dtype=np.float64), np.asarray(b_base, dtype=np.float64)
    for k in range(1, betas.shape[0]):
        beta, beta_prev = np.float64(betas[k]), np.float64(betas[k - 1])
        xp.matmul(hidden_matrix, xt, out=pre_h)
        launch("rbm_ais_weights", n, n_vis, n_hid, xt, pre_h, b, b_a, c, beta, beta_prev,
               log_w)
        if k == betas.shape[0] - 1:
            break
        step = np.uint32(k)
        launch("rbm_bernoulli", n, n_hid, pre_h, c, beta, k0, k1, chain0, step,
               np.uint32(TAG_RBM_HIDDEN), ht)
        xp.matmul(visible_matrix, ht, out=pre_v)
        pre_v *= beta
        if model.gaussian:
            launch("rbm_gaussian", n, n_vis, pre_v, b, sigma, k0, k1, chain0, step,
                   np.uint32(TAG_RBM_VISIBLE), xt)
        else:  # (1-β) b_A + β b elementwise, as ais_run's bias_v
            bias_v = device_array((1.0 - beta) * b_a_host + beta * b_host, xp)
            launch("rbm_bernoulli", n, n_vis, pre_v, bias_v, np.float64(1.0), k0, k1, chain0,
                   step, np.uint32(TAG_RBM_VISIBLE), xt)
    return to_numpy(log_w)
