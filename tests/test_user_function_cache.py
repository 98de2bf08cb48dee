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


def test_what_numba_compiles_in_is_part_of_the_key(tmp_path):
    """Each an edit a review found the first key blind to: a module reached through a
    closure, a dispatcher's ``locals`` and explicit signature, a named tuple's fields, a
    structured dtype over the same bytes, a user module named like the standard library's."""
    def module(name, **attributes):
        m = types.ModuleType(name)
        m.__file__ = str(tmp_path / f"{name}.py")
        m.__dict__.update(attributes)
        return m

    def through_closure(mod):
        def f(x):
            return mod.C * x[0]
        return f
    assert function_key(through_closure(module("hmod", C=2.0))) != \
        function_key(through_closure(module("hmod", C=3.0)))
    assert function_key(_with_globals("def f(x):\n    return statistics.C * x[0]\n",
                                      statistics=module("statistics", C=2.0))) != \
        function_key(_with_globals("def f(x):\n    return statistics.C * x[0]\n",
                                   statistics=module("statistics", C=3.0)))
    if not numba.config.DISABLE_JIT:
        body = _with_globals("def f(x):\n    s = x[0]\n    return s\n")
        assert function_key(numba.njit(locals={"s": numba.float32})(body)) != \
            function_key(numba.njit(locals={"s": numba.float64})(body))
        assert function_key(numba.njit("float32(float64[::1])")(body)) != \
            function_key(numba.njit("float64(float64[::1])")(body))
    from collections import namedtuple
    reads_fields = "def f(x):\n    return P.a * x[0] + P.b\n"
    assert function_key(_with_globals(reads_fields, P=namedtuple("Pt", "a b")(1.0, 2.0))) != \
        function_key(_with_globals(reads_fields, P=namedtuple("Pt", "b a")(1.0, 2.0)))
    reads_record = "def f(x):\n    return R[0]['a'] * x[0]\n"
    as_float = np.zeros(1, dtype=[("a", "<f8")])
    assert function_key(_with_globals(reads_record, R=as_float)) != \
        function_key(_with_globals(reads_record, R=as_float.view([("a", "<i8")])))


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

    def unbound():
        def f(x):
            return later * x[0]
        later = 1.0
        del later
        return f
    assert function_key(unbound()) is None  # an empty closure cell
    if not numba.config.DISABLE_JIT:
        threaded = numba.njit(parallel=True)(_with_globals("def f(x):\n    return x[0]\n"))
        assert function_key(_with_globals("def f(x):\n    return h(x)\n", h=threaded)) is None


EXTENSION = textwrap.dedent("""
    import numpy as np
    from numba.extending import overload
    from fastebm._kernels.numba.function_key import function_key

    def f(x):
        return x[0]
    before = function_key(f)

    def stub(x):
        pass

    @overload(stub)
    def _stub(x):
        return lambda x: 2.0 * x
    print(before is not None, function_key(f) is None)
""")


def test_a_process_with_user_numba_extensions_caches_nothing():
    """An ``@overload`` changes what a call compiles to without appearing in the caller:
    once user code registers one, no function has a key (in a process of its own, not
    to switch the cache off for this test session)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", EXTENSION], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


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


CALLS = textwrap.dedent("""
    import json, math, sys
    import numpy as np
    from numba import njit, prange

    @njit(parallel="--parallel" in sys.argv)
    def wiggle(x, c):
        s = 0.0
        for k in prange(3):
            s += (math.sin(c * x[0] + k) * math.cos(x[1] - k) + math.exp(-c * x[k % 2])
                  + math.log1p(x[0] * x[0] + k) * math.atan(c + x[1]) + math.tanh(c * k + x[0]))
        return s

    if "--helper-first" in sys.argv:  # compiled before fastebm is imported
        wiggle(np.ones(2), 1.0)
    import fastebm as fe

    def make(c):
        def energy(x):  # a body too large for LLVM to inline into the caller
            s = 0.5 * x[0] ** 2 + c * x[1] ** 4 + wiggle(x, c)
            for k in range(3):
                s += math.sinh(0.1 * x[1]) * math.erf(c * x[0]) + math.gamma(2.0 + c + k)
                s += math.sin(c * x[0] + k) * math.cos(x[1] - k) + math.exp(-c * x[k % 2])
            return s
        return energy

    x = np.array([0.3, -0.7])
    runs = []
    for c in [float(a) for a in sys.argv[1:] if not a.startswith("--")]:
        fn = make(c)
        E = fe.energy(fn, dim=2)
        runs.append({"c": c, "energy": E.energy(x[None])[0], "python": fn(x),
                     "hits": [f.cache_hits for f in E._functions]})
    print(json.dumps(runs))
""")


def _calls(cache, *args):
    env = dict(os.environ, FASTEBM_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CALLS, *map(str, args)], env=env,
                         capture_output=True, text=True, check=True)
    runs = json.loads(out.stdout.strip().splitlines()[-1])
    for run in runs:  # each energy computed its own function
        assert run["energy"] == pytest.approx(run["python"], rel=1e-13)
    return runs


@needs_jit
def test_entries_of_two_processes_keep_their_own_code(tmp_path):
    """Closures of one script with different constants, compiled by two processes (each
    with a helper LLVM does not inline), then loaded together in either order, or loaded
    beside one compiled afresh: every energy runs its own code (a name defined twice
    would run the first definition)."""
    _calls(tmp_path, 0.5)
    _calls(tmp_path, 0.25)
    for order in ((0.5, 0.25), (0.25, 0.5)):
        assert [run["hits"] for run in _calls(tmp_path, *order)] == [[1, 1], [1, 1]]
    fresh_then_loaded = _calls(tmp_path, 0.75, 0.5)
    assert [run["hits"] for run in fresh_then_loaded] == [[0, 0], [1, 1]]


@needs_jit
def test_code_whose_names_or_threads_another_process_may_not_have_is_not_stored(tmp_path):
    """A helper compiled before fastebm was imported carries a name another process may
    give to other code; a parallel helper needs a thread pool a stored entry would not
    start (loading it would abort the process). Neither is stored; both still run."""
    for flag in ("--helper-first", "--parallel"):
        cache = tmp_path / flag.strip("-")
        for _ in range(2):
            run, = _calls(cache, 0.5, flag)
            assert run["hits"] == [0, 0]
        assert _entries(cache) == []


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
    _run(tmp_path, 0.5, NUMBA_BOUNDSCHECK="0")  # explicit: the suite itself may run with 1
    checked, = _run(tmp_path, 0.5, NUMBA_BOUNDSCHECK="1")
    assert checked["hits"] == [0, 0] and len(_entries(tmp_path)) == 4
