/* Energies evaluated one point per thread, and the pass that finishes a dense Gaussian
 * after its matrix product. Sign convention: p(x) is proportional to exp(-E(x)).
 *
 * The building blocks (always compiled; FASTEBM_DIM is the dimension d, a constant so
 * that the compiler unrolls the loops over coordinates) evaluate one built-in model on
 * a pointer to its parameters, with the arithmetic of the Numba backend's functions in
 * fastebm/_kernels/numba/energies.py, operation for operation (g++ -ffp-contract=off
 * then rounds as Numba does):
 *   fastebm_diag_gaussian_*  E = beta/2 sum_j p_j (x_j - mu_j)^2, theta = [mu (d), p (d)];
 *   fastebm_mixture_*        E = -beta log sum_k exp(c_k - 1/2 (x - mu_k)' P_k (x - mu_k)),
 *                            a log-sum-exp streamed over the K components as the CPU's
 *                            _mixture_log_sum; theta = [c (K), mu (K x d), P (K x d x d)];
 *   fastebm_dense_gaussian_* E = beta/2 (x - mu)' P (x - mu) with P x summed in the
 *                            thread (only inside a sum: alone, a dense Gaussian is a
 *                            matrix product finished by affine_quadratic_rows);
 *                            theta = [mu (d), P (d x d), P mu (d)];
 *   fastebm_user_*           a user's energy(x, theta) and energy_grad(x, theta, g), or
 *                            central differences of energy with h = eps^(1/3) max(1, |x_j|).
 *
 * A module is compiled for one energy, chosen by a macro (fastebm/_kernels/cuda/
 * device_energy.py), which defines fastebm_energy and fastebm_energy_grad:
 *   FASTEBM_ENERGY_DIAG_GAUSSIAN  the diagonal Gaussian;
 *   FASTEBM_ENERGY_MIXTURE        a mixture of FASTEBM_MIXTURE_K Gaussians;
 *   FASTEBM_ENERGY_USER           the user's snippet (fastebm.energy(..., cuda=...)), which
 *                                 defines __device__ double energy(const double *x, const
 *                                 double *theta) and, with FASTEBM_USER_HAS_GRAD,
 *                                 __device__ double energy_grad(const double *x, const double
 *                                 *theta, double *g) that writes the gradient into g and
 *                                 returns E; E = beta * energy;
 *   FASTEBM_ENERGY_SUM            a sum of energies (E1 + E2, nested), FASTEBM_SUM_TERMS
 *                                 below;
 *   none of them                  the dense Gaussian, whose gradients are one matrix
 *                                 product (cuBLAS / BLAS) finished by affine_quadratic_rows.
 * Each of the first four defines FASTEBM_POINTWISE_ENERGY: the energy is a function of one
 * point, and the algorithms then also compile their fused kernels (every step of a run in
 * one launch).
 *
 * A sum is fused too: one function evaluates every term in the thread. The glue lists the
 * terms as an X-macro, FASTEBM_SUM_TERMS(LEAF, ADD), e.g.
 *     LEAF(0, DIAG_GAUSSIAN, 0, 0) LEAF(1, MIXTURE, 7, 2) ADD(0, 1)
 * LEAF(i, KIND, offset, K) evaluates term i (KIND one of DIAG_GAUSSIAN, DENSE_GAUSSIAN,
 * MIXTURE (K components), USER, USER_GRAD) on theta + offset = [beta_i, its parameters];
 * ADD(a, b) adds the value of the subtree whose first term is b into that of a, in the
 * post-order of the sum's tree, so that (E1 + E2) + E3 and E1 + (E2 + E3) round as on the
 * CPU (fastebm/energies/compose.py: E = E1 + E2, grad = grad1 + grad2 coordinate by
 * coordinate). A user term's snippet is compiled inside namespace fastebm_part<i> (the
 * glue wraps it), so that several snippets may each define energy and energy_grad.
 */
#ifndef FASTEBM_ENERGIES_CUH
#define FASTEBM_ENERGIES_CUH

/* ---- diagonal Gaussian ------------------------------------------------------------- */

FASTEBM_HD double fastebm_diag_gaussian_energy(const double *x, const double *theta,
                                               double beta)
{
    const double *mu = theta, *p = theta + FASTEBM_DIM;
    double e = 0.0;
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double r = x[j] - mu[j];
        e += p[j] * r * r;
    }
    return 0.5 * beta * e;
}

FASTEBM_HD double fastebm_diag_gaussian_energy_grad(const double *x, const double *theta,
                                                    double beta, double *g)
{
    const double *mu = theta, *p = theta + FASTEBM_DIM;
    double e = 0.0;
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double r = x[j] - mu[j];
        g[j] = beta * p[j] * r;
        e += p[j] * r * r;
    }
    return 0.5 * beta * e;
}

/* ---- Gaussian mixture ------------------------------------------------------------------ */

/* (x - mu)' P (x - mu) with P row-major (d x d): the CPU's _quadratic. */
FASTEBM_HD double fastebm_quadratic(const double *precision, const double *mu, const double *x)
{
    double total = 0.0;
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double row = 0.0;
        for (int k = 0; k < FASTEBM_DIM; ++k)
            row += precision[j * FASTEBM_DIM + k] * (x[k] - mu[k]);
        total += (x[j] - mu[j]) * row;
    }
    return total;
}

/* log sum_k exp(l_k) = *m + log(*s), l_k = c_k - 1/2 (x - mu_k)' P_k (x - mu_k), streamed
 * over the components without overflow (the CPU's _mixture_log_sum): a -inf term adds
 * nothing, a NaN term gives NaN, and every term -inf gives -inf (E = +inf). */
FASTEBM_HD void fastebm_mixture_log_sum(const double *x, const double *theta, int n_comp,
                                        double *m_out, double *s_out)
{
    const double *coef = theta, *mu = theta + n_comp, *prec = mu + n_comp * FASTEBM_DIM;
    double m = -FASTEBM_INF, s = 0.0;
    for (int k = 0; k < n_comp; ++k) {
        double term = coef[k] - 0.5 * fastebm_quadratic(prec + k * FASTEBM_DIM * FASTEBM_DIM,
                                                         mu + k * FASTEBM_DIM, x);
        if (term > m) {
            s = s * exp(m - term) + 1.0;
            m = term;
        } else if (term > -FASTEBM_INF) {
            s += exp(term - m);
        } else if (term != term) {
            *m_out = term;
            *s_out = 1.0;
            return;
        }
    }
    if (m == -FASTEBM_INF) {
        *m_out = m;
        *s_out = 1.0;
        return;
    }
    *m_out = m;
    *s_out = s;
}

FASTEBM_HD double fastebm_mixture_energy(const double *x, const double *theta, int n_comp,
                                         double beta)
{
    double m, s;
    fastebm_mixture_log_sum(x, theta, n_comp, &m, &s);
    return -beta * (m + log(s));
}

/* grad E = beta sum_k r_k P_k (x - mu_k), responsibilities r_k = exp(l_k - log sum_j exp
 * l_j), accumulated component by component (the CPU's _mixture_energy_grad). */
FASTEBM_HD double fastebm_mixture_energy_grad(const double *x, const double *theta, int n_comp,
                                              double beta, double *g)
{
    const double *coef = theta, *mu = theta + n_comp, *prec = mu + n_comp * FASTEBM_DIM;
    double m, s;
    fastebm_mixture_log_sum(x, theta, n_comp, &m, &s);
    double lse = m + log(s);
    for (int j = 0; j < FASTEBM_DIM; ++j)
        g[j] = 0.0;
    for (int k = 0; k < n_comp; ++k) {
        const double *pk = prec + k * FASTEBM_DIM * FASTEBM_DIM, *mk = mu + k * FASTEBM_DIM;
        double term = coef[k] - 0.5 * fastebm_quadratic(pk, mk, x);
        double weight = beta * exp(term - lse);
        for (int j = 0; j < FASTEBM_DIM; ++j) {
            double row = 0.0;
            for (int i = 0; i < FASTEBM_DIM; ++i)
                row += pk[j * FASTEBM_DIM + i] * (x[i] - mk[i]);
            g[j] += weight * row;
        }
    }
    return -beta * lse;
}

/* ---- dense Gaussian, in the thread (a term of a sum) ------------------------------------ */

/* The pass that finishes an affine quadratic after its product, on one point: g holds
 * P x on entry and scale (P x - s) on exit (s = P mu), and the value is
 * offset + scale/2 sum_j (x_j - mu_j)(P x - s)_j, summed in four partial sums as the CPU's
 * blas_energy_grad does (the dense Gaussian: offset 0, scale beta; a Gaussian proposal's
 * log q and its gradient: offset log_norm, scale -1). */
FASTEBM_HD double fastebm_affine_quadratic_finish(const double *x, const double *mean,
                                                  const double *shift, double offset,
                                                  double scale, double *g)
{
    const int d = FASTEBM_DIM;
    double e0 = 0.0, e1 = 0.0, e2 = 0.0, e3 = 0.0;
    int tail = d - d % 4;
    for (int j = 0; j < tail; j += 4) {
        double g0 = g[j] - shift[j], g1 = g[j + 1] - shift[j + 1];
        double g2 = g[j + 2] - shift[j + 2], g3 = g[j + 3] - shift[j + 3];
        e0 += (x[j] - mean[j]) * g0;
        e1 += (x[j + 1] - mean[j + 1]) * g1;
        e2 += (x[j + 2] - mean[j + 2]) * g2;
        e3 += (x[j + 3] - mean[j + 3]) * g3;
        g[j] = scale * g0;
        g[j + 1] = scale * g1;
        g[j + 2] = scale * g2;
        g[j + 3] = scale * g3;
    }
    for (int j = tail; j < d; ++j) {
        double g0 = g[j] - shift[j];
        e0 += (x[j] - mean[j]) * g0;
        g[j] = scale * g0;
    }
    return offset + 0.5 * scale * ((e0 + e1) + (e2 + e3));
}

/* g = beta P (x - mu) and E = beta/2 (x - mu)' P (x - mu) from the row sums P x (P
 * symmetric) and shift = P mu, finished as affine_quadratic_rows does (four partial sums
 * in the same order). The CPU sums a point's P x in this order too up to d = 32
 * (energies.py, IN_THREAD_MAX_DIM), bit for bit; above, and for blocks of chains, by BLAS,
 * whose order of summation is its own: equal to rounding. */
FASTEBM_HD double fastebm_dense_gaussian_energy_grad(const double *x, const double *theta,
                                                     double beta, double *g)
{
    const int d = FASTEBM_DIM;
    const double *mean = theta, *precision = theta + d, *shift = theta + d + d * d;
    for (int j = 0; j < d; ++j) {
        double row = 0.0;
        for (int k = 0; k < d; ++k)
            row += precision[j * d + k] * x[k];
        g[j] = row;
    }
    return fastebm_affine_quadratic_finish(x, mean, shift, 0.0, beta, g);
}

FASTEBM_HD double fastebm_dense_gaussian_energy(const double *x, const double *theta,
                                                double beta)
{
    double g[FASTEBM_DIM];
    return fastebm_dense_gaussian_energy_grad(x, theta, beta, g);
}

/* ---- user energies ---------------------------------------------------------------------- */

typedef double (*fastebm_user_energy_fn)(const double *x, const double *theta);
typedef double (*fastebm_user_grad_fn)(const double *x, const double *theta, double *g);

FASTEBM_HD double fastebm_user_energy(fastebm_user_energy_fn energy_fn, const double *x,
                                      const double *theta, double beta)
{
    return beta * energy_fn(x, theta);
}

/* beta energy_grad(x, theta, g) (g scaled by beta), or, without energy_grad (null),
 * central differences of energy with h = eps^(1/3) max(1, |x_j|), as on the CPU. */
FASTEBM_HD double fastebm_user_energy_grad(fastebm_user_energy_fn energy_fn,
                                           fastebm_user_grad_fn grad_fn, const double *x,
                                           const double *theta, double beta, double *g)
{
    double e;
    if (grad_fn) {
        e = grad_fn(x, theta, g);
    } else {
        const double rel = FASTEBM_FD_REL_STEP; /* float64 eps ** (1/3), fastebm._contract */
        double y[FASTEBM_DIM];
        for (int j = 0; j < FASTEBM_DIM; ++j)
            y[j] = x[j];
        for (int j = 0; j < FASTEBM_DIM; ++j) {
            double a = x[j] < 0.0 ? -x[j] : x[j];
            double h = rel * (a > 1.0 ? a : 1.0);
            y[j] = x[j] + h;
            double up = energy_fn(y, theta);
            y[j] = x[j] - h;
            double down = energy_fn(y, theta);
            y[j] = x[j];
            g[j] = (up - down) / (2.0 * h);
        }
        e = energy_fn(x, theta);
    }
    for (int j = 0; j < FASTEBM_DIM; ++j)
        g[j] *= beta;
    return beta * e;
}

/* ---- the module's energy ---------------------------------------------------------------- */

#if defined(FASTEBM_ENERGY_DIAG_GAUSSIAN)
#define FASTEBM_POINTWISE_ENERGY
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    return fastebm_diag_gaussian_energy(x, theta, beta);
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
{
    return fastebm_diag_gaussian_energy_grad(x, theta, beta, g);
}
#elif defined(FASTEBM_ENERGY_MIXTURE)
#define FASTEBM_POINTWISE_ENERGY
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    return fastebm_mixture_energy(x, theta, FASTEBM_MIXTURE_K, beta);
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
{
    return fastebm_mixture_energy_grad(x, theta, FASTEBM_MIXTURE_K, beta, g);
}
#elif defined(FASTEBM_ENERGY_USER)
#define FASTEBM_POINTWISE_ENERGY
#ifdef FASTEBM_USER_HAS_GRAD
#define FASTEBM_USER_GRAD_FN energy_grad
#else
#define FASTEBM_USER_GRAD_FN 0
#endif
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    return fastebm_user_energy(energy, x, theta, beta);
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
{
    return fastebm_user_energy_grad(energy, FASTEBM_USER_GRAD_FN, x, theta, beta, g);
}
#elif defined(FASTEBM_ENERGY_SUM)
#define FASTEBM_POINTWISE_ENERGY
/* The terms: theta + offset = [beta_i, the term's parameters]. */
#define FASTEBM_TERM_E_DIAG_GAUSSIAN(i, t, k) fastebm_diag_gaussian_energy(x, (t) + 1, (t)[0])
#define FASTEBM_TERM_EG_DIAG_GAUSSIAN(i, t, k, gi)                                          \
    fastebm_diag_gaussian_energy_grad(x, (t) + 1, (t)[0], gi)
#define FASTEBM_TERM_E_DENSE_GAUSSIAN(i, t, k) fastebm_dense_gaussian_energy(x, (t) + 1, (t)[0])
#define FASTEBM_TERM_EG_DENSE_GAUSSIAN(i, t, k, gi)                                         \
    fastebm_dense_gaussian_energy_grad(x, (t) + 1, (t)[0], gi)
#define FASTEBM_TERM_E_MIXTURE(i, t, k) fastebm_mixture_energy(x, (t) + 1, k, (t)[0])
#define FASTEBM_TERM_EG_MIXTURE(i, t, k, gi)                                                \
    fastebm_mixture_energy_grad(x, (t) + 1, k, (t)[0], gi)
#define FASTEBM_TERM_E_USER(i, t, k) fastebm_user_energy(fastebm_part##i::energy, x, (t) + 1, (t)[0])
#define FASTEBM_TERM_EG_USER(i, t, k, gi)                                                   \
    fastebm_user_energy_grad(fastebm_part##i::energy, 0, x, (t) + 1, (t)[0], gi)
#define FASTEBM_TERM_E_USER_GRAD(i, t, k) FASTEBM_TERM_E_USER(i, t, k)
#define FASTEBM_TERM_EG_USER_GRAD(i, t, k, gi)                                              \
    fastebm_user_energy_grad(fastebm_part##i::energy, fastebm_part##i::energy_grad, x,      \
                             (t) + 1, (t)[0], gi)

#define FASTEBM_SUM_LEAF_E(i, KIND, offset, k)                                              \
    double e##i = FASTEBM_TERM_E_##KIND(i, theta + (offset), k);
#define FASTEBM_SUM_ADD_E(a, b) e##a = e##a + e##b;
#define FASTEBM_SUM_LEAF_EG(i, KIND, offset, k)                                             \
    double g##i[FASTEBM_DIM];                                                               \
    double e##i = FASTEBM_TERM_EG_##KIND(i, theta + (offset), k, g##i);
#define FASTEBM_SUM_ADD_EG(a, b)                                                            \
    e##a = e##a + e##b;                                                                     \
    for (int j = 0; j < FASTEBM_DIM; ++j)                                                   \
        g##a[j] += g##b[j];

/* E = beta (E_0 + E_1 + ...), the terms added as the sum's tree adds them; a sum's own
 * beta is 1 (tempering a sum tempers its terms), and multiplying by it is exact. */
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    FASTEBM_SUM_TERMS(FASTEBM_SUM_LEAF_E, FASTEBM_SUM_ADD_E)
    return beta * e0;
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
{
    FASTEBM_SUM_TERMS(FASTEBM_SUM_LEAF_EG, FASTEBM_SUM_ADD_EG)
    for (int j = 0; j < FASTEBM_DIM; ++j)
        g[j] = beta * g0[j];
    return beta * e0;
}
#endif

#ifdef FASTEBM_POINTWISE_ENERGY
/* e[i] = E(x_i) and, with `grad`, g_i = grad E(x_i), for chain i of the column-major
 * x and g (d, n): the point is gathered into registers for the energy's functions. */
FASTEBM_HD void energy_rows_body(uint64_t i, uint64_t n, const fastebm_real *x,
                                 fastebm_real *g, double *e, const double *theta, double beta,
                                 int grad)
{
    double xr[FASTEBM_DIM], gr[FASTEBM_DIM];
    for (int j = 0; j < FASTEBM_DIM; ++j)
        xr[j] = x[j * n + i];
    if (!grad) {
        e[i] = fastebm_energy(xr, theta, beta);
        return;
    }
    e[i] = fastebm_energy_grad(xr, theta, beta, gr);
    for (int j = 0; j < FASTEBM_DIM; ++j)
        g[j * n + i] = gr[j];
}
FASTEBM_ENTRY(energy_rows,
              (uint64_t n, const fastebm_real *x, fastebm_real *g, double *e,
               const double *theta, double beta, int grad),
              (n, x, g, e, theta, beta, grad))
#endif

/* Dense Gaussian, after the product G = P X (column-major X and G (d, n), P symmetric)
 * and with shift = P mu: leaves scale P(x - mu) in chain i's column of G and
 * out[i] = offset + scale/2 (x - mu)' P (x - mu), with the four partial sums of the
 * Numba backend's affine_quadratic_rows (same rounding). */
FASTEBM_HD void affine_quadratic_rows_body(uint64_t i, uint64_t n, const fastebm_real *x,
                                           fastebm_real *g, const double *mean,
                                           const double *shift, double offset, double scale,
                                           double *out)
{
    const int d = FASTEBM_DIM;
    const fastebm_real *xr = x + i;
    fastebm_real *gr = g + i;
    double e0 = 0.0, e1 = 0.0, e2 = 0.0, e3 = 0.0;
    int tail = d - d % 4;
    for (int j = 0; j < tail; j += 4) {
        double g0 = gr[j * n] - shift[j], g1 = gr[(j + 1) * n] - shift[j + 1];
        double g2 = gr[(j + 2) * n] - shift[j + 2], g3 = gr[(j + 3) * n] - shift[j + 3];
        e0 += (xr[j * n] - mean[j]) * g0;
        e1 += (xr[(j + 1) * n] - mean[j + 1]) * g1;
        e2 += (xr[(j + 2) * n] - mean[j + 2]) * g2;
        e3 += (xr[(j + 3) * n] - mean[j + 3]) * g3;
        gr[j * n] = scale * g0;
        gr[(j + 1) * n] = scale * g1;
        gr[(j + 2) * n] = scale * g2;
        gr[(j + 3) * n] = scale * g3;
    }
    for (int j = tail; j < d; ++j) {
        double g0 = gr[j * n] - shift[j];
        e0 += (xr[j * n] - mean[j]) * g0;
        gr[j * n] = scale * g0;
    }
    out[i] = offset + 0.5 * scale * ((e0 + e1) + (e2 + e3));
}
FASTEBM_ENTRY(affine_quadratic_rows,
              (uint64_t n, const fastebm_real *x, fastebm_real *g, const double *mean,
               const double *shift, double offset, double scale, double *out),
              (n, x, g, mean, shift, offset, scale, out))

#endif /* FASTEBM_ENERGIES_CUH */
