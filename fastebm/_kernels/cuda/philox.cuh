/* Philox4x32-10 and the uniform and normal mappings on it, in CUDA C.
 *
 * The device twin of fastebm/_kernels/numba/philox.py: for the same key and counter it
 * gives the same bits (tests/gpu/test_cuda_philox_host.py runs this very file on the
 * host and compares with the Numba kernels). Compiled after the ziggurat tables that
 * fastebm._kernels.cuda.tables.philox_source() puts in front of it.
 *
 * Counter layout (four 32-bit words), as on the CPU:
 *   c0 = block index within the step (each block gives 4 words)
 *   c1 = step index, c2 = chain index,
 *   c3 = tag; the ziggurat's slow path uses SLOW_FLAG | attempt << 8 | tag (c0 = index).
 *
 * References
 *   Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3",
 *   SC11: the Philox-4x32 round (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1,
 *   lo(M0 c0)), the multipliers M0, M1 and the Weyl key increments W0, W1; 10 rounds.
 *   Marsaglia & Tsang (2000), "The ziggurat method for generating random variables",
 *   J. Stat. Softw. 5(8): layers, wedge test f(X[i]) + v (f(X[i+1]) - f(X[i])) < f(x),
 *   and the tail x = -ln(u1) / R accepted when -2 ln(u2) > x^2 (Marsaglia 1964).
 *
 * Bitwise agreement needs IEEE double arithmetic without contraction: on the host
 * compile with -ffp-contract=off; on the device the one multiply-add (the wedge's y)
 * is written with __dmul_rn / __dadd_rn, which nvcc never fuses. log and exp are the
 * platform's: the CUDA libdevice log/exp are within 1-2 ulp of glibc's and not always
 * equal, so slow-path numbers can differ in the last bits on a GPU (see the test).
 */
#ifndef FASTEBM_PHILOX_CUH
#define FASTEBM_PHILOX_CUH

#ifdef __CUDACC__
#define FASTEBM_HD __host__ __device__ __forceinline__
#else
#define FASTEBM_HD static inline
#endif

#if defined(__CUDACC_RTC__)
/* NVRTC has no <stdint.h>; define FASTEBM_HAVE_STDINT when the includes provide one. */
#ifndef FASTEBM_HAVE_STDINT
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
#endif
#else
#include <math.h>
#include <stdint.h>
#endif

#ifdef __CUDA_ARCH__
#define FASTEBM_DMUL(a, b) __dmul_rn((a), (b))
#define FASTEBM_DADD(a, b) __dadd_rn((a), (b))
#else
#define FASTEBM_DMUL(a, b) ((a) * (b))
#define FASTEBM_DADD(a, b) ((a) + (b))
#endif

/* Constants (Salmon et al. 2011, Table 2 and section 5); overridable only so that the
 * tests can build a deliberately wrong generator as a negative control. */
#ifndef FASTEBM_PHILOX_M0
#define FASTEBM_PHILOX_M0 0xD2511F53u
#endif
#ifndef FASTEBM_PHILOX_M1
#define FASTEBM_PHILOX_M1 0xCD9E8D57u
#endif
#define FASTEBM_PHILOX_W0 0x9E3779B9u /* golden ratio */
#define FASTEBM_PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */
#ifndef FASTEBM_SLOW_FLAG
#define FASTEBM_SLOW_FLAG 0x80000000u
#endif
#define FASTEBM_TWO_M53 0x1p-53

struct fastebm_words {
    uint32_t w0, w1, w2, w3;
};

/* hi and lo 32-bit halves of the 64-bit product a * b. */
FASTEBM_HD void fastebm_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
#ifdef __CUDA_ARCH__
    *hi = __umulhi(a, b);
    *lo = a * b;
#else
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
#endif
}

/* One Philox-4x32 round under key (k0, k1). */
FASTEBM_HD void fastebm_philox_round(fastebm_words *c, uint32_t k0, uint32_t k1)
{
    uint32_t hi0, lo0, hi1, lo1;
    fastebm_mulhilo(FASTEBM_PHILOX_M0, c->w0, &hi0, &lo0);
    fastebm_mulhilo(FASTEBM_PHILOX_M1, c->w2, &hi1, &lo1);
    c->w0 = hi1 ^ c->w1 ^ k0;
    c->w1 = lo1;
    c->w2 = hi0 ^ c->w3 ^ k1;
    c->w3 = lo0;
}

/* Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1): the first round uses the
 * key itself, each later one the key bumped by (W0, W1) mod 2^32. */
FASTEBM_HD fastebm_words fastebm_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                        uint32_t k0, uint32_t k1)
{
    fastebm_words c = {c0, c1, c2, c3};
    fastebm_philox_round(&c, k0, k1);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int r = 0; r < 9; ++r) {
        k0 += FASTEBM_PHILOX_W0;
        k1 += FASTEBM_PHILOX_W1;
        fastebm_philox_round(&c, k0, k1);
    }
    return c;
}

/* (bits + 0.5) * 2^-53 for bits < 2^53: on the open interval (0, 1). */
FASTEBM_HD double fastebm_bits_to_unit(uint64_t bits)
{
    return ((double)(int64_t)bits + 0.5) * FASTEBM_TWO_M53;
}

/* 53-bit uniform from two words: ((hi << 32 | lo) >> 11 + 0.5) * 2^-53. */
FASTEBM_HD double fastebm_words_to_uniform(uint32_t hi, uint32_t lo)
{
    return fastebm_bits_to_unit((((uint64_t)hi << 32) | lo) >> 11);
}

/* Uniform number `index` of (chain, step, tag): two per Philox block. */
FASTEBM_HD double fastebm_uniform(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                                  uint32_t tag, uint32_t index)
{
    fastebm_words w = fastebm_philox(index >> 1, step, chain, tag, k0, k1);
    return (index & 1) ? fastebm_words_to_uniform(w.w2, w.w3)
                       : fastebm_words_to_uniform(w.w0, w.w1);
}

/* Ziggurat candidate from two words: layer = hi & 127, sign from bit 7 of hi, 53-bit u
 * from the top 21 bits of hi and all of lo; its value is sign * u * X[layer]. */
struct fastebm_candidate {
    int layer;
    double sign;
    double u;
};

FASTEBM_HD fastebm_candidate fastebm_make_candidate(uint32_t hi, uint32_t lo)
{
    fastebm_candidate c;
    c.layer = (int)(hi & 127u);
    c.sign = (hi & 128u) ? -1.0 : 1.0; /* = 1 - 2 * bit 7, exactly */
    c.u = fastebm_bits_to_unit(((uint64_t)(hi >> 11) << 32) | lo);
    return c;
}

/* Fast path (the CPU's _fast_value): writes +-u X[layer] to *x and returns 1 when
 * u < X[layer+1] / X[layer]; returns 0 (the CPU's NaN) when the candidate is rejected. */
FASTEBM_HD int fastebm_fast_value(uint32_t hi, uint32_t lo, double *x)
{
    int layer = (int)(hi & 127u);
    double u = fastebm_bits_to_unit(((uint64_t)(hi >> 11) << 32) | lo);
    double v = u * FASTEBM_ZIG_X[layer];
    *x = (hi & 128u) ? -v : v;
    return u < FASTEBM_ZIG_RATIO[layer];
}

/* Finish rejected candidate `index` (words hi, lo) exactly (the CPU's _finish): attempt
 * a = 1, 2, ... draws the block (index, step, chain, SLOW_FLAG | a << 8 | tag). Layer 0:
 * the tail beyond R. Other layers: the wedge test with v from (w0, w1); if it fails, the
 * candidate from (w2, w3) is taken when it lies in its core, else the loop goes on
 * with it. */
FASTEBM_HD double fastebm_finish(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                                 uint32_t tag, uint32_t index, uint32_t hi, uint32_t lo)
{
    fastebm_candidate c = fastebm_make_candidate(hi, lo);
    int layer = c.layer;
    double sign = c.sign, u = c.u;
    for (uint32_t attempt = 1;; ++attempt) {
        fastebm_words a = fastebm_philox(index, step, chain,
                                         FASTEBM_SLOW_FLAG | (attempt << 8) | tag, k0, k1);
        if (layer == 0) {
            double x = -log(fastebm_words_to_uniform(a.w0, a.w1)) / FASTEBM_ZIG_R;
            double y = -log(fastebm_words_to_uniform(a.w2, a.w3));
            if (2.0 * y > x * x)
                return sign * (FASTEBM_ZIG_R + x);
            continue;
        }
        double x = u * FASTEBM_ZIG_X[layer];
        double v = fastebm_words_to_uniform(a.w0, a.w1);
        double y = FASTEBM_DADD(FASTEBM_ZIG_F[layer],
                                FASTEBM_DMUL(v, FASTEBM_ZIG_F[layer + 1] - FASTEBM_ZIG_F[layer]));
        int inside = y < exp(-0.5 * x * x);
        fastebm_candidate next = fastebm_make_candidate(a.w2, a.w3);
        layer = next.layer;
        double next_value = next.sign * next.u * FASTEBM_ZIG_X[layer];
        if (inside | (next.u < FASTEBM_ZIG_RATIO[layer]))
            return inside ? sign * x : next_value; /* a select: both are computed */
        sign = next.sign;
        u = next.u;
    }
}

/* Normal number `index` of (chain, step, tag): fast path, else the exact finish. */
FASTEBM_HD double fastebm_normal(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                                 uint32_t tag, uint32_t index)
{
    fastebm_words w = fastebm_philox(index >> 1, step, chain, tag, k0, k1);
    uint32_t hi = (index & 1) ? w.w2 : w.w0, lo = (index & 1) ? w.w3 : w.w1;
    double x;
    if (fastebm_fast_value(hi, lo, &x))
        return x;
    return fastebm_finish(k0, k1, chain, step, tag, index, hi, lo);
}

/* out[0..n-1] = normals 0..n-1 of (chain, step, tag): the numbers of fill_normals. */
FASTEBM_HD void fastebm_fill_normals(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                                     uint32_t tag, uint32_t n, double *out)
{
    for (uint32_t i = 0; i < n; i += 2) {
        fastebm_words w = fastebm_philox(i >> 1, step, chain, tag, k0, k1);
        double x;
        out[i] = fastebm_fast_value(w.w0, w.w1, &x)
                     ? x : fastebm_finish(k0, k1, chain, step, tag, i, w.w0, w.w1);
        if (i + 1 < n)
            out[i + 1] = fastebm_fast_value(w.w2, w.w3, &x)
                             ? x : fastebm_finish(k0, k1, chain, step, tag, i + 1, w.w2, w.w3);
    }
}

/* out[0..n-1] = uniforms 0..n-1 of (chain, step, tag): the numbers of fill_uniforms. */
FASTEBM_HD void fastebm_fill_uniforms(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                                      uint32_t tag, uint32_t n, double *out)
{
    for (uint32_t i = 0; i < n; i += 2) {
        fastebm_words w = fastebm_philox(i >> 1, step, chain, tag, k0, k1);
        out[i] = fastebm_words_to_uniform(w.w0, w.w1);
        if (i + 1 < n)
            out[i + 1] = fastebm_words_to_uniform(w.w2, w.w3);
    }
}

#endif /* FASTEBM_PHILOX_CUH */
