/* Langevin kernels: unadjusted (ULA) and Metropolis-adjusted (MALA), one thread a chain.
 *
 * With a preconditioner Sigma = L L' (identity, diagonal L = diag(s), or dense lower L)
 * and whitened gradient u = L' grad E(x), one step is
 *
 *     xi ~ N(0, I),   y = x + L(-h u(x) + sqrt(2h) xi) = x - h Sigma grad E(x) + sqrt(2h) L xi,
 *
 * ULA keeps y; MALA accepts it with probability min(1, alpha),
 *
 *     log alpha = E(x) - E(y) - |h (u(x) + u(y)) - sqrt(2h) xi|^2 / (4h) + |xi|^2 / 2,
 *
 * the Metropolis-Hastings ratio of the proposal N(x - h Sigma grad E(x), 2h Sigma)
 * (Roberts & Tweedie 1996, Bernoulli 2(4)). The arithmetic is that of the Numba backend
 * (fastebm/_kernels/numba/langevin.py), operation for operation (the sums over
 * coordinates in the same four partial sums), so that the host build reproduces it; the
 * noise is (chain, step, TAG_NOISE), the accept uniform number 0 of (chain, step,
 * TAG_ACCEPT). A MALA proposal with a non-finite energy or gradient is rejected and
 * counted; a ULA chain whose energy turns non-finite or rises more than
 * FASTEBM_DIVERGENCE_RISE above its start stops (its later draws are NaN).
 *
 * Two ways to run a step:
 *   - three launches (any energy, any preconditioner): langevin_propose writes y (or, for
 *     the dense L, v = -h u + sqrt(2h) xi, which the glue multiplies by L through BLAS),
 *     the energy's pass (energy_rows, or a matrix product and affine_quadratic_rows)
 *     gives E(y) and grad E(y), and langevin_accept decides, adapts and records. MALA's
 *     accept needs the noise again: stored by langevin_propose (store_xi), or drawn
 *     again from its counter (the runner picks the faster, docs/performance.md);
 *   - langevin_fused (a pointwise energy, no dense preconditioner): every step of a run
 *     in one launch, the chain's state in registers, the same functions in the same order.
 * Chain arrays are column-major (common.cuh): coordinate j of chain i at a[j * n + i].
 */
#define FASTEBM_DIVERGENCE_RISE 1000.0

/* The eight partial sums of MALA's log alpha: |h (u_x + u_y) - sqrt(2h) xi|^2 in b and
 * |xi|^2 in f, coordinate j of [0, tail) into sum j % 4 and the rest into sum 0, in
 * increasing j: the Numba backend's log_accept_row. */
struct fastebm_mala_sums {
    double b0, b1, b2, b3, f0, f1, f2, f3;
};

FASTEBM_HD void fastebm_mala_add(fastebm_mala_sums *a, int j, int tail, double r, double xi)
{
    int q = j < tail ? (j & 3) : 0;
    if (q == 0) {
        a->b0 += r * r;
        a->f0 += xi * xi;
    } else if (q == 1) {
        a->b1 += r * r;
        a->f1 += xi * xi;
    } else if (q == 2) {
        a->b2 += r * r;
        a->f2 += xi * xi;
    } else {
        a->b3 += r * r;
        a->f3 += xi * xi;
    }
}

FASTEBM_HD double fastebm_mala_log_alpha(const fastebm_mala_sums *a, double h, double e_x,
                                         double e_y)
{
    double back = (a->b0 + a->b1) + (a->b2 + a->b3), fwd = (a->f0 + a->f1) + (a->f2 + a->f3);
    return e_x - e_y - back / (4.0 * h) + 0.5 * fwd;
}

/* log alpha from the noise xi (held at xi[j * s], like u_x and u_y: a thread's double
 * registers, or chain arrays; the noise is double in either). */
template <typename T>
FASTEBM_HD double fastebm_log_accept(int d, double h, double e_x, double e_y, const T *u_x,
                                     const T *u_y, const double *xi, uint64_t s)
{
    double root = sqrt(2.0 * h);
    fastebm_mala_sums a = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int tail = d - d % 4;
    for (int j = 0; j < d; ++j)
        fastebm_mala_add(&a, j, tail, h * ((double)u_x[j * s] + u_y[j * s]) - root * xi[j * s],
                         xi[j * s]);
    return fastebm_mala_log_alpha(&a, h, e_x, e_y);
}

/* The same log alpha, with the noise drawn again from its counter (chain, step,
 * TAG_NOISE) instead of read from memory. */
FASTEBM_HD double fastebm_log_accept_redrawn(int d, double h, double e_x, double e_y,
                                             const fastebm_real *u_x,
                                             const fastebm_real *u_y, uint64_t s,
                                             uint32_t k0, uint32_t k1, uint32_t chain,
                                             uint32_t step)
{
    double root = sqrt(2.0 * h);
    fastebm_mala_sums a = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int tail = d - d % 4;
    for (int j = 0; j < d; j += 2) {
        fastebm_words w = fastebm_philox((uint32_t)j >> 1, step, chain, FASTEBM_TAG_NOISE, k0, k1);
        for (int t = 0; t < 2 && j + t < d; ++t) {
            int c = j + t;
            double xi = fastebm_normal_of_block(k0, k1, chain, step, FASTEBM_TAG_NOISE,
                                                (uint32_t)c, w);
            fastebm_mala_add(&a, c, tail, h * ((double)u_x[c * s] + u_y[c * s]) - root * xi, xi);
        }
    }
    return fastebm_mala_log_alpha(&a, h, e_x, e_y);
}

/* Proposal coordinate j from the noise: y_j = x_j + L(-h u + sqrt(2h) xi)_j for the
 * identity or diagonal L, v_j = -h u_j + sqrt(2h) xi_j for the dense L. */
FASTEBM_HD double fastebm_langevin_coordinate(int precond, double h, double root, double x,
                                              double u, double scale, double xi)
{
    if (precond == FASTEBM_PRECOND_DENSE)
        return -h * u + root * xi;
    if (precond == FASTEBM_PRECOND_DIAG)
        return x + scale * (-h * u + root * xi);
    return x + (-h * u + root * xi);
}

/* Accept or reject (see the file's comment); returns whether the proposal is taken and
 * writes min(1, alpha) (1 for ULA without adaptation) into *prob. ``log_alpha`` is used
 * by MALA and by adaptation, ``grad_finite`` by ULA. Updates the counters and ULA's
 * divergence flag. */
FASTEBM_HD int fastebm_langevin_transition(double log_alpha, int grad_finite, double u_accept,
                                           int metropolize, int adapt, double e_y,
                                           double e_start, int64_t *n_accepted,
                                           int64_t *n_divergent, uint8_t *diverged,
                                           double *prob)
{
    int finite, take;
    if (metropolize || adapt) {
        finite = FASTEBM_ISFINITE(e_y) && !FASTEBM_ISNAN(log_alpha) && log_alpha != -FASTEBM_INF;
        if (!finite)
            log_alpha = -FASTEBM_INF;
        if (adapt) {
            double a = exp(log_alpha);
            *prob = a < 1.0 ? a : 1.0;
        } else {
            *prob = 1.0;
        }
    } else {
        finite = FASTEBM_ISFINITE(e_y) && grad_finite;
        log_alpha = *prob = 1.0;
    }
    if (metropolize) {
        take = log_alpha >= 0.0 || log(u_accept) < log_alpha;
        if (!finite)
            *n_divergent += 1;
    } else {
        take = finite && e_y <= e_start + FASTEBM_DIVERGENCE_RISE;
        if (!take) {
            *diverged = 1;
            *n_divergent += 1;
        }
    }
    if (take)
        *n_accepted += 1;
    return take;
}

/* Whether every coordinate of g is finite (the sum of g_j * 0 is 0, as on the CPU). */
template <typename T>
FASTEBM_HD int fastebm_all_finite(int d, const T *g, uint64_t s)
{
    double total = 0.0;
    for (int j = 0; j < d; ++j)
        total += g[j * s] * 0.0;
    return total == 0.0;
}

/* ---- three launches a step ---------------------------------------------------------- */

/* Chain i: its step size of this step (h_now[i]: exp(log h) of its dual averaging, or
 * its fixed h) and its proposal y (or v for the dense L). adapt_state is (5, n). */
FASTEBM_HD void langevin_propose_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                      uint32_t chain0, uint32_t step, int precond, int adapt,
                                      const double *step_size, const double *adapt_state,
                                      double *h_now, const fastebm_real *x,
                                      const fastebm_real *u, const double *scale,
                                      fastebm_real *y, int store_xi, double *xi_out)
{
    const int d = FASTEBM_DIM;
    double h = adapt ? exp(adapt_state[i]) : step_size[i];
    h_now[i] = h;
    double root = sqrt(2.0 * h);
    uint32_t chain = chain0 + (uint32_t)i;
    for (int j = 0; j < d; j += 2) {
        fastebm_words w = fastebm_philox((uint32_t)j >> 1, step, chain, FASTEBM_TAG_NOISE, k0, k1);
        for (int t = 0; t < 2 && j + t < d; ++t) {
            uint64_t c = (uint64_t)(j + t) * n + i;
            double xi = fastebm_normal_of_block(k0, k1, chain, step, FASTEBM_TAG_NOISE,
                                                (uint32_t)(j + t), w);
            y[c] = fastebm_langevin_coordinate(precond, h, root, x[c], u[c], scale[j + t], xi);
            if (store_xi)
                xi_out[c] = xi;
        }
    }
}
FASTEBM_ENTRY(langevin_propose,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int precond, int adapt, const double *step_size, const double *adapt_state,
               double *h_now, const fastebm_real *x, const fastebm_real *u,
               const double *scale, fastebm_real *y, int store_xi, double *xi_out),
              (n, k0, k1, chain0, step, precond, adapt, step_size, adapt_state, h_now, x, u,
               scale, y, store_xi, xi_out))

/* Chain i, given E(y) and grad E(y) (whitened u_y for the dense L; for the diagonal L it
 * is computed here): accept or reject, adapt, and record when `slot` >= 0. `whitened`:
 * u and g are separate arrays (a preconditioner), else one. `xi_stored`: the noise is
 * read from xi, else drawn again. */
FASTEBM_HD void langevin_accept_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                     uint32_t chain0, uint32_t step, int metropolize,
                                     int adapt, double target, int precond, int whitened,
                                     const double *h_now, const double *e_start,
                                     uint8_t *diverged, fastebm_real *x, double *e,
                                     fastebm_real *g, fastebm_real *u, const fastebm_real *y,
                                     const double *e_y, const fastebm_real *g_y,
                                     fastebm_real *u_y, const double *scale,
                                     double *adapt_state, int64_t *n_accepted,
                                     int64_t *n_divergent, int record_mode, int64_t slot,
                                     fastebm_real *draws, double *mean, double *m2,
                                     int xi_stored, const double *xi)
{
    const int d = FASTEBM_DIM;
    if (!diverged[i]) {
        if (precond == FASTEBM_PRECOND_DIAG)
            for (int j = 0; j < d; ++j)
                u_y[j * n + i] = scale[j] * g_y[j * n + i];
        uint32_t chain = chain0 + (uint32_t)i;
        double h = h_now[i];
        double log_alpha = 0.0;
        if ((metropolize || adapt) && xi_stored)
            log_alpha = fastebm_log_accept(d, h, e[i], e_y[i], u + i, u_y + i, xi + i, n);
        else if (metropolize || adapt)
            log_alpha = fastebm_log_accept_redrawn(d, h, e[i], e_y[i], u + i, u_y + i, n, k0, k1,
                                                   chain, step);
        int grad_finite = (metropolize || adapt) ? 1 : fastebm_all_finite(d, g_y + i, n);
        double u_accept = metropolize
            ? fastebm_uniform(k0, k1, chain, step, FASTEBM_TAG_ACCEPT, 0) : 0.5;
        double prob;
        int take = fastebm_langevin_transition(log_alpha, grad_finite, u_accept, metropolize,
                                               adapt, e_y[i], e_start[i], n_accepted + i,
                                               n_divergent + i, diverged + i, &prob);
        if (adapt)
            fastebm_dual_averaging(adapt_state + i, n, prob, target);
        if (take) {
            for (int j = 0; j < d; ++j) {
                x[j * n + i] = y[j * n + i];
                g[j * n + i] = g_y[j * n + i];
            }
            if (whitened)
                for (int j = 0; j < d; ++j)
                    u[j * n + i] = u_y[j * n + i];
            e[i] = e_y[i];
        }
    }
    if (slot >= 0)
        fastebm_record_row(record_mode, slot, x + i, n, diverged[i], draws, mean, m2, i, n, d);
}
FASTEBM_ENTRY(langevin_accept,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int metropolize, int adapt, double target, int precond, int whitened,
               const double *h_now, const double *e_start, uint8_t *diverged,
               fastebm_real *x, double *e, fastebm_real *g, fastebm_real *u,
               const fastebm_real *y, const double *e_y, const fastebm_real *g_y,
               fastebm_real *u_y, const double *scale, double *adapt_state,
               int64_t *n_accepted, int64_t *n_divergent, int record_mode, int64_t slot,
               fastebm_real *draws, double *mean, double *m2, int xi_stored,
               const double *xi),
              (n, k0, k1, chain0, step, metropolize, adapt, target, precond, whitened,
               h_now, e_start, diverged, x, e, g, u, y, e_y, g_y, u_y, scale, adapt_state,
               n_accepted, n_divergent, record_mode, slot, draws, mean, m2, xi_stored, xi))

/* ---- every step in one launch (pointwise energies) --------------------------------- */

#ifdef FASTEBM_POINTWISE_ENERGY
/* Chain i for `n_steps` steps from `step0`, identity or diagonal L: the chain's state,
 * proposal and noise stay in the thread's registers (arrays of FASTEBM_DIM); global
 * memory is read at the start, written at the end and at each kept state. */
FASTEBM_HD void langevin_fused_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                    uint32_t chain0, uint32_t step0, uint32_t n_steps,
                                    int metropolize, int adapt, double target, int precond,
                                    const double *step_size, const double *e_start,
                                    uint8_t *diverged, fastebm_real *x_all, double *e_all,
                                    fastebm_real *g_all, fastebm_real *u_all,
                                    const double *scale, double *adapt_state,
                                    int64_t *n_accepted, int64_t *n_divergent,
                                    int record_mode, int64_t thin, int64_t first,
                                    fastebm_real *draws, double *mean, double *m2,
                                    const double *theta, double beta)
{
    const int d = FASTEBM_DIM;
    uint32_t chain = chain0 + (uint32_t)i;
    double x[FASTEBM_DIM], g[FASTEBM_DIM], u[FASTEBM_DIM], y[FASTEBM_DIM], g_y[FASTEBM_DIM],
        u_y[FASTEBM_DIM], xi[FASTEBM_DIM];
    for (int j = 0; j < d; ++j) {
        x[j] = x_all[j * n + i];
        g[j] = g_all[j * n + i];
        u[j] = u_all[j * n + i];
    }
    double e = e_all[i], e0 = e_start[i];
    int64_t acc = 0, div = 0;
    uint8_t dead = diverged[i];
    int64_t until_kept = thin, slot = first;
    for (uint32_t s = 0; s < n_steps; ++s) {
        uint32_t step = step0 + s;
        if (!dead) {
            double h = adapt ? exp(adapt_state[i]) : step_size[i];
            double root = sqrt(2.0 * h);
            fastebm_fill_normals(k0, k1, chain, step, FASTEBM_TAG_NOISE, (uint32_t)d, xi);
            for (int j = 0; j < d; ++j)
                y[j] = fastebm_as_real(
                    fastebm_langevin_coordinate(precond, h, root, x[j], u[j], scale[j], xi[j]));
            double e_y = fastebm_energy_grad(y, theta, beta, g_y);
            for (int j = 0; j < d; ++j)  /* as the three launches store them */
                g_y[j] = fastebm_as_real(g_y[j]);
            if (precond == FASTEBM_PRECOND_DIAG)
                for (int j = 0; j < d; ++j)
                    u_y[j] = fastebm_as_real(scale[j] * g_y[j]);
            const double *uy = precond == FASTEBM_PRECOND_DIAG ? u_y : g_y;
            double log_alpha = (metropolize || adapt)
                ? fastebm_log_accept(d, h, e, e_y, u, uy, xi, 1) : 0.0;
            int grad_finite = (metropolize || adapt) ? 1 : fastebm_all_finite(d, g_y, 1);
            double u_accept = metropolize
                ? fastebm_uniform(k0, k1, chain, step, FASTEBM_TAG_ACCEPT, 0) : 0.5;
            double prob;
            int take = fastebm_langevin_transition(log_alpha, grad_finite, u_accept,
                                                   metropolize, adapt, e_y, e0, &acc, &div,
                                                   &dead, &prob);
            if (adapt)
                fastebm_dual_averaging(adapt_state + i, n, prob, target);
            if (take) {
                for (int j = 0; j < d; ++j) {
                    x[j] = y[j];
                    g[j] = g_y[j];
                    u[j] = uy[j];
                }
                e = e_y;
            }
        }
        if (--until_kept == 0) {
            until_kept = thin;
            fastebm_record_row(record_mode, slot, x, 1, dead, draws, mean, m2, i, n, d);
            ++slot;
        }
    }
    for (int j = 0; j < d; ++j) {
        x_all[j * n + i] = x[j];
        g_all[j * n + i] = g[j];
        u_all[j * n + i] = u[j];
    }
    e_all[i] = e;
    diverged[i] = dead;
    n_accepted[i] += acc;
    n_divergent[i] += div;
}
FASTEBM_ENTRY(langevin_fused,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step0,
               uint32_t n_steps, int metropolize, int adapt, double target, int precond,
               const double *step_size, const double *e_start, uint8_t *diverged,
               fastebm_real *x_all, double *e_all, fastebm_real *g_all, fastebm_real *u_all,
               const double *scale, double *adapt_state, int64_t *n_accepted,
               int64_t *n_divergent, int record_mode, int64_t thin, int64_t first,
               fastebm_real *draws, double *mean, double *m2, const double *theta,
               double beta),
              (n, k0, k1, chain0, step0, n_steps, metropolize, adapt, target, precond,
               step_size, e_start, diverged, x_all, e_all, g_all, u_all, scale, adapt_state,
               n_accepted, n_divergent, record_mode, thin, first, draws, mean, m2, theta, beta))
#endif
