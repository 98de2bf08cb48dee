"""The portable CPU mode: the same bits on every x86-64 machine of a cluster.

fastebm's Numba kernels round the same on every x86-64 CPU: they are compiled without
fast-math, so LLVM neither contracts a*b + c into a fused multiply-add nor reorders a
sum, whatever the target (measured: kernels compiled for the host, for ``generic`` and
for ``haswell`` give bitwise the same runs). What a CPU type changes are the libraries
that pick their code by the CPU they find when they load:

- OpenBLAS (NumPy's and SciPy's, for the dense Gaussian's products and BLAS calls from
  the kernels) picks its kernels by CPU: another summation order in a matrix product;
- NumPy picks SIMD loops by CPU (exp, log and others have AVX2 and AVX-512 versions that
  differ in the last bit from the baseline ones);
- glibc's libm picks FMA or SSE2 versions of exp, log, pow by CPU.

On this machine each of these switches alone changes a run's bits (docs/dask.md). The
portable mode pins all three to the code of one CPU level, by environment variables
that must be set before the process starts (they are read when the libraries load):
``environment(level)`` gives them, for the shell or job script that starts a
``dask worker``, and for the shell of a local run to compare with; ``local_cluster``
starts a ``LocalCluster`` with them; ``current_level()`` tells whether a process (a
worker: ``client.run(current_level)``) really runs at a level. The client too: it computes
between a run's burn-in windows (the adapted step sizes' exp, the pooled Σ). Every
machine must run the same software (one container image): another NumPy, OpenBLAS or
glibc version has other code. ``GLIBC_TUNABLES`` replaces any glibc tunables set before. The mode needs
NumPy >= 2.4. ``level`` is the oldest CPU generation of the cluster:

- ``"x86-64-v3"`` (default): Haswell (2013) and later, AVX2 and FMA: OpenBLAS's Haswell
  kernels, NumPy's AVX2 loops, glibc's FMA functions;
- ``"x86-64-v2"``: any x86-64 CPU since Nehalem (2008): OpenBLAS's Nehalem kernels, NumPy's
  baseline loops, glibc's SSE2 functions. Slower, for clusters with older machines.

The cost on this machine is in docs/performance.md ("Portable mode").
"""
import os

# NUMBA_DISABLE_INTEL_SVML: with Intel's icc_rt installed, Numba would vectorize math
# calls with SVML's CPU-specific variants
LEVELS = {
    "x86-64-v3": {"OPENBLAS_CORETYPE": "Haswell", "NPY_ENABLE_CPU_FEATURES": "X86_V3",
                  "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512DQ,-AVX512VL",
                  "NUMBA_DISABLE_INTEL_SVML": "1"},
    "x86-64-v2": {"OPENBLAS_CORETYPE": "Nehalem", "NPY_ENABLE_CPU_FEATURES": "X86_V2",
                  "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX512F,"
                                    "-AVX512DQ,-AVX512VL",
                  "NUMBA_DISABLE_INTEL_SVML": "1"},
}
MIN_NUMPY = (2, 4)  # NumPy's CPU levels X86_V2 / X86_V3 as feature names
DEFAULT_LEVEL = "x86-64-v3"


def environment(level=DEFAULT_LEVEL):
    """The environment variables of the portable mode at ``level`` (a dict of str), to set
    before a worker (or the local process) starts.

    Examples
    --------
    >>> import fastebm
    >>> fastebm.portable.environment()["OPENBLAS_CORETYPE"]
    'Haswell'

    In a job script, before ``dask worker``: ``export OPENBLAS_CORETYPE=Haswell`` and the
    others.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {sorted(LEVELS)}, got {level!r}")
    _check_numpy()
    return dict(LEVELS[level])


def _check_numpy():
    import numpy
    version = tuple(int(part) for part in numpy.__version__.split(".")[:2])
    if version < MIN_NUMPY:
        raise RuntimeError(f"the portable mode needs NumPy >= 2.4 (its CPU levels X86_V2 and "
                           f"X86_V3), this is NumPy {numpy.__version__}")


def current_level():
    """The portable level this process runs at, or None.

    A level counts only when the process's libraries run at it, not merely when its
    environment names it: OpenBLAS reports the pinned core (through threadpoolctl) and
    NumPy has no SIMD target above the level enabled. (A variable set after the process
    started, or after NumPy loaded, is in the environment but has no effect.) glibc's
    choice cannot be read back; its variable must be in the environment."""
    _check_numpy()
    for level, env in LEVELS.items():
        if all(os.environ.get(k) == v for k, v in env.items()):
            return level if _libraries_at(level) else None
    return None


_ABOVE = {"x86-64-v3": ("X86_V4", "AVX512"), "x86-64-v2": ("X86_V3", "X86_V4", "AVX512")}


def _libraries_at(level):
    """Whether OpenBLAS and NumPy run the code of ``level`` in this process."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    from threadpoolctl import threadpool_info
    enabled = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    if any(t.startswith(_ABOVE[level]) for t in enabled):
        return False
    core = LEVELS[level]["OPENBLAS_CORETYPE"].lower()
    cores = {str(i.get("architecture")).lower() for i in threadpool_info()
             if i.get("internal_api") == "openblas"}
    return cores <= {core}


def local_cluster(level=DEFAULT_LEVEL, **kwargs):
    """A ``dask.distributed.LocalCluster`` whose worker processes start in the portable
    mode: the variables are set before each worker process is spawned (Dask's
    ``distributed.nanny.pre-spawn-environ``; ``LocalCluster(env=...)`` would set them
    after NumPy has loaded, too late). The calling process keeps its own environment."""
    import dask
    from distributed import LocalCluster
    if not kwargs.get("processes", True):
        raise ValueError("the portable mode needs worker processes started with its "
                         "environment: processes=False would run the workers in this process")
    saved = dict(os.environ)
    pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **environment(level)}
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn}):
            return LocalCluster(**kwargs)
    finally:  # the nannies of a LocalCluster run here and write the variables here
        os.environ.clear()
        os.environ.update(saved)
