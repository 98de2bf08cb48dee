"""Every CUDA module the backend builds compiles for the device and for the host.

- NVRTC, the compiler CuPy runs on a device, with the backend's own options, where its
  library is installed (the test extra installs ``nvidia-cuda-nvrtc``; no GPU is needed);
- ``nvcc --ptx -arch=sm_90``, where nvcc exists;
- g++ -Wall -Wextra without a warning (the host emulation's compiler).
"""
import ctypes
import glob
import importlib.util
import os
import shutil
import subprocess

import pytest

from fastebm._kernels.cuda.build import DEVICE_OPTIONS, module_source
from fastebm._kernels.cuda.device_energy import module_parts
from tests.gpu.energies import BANANA_CUDA, BANANA_GRAD_CUDA, MIXTURE, SUMS


def _module_of(energy):
    """(defines, source before energies.cuh) of the module the GPU path builds for it."""
    defines, source, _ = module_parts(energy._cuda_form(), energy.dim)
    return defines, source

MODULES = {
    # d = 40: above the pointwise limit (32), like any wider dense Gaussian; nvcc and NVRTC
    # unroll the d × d loops, 5.5 s at d = 40 against 18.8 s at d = 100 (the device check,
    # bench/gpu, compiles d = 100 on the device)
    "dense_gaussian": ({"FASTEBM_DIM": 40}, ""),
    "diag_gaussian": ({"FASTEBM_DIM": 7, "FASTEBM_ENERGY_DIAG_GAUSSIAN": None}, ""),
    "user": ({"FASTEBM_DIM": 2, "FASTEBM_ENERGY_USER": None}, BANANA_CUDA),
    "user_grad": ({"FASTEBM_DIM": 2, "FASTEBM_ENERGY_USER": None, "FASTEBM_USER_HAS_GRAD": None},
                  BANANA_GRAD_CUDA),
    "mixture": _module_of(MIXTURE),
    # a mixture, a dense and a diagonal Gaussian, user snippets with and without energy_grad
    # (each in its namespace), nested: every term macro of FASTEBM_SUM_TERMS
    "sum": _module_of(SUMS["every_kind"]),
    "sum_of_user_snippets": _module_of(SUMS["banana+scaled_fd"]),
}
# the float32 build of each (chain arrays as float, build.py's FASTEBM_REAL)
MODULES.update({f"{name}_f32": ({**defines, "FASTEBM_REAL": "float"}, snippet)
                for name, (defines, snippet) in list(MODULES.items())})
ENTRIES = ["langevin_propose", "langevin_accept", "random_walk_propose", "random_walk_accept",
           "affine_quadratic_rows", "rbm_bernoulli", "rbm_gaussian", "rbm_ais_weights",
           "record_rows", "ising_half_sweep", "ising_sequential_sweep", "ais_langevin",
           "ais_random_walk", "independent_accept", "proposal_gaussian_draws",
           "proposal_mixture_draws", "proposal_component_log_density"]
POINTWISE_ENTRIES = ["energy_rows", "langevin_fused", "random_walk_fused"]


def _compiler_and_source(compiler, name, path):
    """(the compiler's path, module ``name`` written to ``path``); skips without it."""
    exe = shutil.which(compiler)
    if exe is None:
        pytest.skip(f"{compiler} is not on PATH")
    defines, snippet = MODULES[name]
    path.write_text(module_source(defines, snippet))
    return exe, path


@pytest.mark.parametrize("name", MODULES)
def test_module_compiles_for_sm90(name, tmp_path):
    nvcc, src = _compiler_and_source("nvcc", name, tmp_path / f"{name}.cu")
    ptx = tmp_path / f"{name}.ptx"
    proc = subprocess.run([nvcc, "--ptx", "-arch=sm_90", "-std=c++17", "-o", str(ptx), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    expected = ENTRIES + (POINTWISE_ENTRIES if not name.startswith("dense_gaussian") else [])
    for entry in expected:
        assert f".entry {entry}(" in text, entry


@pytest.mark.parametrize("name", MODULES)
def test_module_compiles_on_the_host_without_warnings(name, tmp_path):
    cxx, src = _compiler_and_source("g++", name, tmp_path / f"{name}.cpp")
    proc = subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter",
                           "-fsyntax-only", "-x", "c++", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


def _nvrtc():
    """libnvrtc from the nvidia-cuda-nvrtc wheel, CuPy's CUDA, or the system; else None."""
    candidates = []
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations if spec else []):
        candidates += sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")))
    candidates += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
    for path in candidates:
        if "builtins" in path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def nvrtc_compile(lib, source, options):
    """(result code, log) of NVRTC compiling ``source`` with ``options``."""
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"module.cu", 0, None,
                                  None) == 0
    opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    code = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return code, log.value.decode(errors="replace")


@pytest.fixture(scope="module")
def nvrtc():
    lib = _nvrtc()
    if lib is None:
        pytest.skip("no NVRTC library (pip install nvidia-cuda-nvrtc)")
    return lib


@pytest.mark.parametrize("name", MODULES)
def test_module_compiles_with_nvrtc_as_cupy_does(nvrtc, name):
    defines, snippet = MODULES[name]
    code, log = nvrtc_compile(nvrtc, module_source(defines, snippet),
                              [*DEVICE_OPTIONS, "--gpu-architecture=compute_90"])
    assert code == 0, log


def test_nvrtc_check_catches_a_broken_module(nvrtc):
    """Negative control: a source without NVRTC's missing integer type fails."""
    source = module_source({"FASTEBM_DIM": 3}).replace("typedef unsigned char uint8_t;", "")
    code, log = nvrtc_compile(nvrtc, source, [*DEVICE_OPTIONS, "--gpu-architecture=compute_90"])
    assert code != 0 and "uint8_t" in log
