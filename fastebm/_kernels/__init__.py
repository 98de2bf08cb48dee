"""Compiled kernels. Private: the public API validates and calls into these."""
