"""Numba's on-disk cache of fastebm's kernels, invalidated by any change of their sources.

Numba keys a cached function by its own source file: its index holds a hash of that
file, and a file whose hash changed has its entries recompiled. But a kernel inlines
helpers and overloads from other modules (the energies, Philox, the contract's
constants), and an edit there leaves the kernel's own file as it was: Numba would load
the kernel compiled with the old helpers. That happens to a developer editing
``energies.py``, and to a user whose upgrade left the old ``__pycache__`` in place.

So a fastebm kernel's stamp is Numba's stamp of its own file together with one hash of
every source it can inline: the ``.py`` files of ``fastebm/_kernels`` and
``fastebm/_contract.py`` (``sources_digest``, computed once per process). Any edit of
those recompiles every kernel once; the cache files keep their names, so nothing
accumulates. The locators are Numba's own (in-tree ``__pycache__``, ``NUMBA_CACHE_DIR``,
the user-wide directory), placed before Numba's for files of fastebm only.

Numba unpickles an index's stamp together with its entries, whose signatures name
fastebm's parameter types (``_contract``): an index written by another version of fastebm
that had a type this one lacks raised ``AttributeError`` on loading, before the stamp was
compared, and every call of that kernel failed. An index of a fastebm kernel that does
not unpickle is therefore read as empty, a stale cache (``_load_index``); Numba's own
behaviour is kept for every other function.

Numba's key of an entry within an index (signature, CPU, bytecode) leaves out the
settings that change the compiled code: bounds checking, the optimization level, debug
info. A fastebm kernel's key has them too (``_index_key``).
"""
import functools
import hashlib
import pickle
from pathlib import Path

from numba.core import caching, config

PACKAGE = Path(__file__).resolve().parents[2]  # fastebm/


@functools.lru_cache(maxsize=None)
def sources_digest():
    """SHA-256 of the sources a kernel may inline, in a fixed order."""
    digest = hashlib.sha256()
    files = sorted((PACKAGE / "_kernels").rglob("*.py")) + [PACKAGE / "_contract.py"]
    for path in files:
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _in_package(py_file):
    """Is ``py_file`` one of fastebm's files? (Once per file: Numba asks per function.)"""
    return PACKAGE in Path(py_file).resolve().parents


_CHECKED = {}  # cache directory -> None (usable) or the OSError its check raised


class _PackageStamp:
    """Mixin for a Numba cache locator: fastebm's files only, stamped with the sources."""

    def get_source_stamp(self):
        return super().get_source_stamp(), sources_digest()

    def ensure_cache_path(self):
        """Numba's check of the directory (make it, write and delete a temporary file),
        once per directory and process instead of once per compiled function: importing
        the kernels set up 201 functions, 0.03 s of every process that samples."""
        path = self.get_cache_path()
        if path not in _CHECKED:
            try:
                super().ensure_cache_path()
                _CHECKED[path] = None
            except OSError as error:
                _CHECKED[path] = error
        if _CHECKED[path] is not None:
            raise OSError(*_CHECKED[path].args)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _in_package(py_file):
            return None
        return super().from_function(py_func, py_file)


def _numba_class(name):
    """``numba.core.caching``'s class ``name`` (private, with a leading underscore, before
    Numba 0.60)."""
    return getattr(caching, name, None) or getattr(caching, "_" + name)


def _stamped(name):
    locator = _numba_class(name)
    return type(f"Fastebm{locator.__name__.lstrip('_')}", (_PackageStamp, locator), {})


LOCATORS = [_stamped(name) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                        "UserWideCacheLocator")]
_impl = _numba_class("CacheImpl")
_impl._locator_classes = [*LOCATORS, *_impl._locator_classes]


_index_file = _numba_class("IndexDataCacheFile")
_numba_load_index = _index_file._load_index


# What unpickling an index written by other code can raise: a missing module or name
# (ImportError, AttributeError), a class whose fields changed (TypeError, ValueError), a
# truncated or foreign stream (EOFError, UnpicklingError). Opening the file (OSError) or
# running out of memory is not a stale index, and still raises.
_UNPICKLING_ERRORS = (AttributeError, ImportError, TypeError, ValueError, EOFError,
                      pickle.UnpicklingError)


def _load_index(self):
    """Numba's ``_load_index``, except that the index of a fastebm kernel (stamped with
    ``sources_digest``) that fails to unpickle is a stale one: no entries."""
    try:
        return _numba_load_index(self)
    except _UNPICKLING_ERRORS as error:
        stamp = self._source_stamp
        if not (isinstance(stamp, tuple) and stamp and isinstance(stamp[-1], str)
                and stamp[-1] == sources_digest()):
            raise
        caching._cache_log("[cache] index %r of another version, read as stale: %r",
                           self._index_path, error)
        return {}


_index_file._load_index = _load_index


def compile_settings():
    """The settings that change what Numba compiles but not its cache keys: bounds
    checking (``NUMBA_BOUNDSCHECK``), the optimization level and debug info."""
    return config.BOUNDSCHECK, config.OPT, config.DEBUGINFO_DEFAULT


_numba_index_key = caching.Cache._index_key


def _index_key(self, sig, codegen):
    """Numba's key of a cache entry, with ``compile_settings()`` for a fastebm kernel:
    Numba's own key leaves them out, so a process run with ``NUMBA_BOUNDSCHECK=1`` loaded
    the kernels an earlier process had compiled without bounds checks, and checked
    nothing. Each setting gets entries of its own, side by side in one index."""
    key = _numba_index_key(self, sig, codegen)
    if isinstance(self._impl.locator, _PackageStamp):
        return key + (compile_settings(),)
    return key


caching.Cache._index_key = _index_key
