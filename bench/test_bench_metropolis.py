"""Random-walk Metropolis on the 2-d banana, 1000 chains: log-density evaluations/s.

fastebm runs the banana as a user energy (``fe.energy(fn, dim=2)`` of a plain Python
function; its specialised kernel is compiled by a warm-up call outside the timing)
against the vectorized NumPy random walk and, where installed, emcee (1000 walkers,
``vectorize=True``, both its default stretch move and its Gaussian random-walk move;
few steps, as it is slow). One evaluation per chain and step in all of them.
Issue target: ≥ 5e7 evals/s (NumPy about 1.7e7, emcee about 7.5e5; PERFORMANCE.md).
"""
import os

import numpy as np
import pytest

import fastebm as fe
import numpy_baselines as nb

N_CHAINS = 1000
STEPS = int(os.environ.get("FASTEBM_BENCH_RWM_STEPS", 10_000))
EMCEE_STEPS = 200
SCALE = 1.0
TARGET = 5e7
WORKLOAD = f"random-walk Metropolis, 2-d banana, {N_CHAINS} chains"


@pytest.fixture(scope="module")
def x0():
    return np.random.default_rng(7).standard_normal((N_CHAINS, 2))


@pytest.mark.parametrize("path", ["cached", "specialize"])
@pytest.mark.parametrize("keep", ["draws", "moments"])
def test_fastebm(benchmark, report, x0, keep, path):
    """``cached``: the default, the cached kernels calling the user's function through
    its address; ``specialize``: kernels compiled around it in each process (inlined)."""
    benchmark.group = WORKLOAD
    energy = fe.energy(nb.banana_point, dim=2, specialize=path == "specialize")
    fe.metropolis(energy, x0, 2, scale=SCALE, rng=0, keep=keep)  # compile outside the timing
    result = benchmark.pedantic(fe.metropolis, args=(energy, x0, STEPS),
                                kwargs={"scale": SCALE, "rng": 0, "keep": keep},
                                rounds=3, iterations=1)
    acceptance = float(np.mean(result.acceptance_rate))
    assert 0.1 < acceptance < 0.9, acceptance
    report(WORKLOAD, f"fastebm {path} keep={keep}, {STEPS} steps", N_CHAINS * STEPS, "evals/s",
           target=TARGET, acceptance=acceptance)


def test_numpy(benchmark, report, x0):
    benchmark.group = WORKLOAD

    def run():
        return nb.random_walk(nb.banana_energy, x0, SCALE, STEPS, np.random.default_rng(0))

    _, acceptance = benchmark.pedantic(run, rounds=3, iterations=1)
    report(WORKLOAD, f"NumPy vectorized, {STEPS} steps", N_CHAINS * STEPS, "evals/s",
           baseline=True, acceptance=float(np.mean(acceptance)))


@pytest.mark.parametrize("move", ["stretch", "gaussian"])
def test_emcee(benchmark, report, x0, move):
    emcee = pytest.importorskip("emcee")
    benchmark.group = WORKLOAD
    moves = None if move == "stretch" else emcee.moves.GaussianMove(SCALE ** 2)

    def log_prob(x):
        return -nb.banana_energy(x)

    def run():
        sampler = emcee.EnsembleSampler(N_CHAINS, 2, log_prob, vectorize=True, moves=moves)
        sampler.random_state = np.random.RandomState(0).get_state()
        sampler.run_mcmc(x0, EMCEE_STEPS)
        return sampler

    sampler = benchmark.pedantic(run, rounds=3, iterations=1)
    report(WORKLOAD, f"emcee {move} move, {EMCEE_STEPS} steps", N_CHAINS * EMCEE_STEPS,
           "evals/s", acceptance=float(np.mean(sampler.acceptance_fraction)))
