"""The warnings fastebm raises about a run whose numbers should not be trusted as they are.

Each is a ``UserWarning`` subclass, so a script can turn one into an error
(``warnings.simplefilter("error", fe.LowAcceptanceWarning)``) or silence it.
"""
import warnings

import numpy as np

LOW_ACCEPTANCE = 0.01
MIN_PROPOSALS = 1000  # below, an acceptance under 1 % can be chance (0 of 50, say)
LOW_ESS_FRACTION = 0.01


class LowAcceptanceWarning(UserWarning):
    """A Metropolis-adjusted sampler (MALA, the random walk, an independent proposal)
    accepted under 1 % of its proposals after burn-in, averaged over chains, in a run of
    at least 1000 proposals (chains × steps; fewer say little): its chains
    barely move, so its draws are nearly the start repeated. The step (or scale) is too
    large, or the proposal misses the target: adapt it (``adapt=True`` with burn-in), or
    give a smaller one."""


class LowESSWarning(UserWarning):
    """Importance weights whose effective sample size (Σw)²/Σw² is under 1 % of their
    number: a few draws carry the estimate, and its standard error is not to be trusted.
    The proposal misses the target (too narrow, or off-center)."""


def check_acceptance(acceptance, n_steps, what, stacklevel=4):
    """Warn when the mean acceptance over chains is under ``LOW_ACCEPTANCE`` in a run of
    at least ``MIN_PROPOSALS`` proposals (chains × kept steps)."""
    if np.size(acceptance) * n_steps < MIN_PROPOSALS:
        return
    mean = float(np.mean(acceptance))
    if mean < LOW_ACCEPTANCE:
        warnings.warn(f"{what} accepted {100 * mean:.2g} % of its proposals after burn-in: the "
                      "chains barely move. Use a smaller step_size (scale), or adapt=True "
                      "with burn_in", LowAcceptanceWarning, stacklevel=stacklevel)


def check_ess(ess, n, what, stacklevel=4):
    """Warn when the weights' ESS is under ``LOW_ESS_FRACTION`` of their number n."""
    if ess < LOW_ESS_FRACTION * n:
        warnings.warn(f"{what}: the importance weights' effective sample size is {ess:.3g} of "
                      f"{n} draws: a few draws carry the estimate and its standard error. The "
                      "proposal misses the target (too narrow or off-center)",
                      LowESSWarning, stacklevel=stacklevel)
