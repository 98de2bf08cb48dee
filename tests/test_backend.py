"""The backend is resolved from the array types; CuPy is never imported by fastebm."""
import subprocess
import sys

import numpy as np
import pytest

import fastebm as fe
from fastebm import backend


class _FakeCupyArray:
    """Stands for a cupy.ndarray: only its type's module is looked at."""


_FakeCupyArray.__module__ = "cupy._core.core"


def test_numpy_arrays_resolve_to_the_numba_backend():
    assert backend.resolve(np.zeros(3), 1.0, None) is backend.CPU
    assert backend.resolve() is backend.CPU
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.CPU.num_threads() >= 1
    assert hasattr(backend.CPU.runners, "LangevinRunner")


def test_cupy_arrays_raise_a_named_error_and_never_fall_back():
    assert backend.is_cupy_array(_FakeCupyArray())
    assert not backend.is_cupy_array(np.zeros(2))
    with pytest.raises(backend.BackendUnavailableError, match="mixed"):
        backend.resolve(np.zeros(2), _FakeCupyArray())


def test_samplers_refuse_cupy_input():
    E = fe.Gaussian(np.zeros(2), covariance=np.eye(2))
    with pytest.raises(backend.BackendUnavailableError):
        fe.mala(E, _FakeCupyArray(), 0.1, 10, rng=0)


def test_import_fastebm_does_not_import_cupy():
    code = "import sys, fastebm; assert 'cupy' not in sys.modules, 'cupy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
