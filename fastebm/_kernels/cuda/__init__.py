"""CUDA C sources for the future CuPy backend (issue 6).

``philox.cuh`` is the device counterpart of ``fastebm/_kernels/numba/philox.py`` (same
counters, same bits); ``tables.philox_source()`` prepends the ziggurat tables and returns
the text a CuPy ``RawModule`` will compile. Nothing here is exported from ``fastebm`` yet.
"""
