"""Build the CUDA sources for a device (CuPy ``RawModule``) or for the host (g++ and
ctypes), and launch their kernels with one calling convention.

A module is the ziggurat tables, ``philox.cuh``, ``common.cuh``, an energy (built in, or
a user's snippet), ``energies.cuh`` and the algorithms' ``.cu`` files, preceded by the
``#define`` lines that choose the energy and its dimension: one text, compiled by NVRTC
for a device and by g++ for the host emulation (``docs/gpu.md``). ``launch(name, n,
*args)`` runs kernel ``name`` for ``n`` chains: a grid of ⌈n/256⌉ blocks of 256 threads on
a device, the entry's loop over chains on the host. Arguments are NumPy scalars of the C
parameter's type (``np.int32`` for ``int``, ``np.uint32``, ``np.int64``, ``np.float64``) or
C-contiguous arrays of the array module's kind.

Host libraries are cached on disk by the hash of their source and flags, in
``$FASTEBM_CACHE_DIR`` or the user cache directory (``~/.cache/fastebm/cuda-host``), and
in a fresh temporary directory where neither is writable; a device module is cached in
memory and by CuPy's own on-disk kernel cache.
"""
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..._contract import (CHOICE_BIT, EXP_LN2_HI, EXP_LN2_LO, EXP_LOG2E, EXP_TAYLOR,
                          FD_REL_STEP, GAMMA_BIT, PRECOND_DENSE, PRECOND_DIAG, PRECOND_NONE,
                          RECORD_DRAWS, RECORD_MOMENTS, RECORD_NONE, START_DRAW, START_EVAL,
                          START_READY, STREAM_TAGS,
                          BackendUnavailableError)
from ..cache_dir import writable_cache_dir
from .tables import tables_source

HERE = Path(__file__).parent
ALGORITHMS = ("langevin.cu", "metropolis.cu", "rbm.cu", "ising.cu", "importance.cu", "ais.cu")
MODES = {"PRECOND_NONE": PRECOND_NONE, "PRECOND_DIAG": PRECOND_DIAG,
         "PRECOND_DENSE": PRECOND_DENSE, "RECORD_NONE": RECORD_NONE, "RECORD_DRAWS": RECORD_DRAWS,
         "RECORD_MOMENTS": RECORD_MOMENTS, "START_DRAW": START_DRAW, "START_EVAL": START_EVAL,
         "START_READY": START_READY}
THREADS_PER_BLOCK = 256
HOST_FLAGS = ("-O2", "-std=c++17", "-ffp-contract=off", "-fno-math-errno",
              "-fno-tree-slp-vectorize", "-shared", "-fPIC", "-x", "c++")
# No SLP vectorization: g++ 12.2's at -O2 dropped the float round trip of fastebm_as_real
# (common.cuh) in the fused Langevin kernel of the float32 build, so that one launch of
# four steps differed in the last bit from four launches of one (tests/gpu/
# test_gpu_float32.py catches it; -O1, -O0 and a volatile float did not). The emulation
# is for checking, not speed.
# No fused multiply-add contraction: the device then rounds every + and * as the host
# build (g++ -ffp-contract=off) and the Numba kernels do, and a run is the same whether
# its steps are fused into one launch or not. FASTEBM_CUDA_FMAD=1 allows contraction
# (faster where arithmetic bounds a kernel; the last bits then differ from the CPU).
DEVICE_OPTIONS = ("--std=c++17", "--fmad=false")


def device_options():
    """NVRTC options: ``DEVICE_OPTIONS``, with contraction where FASTEBM_CUDA_FMAD=1."""
    if os.environ.get("FASTEBM_CUDA_FMAD", "") not in ("", "0"):
        return ("--std=c++17", "--fmad=true")
    return DEVICE_OPTIONS


class KernelBuildError(RuntimeError):
    """A CUDA source (usually a user's energy snippet) did not compile."""


def contract_defines():
    """What the kernels take from ``fastebm._contract``, as ``#define`` values: the stream
    tags, the proposals' sub-stream bits and the modes, and (exact hexadecimal literals)
    the finite-difference step and the constants of the RBM kernels' exp."""
    defines = {f"FASTEBM_{t.name}": f"{t.value:#04x}u" for t in STREAM_TAGS}
    defines.update({"FASTEBM_GAMMA_BIT": f"{GAMMA_BIT:#x}u",
                    "FASTEBM_CHOICE_BIT": f"{CHOICE_BIT:#x}u"})
    defines.update({f"FASTEBM_{name}": value for name, value in MODES.items()})
    defines.update({"FASTEBM_FD_REL_STEP": FD_REL_STEP.hex(), "FASTEBM_EXP_LOG2E": EXP_LOG2E.hex(),
                    "FASTEBM_EXP_LN2_HI": EXP_LN2_HI.hex(), "FASTEBM_EXP_LN2_LO": EXP_LN2_LO.hex()})
    defines.update({f"FASTEBM_EXP_C{i}": c.hex() for i, c in enumerate(EXP_TAYLOR)})
    return defines


REAL_TYPES = {np.dtype(np.float64): "double", np.dtype(np.float32): "float"}


def module_source(defines, snippet="", dtype=np.float64):
    """The full text of a module: the contract's numbers and ``defines`` (name -> value
    or None) as ``#define`` lines, the generator, the shared helpers, the user's snippet,
    the energies and the algorithms. ``dtype`` (float64 or float32) is the type of its
    chain arrays, ``FASTEBM_REAL`` (``common.cuh``): one module per dtype."""
    defines = {**contract_defines(), "FASTEBM_REAL": REAL_TYPES[np.dtype(dtype)], **defines}
    lines = [f"#define {k}" if v is None else f"#define {k} {v}" for k, v in defines.items()]
    head, algorithms = _fixed_sources()
    return "\n".join(["\n".join(lines), head, snippet, algorithms]) + "\n"


@functools.lru_cache(maxsize=None)
def _fixed_sources():
    """(tables, philox.cuh and common.cuh; energies.cuh and the algorithms), read once per
    process: the parts of a module before and after the user's snippet."""
    head = "\n".join([tables_source(), (HERE / "philox.cuh").read_text(),
                      (HERE / "common.cuh").read_text()])
    tail = "\n".join((HERE / name).read_text() for name in ("energies.cuh", *ALGORITHMS))
    return head, tail


def _digest(*texts):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def cache_dir():
    """Where host builds are kept: ``cuda-host/`` of fastebm's cache directory
    (``cache_dir.writable_cache_dir``), else (not writable) a temporary directory of this
    process."""
    return writable_cache_dir("cuda-host") or Path(_fallback_dir())


@functools.lru_cache(maxsize=None)
def _fallback_dir():
    return tempfile.mkdtemp(prefix="fastebm-cuda-host-")


@functools.lru_cache(maxsize=None)
def _compiler():
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise BackendUnavailableError(
            "the GPU emulation builds the CUDA sources with a C++ compiler, and none was found "
            "(install g++, or set CXX)")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    return cxx, version


@functools.lru_cache(maxsize=64)
def host_library(source):
    """The source built by g++ into a shared library (cached on disk), loaded by ctypes."""
    cxx, version = _compiler()
    path = cache_dir() / f"{_digest(source, ' '.join(HOST_FLAGS), version)}.so"
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            src, out = Path(tmp) / "module.cu", Path(tmp) / "module.so"
            src.write_text(source)
            proc = subprocess.run([cxx, *HOST_FLAGS, "-o", str(out), str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise KernelBuildError(f"the CUDA source did not compile on the host "
                                       f"({cxx}):\n{proc.stderr[-4000:]}")
            os.replace(out, path)  # atomic: a concurrent build of the same source is harmless
    return ctypes.CDLL(str(path))


@functools.lru_cache(maxsize=64)
def device_module(source, device_id, options=DEVICE_OPTIONS):
    """The source compiled by NVRTC for device ``device_id`` (cached by CuPy on disk)."""
    import cupy
    with cupy.cuda.Device(device_id):
        try:
            module = cupy.RawModule(code=source, options=options)
            module.compile()
        except cupy.cuda.compiler.CompileException as exc:
            raise KernelBuildError(f"the CUDA source did not compile for the device:\n{exc}") \
                from None
    return module


_CTYPES = {np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint32): ctypes.c_uint32,
           np.dtype(np.int64): ctypes.c_int64, np.dtype(np.uint64): ctypes.c_uint64,
           np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float}


def _host_argument(a):
    if isinstance(a, np.ndarray):
        if not a.flags.c_contiguous:
            raise ValueError("kernel arrays must be C-contiguous")
        return ctypes.c_void_p(a.ctypes.data)
    if isinstance(a, np.generic):
        return _CTYPES[a.dtype](a.item())
    raise TypeError(f"kernel scalars must be NumPy scalars of the C type, got {type(a).__name__}")


class HostLauncher:
    """Kernels of a module built for the host: ``launch(name, n, *args)`` runs the entry's
    loop over chains 0..n-1."""

    xp = np

    def __init__(self, source):
        self.lib = host_library(source)

    def __call__(self, name, n, *args):
        if n:
            getattr(self.lib, name)(ctypes.c_uint64(n), *[_host_argument(a) for a in args])


class DeviceLauncher:
    """Kernels of a module compiled for the current CuPy device: ``launch(name, n,
    *args)`` runs ⌈n/256⌉ blocks of 256 threads, thread i on chain i."""

    def __init__(self, source):
        import cupy
        self.xp = cupy
        self.module = device_module(source, cupy.cuda.Device().id, device_options())
        self._functions = {}

    def __call__(self, name, n, *args):
        if not n:
            return
        f = self._functions.get(name)
        if f is None:
            f = self._functions[name] = self.module.get_function(name)
        for a in args:
            if isinstance(a, self.xp.ndarray) and not a.flags.c_contiguous:
                raise ValueError("kernel arrays must be C-contiguous")
        blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        f((blocks,), (THREADS_PER_BLOCK,), (np.uint64(n), *args))


def launcher(xp, source):
    """The launcher of ``source`` for arrays of module ``xp`` (NumPy: the host build)."""
    return HostLauncher(source) if xp is np else DeviceLauncher(source)
