/* Restricted Boltzmann machine kernels: the elementwise halves of a block Gibbs sweep,
 * and AIS's weight increments (rbm_ais_weights, at the end).
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

/* e^t: t clamped to [-708, 709], k = floor(t log2 e + 1/2), r = t - k ln2 (two parts,
 * Cody & Waite 1980), P(r) the degree-13 Taylor polynomial, times 2^k (vexp._exp_parts,
 * and the product P(r) 2^k that vexp.exp_neg_affine and vexp.softplus_sum form). */
FASTEBM_HD double fastebm_exp_clamped(double t)
{
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

/* exp(-scale (bias + x)), as vexp.exp_neg_affine. */
FASTEBM_HD double fastebm_exp_neg_affine(double x, double bias, double scale)
{
    return fastebm_exp_clamped(-scale * (bias + x));
}

/* sum_j softplus(a_j), a_j = scale (bias_j + x_j) (x_j at x[j * xs]), as vexp.softplus_sum
 * operation for operation: sum_j max(a_j, 0) + log prod_j (1 + exp(-|a_j|)), in chunks of
 * 1000 units (each factor is in (1, 2], so a chunk's product stays below 2^1000), each
 * chunk with four partial sums and products over units j = 4m + p, combined as
 * ((l0 + l1) + (l2 + l3)) + log((q0 q1)(q2 q3)). */
FASTEBM_HD double fastebm_softplus_term(const fastebm_real *x, uint64_t xs, const double *bias,
                                        double scale, int j, double *q)
{
    double a = scale * (bias[j] + x[(uint64_t)j * xs]);
    *q *= 1.0 + fastebm_exp_clamped(-fabs(a));
    return a > 0.0 ? a : 0.0;
}
FASTEBM_HD double fastebm_softplus_sum(const fastebm_real *x, uint64_t xs, const double *bias,
                                       double scale, int units)
{
    double total = 0.0;
    for (int lo = 0; lo < units; lo += 1000) {
        int hi = lo + 1000 < units ? lo + 1000 : units;
        double q0 = 1.0, q1 = 1.0, q2 = 1.0, q3 = 1.0;
        double l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0;
        int j = lo;
        for (; j + 4 <= hi; j += 4) {
            l0 += fastebm_softplus_term(x, xs, bias, scale, j, &q0);
            l1 += fastebm_softplus_term(x, xs, bias, scale, j + 1, &q1);
            l2 += fastebm_softplus_term(x, xs, bias, scale, j + 2, &q2);
            l3 += fastebm_softplus_term(x, xs, bias, scale, j + 3, &q3);
        }
        for (; j < hi; ++j)
            l0 += fastebm_softplus_term(x, xs, bias, scale, j, &q0);
        total += ((l0 + l1) + (l2 + l3)) + log((q0 * q1) * (q2 * q3));
    }
    return total;
}

/* Chain i's layer of `units`: out_j = 1 if u_j (1 + exp(-scale (bias_j + pre_j))) < 1
 * else 0, u_j uniform j of (chain, step, tag). */
FASTEBM_HD void rbm_bernoulli_body(uint64_t i, uint64_t n, int units, const fastebm_real *pre,
                                   const double *bias, double scale, uint32_t k0, uint32_t k1,
                                   uint32_t chain0, uint32_t step, uint32_t tag,
                                   fastebm_real *out)
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
              (uint64_t n, int units, const fastebm_real *pre, const double *bias,
               double scale, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, fastebm_real *out),
              (n, units, pre, bias, scale, k0, k1, chain0, step, tag, out))

/* Chain i's Gaussian visibles: out_j = bias_j + sigma_j (pre_j + xi_j). */
FASTEBM_HD void rbm_gaussian_body(uint64_t i, uint64_t n, int units, const fastebm_real *pre,
                                  const double *bias, const double *sigma, uint32_t k0,
                                  uint32_t k1, uint32_t chain0, uint32_t step, uint32_t tag,
                                  fastebm_real *out)
{
    uint32_t chain = chain0 + (uint32_t)i;
    for (int j = 0; j < units; j += 2) {
        fastebm_words w = fastebm_philox((uint32_t)j >> 1, step, chain, tag, k0, k1);
        for (int t = 0; t < 2 && j + t < units; ++t) {
            uint64_t c = (uint64_t)(j + t) * n + i;
            double xi = fastebm_normal_of_block(k0, k1, chain, step, tag, (uint32_t)(j + t), w);
            out[c] = bias[j + t] + sigma[j + t] * ((double)pre[c] + xi);
        }
    }
}
FASTEBM_ENTRY(rbm_gaussian,
              (uint64_t n, int units, const fastebm_real *pre, const double *bias,
               const double *sigma, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, fastebm_real *out),
              (n, units, pre, bias, sigma, k0, k1, chain0, step, tag, out))

/* Record chain i's state x (units, n) as draw `slot` or into its running moments. */
FASTEBM_HD void record_rows_body(uint64_t i, uint64_t n, int units, int mode, int64_t slot,
                                 const fastebm_real *x, fastebm_real *draws,
                                 double *mean, double *m2)
{
    fastebm_record_row(mode, slot, x + i, n, 0, draws, mean, m2, i, n, units);
}
FASTEBM_ENTRY(record_rows,
              (uint64_t n, int units, int mode, int64_t slot, const fastebm_real *x,
               fastebm_real *draws, double *mean, double *m2),
              (n, units, mode, slot, x, draws, mean, m2))

/* AIS for an RBM (Salakhutdinov & Murray 2008; the Numba backend's rbm.ais_run): chain i's
 * log-weight increment between temperatures beta_prev and beta at its state x (units,
 * n), with pre = W'x (n_hid, n) from the glue's product:
 *
 *     log f_beta(x) - log f_beta_prev(x)
 *         = (beta - beta_prev) x'(b - b_A) + sum_j softplus(beta (c_j + pre_j))
 *                                          - sum_j softplus(beta_prev (c_j + pre_j)),
 *
 * f_beta(v) = exp((1-beta) v'b_A + beta v'b) prod_j (1 + exp(beta (c_j + (v'W)_j))) the
 * path's unnormalized marginal (b_A = b for the Gaussian-Bernoulli RBM's path, whose
 * Gaussian factor does not depend on beta). The sum x'(b - b_A) runs in unit order, the
 * softplus sums as fastebm_softplus_sum: the arithmetic of ais_run, bit for bit. */
FASTEBM_HD void rbm_ais_weights_body(uint64_t i, uint64_t n, int n_vis, int n_hid,
                                     const fastebm_real *x, const fastebm_real *pre,
                                     const double *b,
                                     const double *b_base, const double *c, double beta,
                                     double beta_prev, double *log_w)
{
    double acc = 0.0;
    for (int k = 0; k < n_vis; ++k)
        acc += x[(uint64_t)k * n + i] * (b[k] - b_base[k]);
    log_w[i] += (beta - beta_prev) * acc + fastebm_softplus_sum(pre + i, n, c, beta, n_hid)
                - fastebm_softplus_sum(pre + i, n, c, beta_prev, n_hid);
}
FASTEBM_ENTRY(rbm_ais_weights,
              (uint64_t n, int n_vis, int n_hid, const fastebm_real *x,
               const fastebm_real *pre, const double *b, const double *b_base,
               const double *c, double beta, double beta_prev, double *log_w),
              (n, n_vis, n_hid, x, pre, b, b_base, c, beta, beta_prev, log_w))
