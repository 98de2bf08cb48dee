"""The CUDA C generator (fastebm/_kernels/cuda/philox.cuh) against the Numba kernels.

No GPU is needed: the source is compiled for the device with ``nvcc --ptx`` (compiles
only), and the very same source is built as plain C++ with g++ into a shared library
whose numbers must equal, bit for bit, those of fastebm/_kernels/numba/philox.py.
g++ runs with -ffp-contract=off: a fused multiply-add in the wedge's
y = F[i] + v (F[i+1] - F[i]) would change its rounding (the header writes it with
__dmul_rn/__dadd_rn on the device, which nvcc never fuses). log and exp are glibc's on
both sides here; on a GPU they are CUDA's, which this host test cannot check.
"""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from fastebm._kernels.cuda.tables import philox_source
from fastebm._kernels.numba import philox as nb
from fastebm._kernels.ziggurat_tables import ZIG_F, ZIG_R, ZIG_X
from tests.test_rng import KAT

CXXFLAGS = ["-O2", "-std=c++17", "-ffp-contract=off", "-shared", "-fPIC"]
U32 = 0xFFFFFFFF

HARNESS = r"""
extern "C" {
void philox_host(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                 uint32_t k1, uint32_t *out)
{
    fastebm_words w = fastebm_philox(c0, c1, c2, c3, k0, k1);
    out[0] = w.w0; out[1] = w.w1; out[2] = w.w2; out[3] = w.w3;
}
void fill_normals_host(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                       uint32_t tag, uint32_t n, double *out)
{ fastebm_fill_normals(k0, k1, chain, step, tag, n, out); }
void fill_uniforms_host(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step,
                        uint32_t tag, uint32_t n, double *out)
{ fastebm_fill_uniforms(k0, k1, chain, step, tag, n, out); }
double uniform_host(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step, uint32_t tag,
                    uint32_t index)
{ return fastebm_uniform(k0, k1, chain, step, tag, index); }
double normal_host(uint32_t k0, uint32_t k1, uint32_t chain, uint32_t step, uint32_t tag,
                   uint32_t index)
{ return fastebm_normal(k0, k1, chain, step, tag, index); }
}
"""

KERNEL = r"""
extern "C" __global__ void normals(uint32_t k0, uint32_t k1, uint32_t step, uint32_t tag,
                                   uint32_t n_chains, uint32_t n, double *out)
{
    uint32_t chain = blockIdx.x * blockDim.x + threadIdx.x;
    if (chain < n_chains)
        fastebm_fill_normals(k0, k1, chain, step, tag, n, out + (uint64_t)chain * n);
}
"""

# (name, extra -D flags): the real generator and two deliberately wrong ones.
VARIANTS = {"good": [], "wrong_m0": ["-DFASTEBM_PHILOX_M0=0xD2511F55u"],
            "wrong_slow_flag": ["-DFASTEBM_SLOW_FLAG=0x40000000u"]}

KEYS = [(0, 0), (U32, U32), (2024, 11), (0xA4093822, 0x299F31D0)]
CHAINS = [0, 1, 12345, U32 - 1, U32]
STEPS = [0, 7, U32]
TAGS = [0, 3, 255]
CASES = [(k, c, s, t) for k in KEYS for c in CHAINS for s in STEPS for t in TAGS]
N = 1001  # odd: the last block gives one number


class Lib:
    def __init__(self, path):
        lib = ctypes.CDLL(str(path))
        u32, dbl = ctypes.c_uint32, ctypes.c_double
        ptr = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
        lib.philox_host.argtypes = [u32] * 6 + [np.ctypeslib.ndpointer(np.uint32)]
        for name in ("fill_normals_host", "fill_uniforms_host"):
            getattr(lib, name).argtypes = [u32] * 6 + [ptr]
        for name in ("uniform_host", "normal_host"):
            getattr(lib, name).argtypes = [u32] * 6
            getattr(lib, name).restype = dbl
        self.lib = lib

    def philox(self, c, k):
        out = np.empty(4, np.uint32)
        self.lib.philox_host(*c, *k, out)
        return tuple(int(w) for w in out)

    def normals(self, key, chain, step, tag, n=N):
        out = np.empty(n)
        self.lib.fill_normals_host(*key, chain, step, tag, n, out)
        return out

    def uniforms(self, key, chain, step, tag, n=N):
        out = np.empty(n)
        self.lib.fill_uniforms_host(*key, chain, step, tag, n, out)
        return out


@pytest.fixture(scope="session")
def libs(tmp_path_factory):
    """The harness built once per session, for every variant (compiled in parallel)."""
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ is not on PATH: cannot build the host harness")
    d = tmp_path_factory.mktemp("cuda_philox_host")
    src = d / "harness.cpp"
    src.write_text(philox_source() + HARNESS)
    procs = {name: subprocess.Popen([cxx, *CXXFLAGS, *flags, "-o", str(d / f"{name}.so"),
                                     str(src)], stderr=subprocess.PIPE, text=True)
             for name, flags in VARIANTS.items()}
    for name, p in procs.items():
        _, err = p.communicate()
        assert p.returncode == 0, f"g++ failed for {name}:\n{err}"
    return {name: Lib(d / f"{name}.so") for name in VARIANTS}


def _numba_normals(key, chain, step, tag, n=N):
    out = np.empty(n)
    nb.fill_normals(*key, chain, step, tag, out)
    return out


def _numba_uniforms(key, chain, step, tag, n=N):
    out = np.empty(n)
    nb.fill_uniforms(*key, chain, step, tag, out)
    return out


def _rejected(key, chain, step, tag, n=N):
    """Indices whose fast-path candidate the Numba kernel rejects (NaN after its fast pass)."""
    out = np.empty(n)
    nb._fast_pass(*key, chain, step, tag, out)
    return np.flatnonzero(np.isnan(out))


def _slow_kind(key, chain, step, tag, j):
    """'tail' for a rejected layer-0 candidate; for another layer 'wedge' when its first
    wedge test accepts, 'next' when it fails and the next candidate is looked at."""
    w = nb.philox4x32(j >> 1, step, chain, tag, *key)
    hi, lo = (w[2], w[3]) if j & 1 else (w[0], w[1])
    layer, _, u = nb._candidate(hi, lo)
    if layer == 0:
        return "tail"
    a = nb.philox4x32(j, step, chain, nb.SLOW_FLAG | (1 << 8) | tag, *key)
    x = u * ZIG_X[layer]
    y = ZIG_F[layer] + nb.words_to_uniform(a[0], a[1]) * (ZIG_F[layer + 1] - ZIG_F[layer])
    return "wedge" if y < np.exp(-0.5 * x * x) else "next"


def test_compiles_for_the_device_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH: cannot compile the CUDA source")
    src = tmp_path / "normals.cu"
    src.write_text(philox_source() + KERNEL)
    ptx = tmp_path / "normals.ptx"
    run = subprocess.run([nvcc, "--ptx", "-o", str(ptx), str(src)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    text = ptx.read_text()
    assert ".entry normals" in text
    # the wedge's multiply-add stays two correctly rounded operations (no contraction)
    assert "mul.rn.f64" in text and "add.rn.f64" in text
    assert "div.rn.f64" in text  # the tail's -log(u) / R is an IEEE division


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_known_answers(libs, counter, key, expected):
    assert libs["good"].philox(counter, key) == expected


def test_raw_words_equal_numba(libs):
    g = np.random.default_rng(6)
    edges = [0, 1, 0x7FFFFFFF, 0x80000000, U32 - 1, U32]
    words = np.concatenate([g.integers(0, 2**32, (300, 6)),
                            g.choice(edges, (300, 6))]).astype(np.uint64)
    for row in words:
        c, k = tuple(int(v) for v in row[:4]), tuple(int(v) for v in row[4:])
        assert libs["good"].philox(c, k) == tuple(int(w) for w in nb.philox4x32(*c, *k))


def test_uniforms_equal_numba_bitwise(libs):
    lib = libs["good"]
    for key, chain, step, tag in CASES:
        for n in (1, 2, N):
            np.testing.assert_array_equal(lib.uniforms(key, chain, step, tag, n),
                                          _numba_uniforms(key, chain, step, tag, n))
        for index in (0, 1, 2, 999, U32 - 1, U32):
            assert lib.lib.uniform_host(*key, chain, step, tag, index) == \
                nb.uniform(*key, chain, step, tag, index)


def test_normals_equal_numba_bitwise_slow_path_included(libs):
    lib = libs["good"]
    kinds = {"tail": 0, "wedge": 0, "next": 0}
    n_tail_values = 0
    for key, chain, step, tag in CASES:
        ref = _numba_normals(key, chain, step, tag)
        got = lib.normals(key, chain, step, tag)
        assert np.array_equal(got.view(np.uint64), ref.view(np.uint64)), (key, chain, step, tag)
        rejected = _rejected(key, chain, step, tag)
        for j in rejected:
            kinds[_slow_kind(key, chain, step, tag, int(j))] += 1
        n_tail_values += int(np.sum(np.abs(ref) > ZIG_R))
        for j in list(rejected[:3]) + [0, N - 1]:  # the single-number entry point too
            assert lib.lib.normal_host(*key, chain, step, tag, int(j)) == ref[j]
    # the comparison covered every branch of the slow path (counted on the Numba side)
    assert kinds["tail"] > 20 and kinds["wedge"] > 100 and kinds["next"] > 100, kinds
    assert n_tail_values > 10


def test_wrong_round_constant_fails(libs):
    """Negative control: M0 off by 2 breaks the known answers and every stream."""
    bad = libs["wrong_m0"]
    assert all(bad.philox(c, k) != e for c, k, e in KAT)
    key, chain, step, tag = CASES[7]
    assert not np.any(bad.uniforms(key, chain, step, tag) == _numba_uniforms(key, chain, step, tag))
    assert not np.array_equal(bad.normals(key, chain, step, tag),
                              _numba_normals(key, chain, step, tag))


def test_wrong_slow_counter_fails_only_in_the_slow_path(libs):
    """Negative control: another SLOW_FLAG leaves the fast path alone, so the normal
    comparison fails exactly at the rejected candidates: it does see the slow path."""
    bad = libs["wrong_slow_flag"]
    for key, chain, step, tag in CASES[:12]:
        ref = _numba_normals(key, chain, step, tag)
        differ = np.flatnonzero(bad.normals(key, chain, step, tag) != ref)
        rejected = _rejected(key, chain, step, tag)
        assert len(rejected) > 0 and set(differ) <= set(rejected)
        assert len(differ) >= len(rejected) // 2, (len(differ), len(rejected))
