"""log Z of an energy, by the method of your choice: one call, one result type.

    fe.log_partition(E, method="exact" | "is" | "ais" | "reverse_ais", **options)

- ``"exact"``: ``E.log_partition()`` where the energy knows it in closed form (or by
  enumeration); stderr 0.
- ``"is"``: importance sampling from a proposal (seed 002, eq. 7), options ``proposal``,
  ``n``, ``rng``; good when q is close to p ∝ exp(-E) in low dimension.
- ``"ais"``: annealed importance sampling (:func:`fastebm.ais`), options as there; the
  method of choice when no single proposal overlaps p (high dimension, several modes).
- ``"reverse_ais"``: :func:`fastebm.reverse_ais`, the stochastic upper bound from exact
  target draws.

Every method returns a :class:`fastebm.results.LogZEstimate` (``log_z``, ``stderr``,
``log_weights``, ``ess``, ``method``, ``bound``).
"""
from ..energies.base import Energy
from ..results import LogZEstimate
from ..samplers.importance import importance_sample
from .ais import ais, reverse_ais

METHODS = ("exact", "is", "ais", "reverse_ais")


def _exact(energy, **options):
    if options:
        raise TypeError(f'method="exact" takes no options, got {sorted(options)}')
    try:
        value = energy.log_partition()
    except ValueError as exc:
        raise ValueError(f'{exc}. For an estimate use method="is" (options proposal, n) '
                         'or method="ais" (options base, n_chains, n_temperatures, '
                         'step_size)') from None
    return LogZEstimate(float(value), 0.0, None, float("inf"), "exact", "exact")


def _importance(energy, proposal=None, n=None, *, rng=None):
    if proposal is None or n is None:
        raise TypeError('method="is" needs the options proposal= and n=')
    result = importance_sample(energy, proposal, n, rng=rng)
    return LogZEstimate(result.log_z, result.stderr, result.log_weights, result.ess, "is",
                        "lower")


_DISPATCH = {"exact": _exact, "is": _importance, "ais": ais, "reverse_ais": reverse_ais}


def log_partition(energy, method="exact", **options):
    """log Z = log ∫ exp(-E(x)) dx, exactly or estimated with its standard error.

    Parameters
    ----------
    energy : Energy
    method : {"exact", "is", "ais", "reverse_ais"}, default "exact"
        "exact" needs a closed form (raises ValueError otherwise, naming the estimators);
        "is" takes ``proposal``, ``n``, ``rng`` (see :func:`fastebm.importance_sample`);
        "ais" takes the arguments of :func:`fastebm.ais` after the energy (``base``,
        ``n_chains``, ``n_temperatures``, ``step_size``, ...); "reverse_ais" those of
        :func:`fastebm.reverse_ais` (``base``, ``x_target``, ...).
    **options
        Passed to the method.

    Returns
    -------
    LogZEstimate
        ``log_z`` and ``stderr`` (0 for exact); ``log_weights``, ``ess`` (Kish, inf for
        exact); ``bound``: "exact", "lower" (IS and AIS: E log Ẑ ≤ log Z by Jensen) or
        "upper" (reverse AIS).

    Notes
    -----
    IS: Ẑ = (1/n) Σ exp(-E(yᵢ))/q(yᵢ), yᵢ ~ q (seed 002, eq. 7), se(log Ẑ) =
    sd(w)/(√n mean(w)). AIS: Neal (2001). Both Ẑ are unbiased for Z, so log Ẑ is biased
    low; see docs/estimators/partition_functions.md for which to use when.

    Examples
    --------
    >>> import fastebm as fe
    >>> E = fe.Gaussian([0.0], covariance=[4.0])
    >>> round(fe.log_partition(E).log_z, 6)
    1.612086
    """
    if not isinstance(method, str) or method not in _DISPATCH:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    return _DISPATCH[method](energy, **options)
