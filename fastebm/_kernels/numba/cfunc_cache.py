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

Symbol names. Numba names a compiled function by its qualified name and a counter of the
process, so entries stored by two processes (a closure and its edit, say) can define the
same symbol; each entry is loaded as its own library and calls its own code, which
``tests/test_user_function_cache.py`` checks with two such entries in one process.
"""
import hashlib
import os
import pickle
import sys
import tempfile

import numba
import numpy as np
from numba.core import config, sigutils
from numba.core.ccallback import CFunc
from numba.core.compiler import CompileResult
from numba.core.serialize import dumps

from ..cache_dir import writable_cache_dir
from .function_key import function_key

MAX_ENTRIES = 256
SUFFIX = ".nbc"


def cached_cfunc(function, signature):
    """``numba.cfunc(signature)(function)``, loaded from the disk cache when there."""
    compiled = CFunc(function, sigutils.normalize_signature(signature), locals={}, options={})
    directory = writable_cache_dir("user-functions")
    key = function_key(function)
    if directory is not None and key is not None:
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
                 sys.version, np.__version__, numba.__version__,
                 config.BOUNDSCHECK, config.OPT, config.DEBUGINFO_DEFAULT)
        digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
        return self.directory / (digest + SUFFIX)

    def load_overload(self, signature, target_context):
        """The stored compile result, or None (no file, or one that does not load)."""
        target_context.refresh()
        path = self.path(signature, target_context)
        try:
            payload = pickle.loads(path.read_bytes())
            result = CompileResult._rebuild(target_context, *payload)
        except Exception:  # missing, truncated, or from an incompatible build: recompile
            return None
        try:
            os.utime(path)  # most recently used: kept by prune()
        except OSError:
            pass
        return result

    def save_overload(self, signature, result):
        """Stores ``result`` unless it refers to this process's memory."""
        if result.lifted or result.library.has_dynamic_globals:
            return
        path = self.path(signature, result.target_context)
        temporary = None
        try:
            data = dumps(result._reduce())
            with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as f:
                temporary = f.name
                f.write(data)
            os.replace(temporary, path)  # atomic: a concurrent store of the same key is harmless
            prune(self.directory)
        except Exception:  # a full disk, a value that does not pickle: not cached
            if temporary is not None and os.path.exists(temporary):
                os.unlink(temporary)


def prune(directory, keep=MAX_ENTRIES):
    """Deletes all but the ``keep`` most recently used entries of ``directory``."""
    entries = []
    for path in directory.glob("*" + SUFFIX):
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:  # deleted meanwhile
            pass
    entries.sort(reverse=True)
    for _, path in entries[keep:]:
        try:
            path.unlink()
        except OSError:
            pass
