"""Which backend runs a call, chosen by the array type of its inputs.

NumPy arrays run the Numba kernels on the CPU; CuPy arrays run the CUDA kernels on the
GPU, and results come back as CuPy arrays. The public functions call :func:`resolve` on
their array inputs and get a :class:`Backend`: its array module ``xp`` (for validation
and allocation), its number of threads, and its runners (one per algorithm, see
``docs/architecture.md``). CuPy is imported only when a CuPy array is seen (recognised
by its type's module), so ``import fastebm`` never needs CuPy or a GPU, and nothing ever
falls back to the CPU silently.

The GPU emulation (:func:`emulate_gpu`, or ``FASTEBM_GPU_EMULATION=1`` in the
environment) runs the CUDA backend's very kernels and glue on the host, over NumPy
arrays: the CUDA sources built by g++ (``docs/gpu.md``). It is how the GPU path is
tested without a GPU, and how a CUDA energy snippet is checked on a laptop.
"""
import contextlib
import importlib
import os
import sys
import threading

import numpy as np


from ._contract import BackendUnavailableError  # noqa: F401  (part of this module's API)


class Backend:
    """One backend: its name, array module ``xp`` and the module of its runners.

    ``float32_kernels``: whether its runners keep a float32 run's chains in float32 (the
    CUDA kernels' float32 build: half the memory and bandwidth) rather than computing in
    float64 and casting the outputs (the Numba kernels). Either way the arithmetic of a
    step is float64 and the outputs are float32 (``docs/gpu.md``).

    The runners module is imported on first use, so that resolving a backend costs
    nothing until a run needs its kernels.
    """

    def __init__(self, name, xp, runners_module, num_threads, set_threads,
                 float32_kernels=False):
        self.name, self.xp = name, xp
        self.float32_kernels = float32_kernels
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
CUDA_RUNNERS = "fastebm._kernels.cuda.runners"
CUDA_HOST = Backend("cuda-host", np, CUDA_RUNNERS, lambda: 1, lambda n: None,
                    float32_kernels=True)
"""The GPU emulation: the CUDA kernels built for the host, over NumPy arrays."""

EMULATION_VARIABLE = "FASTEBM_GPU_EMULATION"
_emulation = threading.local()


def is_cupy_array(x):
    """True for a ``cupy.ndarray``, decided without importing CuPy."""
    return type(x).__module__.split(".")[0] == "cupy"


def array_module(x):
    """``cupy`` for a CuPy array (already imported, since the array exists), else NumPy."""
    return sys.modules["cupy"] if is_cupy_array(x) else np


def to_numpy(a):
    """``a`` as a NumPy array: a CuPy array is copied to the host (explicitly)."""
    return a.get() if is_cupy_array(a) else np.asarray(a)


@contextlib.contextmanager
def emulate_gpu(enabled=True):
    """Run the CUDA backend on the host, over NumPy arrays, inside the ``with`` block.

    NumPy inputs then go to the CUDA kernels built by the host C++ compiler instead of the
    Numba kernels: same sources, same glue, same random streams as on a GPU. Functions
    without CUDA kernels raise ``BackendUnavailableError`` inside the block. The variable
    ``FASTEBM_GPU_EMULATION=1`` turns it on for a whole process.

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> from fastebm.backend import emulate_gpu
    >>> with emulate_gpu():
    ...     r = fe.mala(fe.Gaussian(np.zeros(2), np.eye(2)), np.zeros((8, 2)), 0.5, 10, rng=0)
    """
    before = getattr(_emulation, "on", None)
    _emulation.on = bool(enabled)
    try:
        yield
    finally:
        _emulation.on = before


def emulating_gpu():
    """Whether NumPy arrays run the CUDA backend on the host (:func:`emulate_gpu`)."""
    on = getattr(_emulation, "on", None)
    if on is None:
        return os.environ.get(EMULATION_VARIABLE, "") not in ("", "0")
    return on


_DEVICE_BACKEND = None


def _device_backend():
    """The CUDA backend on the current CuPy device; raises where none is usable."""
    global _DEVICE_BACKEND
    if _DEVICE_BACKEND is None:
        try:
            import cupy
        except ImportError:
            raise BackendUnavailableError(
                "the GPU backend needs CuPy: pip install cupy-cuda12x (or the package for "
                "your CUDA version; see docs/gpu.md)") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError, or a driver missing altogether
            raise BackendUnavailableError(
                f"CuPy arrays were given, but CuPy finds no usable CUDA device ({exc})") from None
        if count == 0:
            raise BackendUnavailableError("CuPy arrays were given, but there is no CUDA device")
        _DEVICE_BACKEND = Backend("cuda", cupy, CUDA_RUNNERS, lambda: 1, lambda n: None,
                                  float32_kernels=True)
    return _DEVICE_BACKEND


def resolve(*arrays, on_device=False):
    """The backend for a call whose array inputs are ``arrays`` (others are ignored):
    CUDA for CuPy arrays, the GPU emulation for NumPy arrays inside :func:`emulate_gpu`,
    else the Numba kernels.

    ``on_device=True`` says that the call's model was given CuPy parameters (a proposal
    built from CuPy arrays, :func:`placement`): it counts as one more CuPy input, so the
    call runs on the device, and NumPy ``arrays`` beside it are refused as mixed.

    Raises
    ------
    BackendUnavailableError
        CuPy arrays without a usable CUDA device; CuPy arrays mixed with NumPy arrays
        (nothing is moved between devices behind the caller's back).
    """
    cupy_given = [is_cupy_array(a) for a in arrays if a is not None] + (
        [True] if on_device else [])
    if any(cupy_given):
        if not all(cupy_given):
            raise BackendUnavailableError(
                "CuPy and NumPy arrays were mixed in one call: move them to one device "
                "(cupy.asarray or cupy.asnumpy) first")
        return _device_backend()
    return CUDA_HOST if emulating_gpu() else CPU


def placement(*values):
    """Whether a model given the parameters ``values`` lives on the device: True when
    they include CuPy arrays (CuPy is then checked for a usable device), False for NumPy
    arrays and plain Python values.

    Raises
    ------
    BackendUnavailableError
        CuPy and NumPy arrays mixed among ``values``; CuPy arrays without CuPy or a
        usable device.
    """
    arrays = [v for v in values if isinstance(v, np.ndarray) or is_cupy_array(v)]
    if not any(is_cupy_array(a) for a in arrays):
        return False
    resolve(*arrays)  # refuses a mix, and a missing CuPy or device, by name
    return True


def require_gpu():
    """The CUDA backend on the current device, or a ``BackendUnavailableError`` saying
    what is missing (CuPy, or a device): for code that asks for the GPU explicitly."""
    return _device_backend()


def get_array_module(*arrays):
    """The array module (``numpy``, or ``cupy``) of the backend that ``arrays`` resolve to."""
    return resolve(*arrays).xp
