"""Saving built-in models to ``.npz`` files and loading them back, without pickle.

A loaded model is the saved one: same class, parameters and temperature, and the very
same energies (bitwise). A file is only arrays: NumPy reads it with
``allow_pickle=False``, and ``fe.load`` refuses, with a ValueError that says why, a file
that is not a model file, of a newer format, naming an unknown class, or holding arrays
the model's constructor refuses; opening a file never runs code from it.
"""
import io
import pathlib
import pickle

import numpy as np
import pytest

import fastebm as fe
from fastebm.energies.base import SAVE_FORMAT, SAVE_FORMAT_VERSION
from fastebm.results import equal

_COV = np.array([[1.0, 0.3], [0.3, 2.0]])
_W = np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]])


def _square(x):
    return 0.5 * np.sum(x * x)


MODELS = {
    "gaussian": lambda: fe.Gaussian([0.5, -1.0], covariance=_COV),
    "gaussian_diag_tempered": lambda: fe.Gaussian([0.0, 1.0], precision=[1.0, 4.0]).tempered(0.5),
    "gaussian_with_theta": lambda: fe.Gaussian([0.0, 0.0], precision=_COV).with_theta(
        [0.1, 0.2, 1.5, 0.1, 0.9]),
    "mixture_covariances": lambda: fe.GaussianMixture(
        [1.0, 2.0], [[0.0, 0.0], [2.0, 1.0]], np.stack([_COV, [[0.7, -0.2], [-0.2, 0.3]]])),
    "mixture_precisions_tempered": lambda: fe.GaussianMixture(
        [1.0, 0.5], [[0.0, 0.0], [1.0, -1.0]], precisions=[[1.0, 2.0], [3.0, 0.5]]).tempered(0.7),
    "bernoulli_rbm_tempered": lambda: fe.BernoulliRBM(_W, [0.1, 0.0, -0.1], [0.2, -0.3])
    .tempered(0.9),
    "gaussian_bernoulli_rbm": lambda: fe.GaussianBernoulliRBM(_W, [0.1, 0.0, -0.1], [0.2, -0.3],
                                                             [1.0, 0.5, 2.0]),
    "ising_dense": lambda: fe.Ising(np.array([[0, 0.5, -0.2], [0.5, 0, 0.1], [-0.2, 0.1, 0]]),
                                    [0.1, 0.0, -0.2]),
    "ising_lattice_tempered": lambda: fe.Ising.lattice(2, 3, 0.3, -0.1).tempered(1.5),
    "sum": lambda: fe.Gaussian([0.0, 1.0], covariance=_COV) + fe.GaussianMixture(
        [1.0, 1.0], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [2.0, 2.0]]).tempered(0.5),
    "nested_sum": lambda: (fe.Gaussian([0.0, 1.0], precision=[1.0, 2.0])
                           + fe.Gaussian([1.0, 0.0], covariance=_COV)
                           + fe.GaussianBernoulliRBM(_W[:2], [0.0, 0.1], [0.2, -0.3], 0.8)),
}


def _points(model, n=20):
    rng = np.random.default_rng(0)
    if isinstance(model, fe.Ising):
        return rng.choice([-1.0, 1.0], size=(n, model.dim))
    if isinstance(model, fe.BernoulliRBM):
        return rng.integers(0, 2, size=(n, model.dim)).astype(float)
    return 2.0 * rng.normal(size=(n, model.dim))


def _write(path, **entries):
    """An .npz file of ``entries`` (a tampered model file)."""
    with open(path, "wb") as file:
        np.savez(file, **entries)


def _entries(model):
    """The entries that ``model.save`` writes, as a dict of arrays."""
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_loaded_model_is_the_saved_one(name, tmp_path):
    model = MODELS[name]()
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fe.load(path)
    assert type(loaded) is type(model) and loaded is not model
    assert equal(loaded, model)
    np.testing.assert_array_equal(loaded.theta, model.theta)
    x = _points(model)
    np.testing.assert_array_equal(loaded.energy(x), model.energy(x))
    if not getattr(model, "is_discrete", False):
        np.testing.assert_array_equal(loaded.grad(x), model.grad(x))
    assert equal(fe.load(str(path)), model)  # a str path too


@pytest.mark.parametrize("name", list(MODELS))
def test_the_file_is_arrays_that_numpy_reads_without_pickle(name, tmp_path):
    model = MODELS[name]()
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as npz:
        entries = {key: npz[key] for key in npz.files}
    assert str(entries["format"]) == SAVE_FORMAT
    assert int(entries["format_version"]) == SAVE_FORMAT_VERSION
    assert str(entries["class"]) == type(model).__name__
    assert all(value.dtype != object for value in entries.values())
    if not isinstance(model, fe.SumEnergy):
        assert float(entries["beta"]) == model.beta


def test_a_fitted_rbm_is_shared_through_a_file(tmp_path):
    data = (np.random.default_rng(1).random((60, 6)) < 0.3).astype(float)
    start = fe.BernoulliRBM(0.01 * np.random.default_rng(2).normal(size=(6, 4)), np.zeros(6),
                            np.zeros(4))
    fitted = fe.fit(start, data, "pcd", n_epochs=3, batch_size=20, rng=0).model
    assert not equal(fitted, start)
    fitted.save(tmp_path / "rbm.npz")
    loaded = fe.load(tmp_path / "rbm.npz")
    assert isinstance(loaded, fe.BernoulliRBM) and equal(loaded, fitted)
    np.testing.assert_array_equal(loaded.free_energy(data), fitted.free_energy(data))
    assert loaded.log_partition() == fitted.log_partition()
    np.testing.assert_array_equal(fe.gibbs(loaded, data[:5], 3, rng=4).draws,
                                  fe.gibbs(fitted, data[:5], 3, rng=4).draws)


def test_paths_are_written_as_given_and_file_objects_work(tmp_path):
    model = MODELS["gaussian_bernoulli_rbm"]()
    model.save(tmp_path / "model")  # no .npz suffix added
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert equal(fe.load(tmp_path / "model"), model)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    assert equal(fe.load(buffer), model)


def test_user_energies_cannot_be_saved_and_say_to_pickle(tmp_path):
    custom = fe.energy(_square, dim=2)
    with pytest.raises(TypeError, match="pickle"):
        custom.save(tmp_path / "custom.npz")
    with pytest.raises(TypeError, match="pickle"):
        (fe.Gaussian([0.0, 0.0], precision=[1.0, 1.0]) + custom).save(tmp_path / "sum.npz")

    class MyGaussian(fe.Gaussian):
        pass
    with pytest.raises(TypeError, match="pickle"):
        MyGaussian([0.0], precision=[1.0]).save(tmp_path / "mine.npz")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


_RBM = fe.BernoulliRBM(_W, [0.1, 0.0, -0.1], [0.2, -0.3])


@pytest.mark.parametrize("change, message", [
    ({"b": np.zeros(2)}, "b must have shape"),
    ({"W": np.zeros((3, 2, 1))}, "W must have 2 dimension"),
    ({"W": np.full((3, 2), np.nan)}, "finite"),
    ({"W": np.array(["a", "b"])}, "numeric"),
    ({"beta": np.array([1.0, 2.0])}, "shape"),
    ({"beta": np.array(-1.0)}, "beta"),
    ({"class": np.array("os.system")}, "unknown model class 'os.system'"),
    ({"class": np.array(3)}, "string"),
    ({"format_version": np.array(SAVE_FORMAT_VERSION + 1)}, "newer fastebm"),
    ({"format_version": np.array(1.0)}, "format_version"),
    ({"format": np.array("something.else")}, "format"),
    ({"extra": np.zeros(3)}, "not the model's: \\['extra'\\]"),
])
def test_a_tampered_file_raises_a_clear_value_error(change, message, tmp_path):
    entries = {**_entries(_RBM), **change}
    _write(tmp_path / "bad.npz", **entries)
    with pytest.raises(ValueError, match=message):
        fe.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("missing", ["c", "beta", "class", "format", "format_version"])
def test_a_file_missing_an_entry_raises(missing, tmp_path):
    entries = _entries(_RBM)
    del entries[missing]
    _write(tmp_path / "bad.npz", **entries)
    with pytest.raises(ValueError, match="cannot load a model"):
        fe.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("name, change, message", [
    ("gaussian", {"precision": np.array([[1.0, 2.0], [2.0, 1.0]])}, "positive definite"),
    ("mixture_covariances", {"covariances": np.ones((2, 2, 3))}, "covariances must have shape"),
    ("ising_dense", {"J": np.array([[0, 1.0, 0], [0, 0, 0], [0, 0, 0]])}, "symmetric"),
    ("ising_lattice_tempered", {"lattice_shape": np.array([2.0, 3.0])}, "lattice_shape"),
    ("ising_lattice_tempered", {"lattice_shape": np.array([1, 3])}, "L"),
    ("sum", {"1/class": np.array("Unknown")}, "unknown model class"),
    ("sum", {"0/mean": np.zeros(3)}, "precision must have shape"),
    ("sum", {"0/mean": np.zeros(3), "0/precision": np.eye(3)}, "cannot add energies"),
])
def test_other_models_check_their_arrays(name, change, message, tmp_path):
    entries = {**_entries(MODELS[name]()), **change}
    _write(tmp_path / "bad.npz", **entries)
    with pytest.raises(ValueError, match=message):
        fe.load(tmp_path / "bad.npz")


class _Payload:
    """Unpickling this creates the file ``marker``: what a malicious pickle would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path(self.marker).touch, ()


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "ran"
    entries = {**_entries(_RBM), "W": np.array([_Payload(str(marker))], dtype=object)}
    _write(tmp_path / "object.npz", **entries)
    with pytest.raises(ValueError):
        fe.load(tmp_path / "object.npz")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ValueError):
        fe.load(tmp_path / "model.pkl")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz"):
        fe.load(tmp_path / "array.npy")
    assert not marker.exists()
    pickle.loads((tmp_path / "model.pkl").read_bytes())  # the control: it does run
    assert marker.exists()


def test_corrupt_oversized_and_huge_lattice_files_are_refused(tmp_path):
    good = tmp_path / "rbm.npz"
    fe.BernoulliRBM(np.zeros((4, 2)), np.zeros(4), np.zeros(2)).save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot load"):
        fe.load(truncated)
    with pytest.raises(ValueError, match="max_bytes"):
        fe.load(good, max_bytes=100)
    lattice = tmp_path / "lattice.npz"
    fe.Ising.lattice(4, 4, coupling=0.3).save(lattice)
    with np.load(lattice, allow_pickle=False) as f:
        entries = {name: f[name] for name in f.files}
    entries["lattice_shape"] = np.array([10**6, 10**6])
    np.savez(lattice, **entries)
    with pytest.raises(ValueError, match="lattice"):
        fe.load(lattice)
    assert fe.load(good).W.shape == (4, 2)  # the untampered file still loads
