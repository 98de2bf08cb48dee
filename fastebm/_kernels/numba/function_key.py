"""What a Python function is, as a hash: the key under which its compiled code is cached.

Numba compiles a function's globals and closure variables into its code as constants,
and the functions it calls along with it. So the code compiled for ``fn`` is fixed by

- ``fn``'s bytecode, constants (nested code objects included), names and default
  arguments;
- the values of its closure cells and of the globals its names refer to: arrays by
  dtype (fields included), shape and bytes; numbers, strings, tuples and named tuples
  (with their fields) by type and value;
- the same, recursively, for every Python or Numba-jitted function among those values
  (a dispatcher with its options, ``locals`` and explicit signatures), and for the
  attributes its names reach in a module of the user's (``helpers.C``);
- objects of NumPy, SciPy, Numba, llvmlite and the standard library by their qualified
  name, with those packages' versions (the standard library's is Python's, in the
  caller's key). fastebm's own functions (the wrappers around the user's) are walked.

``function_key(fn)`` hashes all of that (SHA-256), so an edited constant, a different
closure value or an edited helper changes the key, and the same function gets the same
key in every process. It returns None, and the function is not cached, where it meets
what it cannot describe: an object of a user class, a dict, a ``parallel=True``
dispatcher (whose threads a stored entry could not start), or a process where user code
has registered Numba extensions (``@overload`` and the like, which change what a call
compiles to without appearing in the caller).

A module counts as a library's by where it lives, not by its name: a user's own
``statistics.py`` is walked like any user module.
"""
import builtins
import hashlib
import os
import sys
import sysconfig
import types

import numpy as np

PACKAGES = frozenset({"numpy", "scipy", "numba", "llvmlite"})
EXTENDING_PACKAGES = PACKAGES | {"fastebm"}  # registered Numba extensions that are not user code
_STDLIB_DIRS = tuple(os.path.normcase(os.path.realpath(sysconfig.get_paths()[name]))
                     for name in ("stdlib", "platstdlib"))


class Unkeyable(Exception):
    """A value whose meaning to compiled code cannot be hashed."""


def function_key(fn):
    """SHA-256 hex digest of what ``fn`` compiles to (module docstring), or None."""
    try:
        if _user_extensions_registered():
            return None
        walker = _Walker()
        walker.function(fn)
        walker.feed("versions", sorted(walker.versions.items()))
    except Exception:  # Unkeyable, a recursion too deep, an empty closure cell, ...
        return None
    return walker.hash.hexdigest()


def _module_is_library(module, packages=PACKAGES):
    """A module of ``packages``, or of the standard library by its location (built in,
    or a file under Python's own library directories)."""
    name = getattr(module, "__name__", None)
    if not isinstance(name, str):
        return False
    if name.partition(".")[0] in packages:
        return True
    path = getattr(module, "__file__", None)
    if path is None:
        return name in sys.builtin_module_names or name == "builtins"
    return os.path.normcase(os.path.realpath(path)).startswith(_STDLIB_DIRS)


def _library_of(obj, packages=PACKAGES):
    """The top-level package (or the standard library's module) ``obj`` belongs to, or
    None for user code. A function without a module of its own is placed by its bound
    object (a built-in method) or by the file of its code (a function made by a factory)."""
    if isinstance(obj, types.ModuleType):
        module = obj
    else:
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        owner = getattr(obj, "__self__", None)  # a bound method: its object's library
        if owner is not None:
            return _library_of(owner if isinstance(owner, types.ModuleType) else type(owner),
                               packages)
        code = getattr(obj, "__code__", None)
        return None if code is None else _library_of_file(code.co_filename, packages)
    if not _module_is_library(module, packages):
        return None
    return module.__name__.partition(".")[0]


def _library_of_file(path, packages):
    """The package of ``packages`` whose directory holds ``path``, "stdlib" for Python's
    own library, or None."""
    path = os.path.normcase(os.path.realpath(path))
    for package in packages:
        root = getattr(sys.modules.get(package), "__file__", None)
        if root and path.startswith(os.path.normcase(os.path.realpath(os.path.dirname(root)))
                                    + os.sep):
            return package
    return "stdlib" if path.startswith(_STDLIB_DIRS) else None


def _user_extensions_registered():
    """Has user code registered typing templates with Numba (``@overload``,
    ``@overload_method``, ``@overload_attribute``, ``@type_callable``, ...)?"""
    from numba.core.typing.templates import builtin_registry as registry
    templates = [*registry.functions, *registry.attributes]
    for value, typ in registry.globals:
        if _library_of(value, EXTENDING_PACKAGES) is None:
            return True
        templates.extend(getattr(typ, "templates", ()))
    for template in templates:
        defined_by = getattr(template, "_overload_func", template)
        if _library_of(defined_by, EXTENDING_PACKAGES) is None:
            return True
    return False


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
        self.versions = {}  # library package → its version

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
            if fn.targetoptions.get("parallel"):
                raise Unkeyable(fn)
            signatures = () if fn._can_compile else tuple(map(str, fn.nopython_signatures))
            self.feed("dispatcher", type(fn).__name__, sorted(fn.targetoptions.items()),
                      sorted((k, str(v)) for k, v in fn.locals.items()), signatures)
            fn = fn.py_func
        if not isinstance(fn, types.FunctionType):
            raise Unkeyable(fn)
        code = fn.__code__
        names = sorted(_all_names(code))
        self.feed("function", code.co_argcount, code.co_kwonlyargcount)
        self.code(code)
        self.value(fn.__defaults__, names)
        self.value(tuple(sorted((fn.__kwdefaults__ or {}).items())), names)
        for cell in fn.__closure__ or ():
            self.value(cell.cell_contents, names)
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
            self.sequence(value, names)
        elif isinstance(value, (np.ndarray, np.generic)):
            if value.dtype.hasobject:
                raise Unkeyable(value)
            array = np.asarray(value)
            self.feed("array", type(value).__name__, repr(value.dtype), value.dtype.str,
                      array.shape, array.flags.c_contiguous, array.flags.f_contiguous,
                      np.ascontiguousarray(array).tobytes())
        elif isinstance(value, types.ModuleType):
            self.module(value, names)
        elif _library_of(value) is not None:
            self.library(value)
        elif isinstance(value, types.FunctionType) or hasattr(value, "py_func"):
            self.function(value)
        else:
            raise Unkeyable(value)

    def sequence(self, value, names):
        """A list, tuple or named tuple (its fields are part of what it compiles to)."""
        kind = type(value)
        if kind not in (tuple, list):
            fields = getattr(kind, "_fields", None)
            if not (issubclass(kind, tuple) and isinstance(fields, tuple)):
                raise Unkeyable(value)
            self.feed("namedtuple", kind.__module__, kind.__qualname__, fields)
        self.feed(kind.__name__, len(value))
        for item in value:
            self.value(item, names)

    def library(self, value):
        """A library's function or type by name, anything else of it by repr."""
        package = _library_of(value)
        self.versions[package] = getattr(sys.modules.get(package), "__version__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        named = name and (isinstance(value, type) or callable(value))
        self.feed("library", getattr(value, "__module__", None), type(value).__qualname__,
                  name if named else repr(value))

    def module(self, module, names):
        """A library module by name; a user's module by the attributes ``names`` reach."""
        self.feed("module", module.__name__)
        package = _library_of(module)
        if package is not None:
            self.versions[package] = getattr(sys.modules.get(package), "__version__", None)
            return
        for name in names:
            if hasattr(module, name):
                self.feed("attribute", name)
                self.value(getattr(module, name), names)
