"""Models to and from ``.npz`` files, without pickle: safe to share and to open.

    model.save("rbm.npz")            # a built-in model: arrays only
    model = fastebm.load("rbm.npz")

An ``.npz`` file holds arrays and nothing that runs: ``load`` reads it with
``np.load(path, allow_pickle=False)``, checks its ``format`` and ``format_version``,
finds the model's class by its stored name in a fixed table of the built-in models
(a name is never imported or evaluated), and rebuilds the model through its
constructor, which checks every array (shapes, symmetry, positivity). A loaded model
computes exactly what the saved one did. User energies hold Python functions, which
arrays cannot: pickle them (``cloudpickle`` for functions defined in a script).
"""
import os
import zipfile

import numpy as np

from .energies import (BernoulliRBM, Gaussian, GaussianBernoulliRBM, GaussianMixture, Ising,
                       SumEnergy)
from .energies.base import SAVE_FORMAT, SAVE_FORMAT_VERSION

_MODELS = {cls.__name__: cls for cls in
           (Gaussian, GaussianMixture, BernoulliRBM, GaussianBernoulliRBM, Ising)}
"""The classes a file may name (besides ``SumEnergy``, built from its two terms)."""


class _Entries:
    """The entries of one model in a file (those under ``prefix``), as its
    ``_from_saved`` reads them; every read is recorded in ``read`` (shared by the
    terms of a sum), so that entries nothing read are refused."""

    def __init__(self, arrays, prefix="", read=None):
        self._arrays, self._prefix = arrays, prefix
        self.read = set() if read is None else read

    def under(self, prefix):
        """The entries of a term of a sum, stored under ``prefix``."""
        return _Entries(self._arrays, self._prefix + prefix, self.read)

    def unread(self):
        """The names of the file's entries that nothing read, sorted."""
        return sorted(set(self._arrays) - self.read)

    def __contains__(self, name):
        return self._prefix + name in self._arrays

    def _get(self, name, kinds="biuf"):
        full = self._prefix + name
        if full not in self._arrays:
            raise ValueError(f"the entry {full!r} is missing")
        self.read.add(full)
        value = self._arrays[full]
        if value.dtype.kind not in kinds:
            what = "a string" if kinds == "U" else "numeric"
            raise ValueError(f"the entry {full!r} must be {what}, got dtype {value.dtype}")
        return value

    def array(self, name):
        """The entry ``name``: a numeric array (its constructor checks its shape)."""
        return self._get(name)

    def scalar(self, name):
        """The entry ``name`` as a float: a numeric array of shape ()."""
        value = self._get(name)
        if value.shape != ():
            raise ValueError(f"the entry {self._prefix + name!r} must be a number (shape ()), "
                             f"got shape {value.shape}")
        return float(value)

    def integers(self, name, shape):
        """The entry ``name``: integers of shape ``shape``, as an int (shape ()) or a
        tuple of ints."""
        value = self._get(name, "iu")
        if value.shape != shape:
            raise ValueError(f"the entry {self._prefix + name!r} must have shape {shape}, got "
                             f"{value.shape}")
        return int(value) if shape == () else tuple(value.tolist())

    def string(self, name):
        """The entry ``name``: a string (an array of shape () of dtype ``U``)."""
        value = self._get(name, "U")
        if value.shape != ():
            raise ValueError(f"the entry {self._prefix + name!r} must be one string, got "
                             f"shape {value.shape}")
        return str(value)


def _model(entries):
    """The model of ``entries``: its class from its ``class`` entry, looked up in
    ``_MODELS`` (a sum from its two terms), its arrays checked by its constructor."""
    name = entries.string("class")
    if name == "SumEnergy":
        return SumEnergy(_model(entries.under("0/")), _model(entries.under("1/")))
    if name not in _MODELS:
        raise ValueError(f"unknown model class {name!r}: a file can hold "
                         f"{', '.join(sorted(_MODELS))} or SumEnergy")
    try:
        return _MODELS[name]._from_saved(entries)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a valid {name}: {exc}") from None


MAX_LOAD_BYTES = 2**31
"""What ``load`` decompresses at most (all arrays together): a model file of a few KB
could otherwise decompress to gigabytes of zeros."""


def _archive(path, max_bytes):
    """{name: array} of the ``.npz`` file at ``path``, read without pickle, after its
    ``format`` entry and the decompressed size of its arrays are checked."""
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as file:  # closed even when the archive is corrupt
            return _archive(file, max_bytes)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"it is not a readable .npz archive ({exc})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("it is not an .npz archive")
    with loaded:
        if "format" not in loaded.files:
            raise ValueError(f"it has no format entry {SAVE_FORMAT!r}")
        size = sum(info.file_size for info in loaded.zip.infolist())
        if size > max_bytes:
            raise ValueError(f"its arrays decompress to {size} bytes, more than max_bytes="
                             f"{max_bytes}")
        try:
            return {name: loaded[name] for name in loaded.files}
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"an array in it is corrupt ({exc})") from None


def load(path, *, max_bytes=MAX_LOAD_BYTES):
    """Load a model written by ``model.save(path)``, reading arrays only (no pickle).

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        An ``.npz`` file written by :meth:`fastebm.Energy.save`.
    max_bytes : int, default 2**31
        The most the file's arrays may decompress to, and the most a lattice's spins
        may take (8 bytes a site): a larger file is refused before it is read.

    Returns
    -------
    Energy
        A ``Gaussian``, ``GaussianMixture``, ``BernoulliRBM``, ``GaussianBernoulliRBM``,
        ``Ising`` or ``SumEnergy`` of them, with the saved parameters and temperature.

    Raises
    ------
    ValueError
        When the file is not a fastebm model file (or is corrupt, or too large for
        ``max_bytes``), was written by a newer fastebm (a
        newer ``format_version``), names a class that is not a built-in model, or holds
        arrays that the model's constructor refuses (shapes, symmetry, positivity).

    Notes
    -----
    The file is read with ``np.load(path, allow_pickle=False)``, so opening a file from
    anyone runs no code of theirs; the class is looked up in a fixed table of the
    built-in models, never imported by its stored name.

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> rbm = fe.BernoulliRBM(np.zeros((4, 2)), np.zeros(4), np.zeros(2))
    >>> rbm.save("rbm.npz")  # doctest: +SKIP
    >>> fe.load("rbm.npz").W.shape  # doctest: +SKIP
    (4, 2)
    """
    try:
        arrays = _archive(path, max_bytes)
        for name, shape in arrays.items():  # a lattice's (L, M), a sum's terms' too
            if name.endswith("lattice_shape") and shape.dtype.kind in "iu" and \
                    8 * float(np.prod(shape.astype(float))) > max_bytes:
                raise ValueError(f"its lattice {tuple(shape.tolist())} is larger than "
                                 f"max_bytes={max_bytes} allows")
        entries = _Entries(arrays)
        if "format" not in entries or entries.string("format") != SAVE_FORMAT:
            raise ValueError(f"it has no format entry {SAVE_FORMAT!r}")
        version = entries.integers("format_version", ())
        if version > SAVE_FORMAT_VERSION:
            raise ValueError(f"it was written by a newer fastebm (format version {version}; "
                             f"this one reads up to {SAVE_FORMAT_VERSION}): upgrade fastebm "
                             "to load it")
        model = _model(entries)
        if entries.unread():
            raise ValueError(f"it holds entries that are not the model's: {entries.unread()}")
        return model
    except ValueError as exc:
        raise ValueError(f"cannot load a model from {path}: {exc}") from None
