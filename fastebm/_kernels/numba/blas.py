"""Matrix products of a block of chains, with the same numbers for a chain whatever its block.

A kernel multiplies the states of a block of m chains (rows) by a matrix through BLAS.
For a chain to be the same in every run (10 or 10,000 chains, any number of threads,
any shard of a cluster run), its row of the product must not depend on m, nor on where
the chain sits in its block. OpenBLAS's gemm (one thread; the kernels limit BLAS to one)
computes the rows in tiles of 8, 4 and 2 rows that give a row the same sums, but a
single row left over (the last row of an odd m) goes through a kernel of its own, which
sums in another order: 1 ulp apart on 17.8 % of the entries of a 5 × 100 product,
measured with OpenBLAS 0.3.30's Haswell kernels on a Zen 3 (its AVX-512 kernels gave the
lone row the same sums). A one-row product is worse: it goes to gemv. So ``dot_rows``
multiplies an even number of rows at once, and computes the last row of an odd block as
the first row of a two-row product.
"""
import numpy as np

from ._jit import helper


@helper()
def dot_rows(a, b, out):
    """out = a @ b for a block of chains a (m, k), each row independent of m and of its
    place in the block (module docstring)."""
    m = a.shape[0]
    even = m - m % 2
    if even == m:
        np.dot(a, b, out)
        return
    if even > 0:
        np.dot(a[:even], b, out[:even])
    two = np.empty((2, a.shape[1]))
    for j in range(a.shape[1]):
        two[0, j] = a[m - 1, j]
        two[1, j] = a[m - 1, j]
    product = np.empty((2, b.shape[1]))
    np.dot(two, b, product)
    for j in range(b.shape[1]):
        out[m - 1, j] = product[0, j]
