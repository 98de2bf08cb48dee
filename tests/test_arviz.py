"""Tests of fastebm.to_arviz: the layout ArviZ expects (chain axis first), every value
carried over exactly, R-hat and ESS of arviz_stats equal to fastebm's, the fallback to
the older arviz's InferenceData, and clear errors."""
import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastebm as fe
from fastebm.results import LogZEstimate

azb = pytest.importorskip("arviz_base")
azs = pytest.importorskip("arviz_stats")

RTOL = 1e-10  # arviz_stats and fastebm.diagnostics differ only in summation order
N_DRAWS, N_CHAINS, D = 200, 4, 2
GAUSSIAN = fe.Gaussian(np.zeros(D), covariance=[[1.0, 0.6], [0.6, 2.0]])


def _import_arviz_plots():
    """arviz_plots (with Matplotlib drawing to files), or a skip."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    return pytest.importorskip("arviz_plots")


@pytest.fixture(scope="module")
def run():
    """A short MALA run from an overdispersed start: R-hat well above 1 in places, so
    that a chain/draw mix-up changes it."""
    x0 = np.random.default_rng(2026).normal(scale=4.0, size=(N_CHAINS, D))
    return fe.mala(GAUSSIAN, x0, 0.4, N_DRAWS, rng=11)


@pytest.fixture(scope="module")
def tree(run):
    return fe.to_arviz(run, energy=GAUSSIAN)


# ------------------------------------------------------------------------ MCMC layout


def test_importing_fastebm_imports_no_arviz():
    code = ("import sys, fastebm; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('arviz', 'arviz_base', 'arviz_stats', 'arviz_plots', 'xarray')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_posterior_is_the_draws_with_chain_axis_first(run, tree):
    x = tree["posterior"]["x"]
    assert x.dims == ("chain", "draw", "x_dim_0")
    assert x.shape == (N_CHAINS, N_DRAWS, D)
    for c in range(N_CHAINS):  # chain c of ArviZ is column c of fastebm's draws
        np.testing.assert_array_equal(x.values[c], run.draws[:, c])
    np.testing.assert_array_equal(tree["posterior"]["chain"].values, np.arange(N_CHAINS))
    np.testing.assert_array_equal(tree["posterior"]["draw"].values, np.arange(N_DRAWS))
    np.testing.assert_array_equal(tree["posterior"]["x_dim_0"].values, np.arange(D))
    assert tree.attrs["inference_library"] == "fastebm"
    assert tree["posterior"].attrs["fastebm_result"] == "MCMCResult"


def test_sample_stats_per_chain_and_per_draw(run, tree):
    stats = tree["sample_stats"]
    for name in ("acceptance_rate", "n_divergent", "step_size"):
        assert stats[name].dims == ("chain",)
        np.testing.assert_array_equal(stats[name].values, getattr(run, name))
    assert stats["n_divergent"].dtype.kind == "i"
    assert stats["lp"].dims == ("chain", "draw")
    for c in range(N_CHAINS):
        np.testing.assert_array_equal(stats["lp"].values[c], -GAUSSIAN.energy(run.draws[:, c]))
    assert "energy" not in stats and "diverging" not in stats  # see to_arviz's Notes


def test_without_energy_there_is_no_lp(run):
    assert "lp" not in fe.to_arviz(run)["sample_stats"]


def test_single_chain_is_one_chain():
    single = fe.mala(GAUSSIAN, np.zeros(D), 0.4, 30, rng=3)
    tree = fe.to_arviz(single, energy=GAUSSIAN)
    assert tree["posterior"]["x"].shape == (1, 30, D)
    np.testing.assert_array_equal(tree["posterior"]["x"].values[0], single.draws)
    assert tree["sample_stats"]["acceptance_rate"].values.tolist() == [single.acceptance_rate]
    assert tree["sample_stats"]["step_size"].values.tolist() == [single.step_size]
    assert tree["sample_stats"]["lp"].shape == (1, 30)


def test_chain_coordinates_are_the_global_chain_indices():
    part = fe.mala(GAUSSIAN, np.zeros((2, D)), 0.4, 10, rng=3, first_chain=10)
    np.testing.assert_array_equal(fe.to_arviz(part)["posterior"]["chain"].values, [10, 11])


def test_var_name_dims_and_coords(run):
    tree = fe.to_arviz(run, var_name="theta", dims=["coordinate"],
                       coords={"coordinate": ["a", "b"], "chain": [5, 6, 7, 8]})
    theta = tree["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "coordinate")
    assert theta["coordinate"].values.tolist() == ["a", "b"]
    assert tree["sample_stats"]["chain"].values.tolist() == [5, 6, 7, 8]
    assert fe.to_arviz(run, dims="coordinate")["posterior"]["x"].dims[-1] == "coordinate"


def test_gibbs_run():
    ising = fe.Ising.lattice(4, 4, coupling=0.3)
    spins = np.where(np.random.default_rng(1).random((3, 16)) < 0.5, -1.0, 1.0)
    result = fe.gibbs(ising, spins, 20, rng=2)
    tree = fe.to_arviz(result, energy=ising, var_name="s", dims="site")
    assert tree["posterior"]["s"].dims == ("chain", "draw", "site")
    np.testing.assert_array_equal(tree["posterior"]["s"].values, np.swapaxes(result.draws, 0, 1))
    assert "step_size" not in tree["sample_stats"]  # Gibbs has none
    np.testing.assert_array_equal(tree["sample_stats"]["acceptance_rate"].values, 1.0)
    np.testing.assert_array_equal(tree["sample_stats"]["lp"].values[1],
                                  -ising.energy(result.draws[:, 1]))


def test_diverged_ula_draws_get_nan_lp():
    far = np.array([[0.0, 0.0], [1e3, 1e3]])
    result = fe.langevin(GAUSSIAN, far, 5.0, 20, rng=4)  # h far above stability: diverges
    assert result.n_divergent[1] >= 1 and np.isnan(result.draws[:, 1]).any()
    lp = fe.to_arviz(result, energy=GAUSSIAN)["sample_stats"]["lp"].values
    finite = np.isfinite(np.swapaxes(result.draws, 0, 1)).all(axis=-1)
    np.testing.assert_array_equal(np.isnan(lp), ~finite)


# ------------------------------------------------------------- weighted results layout


def test_importance_sample():
    proposal = fe.proposals.Gaussian(np.zeros(D), 3.0 * np.eye(D))
    result = fe.importance_sample(GAUSSIAN, proposal, 300, rng=5)
    tree = fe.to_arviz(result)
    assert set(tree.children) == {"proposal", "sample_stats"}
    assert tree["proposal"]["x"].shape == (1, 300, D)
    np.testing.assert_array_equal(tree["proposal"]["x"].values[0], result.draws)
    log_w = tree["sample_stats"]["log_weights"]
    assert log_w.dims == ("chain", "draw")
    np.testing.assert_array_equal(log_w.values[0], result.log_weights)
    attrs = tree["sample_stats"].attrs
    assert (attrs["log_z"], attrs["log_z_stderr"], attrs["weights_ess"]) == (
        result.log_z, result.stderr, result.ess)


def test_importance_resample_puts_the_resampled_draws_in_posterior():
    proposal = fe.proposals.Gaussian(np.zeros(D), 3.0 * np.eye(D))
    result = fe.importance_resample(GAUSSIAN, proposal, 300, n_out=50, rng=5)
    tree = fe.to_arviz(result)
    assert tree["posterior"]["x"].shape == (1, 50, D)
    np.testing.assert_array_equal(tree["posterior"]["x"].values[0], result.resampled)
    assert tree["proposal"]["x"].shape == (1, 300, D)


def test_ais_estimate():
    base = fe.proposals.Gaussian(np.zeros(D), 3.0 * np.eye(D))
    result = fe.ais(GAUSSIAN, base, 40, 6, step_size=0.3, rng=6)
    tree = fe.to_arviz(result)
    assert set(tree.children) == {"sample_stats"}
    stats = tree["sample_stats"]
    np.testing.assert_array_equal(stats["log_weights"].values, result.log_weights[None])
    np.testing.assert_array_equal(stats["acceptance_rate"].values, result.acceptance_rate[None])
    np.testing.assert_array_equal(stats["n_divergent"].values, result.n_divergent[None])
    assert stats["temperatures"].dims == ("temperature",)
    np.testing.assert_array_equal(stats["temperatures"].values, result.temperatures)
    np.testing.assert_array_equal(stats["step_size"].values, result.step_size)
    assert (stats.attrs["method"], stats.attrs["bound"], stats.attrs["biased"]) == (
        "ais", "lower", 0)
    assert stats.attrs["log_z"] == result.log_z
    # ArviZ reads the weights: Pareto k̂ of the log weights over (chain, draw)
    assert np.isfinite(float(stats["log_weights"].azstats.pareto_khat()))


# ------------------------------------------------------------ agreement with arviz_stats


def _agrees_with_fastebm(tree, draws):
    """Whether arviz_stats' R-hat and bulk ESS of the tree equal fe.rhat / fe.ess of
    ``draws`` (n_draws, n_chains, d) to RTOL."""
    table = azs.summary(tree, kind="diagnostics", round_to="none")
    return (np.allclose(table["r_hat"].values, fe.rhat(draws), rtol=RTOL, atol=0)
            and np.allclose(table["ess_bulk"].values, fe.ess(draws), rtol=RTOL, atol=0))


def test_summary_rhat_and_ess_equal_fastebm(run, tree):
    table = azs.summary(tree, kind="diagnostics", round_to="none")
    np.testing.assert_allclose(table["r_hat"].values, fe.rhat(run.draws), rtol=RTOL, atol=0)
    np.testing.assert_allclose(table["ess_bulk"].values, fe.ess(run.draws), rtol=RTOL, atol=0)
    assert fe.rhat(run.draws).max() > 1.01  # a start R-hat must see (for the control below)
    assert _agrees_with_fastebm(tree, run.draws)


def test_rhat_and_ess_functions_equal_fastebm(run, tree):
    np.testing.assert_allclose(azs.rhat(tree)["x"].values, fe.rhat(run.draws),
                               rtol=RTOL, atol=0)
    np.testing.assert_allclose(azs.ess(tree, method="bulk")["x"].values, fe.ess(run.draws),
                               rtol=RTOL, atol=0)


def test_negative_control_chain_and_draw_swapped(run):
    """A converter that forgot to swap fastebm's (draw, chain) axes would hand ArviZ
    the draws transposed: the comparison must catch it."""
    transposed = dataclasses.replace(run, draws=np.swapaxes(run.draws, 0, 1).copy())
    assert not _agrees_with_fastebm(fe.to_arviz(transposed), run.draws)


def test_plots_from_a_run(tree):
    azp = _import_arviz_plots()
    import matplotlib.pyplot as plt
    for plot in (azp.plot_trace(tree, backend="matplotlib"),
                 azp.plot_rank(tree, backend="matplotlib"),
                 azp.plot_trace(tree, group="sample_stats", var_names=["lp"],
                                backend="matplotlib")):
        assert plot.viz["plot"] is not None
    plt.close("all")


# ---------------------------------------------------------------- older arviz, no arviz


def test_falls_back_to_inference_data(monkeypatch, run):
    monkeypatch.setitem(sys.modules, "arviz_base", None)  # as if ArviZ 1.x were absent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the older arviz announces its refactor
        az = pytest.importorskip("arviz")
    idata = fe.to_arviz(run, energy=GAUSSIAN)
    assert isinstance(idata, az.InferenceData)
    assert idata.posterior["x"].dims == ("chain", "draw", "x_dim_0")
    np.testing.assert_array_equal(idata.posterior["x"].values, np.swapaxes(run.draws, 0, 1))
    np.testing.assert_array_equal(idata.sample_stats["acceptance_rate"].values,
                                  run.acceptance_rate)
    assert idata.sample_stats["lp"].dims == ("chain", "draw")
    proposal = fe.proposals.Gaussian(np.zeros(D), 3.0 * np.eye(D))
    weights = fe.to_arviz(fe.importance_sample(GAUSSIAN, proposal, 50, rng=5))
    assert set(weights.groups()) == {"proposal", "sample_stats"}


def test_without_arviz_the_error_names_the_extra(monkeypatch, run):
    monkeypatch.setitem(sys.modules, "arviz_base", None)
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(ImportError, match=r'pip install "fastebm\[arviz\]"'):
        fe.to_arviz(run)


# ----------------------------------------------------------------------- bad input


def test_bad_input(run):
    exact = fe.log_partition(GAUSSIAN)
    moments = fe.mala(GAUSSIAN, np.zeros((2, D)), 0.4, 10, keep="moments", rng=3)
    proposal = fe.proposals.Gaussian(np.zeros(D), 3.0 * np.eye(D))
    weighted = fe.importance_sample(GAUSSIAN, proposal, 20, rng=5)
    with pytest.raises(TypeError, match="result must be"):
        fe.to_arviz(run.draws)
    with pytest.raises(ValueError, match='keep="moments"'):
        fe.to_arviz(moments)
    with pytest.raises(ValueError, match="no log weights"):
        fe.to_arviz(exact)
    with pytest.raises(TypeError, match="energy must be a fastebm Energy"):
        fe.to_arviz(run, energy=lambda x: 0.0)
    with pytest.raises(ValueError, match="dimension 3"):
        fe.to_arviz(run, energy=fe.Gaussian(np.zeros(3), np.eye(3)))
    with pytest.raises(ValueError, match="MCMC results only"):
        fe.to_arviz(weighted, energy=GAUSSIAN)
    with pytest.raises(TypeError, match="var_name"):
        fe.to_arviz(run, var_name=3)
    with pytest.raises(ValueError, match="var_name must differ"):
        fe.to_arviz(run, var_name="draw")
    with pytest.raises(ValueError, match="dims"):
        fe.to_arviz(run, dims=["a", "b"])
    with pytest.raises(ValueError, match="dims must differ"):
        fe.to_arviz(run, dims="chain")
    with pytest.raises(ValueError, match="no draws"):
        fe.to_arviz(LogZEstimate(0.0, 0.1, np.zeros(3), 3.0, "ais", "lower"), dims="a")
    with pytest.raises(ValueError, match="not an axis"):
        fe.to_arviz(run, coords={"chian": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match="length 4"):
        fe.to_arviz(run, coords={"chain": [0, 1]})
    with pytest.raises(TypeError, match="coords must be a mapping"):
        fe.to_arviz(run, coords=[0, 1])
    resampled = fe.importance_resample(GAUSSIAN, proposal, 20, n_out=5, rng=5)
    with pytest.raises(ValueError, match="differs between groups"):
        fe.to_arviz(resampled, coords={"draw": np.arange(20)})
