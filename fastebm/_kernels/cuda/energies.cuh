/* Energies evaluated one point per thread, and the pass that finishes a dense Gaussian
 * after its matrix product. Sign convention: p(x) is proportional to exp(-E(x)).
 *
 * A module is compiled for one energy, chosen by a macro (fastebm/_kernels/cuda/build.py):
 *   FASTEBM_ENERGY_DIAG_GAUSSIAN  E(x) = beta/2 sum_j p_j (x_j - mu_j)^2,
 *                                 theta = [mu (d), p (d)];
 *   FASTEBM_ENERGY_USER           the user's snippet (fastebm.energy(..., cuda=...)) defines
 *                                 __device__ double energy(const double *x, const double
 *                                 *theta) and, with FASTEBM_USER_HAS_GRAD, __device__ double
 *                                 energy_grad(const double *x, const double *theta,
 *                                 double *g) that writes the gradient into g and returns
 *                                 E; E = beta * energy;
 *   neither                       the dense Gaussian, whose gradients are one matrix
 *                                 product (cuBLAS / BLAS) finished by affine_quadratic_rows.
 * FASTEBM_DIM is the dimension d of the module's points (a constant, so that the
 * compiler unrolls the loops over coordinates).
 */
#ifndef FASTEBM_ENERGIES_CUH
#define FASTEBM_ENERGIES_CUH


#if defined(FASTEBM_ENERGY_DIAG_GAUSSIAN)
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    const double *mu = theta, *p = theta + FASTEBM_DIM;
    double e = 0.0;
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double r = x[j] - mu[j];
        e += p[j] * r * r;
    }
    return 0.5 * beta * e;
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
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
#elif defined(FASTEBM_ENERGY_USER)
FASTEBM_HD double fastebm_energy(const double *x, const double *theta, double beta)
{
    return beta * energy(x, theta);
}

FASTEBM_HD double fastebm_energy_grad(const double *x, const double *theta, double beta,
                                      double *g)
{
#ifdef FASTEBM_USER_HAS_GRAD
    double e = energy_grad(x, theta, g);
#else
    /* central differences with h = eps^(1/3) max(1, |x_j|), as on the CPU */
    const double rel = FASTEBM_FD_REL_STEP; /* float64 eps ** (1/3), fastebm._contract */
    double y[FASTEBM_DIM];
    for (int j = 0; j < FASTEBM_DIM; ++j)
        y[j] = x[j];
    for (int j = 0; j < FASTEBM_DIM; ++j) {
        double a = x[j] < 0.0 ? -x[j] : x[j];
        double h = rel * (a > 1.0 ? a : 1.0);
        y[j] = x[j] + h;
        double up = energy(y, theta);
        y[j] = x[j] - h;
        double down = energy(y, theta);
        y[j] = x[j];
        g[j] = (up - down) / (2.0 * h);
    }
    double e = energy(x, theta);
#endif
    for (int j = 0; j < FASTEBM_DIM; ++j)
        g[j] *= beta;
    return beta * e;
}
#endif

#if defined(FASTEBM_ENERGY_DIAG_GAUSSIAN) || defined(FASTEBM_ENERGY_USER)
/* e[i] = E(x_i) and, with `grad`, g_i = grad E(x_i), for chain i of the column-major
 * x and g (d, n): the point is gathered into registers for the energy's functions. */
FASTEBM_HD void energy_rows_body(uint64_t i, uint64_t n, const double *x, double *g, double *e,
                                 const double *theta, double beta, int grad)
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
              (uint64_t n, const double *x, double *g, double *e, const double *theta,
               double beta, int grad),
              (n, x, g, e, theta, beta, grad))
#endif

/* Dense Gaussian, after the product G = P X (column-major X and G (d, n), P symmetric)
 * and with shift = P mu: leaves scale P(x - mu) in chain i's column of G and
 * out[i] = offset + scale/2 (x - mu)' P (x - mu), with the four partial sums of the
 * Numba backend's affine_quadratic_rows (same rounding). */
FASTEBM_HD void affine_quadratic_rows_body(uint64_t i, uint64_t n, const double *x,
                                           double *g, const double *mean, const double *shift,
                                           double offset, double scale, double *out)
{
    const int d = FASTEBM_DIM;
    const double *xr = x + i;
    double *gr = g + i;
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
              (uint64_t n, const double *x, double *g, const double *mean,
               const double *shift, double offset, double scale, double *out),
              (n, x, g, mean, shift, offset, scale, out))

#endif /* FASTEBM_ENERGIES_CUH */
