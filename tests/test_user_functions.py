"""User energies run in the cached kernels through their compiled functions' addresses:
each energy gets its own numbers, an edited function is never served stale code, and a
read-only installation still caches (in the user's cache directory)."""
import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import fastebm as fe

REPO = Path(__file__).resolve().parents[1]


def _banana(c):
    def banana(x):
        return 0.5 * x[0] ** 2 + c * (x[1] - x[0] ** 2) ** 2

    def banana_grad(x, out):
        r = x[1] - x[0] ** 2
        out[0] = x[0] - 4.0 * c * x[0] * r
        out[1] = 2.0 * c * r
        return 0.5 * x[0] ** 2 + c * r ** 2
    return banana, banana_grad


X0 = np.random.default_rng(0).normal(size=(64, 2))


def _scaled_square(x, th):
    return x[0] * x[0] / (2.0 * th[0] * th[0])

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled or "
                               "cached without the JIT")


@pytest.mark.parametrize("with_grad", [True, False])
def test_the_cached_kernels_give_the_numbers_of_the_specialised_ones(with_grad):
    fn, grad = _banana(0.5)
    grad = grad if with_grad else None
    fast = fe.energy(fn, grad, dim=2)
    inlined = fe.energy(fn, grad, dim=2, specialize=True)
    with pytest.warns(fe.FiniteDifferenceWarning) if grad is None else contextlib.nullcontext():
        a = fe.mala(fast, X0, 0.2, 50, rng=1)
    with pytest.warns(fe.FiniteDifferenceWarning) if grad is None else contextlib.nullcontext():
        b = fe.mala(inlined, X0, 0.2, 50, rng=1)
    np.testing.assert_array_equal(a.draws, b.draws)
    if with_grad:  # the random walk evaluates E only: once is enough
        np.testing.assert_array_equal(fe.metropolis(fast, X0, 50, rng=2).draws,
                                      fe.metropolis(inlined, X0, 50, rng=2).draws)


def test_two_energies_in_one_script_keep_their_own_functions():
    """Both energies run the same cached kernel; each must get its own function."""
    first, second = fe.energy(_banana(0.5)[0], dim=2), fe.energy(_banana(0.05)[0], dim=2)
    x = np.array([[1.0, 3.0]])
    assert first.energy(x)[0] == pytest.approx(0.5 + 0.5 * 4.0)
    assert second.energy(x)[0] == pytest.approx(0.5 + 0.05 * 4.0)
    a = fe.metropolis(first, X0, 30, rng=3).draws
    b = fe.metropolis(second, X0, 30, rng=3).draws
    assert not np.array_equal(a, b)
    again = fe.energy(_banana(0.5)[0], dim=2)  # the same function, compiled again
    np.testing.assert_array_equal(a, fe.metropolis(again, X0, 30, rng=3).draws)


@needs_jit
def test_a_function_numba_cannot_compile_is_a_type_error_naming_it():
    def bad(x):
        return {"not": "a number"}
    with pytest.raises(TypeError, match="fn could not be compiled"):
        fe.energy(bad, dim=2)

    def bad_grad(x, out):
        return object()
    with pytest.raises(TypeError, match="grad could not be compiled"):
        fe.energy(_banana(0.5)[0], bad_grad, dim=2)


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastebm as fe
    from fastebm._kernels.numba import metropolis as kernel_module
    C = float(sys.argv[1])

    def banana(x):
        return 0.5 * x[0] ** 2 + C * (x[1] - x[0] ** 2) ** 2

    E = fe.energy(banana, dim=2)
    x0 = np.random.default_rng(0).normal(size=(64, 2))
    result = fe.metropolis(E, x0, 40, rng=5)
    stats = kernel_module.random_walk_run.stats
    print(json.dumps({"last": result.draws[-1].tolist(),
                      "misses": sum(stats.cache_misses.values()),
                      "hits": sum(stats.cache_hits.values())}))
""")


def _run_script(c, env, cwd):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(c)], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _expected(c):
    """This process's run of the same energy (the cached kernels give the specialised
    kernels' numbers: tested above)."""
    E = fe.energy(_banana(c)[0], dim=2)
    return fe.metropolis(E, np.random.default_rng(0).normal(size=(64, 2)), 40, rng=5).draws[-1]


def _cache_files(path):
    return sorted(p.name for p in Path(path).rglob("*") if p.suffix in (".nbi", ".nbc"))


@needs_jit
def test_an_edited_energy_is_never_served_stale_code(tmp_path):
    """Three processes, the energy's constant edited between them: each gets its own
    numbers, the second and third load the kernel from the cache, and the cache does
    not grow with the edits."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(REPO))
    runs = [_run_script(c, env, tmp_path) for c in (0.5, 0.25, 0.125)]
    for c, run in zip((0.5, 0.25, 0.125), runs):
        np.testing.assert_array_equal(run["last"], _expected(c))
    assert runs[0]["misses"] == 1
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 0
    files = _cache_files(tmp_path / "cache")
    _run_script(0.0625, env, tmp_path)
    assert _cache_files(tmp_path / "cache") == files


@needs_jit
def test_a_read_only_installation_caches_in_the_users_cache_directory(tmp_path):
    """The package's own __pycache__ cannot be written (a file stands where each directory
    would be: a test run as root could write through permissions): Numba falls back to the
    user-wide cache directory, and a second process loads from it."""
    install = tmp_path / "site"
    shutil.copytree(REPO / "fastebm", install / "fastebm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for package in (install / "fastebm").rglob("__init__.py"):
        (package.parent / "__pycache__").write_text("not a directory")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(install), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONDONTWRITEBYTECODE="1")
    first = _run_script(0.5, env, tmp_path)
    second = _run_script(0.5, env, tmp_path)
    np.testing.assert_array_equal(first["last"], _expected(0.5))
    np.testing.assert_array_equal(second["last"], first["last"])
    assert second["hits"] == 1 and second["misses"] == 0
    assert _cache_files(home / ".cache")
    assert all(p.is_file() for p in (install / "fastebm").rglob("__pycache__"))


def test_the_kernels_are_chosen_by_the_size_of_the_run():
    """specialize=None: the cached kernels below SPECIALIZE_WORK evaluations, kernels
    compiled around the functions from there; True and False force one."""
    from fastebm._contract import FunctionParams, UserParams
    from fastebm._kernels.numba.dispatch import BUILTIN
    from fastebm.energies.custom import SPECIALIZE_WORK
    fn = _banana(0.5)[0]
    auto = fe.energy(fn, dim=2)
    params, family = auto._kernel_form(SPECIALIZE_WORK - 1)
    assert isinstance(params, FunctionParams) and family is BUILTIN
    params, family = auto._kernel_form(SPECIALIZE_WORK)
    assert isinstance(params, UserParams) and family is not BUILTIN
    assert fe.energy(fn, dim=2, specialize=False)._kernel_form(10**12)[1] is BUILTIN
    assert fe.energy(fn, dim=2, specialize=True)._kernel_form(0)[1] is not BUILTIN
    with pytest.raises(TypeError, match="specialize"):
        fe.energy(fn, dim=2, specialize="yes")


def test_copies_share_the_compiled_functions_and_pickles_recompile_them():
    """tempered/with_theta copy the energy without compiling again (a fit or Geyer's
    estimator makes one per step); a pickled energy (for Dask's workers) compiles its
    functions again where it is unpickled, with the same temperature and θ."""
    import pickle
    energy = fe.energy(_scaled_square, theta=[2.0], dim=1)
    assert energy.with_theta([3.0])._functions is energy._functions
    assert energy.tempered(0.5)._functions is energy._functions
    hot = energy.with_theta([3.0]).tempered(0.5)
    back = pickle.loads(pickle.dumps(hot))
    x = np.array([[1.5], [-0.5]])
    np.testing.assert_array_equal(back.energy(x), hot.energy(x))
    assert back.beta == 0.5 and back.theta.tolist() == [3.0]


@needs_jit
def test_a_kernel_is_recompiled_when_a_source_it_inlines_changes(tmp_path):
    """Numba checks only a kernel's own file; a kernel inlines the energies, Philox and
    the contract, so fastebm stamps its entries with all of them (``cache_stamp``): an
    edit of energies.py alone makes the random-walk kernel (metropolis.py) a miss, where
    Numba's own stamp would load the kernel compiled with the old energies."""
    install = tmp_path / "site"
    shutil.copytree(REPO / "fastebm", install / "fastebm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(install),
               FASTEBM_CACHE_DIR=str(tmp_path / "user"))
    first = _run_script(0.5, env, tmp_path)
    assert _run_script(0.5, env, tmp_path)["hits"] == 1
    with open(install / "fastebm" / "_kernels" / "numba" / "energies.py", "a") as f:
        f.write("# an edit\n")
    edited = _run_script(0.5, env, tmp_path)
    assert edited["misses"] == 1 and edited["hits"] == 0
    assert edited["last"] == first["last"]


class _RemovedParams:
    """Stands for a parameter type that another version of fastebm had: pickled under
    ``fastebm._contract``, where this version has no such name."""


_RemovedParams.__module__, _RemovedParams.__qualname__ = "fastebm._contract", "RemovedParams"


def _index_of_another_version(path):
    """Rewrite Numba index ``path`` as one whose entries name a type this fastebm lacks
    (the version header kept, so that Numba unpickles the rest)."""
    import fastebm._contract as contract
    with open(path, "rb") as f:
        version = pickle.load(f)
    contract.RemovedParams = _RemovedParams
    try:
        payload = pickle.dumps((("another", "stamp"), {(_RemovedParams(),): path.name}))
    finally:
        del contract.RemovedParams
    with open(path, "wb") as f:
        pickle.dump(version, f, protocol=-1)
        f.write(payload)


@needs_jit
def test_a_kernel_index_from_another_version_is_a_miss_not_an_error(tmp_path):
    """Numba unpickles an index's entries before it compares the stamp; entries naming a
    type that this fastebm lacks (a cache left by another version) raised AttributeError
    on every call. ``cache_stamp`` reads such an index as stale: the kernel compiles, and
    gives the same numbers."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO),
               FASTEBM_CACHE_DIR=str(tmp_path / "user"))
    first = _run_script(0.5, env, tmp_path)
    indexes = sorted((tmp_path / "cache").rglob("*.nbi"))
    assert indexes
    for path in indexes:
        _index_of_another_version(path)
    again = _run_script(0.5, env, tmp_path)
    assert again["misses"] == 1 and again["hits"] == 0
    assert again["last"] == first["last"]
    assert _run_script(0.5, env, tmp_path)["hits"] == 1  # the rewritten index serves again


@needs_jit
def test_bounds_checked_kernels_are_cached_apart(tmp_path):
    """Numba's cache key leaves out ``NUMBA_BOUNDSCHECK``: a process run with bounds
    checks loaded the kernels a process without them had cached, and checked nothing.
    A fastebm kernel's key has it (``cache_stamp.compile_settings``): the checked run
    compiles its own kernel, and each setting then loads its own."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO),
               FASTEBM_CACHE_DIR=str(tmp_path / "user"), NUMBA_BOUNDSCHECK="0")
    checked = dict(env, NUMBA_BOUNDSCHECK="1")
    first = _run_script(0.5, env, tmp_path)
    assert first["misses"] == 1
    bounds = _run_script(0.5, checked, tmp_path)
    assert bounds["misses"] == 1 and bounds["hits"] == 0
    assert bounds["last"] == first["last"]
    assert _run_script(0.5, env, tmp_path)["hits"] == 1
    assert _run_script(0.5, checked, tmp_path)["hits"] == 1
