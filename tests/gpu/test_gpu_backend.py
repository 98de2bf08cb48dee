"""Choosing the GPU path, and what it refuses: named errors, never a silent fallback."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastebm as fe
from fastebm import backend
from fastebm._kernels.cuda import build, runners
from tests.gpu.energies import BANANA, DENSE, DIAG


def test_emulation_is_chosen_explicitly_and_restored():
    x = np.zeros((3, 2))
    assert backend.resolve(x) is backend.CPU
    with backend.emulate_gpu():
        assert backend.resolve(x) is backend.CUDA_HOST
        with backend.emulate_gpu(False):
            assert backend.resolve(x) is backend.CPU
        assert backend.resolve(x) is backend.CUDA_HOST
    assert backend.resolve(x) is backend.CPU


def test_environment_variable_turns_emulation_on_for_a_process():
    code = ("import numpy as np, fastebm as fe; from fastebm import backend; "
            "assert backend.resolve(np.zeros(2)) is backend.CUDA_HOST")
    env = dict(os.environ, FASTEBM_GPU_EMULATION="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_emulated_runs_go_through_the_cuda_kernels(monkeypatch):
    """The emulation really launches the host-built CUDA kernels (a spy counts them)."""
    calls = []
    original = build.HostLauncher.__call__
    monkeypatch.setattr(build.HostLauncher, "__call__",
                        lambda self, name, n, *a: calls.append(name) or original(self, name, n, *a))
    with backend.emulate_gpu():
        fe.mala(DENSE, np.zeros((4, 3)), 0.1, 3, rng=0)
        fe.metropolis(BANANA, np.zeros((4, 2)), 3, rng=0)
    assert calls.count("langevin_accept") == 3 and "random_walk_fused" in calls
    calls.clear()
    fe.mala(DENSE, np.zeros((4, 3)), 0.1, 3, rng=0)  # outside: the Numba kernels
    assert calls == []


def test_cupy_without_cupy_installed_is_a_named_error():
    if "cupy" in sys.modules or shutil.which("nvidia-smi"):
        pytest.skip("CuPy or a GPU is present")

    class FakeCupyArray:
        pass
    FakeCupyArray.__module__ = "cupy._core.core"
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        backend.resolve(FakeCupyArray())
    with pytest.raises(backend.BackendUnavailableError, match="needs CuPy"):
        backend.require_gpu()


@pytest.mark.parametrize("call", [
    lambda: fe.gibbs(fe.Ising(np.zeros((3, 3)), np.zeros(3)), np.ones((2, 3)), 3, rng=0),
    lambda: fe.mala(fe.GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[1.0], [1.0]])
                    + fe.energy(lambda x: x[0] ** 2, lambda x, g: 0.0, dim=1),
                    np.zeros((2, 1)), 0.1, 3, rng=0),
    lambda: fe.metropolis(fe.energy(lambda x: x[0] ** 2, dim=1), np.zeros((2, 1)), 3, rng=0),
    lambda: fe.importance_sample(fe.energy(lambda x: x[0] ** 2, dim=1),
                                 fe.proposals.Gaussian([0.0], [4.0]), 10, rng=0),
])
def test_what_has_no_cuda_kernels_raises_under_emulation(call):
    with backend.emulate_gpu(), pytest.raises(backend.BackendUnavailableError):
        call()


def test_user_snippet_is_checked():
    with pytest.raises(TypeError, match="string"):
        fe.energy(lambda x: 0.0, dim=1, cuda=3)
    with pytest.raises(ValueError, match="energy"):
        fe.energy(lambda x: 0.0, dim=1, cuda="__device__ double f(const double *x) { return 0; }")
    broken = fe.energy(lambda x: 0.0, dim=1, cuda="""
__device__ double energy(const double *x, const double *theta) { return x[0] * ; }""")
    with backend.emulate_gpu(), pytest.raises(build.KernelBuildError, match="did not compile"):
        fe.metropolis(broken, np.zeros((2, 1)), 3, rng=0)


def test_unwritable_cache_directory_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    """A cache path that cannot be created (under a file: even root cannot) is replaced
    by a temporary directory, as on a read-only installation."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("FASTEBM_CACHE_DIR", str(blocker / "cache"))
    assert not str(build.cache_dir()).startswith(str(blocker))
    build.host_library.cache_clear()
    with backend.emulate_gpu():
        fe.mala(DIAG, np.zeros((2, 3)), 0.1, 3, rng=0)


def test_cache_directory_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTEBM_CACHE_DIR", str(tmp_path))
    assert build.cache_dir() == tmp_path / "cuda-host"


def test_kept_draws_that_cannot_fit_are_refused_before_allocating():
    runners.ensure_fits(10, 1000, 10, free_bytes=2 * 8 * 10 * 1000 * 10)
    with pytest.raises(MemoryError, match='thin=.*keep="moments"'):
        runners.ensure_fits(1000, 10**6, 100, free_bytes=2**30)


def test_launcher_refuses_python_scalars_and_strided_arrays():
    lib = build.HostLauncher(build.module_source({"FASTEBM_DIM": 2}))
    x = np.zeros((4, 2))
    with pytest.raises(TypeError, match="NumPy scalars"):
        lib("affine_quadratic_rows", 4, x, x, x[0], x[0], 0.0, 1.0, x[:, 0].copy())
    with pytest.raises(ValueError, match="contiguous"):
        lib("affine_quadratic_rows", 4, x[:, ::-1], x, x[0], x[0],
            np.float64(0.0), np.float64(1.0), np.zeros(4))
