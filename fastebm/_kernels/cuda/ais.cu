/* Annealed importance sampling (AIS) along the geometric path from a base proposal q, one
 * thread a chain: the Numba backend's fastebm/_kernels/numba/ais.py, operation for
 * operation.
 *
 * The intermediate targets are pi_b(x) ~ q(x)^(1-b) exp(-b E(x)), i.e. the energies
 *     U_b(x) = b E(x) - (1 - b) log q(x),   grad U_b = b grad E - (1 - b) grad log q,
 * from pi_0 = q (normalized) to pi_1 ~ exp(-E). A chain visits b_0, b_1, ..., b_K; at the
 * k-th temperature its log weight grows by (b_k - b_(k-1)) (-E(x) - log q(x)) at its
 * current state, then it takes n_steps transitions that leave pi_(b_k) invariant (Neal
 * 2001, "Annealed importance sampling", Statistics and Computing 11, eq. 2-3): MALA or
 * random-walk Metropolis on U_b, or unadjusted Langevin (biased). The last temperature
 * takes no transition unless `transition_last` (the adaptive pilot continues from there).
 *
 * Streams: chain i (global index chain0 + i) uses counter (chain, (k_offset + k) n_steps
 * + s, tag0 + TAG_NOISE / TAG_ACCEPT) for the s-th transition at the k-th temperature,
 * and (chain, 0, tag0 + TAG_PROPOSAL) for its base draw; tag0 = AIS_PILOT_SHIFT moves the
 * pilot of an adaptive schedule off the estimate's streams.
 *
 * Langevin moves (ais_langevin): y = x - h u + sqrt(2h) xi with u = grad U_b(x), or with
 * the preconditioner L_k of the temperature (Sigma_k = L_k L_k'): u = L_k' grad U_b,
 * y = x + L_k(-h u + sqrt(2h) xi) (Roberts & Stramer 2002); MALA's log alpha is that of
 * langevin.cu (fastebm_log_accept) on U_b. The Numba kernel takes the products with L_k
 * and the Gaussian base's P x through BLAS; here they are sums in the thread (equal to
 * rounding, not bit for bit, where L_k or P has more than one nonzero per row).
 *
 * Bases (q): a Gaussian N(mu, L L') with precision P = (L L')^-1 and P mu (the Numba
 * backend's GaussianBaseParams): draw y = mu + L xi, log q and grad log q = -P(x - mu)
 * finished as affine_quadratic_rows with offset log_norm and scale -1, and for the random
 * walk log q = log_norm - 1/2 sum_j (x_j - mu_j) (P (x - mu))_j (_base_log_density); a
 * uniform box: y = low + (high - low) u, log q = log_norm inside and -inf outside,
 * grad log q = 0.
 *
 * Energies: the module's pointwise energy (fastebm_energy, fastebm_energy_grad), or for a
 * dense Gaussian (no pointwise energy) its in-thread form fastebm_dense_gaussian_* on
 * theta = [mu, P, P mu] (BLAS on the CPU: equal to rounding).
 * Chain arrays are column-major (common.cuh); FASTEBM_START_* are fastebm._contract's
 * START_* (build.py).
 */
#define FASTEBM_AIS_BASE_GAUSSIAN 0
#define FASTEBM_AIS_BASE_UNIFORM 1

#ifdef FASTEBM_POINTWISE_ENERGY
#define FASTEBM_AIS_ENERGY(x, theta, beta) fastebm_energy(x, theta, beta)
#define FASTEBM_AIS_ENERGY_GRAD(x, theta, beta, g) fastebm_energy_grad(x, theta, beta, g)
#else
#define FASTEBM_AIS_ENERGY(x, theta, beta) fastebm_dense_gaussian_energy(x, theta, beta)
#define FASTEBM_AIS_ENERGY_GRAD(x, theta, beta, g)                                         \
    fastebm_dense_gaussian_energy_grad(x, theta, beta, g)
#endif

/* U_b = b E - (1 - b) log q, exact at the ends (where 0 * inf would be NaN). */
FASTEBM_HD double fastebm_annealed_energy(double beta, double e, double log_q)
{
    if (beta == 1.0)
        return e;
    if (beta == 0.0)
        return -log_q;
    return beta * e - (1.0 - beta) * log_q;
}

/* x ~ q from the stream (chain, step, tag) (xi: scratch of d): the Numba backend's
 * _gaussian_draw (a = mu, b = L) or _uniform_draw (a = low, b = high). */
FASTEBM_HD void fastebm_ais_base_draw(int kind, const double *a, const double *b, uint32_t k0,
                                      uint32_t k1, uint32_t chain, uint32_t step, uint32_t tag,
                                      double *xi, double *x)
{
    const int d = FASTEBM_DIM;
    if (kind == FASTEBM_AIS_BASE_GAUSSIAN) {
        fastebm_fill_normals(k0, k1, chain, step, tag, (uint32_t)d, xi);
        for (int j = 0; j < d; ++j) {
            double acc = a[j];
            for (int k = 0; k <= j; ++k)
                acc += b[j * d + k] * xi[k];
            x[j] = acc;
        }
    } else {
        fastebm_fill_uniforms(k0, k1, chain, step, tag, (uint32_t)d, xi);
        for (int j = 0; j < d; ++j)
            x[j] = a[j] + (b[j] - a[j]) * xi[j];
    }
}

/* log q of the uniform box [a, b]: log_norm inside, -inf outside (and for NaN). */
FASTEBM_HD double fastebm_ais_uniform_log_density(const double *a, const double *b,
                                                  double log_norm, const double *x)
{
    for (int j = 0; j < FASTEBM_DIM; ++j)
        if (!(a[j] <= x[j] && x[j] <= b[j]))
            return -FASTEBM_INF;
    return log_norm;
}

/* grad log q into glq and log q (returned). Gaussian (a = mu, p = P, s = P mu): the row
 * (x'P)_j = sum_k x_k P_kj, then -P(x - mu) and log_norm - 1/2 (x - mu)'P(x - mu) with
 * the four partial sums of affine_quadratic_rows (offset log_norm, scale -1). */
FASTEBM_HD double fastebm_ais_base_grad(int kind, const double *a, const double *b,
                                        const double *p, const double *s, double log_norm,
                                        const double *x, double *glq)
{
    const int d = FASTEBM_DIM;
    if (kind != FASTEBM_AIS_BASE_GAUSSIAN) {
        for (int j = 0; j < d; ++j)
            glq[j] = 0.0;
        return fastebm_ais_uniform_log_density(a, b, log_norm, x);
    }
    for (int j = 0; j < d; ++j) {
        double row = 0.0;
        for (int k = 0; k < d; ++k)
            row += x[k] * p[k * d + j];
        glq[j] = row;
    }
    return fastebm_affine_quadratic_finish(x, a, s, log_norm, -1.0, glq);
}

/* log q alone (the random walk's): the Numba backend's _base_log_density for a Gaussian,
 * log_norm - 1/2 sum_j (x_j - mu_j) sum_k P_jk (x_k - mu_k). */
FASTEBM_HD double fastebm_ais_base_log_density(int kind, const double *a, const double *b,
                                               const double *p, double log_norm,
                                               const double *x)
{
    const int d = FASTEBM_DIM;
    if (kind != FASTEBM_AIS_BASE_GAUSSIAN)
        return fastebm_ais_uniform_log_density(a, b, log_norm, x);
    double quad = 0.0;
    for (int j = 0; j < d; ++j) {
        double acc = 0.0;
        for (int k = 0; k < d; ++k)
            acc += p[j * d + k] * (x[k] - a[k]);
        quad += (x[j] - a[j]) * acc;
    }
    return log_norm - 0.5 * quad;
}

/* u = b g - (1 - b) glq (the drift grad U_b), then, with a preconditioner L (row-major
 * (d, d)), u L (the whitened drift L' grad U_b: the Numba backend's raw @ chol[k]). */
FASTEBM_HD void fastebm_ais_drift(double beta, const double *g, const double *glq,
                                  const double *chol, double *raw, double *u)
{
    const int d = FASTEBM_DIM;
    double c = 1.0 - beta;
    if (!chol) {
        for (int j = 0; j < d; ++j)
            u[j] = beta * g[j] - c * glq[j];
        return;
    }
    for (int j = 0; j < d; ++j)
        raw[j] = beta * g[j] - c * glq[j];
    for (int j = 0; j < d; ++j) {
        double acc = 0.0;
        for (int k = 0; k < d; ++k)
            acc += raw[k] * chol[k * d + j];
        u[j] = acc;
    }
}

/* Chain i's position x at the start of a run: drawn from the base on (chain, 0,
 * tag0 + TAG_PROPOSAL) for START_DRAW, else read from column i of x_all (d, n). */
FASTEBM_HD void fastebm_ais_start_position(int start, int base_kind, const double *qa,
                                           const double *qb, uint32_t k0, uint32_t k1,
                                           uint32_t chain, uint32_t tag0, double *xi, double *x,
                                           const double *x_all, uint64_t i, uint64_t n)
{
    if (start == FASTEBM_START_DRAW)
        fastebm_ais_base_draw(base_kind, qa, qb, k0, k1, chain, 0u,
                              tag0 + FASTEBM_TAG_PROPOSAL, xi, x);
    else
        for (int j = 0; j < FASTEBM_DIM; ++j)
            x[j] = x_all[j * n + i];
}

/* Write back chain i's energy, log q and log weight, and add its counts. */
FASTEBM_HD void fastebm_ais_store_chain(uint64_t i, double e, double lq, double lw,
                                        int64_t acc, int64_t div, double *e_all,
                                        double *lq_all, double *lw_all, int64_t *n_accepted,
                                        int64_t *n_divergent)
{
    e_all[i] = e;
    lq_all[i] = lq;
    lw_all[i] = lw;
    n_accepted[i] += acc;
    n_divergent[i] += div;
}

/* Chain i through the temperatures betas[0..n_temps) with MALA (metropolize) or ULA
 * steps; see the file's comment. State (column-major x, g, glq (d, n); e, log_q, log_w,
 * counters (n)) is read unless `start` draws or evaluates it, and written back. `chol`:
 * n_temps lower Cholesky factors (n_temps, d, d) when `precondition`. */
FASTEBM_HD void ais_langevin_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                  uint32_t chain0, uint32_t tag0, int start, int metropolize,
                                  int64_t n_temps, const double *betas, const double *step_size,
                                  int64_t n_steps, int64_t k_offset, int transition_last,
                                  int precondition, const double *chol, int base_kind,
                                  const double *qa, const double *qb, const double *qp,
                                  const double *qs, double q_log_norm, double *x_all,
                                  double *e_all, double *g_all, double *lq_all, double *glq_all,
                                  double *lw_all, int64_t *n_accepted, int64_t *n_divergent,
                                  const double *theta, double beta_e)
{
    const int d = FASTEBM_DIM;
    uint32_t chain = chain0 + (uint32_t)i;
    double x[FASTEBM_DIM], g[FASTEBM_DIM], glq[FASTEBM_DIM], y[FASTEBM_DIM], g_y[FASTEBM_DIM],
        glq_y[FASTEBM_DIM], u_x[FASTEBM_DIM], u_y[FASTEBM_DIM], xi[FASTEBM_DIM],
        raw[FASTEBM_DIM];
    double e, lq;
    fastebm_ais_start_position(start, base_kind, qa, qb, k0, k1, chain, tag0, xi, x, x_all,
                               i, n);
    if (start != FASTEBM_START_READY) {
        e = FASTEBM_AIS_ENERGY_GRAD(x, theta, beta_e, g);
        lq = fastebm_ais_base_grad(base_kind, qa, qb, qp, qs, q_log_norm, x, glq);
    } else {
        for (int j = 0; j < d; ++j) {
            g[j] = g_all[j * n + i];
            glq[j] = glq_all[j * n + i];
        }
        e = e_all[i];
        lq = lq_all[i];
    }
    double lw = lw_all[i];
    int64_t acc = 0, div = 0;
    for (int64_t k = 1; k < n_temps; ++k) {
        double beta = betas[k];
        lw += (beta - betas[k - 1]) * (-e - lq);
        if (k == n_temps - 1 && !transition_last)
            break;
        double h = step_size[k];
        double root = sqrt(2.0 * h);
        const double *L = precondition ? chol + (uint64_t)k * d * d : 0;
        for (int64_t s = 0; s < n_steps; ++s) {
            uint32_t step = (uint32_t)((k_offset + k) * n_steps + s);
            fastebm_fill_normals(k0, k1, chain, step, tag0 + FASTEBM_TAG_NOISE, (uint32_t)d, xi);
            fastebm_ais_drift(beta, g, glq, L, raw, u_x);
            if (L) {
                for (int j = 0; j < d; ++j)
                    raw[j] = -h * u_x[j] + root * xi[j];
                for (int j = 0; j < d; ++j) {
                    double acc_y = 0.0;
                    for (int k2 = 0; k2 < d; ++k2)
                        acc_y += raw[k2] * L[j * d + k2];
                    y[j] = acc_y + x[j];
                }
            } else {
                for (int j = 0; j < d; ++j)
                    y[j] = x[j] - h * u_x[j] + root * xi[j];
            }
            double e_y = FASTEBM_AIS_ENERGY_GRAD(y, theta, beta_e, g_y);
            double lq_y = fastebm_ais_base_grad(base_kind, qa, qb, qp, qs, q_log_norm, y, glq_y);
            fastebm_ais_drift(beta, g_y, glq_y, L, raw, u_y);
            double target_x = fastebm_annealed_energy(beta, e, lq);
            double target_y = fastebm_annealed_energy(beta, e_y, lq_y);
            double log_alpha = fastebm_log_accept(d, h, target_x, target_y, u_x, u_y, xi, 1);
            int take, bad;
            if (!FASTEBM_ISFINITE(e_y) || FASTEBM_ISNAN(log_alpha)) {
                take = 0;
                bad = 1;
            } else if (!metropolize) {
                take = target_y < FASTEBM_INF;
                bad = !take;
            } else {
                take = log_alpha >= 0.0 ||
                       log(fastebm_uniform(k0, k1, chain, step, tag0 + FASTEBM_TAG_ACCEPT, 0)) <
                           log_alpha;
                bad = 0;
            }
            acc += take;
            div += bad;
            if (take) {
                for (int j = 0; j < d; ++j) {
                    x[j] = y[j];
                    g[j] = g_y[j];
                    glq[j] = glq_y[j];
                }
                e = e_y;
                lq = lq_y;
            }
        }
    }
    for (int j = 0; j < d; ++j) {
        x_all[j * n + i] = x[j];
        g_all[j * n + i] = g[j];
        glq_all[j * n + i] = glq[j];
    }
    fastebm_ais_store_chain(i, e, lq, lw, acc, div, e_all, lq_all, lw_all, n_accepted,
                            n_divergent);
}
FASTEBM_ENTRY(ais_langevin,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t tag0, int start,
               int metropolize, int64_t n_temps, const double *betas, const double *step_size,
               int64_t n_steps, int64_t k_offset, int transition_last, int precondition,
               const double *chol, int base_kind, const double *qa, const double *qb,
               const double *qp, const double *qs, double q_log_norm, double *x_all,
               double *e_all, double *g_all, double *lq_all, double *glq_all, double *lw_all,
               int64_t *n_accepted, int64_t *n_divergent, const double *theta, double beta_e),
              (n, k0, k1, chain0, tag0, start, metropolize, n_temps, betas, step_size, n_steps,
               k_offset, transition_last, precondition, chol, base_kind, qa, qb, qp, qs,
               q_log_norm, x_all, e_all, g_all, lq_all, glq_all, lw_all, n_accepted,
               n_divergent, theta, beta_e))

/* Chain i through the temperatures with random-walk Metropolis steps y = x + sigma xi
 * (sigma = step_size[k]) on U_b; energies and log q only. A NaN or +inf energy, or a NaN
 * log alpha, is rejected and counted. */
FASTEBM_HD void ais_random_walk_body(uint64_t i, uint64_t n, uint32_t k0, uint32_t k1,
                                     uint32_t chain0, uint32_t tag0, int start, int64_t n_temps,
                                     const double *betas, const double *step_size,
                                     int64_t n_steps, int64_t k_offset, int transition_last,
                                     int base_kind, const double *qa, const double *qb,
                                     const double *qp, double q_log_norm, double *x_all,
                                     double *e_all, double *lq_all, double *lw_all,
                                     int64_t *n_accepted, int64_t *n_divergent,
                                     const double *theta, double beta_e)
{
    const int d = FASTEBM_DIM;
    uint32_t chain = chain0 + (uint32_t)i;
    double x[FASTEBM_DIM], y[FASTEBM_DIM], xi[FASTEBM_DIM];
    double e, lq;
    fastebm_ais_start_position(start, base_kind, qa, qb, k0, k1, chain, tag0, xi, x, x_all,
                               i, n);
    if (start != FASTEBM_START_READY) {
        e = FASTEBM_AIS_ENERGY(x, theta, beta_e);
        lq = fastebm_ais_base_log_density(base_kind, qa, qb, qp, q_log_norm, x);
    } else {
        e = e_all[i];
        lq = lq_all[i];
    }
    double lw = lw_all[i];
    int64_t acc = 0, div = 0;
    for (int64_t k = 1; k < n_temps; ++k) {
        double beta = betas[k];
        lw += (beta - betas[k - 1]) * (-e - lq);
        if (k == n_temps - 1 && !transition_last)
            break;
        double sigma = step_size[k];
        for (int64_t s = 0; s < n_steps; ++s) {
            uint32_t step = (uint32_t)((k_offset + k) * n_steps + s);
            fastebm_fill_normals(k0, k1, chain, step, tag0 + FASTEBM_TAG_NOISE, (uint32_t)d, xi);
            for (int j = 0; j < d; ++j)
                y[j] = x[j] + sigma * xi[j];
            double e_y = FASTEBM_AIS_ENERGY(y, theta, beta_e);
            double lq_y = fastebm_ais_base_log_density(base_kind, qa, qb, qp, q_log_norm, y);
            int take = 0, bad = 0;
            if (!(e_y < FASTEBM_INF)) {
                bad = 1;
            } else {
                double log_alpha = fastebm_annealed_energy(beta, e, lq) -
                                   fastebm_annealed_energy(beta, e_y, lq_y);
                if (FASTEBM_ISNAN(log_alpha))
                    bad = 1;
                else
                    take = log_alpha >= 0.0 ||
                           log(fastebm_uniform(k0, k1, chain, step, tag0 + FASTEBM_TAG_ACCEPT,
                                               0)) < log_alpha;
            }
            if (take) {
                e = e_y;
                lq = lq_y;
                for (int j = 0; j < d; ++j)
                    x[j] = y[j];
                acc += 1;
            }
            div += bad;
        }
    }
    for (int j = 0; j < d; ++j)
        x_all[j * n + i] = x[j];
    fastebm_ais_store_chain(i, e, lq, lw, acc, div, e_all, lq_all, lw_all, n_accepted,
                            n_divergent);
}
FASTEBM_ENTRY(ais_random_walk,
              (uint64_t n, uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t tag0, int start,
               int64_t n_temps, const double *betas, const double *step_size, int64_t n_steps,
               int64_t k_offset, int transition_last, int base_kind, const double *qa,
               const double *qb, const double *qp, double q_log_norm, double *x_all,
               double *e_all, double *lq_all, double *lw_all, int64_t *n_accepted,
               int64_t *n_divergent, const double *theta, double beta_e),
              (n, k0, k1, chain0, tag0, start, n_temps, betas, step_size, n_steps, k_offset,
               transition_last, base_kind, qa, qb, qp, q_log_norm, x_all, e_all, lq_all,
               lw_all, n_accepted, n_divergent, theta, beta_e))
