"""The shared driver of the MCMC samplers: resolve the start (backend, positions,
streams), validate the run-length arguments, run burn-in and the kept steps through a
backend's runner (``fastebm._kernels.numba.runners`` documents the protocol), and
package the result."""
import numpy as np

from .._contract import MAX_COUNTER
from .._rng import philox_key
from .._validation import (as_float_array, choice, int_at_least, positive_float,
                           symmetric_positive_definite)
from ..backend import resolve
from ..energies.base import Energy
from ..progress import Bar
from ..results import ChainState, MCMCResult
from .adaptation import MIN_METRIC_BURN_IN, run_burn_in
from .blocks import advance

KEEP = ("draws", "moments")
PRECONDITION = (None, "diag", "dense")
MAX_STEPS = MAX_COUNTER


def check_first_chain(first_chain, n_chains):
    """``first_chain`` as an int: rows [0, n) are the global chains [first_chain,
    first_chain + n), whose indices must fit the 32-bit counter word."""
    first_chain = int_at_least(first_chain, "first_chain", 0)
    if first_chain + n_chains - 1 > MAX_COUNTER:
        raise ValueError(f"first_chain + n_chains must be at most {MAX_COUNTER + 1} (chain "
                         f"indices are 32-bit), got {first_chain} + {n_chains}")
    return first_chain


class Chains:
    """The positions and streams a run starts from: ``x0`` (an array, or a ChainState
    whose streams it continues), resolved to a backend and validated by ``model``."""

    def __init__(self, model, x0, rng, first_chain):
        self.state = x0 if isinstance(x0, ChainState) else None
        if self.state is not None:
            _check_continued(rng, first_chain)
            self.backend = resolve(x0.position)
            self.x, self.single, _ = model._points(x0.position, "x0")
            self.dtype = x0.dtype
            self.key, self.step, self.first_chain = x0.key, x0.step, x0.first_chain
        else:
            self.backend = resolve(x0)
            self.x, self.single, self.dtype = model._points(x0, "x0")
            self.key, self.step = philox_key(rng), 0
            self.first_chain = check_first_chain(0 if first_chain is None else first_chain,
                                                 self.x.shape[0])
        # the validated float64 positions, or float32 ones for a backend with float32
        # kernels (a float32 run's chains then stay float32 on the device)
        kernel_dtype = (np.float32 if self.backend.float32_kernels and self.dtype == np.float32
                        else np.float64)
        self.x = self.x.astype(kernel_dtype, copy=True)
        self.n_chains, self.dim = self.x.shape


class Start(Chains):
    """The resolved start of a continuous run: ``Chains`` with the step sizes (one per
    chain) and, when continuing, the preconditioner and ULA's divergence state."""

    def __init__(self, energy, x0, step_size, rng, step_name="step_size", first_chain=None):
        if not isinstance(energy, Energy):
            raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
        if getattr(energy, "is_discrete", False):
            raise TypeError(f"{type(energy).__name__} is a model of discrete states: sample it "
                            "with fastebm.gibbs")
        super().__init__(energy, x0, rng, first_chain)
        state = self.state
        if state is not None and step_size is None:
            step_size = state.step_size
        if step_size is None:
            raise TypeError(f"{step_name} is required unless x0 is a ChainState")
        self.step_size = _step_sizes(step_size, step_name, self.n_chains)
        self.inverse_mass = None if state is None else state.inverse_mass
        self.diverged = None if state is None else state.diverged
        self.energy_start = None if state is None else state.energy_start


def _check_continued(rng, first_chain):
    """A ChainState carries its streams: neither ``rng`` nor ``first_chain`` may be given."""
    if rng is not None:
        raise ValueError("rng must be None when x0 is a ChainState: the state carries its "
                         "own random streams")
    if first_chain is not None:
        raise ValueError("first_chain must be None when x0 is a ChainState: the state "
                         "carries its own chain indices")


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


def run(start, runner, n_steps, burn_in, thin, keep, adapt, precondition, step_size,
        progress=False, desc="sampling", show_acceptance=True):
    """Burn-in (adapting), then ``n_steps`` kept steps; the packaged MCMCResult. With
    ``progress`` a bar over all steps shows the acceptance rate so far (of the burn-in,
    then of the kept steps)."""
    with Bar(progress, burn_in + n_steps, desc) as bar:
        step_size, _ = run_burn_in(runner, burn_in, step_size, adapt=adapt,
                                   precondition=precondition, bar=bar,
                                   show_acceptance=show_acceptance)
        runner.n_accepted[:] = 0
        kept = advance(runner, n_steps, step_size, keep_draws=keep == "draws",
                       keep_moments=keep == "moments", thin=thin, bar=bar,
                       accepted_over=0 if show_acceptance else None)
    return package(start, runner, kept, step_size, n_steps, keep, n_steps // thin)


def chain_state(start, runner, step_size):
    """The ``ChainState`` where ``runner``'s chains stand, with ``step_size`` (n,) or None."""
    position = runner.x[0] if start.single else runner.x
    return ChainState(position.copy(), start.key, runner.step,
                      np.zeros(0) if step_size is None else step_size, runner.inverse_mass,
                      getattr(runner, "diverged", None), getattr(runner, "e_start", None),
                      np.dtype(start.dtype), start.first_chain)


def package(start, runner, kept, step_size, n_kept_steps, keep, n_draws):
    """The frozen MCMCResult of a finished run (acceptance over the kept steps);
    ``step_size`` None for a sampler without one (Gibbs)."""
    acceptance = runner.n_accepted / max(n_kept_steps, 1)
    step_size = None if step_size is None else np.array(step_size, dtype=np.float64)
    state = chain_state(start, runner, step_size)
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
        acceptance, n_div = float(acceptance[0]), int(n_div[0])
        step_size = None if step_size is None else float(step_size[0])
    return MCMCResult(draws, acceptance, n_div, step_size, state, mean, variance,
                      runner.inverse_mass)
