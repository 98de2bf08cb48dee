#!/usr/bin/env bash
# The one device script (docs/gpu.md): on a machine with a CUDA GPU and CuPy, run the GPU
# tests, then the GPU benchmarks, and write one report. Under 5 minutes on an H200.
#   bash bench/gpu/device_check.sh [OUT_DIR]
# Each part runs even if an earlier one failed; the exit status is the tests'.
set -u
out=${1:-${OUT:-gpu_check}}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/fastebm-numba-cache}
py=${PYTHON:-python3}
{
  echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import cupy, numpy, numba; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)"
  echo "== smoke: one MALA and one random-walk run through NVRTC-compiled kernels"
  $py - <<'PY'
import cupy as cp, numpy as np, fastebm as fe
E = fe.Gaussian(np.zeros(3), np.array([2.0, 1.0, 0.5]))
r = fe.mala(E, cp.zeros((1000, 3)), 0.3, 200, burn_in=100, adapt=True, rng=0)
print("mala diag", type(r.draws).__name__, float(r.acceptance_rate.mean()), r.draws.var(axis=(0, 1)))
E = fe.Gaussian(np.zeros(3), np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]]))
r = fe.metropolis(E, cp.zeros((1000, 3)), 200, burn_in=100, adapt=True, rng=0)
print("rwm dense", float(r.acceptance_rate.mean()), r.draws.mean(axis=(0, 1)))
r = fe.mala(E, cp.zeros((1000, 3), dtype=cp.float32), 0.3, 200, burn_in=100, adapt=True, rng=0)
print("mala dense float32", r.draws.dtype, float(r.acceptance_rate.mean()), r.draws.var(axis=(0, 1)))
PY
} 2>&1 | tee "$out/smoke.log"
echo "== GPU tests (device and host emulation of the GPU path)"
$py -m pytest -q -p no:cacheprovider -p no:logging -W default -n 8 tests/gpu -k "device or sources or backend" \
    --junitxml="$out/tests.xml" 2>&1 | tee "$out/tests.log"
status=${PIPESTATUS[0]}
echo "== GPU benchmarks"
$py bench/gpu/bench_gpu.py --out "$out/gpu_report" 2>&1 | tee "$out/bench.log"
echo "tests exit status: $status"
exit "$status"
