"""The one place that holds the compile options of every Numba kernel.

`fastmath` is limited to flags that keep NaN and inf semantics (no ``nnan``/``ninf``):
the samplers rely on ``x != x`` and ``isfinite`` checks to reject bad proposals.

Blocked kernels (``block_kernel``): the samplers' step kernels are serial ``nogil``
functions over one share of their blocks of chains, run by one Python thread per share
(``over_blocks``), instead of a ``parallel=True`` loop over the blocks. Numba's
parallel-loop machinery was most of their compile time: issue 12's banana script
(``fe.metropolis`` then ``fe.mala`` on a user energy, empty cache) compiled for 22.8 s of
CPU with parallel loops, 10.2 s with these serial kernels (and the block write-back by
index, ``chains.store_rows``). A plain serial kernel of the same source ran 3.7x slower on
one thread (random walk on the banana: 7.7e6 against 2.8e7 evaluations/s), and 83 % of
its time went to ``NRT_incref``/``NRT_decref`` (perf): Numba's lowering increfs an array
each time it is assigned to another variable, and inlining a helper (``inline=True``)
assigns every array argument to a variable of the inlined body, so each inlined call in
the step loop cost two atomic updates per array argument. The parallel loop never paid
this because Numba's parfor pass copy-propagates the whole function (``ir_utils.simplify``)
before it outlines the loop body, which removes those copies. ``block_kernel`` compiles
with the same copy propagation added to the ordinary pipeline (``_CopyPropagating``,
right after the typed inlining): the serial kernel then runs at 0.94x the parallel
body's speed on one thread, and compiles in a fraction of its time. The RBM kernels
(Gibbs, AIS, log Z by enumeration), continuous AIS, the Gaussian importance draws and the
batched energies were converted the same way: ``python -m fastebm`` (the README
showcase, empty cache) took 54 s of CPU before, 29 s after, with helpers typed without
literal constants (``helper``).
"""
import concurrent.futures
import contextlib
import os
import types as pyfunc_types

import numba
import numpy as np
from numba import njit
from numba.core import config, ir_utils, types
from numba.core.dispatcher import Dispatcher
from numba.core.registry import CPUDispatcher
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.typed_passes import InlineOverloads

from . import cache_stamp  # noqa: F401  (kernels' cache entries stamped with all their sources)
from . import link_only

_HELPER_PIPELINE = {"pipeline_class": link_only.LinkOnlyCompiler} if link_only.AVAILABLE else {}

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
        with _single_blas_thread(), _as_compiled():
            return self.dispatcher(*args)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


_CONTROLLER = []
_NO_CONTEXT = contextlib.nullcontext()


def _as_compiled():
    """With ``NUMBA_DISABLE_JIT``, NumPy's floating-point warnings off, as in the compiled
    kernels (``error_model="numpy"``: an overflow is inf, 0/0 is NaN, and the samplers
    reject such proposals): the kernels run as Python on NumPy scalars, which warn."""
    return np.errstate(all="ignore") if config.DISABLE_JIT else _NO_CONTEXT


def _single_blas_thread():
    if not _CONTROLLER:
        import scipy.linalg.cython_blas  # noqa: F401  (load Numba's BLAS before the scan)
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def helper(*, fast=False, inline=False):
    """A cached ``njit`` decorator for a small helper (LLVM inlines it into callers),
    compiled once for the plain types of its arguments (``_typed_without_literals``).

    ``inline=True`` inlines it already in Numba's IR, for a helper called inside a loop that
    must vectorize: Numba optimizes each function before it links in the callees, so a call
    is still opaque when LLVM first transforms the loop (see ``philox.py``).
    """
    options = dict(nogil=True, error_model="numpy", inline="always" if inline else "never",
                   fastmath=set(SAFE_FASTMATH) if fast else False)

    def decorate(pyfunc):
        if config.DISABLE_JIT:
            return pyfunc
        compiled = _Helper(_cached_as(pyfunc, "_for_kernels"), targetoptions=dict(
            options, no_cpython_wrapper=True, no_cfunc_wrapper=True), **_HELPER_PIPELINE)
        if link_only.AVAILABLE:
            compiled._cache = link_only.LinkOnlyCache(compiled.py_func)
        else:
            compiled.enable_caching()
        compiled.from_python = njit(cache=True, **options)(pyfunc)
        return _typed_without_literals(compiled)
    return decorate


class _Helper(CPUDispatcher):
    """A helper compiled for compiled callers only: without the CPython and C wrappers,
    which a helper called only from other kernels never runs. Generating, optimizing and
    machine-compiling them was about 0.6 s of the 7.8 s of CPU of a first ``fe.mala``
    with an empty cache. Nor is the helper itself machine-compiled: its callers link its
    LLVM module (``link_only``; 0.4 s more of a first ``fe.mala``). A call from Python
    (the tests) goes to ``from_python``, the same function compiled with its wrappers.
    The two are cached under different names: an entry without wrappers, loaded for a
    call from Python (also by an older fastebm sharing the cache), would crash it."""

    def __call__(self, *args, **kwargs):
        return self.from_python(*args, **kwargs)


def _cached_as(pyfunc, suffix):
    """A copy of ``pyfunc`` whose qualified name (its name in Numba's cache) ends in
    ``suffix``."""
    copy = pyfunc_types.FunctionType(pyfunc.__code__, pyfunc.__globals__, pyfunc.__name__,
                                     pyfunc.__defaults__, pyfunc.__closure__)
    copy.__qualname__ = pyfunc.__qualname__ + suffix
    copy.__doc__ = pyfunc.__doc__
    copy.__kwdefaults__ = pyfunc.__kwdefaults__
    return copy


def _typed_without_literals(dispatcher):
    """Make calls from compiled code type ``dispatcher`` on its arguments' plain types.

    Numba compiles a callee once per literal value of a constant argument: the Philox
    helpers, called with a constant tag (``TAG_NOISE``, ``TAG_RBM_HIDDEN``, ...) or step,
    were compiled once per tag, five times over in the showcase (about 4 s of its first
    run with an empty cache). LLVM still folds the constants in after it inlines the
    call. Calls from Python are typed without literals anyway.
    """
    if not isinstance(dispatcher, Dispatcher):  # NUMBA_DISABLE_JIT: the Python function
        return dispatcher
    typed = dispatcher.get_call_template

    def get_call_template(args, kws):
        return typed(tuple(types.unliteral(a) for a in args),
                     {k: types.unliteral(v) for k, v in kws.items()})
    dispatcher.get_call_template = get_call_template
    return dispatcher


@register_pass(mutates_CFG=True, analysis_only=False)
class _CopyPropagation(FunctionPass):
    """Copy propagation and dead-code removal on the typed IR (what the parfor pass does
    to a parallel function): the copies of arrays that inlined helpers leave behind go,
    and with them their reference counts (module docstring)."""

    _name = "fastebm_copy_propagation"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        ir_utils.simplify(state.func_ir, state.typemap, state.calltypes, {})
        return True


class _CopyPropagating(CompilerBase):
    """Numba's nopython pipeline with ``_CopyPropagation`` after the typed inlining."""

    def define_pipelines(self):
        pipeline = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pipeline.add_pass_after(_CopyPropagation, InlineOverloads)
        pipeline.finalize()
        return [pipeline]


def serial_jit(*, cache):
    """``njit`` of a serial ``nogil`` kernel with the copy-propagating pipeline, without
    the C wrapper (a ``cfunc`` entry, for calls as a first-class function value), which
    a kernel called from Python never runs: about 2 % of the LLVM code of
    ``langevin_run`` to optimize and compile."""
    return njit(cache=cache, nogil=True, error_model="numpy", pipeline_class=_CopyPropagating,
                no_cfunc_wrapper=True)


def block_kernel(pyfunc):
    """A cached serial kernel over one share of its blocks, run by ``over_blocks``.

    ``pyfunc(*args, share, shares)`` takes the blocks of chains ``share`` of ``shares``
    (``share_of_blocks``); the returned kernel is called as ``kernel(*args)``.
    """
    return over_blocks(serial_jit(cache=True)(pyfunc))


class over_blocks:
    """A serial ``nogil`` kernel run over all its blocks of chains: one Python thread per
    share (``numba.get_num_threads()`` shares, the thread count of the parallel kernels),
    with BLAS limited to one thread as for every kernel (``blas_limited``).

    The shares split the blocks only: a chain's numbers do not depend on its block or
    share. With ``NUMBA_DISABLE_JIT`` the shares run one after the other.
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.__doc__ = getattr(dispatcher, "__doc__", None)
        self.__name__ = getattr(dispatcher, "__name__", "kernel")

    def __call__(self, *args):
        shares = numba.get_num_threads()
        with _single_blas_thread(), _as_compiled():
            if shares == 1 or config.DISABLE_JIT:
                for share in range(shares):
                    self.dispatcher(*args, share, shares)
                return
            pool = _pool(shares - 1)
            others = [pool.submit(self.dispatcher, *args, share, shares)
                      for share in range(1, shares)]
            try:
                self.dispatcher(*args, 0, shares)
            finally:
                for done in others:
                    done.result()

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


_POOL = {}


def _forget_pool():
    """In a forked child: the pool's threads did not survive the fork, so a call there
    would queue work that no thread takes; the child starts a pool of its own."""
    _POOL.clear()


os.register_at_fork(after_in_child=_forget_pool)


def _pool(workers):
    """A thread pool of at least ``workers`` threads, kept between calls."""
    if _POOL.get("workers", 0) < workers:
        if _POOL:
            _POOL["pool"].shutdown(wait=False)
        _POOL.update(workers=workers, pool=concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="fastebm-blocks"))
    return _POOL["pool"]
