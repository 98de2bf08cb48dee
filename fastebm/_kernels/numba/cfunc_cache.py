"""A user energy's compiled functions, cached on disk by what they are.

``cached_cfunc(function, signature)`` is ``numba.cfunc(signature)(function)`` whose
compiled code is kept in ``user-functions/`` of fastebm's cache directory
(``cache_dir.writable_cache_dir``), one file per key: the SHA-256 of

- ``function_key(function)``: its code, constants, closure values and the globals and
  functions it reaches (``function_key``);
- the signature, the machine (``codegen.magic_tuple()``: target triple, CPU name and
  features), the versions of Python, NumPy and Numba, and the Numba options that change
  the code (bounds checking, optimization level, debug info).

A script run again loads its energy's functions (milliseconds) instead of compiling them
(0.1-0.4 s each); an edited function has another key, and is compiled and stored anew.
Numba's own ``cache=True`` cannot serve here: it keys a function by its source file
and line, and these functions are wrappers defined once in ``user_functions``.

The directory keeps the ``MAX_ENTRIES`` most recently used files: as energies are edited,
the oldest entries are deleted. A function without a key (``function_key`` returns None),
compiled code that refers to this process's memory (Numba's dynamic globals), an
unwritable directory or an unreadable file only mean compiling as without the cache.

Symbol names. Numba names a compiled function (and its environment) by its qualified
name and a number drawn from a counter of the process, and the JIT resolves a call to a
name already defined in the process to that definition: two entries of different
processes holding different code under the same name (a closure and its edit, compiled
as the first function of each process) would run one another's code. So importing this
module starts the counter at a random number above 2⁶² (``UID_FLOOR``): every function
compiled afterwards has a name of its own across processes, and an entry is stored only
when all its names carry such numbers (not when it links a function the user compiled
before importing fastebm). An entry is also loaded only when every symbol it needs from
outside is defined in this process (a ``parallel=True`` helper's thread pool is started
by a call that a stored entry does not repeat: LLVM would abort the process).
"""
import hashlib
import itertools
import os
import pickle
import re
import secrets
import sys
import time
import uuid

import numba
import numpy as np
import llvmlite.binding as llvm
from numba.core import sigutils
from numba.core.bytecode import FunctionIdentity
from numba.core.ccallback import CFunc
from numba.core.compiler import CompileResult
from numba.core.serialize import dumps

from ..cache_dir import writable_cache_dir
from .cache_stamp import compile_settings
from .function_key import function_key

MAX_ENTRIES = 256
SUFFIX = ".nbc"
STALE_TEMPORARY_S = 3600  # a store's temporary file older than this was abandoned
UID_FLOOR = 1 << 62
_UID_TAG = re.compile(r"B\d+v(\d+)")  # how Numba's mangler writes the number into a name

FunctionIdentity._unique_ids = itertools.count(UID_FLOOR + secrets.randbits(60))


def cached_cfunc(function, signature):
    """``numba.cfunc(signature)(function)``, loaded from the disk cache when there."""
    compiled = CFunc(function, sigutils.normalize_signature(signature), locals={}, options={})
    directory = writable_cache_dir("user-functions")
    key = None if directory is None else function_key(function)
    if key is not None:
        compiled._cache = CacheEntry(directory, key)
    compiled.compile()
    return compiled


class CacheEntry:
    """The file of one function's compiled code: Numba's ``CFunc.compile`` asks it for a
    compile result (``load_overload``), and hands it a new one (``save_overload``)."""

    def __init__(self, directory, key):
        self.directory, self.key = directory, key

    def path(self, signature, target_context):
        parts = (self.key, str(signature), target_context.codegen().magic_tuple(),
                 sys.version, np.__version__, numba.__version__, compile_settings())
        digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
        return self.directory / (digest + SUFFIX)

    def load_overload(self, signature, target_context):
        """The stored compile result, or None (no file, or one that does not load)."""
        target_context.refresh()
        path = self.path(signature, target_context)
        try:
            payload = pickle.loads(path.read_bytes())
            if not _externals_defined(payload[0]):
                return None
            result = CompileResult._rebuild(target_context, *payload)
        except Exception:  # missing, truncated, or from an incompatible build: recompile
            return None
        try:
            os.utime(path)  # most recently used: kept by prune()
        except OSError:
            pass
        return result

    def save_overload(self, signature, result):
        """Stores ``result`` unless it refers to this process's memory or holds a name
        that another process may give to other code (module docstring)."""
        try:
            if (result.lifted or result.library.has_dynamic_globals
                    or not _names_are_unique(result.library)):
                return
            path = self.path(signature, result.target_context)
            data = dumps(result._reduce())
        except Exception:  # a value that does not pickle, a library of another kind
            return
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "xb") as f:  # permissions from the umask, as Numba's
                f.write(data)
            os.replace(temporary, path)  # atomic: a concurrent store of the same key is harmless
            prune(self.directory)
        except OSError:  # a full disk, a directory made read-only meanwhile
            try:
                temporary.unlink()
            except OSError:
                pass


def _names_are_unique(library):
    """Does every Numba-mangled name the library defines carry a number ≥ UID_FLOOR?"""
    module = library._final_module
    for value in (*module.functions, *module.global_variables):
        if value.is_declaration or "_ZN" not in value.name:
            continue
        numbers = _UID_TAG.findall(value.name)
        if not numbers or min(map(int, numbers)) < UID_FLOOR:
            return False
    return True


def _externals_defined(libdata):
    """Is every symbol the stored library declares (functions and globals it needs from
    outside, besides LLVM's intrinsics) defined in this process?"""
    _, kind, (_, bitcode) = libdata
    if kind != "object":
        return False
    module = llvm.parse_bitcode(bitcode)
    for value in (*module.functions, *module.global_variables):
        if (value.is_declaration and not value.name.startswith("llvm.")
                and not llvm.address_of_symbol(value.name)):
            return False
    return True


def prune(directory, keep=MAX_ENTRIES):
    """Deletes all but the ``keep`` most recently used entries of ``directory``, and the
    temporary files of stores abandoned more than ``STALE_TEMPORARY_S`` ago."""
    entries, abandoned = [], []
    now = time.time()
    for path in directory.iterdir():
        try:
            mtime = path.stat().st_mtime
        except OSError:  # deleted meanwhile
            continue
        if path.suffix == SUFFIX:
            entries.append((mtime, path))
        elif path.suffix == ".tmp" and now - mtime > STALE_TEMPORARY_S:
            abandoned.append(path)
    entries.sort(reverse=True)
    for path in [path for _, path in entries[keep:]] + abandoned:
        try:
            path.unlink()
        except OSError:
            pass
