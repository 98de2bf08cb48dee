/* What every fastebm CUDA kernel shares: the entry-point macro that makes one per-chain
 * body both a __global__ kernel (device build) and a loop over chains (host build), the
 * contract's constants, and the MCMC helpers (recording a kept state, dual averaging).
 *
 * One source, two builds (docs/gpu.md): under nvcc/NVRTC (__CUDACC__) an entry is
 *     extern "C" __global__ void name(uint64_t n, ...)  -- one thread per chain i < n;
 * under g++ (the host emulation) it is
 *     extern "C" void name(uint64_t n, ...)             -- for i in [0, n): body(i, ...).
 * Bodies touch only their chain's rows, so the host loop is an exact emulation. The loop
 * is serial: the emulation is for checking, not speed, and OpenMP's spinning workers
 * fought BLAS's threads between launches (12x slower on 2 cores, measured).
 * Compiled after philox.cuh (which defines FASTEBM_HD and the integer types).
 */
#ifndef FASTEBM_COMMON_CUH
#define FASTEBM_COMMON_CUH

#define FASTEBM_EXPAND(...) __VA_ARGS__

#if defined(__CUDACC_RTC__) && !defined(FASTEBM_HAVE_STDINT)
typedef unsigned char uint8_t; /* NVRTC has no <stdint.h> (philox.cuh defines the rest) */
#endif
#ifndef __CUDACC_RTC__
#include <string.h> /* memcpy, for bit casts on the host */
#endif

/* A user's snippet declares its functions __device__, as any CUDA device function; the
 * host build reads the CUDA qualifiers as nothing. */
#ifndef __CUDACC__
#define __device__
#define __host__
#define __forceinline__ inline
#endif

#ifdef __CUDACC__
#define FASTEBM_ENTRY(name, PARAMS, ARGS)                                                  \
    extern "C" __global__ void name PARAMS                                                 \
    {                                                                                      \
        uint64_t fastebm_i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x;              \
        if (fastebm_i < n)                                                                 \
            name##_body(fastebm_i, FASTEBM_EXPAND ARGS);                                   \
    }
#else
#define FASTEBM_ENTRY(name, PARAMS, ARGS)                                                  \
    extern "C" void name PARAMS                                                            \
    {                                                                                      \
        for (int64_t fastebm_i = 0; fastebm_i < (int64_t)n; ++fastebm_i)                   \
            name##_body((uint64_t)fastebm_i, FASTEBM_EXPAND ARGS);                         \
    }
#endif

#ifdef __CUDA_ARCH__
#define FASTEBM_INF __longlong_as_double(0x7ff0000000000000LL)
#define FASTEBM_NAN __longlong_as_double(0x7ff8000000000000LL)
#else
#define FASTEBM_INF HUGE_VAL
#define FASTEBM_NAN NAN
#endif

/* Exact tests that no compiler flag short of fast-math changes: x - x is 0 only for a
 * finite x, and x != x only for NaN. */
#define FASTEBM_ISFINITE(x) ((x) - (x) == 0.0)
#define FASTEBM_ISNAN(x) ((x) != (x))

/* Precision. A module is built for one dtype of the chain arrays (build.py's
 * FASTEBM_REAL, double unless the run's positions are float32): positions, gradients,
 * proposals, layers, spins and kept draws are fastebm_real in global memory, so that a
 * float32 run moves half the bytes; running moments stay double (fastebm_record_row).
 * A thread computes in double: it reads its chain's coordinates into double registers
 * (every float is a double exactly) and rounds once when it stores them, as the Numba
 * backend computes a float32 run in float64 and casts its outputs; a new state is
 * rounded to fastebm_real before the energy is evaluated at it (fastebm_as_real below).
 * Per-chain scalars (energies, step sizes, dual-averaging states, log weights) and
 * parameters read in the thread stay double; the operands of a matrix product
 * (xp.matmul: cuBLAS sgemm or dgemm) have the module's dtype. */
#ifndef FASTEBM_REAL
#define FASTEBM_REAL double
#endif
typedef FASTEBM_REAL fastebm_real;

/* v rounded to fastebm_real, as a double: what storing v in a chain array and reading it
 * back gives (the identity in the float64 build). The fused kernels round a chain's new
 * state (proposal, gradient) with it, so that the states of a float32 run are float32
 * vectors whether the run is one launch, many, or three launches a step. */
FASTEBM_HD double fastebm_as_real(double v)
{
    return (double)(fastebm_real)v;
}

/* fastebm._contract's stream tags (FASTEBM_TAG_NOISE, ...), preconditioner and recording
 * modes (FASTEBM_PRECOND_*, FASTEBM_RECORD_*) are #defined in front of this file by
 * fastebm/_kernels/cuda/build.py, from the one table every backend reads. */

/* Layout. Arrays of the chains are column-major ("structure of arrays"): coordinate j of
 * chain i of an (n, d) quantity is a[j * n + i], so that the threads of a warp (adjacent
 * chains) touch adjacent addresses; kept draws are (n_draws, d, n). A chain's own vector
 * is passed as a pointer to its first coordinate and a stride (n in global memory, 1 in
 * a thread's registers). */

/* Store chain i's kept state x (its coordinates at x[j * xs]: a thread's double registers,
 * or a chain array) as draw `slot` (fastebm_real) or into its running mean and M2
 * (Welford 1962; double in every build: float32 sums would stall once an update falls
 * under half an ulp of the sum), NaN when the chain has diverged: the Numba backend's
 * record_row, operation for operation. */
template <typename T>
FASTEBM_HD void fastebm_record_row(int mode, int64_t slot, const T *x, uint64_t xs,
                                   int diverged, fastebm_real *draws, double *mean,
                                   double *m2, uint64_t i, uint64_t n, int d)
{
    if (mode == FASTEBM_RECORD_DRAWS) {
        fastebm_real *out = draws + (uint64_t)slot * d * n + i;
        for (int j = 0; j < d; ++j)
            out[j * n] = diverged ? (fastebm_real)FASTEBM_NAN : (fastebm_real)x[j * xs];
    } else if (mode == FASTEBM_RECORD_MOMENTS) {
        double *mu = mean + i, *s2 = m2 + i;
        if (diverged) {
            for (int j = 0; j < d; ++j)
                mu[j * n] = s2[j * n] = FASTEBM_NAN;
            return;
        }
        double inv_k = 1.0 / ((double)slot + 1.0);
        for (int j = 0; j < d; ++j) {
            double xj = x[j * xs], delta = xj - mu[j * n];
            mu[j * n] += delta * inv_k;
            s2[j * n] += delta * (xj - mu[j * n]);
        }
    }
}

/* One dual-averaging step (Hoffman & Gelman 2014, sec. 3.2, with gamma = 0.05,
 * t0 = 10, kappa = 0.75) of one chain's state [log h, log h_bar, H_bar, t, mu], held at
 * s[0], s[stride], ..., on its acceptance probability. */
FASTEBM_HD void fastebm_dual_averaging(double *s, uint64_t stride, double accept_prob,
                                       double target)
{
    const double gamma = 0.05, t0 = 10.0, kappa = 0.75;
    s[3 * stride] += 1.0;
    double t = s[3 * stride];
    s[2 * stride] = (1.0 - 1.0 / (t + t0)) * s[2 * stride] + (target - accept_prob) / (t + t0);
    s[0] = s[4 * stride] - sqrt(t) / gamma * s[2 * stride];
    double weight = pow(t, -kappa);
    s[stride] = weight * s[0] + (1.0 - weight) * s[stride];
}

/* Normal number `index` of (chain, step, tag) from its Philox block's words: the same
 * number as fastebm_fill_normals writes at out[index]. */
FASTEBM_HD double fastebm_normal_of_block(uint32_t k0, uint32_t k1, uint32_t chain,
                                          uint32_t step, uint32_t tag, uint32_t index,
                                          fastebm_words w)
{
    uint32_t hi = (index & 1) ? w.w2 : w.w0, lo = (index & 1) ? w.w3 : w.w1;
    double x;
    if (fastebm_fast_value(hi, lo, &x))
        return x;
    return fastebm_finish(k0, k1, chain, step, tag, index, hi, lo);
}

#endif /* FASTEBM_COMMON_CUH */
