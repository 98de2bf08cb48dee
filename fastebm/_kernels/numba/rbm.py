"""Restricted Boltzmann machine kernels: block Gibbs sweeps, AIS, exact log Z.

A Bernoulli RBM has E(v, h) = -vᵀb - hᵀc - vᵀWh (v ∈ {0,1}^V, h ∈ {0,1}^H), so the
layers are conditionally independent given each other (seed 003, RBM slide):

    p(hⱼ = 1 | v) = σ(cⱼ + (vᵀW)ⱼ),    p(vᵢ = 1 | h) = σ(bᵢ + (Wh)ᵢ).

One sweep draws h | v then v | h. The matrix products of a block of ``CHAIN_BLOCK``
chains go to BLAS; the sigmoid and the Bernoulli draws are fused around them, unit j of
chain i on step t taking uniform j of the Philox stream (chain i, step t, ``TAG_RBM_HIDDEN``
or ``TAG_RBM_VISIBLE``): a unit is on when u < σ(a). The Gaussian-Bernoulli RBM shares the
hidden half; its visible half draws v = b + σ ⊙ (Wh) + σ ⊙ ξ (``gaussian_visible``).

Every kernel takes effective parameters: a tempered model exp(-βE) is passed as (βW,
βb, βc) by the API, so the kernels never see β.
"""
import numpy as np
from numba import prange

from ..._contract import TAG_CD_START, TAG_RBM_HIDDEN, TAG_RBM_INIT, TAG_RBM_VISIBLE
from .blas import dot_rows
from ._jit import block_kernel, helper, kernel
from .chains import record_row, share_of_blocks, store_rows, store_values
from .logsumexp import combine, push
from .philox import fill_normals, fill_uniforms, fill_uniforms_rows
from .vexp import exp_neg_affine, softplus_sum

CHAIN_BLOCK = 32
ENUM_CHUNK_BITS = 12
TRAIN_BLOCKS = 2
BERNOULLI_ROW_MIN = 256
"""From this many units a block's Bernoulli draws go row by row (``_bernoulli_rows``):
measured on 32 rows, across the rows costs 3.5 ns a unit at n = 12 against 9.9 row by
row, but 3.7 against 3.3 at n = 500 (a 64 × 500 RBM's Gibbs sweeps took 8 % longer)."""


def wide_units(n):
    """The ``wide`` argument of ``_bernoulli_rows`` for n units: None (across the rows)
    below ``BERNOULLI_ROW_MIN``, else True (row by row). As the samplers' ``wide``
    (``runners.wide_rows``), its type picks the code at compile time: an RBM whose layers
    are both narrower compiles no row-by-row code."""
    return None if n < BERNOULLI_ROW_MIN else True


@helper()
def _scratch(m, n):
    """Scratch of ``_bernoulli_rows`` and ``_gaussian_rows`` for m rows of n units: draws
    unit-major (n rounded up to even, m), values (m, n) and int64 (m, n)."""
    return np.empty((n + (n & 1), m)), np.empty((m, n)), np.empty((m, n), dtype=np.int64)


@helper()
def _bernoulli_rows(pre, bias, scale, k0, k1, first_chain, step, tag, scratch, out, wide):
    """out[r, j] = 1 if u < σ(scale·(bias[j] + pre[r, j])) else 0, u uniform j of chain
    first+r; ``scratch`` from ``_scratch``, ``wide`` from ``wide_units``.

    Tested as u·(1 + e^{-a}) < 1. For short rows (``wide`` None) the uniforms are drawn
    across the rows at once (``fill_uniforms_rows``) and the vectorized exp of ``vexp``
    runs over the whole block: row by row, the loops over a short row (n = 12) barely
    vectorize. Long rows go row by row, the same numbers."""
    u, e, bits = scratch
    m, n = pre.shape
    if wide is not None:
        row_u = u.reshape(u.size)[:n + (n & 1)]
        for r in range(m):
            fill_uniforms(k0, k1, first_chain + r, step, tag, row_u)
            exp_neg_affine(pre[r:r + 1], bias, scale, e[r:r + 1], bits[r:r + 1])
            for j in range(n):
                out[r, j] = 1.0 if row_u[j] * (1.0 + e[r, j]) < 1.0 else 0.0
        return
    fill_uniforms_rows(k0, k1, first_chain, step, tag, u)
    exp_neg_affine(pre, bias, scale, e, bits)
    for r in range(m):
        for j in range(n):
            out[r, j] = 1.0 if u[j, r] * (1.0 + e[r, j]) < 1.0 else 0.0


@helper()
def _gaussian_rows(pre, bias, sigma, k0, k1, first_chain, step, tag, scratch, out):
    """out[r, i] = bias[i] + σᵢ (pre[r, i] + ξᵢ), ξ the normals of chain first+r;
    ``scratch`` from ``_scratch``."""
    xi = scratch[1]
    for r in range(pre.shape[0]):
        fill_normals(k0, k1, first_chain + r, step, tag, xi[r])
        for i in range(pre.shape[1]):
            out[r, i] = bias[i] + sigma[i] * (pre[r, i] + xi[r, i])


@block_kernel
def gibbs_run(model, v, n_steps, streams, records, wide_h, wide_v, share, shares):
    """``n_steps`` block Gibbs sweeps of every chain in ``v`` (n_chains, V), in place;
    this call takes the blocks of ``CHAIN_BLOCK`` chains of share ``share`` of ``shares``
    (``chains.share_of_blocks``), and called without the last two, every chain, one
    thread per share (``_jit.over_blocks``).

    Sweep t (global index step0 + t) draws h ~ p(h | v) with the uniforms of (chain,
    t, TAG_RBM_HIDDEN), then v ~ p(v | h) with (chain, t, TAG_RBM_VISIBLE): Bernoulli visibles
    from uniforms, or Gaussian ones v = b + σ ⊙ (Wh + ξ) from normals when
    ``gaussian_visible`` (W then acts on v/σ, so the caller passes W scaled by 1/σ in
    its rows for the hidden half: see ``energies.rbm``). Every ``thin``-th state is
    recorded in draw slot first_slot + (t+1)//thin - 1 (``Records.first``).
    """
    W, WT, b, c, sigma, gaussian_visible = model
    k0, k1, step0, chain0 = streams
    record, thin, draws, mean, m2, first_slot = records
    n_chains, n_vis = v.shape
    n_hid = W.shape[1]
    first_block, end_block = share_of_blocks(n_chains, CHAIN_BLOCK, share, shares)
    for blk in range(first_block, end_block):
        lo = blk * CHAIN_BLOCK
        hi = min(lo + CHAIN_BLOCK, n_chains)
        m = hi - lo
        vb = v[lo:hi].copy()
        hb, pre_h, pre_v = np.empty((m, n_hid)), np.empty((m, n_hid)), np.empty((m, n_vis))
        scratch_h, scratch_v = _scratch(m, n_hid), _scratch(m, n_vis)
        for t in range(n_steps):
            step = step0 + t
            first = chain0 + lo
            dot_rows(vb, W, pre_h)
            _bernoulli_rows(pre_h, c, 1.0, k0, k1, first, step, TAG_RBM_HIDDEN, scratch_h, hb,
                            wide_h)
            dot_rows(hb, WT, pre_v)
            if gaussian_visible:
                _gaussian_rows(pre_v, b, sigma, k0, k1, first, step, TAG_RBM_VISIBLE, scratch_v,
                               vb)
            else:
                _bernoulli_rows(pre_v, b, 1.0, k0, k1, first, step, TAG_RBM_VISIBLE, scratch_v,
                                vb, wide_v)
            if (t + 1) % thin == 0:
                slot = first_slot + (t + 1) // thin - 1
                for r in range(hi - lo):
                    record_row(record, slot, vb, r, False, draws, mean, m2, lo + r)
        store_rows(vb, v, lo)


@block_kernel
def ais_run(model, b_base, betas, streams, v, log_w, wide_h, wide_v, share, shares):
    """AIS for an RBM, on the blocks of ``CHAIN_BLOCK`` chains of share ``share`` of
    ``shares`` (called without the last two, on every chain: as ``gibbs_run``): Bernoulli from a base-rate model (Salakhutdinov & Murray 2008),
    Gaussian-Bernoulli by annealing the interaction.

    The path is f_β(v) = exp((1-β) vᵀb_A + β vᵀb) Πⱼ (1 + exp(β(cⱼ + (vᵀW)ⱼ))), the
    marginal of exp(-β E_B(v, h) - (1-β) E_A(v)) with E_A(v) = -vᵀb_A: at β = 0 it is
    2^H times the independent base-rate model, at β = 1 the RBM's exp(-F(v)). Chains
    start at v ~ Πᵢ Bern(σ(b_A,ᵢ)) (uniforms of (chain, 0, TAG_RBM_INIT)); for k = 1..K

        log w += log f_{β_k}(v) - log f_{β_{k-1}}(v),

    then (k < K) one Gibbs sweep leaving f_{β_k} invariant: hⱼ ~ Bern(σ(β_k(cⱼ +
    (vᵀW)ⱼ))), vᵢ ~ Bern(σ((1-β_k) b_A,ᵢ + β_k (bᵢ + (Wh)ᵢ))), on the streams (chain, k,
    TAG_RBM_HIDDEN / TAG_RBM_VISIBLE). ``v`` ends at the last state, ``log_w`` holds the weights.

    With ``gaussian`` (W, WT, c, σ as ``gibbs_run`` takes them, and b_A = b), the path is
    f_β(v) = exp(-Σᵢ (vᵢ-bᵢ)²/(2σᵢ²)) Πⱼ (1 + exp(β(cⱼ + Σᵢ Wᵢⱼ vᵢ/σᵢ))): at β = 0,
    2^H times N(b, σ²) (chains start at v = b + σξ, normals of (chain, 0, TAG_RBM_INIT)),
    the same log-weight increments, and Gibbs sweeps with v | h ~ N(b + β σ(Wh), σ²).
    """
    W, WT, b, c, sigma, gaussian = model
    k0, k1, _, chain0 = streams
    n_chains, n_vis = v.shape
    n_hid = W.shape[1]
    n_temps = betas.shape[0]
    first_block, end_block = share_of_blocks(n_chains, CHAIN_BLOCK, share, shares)
    for blk in range(first_block, end_block):
        lo = blk * CHAIN_BLOCK
        hi = min(lo + CHAIN_BLOCK, n_chains)
        m = hi - lo
        vb = np.empty((m, n_vis))
        hb, pre, pre_v = np.empty((m, n_hid)), np.empty((m, n_hid)), np.empty((m, n_vis))
        scratch_h, scratch_v = _scratch(m, n_hid), _scratch(m, n_vis)
        zero = np.zeros((m, n_vis))
        if gaussian:
            _gaussian_rows(zero, b, sigma, k0, k1, chain0 + lo, 0, TAG_RBM_INIT, scratch_v, vb)
        else:
            _bernoulli_rows(zero, b_base, 1.0, k0, k1, chain0 + lo, 0, TAG_RBM_INIT, scratch_v,
                            vb, wide_v)
        lw = np.zeros(m)
        bias_v = np.empty(n_vis)
        e = np.empty(n_hid)
        bits = np.empty(n_hid, dtype=np.int64)
        for k in range(1, n_temps):
            beta, beta_prev = betas[k], betas[k - 1]
            dot_rows(vb, W, pre)
            for r in range(m):
                acc = 0.0
                for i in range(n_vis):
                    acc += vb[r, i] * (b[i] - b_base[i])
                lw[r] += ((beta - beta_prev) * acc + softplus_sum(pre[r], c, beta, e, bits)
                          - softplus_sum(pre[r], c, beta_prev, e, bits))
            if k == n_temps - 1:
                break
            _bernoulli_rows(pre, c, beta, k0, k1, chain0 + lo, k, TAG_RBM_HIDDEN, scratch_h, hb,
                            wide_h)
            for i in range(n_vis):
                bias_v[i] = (1.0 - beta) * b_base[i] + beta * b[i]
            dot_rows(hb, WT, pre_v)
            pre_v *= beta
            if gaussian:
                _gaussian_rows(pre_v, b, sigma, k0, k1, chain0 + lo, k, TAG_RBM_VISIBLE,
                               scratch_v, vb)
            else:
                _bernoulli_rows(pre_v, bias_v, 1.0, k0, k1, chain0 + lo, k, TAG_RBM_VISIBLE,
                                scratch_v, vb, wide_v)
        store_rows(vb, v, lo)
        store_values(lw, log_w, lo)


@helper()
def _enumerated_term(quadratic, bias_other, u, e, bits):
    """Σₖ softplus(biasₖ + uₖ) (Bernoulli other layer) or Σₖ (biasₖ uₖ + uₖ²/2)
    (Gaussian other layer, integrated out); e, bits: scratch for ``softplus_sum``."""
    if quadratic:
        acc = 0.0
        for k in range(u.shape[0]):
            acc += bias_other[k] * u[k] + 0.5 * u[k] * u[k]
        return acc
    return softplus_sum(u, bias_other, 1.0, e, bits)


def enumerate_log_z(A, bias_enum, bias_other, quadratic):
    """log Σ_{s ∈ {0,1}^n} exp(bias_enumᵀs + term(Aᵀs)), enumerating the n units of one
    layer (rows of A, shape (n, m)) with the other layer summed or integrated out.

    The 2ⁿ states are cut into chunks of 2^ENUM_CHUNK_BITS sharing their high bits, run
    one thread per share of the chunks (``_enumerate_chunks``); inside a chunk the low
    bits follow a Gray code, so each state differs from the last in one unit and u = Aᵀs
    is updated by one row (recomputed exactly at each chunk start). Each chunk keeps a
    running log-sum-exp; the chunks are combined stably at the end.
    """
    n_chunks = 1 << (A.shape[0] - min(A.shape[0], ENUM_CHUNK_BITS))
    chunk_max = np.empty(n_chunks)
    chunk_sum = np.empty(n_chunks)
    _enumerate_chunks(A, bias_enum, bias_other, quadratic, chunk_max, chunk_sum)
    return _combine_chunks(chunk_max, chunk_sum)


@kernel()
def _combine_chunks(chunk_max, chunk_sum):
    """``logsumexp.combine`` of the chunks' running log-sum-exps."""
    return combine(chunk_max, chunk_sum)


@block_kernel
def _enumerate_chunks(A, bias_enum, bias_other, quadratic, chunk_max, chunk_sum, share,
                      shares):
    """The running log-sum-exp (chunk_max[ch], chunk_sum[ch]) of each chunk ch of the
    share ``share`` of ``shares`` of ``enumerate_log_z``'s chunks (one chunk a block)."""
    n, m = A.shape
    low = min(n, ENUM_CHUNK_BITS)
    first_chunk, end_chunk = share_of_blocks(chunk_max.shape[0], 1, share, shares)
    for ch in range(first_chunk, end_chunk):
        s = np.zeros(n)
        for j in range(low, n):
            s[j] = float((ch >> (j - low)) & 1)
        u = np.zeros(m)
        e = np.empty(m)
        bits = np.empty(m, dtype=np.int64)
        lin = 0.0
        for j in range(low, n):
            if s[j] > 0.0:
                lin += bias_enum[j]
                for k in range(m):
                    u[k] += A[j, k]
        top = -np.inf
        total = 0.0
        for i in range(1 << low):
            if i > 0:
                bit = 0
                while ((i >> bit) & 1) == 0:
                    bit += 1
                sign = 1.0 - 2.0 * s[bit]
                s[bit] = 1.0 - s[bit]
                lin += sign * bias_enum[bit]
                for k in range(m):
                    u[k] += sign * A[bit, k]
            val = lin + _enumerated_term(quadratic, bias_other, u, e, bits)
            top, total = push(top, total, val)
        chunk_max[ch] = top
        chunk_sum[ch] = total


@helper()
def _hidden_means(X, W, c):
    """σ(c + XW) for a batch (BLAS product, then the vectorized sigmoid in place)."""
    S = np.dot(X, W)
    e = np.empty(S.shape)
    exp_neg_affine(S, c, 1.0, e, np.empty(S.shape, dtype=np.int64))
    for r in range(S.shape[0]):
        for j in range(S.shape[1]):
            S[r, j] = 1.0 / (1.0 + e[r, j])
    return S


@helper()
def _bernoulli_from_means(S, k0, k1, first_chain, step, tag, u, out):
    """out[r, j] = 1 if u < S[r, j] else 0: binary draws from probabilities S, row r on
    the stream (chain first_chain + r, step, tag)."""
    for r in range(S.shape[0]):
        fill_uniforms(k0, k1, first_chain + r, step, tag, u)
        for j in range(S.shape[1]):
            out[r, j] = 1.0 if u[j] < S[r, j] else 0.0


@kernel()
def bernoulli_from_means(S, k0, k1, step, tag, out):
    """Kernel entry of ``_bernoulli_from_means`` (the generic training path)."""
    _bernoulli_from_means(S, k0, k1, 0, step, tag, np.empty(S.shape[1]), out)


@kernel()
def visible_given_hidden(WT, b, sigma, gaussian, h, k0, k1, step, out):
    """v ~ p(v | h) for every row of h, row r on the stream (r, step, TAG_RBM_VISIBLE):
    Bernoulli (u < σ(b + hWᵀ)) or Gaussian (b + σ(hWᵀ + ξ)); WT as in ``gibbs_run``."""
    pre = np.dot(h, WT)
    scratch = _scratch(pre.shape[0], pre.shape[1])
    if gaussian:
        _gaussian_rows(pre, b, sigma, k0, k1, 0, step, TAG_RBM_VISIBLE, scratch, out)
    else:
        _bernoulli_rows(pre, b, 1.0, k0, k1, 0, step, TAG_RBM_VISIBLE, scratch, out, None)


@helper()
def _column_sums(X, scale, out):
    """out[j] += scale · Σ_r X[r, j]."""
    for r in range(X.shape[0]):
        for j in range(X.shape[1]):
            out[j] += scale * X[r, j]


@helper()
def _rows(block, n_blocks, n):
    """The rows [lo, hi) of block ``block`` when n rows are cut into n_blocks near-equal parts."""
    return block * n // n_blocks, (block + 1) * n // n_blocks


@kernel(parallel=True)
def train_epoch(params, velocity, data, order, batch_size, chains, persistent, k, update0,
                key, optimizer):
    """One epoch of CD-k (``persistent`` False) or PCD on a Bernoulli RBM, in place.

    Update u on the mini-batch B (rows ``order[start:start+batch_size]`` of ``data``),
    with s(X) = σ(c + XW):

    1. s⁺ = s(B). The negative chains' hidden layer h is, for CD, a draw from s⁺ on
       (row, u, TAG_CD_START); for PCD, the stored fantasy particles ``chains_h``.
    2. k half-sweep pairs t = 0..k-1 on step u·k + t: v ~ p(v | h) (TAG_RBM_VISIBLE), then
       s⁻ = s(v) and h ~ Bern(s⁻) (TAG_RBM_HIDDEN). The last h is PCD's new fantasy state
       (drawn under the θ before this update, as in Tieleman 2008's implementation).
    3. ∇W = vᵀs⁻/m - Bᵀs⁺/n + λW, ∇b = mean(v) - mean(B), ∇c = mean s⁻ - mean s⁺ (the
       NLL gradient of ``training.rbm_training``); vel ← μ vel - lr ∇, θ ← θ + vel.

    Steps 1-2 and the sums of step 3 run in one parallel region per update over
    ``TRAIN_BLOCKS`` blocks of rows (the chains are independent; each block keeps
    partial sums of the statistics), with 2k + 3 matrix products per block through BLAS
    and one vectorized exp per unit drawn or averaged. Returns the number of updates.

    Grouped arguments: ``params`` (W, b, c) and ``velocity`` (of each) updated in place,
    ``chains`` (v, h) PCD's fantasy particles, ``key`` (k0, k1), ``optimizer``
    (learning rate, momentum, weight decay).
    """
    W, b, c = params
    vel_W, vel_b, vel_c = velocity
    chains_v, chains_h = chains
    k0, k1 = key
    learning_rate, momentum, weight_decay = optimizer
    n_data, n_vis = data.shape
    n_hid = W.shape[1]
    update = update0
    n_blocks = TRAIN_BLOCKS
    part_W = np.empty((n_blocks, n_vis, n_hid))
    part_b = np.empty((n_blocks, n_vis))
    part_c = np.empty((n_blocks, n_hid))
    for start in range(0, n_data, batch_size):
        n = min(batch_size, n_data - start)
        batch = np.empty((n, n_vis))
        for r in range(n):
            batch[r] = data[order[start + r]]
        if persistent:
            v, h = chains_v, chains_h
        else:
            v, h = np.empty((n, n_vis)), np.empty((n, n_hid))
        m = v.shape[0]
        WT = np.ascontiguousarray(W.T)
        part_W[:] = 0.0
        part_b[:] = 0.0
        part_c[:] = 0.0
        for blk in prange(n_blocks):
            u_h = np.empty(n_hid)
            plo, phi = _rows(blk, n_blocks, n)
            pos = batch[plo:phi]
            s_pos = _hidden_means(pos, W, c)
            part_W[blk] -= np.dot(np.ascontiguousarray(pos.T), s_pos) / n
            _column_sums(pos, -1.0 / n, part_b[blk])
            _column_sums(s_pos, -1.0 / n, part_c[blk])
            lo, hi = _rows(blk, n_blocks, m)
            scratch_v = _scratch(hi - lo, n_vis)
            if not persistent:  # CD: m == n, so the block's chains are its batch rows
                _bernoulli_from_means(s_pos, k0, k1, lo, update, TAG_CD_START, u_h, h[lo:hi])
            for t in range(k):
                step = update * k + t
                _bernoulli_rows(np.dot(h[lo:hi], WT), b, 1.0, k0, k1, lo, step, TAG_RBM_VISIBLE,
                                scratch_v, v[lo:hi], None)
                s_neg = _hidden_means(v[lo:hi], W, c)
                _bernoulli_from_means(s_neg, k0, k1, lo, step, TAG_RBM_HIDDEN, u_h, h[lo:hi])
                if t == k - 1:  # the negative statistics, at the last half-sweep
                    part_W[blk] += np.dot(np.ascontiguousarray(v[lo:hi].T), s_neg) / m
                    _column_sums(v[lo:hi], 1.0 / m, part_b[blk])
                    _column_sums(s_neg, 1.0 / m, part_c[blk])
        grad_W = part_W.sum(axis=0)
        grad_b = part_b.sum(axis=0)
        grad_c = part_c.sum(axis=0)
        for i in range(n_vis):
            for j in range(n_hid):
                vel_W[i, j] = momentum * vel_W[i, j] - learning_rate * (
                    grad_W[i, j] + weight_decay * W[i, j])
                W[i, j] += vel_W[i, j]
        for i in range(n_vis):
            vel_b[i] = momentum * vel_b[i] - learning_rate * grad_b[i]
            b[i] += vel_b[i]
        for j in range(n_hid):
            vel_c[j] = momentum * vel_c[j] - learning_rate * grad_c[j]
            c[j] += vel_c[j]
        update += 1
    return update
