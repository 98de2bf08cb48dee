"""Which backend runs a call, chosen by the array type of its inputs.

NumPy arrays run the Numba kernels on the CPU; CuPy arrays are meant for the CUDA
kernels. The public functions call :func:`resolve` on their array inputs and get a
:class:`Backend`: its array module ``xp`` (for validation and allocation), its number of
threads, and its runners (one per algorithm, see ``docs/architecture.md``). Nothing here
imports CuPy: a CuPy array is recognised by its type's module, so ``import fastebm``
never needs CuPy or a GPU, and CuPy input never falls back to the CPU silently.
"""
import contextlib
import importlib

import numpy as np


class BackendUnavailableError(RuntimeError):
    """The arrays given ask for a backend that this installation cannot run."""


class Backend:
    """One backend: its name, array module ``xp`` and the module of its runners.

    The runners module is imported on first use, so that resolving a backend costs
    nothing until a run needs its kernels.
    """

    def __init__(self, name, xp, runners_module, num_threads, set_threads):
        self.name, self.xp = name, xp
        self._runners_module = runners_module
        self._num_threads, self._set_threads = num_threads, set_threads
        self._runners = None

    @property
    def runners(self):
        """The module holding this backend's runners (``LangevinRunner``, ...)."""
        if self._runners is None:
            self._runners = importlib.import_module(self._runners_module)
        return self._runners

    def num_threads(self):
        """How many threads this backend's kernels run on."""
        return self._num_threads()

    @contextlib.contextmanager
    def limit_threads(self, n):
        """Run the kernels of the block on at most ``n`` threads (None: no limit)."""
        before = self.num_threads()
        if n is not None and n < before:
            self._set_threads(n)
        try:
            yield
        finally:
            if self.num_threads() != before:
                self._set_threads(before)

    def __repr__(self):
        return f"<fastebm backend {self.name!r}>"


def _numba_threads():
    import numba
    return numba.get_num_threads()


def _set_numba_threads(n):
    import numba
    numba.set_num_threads(n)


CPU = Backend("numba", np, "fastebm._kernels.numba.runners", _numba_threads, _set_numba_threads)


def is_cupy_array(x):
    """True for a ``cupy.ndarray``, decided without importing CuPy."""
    return type(x).__module__.split(".")[0] == "cupy"


def resolve(*arrays):
    """The backend for a call whose array inputs are ``arrays`` (others are ignored).

    Raises
    ------
    BackendUnavailableError
        For CuPy arrays: this version of fastebm runs on the CPU only (pass NumPy arrays,
        e.g. ``cupy.asnumpy(x)``); nothing is moved between devices behind the caller's
        back.
    """
    if any(is_cupy_array(a) for a in arrays):
        raise BackendUnavailableError(
            "CuPy arrays were given, but this version of fastebm has no CUDA backend yet: "
            "pass NumPy arrays (cupy.asnumpy(x)) to run on the CPU")
    return CPU


def get_array_module(*arrays):
    """The array module (``numpy``, or ``cupy``) of the backend that ``arrays`` resolve to."""
    return resolve(*arrays).xp
