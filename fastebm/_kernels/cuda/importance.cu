/* Importance sampling and resampling: proposal draws and log densities, one thread a draw,
 * and the elementwise steps of the resampling schemes.
 *
 * Proposals (fastebm.proposals; the arithmetic of fastebm/_kernels/numba/proposals.py and
 * sampling.py, operation for operation, so that the host build gives the Numba draws bit
 * for bit). Draw i is the stream (chain0 + i, step, tag), the tag FASTEBM_TAG_PROPOSAL
 * for importance sampling and FASTEBM_TAG_NOISE for the independent Metropolis proposal
 * (metropolis.cu):
 *   Gaussian   y = mu + L xi, xi the normals of the stream;
 *              log q(y) = log_norm - |xi|^2 / 2 (log_norm = -sum log L_jj - d/2 log 2 pi);
 *   Uniform    y_j = low_j + (high_j - low_j) u_j, u the uniforms of the stream;
 *              log q = log_norm = -sum log(high_j - low_j) inside the box, -inf outside;
 *   Student-t  y = mu + sqrt(nu / g) L xi, g ~ chi^2_nu = 2 Gamma(nu / 2, 1) from the
 *              sub-stream tag | GAMMA_BIT (Marsaglia & Tsang 2000, "A simple method for
 *              generating gamma variables", ACM TOMS 26(3)); log q = log_norm
 *              - (nu + d) / 2 log1p(delta^2 / nu), delta^2 = nu |xi|^2 / g (Kotz &
 *              Nadarajah 2004, ch. 1);
 *   Mixture    component k = min{k : u <= W_k}, u uniform 0 of tag | CHOICE_BIT and W the
 *              cumulative weights, then a draw of component k on the caller's tag;
 *              log q = log sum_k exp(log w_k + log q_k(y)) (Hesterberg 1995), streamed.
 * Draws are written column-major, out[j * n + i] (common.cuh), for the energy's pass.
 *
 * Resampling (fastebm.resampling; fastebm/_kernels/numba/resampling.py): the uniforms of
 * (chain 0, step 0, the scheme's tag), and the multinomial scheme's terms
 * log(u_j) / (j + 1) and exp of their suffix sums (Bentley & Saxe 1980, "Generating sorted
 * lists of random numbers", ACM TOMS 6(3)); the sums, cumulative weights and searches are
 * array operations in the glue (fastebm/_kernels/cuda/runners.py).
 */

#define FASTEBM_PI_DOUBLE 0x1.921fb54442d18p+1 /* numpy.pi, exactly */

/* --- proposals ---------------------------------------------------------------------- */

/* Gamma(shape, 1) from the uniforms of (chain, step, tag | GAMMA_BIT), the Numba backend's
 * gamma_variate: Marsaglia & Tsang for a >= 1 (d = a - 1/3, c = 1/sqrt(9d), v = (1 + cx)^3
 * from a Box-Muller normal x, accepted when log u < x^2/2 + d - dv + d log v; the result dv),
 * attempt t on uniforms 1 + 3t, 2 + 3t and 3 + 3t; for a < 1, G(a + 1) U^(1/a) with U
 * uniform number 0. */
FASTEBM_HD double fastebm_gamma_variate(uint32_t k0, uint32_t k1, uint32_t chain,
                                        uint32_t step, uint32_t tag, double shape)
{
    uint32_t sub = tag | FASTEBM_GAMMA_BIT;
    double a = shape >= 1.0 ? shape : shape + 1.0;
    double d = a - 1.0 / 3.0;
    double c = 1.0 / sqrt(9.0 * d);
    uint32_t index = 1;
    double v;
    for (;;) {
        double u1 = fastebm_uniform(k0, k1, chain, step, sub, index);
        double u2 = fastebm_uniform(k0, k1, chain, step, sub, index + 1);
        double u3 = fastebm_uniform(k0, k1, chain, step, sub, index + 2);
        index += 3;
        double x = sqrt(-2.0 * log(u1)) * cos(2.0 * FASTEBM_PI_DOUBLE * u2);
        v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        if (log(u3) < 0.5 * x * x + d - d * v + d * log(v))
            break;
    }
    double g = d * v;
    if (shape < 1.0)
        g *= exp(log(fastebm_uniform(k0, k1, chain, step, sub, 0)) / shape);
    return g;
}

/* y = mu + s L xi with s = 1 (Gaussian, df = inf) or sqrt(df / g), g ~ chi^2_df, into the
 * thread's y (d); returns the component's log density at y from |xi|^2 (no solve). The
 * Numba backend's _component_draw: the mixture's components and the Student-t. */
FASTEBM_HD double fastebm_component_draw(const double *mean, const double *chol, double df,
                                         double log_norm, uint32_t k0, uint32_t k1,
                                         uint32_t chain, uint32_t step, uint32_t tag,
                                         double *xi, double *y)
{
    const int d = FASTEBM_DIM;
    fastebm_fill_normals(k0, k1, chain, step, tag, (uint32_t)d, xi);
    int gaussian = !FASTEBM_ISFINITE(df);
    double g = gaussian ? 1.0 : 2.0 * fastebm_gamma_variate(k0, k1, chain, step, tag, 0.5 * df);
    double s = gaussian ? 1.0 : sqrt(df / g);
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
        double acc = 0.0;
        for (int k = 0; k <= j; ++k)
            acc += chol[j * d + k] * xi[k];
        y[j] = mean[j] + s * acc;
        sq += xi[j] * xi[j];
    }
    if (gaussian)
        return log_norm - 0.5 * sq;
    return log_norm - 0.5 * (df + d) * log1p(sq / g); /* delta^2 = df |xi|^2 / g */
}

/* log N(x; mu, L L') (df = inf) or log t_df(x; mu, L L') from delta^2 = |L^-1 (x - mu)|^2
 * by forward substitution (z: the thread's scratch of d); x's coordinates at x[j * xs]
 * (a thread's double registers, or a chain array). */
template <typename T>
FASTEBM_HD double fastebm_component_log_density(const double *mean, const double *chol,
                                                double df, double log_norm, const T *x,
                                                uint64_t xs, double *z)
{
    const int d = FASTEBM_DIM;
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
        double acc = (double)x[j * xs] - mean[j];
        for (int k = 0; k < j; ++k)
            acc -= chol[j * d + k] * z[k];
        z[j] = acc / chol[j * d + j];
        sq += z[j] * z[j];
    }
    if (!FASTEBM_ISFINITE(df))
        return log_norm - 0.5 * sq;
    return log_norm - 0.5 * (df + d) * log1p(sq / df);
}

/* log sum_k exp(log w_k + log q_k(x)) over K components (means (K, d), chols (K, d, d)),
 * streamed with a running maximum m and sum s as the Numba backend's
 * _mixture_log_density. */
template <typename T>
FASTEBM_HD double fastebm_mixture_log_density(int K, const double *log_weights,
                                              const double *means, const double *chols,
                                              const double *dfs, const double *log_norms,
                                              const T *x, uint64_t xs, double *z)
{
    const int d = FASTEBM_DIM;
    double m = -FASTEBM_INF, s = 0.0;
    for (int k = 0; k < K; ++k) {
        double term = log_weights[k] +
                      fastebm_component_log_density(means + (uint64_t)k * d,
                                                    chols + (uint64_t)k * d * d, dfs[k],
                                                    log_norms[k], x, xs, z);
        if (term > m) {
            s = s * exp(m - term) + 1.0;
            m = term;
        } else if (term > -FASTEBM_INF) {
            s += exp(term - m);
        }
    }
    return m > -FASTEBM_INF ? m + log(s) : -FASTEBM_INF;
}

/* Draw i of a Gaussian proposal N(mu, L L'): y = mu + L xi (the sum started at mu, as
 * the Numba backend's _draw_gaussian_rows), log q = log_norm - |xi|^2 / 2. Every draw
 * entry takes the tag of its stream (chain0 + i, step, tag): TAG_PROPOSAL for importance
 * sampling, TAG_NOISE for the independent Metropolis proposal (as on the CPU), and
 * writes the draw as fastebm_real (a float32 run's proposals are float32 points; log q is
 * that of the draw before rounding). */
FASTEBM_HD void proposal_gaussian_draws_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                             uint32_t chain0, uint32_t step, uint32_t tag,
                                             const double *mean, const double *chol,
                                             double log_norm, fastebm_real *out, double *log_q)
{
    const int d = FASTEBM_DIM;
    double xi[FASTEBM_DIM];
    fastebm_fill_normals(k0, k1, chain0 + (uint32_t)i, step, tag, (uint32_t)d, xi);
    double sq = 0.0;
    for (int j = 0; j < d; ++j) {
        double acc = mean[j];
        for (int k = 0; k <= j; ++k)
            acc += chol[j * d + k] * xi[k];
        out[j * n + i] = acc;
        sq += xi[j] * xi[j];
    }
    log_q[i] = log_norm - 0.5 * sq;
}
FASTEBM_ENTRY(proposal_gaussian_draws,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, const double *mean, const double *chol, double log_norm,
               fastebm_real *out, double *log_q),
              (n, k0, k1, chain0, step, tag, mean, chol, log_norm, out, log_q))

/* Draw i of a uniform proposal on the box [low, high]. */
FASTEBM_HD void proposal_uniform_draws_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                            uint32_t chain0, uint32_t step, uint32_t tag,
                                            const double *low, const double *high,
                                            double log_norm, fastebm_real *out, double *log_q)
{
    const int d = FASTEBM_DIM;
    double u[FASTEBM_DIM];
    fastebm_fill_uniforms(k0, k1, chain0 + (uint32_t)i, step, tag, (uint32_t)d, u);
    for (int j = 0; j < d; ++j)
        out[j * n + i] = low[j] + (high[j] - low[j]) * u[j];
    log_q[i] = log_norm;
}
FASTEBM_ENTRY(proposal_uniform_draws,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, const double *low, const double *high, double log_norm,
               fastebm_real *out, double *log_q),
              (n, k0, k1, chain0, step, tag, low, high, log_norm, out, log_q))

/* Draw i of a multivariate Student-t proposal t_df(mu, L L'). */
FASTEBM_HD void proposal_student_t_draws_body(uint64_t i, uint64_t n, uint32_t k0,
                                              uint32_t k1, uint32_t chain0, uint32_t step,
                                              uint32_t tag, const double *mean,
                                              const double *chol, double df, double log_norm,
                                              fastebm_real *out, double *log_q)
{
    double xi[FASTEBM_DIM], y[FASTEBM_DIM];
    log_q[i] = fastebm_component_draw(mean, chol, df, log_norm, k0, k1, chain0 + (uint32_t)i,
                                      step, tag, xi, y);
    for (int j = 0; j < FASTEBM_DIM; ++j)
        out[j * n + i] = y[j];
}
FASTEBM_ENTRY(proposal_student_t_draws,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, const double *mean, const double *chol, double df,
               double log_norm, fastebm_real *out, double *log_q),
              (n, k0, k1, chain0, step, tag, mean, chol, df, log_norm, out, log_q))

/* Draw i of a mixture of K Gaussian (df = inf) and Student-t components: the component
 * from uniform 0 of (chain, step, tag | CHOICE_BIT) against the cumulative
 * weights (a zero-weight component is never chosen), its draw, then the mixture's log
 * density at the draw. */
FASTEBM_HD void proposal_mixture_draws_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                            uint32_t chain0, uint32_t step, uint32_t tag,
                                            int K, const double *log_weights,
                                            const double *cum_weights, const double *means,
                                            const double *chols, const double *dfs,
                                            const double *log_norms, fastebm_real *out,
                                            double *log_q)
{
    const int d = FASTEBM_DIM;
    uint32_t chain = chain0 + (uint32_t)i;
    double xi[FASTEBM_DIM], y[FASTEBM_DIM];
    double u = fastebm_uniform(k0, k1, chain, step, tag | FASTEBM_CHOICE_BIT, 0);
    int k = 0;
    while (k < K - 1 && u > cum_weights[k])
        ++k;
    fastebm_component_draw(means + (uint64_t)k * d, chols + (uint64_t)k * d * d, dfs[k],
                           log_norms[k], k0, k1, chain, step, tag, xi, y);
    log_q[i] = fastebm_mixture_log_density(K, log_weights, means, chols, dfs, log_norms, y, 1,
                                           xi);
    for (int j = 0; j < d; ++j)
        out[j * n + i] = y[j];
}
FASTEBM_ENTRY(proposal_mixture_draws,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               uint32_t tag, int K, const double *log_weights, const double *cum_weights,
               const double *means, const double *chols, const double *dfs,
               const double *log_norms, fastebm_real *out, double *log_q),
              (n, k0, k1, chain0, step, tag, K, log_weights, cum_weights, means, chols, dfs,
               log_norms, out, log_q))

/* log q at point i of the column-major x (d, n): a Gaussian (df = inf) or Student-t. */
FASTEBM_HD void proposal_component_log_density_body(uint64_t i, uint64_t n, const double *mean,
                                                    const double *chol, double df,
                                                    double log_norm, const fastebm_real *x,
                                                    double *out)
{
    double z[FASTEBM_DIM];
    out[i] = fastebm_component_log_density(mean, chol, df, log_norm, x + i, n, z);
}
FASTEBM_ENTRY(proposal_component_log_density,
              (uint64_t n, const double *mean, const double *chol, double df, double log_norm,
               const fastebm_real *x, double *out),
              (n, mean, chol, df, log_norm, x, out))

/* log q at point i of a uniform proposal: log_norm inside the box, -inf outside (and for
 * NaN coordinates, as the Numba backend's `not (low <= x <= high)`). */
FASTEBM_HD void proposal_uniform_log_density_body(uint64_t i, uint64_t n, const double *low,
                                                  const double *high, double log_norm,
                                                  const fastebm_real *x, double *out)
{
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double xj = (double)x[(uint64_t)j * n + i];
        if (!(low[j] <= xj && xj <= high[j])) {
            out[i] = -FASTEBM_INF;
            return;
        }
    }
    out[i] = log_norm;
}
FASTEBM_ENTRY(proposal_uniform_log_density,
              (uint64_t n, const double *low, const double *high, double log_norm,
               const fastebm_real *x, double *out),
              (n, low, high, log_norm, x, out))

FASTEBM_HD void proposal_mixture_log_density_body(uint64_t i, uint64_t n, int K,
                                                  const double *log_weights,
                                                  const double *means, const double *chols,
                                                  const double *dfs, const double *log_norms,
                                                  const fastebm_real *x, double *out)
{
    double z[FASTEBM_DIM];
    out[i] = fastebm_mixture_log_density(K, log_weights, means, chols, dfs, log_norms, x + i,
                                         n, z);
}
FASTEBM_ENTRY(proposal_mixture_log_density,
              (uint64_t n, int K, const double *log_weights, const double *means,
               const double *chols, const double *dfs, const double *log_norms,
               const fastebm_real *x, double *out),
              (n, K, log_weights, means, chols, dfs, log_norms, x, out))

/* --- resampling --------------------------------------------------------------------- */

/* out[i] = uniform number i of (chain, step, tag): the numbers fill_uniforms writes. */
FASTEBM_HD void philox_uniforms_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                     uint32_t chain, uint32_t step, uint32_t tag, double *out)
{
    (void)n;
    out[i] = fastebm_uniform(k0, k1, chain, step, tag, (uint32_t)i);
}
FASTEBM_ENTRY(philox_uniforms,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
               uint32_t tag, double *out),
              (n, k0, k1, chain, step, tag, out))

/* out[j] = log(u_j) / (j + 1), u_j uniform j of (0, 0, tag): the terms whose suffix sums
 * are the logs of n sorted uniforms, U_(j) = U_(j+1) u_j^(1/(j+1)) (Bentley & Saxe). */
FASTEBM_HD void sorted_uniform_log_terms_body(uint64_t j, uint64_t n, uint32_t k0, uint32_t k1,
                                              uint32_t tag, double *out)
{
    (void)n;
    out[j] = log(fastebm_uniform(k0, k1, 0u, 0u, tag, (uint32_t)j)) / (double)(j + 1);
}
FASTEBM_ENTRY(sorted_uniform_log_terms,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t tag, double *out),
              (n, k0, k1, tag, out))

/* a[i] = exp(a[i]), with the C library's (libdevice's) exp, as the Numba kernels. */
FASTEBM_HD void exp_in_place_body(uint64_t i, uint64_t n, double *a)
{
    (void)n;
    a[i] = exp(a[i]);
}
FASTEBM_ENTRY(exp_in_place, (uint64_t n, double *a), (n, a))
