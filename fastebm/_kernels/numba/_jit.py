"""The one place that holds the compile options of every Numba kernel.

`fastmath` is limited to flags that keep NaN and inf semantics (no ``nnan``/``ninf``):
the samplers rely on ``x != x`` and ``isfinite`` checks to reject bad proposals.
"""
from numba import njit

SAFE_FASTMATH = frozenset({"contract", "nsz", "arcp"})


def kernel(*, parallel=False, fast=False):
    """A cached ``njit`` decorator for a kernel entry point (parallel over chains)."""
    return njit(cache=True, parallel=parallel, nogil=True, error_model="numpy",
                fastmath=set(SAFE_FASTMATH) if fast else False)


def helper(*, fast=False, inline=False):
    """A cached ``njit`` decorator for a small helper (LLVM inlines it into callers).

    ``inline=True`` inlines it already in Numba's IR, for a helper called inside a loop that
    must vectorize: Numba optimizes each function before it links in the callees, so a call
    is still opaque when LLVM first transforms the loop (see ``philox.py``).
    """
    return njit(cache=True, nogil=True, error_model="numpy",
                inline="always" if inline else "never",
                fastmath=set(SAFE_FASTMATH) if fast else False)
