"""A user energy's compiled functions are cached on disk by what they are
(``fastebm/_kernels/numba/cfunc_cache.py``, keyed by ``function_key``): a script run again
loads them, an edit of anything the compiled code depends on is compiled anew, and a
cache that cannot be written, read or trusted only means compiling."""
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numba
import numpy as np
import pytest

from fastebm._kernels.numba.cfunc_cache import SUFFIX, prune
from fastebm._kernels.numba.function_key import function_key

REPO = Path(__file__).resolve().parents[1]
needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled or "
                               "cached without the JIT")


def _closure(c):
    def f(x):
        return c * x[0] ** 2
    return f


def _with_globals(source, **namespace):
    """The function ``f`` defined by ``source`` in a module namespace of its own."""
    exec(textwrap.dedent(source), namespace)
    return namespace["f"]


# ------------------------------------------------------------------ what a function is

def test_the_same_function_has_the_same_key_and_an_edit_another():
    assert function_key(_closure(0.5)) == function_key(_closure(0.5))
    assert function_key(_closure(0.5)) != function_key(_closure(0.25))
    body = "def f(x):\n    return {} * x[0]\n"
    assert function_key(_with_globals(body.format("2.0"))) == \
        function_key(_with_globals(body.format("2.0")))
    assert function_key(_with_globals(body.format("2.0"))) != \
        function_key(_with_globals(body.format("2")))  # an int and a float compile apart


def test_globals_defaults_helpers_and_modules_are_part_of_the_key():
    read_global = "def f(x):\n    return C * x[0]\n"
    assert function_key(_with_globals(read_global, C=1.0)) != \
        function_key(_with_globals(read_global, C=2.0))
    read_array = "def f(x):\n    return (A * x).sum()\n"
    assert function_key(_with_globals(read_array, A=np.ones(2))) != \
        function_key(_with_globals(read_array, A=np.array([1.0, 2.0])))
    assert function_key(_with_globals(read_array, A=np.ones(2))) != \
        function_key(_with_globals(read_array, A=np.ones(2, dtype=np.float32)))
    default = "def f(x, c={}):\n    return c * x[0]\n"
    assert function_key(_with_globals(default.format(1.0))) != \
        function_key(_with_globals(default.format(2.0)))
    calls_helper = "def f(x):\n    return helper(x)\n"
    helpers = [_with_globals(f"def f(x):\n    return {c} * x[0]\n") for c in (1.0, 2.0)]
    assert function_key(_with_globals(calls_helper, helper=numba.njit(helpers[0]))) != \
        function_key(_with_globals(calls_helper, helper=numba.njit(helpers[1])))
    if not numba.config.DISABLE_JIT:  # without the JIT, njit returns the function itself
        assert function_key(_with_globals(calls_helper, helper=numba.njit(helpers[0]))) != \
            function_key(_with_globals(calls_helper,
                                       helper=numba.njit(fastmath=True)(helpers[0])))
    reads_module = "def f(x):\n    return constants.C * x[0]\n"
    modules = [types.ModuleType("constants") for _ in range(2)]
    modules[0].C, modules[1].C = 1.0, 2.0
    assert function_key(_with_globals(reads_module, constants=modules[0])) != \
        function_key(_with_globals(reads_module, constants=modules[1]))


def test_library_objects_are_named_and_recursion_ends():
    uses_numpy = "def f(x):\n    return np.exp(x[0]) + math.log(2.0)\n"
    import math
    first = function_key(_with_globals(uses_numpy, np=np, math=math))
    assert first is not None and first == function_key(_with_globals(uses_numpy, np=np,
                                                                       math=math))
    casts = "def f(x):\n    return T(x[0])\n"
    assert function_key(_with_globals(casts, T=np.float32)) != \
        function_key(_with_globals(casts, T=np.float64))
    recursive = "def f(x, n=3):\n    return 0.0 if n == 0 else x[0] + f(x, n - 1)\n"
    assert function_key(_with_globals(recursive)) is not None


def test_a_value_the_key_cannot_describe_means_no_key():
    class Scale:
        c = 2.0
    reads_object = "def f(x):\n    return S.c * x[0]\n"
    assert function_key(_with_globals(reads_object, S=Scale())) is None
    assert function_key(_with_globals(reads_object, S={"c": 2.0})) is None
    assert function_key(_with_globals("def f(x):\n    return A[0] * x[0]\n",
                                      A=np.array([object()]))) is None
    assert function_key(len) is None  # not a Python function


def test_prune_keeps_the_most_recently_used_entries(tmp_path):
    for age, name in enumerate("abcde"):
        path = tmp_path / (name + SUFFIX)
        path.write_bytes(b"")
        os.utime(path, (1e9 - age, 1e9 - age))  # a newest, e oldest
    (tmp_path / "unrelated.txt").write_text("kept")
    prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a" + SUFFIX, "b" + SUFFIX,
                                                         "unrelated.txt"]


# ------------------------------------------------------------ the cache across processes

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastebm as fe

    def make(c):
        def quartic(x):
            return 0.5 * x[0] ** 2 + c * x[1] ** 4

        def quartic_grad(x, out):
            out[0] = x[0]
            out[1] = 4.0 * c * x[1] ** 3
            return 0.5 * x[0] ** 2 + c * x[1] ** 4
        return quartic, quartic_grad

    runs = []
    for c in map(float, sys.argv[1:]):
        E = fe.energy(*make(c), dim=2)
        x0 = np.random.default_rng(0).normal(size=(16, 2))
        result = fe.mala(E, x0, 0.3, 20, rng=5)
        runs.append({"c": c, "last": result.draws[-1].tolist(),
                     "energy": E.energy(np.array([[1.0, 2.0]]))[0],
                     "hits": [f.cache_hits for f in E._functions],
                     "names": [f.native_name for f in E._functions]})
    print(json.dumps(runs))
""")


def _run(cache, *constants, **env):
    env = dict(os.environ, FASTEBM_CACHE_DIR=str(cache), PYTHONPATH=str(REPO), **env)
    out = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, constants)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(cache):
    return sorted((Path(cache) / "user-functions").glob("*" + SUFFIX))


def _check(run):
    """The energy at (1, 2) is 0.5 + 16c: each run computed with its own constant."""
    assert run["energy"] == pytest.approx(0.5 + 16.0 * run["c"], rel=1e-15)


@needs_jit
def test_a_script_run_again_loads_its_functions_and_an_edit_compiles_anew(tmp_path):
    first, = _run(tmp_path, 0.5)
    assert first["hits"] == [0, 0] and len(_entries(tmp_path)) == 2
    again, = _run(tmp_path, 0.5)
    assert again["hits"] == [1, 1]
    assert again["last"] == first["last"]
    edited, = _run(tmp_path, 0.25)
    assert edited["hits"] == [0, 0] and len(_entries(tmp_path)) == 4
    assert edited["last"] != first["last"]
    for run in (first, again, edited):
        _check(run)


@needs_jit
def test_entries_of_two_processes_with_the_same_symbols_keep_their_own_code(tmp_path):
    """Two processes compile the same script with different constants: their entries
    name their functions alike (same qualified names, same counter), and a third process
    that loads both must still run each one's own code."""
    one, = _run(tmp_path, 0.5)
    two, = _run(tmp_path, 0.25)
    assert one["names"] == two["names"]  # the case this test is about
    both = _run(tmp_path, 0.5, 0.25)
    assert [run["hits"] for run in both] == [[1, 1], [1, 1]]
    assert both[0]["last"] == one["last"] and both[1]["last"] == two["last"]
    for run in both:
        _check(run)


@needs_jit
def test_a_cache_that_cannot_be_used_only_means_compiling(tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("where the cache directory would be")
    run, = _run(blocked, 0.5)
    assert run["hits"] == [0, 0]
    _check(run)
    cache = tmp_path / "cache"
    stored, = _run(cache, 0.5)
    for entry in _entries(cache):
        entry.write_bytes(entry.read_bytes()[:100])  # truncated
    damaged, = _run(cache, 0.5)
    assert damaged["hits"] == [0, 0] and damaged["last"] == stored["last"]
    assert _run(cache, 0.5)[0]["hits"] == [1, 1]  # stored again


@needs_jit
def test_bounds_checked_code_is_cached_apart(tmp_path):
    _run(tmp_path, 0.5)
    checked, = _run(tmp_path, 0.5, NUMBA_BOUNDSCHECK="1")
    assert checked["hits"] == [0, 0] and len(_entries(tmp_path)) == 4
