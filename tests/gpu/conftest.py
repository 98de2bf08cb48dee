"""The GPU path under test: the host emulation (always) and a CUDA device (when CuPy and
a device are there; skipped cleanly otherwise).

The ``gpu`` fixture gives ``asarray`` (NumPy or CuPy), ``numpy`` (back to the host),
``context()`` (``emulate_gpu()`` on the host) and ``exact``: whether results must equal
the Numba backend's bit for bit (the host build of the same arithmetic) or only to
rounding (the device's libdevice exp/log and FMA contraction).
"""
import contextlib

import numpy as np
import pytest

from fastebm.backend import emulate_gpu


def _device_usable():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDARuntimeError without a driver
        return False


class Emulated:
    name, exact = "emulated", True

    @staticmethod
    def asarray(x):
        return np.asarray(x)

    @staticmethod
    def numpy(x):
        return x

    @staticmethod
    def context():
        return emulate_gpu()


class Device:
    name, exact = "device", False

    def __init__(self):
        import cupy
        self.cupy = cupy

    def asarray(self, x):
        return self.cupy.asarray(x)

    def numpy(self, x):
        return x.get() if isinstance(x, self.cupy.ndarray) else x

    @staticmethod
    def context():
        return contextlib.nullcontext()


@pytest.fixture(params=["emulated", "device"])
def gpu(request):
    if request.param == "emulated":
        return Emulated()
    if not _device_usable():
        pytest.skip("no CUDA device (CuPy missing or no GPU): the device tests run on one")
    return Device()
