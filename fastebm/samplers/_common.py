"""What every MCMC sampler does around its kernel: resolve the start, validate the
run-length arguments, freeze the preconditioner, and package the result."""
import numba
import numpy as np

from .._contract import (PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE, RECORD_DRAWS, RECORD_MOMENTS,
                         RECORD_NONE)
from .._rng import philox_key
from .._validation import (as_float_array, choice, int_at_least, positive_float,
                           symmetric_positive_definite)
from ..energies.base import Energy
from ..results import ChainState, MCMCResult
from .adaptation import MIN_METRIC_BURN_IN, run_burn_in

KEEP = ("draws", "moments")
CHAIN_BLOCK = 32
BLOCKS_PER_THREAD = 4
PRECONDITION = (None, "diag", "dense")
MAX_STEPS = 2**32 - 1


def chain_block(n_chains):
    """Chains per block of a kernel's parallel loop: ``CHAIN_BLOCK``, fewer when there
    are too few chains for ``BLOCKS_PER_THREAD`` blocks per Numba thread.

    Blocks only group work (a chain's numbers do not depend on its block): a block's
    matrix products and random numbers are computed for all its chains at once, and
    enough blocks keep the threads of the kernel's one parallel region busy.
    """
    per_thread = -(-n_chains // (BLOCKS_PER_THREAD * numba.get_num_threads()))
    return max(1, min(CHAIN_BLOCK, per_thread))


class Start:
    """The resolved start of a run: positions, streams, step size and preconditioner."""

    def __init__(self, energy, x0, step_size, rng, step_name="step_size"):
        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
        if getattr(energy, "is_discrete", False):
            raise TypeError(f"{type(energy).__name__} is a model of discrete states: sample it "
                            "with fastebm.gibbs")
        if isinstance(x0, ChainState):
            if rng is not None:
                raise ValueError("rng must be None when x0 is a ChainState: the state "
                                 "carries its own random streams")
            self.x, self.single, _ = energy._points(x0.position, "x0")
            self.x, self.dtype = self.x.copy(), x0.dtype
            self.key, self.step = x0.key, x0.step
            self.step_size = _step_sizes(x0.step_size if step_size is None else step_size,
                                         step_name, self.x.shape[0])
            self.inverse_mass = x0.inverse_mass
            self.diverged, self.energy_start = x0.diverged, x0.energy_start
        else:
            self.x, self.single, self.dtype = energy._points(x0, "x0")
            self.x = self.x.copy()
            if step_size is None:
                raise TypeError(f"{step_name} is required unless x0 is a ChainState")
            self.step_size = _step_sizes(step_size, step_name, self.x.shape[0])
            self.key, self.step = philox_key(rng), 0
            self.inverse_mass = self.diverged = self.energy_start = None
        self.n_chains, self.dim = self.x.shape


def _step_sizes(value, name, n_chains):
    """One step size per chain, from a scalar or an array of shape (n_chains,)."""
    if np.ndim(value) == 0:
        value = value.item() if isinstance(value, np.ndarray) else value
        return np.full(n_chains, positive_float(value, name))
    arr = as_float_array(value, name, ndim=1)
    if arr.shape != (n_chains,) or not np.all(arr > 0):
        raise ValueError(f"{name} must be a positive float or {n_chains} positive floats "
                         f"(one per chain), got shape {arr.shape}")
    return arr


def check_run(n_steps, burn_in, thin, keep, precondition, adapt, start):
    """Validate the run-length arguments; returns them as ints."""
    n_steps = int_at_least(n_steps, "n_steps", 0)
    burn_in = int_at_least(burn_in, "burn_in", 0)
    thin = int_at_least(thin, "thin", 1)
    choice(keep, "keep", KEEP)
    if not isinstance(adapt, (bool, np.bool_)):
        raise TypeError(f"adapt must be True or False, got {type(adapt).__name__}")
    if adapt and burn_in == 0:
        raise ValueError("adapt=True needs burn_in > 0: step sizes adapt during burn-in only")
    if precondition is not None and burn_in < MIN_METRIC_BURN_IN:
        raise ValueError(f'precondition="{precondition}" needs burn_in >= {MIN_METRIC_BURN_IN}: '
                         "the preconditioner is estimated during burn-in")
    if start.step + burn_in + n_steps > MAX_STEPS:
        raise ValueError(f"a run may take at most {MAX_STEPS} steps in all (burn-in included)")
    return n_steps, burn_in, thin


def check_start_energy(energy_values, grad=None):
    """The start must have a defined energy: no NaN, and not +inf for every chain."""
    if np.any(np.isnan(energy_values)):
        raise ValueError("the energy is NaN at x0 for chains "
                         f"{np.flatnonzero(np.isnan(energy_values))[:10].tolist()}")
    if np.all(energy_values == np.inf):
        raise ValueError("the energy is +inf at x0 for every chain")
    if np.any(energy_values == -np.inf):
        raise ValueError("the energy is -inf at x0: the density is not normalizable there")
    if grad is not None and not np.all(np.isfinite(grad[np.isfinite(energy_values)])):
        raise ValueError("the gradient of the energy is not finite at x0")


def preconditioner_arrays(inverse_mass, dim):
    """(mode, scale (d,), lower Cholesky factor (d, d)) of Σ for the kernels."""
    if inverse_mass is None:
        return PRECOND_NONE, np.ones(dim), np.eye(dim)
    if inverse_mass.ndim == 1:
        return PRECOND_DIAG, np.sqrt(inverse_mass), np.eye(dim)
    return PRECOND_DENSE, np.ones(dim), np.ascontiguousarray(np.linalg.cholesky(inverse_mass))


def check_inverse_mass(precondition, dim):
    """A user-given preconditioner: "diag"/"dense"/None, or an array Σ of shape (d,) or (d, d)."""
    if precondition is None or isinstance(precondition, str):
        return choice(precondition, "precondition", PRECONDITION), None
    sigma = as_float_array(precondition, "precondition", ndim=(1, 2))
    if sigma.shape not in ((dim,), (dim, dim)):
        raise ValueError(f"precondition must have shape ({dim},) or ({dim}, {dim}), got {sigma.shape}")
    if sigma.ndim == 1 and not np.all(sigma > 0):
        raise ValueError("precondition (a diagonal inverse mass) must be positive")
    if sigma.ndim == 2:
        sigma, _ = symmetric_positive_definite(sigma, "precondition")
    return None, sigma


def record_buffers(n_steps, thin, n_chains, dim, keep_draws, keep_moments):
    """(record mode, draws, mean, M2) buffers for a kernel call that keeps what is asked."""
    draws = np.empty((n_steps // thin if keep_draws else 0, n_chains, dim))
    mean = np.zeros((n_chains, dim) if keep_moments else (n_chains, 0))
    record = RECORD_DRAWS if keep_draws else RECORD_MOMENTS if keep_moments else RECORD_NONE
    return record, draws, mean, np.zeros_like(mean)


def kept_output(keep_draws, keep_moments, draws, mean, m2):
    """What ``advance`` returns: the draws, (mean, M2), or None."""
    return draws if keep_draws else (mean, m2) if keep_moments else None


def run(start, runner, n_steps, burn_in, thin, keep, adapt, precondition):
    """Burn-in (adapting), then ``n_steps`` kept steps; the packaged MCMCResult."""
    step_size, _ = run_burn_in(runner, burn_in, start.step_size, adapt=adapt,
                               precondition=precondition)
    runner.n_accepted[:] = 0
    kept = runner.advance(n_steps, step_size, keep_draws=keep == "draws",
                          keep_moments=keep == "moments", thin=thin)
    return package(start, runner, kept, step_size, n_steps, keep, n_steps // thin)


def package(start, runner, kept, step_size, n_kept_steps, keep, n_draws):
    """The frozen MCMCResult of a finished run (acceptance over the kept steps)."""
    acceptance = runner.n_accepted / max(n_kept_steps, 1)
    position = runner.x[0] if start.single else runner.x
    step_size = np.array(step_size, dtype=np.float64)
    state = ChainState(position.copy(), start.key, runner.step, step_size, runner.inverse_mass,
                       getattr(runner, "diverged", None), getattr(runner, "e_start", None),
                       np.dtype(start.dtype))
    draws = mean = variance = None
    if keep == "draws":
        draws = kept.astype(start.dtype, copy=False)
    elif n_draws:
        mean, variance = kept[0].astype(start.dtype), (kept[1] / n_draws).astype(start.dtype)
    n_div = runner.n_divergent.copy()
    if start.single:
        draws = None if draws is None else draws[:, 0]
        mean = None if mean is None else mean[0]
        variance = None if variance is None else variance[0]
        acceptance, n_div, step_size = float(acceptance[0]), int(n_div[0]), float(step_size[0])
    return MCMCResult(draws, acceptance, n_div, step_size, state, mean, variance,
                      runner.inverse_mass)
