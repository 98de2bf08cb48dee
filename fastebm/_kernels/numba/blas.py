"""Matrix products of a block of chains, with the same numbers for a chain whatever its block.

A kernel multiplies the states of a block of m chains (rows) by a matrix through BLAS.
For a chain to be the same in every run (10 or 10,000 chains, any number of threads,
any shard of a cluster run), its row of the product must not depend on m. OpenBLAS's
gemm gives a row the same sums for every m ≥ 2, but forwards a one-row product to gemv,
which sums in another order (1 ulp apart, measured with OpenBLAS 0.3.x from SciPy's
wheels): a one-row block is therefore computed as the first row of a two-row product.
"""
import numpy as np

from ._jit import helper


@helper()
def dot_rows(a, b, out):
    """out = a @ b for a block of chains a (m, k), the rows independent of m."""
    if a.shape[0] == 1:
        two = np.empty((2, a.shape[1]))
        for j in range(a.shape[1]):
            two[0, j] = a[0, j]
            two[1, j] = a[0, j]
        product = np.empty((2, b.shape[1]))
        np.dot(two, b, product)  # the same product as np.dot(two, b), one implementation
        for j in range(b.shape[1]):
            out[0, j] = product[0, j]
    else:
        np.dot(a, b, out)

