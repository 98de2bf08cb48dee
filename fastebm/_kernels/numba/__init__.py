"""Numba kernels, one module per algorithm. Kernels take arrays and scalars and trust them."""
