"""The Numba backend's runners: the chains of one run and the compiled calls that move them.

A runner owns the state arrays of its chains and advances them through the kernels of
this package; the public functions (``fastebm.samplers``, ``fastebm.estimators``) validate,
resolve the backend (``fastebm.backend``), drive a runner and package its result. Every
MCMC runner follows one protocol, the one the shared driver
(``fastebm.samplers._common.run``) relies on:

- ``advance(n_steps, step_size, adapt_state=None, *, keep_draws, keep_moments, thin,
  into=None)`` takes ``n_steps`` steps and returns the kept draws (n_draws, n, d),
  (mean, M2), or None; ``into`` = (draws, first) or ((mean, M2), first) continues the
  buffers of a run split into calls (``first`` states kept already), exactly;
- ``chunk_moments(kept, kind, chunk)``: the moments of a burn-in window's draws by chunks
  of chains (``fastebm._kernels.moments``), which the driver merges;
- ``set_inverse_mass(inverse_mass)`` freezes a preconditioner Σ (None, (d,) or (d, d));
- attributes ``x`` (n, d), ``step`` (the next step's counter), ``n_accepted``,
  ``n_divergent``, ``inverse_mass``, ``n_chains``, ``dim``.

A run's random numbers are those of ``Streams(k0, k1, step, first_chain)``: row r of a
runner is the global chain ``first_chain + r`` (``fastebm._contract``).
"""
import numba
import numpy as np

from ..._contract import (PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE, RECORD_DRAWS,
                          RECORD_MOMENTS, RECORD_NONE, Adaptation, AISChains, Counters,
                          IsingDenseParams, IsingLatticeParams, LangevinChains, Preconditioner,
                          GaussianProposalParams, Records, RBMParams,
                          Schedule, Streams)
from . import ais as _ais  # noqa: F401  (importing a module registers its kernels)
from . import evaluate as _evaluate  # noqa: F401
from . import ising as _ising
from . import langevin as _langevin  # noqa: F401
from . import metropolis as _metropolis  # noqa: F401
from . import rbm as _rbm
from . import resampling as _resampling
from . import score_noise as _score_noise
from ..moments import chunk_moments
from ._jit import _single_blas_thread
from .replicate import STATUS_ALL_ZERO, STATUS_NAN_ENERGY, STATUS_NEG_INF_ENERGY
from .langevin import ROWS_NORMALS_MAX_DIM
from .philox import ROW_VIEW_MIN
from .stein import imq_stein_matrix
from .proposals import _GRAD_LOG_DENSITY, base_params
from .sampling import batch_log_density, draw_proposals

CHAIN_BLOCK = 32
BLOCKS_PER_THREAD = 4


def wide_rows(dim):
    """The ``wide`` argument of the blocked step kernels for states of dimension ``dim``.

    Up to ``ROWS_NORMALS_MAX_DIM`` the kernels draw a block's normals across its chains
    (``philox.fill_normals_rows``), above it row by row (``philox.fill_normals``). The
    choice is the argument's type, None (short rows) or bool (long rows): Numba prunes a
    branch on ``arg is None`` before typing when ``arg`` is None (not when it is a bool),
    so the kernel for short rows never compiles ``fill_normals`` (about 0.7 s of a first
    call with an empty cache). The long-row kernel compiles both branches, as before.
    """
    return None if dim <= ROWS_NORMALS_MAX_DIM else True


def short_rows(dim):
    """The ``short`` argument of ``langevin_run``: True for d < ``philox.ROW_VIEW_MIN``,
    else None. As for ``wide_rows``, its type picks the code at compile time: for short
    rows ``philox.fill_normals_rows`` compiles without its finishing code of long rows."""
    return True if dim < ROW_VIEW_MIN else None


def point_grad(family, params):
    """The ``point_grad`` argument of the blocked kernels that take gradients: None where
    the family takes a block's gradients by one BLAS product (``uses_blas``), else True.
    As for ``wide_rows``, its type picks the branch at compile time: a dense Gaussian's
    kernels do not compile its gradient point by point (about 0.5 s of a first
    ``fe.mala`` with an empty cache).
    """
    return None if family.uses_blas(params) else True


def dense_precond(precond):
    """The ``dense`` argument of ``langevin_run``: True for a dense preconditioner, else
    None, so that the kernels of the other preconditioners (as ``wide_rows``) compile
    without its matrix products (about 0.7 s of a first call with a user energy)."""
    return True if precond.mode == PRECOND_DENSE else None


def rbm_widths(model):
    """(``wide_h``, ``wide_v``) of the RBM kernels for ``model`` (``RBMParams``): how its
    hidden and visible Bernoulli draws go (``rbm.wide_units``)."""
    n_vis, n_hid = model.W.shape
    return _rbm.wide_units(n_hid), _rbm.wide_units(n_vis)


def chain_block(n_chains):
    """Chains per block of a kernel's parallel loop: ``CHAIN_BLOCK``, fewer when there
    are too few chains for ``BLOCKS_PER_THREAD`` blocks per Numba thread.

    Blocks only group work (a chain's numbers do not depend on its block): a block's
    matrix products and random numbers are computed for all its chains at once, and
    enough blocks keep the threads of the kernel's one parallel region busy.
    """
    per_thread = -(-n_chains // (BLOCKS_PER_THREAD * numba.get_num_threads()))
    return max(1, min(CHAIN_BLOCK, per_thread))


def preconditioner(inverse_mass, dim):
    """The kernels' ``Preconditioner`` of Σ: mode, √diag Σ (d,), lower Cholesky factor (d, d)."""
    if inverse_mass is None:
        return Preconditioner(PRECOND_NONE, np.ones(dim), np.eye(dim))
    if inverse_mass.ndim == 1:
        return Preconditioner(PRECOND_DIAG, np.sqrt(inverse_mass), np.eye(dim))
    return Preconditioner(PRECOND_DENSE, np.ones(dim),
                          np.ascontiguousarray(np.linalg.cholesky(inverse_mass)))


def records(n_steps, thin, n_chains, dim, keep_draws, keep_moments, into=None):
    """``Records`` buffers for a kernel call that keeps what is asked: new ones, or
    ``into`` = (draws, first) or ((mean, m2), first), the buffers of a run split into
    calls and the number of states they hold already (``advance``)."""
    mode = RECORD_DRAWS if keep_draws else RECORD_MOMENTS if keep_moments else RECORD_NONE
    if into is not None and mode != RECORD_NONE:
        buffers, first = into
        if mode == RECORD_DRAWS:
            return Records(mode, thin, buffers, np.zeros((n_chains, 0)),
                           np.zeros((n_chains, 0)), first)
        return Records(mode, thin, np.empty((0, n_chains, dim)), buffers[0], buffers[1], first)
    draws = np.empty((n_steps // thin if keep_draws else 0, n_chains, dim))
    mean = np.zeros((n_chains, dim) if keep_moments else (n_chains, 0))
    return Records(mode, thin, draws, mean, np.zeros_like(mean), 0)


def kept(buffers):
    """What ``advance`` returns from its ``Records``: the draws, (mean, M2), or None."""
    if buffers.mode == RECORD_DRAWS:
        return buffers.draws
    return (buffers.mean, buffers.m2) if buffers.mode == RECORD_MOMENTS else None


class _Chains:
    """What every MCMC runner holds: positions, streams and per-chain counters."""

    def __init__(self, x, key, step, first_chain):
        self.x = x
        self.n_chains, self.dim = x.shape
        self.key, self.step, self.first_chain = key, step, first_chain
        self.n_accepted = np.zeros(self.n_chains, dtype=np.int64)
        self.n_divergent = np.zeros(self.n_chains, dtype=np.int64)

    def streams(self):
        return Streams(self.key[0], self.key[1], self.step, self.first_chain)

    def counters(self):
        return Counters(self.n_accepted, self.n_divergent)

    def chunk_moments(self, kept, kind, chunk):
        """The moments of the finite states in ``kept`` (a burn-in window's draws,
        (n_draws, n, d)) by chunks of ``chunk`` chains: ``fastebm._kernels.moments``."""
        return chunk_moments(kept, self.dim, kind, chunk)

    def adaptation(self, adapt_state, target):
        if adapt_state is None:
            return Adaptation(False, np.zeros((self.n_chains, 5)), target)
        return Adaptation(True, adapt_state, target)


class LangevinRunner(_Chains):
    """All chains of a ULA or MALA run (``metropolize``), advanced by ``langevin_run``.

    ``e`` and ``g`` hold E and ∇E at the start after construction: the caller checks
    them before the first step. ``target`` is the acceptance that adaptation aims at.
    """

    def __init__(self, energy, x, key, step, first_chain, *, metropolize, target,
                 inverse_mass=None, energy_start=None, diverged=None, work=0):
        super().__init__(x, key, step, first_chain)
        self.metropolize, self.target = metropolize, target
        self.params, self.family = energy._kernel_form(work)
        self.e = np.empty(self.n_chains)
        self.g = np.empty_like(self.x)
        # E and ∇E at the start by ``langevin_run`` itself (``evaluate``, no step); the
        # attributes it reads are placeholders until then
        self.u = self.g
        self.e_start = self.e
        self.diverged = np.zeros(self.n_chains, dtype=np.bool_)
        self.precond = preconditioner(None, self.dim)
        self._run(0, np.zeros(self.n_chains), None, records(0, 1, self.n_chains, self.dim,
                                                            False, False), True,
                  dense_precond(preconditioner(inverse_mass, self.dim)))
        self.e_start = (self.e.copy() if energy_start is None
                        else np.array(energy_start, dtype=np.float64))
        if diverged is not None:
            self.diverged = np.array(diverged, dtype=np.bool_)
        self.set_inverse_mass(inverse_mass)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass
        self.precond = preconditioner(inverse_mass, self.dim)
        if self.precond.mode == PRECOND_DENSE:
            self.u = self.g @ self.precond.chol
        elif self.precond.mode == PRECOND_DIAG:
            self.u = self.g * self.precond.scale
        else:
            self.u = self.g  # the kernel then keeps u and g as one array

    def advance(self, n_steps, step_size, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` steps; returns kept draws, (mean, M2), or None."""
        buffers = records(n_steps, thin, self.n_chains, self.dim, keep_draws, keep_moments, into)
        self._run(n_steps, step_size, adapt_state, buffers, False,
                  dense_precond(self.precond))
        self.step += n_steps
        return kept(buffers)

    def _run(self, n_steps, step_size, adapt_state, buffers, evaluate, dense):
        """``langevin_run`` on every chain. The constructor evaluates the start with it
        (``evaluate``, no step, no preconditioner, but ``dense`` as the run's, so that
        the same compiled kernel serves the steps)."""
        chains = LangevinChains(self.x, self.e, self.g, self.u, self.e_start, self.diverged)
        self.family["langevin_run"](
            self.params, chains, step_size, n_steps, self.streams(), self.metropolize,
            self.precond, self.adaptation(adapt_state, self.target), buffers, self.counters(),
            evaluate, wide_rows(self.dim), short_rows(self.dim),
            point_grad(self.family, self.params), dense, chain_block(self.n_chains))


class MetropolisRunner(_Chains):
    """All chains of a Metropolis-Hastings run: the random walk (``proposal=None``), or an
    independent proposal (its compiled parameters). ``e`` holds E at the start, and
    ``log_q`` the proposal's log density there, for the caller to check."""

    def __init__(self, energy, x, key, step, first_chain, *, proposal=None, target,
                 inverse_mass=None, work=0):
        super().__init__(x, key, step, first_chain)
        self.params, self.family = energy._kernel_form(work)
        self.proposal, self.target = proposal, target
        self.e = np.empty(self.n_chains)
        self.family["batch_energy"](self.params, self.x, self.e)
        if proposal is not None:
            self.log_q = proposal.log_density(self.x)
        self.set_inverse_mass(inverse_mass)

    def set_inverse_mass(self, inverse_mass):
        self.inverse_mass = inverse_mass
        self.precond = preconditioner(inverse_mass, self.dim)

    def advance(self, n_steps, scale, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` steps; returns kept draws, (mean, M2), or None."""
        buffers = records(n_steps, thin, self.n_chains, self.dim, keep_draws, keep_moments, into)
        if self.proposal is None:
            self.family["random_walk_run"](
                self.params, self.x, self.e, scale, n_steps, self.streams(), self.precond,
                self.adaptation(adapt_state, self.target), buffers, self.counters(),
                wide_rows(self.dim), short_rows(self.dim), chain_block(self.n_chains))
        else:
            self.family["independent_run"](
                self.params, self.proposal._kernel_params(), self.x, self.e, self.log_q,
                n_steps, self.streams(), buffers, self.counters())
        self.step += n_steps
        return kept(buffers)


class GibbsRunner(_Chains):
    """All chains of a Gibbs run on a discrete or latent-variable model, through the
    kernel of its form (``model._gibbs_form()``: ``RBMParams``, ``IsingDenseParams`` or
    ``IsingLatticeParams``). Every sweep counts as accepted: Gibbs always moves."""

    def __init__(self, model, x, key, step, first_chain):
        super().__init__(x, key, step, first_chain)
        self.form = model._gibbs_form()
        self.inverse_mass = None
        self.widths = ()  # an RBM's kernel also takes its layers' ``rbm.wide_units``
        if isinstance(self.form, RBMParams):
            self.kernel = _rbm.gibbs_run
            self.widths = rbm_widths(self.form)
        elif isinstance(self.form, IsingDenseParams):
            self.kernel = _ising.dense_gibbs_run
        else:
            self.kernel = _ising.lattice_gibbs_run

    def set_inverse_mass(self, inverse_mass):
        raise TypeError("Gibbs sampling has no preconditioner")

    def advance(self, n_steps, step_size=None, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` sweeps; returns kept draws, (mean, M2), or None."""
        buffers = records(n_steps, thin, self.n_chains, self.dim, keep_draws, keep_moments, into)
        self.kernel(self.form, self.x, n_steps, self.streams(), buffers, *self.widths)
        self.n_accepted += n_steps  # a Gibbs sweep always moves
        self.step += n_steps
        return kept(buffers)


class IsingMetropolisRunner(_Chains):
    """All chains of a single-site Metropolis run on an Ising model (dense couplings or a
    lattice). ``n_accepted`` sums, per chain, the fraction of each sweep's proposals
    taken, so that the driver's n_accepted / n_steps is the acceptance per proposal."""

    def __init__(self, model, x, key, step, first_chain, *, random_scan):
        super().__init__(x, key, step, first_chain)
        self.form = model._gibbs_form()
        self.random_scan = bool(random_scan)
        self.inverse_mass = None
        self.n_accepted = np.zeros(self.n_chains)
        self.kernel = (_ising.dense_metropolis_run if isinstance(self.form, IsingDenseParams)
                       else _ising.lattice_metropolis_run)

    def set_inverse_mass(self, inverse_mass):
        raise TypeError("single-site Metropolis has no preconditioner")

    def advance(self, n_steps, step_size=None, adapt_state=None, *, keep_draws=False,
                keep_moments=False, thin=1, into=None):
        """Take ``n_steps`` sweeps; returns kept draws, (mean, M2), or None."""
        buffers = records(n_steps, thin, self.n_chains, self.dim, keep_draws, keep_moments, into)
        self.kernel(self.form, self.x, n_steps, self.streams(), buffers, self.random_scan,
                    self.n_accepted)
        self.step += n_steps
        return kept(buffers)


class Annealer:
    """The chains of one continuous AIS run, with one compiled call per schedule.

    ``transition`` is "mala", "ula" or "rwm"; ``tag_shift`` moves the streams off the
    estimate's (the adaptive schedule's pilot). Row r is the global chain first_chain + r.
    """

    def __init__(self, energy, base, transition, n_chains, key, tag_shift, first_chain=0,
                 work=0):
        self.params, self.family = energy._kernel_form(work)
        self.base = base_params(base._kernel_params())
        self.transition, self.tag_shift = transition, tag_shift
        self.streams = Streams(key[0], key[1], 0, first_chain)
        d = base.dim
        self.x = np.empty((n_chains, d))
        self.e, self.log_q, self.log_w = np.empty(n_chains), np.empty(n_chains), np.zeros(n_chains)
        self.g, self.grad_log_q = np.empty((n_chains, d)), np.empty((n_chains, d))
        self.n_accepted = np.zeros(n_chains, dtype=np.int64)
        self.n_divergent = np.zeros(n_chains, dtype=np.int64)

    def start_at(self, x):
        """Set the positions (n, d) (for ``START_EVAL``)."""
        self.x[:] = x

    def run(self, betas, step_size, n_steps, k_offset, transition_last, start, chol=None):
        """Visit ``betas`` (see ``Schedule``), starting as ``start`` (START_*) says; ``chol``
        (len(betas), d, d): lower Cholesky factors of the Langevin moves' preconditioner at
        each temperature, or None."""
        chains = AISChains(self.x, self.e, self.g, self.log_q, self.grad_log_q, self.log_w)
        if chol is None:
            chol = chol_t = np.zeros((0, 1, 1))
        else:
            chol_t = np.ascontiguousarray(chol.transpose(0, 2, 1))
        schedule = Schedule(betas, step_size, n_steps, k_offset, transition_last, chol, chol_t)
        counters = Counters(self.n_accepted, self.n_divergent)
        if self.transition == "rwm":
            self.family["ais_random_walk"](self.params, self.base, chains, counters, schedule,
                                           start, self.streams, self.tag_shift)
        else:
            d = self.x.shape[1]
            self.family["ais_langevin"](self.params, self.base, chains, counters, schedule,
                                        start, self.transition == "mala", self.streams,
                                        self.tag_shift, wide_rows(d), short_rows(d),
                                        chain_block(self.x.shape[0]))


def single_blas_thread():
    """A context in which every loaded BLAS runs on one thread (``_jit.blas_limited``):
    for small NumPy products between kernel calls, whose BLAS threads would otherwise
    spin against the kernels' threads."""
    return _single_blas_thread()


def has_grad_log_density(proposal):
    """Whether this backend has ∇ log q of the proposal (for MALA/ULA transitions in AIS)."""
    return type(base_params(proposal._kernel_params())) in _GRAD_LOG_DENSITY


def discrete_ais_log_weights(form, betas, n_chains, dim, key, first_chain=0):
    """Log weights (n_chains,) of AIS on a discrete model's path, from its AIS form
    (``model._ais_form``): an Ising form, or ``(RBMParams, base biases)`` for an RBM."""
    x, log_w = np.empty((n_chains, dim)), np.empty(n_chains)
    streams = Streams(key[0], key[1], 0, first_chain)
    if isinstance(form, IsingDenseParams):
        _ising.dense_ais_run(form, betas, streams, x, log_w)
    elif isinstance(form, IsingLatticeParams):
        _ising.lattice_ais_run(form, betas, streams, x, log_w)
    else:
        model, base_biases = form
        _rbm.ais_run(model, base_biases, betas, streams, x, log_w, *rbm_widths(model))
    return log_w


def proposal_draws(proposal, n, dim, key, first_chain=0, step=0):
    """n draws (n, dim) of a proposal and their log densities (n,); draw i is the stream
    (first_chain + i, step, TAG_PROPOSAL)."""
    out, log_q = np.empty((n, dim)), np.empty(n)
    draw_proposals(proposal._kernel_params(), Streams(key[0], key[1], step, first_chain),
                   out, log_q)
    return out, log_q


def proposal_log_density(proposal, x):
    """log q(x) (n,) of a proposal at the points x (n, d)."""
    out = np.empty(x.shape[0])
    batch_log_density(proposal._kernel_params(), x, out)
    return out


RESAMPLING_SCHEMES = {
    "multinomial": _resampling.multinomial,
    "systematic": _resampling.systematic,
    "stratified": _resampling.stratified,
    "residual": _resampling.residual,
}


def resample(method, key, weights, n):
    """n indices drawn from normalized ``weights`` by ``method`` (RESAMPLING_SCHEMES)."""
    return RESAMPLING_SCHEMES[method](key[0], key[1], weights, n)


# --- estimators and training: single compiled calls ---------------------------------------

REPLICATE_STATUS = {STATUS_NAN_ENERGY: "nan-energy", STATUS_NEG_INF_ENERGY: "neg-inf-energy",
                    STATUS_ALL_ZERO: "all-zero"}
"""What the replicated-IS kernel reports of a replicate it could not summarize."""


def replicated_importance(energy, proposal, keys, n):
    """R independent importance-sampling estimates of log Z, replicate r on key
    ``keys[r]`` (R, 2): (log Ẑ, stderr, ESS) each (R,), and per replicate None or the
    ``REPLICATE_STATUS`` of its failure."""
    n_rep = keys.shape[0]
    log_z, stderr, ess = np.empty(n_rep), np.empty(n_rep), np.empty(n_rep)
    status = np.zeros(n_rep, dtype=np.int64)
    params, q = energy._kernel_params(), proposal._kernel_params()
    if isinstance(q, GaussianProposalParams):
        # the draw written out in the kernel: the same numbers, faster
        energy._family["replicated_importance_gaussian"](
            params, q.mean, q.chol, q.log_norm, keys, n, log_z, stderr, ess, status)
    else:
        energy._family["replicated_importance"](
            params, q, keys, n, proposal.dim, log_z, stderr, ess, status)
    return log_z, stderr, ess, [REPLICATE_STATUS.get(int(code)) for code in status]


SCORE_NOISE = {"normal": _score_noise.draw_normals, "sign": _score_noise.draw_signs}


def score_noise(kind, key, tag, n, m, d):
    """(n·m, d) standard normals or Rademacher signs (``kind``); row i·m + j is the
    stream (point i, draw j, tag)."""
    out = np.empty((n, m, d))
    SCORE_NOISE[kind](key[0], key[1], tag, out)
    return out.reshape(n * m, d)


def stein_matrix(x, score, c2, beta, out):
    """The IMQ Stein kernel matrix of the points x (n, d) with scores (n, d) into out."""
    imq_stein_matrix(x, score, c2, beta, out)


def rbm_hidden_draws(means, key, step, tag):
    """Binary draws (n, H) from the probabilities ``means``, row r on (r, step, tag)."""
    out = np.empty(means.shape)
    _rbm.bernoulli_from_means(means, key[0], key[1], step, tag, out)
    return out


def rbm_visible_draws(form, h, key, step, out):
    """v ~ p(v | h) for the rows of h into ``out``, row r on (r, step, TAG_RBM_VISIBLE)."""
    _rbm.visible_given_hidden(form.WT, form.b, form.sigma, form.gaussian, h, key[0], key[1],
                              step, out)


def rbm_train_epoch(params, velocity, data, order, batch_size, chains, persistent, k, update,
                    key, learning_rate, momentum, weight_decay):
    """One compiled CD-k/PCD epoch of a Bernoulli RBM (``rbm.train_epoch``), in place;
    returns the next update's index."""
    return _rbm.train_epoch(tuple(params), tuple(velocity), data, order, batch_size,
                            tuple(chains), persistent, k, update, (key[0], key[1]),
                            (learning_rate, momentum, weight_decay))


def rbm_enumerated_log_z(A, bias_enum, bias_other, quadratic):
    """log Z of an RBM by Gray-code enumeration of the layer ``A`` indexes (``rbm``)."""
    return float(_rbm.enumerate_log_z(np.ascontiguousarray(A), bias_enum, bias_other,
                                      quadratic))


def ising_enumerated_log_z(J, h):
    """log Z of an Ising model with couplings J and fields h by Gray-code enumeration."""
    return float(_ising.enumerate_log_z(J, h))
