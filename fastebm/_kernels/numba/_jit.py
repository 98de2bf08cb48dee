"""The one place that holds the compile options of every Numba kernel.

`fastmath` is limited to flags that keep NaN and inf semantics (no ``nnan``/``ninf``):
the samplers rely on ``x != x`` and ``isfinite`` checks to reject bad proposals.
"""
from numba import njit

SAFE_FASTMATH = frozenset({"contract", "nsz", "arcp"})


def kernel(*, parallel=False, fast=False):
    """A cached ``njit`` decorator for a kernel entry point (parallel over chains).

    The entry point is called from Python with BLAS limited to one thread (see
    ``blas_limited``): kernels call BLAS from inside their parallel loops, once per block
    of chains, and a multi-threaded BLAS there oversubscribes the cores.
    """
    def decorate(pyfunc):
        return blas_limited(njit(cache=True, parallel=parallel, nogil=True, error_model="numpy",
                                 fastmath=set(SAFE_FASTMATH) if fast else False)(pyfunc))
    return decorate


class blas_limited:
    """A compiled kernel that runs with the BLAS libraries limited to one thread.

    Numba's ``np.dot`` calls SciPy's OpenBLAS. Called from the threads of a parallel
    region, a BLAS that starts threads of its own runs 2 × 2 threads on 2 cores and
    spins: block Gibbs on a 64 × 500 RBM measured 320 s per 1000 sweeps of 1000 chains
    that way, 2.5 s with one BLAS thread. threadpoolctl switches every loaded BLAS to one
    thread for the call (about 11 µs) and back. Other attributes are the dispatcher's.
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.__doc__ = getattr(dispatcher, "__doc__", None)
        self.__name__ = getattr(dispatcher, "__name__", "kernel")

    def __call__(self, *args):
        with _single_blas_thread():
            return self.dispatcher(*args)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


_CONTROLLER = []


def _single_blas_thread():
    if not _CONTROLLER:
        import scipy.linalg.cython_blas  # noqa: F401  (load Numba's BLAS before the scan)
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def helper(*, fast=False, inline=False):
    """A cached ``njit`` decorator for a small helper (LLVM inlines it into callers).

    ``inline=True`` inlines it already in Numba's IR, for a helper called inside a loop that
    must vectorize: Numba optimizes each function before it links in the callees, so a call
    is still opaque when LLVM first transforms the loop (see ``philox.py``).
    """
    return njit(cache=True, nogil=True, error_model="numpy",
                inline="always" if inline else "never",
                fastmath=set(SAFE_FASTMATH) if fast else False)
