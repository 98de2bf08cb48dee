"""ArviZ conversion: ``to_arviz(result)`` turns a fastebm result into ArviZ's data format.

One function, for every result fastebm returns with draws or weights:

- ``MCMCResult`` (``mala``, ``langevin``, ``metropolis``, ``gibbs``): the draws in
  ``posterior``, the per-chain statistics (and, given the energy, the log density of
  every draw) in ``sample_stats``;
- ``ImportanceResult`` (``importance_sample``, ``importance_resample``): the proposal
  draws in ``proposal``, their log weights in ``sample_stats``, the resampled draws (an
  approximate sample of p) in ``posterior``;
- ``LogZEstimate`` of AIS, reverse AIS or importance sampling: the final log weights,
  one per chain or draw, in ``sample_stats``.

ArviZ puts the chain axis first, (chain, draw, ...), where fastebm's ``draws`` has the
draw axis first, (n_draws, n_chains, d): the conversion swaps them, so that
``arviz_stats.summary(to_arviz(result))`` reports the R-hat and bulk ESS that
``fastebm.rhat(result.draws)`` and ``fastebm.ess(result.draws)`` compute.

Which ArviZ: with ArviZ 1.x (``arviz-base``, ``arviz-stats``, ``arviz-plots``;
``pip install "fastebm[arviz]"``) the result is an ``xarray.DataTree``; where only the
older ``arviz`` (< 1) is installed, an ``arviz.InferenceData`` with the same groups,
variables, dimensions and coordinates. Neither is imported by ``import fastebm``.
"""
import datetime
from collections.abc import Mapping

import numpy as np

from .backend import to_numpy
from .energies.base import Energy
from .results import ImportanceResult, LogZEstimate, MCMCResult

INSTALL_HINT = 'pip install "fastebm[arviz]"'
SAMPLE_DIMS = ("chain", "draw")


def to_arviz(result, *, energy=None, var_name="x", dims=None, coords=None):
    """A fastebm result as ArviZ data: a ``DataTree`` (ArviZ 1.x) or ``InferenceData``.

    Parameters
    ----------
    result : MCMCResult, ImportanceResult or LogZEstimate
        An MCMC run kept with ``keep="draws"``, an importance-sampling result, or an
        AIS / reverse AIS / importance-sampling estimate of log Z (not an exact one).
    energy : Energy, optional
        MCMC results only: the energy E the chains sampled. When given, E is evaluated
        on every draw and ``sample_stats["lp"] = -E(x)`` is stored.
    var_name : str, default "x"
        The name of the draws' variable in ``posterior`` (and ``proposal``).
    dims : str or sequence of one str, optional
        The name of the draws' coordinate axis (of length d); default
        ``f"{var_name}_dim_0"``, ArviZ's own default name.
    coords : mapping of {str : array_like}, optional
        Coordinate values for ``"chain"``, ``"draw"``, the coordinate axis (e.g.
        ``{"x_dim_0": ["a", "b"]}``) or ``"temperature"``, each of the axis' length.
        Default: chains ``first_chain + [0, ..., n_chains - 1]`` (the global chain
        indices of the run, ``result.state.first_chain``), and 0, 1, ... elsewhere.

    Returns
    -------
    xarray.DataTree or arviz.InferenceData
        A ``DataTree`` where ``arviz-base`` is installed, else an ``InferenceData`` of
        the older ``arviz``, with these groups and variables (n_chains = 1 for a
        single-chain run, whose draws have shape (n_draws, d)):

        MCMCResult

        - ``posterior[var_name]`` of dims (chain, draw, dim) and shape
          (n_chains, n_draws, d): ``result.draws`` with its first two axes swapped.
        - ``sample_stats["acceptance_rate"]``, dims (chain,): each chain's acceptance
          rate over its kept steps (1 for Gibbs).
        - ``sample_stats["n_divergent"]``, dims (chain,), int: each chain's divergent
          proposals (or ULA divergences), counted over all steps, burn-in included.
        - ``sample_stats["step_size"]``, dims (chain,): each chain's step size or
          random-walk scale; absent for Gibbs, which has none.
        - ``sample_stats["lp"]``, dims (chain, draw), float64, with ``energy`` only:
          -E(x) of every draw, the log density up to the constant -log Z; NaN where a
          draw is not finite (a diverged ULA chain).

        ImportanceResult

        - ``proposal[var_name]``, dims (chain, draw, dim), shape (1, n, d): the draws
          yᵢ ~ q, as one chain of independent draws.
        - ``sample_stats["log_weights"]``, dims (chain, draw), shape (1, n): log wᵢ =
          -E(yᵢ) - log q(yᵢ), aligned with ``proposal``.
        - ``posterior[var_name]``, shape (1, n_out, d), only when the result holds
          resampled draws (``importance_resample``): an approximate sample of p.

        LogZEstimate

        - ``sample_stats["log_weights"]``, dims (chain, draw), shape (1, n): the final
          log weight of each AIS chain (draw i is AIS chain i) or importance draw.
        - ``sample_stats["acceptance_rate"]`` and ``["n_divergent"]``, dims (chain,
          draw), where the estimator records them (AIS): per AIS chain.
        - ``sample_stats["temperatures"]`` and ``["step_size"]``, dims (temperature,),
          where recorded: the schedule β₀ = 0 < … < β_K = 1 and the step used at each βₖ.

        Attributes: every group has ``inference_library = "fastebm"``, its version,
        ``fastebm_result`` (the result's class name) and ``created_at``. The
        ``sample_stats`` of an importance or AIS result also has ``log_z``,
        ``log_z_stderr`` and ``weights_ess`` (Kish's ESS of the weights), and that of a
        ``LogZEstimate`` its ``method``, ``bound`` and ``biased`` (0 or 1).

    Raises
    ------
    TypeError
        If ``result`` is not one of the results above, ``energy`` is not an
        :class:`~fastebm.Energy`, ``var_name`` or ``dims`` is not a string, or
        ``coords`` is not a mapping.
    ValueError
        If ``result`` holds no draws or weights (``keep="moments"``, an exact log Z);
        ``energy`` is given for a result that is not an MCMC run, or its dimension is
        not the draws'; a name is reused (``var_name`` "chain" or "draw"; ``dims``
        "chain", "draw" or ``var_name``) or ``dims`` names more than one axis; ``coords``
        names an axis the data does not have, or has the wrong length.
    ImportError
        If neither ``arviz-base`` nor ``arviz`` is installed; the message says
        ``pip install "fastebm[arviz]"``.

    See Also
    --------
    fastebm.rhat, fastebm.ess : the diagnostics ``arviz_stats.summary`` reproduces.

    Notes
    -----
    ArviZ's other conventional ``sample_stats`` variables are not stored, because
    fastebm's samplers do not record them: ``diverging`` is a per-draw flag (fastebm
    counts divergences per chain: ``n_divergent``), and ``energy`` is the Hamiltonian
    energy of HMC that ``arviz_stats.bfmi`` and ``arviz_plots.plot_energy`` read
    (fastebm's samplers have no momentum; the energy E of a draw is ``-lp``).

    Per-chain statistics keep the dims (chain,) rather than being repeated along the
    draws, so that sums such as ``sample_stats["n_divergent"].sum()`` are right. ArviZ
    functions applied to ``sample_stats`` as a whole expect (chain, draw) variables:
    select the per-draw ones, e.g.
    ``arviz_plots.plot_trace(dt, group="sample_stats", var_names=["lp"])``.

    The R-hat and ESS of ``arviz_stats.summary`` (``r_hat``, the rank-normalized
    split R-hat, and ``ess_bulk``) on ``posterior`` equal ``fastebm.rhat`` and
    ``fastebm.ess`` of ``result.draws`` up to rounding.

    Examples
    --------
    >>> import numpy as np, fastebm as fe
    >>> E = fe.Gaussian(np.zeros(2), np.eye(2))
    >>> run = fe.mala(E, np.zeros((4, 2)), 0.5, 200, rng=0)
    >>> dt = fe.to_arviz(run, energy=E)
    >>> dt["posterior"]["x"].dims
    ('chain', 'draw', 'x_dim_0')
    """
    var_name = _name(var_name, "var_name")
    if var_name in SAMPLE_DIMS:
        raise ValueError(f"var_name must differ from 'chain' and 'draw', got {var_name!r}")
    if energy is not None and not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm Energy, got {type(energy).__name__}")
    chain_origin = 0
    if isinstance(result, MCMCResult):
        groups = _mcmc_groups(result, energy, var_name, _draws_dim(dims, var_name))
        chain_origin = int(getattr(result.state, "first_chain", 0))
    elif not isinstance(result, (ImportanceResult, LogZEstimate)):
        raise TypeError("result must be an MCMCResult, ImportanceResult or LogZEstimate, "
                        f"got {type(result).__name__}")
    elif energy is not None:
        raise ValueError("energy= applies to MCMC results only (an importance or AIS "
                         "result's log weights already hold -E)")
    elif isinstance(result, ImportanceResult):
        groups = _importance_groups(result, var_name, _draws_dim(dims, var_name))
    elif dims is not None:
        raise ValueError("dims names the draws' coordinate axis; a LogZEstimate has no "
                         "draws")
    else:
        groups = _log_z_groups(result)
    coords = _checked_coords(groups, coords)
    return _assemble(groups, coords, chain_origin, _attrs(result))


# ------------------------------------------------------------------------ the groups
# A group is {variable name: (dims, array)} plus its attrs; coordinates are added last.


def _mcmc_groups(result, energy, var_name, draws_dim):
    """posterior (the draws) and sample_stats (per-chain statistics, lp)."""
    if result.draws is None:
        raise ValueError('result holds no draws (it was run with keep="moments"): run '
                         'the sampler with keep="draws" to convert it')
    draws = to_numpy(result.draws)
    x = np.swapaxes(draws[:, None] if draws.ndim == 2 else draws, 0, 1)
    stats = {"acceptance_rate": _per_chain(result.acceptance_rate),
             "n_divergent": _per_chain(result.n_divergent)}
    if result.step_size is not None and np.size(result.step_size) > 0:
        stats["step_size"] = _per_chain(result.step_size)
    if energy is not None:
        stats["lp"] = (SAMPLE_DIMS, -_energy_of(energy, x))
    return {"posterior": ({var_name: (SAMPLE_DIMS + (draws_dim,), x)}, {}),
            "sample_stats": (stats, {})}


def _importance_groups(result, var_name, draws_dim):
    """proposal (the draws of q), sample_stats (log weights), posterior (resampled)."""
    dims = SAMPLE_DIMS + (draws_dim,)
    groups = {"proposal": ({var_name: (dims, to_numpy(result.draws)[None])}, {}),
              "sample_stats": (
                  {"log_weights": (SAMPLE_DIMS, to_numpy(result.log_weights)[None])},
                  _weights_attrs(result))}
    if result.resampled is not None:
        groups["posterior"] = ({var_name: (dims, to_numpy(result.resampled)[None])}, {})
    return groups


def _log_z_groups(result):
    """sample_stats: the log weights, per-chain AIS statistics, the schedule."""
    if result.log_weights is None:
        raise ValueError(f"this LogZEstimate (method={result.method!r}) holds no log "
                         "weights to convert")
    stats = {"log_weights": (SAMPLE_DIMS, to_numpy(result.log_weights)[None])}
    for name in ("acceptance_rate", "n_divergent"):
        if getattr(result, name) is not None:
            stats[name] = (SAMPLE_DIMS, to_numpy(getattr(result, name))[None])
    for name in ("temperatures", "step_size"):
        if getattr(result, name) is not None:
            stats[name] = (("temperature",), to_numpy(getattr(result, name)))
    attrs = dict(_weights_attrs(result), method=result.method, bound=result.bound,
                 biased=int(result.biased))
    return {"sample_stats": (stats, attrs)}


def _per_chain(value):
    """A per-chain statistic (a scalar for a single chain) as ((chain,), array)."""
    return ("chain",), np.atleast_1d(to_numpy(value))


def _energy_of(energy, x):
    """E of every draw of x (chain, draw, d) → (chain, draw) float64, NaN where x is
    not finite."""
    dim = getattr(energy, "dim", None)
    if dim is not None and dim != x.shape[-1]:
        raise ValueError(f"energy has dimension {dim} but the draws have d = {x.shape[-1]}")
    flat = x.reshape(-1, x.shape[-1])
    finite = np.isfinite(flat).all(axis=1)
    values = np.full(flat.shape[0], np.nan)
    if finite.any():
        values[finite] = energy.energy(flat[finite])
    return values.reshape(x.shape[:2])


def _weights_attrs(result):
    return {"log_z": float(result.log_z), "log_z_stderr": float(result.stderr),
            "weights_ess": float(result.ess)}


def _attrs(result):
    from . import __version__
    return {"created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "inference_library": "fastebm", "inference_library_version": __version__,
            "fastebm_result": type(result).__name__}


# ---------------------------------------------------------------- names and coordinates


def _name(value, name):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _draws_dim(dims, var_name):
    """The name of the draws' coordinate axis from ``dims`` (str or [str])."""
    if dims is None:
        return f"{var_name}_dim_0"
    if not isinstance(dims, str):
        if isinstance(dims, Mapping) or not hasattr(dims, "__len__") or len(dims) != 1:
            raise ValueError("dims must be one name, or a sequence of one name, for the "
                             f"draws' coordinate axis (of length d), got {dims!r}")
        dims = dims[0]
    dim = _name(dims, "dims")
    if dim in SAMPLE_DIMS or dim == var_name:
        raise ValueError(f"dims must differ from 'chain', 'draw' and var_name "
                         f"({var_name!r}), got {dim!r}")
    return dim


def _axis_sizes(variables):
    """{dim: length} of one group's variables."""
    return {dim: size for dims, array in variables.values()
            for dim, size in zip(dims, np.shape(array))}


def _checked_coords(groups, coords):
    """The user's coordinates as arrays, each naming an axis of the data and of that
    axis' length in every group that has it."""
    if coords is None:
        return {}
    if not isinstance(coords, Mapping):
        raise TypeError(f"coords must be a mapping of dimension names to values, got "
                        f"{type(coords).__name__}")
    sizes = [_axis_sizes(variables) for variables, _ in groups.values()]
    axes = sorted(set().union(*sizes))
    checked = {}
    for dim, values in coords.items():
        if dim not in axes:
            raise ValueError(f"coords names {dim!r}, which is not an axis of the data "
                             f"(axes: {axes})")
        values = np.asarray(values)
        lengths = sorted({group_sizes[dim] for group_sizes in sizes if dim in group_sizes})
        if len(lengths) > 1:
            raise ValueError(f"coords cannot set {dim!r}: its length differs between "
                             f"groups ({lengths})")
        if values.ndim != 1 or values.shape[0] != lengths[0]:
            raise ValueError(f"coords[{dim!r}] must be 1-d of length {lengths[0]}, got "
                             f"shape {values.shape}")
        checked[dim] = values
    return checked


def _group_coords(variables, coords, chain_origin):
    """One group's coordinates: the user's, else the global chain indices (from the
    run's first chain) and 0, 1, ... along every other axis."""
    default = {dim: np.arange(size) for dim, size in _axis_sizes(variables).items()}
    if "chain" in default:
        default["chain"] = default["chain"] + chain_origin
    return {dim: coords.get(dim, values) for dim, values in default.items()}


# ------------------------------------------------------------------------- assembling


def _assemble(groups, coords, chain_origin, attrs):
    """The groups as a DataTree (arviz-base), or InferenceData (the older arviz)."""
    library = _arviz_library()
    import xarray as xr  # a dependency of both ArviZ generations
    datasets = {group: xr.Dataset({name: (dims, array)
                                   for name, (dims, array) in variables.items()},
                                  coords=_group_coords(variables, coords, chain_origin),
                                  attrs=dict(attrs, **group_attrs))
                for group, (variables, group_attrs) in groups.items()}
    if library == "arviz_base":
        tree = xr.DataTree.from_dict(datasets)
        tree.attrs = dict(attrs)
        return tree
    return library.InferenceData(attrs=dict(attrs), **datasets)


def _arviz_library():
    """"arviz_base" where ArviZ 1.x is installed, else the older ``arviz`` module."""
    try:
        import arviz_base  # noqa: F401
        return "arviz_base"
    except ImportError:
        pass
    try:
        import arviz
    except ImportError:
        raise ImportError(
            "fastebm.to_arviz needs ArviZ: install the extra with "
            f"`{INSTALL_HINT}` (arviz-base, arviz-stats, arviz-plots), or the older "
            "`pip install arviz`") from None
    return arviz
