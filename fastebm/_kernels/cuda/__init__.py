"""The CUDA backend: CUDA C sources (one per algorithm) and the glue that runs them.

The same sources and the same glue run on a GPU (CuPy: NVRTC-compiled ``RawModule``,
cuBLAS products) and on the host (g++ and ctypes, NumPy products): ``build`` compiles and
launches, ``device_energy`` puts an energy's parameters where the kernels run, and
``runners`` implements the runner protocol of ``fastebm.samplers._common``. ``philox.cuh``
is the device twin of ``fastebm/_kernels/numba/philox.py``; ``tables.philox_source()``
prepends the ziggurat tables. See docs/gpu.md.
"""
