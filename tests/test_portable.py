"""The portable CPU mode (fastebm.portable): its environment reaches the libraries that
dispatch by CPU, and a cluster started with it gives a local portable run's bits.

A mixed cluster (two CPU types) cannot be built on one machine; what is tested here is
the mechanism: with the environment set, OpenBLAS runs the pinned core's kernels and
NumPy no SIMD target above the level, on workers as in a local process, and the results
of the two agree bit for bit. On a machine above the level (AVX-512 here), the portable
numbers also differ from the default ones: the environment changes what runs.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastebm as fe
from fastebm import portable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = r"""
import json, sys
import numpy as np
import fastebm as fe
from tests.test_portable import workload
print(json.dumps(workload().tolist()))
"""
PROBE = r"""
import json
import numpy as np
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
from threadpoolctl import threadpool_info
import fastebm
print(json.dumps({"numpy": [t for t in __cpu_dispatch__ if __cpu_features__.get(t)],
                  "openblas": sorted({i.get("architecture") for i in threadpool_info()
                                      if i.get("internal_api") == "openblas"}),
                  "level": fastebm.portable.current_level()}))
"""
CPUINFO = pathlib.Path("/proc/cpuinfo")
AVX512 = CPUINFO.exists() and "avx512f" in CPUINFO.read_text()


def banana(x):
    return 0.5 * x[0] ** 2 + 0.5 * (x[1] - x[0] ** 2) ** 2 + np.log1p(np.exp(x[1] - 3.0))


def _runs():
    """Runs whose numbers pass through BLAS (a dense Gaussian's energy, a pooled dense
    preconditioner) and libm (exp and log1p in a user energy, AIS's weights): each as
    (function name, args, kwargs), for fastebm and fastebm.dask alike."""
    dense = fe.Gaussian(np.zeros(5), covariance=np.eye(5) + 0.3)
    x0 = np.random.default_rng(0).normal(size=(128, 5))
    base = fe.proposals.Gaussian(np.zeros(5), 4.0 * np.eye(5))
    return [("mala", (dense, x0, 0.3, 100),
             dict(burn_in=100, adapt=True, precondition="dense", rng=1)),
            ("metropolis", (fe.energy(banana, dim=2), x0[:, :2], 200),
             dict(burn_in=50, adapt=True, rng=2)),
            ("ais", (dense, base, 128, 50), dict(step_size=0.3, rng=4))]


def _numbers(result):
    return result.draws if hasattr(result, "draws") else result.log_weights


def workload():
    """The runs' draws and log weights, one array."""
    return np.concatenate([_numbers(getattr(fe, name)(*args, **kw)).ravel()
                           for name, args, kw in _runs()])


def _child(code, extra_env):
    env = {**os.environ, **extra_env,
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_levels_and_the_current_one(monkeypatch):
    env = portable.environment()
    assert env == portable.environment("x86-64-v3") and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert portable.environment("x86-64-v2")["NPY_ENABLE_CPU_FEATURES"] == "X86_V2"
    env["OPENBLAS_CORETYPE"] = "changed"  # a copy: the table stays as it is
    assert portable.environment()["OPENBLAS_CORETYPE"] == "Haswell"
    with pytest.raises(ValueError, match="level must be one of"):
        portable.environment("avx512")
    with pytest.raises(ValueError, match="processes=False"):
        portable.local_cluster(processes=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    assert portable.current_level() is None
    # named by the environment after NumPy and OpenBLAS loaded: not at the level
    for name, value in portable.environment("x86-64-v2").items():
        monkeypatch.setenv(name, value)
    assert portable.current_level() is None


@pytest.mark.skipif(sys.platform != "linux", reason="the pinned libraries are Linux x86-64's")
@pytest.mark.parametrize("level, core, above", [("x86-64-v3", "Haswell", "X86_V4"),
                                                 ("x86-64-v2", "Nehalem", "X86_V3")])
def test_the_environment_pins_openblas_and_numpy(level, core, above):
    probe = _child(PROBE, portable.environment(level))
    assert probe["level"] == level
    assert probe["openblas"] and set(probe["openblas"]) == {core}
    assert above not in probe["numpy"]


@pytest.mark.skipif(not AVX512, reason="the default mode equals x86-64-v3 below AVX-512")
def test_the_portable_bits_differ_from_the_default_ones_above_the_level():
    default = np.array(_child(RUN, {}))
    pinned = np.array(_child(RUN, portable.environment()))
    np.testing.assert_array_equal(default, workload())  # a child runs as this process
    assert not np.array_equal(default, pinned)


CLUSTER = r"""
import json, os
import numpy as np
from distributed import Client
import fastebm.dask as fe_dask
from fastebm import portable
from tests.test_portable import _numbers, _runs, workload

before = dict(os.environ)
cluster = portable.local_cluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=":0", scheduler_port=0,
                                 env={"NUMBA_NUM_THREADS": "1"})
with Client(cluster) as client:
    levels = sorted(set(client.run(portable.current_level).values()))
    got = np.concatenate([_numbers(getattr(fe_dask, name)(client, *args, chains_per_task=64,
                                                          **kw)).ravel()
                          for name, args, kw in _runs()])
cluster.close()
print(json.dumps({"levels": levels, "here": portable.current_level(),
                  "environ_kept": dict(os.environ) == before,
                  "equal": bool(np.array_equal(got, workload()))}))
"""


def test_a_portable_cluster_gives_a_local_portable_run():
    """A client in the portable mode (it computes between burn-in windows: the step sizes'
    exp, the pooled Σ) and a LocalCluster started by ``portable.local_cluster``: the
    workers run at the level, and the cluster's numbers are the local run's."""
    pytest.importorskip("distributed")
    got = _child(CLUSTER, portable.environment())
    assert got["levels"] == ["x86-64-v3"] and got["here"] == "x86-64-v3"
    assert got["environ_kept"] and got["equal"]
    from fastebm.dask import portable_environment
    assert portable_environment() == portable.environment()
