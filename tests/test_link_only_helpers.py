"""Helpers are compiled to LLVM IR that their callers link, never to machine code of
their own (``fastebm/_kernels/numba/link_only.py``): in a process, from the cache of
another process, and, where Numba lacks what that needs, as ordinary functions."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import fastebm as fe

REPO = Path(__file__).resolve().parents[1]
needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled "
                               "without the JIT")

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    if sys.argv[2] == "without":  # a Numba without a method link-only libraries use
        from numba.core import codegen
        del codegen.CPUCodeLibrary.serialize_using_bitcode
    import fastebm as fe
    from fastebm._kernels.numba import link_only, langevin, metropolis, philox

    E = fe.Gaussian(np.zeros(3), covariance=np.eye(3) + 0.1)
    x0 = np.random.default_rng(0).normal(size=(16, 3))
    run = {"mala": lambda: fe.mala(E, x0, 0.2, 30, rng=3),
           "metropolis": lambda: fe.metropolis(E, x0, 30, rng=3)}[sys.argv[1]]
    draws = run().draws
    kernel = {"mala": langevin.langevin_run, "metropolis": metropolis.random_walk_run}[sys.argv[1]]
    helper = philox.fill_first_uniforms  # called by both kernels
    results = list(helper.overloads.values())
    print(json.dumps({
        "last": draws[-1].tolist(),
        "helper_hits": sum(helper.stats.cache_hits.values()),
        "kernel_hits": sum(kernel.stats.cache_hits.values()),
        "helper_link_only": [isinstance(r.library, link_only.LinkOnlyLibrary) for r in results],
        "helper_libraries": [type(r.library).__name__ for r in results],
        "helper_pointers": [r.library.get_pointer_to_function(r.fndesc.llvm_func_name)
                            for r in results],
    }))
""")


def _run(sampler, tmp_path, link_only="with"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO),
               FASTEBM_CACHE_DIR=str(tmp_path / "user"))
    out = subprocess.run([sys.executable, "-c", SCRIPT, sampler, link_only], env=env,
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _expected(sampler):
    """This process's draws (its kernels compiled or loaded from the checkout's cache)."""
    E = fe.Gaussian(np.zeros(3), covariance=np.eye(3) + 0.1)
    x0 = np.random.default_rng(0).normal(size=(16, 3))
    if sampler == "mala":
        return fe.mala(E, x0, 0.2, 30, rng=3).draws[-1]
    return fe.metropolis(E, x0, 30, rng=3).draws[-1]


def _linked_only(out):
    """Every compiled signature of the helper is a link-only library, without code."""
    return (bool(out["helper_link_only"]) and all(out["helper_link_only"])
            and not any(out["helper_pointers"]))


@needs_jit
def test_helpers_are_linked_not_machine_compiled_and_cached_as_bitcode(tmp_path):
    """A first process compiles MALA: its helpers are link-only libraries (null function
    pointers) and go to the cache. A second process compiles the random walk, which
    calls a helper MALA compiled: the helper comes from the cache, still link-only, and
    the new kernel linked with it gives this process's numbers; a third loads all."""
    first = _run("mala", tmp_path)
    assert _linked_only(first)
    assert first["helper_hits"] == 0 and first["kernel_hits"] == 0
    assert first["last"] == _expected("mala").tolist()

    second = _run("metropolis", tmp_path)
    assert second["helper_hits"] >= 1 and second["kernel_hits"] == 0
    assert _linked_only(second)
    assert second["last"] == _expected("metropolis").tolist()

    third = _run("mala", tmp_path)
    assert third["kernel_hits"] == 1 and third["last"] == first["last"]


@needs_jit
def test_without_link_only_libraries_helpers_are_ordinary_functions(tmp_path):
    """Where Numba lacks what link-only libraries need (here a Numba without
    ``serialize_using_bitcode``: ``link_only.AVAILABLE`` is False), helpers are compiled
    and cached as before, machine code included: same numbers."""
    out = _run("mala", tmp_path, "without")
    assert out["helper_libraries"] and set(out["helper_libraries"]) == {"JITCodeLibrary"}
    assert out["last"] == _expected("mala").tolist()
    assert _run("mala", tmp_path, "without")["kernel_hits"] == 1
