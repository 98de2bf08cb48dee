"""Helpers compiled to LLVM IR for linking only: no machine code of their own.

A helper (``_jit.helper``) is only ever called from other compiled functions, which link
its LLVM module into theirs and turn the whole into machine code. Numba nevertheless
machine-compiles every compiled function's module on its own as soon as it is lowered
(``JITCodeLibrary`` adds it to the MCJIT engine and finalizes it), and its cache stores
that machine code: for a helper, code that nothing runs. A first ``fe.mala`` with an
empty cache spent 0.40 s of its 5.7 s of CPU so (Numba's ``_finalize_specific`` of the
helpers' libraries, measured per library).

``LinkOnlyLibrary`` is Numba's JIT code library less that step. Its module is optimized
as before, so callers link the same IR as before, but it is not added to the engine: its
function pointer is null (nothing calls it; a call from Python goes to the helper's
``from_python`` twin, compiled as usual) and its environment is not set (a caller's
copy of it never was either: the caller's module defines its own). Its cache entries
hold bitcode instead of machine code, loaded back as a ``LinkOnlyLibrary``
(``LinkOnlyCache``).

The classes extend Numba's private code-library and cache classes (``JITCodeLibrary``,
``CompileResultCacheImpl``); ``AVAILABLE`` is False where this Numba lacks a method
they rely on, and helpers are then compiled as ordinary functions.
"""
import llvmlite.binding as llvm
from numba.core import caching, codegen, compiler

_cache_impl = (getattr(caching, "CompileResultCacheImpl", None)
               or getattr(caching, "_CompileResultCacheImpl", None))
AVAILABLE = (_cache_impl is not None
             and hasattr(codegen.JITCPUCodegen, "_library_class")
             and all(hasattr(codegen.JITCodeLibrary, name)
                     for name in ("_finalize_final_module", "_finalize_dynamic_globals",
                                  "_verify_declare_only_symbols", "serialize_using_bitcode",
                                  "_ensure_finalized", "_unserialize")))


class LinkOnlyLibrary(codegen.JITCodeLibrary):
    """A code library whose module is linked into callers and never machine-compiled."""

    def _optimize_final_module(self):
        """Nothing: the callers optimize the linked module as a whole."""

    def _finalize_final_module(self):
        """Numba's final checks of the optimized module, without adding it to the
        execution engine (which would machine-compile it)."""
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def get_pointer_to_function(self, name):
        """Null: nothing in this library is compiled to be called."""
        self._ensure_finalized()
        return 0

    @property
    def codegen(self):
        return _CodegenWithoutEnvironments(self._codegen)

    def serialize_using_object_code(self):
        """The cache entry: the optimized module's bitcode (there is no object code)."""
        return self.serialize_using_bitcode()

    @classmethod
    def _unserialize(cls, codegen, state):
        name, kind, data = state
        if kind != "bitcode":
            raise ValueError(f"a link-only library is cached as bitcode, got {kind!r}")
        self = cls(codegen, name)
        self._final_module = llvm.parse_bitcode(data)
        self._finalize_final_module()
        return self


class _CodegenWithoutEnvironments:
    """Numba's codegen as a link-only library presents it: ``set_env`` (which writes the
    address of a function's environment into the engine's copy of its global) does
    nothing, since the library is not in the engine."""

    def __init__(self, target_codegen):
        self._target_codegen = target_codegen

    def set_env(self, env_name, env):
        pass

    def __getattr__(self, name):
        return getattr(self._target_codegen, name)


class LinkOnlyCompiler(compiler.Compiler):
    """Numba's compiler pipeline, lowering into a ``LinkOnlyLibrary``."""

    def compile_extra(self, func):
        self.state.library = LinkOnlyLibrary(self.state.targetctx.codegen(),
                                             func.__qualname__)
        return super().compile_extra(func)


class _LinkOnlyCacheImpl(_cache_impl or object):
    def rebuild(self, target_context, payload):
        """Numba's rebuild of a compile result, with the library unserialized as a
        ``LinkOnlyLibrary`` (the codegen's library class is swapped for the call; the
        caller holds Numba's global compiler lock, so no other library is made then)."""
        target_codegen = target_context.codegen()
        target_codegen._library_class = LinkOnlyLibrary  # shadows the class's own
        try:
            return super().rebuild(target_context, payload)
        finally:
            del target_codegen._library_class


class LinkOnlyCache(caching.FunctionCache):
    """Numba's on-disk cache of compile results, for link-only libraries."""

    _impl_class = _LinkOnlyCacheImpl
