/* Random-walk Metropolis, one thread a chain.
 *
 * y = x + sigma L xi, xi ~ N(0, I) (sigma: the chain's scale, Sigma = L L' the
 * preconditioner: identity, diagonal or dense lower L), accepted with probability
 * min(1, exp(E(x) - E(y))) (Metropolis et al. 1953); with adaptation each chain tunes its
 * own log sigma by dual averaging on its acceptance probability. A proposal with a NaN or
 * +inf energy is rejected and counted as divergent. The arithmetic is that of the Numba
 * backend (fastebm/_kernels/numba/metropolis.py); the noise is (chain, step, TAG_NOISE),
 * the accept uniform number 0 of (chain, step, TAG_ACCEPT).
 *
 * Two ways to run a step, as for Langevin: three launches (random_walk_propose, the
 * energy's pass, random_walk_accept), or every step in one launch (random_walk_fused) for
 * a pointwise energy. Chain arrays are column-major (common.cuh).
 *
 * Independent proposals (Hastings 1970): y ~ q from (chain, step, TAG_NOISE) by the draw
 * kernels of importance.cu, its energy by the energy's pass, then independent_accept with
 * log alpha = E(x) - E(y) + log q(x) - log q(y): three launches a step.
 */

/* y = x + sigma L xi (rounded to fastebm_real), for chain `chain`'s x and y (coordinates
 * at [j * s]: a thread's double registers, or chain arrays); xi (the chain's normals of
 * the step) is a thread-local array of d. */
template <typename T>
FASTEBM_HD void fastebm_random_walk_row(int d, uint32_t k0, uint32_t k1, uint32_t chain,
                                        uint32_t step, int precond, double sigma, const T *x,
                                        uint64_t s, const double *diag, const double *chol,
                                        double *xi, T *y)
{
    fastebm_fill_normals(k0, k1, chain, step, FASTEBM_TAG_NOISE, (uint32_t)d, xi);
    for (int j = 0; j < d; ++j) {
        if (precond == FASTEBM_PRECOND_DENSE) {
            double acc = 0.0;
            for (int k = 0; k <= j; ++k)
                acc += chol[j * d + k] * xi[k];
            y[j * s] = (T)fastebm_as_real(x[j * s] + sigma * acc);
        } else if (precond == FASTEBM_PRECOND_DIAG) {
            y[j * s] = (T)fastebm_as_real(x[j * s] + sigma * diag[j] * xi[j]);
        } else {
            y[j * s] = (T)fastebm_as_real(x[j * s] + sigma * xi[j]);
        }
    }
}

/* Accept a proposal (energy e_y) with probability min(1, exp(log_alpha)); returns whether
 * it is taken and writes min(1, alpha) into *prob (0 for a NaN or +inf energy, which is
 * counted as divergent). The Numba backend's _accept. */
FASTEBM_HD int fastebm_metropolis_accept(double log_alpha, double e_y, double u_accept,
                                         int64_t *n_accepted, int64_t *n_divergent,
                                         double *prob)
{
    int take = 0;
    if (!(e_y < FASTEBM_INF)) {
        *n_divergent += 1;
        log_alpha = -FASTEBM_INF;
    } else if (log_alpha >= 0.0 || log(u_accept) < log_alpha) {
        take = 1;
        *n_accepted += 1;
    }
    *prob = log_alpha >= 0.0 ? 1.0 : exp(log_alpha);
    return take;
}

/* Chain i's proposal, for the three-launches path (the energy then has a pass of its
 * own). The noise lives in a local array of FASTEBM_DIM. adapt_state is (5, n). */
FASTEBM_HD void random_walk_propose_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                         uint32_t chain0, uint32_t step, int precond,
                                         int adapt, const double *scale,
                                         const double *adapt_state, const fastebm_real *x,
                                         const double *diag, const double *chol,
                                         fastebm_real *y)
{
    double xi[FASTEBM_DIM];
    double sigma = adapt ? exp(adapt_state[i]) : scale[i];
    fastebm_random_walk_row(FASTEBM_DIM, k0, k1, chain0 + (uint32_t)i, step, precond, sigma,
                            x + i, n, diag, chol, xi, y + i);
}
FASTEBM_ENTRY(random_walk_propose,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int precond, int adapt, const double *scale, const double *adapt_state,
               const fastebm_real *x, const double *diag, const double *chol,
               fastebm_real *y),
              (n, k0, k1, chain0, step, precond, adapt, scale, adapt_state, x, diag, chol, y))

FASTEBM_HD void random_walk_accept_body(uint64_t i, uint64_t n, uint32_t k0,
                                        uint32_t k1, uint32_t chain0, uint32_t step,
                                        int adapt, double target, fastebm_real *x, double *e,
                                        const fastebm_real *y, const double *e_y,
                                        double *adapt_state, int64_t *n_accepted,
                                        int64_t *n_divergent, int record_mode, int64_t slot,
                                        fastebm_real *draws, double *mean,
                                        double *m2)
{
    const int d = FASTEBM_DIM;
    double u_accept = fastebm_uniform(k0, k1, chain0 + (uint32_t)i, step, FASTEBM_TAG_ACCEPT, 0);
    double prob;
    if (fastebm_metropolis_accept(e[i] - e_y[i], e_y[i], u_accept, n_accepted + i,
                                  n_divergent + i, &prob)) {
        for (int j = 0; j < d; ++j)
            x[j * n + i] = y[j * n + i];
        e[i] = e_y[i];
    }
    if (adapt)
        fastebm_dual_averaging(adapt_state + i, n, prob, target);
    if (slot >= 0)
        fastebm_record_row(record_mode, slot, x + i, n, 0, draws, mean, m2, i, n, d);
}
FASTEBM_ENTRY(random_walk_accept,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               int adapt, double target, fastebm_real *x, double *e, const fastebm_real *y,
               const double *e_y, double *adapt_state, int64_t *n_accepted,
               int64_t *n_divergent, int record_mode, int64_t slot, fastebm_real *draws,
               double *mean, double *m2),
              (n, k0, k1, chain0, step, adapt, target, x, e, y, e_y, adapt_state,
               n_accepted, n_divergent, record_mode, slot, draws, mean, m2))

#ifdef FASTEBM_POINTWISE_ENERGY
/* Chain i for `n_steps` steps from `step0`, its state in the thread's registers. */
FASTEBM_HD void random_walk_fused_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                       uint32_t chain0, uint32_t step0, uint32_t n_steps,
                                       int precond, int adapt, double target,
                                       const double *scale, fastebm_real *x_all,
                                       double *e_all, const double *diag, const double *chol,
                                       double *adapt_state, int64_t *n_accepted,
                                       int64_t *n_divergent, int record_mode, int64_t thin,
                                       int64_t first, fastebm_real *draws, double *mean,
                                       double *m2, const double *theta, double beta)
{
    const int d = FASTEBM_DIM;
    uint32_t chain = chain0 + (uint32_t)i;
    double x[FASTEBM_DIM], y[FASTEBM_DIM], xi[FASTEBM_DIM];
    for (int j = 0; j < d; ++j)
        x[j] = x_all[j * n + i];
    double e = e_all[i];
    int64_t acc = 0, div = 0, until_kept = thin, slot = first;
    for (uint32_t s = 0; s < n_steps; ++s) {
        uint32_t step = step0 + s;
        double sigma = adapt ? exp(adapt_state[i]) : scale[i];
        fastebm_random_walk_row(d, k0, k1, chain, step, precond, sigma, x, 1, diag, chol, xi, y);
        double e_y = fastebm_energy(y, theta, beta);
        double u_accept = fastebm_uniform(k0, k1, chain, step, FASTEBM_TAG_ACCEPT, 0);
        double prob;
        if (fastebm_metropolis_accept(e - e_y, e_y, u_accept, &acc, &div, &prob)) {
            for (int j = 0; j < d; ++j)
                x[j] = y[j];
            e = e_y;
        }
        if (adapt)
            fastebm_dual_averaging(adapt_state + i, n, prob, target);
        if (--until_kept == 0) {
            until_kept = thin;
            fastebm_record_row(record_mode, slot, x, 1, 0, draws, mean, m2, i, n, d);
            ++slot;
        }
    }
    for (int j = 0; j < d; ++j)
        x_all[j * n + i] = x[j];
    e_all[i] = e;
    n_accepted[i] += acc;
    n_divergent[i] += div;
}
FASTEBM_ENTRY(random_walk_fused,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step0,
               uint32_t n_steps, int precond, int adapt, double target, const double *scale,
               fastebm_real *x_all, double *e_all, const double *diag, const double *chol,
               double *adapt_state, int64_t *n_accepted, int64_t *n_divergent,
               int record_mode, int64_t thin, int64_t first, fastebm_real *draws,
               double *mean, double *m2, const double *theta, double beta),
              (n, k0, k1, chain0, step0, n_steps, precond, adapt, target, scale, x_all, e_all,
               diag, chol, adapt_state, n_accepted, n_divergent, record_mode, thin, first, draws,
               mean, m2, theta, beta))
#endif

/* ---- independent proposals (Hastings 1970) ----------------------------------------- */

/* Chain i, given a proposal y ~ q (a draw kernel of importance.cu on (chain, step,
 * TAG_NOISE)), its energy e_y and log q(y): accept with probability
 * min(1, exp(E(x) - E(y) + log q(x) - log q(y))), the log ratio summed in the Numba
 * backend's order, and record when `slot` >= 0. A proposal where q is 0 (log q = -inf:
 * only a float32 draw rounded out of a uniform box, whose log q the glue evaluates
 * again at the stored point) is rejected. */
FASTEBM_HD void independent_accept_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                        uint32_t chain0, uint32_t step, fastebm_real *x,
                                        double *e, double *log_q, const fastebm_real *y,
                                        const double *e_y, const double *log_q_y,
                                        int64_t *n_accepted, int64_t *n_divergent,
                                        int record_mode, int64_t slot, fastebm_real *draws,
                                        double *mean, double *m2)
{
    const int d = FASTEBM_DIM;
    double u_accept = fastebm_uniform(k0, k1, chain0 + (uint32_t)i, step, FASTEBM_TAG_ACCEPT, 0);
    double prob;
    double log_alpha = log_q_y[i] > -FASTEBM_INF ? e[i] - e_y[i] + log_q[i] - log_q_y[i]
                                                  : -FASTEBM_INF;
    if (fastebm_metropolis_accept(log_alpha, e_y[i], u_accept, n_accepted + i,
                                  n_divergent + i, &prob)) {
        for (int j = 0; j < d; ++j)
            x[j * n + i] = y[j * n + i];
        e[i] = e_y[i];
        log_q[i] = log_q_y[i];
    }
    if (slot >= 0)
        fastebm_record_row(record_mode, slot, x + i, n, 0, draws, mean, m2, i, n, d);
}
FASTEBM_ENTRY(independent_accept,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step,
               fastebm_real *x, double *e, double *log_q, const fastebm_real *y,
               const double *e_y, const double *log_q_y, int64_t *n_accepted,
               int64_t *n_divergent, int record_mode, int64_t slot, fastebm_real *draws,
               double *mean, double *m2),
              (n, k0, k1, chain0, step, x, e, log_q, y, e_y, log_q_y, n_accepted, n_divergent,
               record_mode, slot, draws, mean, m2))
