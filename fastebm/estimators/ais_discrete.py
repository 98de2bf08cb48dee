"""Annealed importance sampling for the discrete models: RBMs and Ising models.

A discrete model brings its own annealing path through ``model._ais_form(base)`` →
(the path's form, log Z₀), which the backend's ``discrete_ais_log_weights`` anneals:

- Bernoulli RBM: the path of Salakhutdinov & Murray (2008, sec. 4.1) from a base-rate
  model p_A(v) = Πᵢ σ(b_A,ᵢ)^{vᵢ}(1-σ(b_A,ᵢ))^{1-vᵢ} whose visible biases b_A come from
  the data, with block Gibbs transitions;
- Gaussian-Bernoulli RBM: the interaction annealed, f_β(v) = exp(-Σ(vᵢ-bᵢ)²/(2σᵢ²))
  Πⱼ (1 + exp(β(cⱼ + Σᵢ Wᵢⱼvᵢ/σᵢ))), from N(b, σ²) × uniform h (Z₀ = 2ᴴ Πᵢ √(2π)σᵢ);
- Ising: exp(-βE) from β = 0 (uniform spins, Z₀ = 2ⁿ), with Gibbs sweeps at each β.

The estimate is log Ẑ = log Z₀ + log mean(w) with the delta-method standard error of the
continuous estimators; E log Ẑ ≤ log Z (Jensen), so AIS is a stochastic lower bound.

Where it runs. An RBM's parameters are NumPy, so its base data select the device (as
the chains do for ``fe.gibbs``): a CuPy ``base`` runs a Bernoulli RBM's path on the CUDA
backend (the products by cuBLAS, the weight increments and Gibbs draws in the kernels of
``rbm.cu``); the two rows 0…0 and 1…1 as a CuPy array give the uniform base there
(b_A = logit(2/4) = 0 exactly). NumPy data or None run on the Numba kernels, and inside
``fastebm.backend.emulate_gpu()`` the same CUDA path runs on the host, for the
Gaussian-Bernoulli RBM too (whose base must be None, so no array selects a device for
it): log weights equal to the Numba backend's bit for bit for Bernoulli RBMs, to 1e-12
relative for Gaussian-Bernoulli ones (their real visibles make the two BLAS products'
sums round differently; tests/gpu/test_gpu_rbm_ais.py). Ising models have no CUDA AIS
kernels: inside the emulation they raise ``BackendUnavailableError`` by name, never
running on the CPU silently. The log weights and the estimate come back as NumPy.
"""
import numpy as np

from .._rng import philox_key
from .._validation import int_at_least
from ..diagnostics import log_z_stderr, weights_ess
from ..progress import Bar, blocks
from ..resampling import log_mean_exp
from ..results import LogZEstimate
from ..backend import resolve, to_numpy
from ..samplers._common import MAX_STEPS, check_first_chain
from . import schedules


def _betas(schedule, n_temperatures):
    if isinstance(schedule, str):
        if schedule not in schedules.FIXED:
            raise ValueError(f"schedule must be one of {sorted(schedules.FIXED)} or an array of "
                             f"temperatures for a discrete model, got {schedule!r}")
        if n_temperatures is None:
            raise TypeError(f'schedule="{schedule}" needs n_temperatures')
        return schedules.FIXED[schedule](n_temperatures)
    betas = schedules.check_schedule(schedule)
    if n_temperatures is not None and n_temperatures != betas.size:
        raise ValueError(f"n_temperatures={n_temperatures} does not match the schedule's "
                         f"{betas.size} temperatures (give None or its length)")
    return betas


def ais_discrete(model, base, n_chains, n_temperatures=None, *, schedule="linear", rng=None,
                 first_chain=None, progress=False):
    """AIS for an RBM or Ising model (see the module docstring); a ``LogZEstimate``.

    Parameters
    ----------
    model : BernoulliRBM, GaussianBernoulliRBM or Ising
    base : array_like of shape (N, V), or None
        RBM: training data whose smoothed unit means set the base-rate biases
        b_A = logit((Σ vᵢ + 1)/(N + 2)), or None for the uniform base (b_A = 0). Ising and
        Gaussian-Bernoulli RBM: must be None.
    n_chains : int
    n_temperatures : int, optional
        With a named ``schedule`` ("linear", "geometric", "sigmoid").
    schedule : str or array_like
        Named schedule, or the temperatures themselves (0 = β₀ < … < β_K = 1).
    rng : None, int, SeedSequence or Generator
    first_chain : int, optional
        The global index of chain 0 (default 0), as in :func:`fastebm.ais`.
    progress : bool, default False
        A progress bar over the chains, run in blocks, as in :func:`fastebm.ais`.
    """
    if not hasattr(model, "_ais_form"):
        raise TypeError(f"{type(model).__name__} is discrete but has no AIS path (RBMs and Ising "
                        "models have one)")
    backend = resolve(base)  # a CuPy base runs on the device, NumPy in the emulation or on Numba
    runners = backend.runners  # the CUDA runners refuse Ising models by name: no CPU fallback
    on_device = {} if backend.xp is np else {"xp": backend.xp}
    n_chains = int_at_least(n_chains, "n_chains", 2)
    first_chain = check_first_chain(0 if first_chain is None else first_chain, n_chains)
    betas = _betas(schedule, n_temperatures)
    if betas.size > MAX_STEPS:
        raise ValueError(f"at most {MAX_STEPS} temperatures")
    form, log_z0 = model._ais_form(None if base is None else to_numpy(base))
    key, log_w = philox_key(rng), np.empty(n_chains)
    with Bar(progress, n_chains, "ais", unit="chain") as bar:
        lo = 0
        for length in blocks(n_chains, bar):  # chains [lo, lo + length), on their own streams
            log_w[lo:lo + length] = runners.discrete_ais_log_weights(
                form, betas, length, model.dim, key, first_chain + lo, **on_device)
            lo += length
            bar.update(length)
    if np.any(np.isnan(log_w)) or np.any(log_w == np.inf):
        raise ValueError("AIS produced NaN or +inf log weights: the model's parameters "
                         "overflow")
    stderr = log_z_stderr(log_w)
    return LogZEstimate(float(log_z0 + log_mean_exp(log_w)), stderr, log_w,
                        float(weights_ess(log_w)), "ais", "lower", temperatures=betas)
