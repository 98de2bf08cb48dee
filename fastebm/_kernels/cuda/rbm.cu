/* Restricted Boltzmann machine kernels: the elementwise halves of a block Gibbs sweep.
 *
 * A Bernoulli RBM has E(v, h) = -v'b - h'c - v'Wh, so the layers are conditionally
 * independent given each other (Hinton 2002; Fischer & Igel 2012, sec. 4):
 *
 *     p(h_j = 1 | v) = sigmoid(c_j + (W'v)_j),    p(v_i = 1 | h) = sigmoid(b_i + (Wh)_i).
 *
 * The matrix products are cuBLAS (BLAS on the host) in the glue; these kernels fuse the
 * sigmoid and the Bernoulli draw around them: unit j of chain i at sweep t is on when
 * u (1 + exp(-a)) < 1, u uniform j of (chain, t, tag), with the arithmetic-only exp of the
 * Numba kernels (fastebm/_kernels/numba/vexp.py, constants from fastebm._contract), so
 * that the draws are those of the CPU bit for bit. A Gaussian-Bernoulli RBM's visibles
 * are v = b + sigma (Wh + xi), xi the normals of (chain, t, tag). Unit arrays are
 * column-major (units, n), as every chain array of this backend.
 */

/* exp(-scale (bias + x)): t clamped to [-708, 709], k = floor(t log2 e + 1/2),
 * r = t - k ln2 (two parts), P(r) the degree-13 Taylor polynomial, times 2^k. */
FASTEBM_HD double fastebm_exp_neg_affine(double x, double bias, double scale)
{
    double t = -scale * (bias + x);
    t = -708.0 > t ? -708.0 : t; /* Python's max(t, -708.0), min(., 709.0) */
    t = 709.0 < t ? 709.0 : t;
    double k = floor(t * FASTEBM_EXP_LOG2E + 0.5);
    double r = (t - k * FASTEBM_EXP_LN2_HI) - k * FASTEBM_EXP_LN2_LO;
    double p = FASTEBM_EXP_C13;
    p = p * r + FASTEBM_EXP_C12;
    p = p * r + FASTEBM_EXP_C11;
    p = p * r + FASTEBM_EXP_C10;
    p = p * r + FASTEBM_EXP_C9;
    p = p * r + FASTEBM_EXP_C8;
    p = p * r + FASTEBM_EXP_C7;
    p = p * r + FASTEBM_EXP_C6;
    p = p * r + FASTEBM_EXP_C5;
    p = p * r + FASTEBM_EXP_C4;
    p = p * r + FASTEBM_EXP_C3;
    p = p * r + FASTEBM_EXP_C2;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits = ((int64_t)k + 1023) << 52;
    double two_k;
#ifdef __CUDA_ARCH__
    two_k = __longlong_as_double(bits);
#else
    memcpy(&two_k, &bits, sizeof two_k);
#endif
    return p * two_k;
}

/* Chain i's layer of `units`: out_j = 1 if u_j (1 + exp(-scale (bias_j + pre_j))) < 1
 * else 0, u_j uniform j of (chain, step, tag). */
FASTEBM_HD void rbm_bernoulli_body(uint64_t i, uint64_t n, int units, const double *pre,
                                   const double *bias, double scale, uint32_t k0, uint32_t k1,
                                   uint32_t chain0, uint32_t step, uint32_t tag, double *out)
{
    uint32_t chain = chain0 + (uint32_t)i;
    for (int j = 0; j < units; j += 2) {
        fastebm_words w = fastebm_philox((uint32_t)j >> 1, step, chain, tag, k0, k1);
        for (int t = 0; t < 2 && j + t < units; ++t) {
            uint64_t c = (uint64_t)(j + t) * n + i;
            double u = t ? fastebm_words_to_uniform(w.w2, w.w3)
                         : fastebm_words_to_uniform(w.w0, w.w1);
            double e = fastebm_exp_neg_affine(pre[c], bias[j + t], scale);
            out[c] = u * (1.0 + e) < 1.0 ? 1.0 : 0.0;
        }
    }
}
FASTEBM_ENTRY(rbm_bernoulli,
              (uint64_t n, int units, const double *pre, const double *bias, double scale,
               uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step, uint32_t tag,
               double *out),
              (n, units, pre, bias, scale, k0, k1, chain0, step, tag, out))

/* Chain i's Gaussian visibles: out_j = bias_j + sigma_j (pre_j + xi_j). */
FASTEBM_HD void rbm_gaussian_body(uint64_t i, uint64_t n, int units, const double *pre,
                                  const double *bias, const double *sigma, uint32_t k0,
                                  uint32_t k1, uint32_t chain0, uint32_t step, uint32_t tag,
                                  double *out)
{
    uint32_t chain = chain0 + (uint32_t)i;
    for (int j = 0; j < units; j += 2) {
        fastebm_words w = fastebm_philox((uint32_t)j >> 1, step, chain, tag, k0, k1);
        for (int t = 0; t < 2 && j + t < units; ++t) {
            uint64_t c = (uint64_t)(j + t) * n + i;
            double xi = fastebm_normal_of_block(k0, k1, chain, step, tag, (uint32_t)(j + t), w);
            out[c] = bias[j + t] + sigma[j + t] * (pre[c] + xi);
        }
    }
}
FASTEBM_ENTRY(rbm_gaussian,
              (uint64_t n, int units, const double *pre, const double *bias,
               const double *sigma, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, double *out),
              (n, units, pre, bias, sigma, k0, k1, chain0, step, tag, out))

/* Record chain i's state x (units, n) as draw `slot` or into its running moments. */
FASTEBM_HD void record_rows_body(uint64_t i, uint64_t n, int units, int mode, int64_t slot,
                                 const double *x, double *draws, double *mean, double *m2)
{
    fastebm_record_row(mode, slot, x + i, n, 0, draws, mean, m2, i, n, units);
}
FASTEBM_ENTRY(record_rows,
              (uint64_t n, int units, int mode, int64_t slot, const double *x, double *draws,
               double *mean, double *m2),
              (n, units, mode, slot, x, draws, mean, m2))
