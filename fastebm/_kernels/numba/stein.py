"""The Stein kernel matrix of the inverse multiquadric base kernel (kernel Stein
discrepancy), parallel over rows."""
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def imq_stein_matrix(x, score, c2, beta, out):
    """out[i, j] = u_p(xᵢ, xⱼ) for k(x, y) = (c² + ‖x-y‖²)^β, s = ∇ log p:

    u_p = sᵢᵀsⱼ k + (sⱼ - sᵢ)ᵀr · 2β q^(β-1) - 2βd q^(β-1) - 4β(β-1) q^(β-2) ‖r‖²,
    with r = xᵢ - xⱼ and q = c² + ‖r‖² (the diagonal is included; callers drop it).
    """
    n, d = x.shape
    for i in prange(n):
        for j in range(n):
            r2 = 0.0
            ss = 0.0
            sr = 0.0
            for k in range(d):
                r = x[i, k] - x[j, k]
                r2 += r * r
                ss += score[i, k] * score[j, k]
                sr += (score[j, k] - score[i, k]) * r
            q = c2 + r2
            base = q ** beta
            out[i, j] = (ss * base + 2.0 * beta * q ** (beta - 1.0) * sr
                         - 2.0 * beta * d * q ** (beta - 1.0)
                         - 4.0 * beta * (beta - 1.0) * q ** (beta - 2.0) * r2)
