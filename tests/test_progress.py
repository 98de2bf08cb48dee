"""Progress bars (``progress=True``) never change results, show what they promise, and are
turned off for a whole process by ``FASTEBM_PROGRESS=0``.

The bars run the kernels in blocks (``fastebm.progress.blocks``); the tests shrink the
blocks' target duration so that every run here is cut into many calls, and check that the
runner was indeed called many times (else a passing identity would prove nothing).
"""
import dataclasses

import numpy as np
import pytest

import fastebm as fe
import fastebm.progress as progress_module
from fastebm.backend import CPU

GAUSS = fe.Gaussian(np.array([0.5, -1.0]), np.array([[1.0, 0.3], [0.3, 0.5]]))
Q = fe.proposals.Gaussian(np.zeros(2), [4.0, 4.0])
RBM = fe.BernoulliRBM(np.random.default_rng(1).normal(size=(6, 4)) * 0.5, np.zeros(6),
                      np.zeros(4))
ISING = fe.Ising.lattice(4, 4, coupling=0.3)
X0 = np.random.default_rng(0).normal(size=(30, 2))
# exact draws of GAUSS (mean m, covariance C = L Lᵀ)
TARGET_DRAWS = (np.array([0.5, -1.0]) + np.random.default_rng(3).normal(size=(150, 2))
                @ np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 0.5]])).T)
V0 = (np.arange(30 * 6).reshape(30, 6) % 3 == 0).astype(float)
S0 = np.where(np.random.default_rng(2).random((30, 16)) < 0.5, -1.0, 1.0)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 20 µs, so that every run below takes many kernel calls."""
    monkeypatch.setattr(progress_module, "BLOCK_SECONDS", 2e-5)
    monkeypatch.delenv(progress_module.ENV_SWITCH, raising=False)


def _equal(a, b):
    """Field by field, arrays bitwise (NaN equal to NaN), nested records too."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for f in dataclasses.fields(a):
            _equal(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _equal(a[k], b[k])
    elif isinstance(a, (np.ndarray, float, np.floating)):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, fe.Energy):
        _equal(a.theta, b.theta)
    else:
        assert a == b


MCMC = {
    "mala": (fe.mala, (GAUSS, X0, 0.3, 300), dict(burn_in=100, adapt=True, rng=1)),
    "mala-diag-thin": (fe.mala, (GAUSS, X0, 0.3, 301),
                       dict(burn_in=150, adapt=True, precondition="diag", thin=3, rng=2)),
    "mala-moments": (fe.mala, (GAUSS, X0, 0.3, 300), dict(keep="moments", thin=7, rng=3)),
    "langevin": (fe.langevin, (GAUSS, X0, 0.1, 200), dict(burn_in=50, adapt=True, rng=4)),
    "random-walk": (fe.metropolis, (GAUSS, X0, 300),
                    dict(burn_in=100, adapt=True, precondition="dense", rng=5)),
    "independent": (fe.metropolis, (GAUSS, X0, 200), dict(proposal=Q, keep="moments", rng=6)),
    "ising-flips": (fe.metropolis, (ISING, S0, 100), dict(scan="random", thin=2, rng=7)),
    "rbm-gibbs": (fe.gibbs, (RBM, V0, 200), dict(burn_in=20, thin=3, rng=8)),
    "ising-gibbs": (fe.gibbs, (ISING, S0, 100), dict(keep="moments", rng=9)),
}


@pytest.mark.parametrize("name", MCMC)
def test_a_sampler_gives_the_same_result_with_a_bar(name, small_blocks, monkeypatch):
    f, args, kwargs = MCMC[name]
    expected = f(*args, **kwargs)
    calls = []
    for runner in ("LangevinRunner", "MetropolisRunner", "GibbsRunner", "IsingMetropolisRunner"):
        cls = getattr(CPU.runners, runner)
        original = cls.advance

        def counted(self, *a, _original=original, **k):
            calls.append(a[0])
            return _original(self, *a, **k)
        monkeypatch.setattr(cls, "advance", counted)
    got = f(*args, progress=True, **kwargs)
    assert len(calls) > 5, "the run was not cut into blocks: the identity proves nothing"
    _equal(got, expected)


def test_a_continued_run_with_a_bar_continues_the_same_streams(small_blocks):
    first = fe.mala(GAUSS, X0, 0.3, 50, burn_in=30, adapt=True, rng=11)
    expected = fe.mala(GAUSS, first.state, None, 80)
    _equal(fe.mala(GAUSS, first.state, None, 80, progress=True), expected)


def test_blocks_that_forget_the_kept_count_are_caught():
    """The negative control: running moments continued without the count of states they
    hold (``first`` = 0) differ from one call, so the identities above can fail."""
    def moments(split, first_of):
        runner = CPU.runners.MetropolisRunner(GAUSS, X0.copy(), (1, 2), 0, 0, target=0.234)
        scale = np.full(len(X0), 0.8)
        if not split:
            return runner.advance(60, scale, keep_moments=True)
        kept = runner.advance(20, scale, keep_moments=True)
        return runner.advance(40, scale, keep_moments=True, into=(kept, first_of(20)))

    whole = moments(False, None)
    right = moments(True, lambda n: n)
    wrong = moments(True, lambda n: 0)
    np.testing.assert_array_equal(right[0], whole[0])
    np.testing.assert_array_equal(right[1], whole[1])
    assert not np.array_equal(wrong[0], whole[0])


ESTIMATES = {
    "ais": (fe.ais, (GAUSS, Q, 200, 30), dict(step_size=0.4, rng=1)),
    "ais-adaptive": (fe.ais, (GAUSS, Q, 200), dict(rng=2)),
    "ais-rwm": (fe.ais, (GAUSS, Q, 150, 20), dict(transition="rwm", step_size=0.8, rng=3)),
    "reverse-ais": (fe.reverse_ais, (GAUSS, Q, TARGET_DRAWS, 25),
                    dict(step_size=0.4, rng=4)),
    "ais-rbm": (fe.ais, (RBM, None, 200, 50), dict(rng=5)),
    "importance": (fe.importance_sample, (GAUSS, Q, 3001), dict(rng=6)),
    "importance-resample": (fe.importance_resample, (GAUSS, Q, 2000), dict(n_out=500, rng=7)),
    "replicate-is": (fe.replicate, (fe.ImportanceEstimator(GAUSS, Q, 200), 50),
                     dict(rng=8, reference=0.0)),
    "replicate-callable": (fe.replicate, (lambda rng: fe.importance_sample(GAUSS, Q, 100,
                                                                            rng=rng), 30),
                           dict(rng=9)),
}


@pytest.mark.parametrize("name", ESTIMATES)
def test_an_estimator_gives_the_same_result_with_a_bar(name, small_blocks, capsys):
    f, args, kwargs = ESTIMATES[name]
    expected = f(*args, **kwargs)
    got = f(*args, progress=True, **kwargs)
    _equal(got, expected)
    assert "100%" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["pcd", "dsm"])
def test_fit_gives_the_same_model_with_a_bar(method, capsys, monkeypatch):
    monkeypatch.delenv(progress_module.ENV_SWITCH, raising=False)
    if method == "pcd":
        model, data = RBM, V0
    else:
        model, data = fe.Gaussian(np.zeros(2), np.eye(2)), TARGET_DRAWS
    expected = fe.fit(model, data, method, n_epochs=3, rng=3)
    got = fe.fit(model, data, method, n_epochs=3, rng=3, progress=True)
    _equal(got.model, expected.model)
    for name, values in expected.history.items():
        if name != "seconds":
            _equal(got.history[name], values)
    err = capsys.readouterr().err
    assert "3/3" in err and "epoch" in err


def test_the_bar_shows_the_acceptance_rate(capsys, monkeypatch):
    monkeypatch.delenv(progress_module.ENV_SWITCH, raising=False)
    result = fe.metropolis(GAUSS, X0, 200, scale=0.8, rng=1, progress=True)
    err = capsys.readouterr().err
    assert "metropolis" in err and "200/200" in err
    shown = float(err.rsplit("acceptance=", 1)[1][:5].rstrip("]"))
    assert shown == pytest.approx(result.acceptance_rate.mean(), abs=1e-3)


def test_the_environment_switch_turns_every_bar_off(capsys, monkeypatch):
    monkeypatch.setenv(progress_module.ENV_SWITCH, "0")
    fe.mala(GAUSS, X0, 0.3, 50, rng=1, progress=True)
    fe.importance_sample(GAUSS, Q, 500, rng=1, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(progress_module.ENV_SWITCH, "1")
    fe.mala(GAUSS, X0, 0.3, 50, rng=1, progress=True)
    assert "mala" in capsys.readouterr().err


def test_no_bar_without_progress(capsys, monkeypatch):
    monkeypatch.delenv(progress_module.ENV_SWITCH, raising=False)
    fe.mala(GAUSS, X0, 0.3, 50, rng=1)
    assert capsys.readouterr().err == ""


def test_progress_must_be_a_bool():
    with pytest.raises(TypeError, match="progress must be True or False"):
        fe.mala(GAUSS, X0, 0.3, 10, rng=1, progress="yes")


@pytest.mark.parametrize("total, multiple", [(1, 1), (97, 1), (1000, 7), (5, 10)])
def test_blocks_cover_the_run_in_multiples_of_the_thinning(total, multiple, monkeypatch):
    monkeypatch.delenv(progress_module.ENV_SWITCH, raising=False)
    with progress_module.Bar(True, total, "test") as bar:
        lengths = list(progress_module.blocks(total, bar, multiple, seconds=1e-9))
    assert sum(lengths) == total and all(n > 0 for n in lengths)
    assert all(n % multiple == 0 for n in lengths[:-1])
    assert list(progress_module.blocks(total, progress_module.NO_BAR, multiple)) == [total]
