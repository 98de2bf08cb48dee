"""Ising / fully visible Boltzmann machine kernels: heat-bath Gibbs sweeps, AIS, exact log Z.

Spins s ∈ {-1, +1}ⁿ with E(s) = -½ sᵀJs - hᵀs (J symmetric, zero diagonal). With the
local field gᵢ = Σⱼ Jᵢⱼ sⱼ, the conditional of one spin given the others is

    p(sᵢ = +1 | s₋ᵢ) = σ(aᵢ),   aᵢ = 2(gᵢ + hᵢ)

(the two values of sᵢ differ in energy by 2(gᵢ + hᵢ)). A site is set to +1 when
u · (1 + e^{-a}) < 1, i.e. u < σ(a) without a division; u is uniform ``site`` of the
Philox stream (chain, sweep, ``TAG_ISING_SWEEP``), so every sweep of a chain draws one uniform
per site, whatever the order of the sites.

Sweeps:

- dense couplings: sequential sweep over sites 0..n-1; g is kept current by adding
  ±2 J[i] after each flip (J symmetric: row i is column i) and recomputed exactly at the
  start of every call;
- periodic L × M lattice (coupling c, field f, four neighbour slots per site): the
  neighbour sum takes one of the five values -4, -2, 0, 2, 4, so the five thresholds
  1 + e^{-2(c·k + f)} are computed once per call (``_lattice_odds``). With L and M even
  the lattice is bipartite and the checkerboard sweep updates all sites of even parity
  (i + j even), then all of odd parity; otherwise the sweep is sequential in site order
  i·M + j. A size-2 dimension makes the two neighbours in it the same site: it is then
  counted twice, as in the dense J of ``fastebm.Ising.lattice``.

Every kernel takes effective parameters: a tempered model exp(-βE) is passed as (βJ, βh)
or (βc, βf) by the API; AIS multiplies them by its own βₖ.
"""
import numpy as np
from numba import prange

from ..._contract import TAG_ISING_FLIP, TAG_ISING_INIT, TAG_ISING_SWEEP
from ._jit import helper, kernel
from .chains import _record
from .logsumexp import combine, push
from .philox import fill_uniforms

ENUM_CHUNK_BITS = 12


# -- lattices --------------------------------------------------------------------------------
@helper()
def _lattice_odds(coupling, field, q):
    """q[k] = 1 + exp(-2(coupling·(2k - 4) + field)) for neighbour sums 2k - 4, k = 0..4."""
    for k in range(5):
        q[k] = 1.0 + np.exp(-2.0 * (coupling * (2.0 * k - 4.0) + field))


@helper()
def _lattice_row(s, u, q, L, M, i, j0, stride):
    """Heat-bath updates of sites (i, j0), (i, j0 + stride), ... of one chain's spins s
    (L·M,) with its uniforms u: s = +1 iff u · q[(neighbour sum + 4)/2] < 1."""
    row = i * M
    up = (i - 1 if i > 0 else L - 1) * M
    down = (i + 1 if i < L - 1 else 0) * M
    for j in range(j0, M, stride):
        left = j - 1 if j > 0 else M - 1
        right = j + 1 if j < M - 1 else 0
        nsum = s[up + j] + s[down + j] + s[row + left] + s[row + right]
        x = row + j
        s[x] = 1.0 if u[x] * q[np.int64(nsum + 4.0) >> 1] < 1.0 else -1.0


@helper()
def _checkerboard_sweep(s, u, q, L, M):
    """All sites with i + j even, then all with i + j odd (L and M even)."""
    for parity in range(2):
        for i in range(L):
            _lattice_row(s, u, q, L, M, i, (i + parity) % 2, 2)


@helper()
def _lattice_sequential_sweep(s, u, q, L, M):
    """Sites in the order i·M + j."""
    for i in range(L):
        _lattice_row(s, u, q, L, M, i, 0, 1)


@helper()
def _lattice_sweep(s, u, q, L, M, checkerboard):
    if checkerboard:
        _checkerboard_sweep(s, u, q, L, M)
    else:
        _lattice_sequential_sweep(s, u, q, L, M)


@helper()
def lattice_energy(s, L, M, coupling, field):
    """E(s) = -coupling Σₓ sₓ (s_right(x) + s_down(x)) - field Σₓ sₓ (periodic)."""
    bonds = 0.0
    total = 0.0
    for i in range(L):
        row = i * M
        down = ((i + 1) % L) * M
        for j in range(M):
            x = s[row + j]
            bonds += x * (s[row + (j + 1) % M] + s[down + j])
            total += x
    return -(coupling * bonds + field * total)


@kernel(parallel=True)
def lattice_gibbs_run(lattice, s, n_steps, streams, records):
    """``n_steps`` Gibbs sweeps of every chain in ``s`` (n_chains, L·M), in place.

    Sweep t (global index step0 + t) of chain c takes uniform ``site`` of (c, step0 + t,
    TAG_ISING_SWEEP), c the chain's global index; every ``thin``-th state is recorded in
    draw slot (t+1)//thin - 1.
    """
    L, M, coupling, field, checkerboard = lattice
    k0, k1, step0, chain0 = streams
    record, thin, draws, mean, m2, first = records
    n_chains, n = s.shape
    q = np.empty(5)
    _lattice_odds(coupling, field, q)
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(n)
        for t in range(n_steps):
            fill_uniforms(k0, k1, chain0 + c, step0 + t, TAG_ISING_SWEEP, u)
            _lattice_sweep(x, u, q, L, M, checkerboard)
            if (t + 1) % thin == 0:
                _record(record, first + (t + 1) // thin - 1, x, False, draws[:, c], mean[c], m2[c])


@helper()
def _uniform_spins(k0, k1, chain, u, x):
    """x = +1 where u < ½ (u the uniforms of (chain, 0, TAG_ISING_INIT)), else -1."""
    fill_uniforms(k0, k1, chain, 0, TAG_ISING_INIT, u)
    for i in range(x.shape[0]):
        x[i] = 1.0 if u[i] < 0.5 else -1.0


@kernel(parallel=True)
def lattice_ais_run(lattice, betas, streams, s, log_w):
    """AIS along exp(-βE), β = betas[0] = 0 → betas[K] = 1, for a lattice.

    Chains start at uniform spins (p₀ uniform, Z₀ = 2ⁿ); for k = 1..K

        log w += -(βₖ - βₖ₋₁) E(s),

    then (k < K) one Gibbs sweep at βₖ on the stream (chain, k, TAG_ISING_SWEEP) (Neal 2001).
    ``s`` ends at the last states, ``log_w`` holds the log weights.
    """
    L, M, coupling, field, checkerboard = lattice
    k0, k1, _, chain0 = streams
    n_chains, n = s.shape
    n_temps = betas.shape[0]
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(n)
        q = np.empty(5)
        _uniform_spins(k0, k1, chain0 + c, u, x)
        lw = 0.0
        for k in range(1, n_temps):
            lw -= (betas[k] - betas[k - 1]) * lattice_energy(x, L, M, coupling, field)
            if k == n_temps - 1:
                break
            _lattice_odds(betas[k] * coupling, betas[k] * field, q)
            fill_uniforms(k0, k1, chain0 + c, k, TAG_ISING_SWEEP, u)
            _lattice_sweep(x, u, q, L, M, checkerboard)
        log_w[c] = lw


# -- dense couplings -------------------------------------------------------------------------
@helper()
def _local_fields(J, s, g):
    """g = J s."""
    n = s.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += J[i, j] * s[j]
        g[i] = acc


@helper()
def _dense_sweep(s, g, J, h, scale, u):
    """One sequential heat-bath sweep (sites 0..n-1) of exp(scale·(½sᵀJs + hᵀs)); g = Js
    is updated after every flip, so each site sees the current state of the others."""
    n = s.shape[0]
    for i in range(n):
        a = 2.0 * scale * (g[i] + h[i])
        new = 1.0 if u[i] * (1.0 + np.exp(-a)) < 1.0 else -1.0
        if new != s[i]:
            d = new - s[i]
            for j in range(n):
                g[j] += d * J[i, j]
            s[i] = new


@helper()
def _dense_energy(s, g, h):
    """E(s) = -(½ sᵀg + hᵀs) with g = Js."""
    acc = 0.0
    for i in range(s.shape[0]):
        acc += s[i] * (0.5 * g[i] + h[i])
    return -acc


@kernel(parallel=True)
def dense_gibbs_run(model, s, n_steps, streams, records):
    """``n_steps`` sequential Gibbs sweeps of every chain in ``s`` (n_chains, n), in place
    (streams and recording as in ``lattice_gibbs_run``)."""
    J, h = model
    k0, k1, step0, chain0 = streams
    record, thin, draws, mean, m2, first = records
    n_chains, n = s.shape
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(n)
        g = np.empty(n)
        _local_fields(J, x, g)
        for t in range(n_steps):
            fill_uniforms(k0, k1, chain0 + c, step0 + t, TAG_ISING_SWEEP, u)
            _dense_sweep(x, g, J, h, 1.0, u)
            if (t + 1) % thin == 0:
                _record(record, first + (t + 1) // thin - 1, x, False, draws[:, c], mean[c], m2[c])


@kernel(parallel=True)
def dense_ais_run(model, betas, streams, s, log_w):
    """AIS along exp(-βE) for dense couplings, as ``lattice_ais_run``."""
    J, h = model
    k0, k1, _, chain0 = streams
    n_chains, n = s.shape
    n_temps = betas.shape[0]
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(n)
        g = np.empty(n)
        _uniform_spins(k0, k1, chain0 + c, u, x)
        _local_fields(J, x, g)
        lw = 0.0
        for k in range(1, n_temps):
            lw -= (betas[k] - betas[k - 1]) * _dense_energy(x, g, h)
            if k == n_temps - 1:
                break
            fill_uniforms(k0, k1, chain0 + c, k, TAG_ISING_SWEEP, u)
            _dense_sweep(x, g, J, h, betas[k], u)
        log_w[c] = lw


# -- exact log Z -----------------------------------------------------------------------------
@helper()
def _chunk_start(J, h, ch, low, s, g):
    """Spins of the first state of chunk ``ch`` (low spins -1, high spins the bits of ch),
    their fields g = Js, and -E(s)."""
    n = s.shape[0]
    for j in range(n):
        s[j] = 1.0 if j >= low and (ch >> (j - low)) & 1 else -1.0
    _local_fields(J, s, g)
    return -_dense_energy(s, g, h)


@kernel(parallel=True)
def enumerate_log_z(J, h):
    """log Σ_{s ∈ {-1,+1}ⁿ} exp(½ sᵀJs + hᵀs).

    The 2ⁿ states are cut into chunks of 2^ENUM_CHUNK_BITS sharing their high spins, run in
    parallel; inside a chunk the low spins follow a Gray code, so each state differs from
    the last in one spin k, and -E changes by -2 sₖ (gₖ + hₖ) while g changes by -2 sₖ J[k]
    (exact recomputation at each chunk start). Each chunk keeps a running log-sum-exp; the
    chunks are combined stably at the end.
    """
    n = J.shape[0]
    low = min(n, ENUM_CHUNK_BITS)
    n_chunks = 1 << (n - low)
    chunk_max = np.empty(n_chunks)
    chunk_sum = np.empty(n_chunks)
    for ch in prange(n_chunks):
        s = np.empty(n)
        g = np.empty(n)
        val = _chunk_start(J, h, ch, low, s, g)
        top = val
        total = 1.0
        for i in range(1, 1 << low):
            k = 0
            while ((i >> k) & 1) == 0:
                k += 1
            d = -2.0 * s[k]
            val += d * (g[k] + h[k])
            for j in range(n):
                g[j] += d * J[k, j]
            s[k] = -s[k]
            top, total = push(top, total, val)
        chunk_max[ch] = top
        chunk_sum[ch] = total
    return combine(chunk_max, chunk_sum)


# -- single-site Metropolis ------------------------------------------------------------------

@helper()
def _flip_site(p, n, random_scan, u):
    """The site of proposal p of a sweep: p (systematic scan), or ⌊n u[2p]⌋ (random)."""
    if random_scan:
        return min(np.int64(u[2 * p] * n), n - 1)
    return p


@kernel(parallel=True)
def dense_metropolis_run(model, s, n_steps, streams, records, random_scan, flips):
    """``n_steps`` single-site Metropolis sweeps (n proposals each) of every chain in ``s``.

    Proposal p of sweep t flips site i (p, or uniformly drawn with ``random_scan``); with
    the local field gᵢ = Σⱼ Jᵢⱼ sⱼ the energy changes by ΔE = 2sᵢ(gᵢ + hᵢ), and the flip is
    taken when u < exp(-ΔE) (Metropolis et al. 1953), u uniform 2p + 1 of (chain, t,
    TAG_ISING_FLIP). ``flips[c]`` adds the fraction of sweep t's proposals taken.
    """
    J, h = model
    k0, k1, step0, chain0 = streams
    record, thin, draws, mean, m2, first = records
    n_chains, n = s.shape
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(2 * n)
        g = np.empty(n)
        _local_fields(J, x, g)
        for t in range(n_steps):
            fill_uniforms(k0, k1, chain0 + c, step0 + t, TAG_ISING_FLIP, u)
            taken = 0
            for p in range(n):
                i = _flip_site(p, n, random_scan, u)
                delta = 2.0 * x[i] * (g[i] + h[i])
                if delta <= 0.0 or u[2 * p + 1] < np.exp(-delta):
                    x[i] = -x[i]
                    for j in range(n):
                        g[j] += 2.0 * x[i] * J[i, j]
                    taken += 1
            flips[c] += taken / n
            if (t + 1) % thin == 0:
                _record(record, first + (t + 1) // thin - 1, x, False, draws[:, c], mean[c], m2[c])


@kernel(parallel=True)
def lattice_metropolis_run(lattice, s, n_steps, streams, records, random_scan, flips):
    """``dense_metropolis_run`` on a periodic L × M lattice: ΔE = 2sᵢ(coupling · Σ
    neighbours + field), the ten values exp(-ΔE) computed once per call."""
    L, M, coupling, field, _ = lattice
    k0, k1, step0, chain0 = streams
    record, thin, draws, mean, m2, first = records
    n_chains, n = s.shape
    ratio = np.empty((2, 5))  # [spin is +1, (neighbour sum + 4) / 2]
    for k in range(5):
        local = coupling * (2.0 * k - 4.0) + field
        ratio[0, k] = np.exp(-2.0 * local)
        ratio[1, k] = np.exp(2.0 * local)
    for c in prange(n_chains):
        x = s[c]
        u = np.empty(2 * n)
        for t in range(n_steps):
            fill_uniforms(k0, k1, chain0 + c, step0 + t, TAG_ISING_FLIP, u)
            taken = 0
            for p in range(n):
                i = _flip_site(p, n, random_scan, u)
                row, col = i // M, i % M
                up = (row - 1 if row > 0 else L - 1) * M + col
                down = (row + 1 if row < L - 1 else 0) * M + col
                left = row * M + (col - 1 if col > 0 else M - 1)
                right = row * M + (col + 1 if col < M - 1 else 0)
                k = np.int64(x[up] + x[down] + x[left] + x[right] + 4.0) >> 1
                if u[2 * p + 1] < ratio[0 if x[i] > 0 else 1, k]:
                    x[i] = -x[i]
                    taken += 1
            flips[c] += taken / n
            if (t + 1) % thin == 0:
                _record(record, first + (t + 1) // thin - 1, x, False, draws[:, c], mean[c], m2[c])
