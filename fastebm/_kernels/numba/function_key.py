"""What a Python function is, as a hash: the key under which its compiled code is cached.

Numba compiles a function's globals and closure variables into its code as constants,
and the functions it calls along with it. So the code compiled for ``fn`` is fixed by

- ``fn``'s bytecode, constants (nested code objects included), names and default
  arguments;
- the values of its closure cells and of the globals its names refer to (arrays by
  dtype, shape and bytes; numbers, strings and tuples by type and value);
- the same, recursively, for every Python or Numba-jitted function among those values,
  and for the attributes its names reach in a module of the user's (``helpers.C``);
- objects of NumPy, SciPy, Numba and the standard library by their qualified name, with
  the library versions in the caller's key (``cfunc_cache``).

``function_key(fn)`` hashes all of that (SHA-256), so an edited constant, a different
closure value or an edited helper changes the key, and the same function gets the same
key in every process. Where it meets a value it cannot describe (an object of a user
class, a dict, a Numba typed container), it returns None: that function is not cached.
"""
import builtins
import hashlib
import sys
import types

import numpy as np

# top-level packages whose objects are named, not walked (versions in the caller's key)
LIBRARIES = frozenset({"numpy", "scipy", "numba", "llvmlite", *sys.stdlib_module_names})


class Unkeyable(Exception):
    """A value whose meaning to compiled code cannot be hashed."""


def function_key(fn):
    """SHA-256 hex digest of what ``fn`` compiles to (module docstring), or None."""
    walker = _Walker()
    try:
        walker.function(fn)
    except (Unkeyable, RecursionError):
        return None
    return walker.hash.hexdigest()


def _is_library(obj):
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", None)
    return isinstance(module, str) and module.partition(".")[0] in LIBRARIES


def _all_names(code):
    """The names a code object and the code objects nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _all_names(const)
    return names


class _Walker:
    """Feeds a canonical description of a function graph into one SHA-256."""

    def __init__(self):
        self.hash = hashlib.sha256()
        self.seen = {}  # id → position, for functions met again (recursion, shared helpers)

    def feed(self, *parts):
        for part in parts:
            data = part if isinstance(part, bytes) else repr(part).encode()
            self.hash.update(len(data).to_bytes(8, "little"))
            self.hash.update(data)

    def function(self, fn):
        """A Python function or a Numba dispatcher (its ``py_func`` and options)."""
        if id(fn) in self.seen:
            self.feed("again", self.seen[id(fn)])
            return
        self.seen[id(fn)] = len(self.seen)
        if hasattr(fn, "py_func") and hasattr(fn, "targetoptions"):
            self.feed("dispatcher", type(fn).__name__, sorted(fn.targetoptions.items()))
            fn = fn.py_func
        if not isinstance(fn, types.FunctionType):
            raise Unkeyable(fn)
        code = fn.__code__
        self.feed("function", code.co_argcount, code.co_kwonlyargcount)
        self.code(code)
        self.value(fn.__defaults__)
        self.value(tuple(sorted((fn.__kwdefaults__ or {}).items())))
        for cell in fn.__closure__ or ():
            self.value(cell.cell_contents)
        names = sorted(_all_names(code))
        for name in names:
            if name in fn.__globals__:
                self.feed("global", name)
                self.value(fn.__globals__[name], names)
            elif hasattr(builtins, name):
                self.feed("builtin", name)

    def code(self, code):
        self.feed("code", code.co_code, code.co_names, code.co_varnames, code.co_freevars,
                  code.co_cellvars, code.co_flags)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.value(const)

    def value(self, value, names=()):
        """A constant, closure value or global; ``names``: the referring function's names,
        the attributes it may read from a module."""
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            self.feed(type(value).__name__, value)
        elif isinstance(value, (tuple, list)):
            self.feed(type(value).__name__, len(value))
            for item in value:
                self.value(item, names)
        elif isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise Unkeyable(value)
            self.feed("ndarray", value.dtype.str, value.shape, value.flags.c_contiguous,
                      value.flags.f_contiguous, np.ascontiguousarray(value).tobytes())
        elif isinstance(value, np.generic):
            self.feed("scalar", value.dtype.str, value.tobytes())
        elif isinstance(value, types.ModuleType):
            self.module(value, names)
        elif _is_library(value):  # a function or type by name, anything else by repr
            name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
            named = name and (isinstance(value, type) or callable(value))
            self.feed("library", getattr(value, "__module__", None), type(value).__qualname__,
                      name if named else repr(value))
        elif isinstance(value, types.FunctionType) or hasattr(value, "py_func"):
            self.function(value)
        else:
            raise Unkeyable(value)

    def module(self, module, names):
        """A library module by name; a user's module by the attributes ``names`` reach."""
        self.feed("module", module.__name__)
        if _is_library(module):
            return
        for name in names:
            if hasattr(module, name):
                self.feed("attribute", name)
                self.value(getattr(module, name), names)
