"""Importance sampling from a proposal q, and importance sampling plus resampling.

With yᵢ ~ q (i = 1..n) and weights wᵢ = exp(-E(yᵢ)) / q(yᵢ), Ẑ = (1/n) Σ wᵢ is an
unbiased estimate of Z = ∫ exp(-E) (seed 002, eq. 7); log Ẑ is biased low (Jensen).
Its delta-method standard error is se(log Ẑ) = sd(w) / (√n · mean(w)), trustworthy only
when the weights have finite variance (q's tails heavier than p's); the effective
sample size (Σw)²/Σw² tells how many draws carry the estimate.

Where it runs: the proposal decides (``Proposal._backend``). One built from CuPy arrays
draws, weights and resamples on the GPU (the CUDA kernels of ``importance.cu``, the
energy through its CUDA form) and the result holds CuPy arrays; inside
``fastebm.backend.emulate_gpu()`` a NumPy proposal takes that path on the host.
Otherwise the Numba kernels run. The summaries (log Ẑ, its error, the ESS) are the same
array expressions on either array module.
"""
import numpy as np

from .._rng import philox_key
from .._validation import int_at_least
from ..energies.base import Energy
from ..progress import Bar, blocks
from ..proposals import Proposal
from ..backend import CPU, array_module
from ..resampling import _check_method, normalized_weights
from ..results import ImportanceResult
from ..warnings import check_ess
from ._common import check_first_chain


def _check(energy, proposal, n):
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    if not isinstance(proposal, Proposal):
        raise TypeError(f"proposal must be a fastebm.proposals object, got {type(proposal).__name__}")
    if energy.dim is not None and energy.dim != proposal.dim:
        raise ValueError(f"proposal has dimension {proposal.dim}, the energy {energy.dim}")
    return int_at_least(n, "n", 2)


def _weighted(energy, proposal, n, key, first_chain, progress=False, desc="importance"):
    """n draws of q (draw i on the stream of chain first_chain + i) and their log
    weights, in the array module of the backend the proposal resolves to; in blocks of
    draws, which give the same draws, with a progress bar (``fastebm.dask`` runs it per
    shard)."""
    backend = proposal._backend()
    xp = backend.xp
    parts = []  # (draws, log q, energies) of each block: one block without a bar
    with Bar(progress, n, desc, unit="draw") as bar:
        lo = 0
        for length in blocks(n, bar):
            if backend is CPU:
                draws, log_q = CPU.runners.proposal_draws(proposal, length, proposal.dim, key,
                                                          first_chain + lo)
                parts.append((draws, log_q, energy.energy(draws)))
            else:  # drawn and evaluated by the CUDA kernels, in the proposal's module
                parts.append(backend.runners.importance_draws(energy, proposal, length, key,
                                                              first_chain + lo))
            lo += length
            bar.update(length)
    draws, log_q, energies = (part[0] if len(parts) == 1 else xp.concatenate(part)
                              for part in zip(*parts))
    if bool(xp.any(xp.isnan(energies))):
        raise ValueError("the energy is NaN at some proposal draws: no defined weights")
    if bool(xp.any(energies == -np.inf)):
        raise ValueError("the energy is -inf at some proposal draws: exp(-E) is not integrable")
    log_weights = -energies - log_q
    if bool(xp.all(log_weights == -np.inf)):
        raise ValueError("every importance weight is zero: the proposal misses the target")
    return draws, log_weights


def _summary(log_weights):
    """(log Ẑ, se(log Ẑ), ESS) as floats, from log weights (NumPy or CuPy; not all -inf,
    no NaN or +inf).

    With m = max ℓᵢ and wᵢ = exp(ℓᵢ - m) (so nothing overflows):
    log Ẑ = m + log Σwᵢ - log n (seed 002, eq. 7), se = sd(w) / (√n mean(w)) (the delta
    method), ESS = (Σw)² / Σw² (Kish 1965). On NumPy these are the very operations of
    ``fastebm.resampling.log_mean_exp``, ``fastebm.diagnostics.log_z_stderr`` and
    ``weights_ess`` (the same bits); on CuPy the sums are the device's reductions.
    """
    xp = array_module(log_weights)
    n = log_weights.shape[0]
    top = log_weights.max()
    w = xp.exp(log_weights - top)
    total = w.sum()
    log_z = float(top + xp.log(total)) - float(np.log(n))
    stderr = float(xp.std(w, ddof=1) / (np.sqrt(n) * xp.mean(w)))
    ess = float(total ** 2 / xp.square(w).sum())
    return log_z, stderr, ess


def importance_sample(energy, proposal, n, *, rng=None, first_chain=None, progress=False):
    """Importance sampling of exp(-E) from ``proposal``: log Z, its error, the weights.

    Parameters
    ----------
    energy : Energy
    proposal : fastebm.proposals.Proposal
        q, normalized, with tails at least as heavy as exp(-E).
    n : int
        Number of proposal draws (≥ 2).
    rng : None, int, SeedSequence or Generator
    first_chain : int, optional
        The global index of draw 0 (default 0): draw i is the stream (first_chain + i, 0,
        TAG_PROPOSAL), so the draws [a, b) of a call with ``first_chain=a`` are exactly
        those of a whole run (their weights too; log Z and its error pool the weights
        of the call).
    progress : bool, default False
        Show a progress bar (``tqdm.auto``) over the draws, made in blocks; the result is
        bitwise the same without it. ``FASTEBM_PROGRESS=0`` turns every bar off.

    Returns
    -------
    ImportanceResult
        ``draws`` (n, d), ``log_weights`` (n,), ``log_z``, ``stderr``, ``ess``; the arrays
        are CuPy arrays when the proposal was built from CuPy arrays (computed on the GPU).

    Raises
    ------
    fastebm.backend.BackendUnavailableError
        A proposal built from CuPy arrays without a usable device, or on the GPU path an
        energy without CUDA kernels (``docs/gpu.md``): nothing falls back to the CPU.

    Notes
    -----
    wᵢ = exp(-E(yᵢ) - log q(yᵢ)), log Ẑ = log((1/n) Σ wᵢ) (seed 002, eq. 7),
    se = sd(w)/(√n mean(w)), ESS = (Σw)²/Σw² (Kish).
    """
    n = _check(energy, proposal, n)
    first_chain = check_first_chain(0 if first_chain is None else first_chain, n)
    draws, log_weights = _weighted(energy, proposal, n, philox_key(rng), first_chain,
                                   progress)
    log_z, stderr, ess = _summary(log_weights)
    check_ess(ess, n, "importance_sample", stacklevel=3)
    return ImportanceResult(draws, log_weights, log_z, stderr, ess)


def importance_resample(energy, proposal, n, *, n_out=None, method="systematic", rng=None,
                        progress=False):
    """Importance sampling plus resampling: an approximate sample of p ∝ exp(-E).

    Draws n points of q, weights them as in :func:`importance_sample`, then draws
    ``n_out`` (default n) indices with probabilities wᵢ/Σw by ``method`` (see
    :func:`fastebm.resample`). Seed 002, sec. 6 ("IS plus resampling"). ``progress``:
    a bar over the draws, as in :func:`importance_sample`.

    Returns
    -------
    ImportanceResult
        As :func:`importance_sample`, with ``resampled`` of shape (n_out, d); CuPy arrays
        for a proposal built from CuPy arrays (draws, weights and resampling on the GPU).
    """
    n = _check(energy, proposal, n)
    n_out = n if n_out is None else int_at_least(n_out, "n_out", 1)
    method = _check_method(method)
    key = philox_key(rng)
    draws, log_weights = _weighted(energy, proposal, n, key, 0, progress)
    indices = proposal._backend().runners.resample(method, key,
                                                   normalized_weights(log_weights), n_out)
    log_z, stderr, ess = _summary(log_weights)
    check_ess(ess, n, "importance_resample", stacklevel=3)
    return ImportanceResult(draws, log_weights, log_z, stderr, ess, resampled=draws[indices])
