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
 * (fastebm/_kernels/numba/langevin.py), operation for operation, so that the host build
 * reproduces it; the noise is (chain, step, TAG_NOISE), the accept uniform number 0 of
 * (chain, step, TAG_ACCEPT). A MALA proposal with a non-finite energy or gradient is
 * rejected and counted; a ULA chain whose energy turns non-finite or rises more than
 * FASTEBM_DIVERGENCE_RISE above its start stops (its later draws are NaN).
 *
 * Two ways to run a step:
 *   - three launches (any energy, any preconditioner): langevin_propose writes y (or, for
 *     the dense L, v = -h u + sqrt(2h) xi, which the glue multiplies by L' through BLAS),
 *     the energy's pass (energy_rows, or a matrix product and affine_quadratic_rows)
 *     gives E(y) and grad E(y), and langevin_accept decides, adapts and records;
 *   - langevin_fused (a pointwise energy, no dense preconditioner): every step of a run
 *     in one launch, the chain's state in registers, the same functions in the same order.
 */
#define FASTEBM_DIVERGENCE_RISE 1000.0

/* y = x + L(-h u + sqrt(2h) xi) for the identity or diagonal L; for the dense L only
 * v = -h u + sqrt(2h) xi. xi gets the chain's normals of the step. */
FASTEBM_HD void fastebm_langevin_propose_row(int d, uint32_t k0, uint32_t k1, uint32_t chain,
                                             uint32_t step, int precond, double h,
                                             const double *x, const double *u,
                                             const double *scale, double *xi, double *y)
{
    fastebm_fill_normals(k0, k1, chain, step, FASTEBM_TAG_NOISE, (uint32_t)d, xi);
    double root = sqrt(2.0 * h);
    for (int j = 0; j < d; ++j) {
        if (precond == FASTEBM_PRECOND_DENSE)
            y[j] = -h * u[j] + root * xi[j];
        else if (precond == FASTEBM_PRECOND_DIAG)
            y[j] = x[j] + scale[j] * (-h * u[j] + root * xi[j]);
        else
            y[j] = x[j] + (-h * u[j] + root * xi[j]);
    }
}

/* log alpha of MALA, with the Numba backend's four partial sums. */
FASTEBM_HD double fastebm_log_accept(int d, double h, double e_x, double e_y, const double *u_x,
                                     const double *u_y, const double *xi)
{
    double root = sqrt(2.0 * h);
    double b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, f0 = 0.0, f1 = 0.0, f2 = 0.0, f3 = 0.0;
    int tail = d - d % 4;
    for (int j = 0; j < tail; j += 4) {
        double r0 = h * (u_x[j] + u_y[j]) - root * xi[j];
        double r1 = h * (u_x[j + 1] + u_y[j + 1]) - root * xi[j + 1];
        double r2 = h * (u_x[j + 2] + u_y[j + 2]) - root * xi[j + 2];
        double r3 = h * (u_x[j + 3] + u_y[j + 3]) - root * xi[j + 3];
        b0 += r0 * r0;
        b1 += r1 * r1;
        b2 += r2 * r2;
        b3 += r3 * r3;
        f0 += xi[j] * xi[j];
        f1 += xi[j + 1] * xi[j + 1];
        f2 += xi[j + 2] * xi[j + 2];
        f3 += xi[j + 3] * xi[j + 3];
    }
    for (int j = tail; j < d; ++j) {
        double r0 = h * (u_x[j] + u_y[j]) - root * xi[j];
        b0 += r0 * r0;
        f0 += xi[j] * xi[j];
    }
    double back = (b0 + b1) + (b2 + b3), fwd = (f0 + f1) + (f2 + f3);
    return e_x - e_y - back / (4.0 * h) + 0.5 * fwd;
}

/* Chain state and what one transition needs, as row pointers (global rows, or the
 * fused kernel's registers). */
struct fastebm_langevin_row {
    double *x, *g, *u, *e;      /* current state: position, gradient, whitened gradient, E */
    const double *y, *g_y, *u_y; /* proposal */
    double e_y;
    const double *xi;
};

/* Accept or reject (see the file's comment); returns whether the proposal is taken and
 * writes min(1, alpha) (1 for ULA without adaptation) into *prob. Updates the counters
 * and ULA's divergence flag. */
FASTEBM_HD int fastebm_langevin_transition(int d, double h, double u_accept, int metropolize,
                                           int adapt, double e_x, double e_y, double e_start,
                                           const double *u_x, const double *u_y,
                                           const double *g_y, const double *xi,
                                           int64_t *n_accepted, int64_t *n_divergent,
                                           uint8_t *diverged, double *prob)
{
    double log_alpha;
    int finite, take;
    if (metropolize || adapt) {
        log_alpha = fastebm_log_accept(d, h, e_x, e_y, u_x, u_y, xi);
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
        double total = 0.0;
        for (int j = 0; j < d; ++j)
            total += g_y[j] * 0.0;
        finite = FASTEBM_ISFINITE(e_y) && total == 0.0;
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

/* ---- three launches a step ---------------------------------------------------------- */

/* Chain i: its step size of this step (h_now[i]: exp(log h) of its dual averaging, or
 * its fixed h) and its proposal y (or v for the dense L). */
FASTEBM_HD void langevin_propose_body(uint64_t i, int d, uint32_t k0, uint32_t k1,
                                      uint32_t chain0, uint32_t step, int precond, int adapt,
                                      const double *step_size, const double *adapt_state,
                                      double *h_now, const double *x, const double *u,
                                      const double *scale, double *xi, double *y)
{
    double h = adapt ? exp(adapt_state[i * 5]) : step_size[i];
    h_now[i] = h;
    uint64_t row = i * d;
    fastebm_langevin_propose_row(d, k0, k1, chain0 + (uint32_t)i, step, precond, h, x + row,
                                 u + row, scale, xi + row, y + row);
}
FASTEBM_ENTRY(langevin_propose,
              (uint64_t n, int d, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int precond, int adapt, const double *step_size, const double *adapt_state,
               double *h_now, const double *x, const double *u, const double *scale,
               double *xi, double *y),
              (d, k0, k1, chain0, step, precond, adapt, step_size, adapt_state, h_now, x, u,
               scale, xi, y))

/* Chain i, given E(y) and grad E(y) (whitened u_y for the dense L; for the diagonal L it
 * is computed here): accept or reject, adapt, and record when `slot` >= 0. `whitened`:
 * u and g are separate arrays (a preconditioner), else one. */
FASTEBM_HD void langevin_accept_body(uint64_t i, uint64_t n, int d, uint32_t k0, uint32_t k1,
                                     uint32_t chain0, uint32_t step, int metropolize,
                                     int adapt, double target, int precond, int whitened,
                                     const double *h_now, const double *e_start,
                                     uint8_t *diverged, double *x, double *e, double *g,
                                     double *u, const double *y, const double *e_y,
                                     const double *g_y, double *u_y, const double *xi,
                                     const double *scale, double *adapt_state,
                                     int64_t *n_accepted, int64_t *n_divergent,
                                     int record_mode, int64_t slot, double *draws,
                                     double *mean, double *m2)
{
    uint64_t row = i * d;
    if (!diverged[i]) {
        if (precond == FASTEBM_PRECOND_DIAG)
            for (int j = 0; j < d; ++j)
                u_y[row + j] = scale[j] * g_y[row + j];
        double u_accept = metropolize
            ? fastebm_uniform(k0, k1, chain0 + (uint32_t)i, step, FASTEBM_TAG_ACCEPT, 0) : 0.5;
        double prob;
        int take = fastebm_langevin_transition(
            d, h_now[i], u_accept, metropolize, adapt, e[i], e_y[i], e_start[i], u + row,
            u_y + row, g_y + row, xi + row, n_accepted + i, n_divergent + i, diverged + i,
            &prob);
        if (adapt)
            fastebm_dual_averaging(adapt_state + i * 5, prob, target);
        if (take) {
            for (int j = 0; j < d; ++j) {
                x[row + j] = y[row + j];
                g[row + j] = g_y[row + j];
            }
            if (whitened)
                for (int j = 0; j < d; ++j)
                    u[row + j] = u_y[row + j];
            e[i] = e_y[i];
        }
    }
    if (slot >= 0)
        fastebm_record_row(record_mode, slot, x + row, diverged[i], draws, mean, m2, i, n, d);
}
FASTEBM_ENTRY(langevin_accept,
              (uint64_t n, int d, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int metropolize, int adapt, double target, int precond, int whitened,
               const double *h_now, const double *e_start, uint8_t *diverged, double *x,
               double *e, double *g, double *u, const double *y, const double *e_y,
               const double *g_y, double *u_y, const double *xi, const double *scale,
               double *adapt_state, int64_t *n_accepted, int64_t *n_divergent,
               int record_mode, int64_t slot, double *draws, double *mean, double *m2),
              (n, d, k0, k1, chain0, step, metropolize, adapt, target, precond, whitened,
               h_now, e_start, diverged, x, e, g, u, y, e_y, g_y, u_y, xi, scale, adapt_state,
               n_accepted, n_divergent, record_mode, slot, draws, mean, m2))

/* ---- every step in one launch (pointwise energies) --------------------------------- */

#if defined(FASTEBM_ENERGY_DIAG_GAUSSIAN) || defined(FASTEBM_ENERGY_USER)
/* Chain i for `n_steps` steps from `step0`, identity or diagonal L: the chain's state,
 * proposal and noise stay in the thread's registers (arrays of FASTEBM_DIM); global
 * memory is read at the start, written at the end and at each kept state. */
FASTEBM_HD void langevin_fused_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                    uint32_t chain0, uint32_t step0, uint32_t n_steps,
                                    int metropolize, int adapt, double target, int precond,
                                    const double *step_size, const double *e_start,
                                    uint8_t *diverged, double *x_all, double *e_all,
                                    double *g_all, double *u_all, const double *scale,
                                    double *adapt_state, int64_t *n_accepted,
                                    int64_t *n_divergent, int record_mode, int64_t thin,
                                    double *draws, double *mean, double *m2,
                                    const double *theta, double beta)
{
    const int d = FASTEBM_DIM;
    uint64_t row = i * d;
    uint32_t chain = chain0 + (uint32_t)i;
    double x[FASTEBM_DIM], g[FASTEBM_DIM], u[FASTEBM_DIM], y[FASTEBM_DIM], g_y[FASTEBM_DIM],
        u_y[FASTEBM_DIM], xi[FASTEBM_DIM];
    for (int j = 0; j < d; ++j) {
        x[j] = x_all[row + j];
        g[j] = g_all[row + j];
        u[j] = u_all[row + j];
    }
    double e = e_all[i], e0 = e_start[i];
    int64_t acc = 0, div = 0;
    uint8_t dead = diverged[i];
    int64_t until_kept = thin, slot = 0;
    for (uint32_t s = 0; s < n_steps; ++s) {
        uint32_t step = step0 + s;
        if (!dead) {
            double h = adapt ? exp(adapt_state[i * 5]) : step_size[i];
            fastebm_langevin_propose_row(d, k0, k1, chain, step, precond, h, x, u, scale, xi, y);
            double e_y = fastebm_energy_grad(y, theta, beta, g_y);
            if (precond == FASTEBM_PRECOND_DIAG)
                for (int j = 0; j < d; ++j)
                    u_y[j] = scale[j] * g_y[j];
            const double *uy = precond == FASTEBM_PRECOND_DIAG ? u_y : g_y;
            const double *ux = precond == FASTEBM_PRECOND_DIAG ? u : g;
            double u_accept = metropolize
                ? fastebm_uniform(k0, k1, chain, step, FASTEBM_TAG_ACCEPT, 0) : 0.5;
            double prob;
            int take = fastebm_langevin_transition(d, h, u_accept, metropolize, adapt, e, e_y,
                                                   e0, ux, uy, g_y, xi, &acc, &div, &dead,
                                                   &prob);
            if (adapt)
                fastebm_dual_averaging(adapt_state + i * 5, prob, target);
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
            fastebm_record_row(record_mode, slot, x, dead, draws, mean, m2, i, n, d);
            ++slot;
        }
    }
    for (int j = 0; j < d; ++j) {
        x_all[row + j] = x[j];
        g_all[row + j] = g[j];
        u_all[row + j] = u[j];
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
               double *x_all, double *e_all, double *g_all, double *u_all,
               const double *scale, double *adapt_state, int64_t *n_accepted,
               int64_t *n_divergent, int record_mode, int64_t thin, double *draws,
               double *mean, double *m2, const double *theta, double beta),
              (n, k0, k1, chain0, step0, n_steps, metropolize, adapt, target, precond,
               step_size, e_start, diverged, x_all, e_all, g_all, u_all, scale, adapt_state,
               n_accepted, n_divergent, record_mode, thin, draws, mean, m2, theta, beta))
#endif
