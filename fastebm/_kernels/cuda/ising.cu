/* Ising lattice kernels: heat-bath Gibbs sweeps of periodic L x M lattices.
 *
 * Spins s in {-1, +1}, E(s) = -coupling sum_x s_x (s_right(x) + s_down(x)) - field sum_x s_x
 * (coupling and field times beta). The conditional of one spin given its four neighbours
 * (sum k in {-4, -2, 0, 2, 4}) is p(s_x = +1 | rest) = sigmoid(2(coupling k + field)); the
 * site is set to +1 when u q[(k + 4) / 2] < 1, with q the five thresholds
 * 1 + exp(-2(coupling k + field)) computed by the glue (the C library's exp, as the
 * Numba kernels') and u uniform `site` of (chain, sweep, TAG_ISING_SWEEP): the numbers
 * and decisions of fastebm/_kernels/numba/ising.py.
 *
 * With L and M even the lattice is bipartite and a sweep is two half-sweeps, all sites of
 * even parity (i + j even), then all of odd parity: one thread per (site, chain), chains
 * fastest, so that both many small lattices and one large lattice fill the device
 * (Preis et al. 2009, J. Comput. Phys. 228: the checkerboard decomposition on GPUs).
 * Otherwise the sweep is sequential in site order i M + j, one thread per chain. Spins
 * are column-major (sites, n_chains), as every chain array of this backend.
 */

/* Heat-bath update of site (i, j) of chain c: neighbours periodic. */
FASTEBM_HD void fastebm_ising_site(uint64_t c, uint64_t n_chains, int L, int M, int i, int j,
                                   const double *q, uint32_t k0, uint32_t k1, uint32_t chain0,
                                   uint32_t step, fastebm_real *s)
{
    int up = (i > 0 ? i - 1 : L - 1) * M, down = (i < L - 1 ? i + 1 : 0) * M, row = i * M;
    int left = j > 0 ? j - 1 : M - 1, right = j < M - 1 ? j + 1 : 0;
    double nsum = (double)s[(uint64_t)(up + j) * n_chains + c]
                  + s[(uint64_t)(down + j) * n_chains + c]
                  + s[(uint64_t)(row + left) * n_chains + c]
                  + s[(uint64_t)(row + right) * n_chains + c];
    uint32_t site = (uint32_t)(row + j);
    double u = fastebm_uniform(k0, k1, chain0 + (uint32_t)c, step, FASTEBM_TAG_ISING_SWEEP, site);
    s[(uint64_t)site * n_chains + c] = u * q[(int64_t)(nsum + 4.0) >> 1] < 1.0 ? 1.0 : -1.0;
}

/* Thread t of a half-sweep: chain t % n_chains, the (t / n_chains)-th site of `parity`
 * (row i, every other column from (i + parity) % 2). */
FASTEBM_HD void ising_half_sweep_body(uint64_t t, uint64_t n_chains, int L, int M, int parity,
                                      const double *q, uint32_t k0, uint32_t k1,
                                      uint32_t chain0, uint32_t step, fastebm_real *s)
{
    uint64_t c = t % n_chains, r = t / n_chains;
    int half = M / 2;
    int i = (int)(r / half);
    int j = 2 * (int)(r % half) + ((i + parity) & 1);
    fastebm_ising_site(c, n_chains, L, M, i, j, q, k0, k1, chain0, step, s);
}
FASTEBM_ENTRY(ising_half_sweep,
              (uint64_t n, uint64_t n_chains, int L, int M, int parity, const double *q,
               uint32_t k0, uint32_t k1, uint32_t chain0, uint32_t step, fastebm_real *s),
              (n_chains, L, M, parity, q, k0, k1, chain0, step, s))

/* Chain c: one sequential sweep, sites in the order i M + j (L or M odd). */
FASTEBM_HD void ising_sequential_sweep_body(uint64_t c, uint64_t n_chains, int L, int M,
                                            const double *q, uint32_t k0, uint32_t k1,
                                            uint32_t chain0, uint32_t step, fastebm_real *s)
{
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < M; ++j)
            fastebm_ising_site(c, n_chains, L, M, i, j, q, k0, k1, chain0, step, s);
}
FASTEBM_ENTRY(ising_sequential_sweep,
              (uint64_t n, int L, int M, const double *q, uint32_t k0, uint32_t k1,
               uint32_t chain0, uint32_t step, fastebm_real *s),
              (n, L, M, q, k0, k1, chain0, step, s))
