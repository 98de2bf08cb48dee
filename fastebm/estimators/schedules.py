"""Annealing schedules 0 = β₀ < β₁ < … < β_K = 1 for annealed importance sampling.

Each fixed schedule is a function of the number of temperatures ``n`` (K + 1, both ends
included) returning an array of shape (n,):

- ``linear(n)``: equally spaced β;
- ``geometric(n, beta_min=1e-4)``: β₀ = 0, then n - 1 values log-spaced from
  ``beta_min`` to 1 (Neal 2001, sec. 6, for paths whose log weights change by a
  similar amount per decade of β);
- ``sigmoid(n, delta=4.0)``: the sigmoidal schedule of Grosse, Maddison &
  Salakhutdinov (2013), dense at both ends: β̃ₜ = σ(δ(2t/(n-1) - 1)), t = 0..n-1,
  rescaled so that β₀ = 0 and β_K = 1.

``next_temperature`` is the step of the ``"adaptive"`` schedule: the largest next β
whose incremental weights keep the conditional effective sample size (Zhou, Johansen
& Aston 2016, eq. 3.9) at a target fraction of the chains, found by Brent's method.
``check_schedule`` validates a user's array (TESTING.md: a schedule that does not
increase from 0 to 1 is a ValueError).

References
----------
Neal (2001), "Annealed importance sampling", Statistics and Computing 11, 125-139.
Grosse, Maddison & Salakhutdinov (2013), "Annealing between distributions by
averaging moments", NIPS.
Zhou, Johansen & Aston (2016), "Toward automatic model comparison: an adaptive
sequential Monte Carlo approach", JCGS 25(3).
"""
import numpy as np

from .._validation import as_float_array, int_at_least, positive_float

def linear(n):
    """n equally spaced temperatures from 0 to 1."""
    n = int_at_least(n, "n_temperatures", 2)
    return np.linspace(0.0, 1.0, n)


def geometric(n, beta_min=1e-4):
    """β₀ = 0 followed by n - 1 temperatures log-spaced from ``beta_min`` to 1."""
    n = int_at_least(n, "n_temperatures", 2)
    beta_min = positive_float(beta_min, "beta_min")
    if beta_min >= 1.0:
        raise ValueError(f"beta_min must be < 1, got {beta_min}")
    if n == 2:
        return np.array([0.0, 1.0])
    betas = np.concatenate([[0.0], np.geomspace(beta_min, 1.0, n - 1)])
    betas[-1] = 1.0
    return betas


def sigmoid(n, delta=4.0):
    """Sigmoidal schedule of Grosse et al. (2013): dense near β = 0 and β = 1."""
    n = int_at_least(n, "n_temperatures", 2)
    delta = positive_float(delta, "delta")
    s = 1.0 / (1.0 + np.exp(-delta * np.linspace(-1.0, 1.0, n)))
    betas = (s - s[0]) / (s[-1] - s[0])
    betas[0], betas[-1] = 0.0, 1.0
    return betas


FIXED = {"linear": linear, "geometric": geometric, "sigmoid": sigmoid}


def check_schedule(schedule):
    """A user schedule as a float64 array: 1-d, β₀ = 0, β_K = 1, strictly increasing."""
    betas = as_float_array(schedule, "schedule", ndim=1)
    if betas.size < 2 or betas[0] != 0.0 or betas[-1] != 1.0 or not np.all(np.diff(betas) > 0):
        raise ValueError("schedule must increase strictly from 0 to 1 (β₀ = 0 < β₁ < … < "
                         f"β_K = 1, at least two values); got {_preview(betas)}")
    return betas


def _preview(betas):
    if betas.size <= 6:
        return np.array2string(betas, precision=4)
    head = np.array2string(betas[:3], precision=4)[:-1]
    return f"{head} … {betas[-1]:.4g}] ({betas.size} values)"


def conditional_ess(log_weights, log_increments):
    """CESS/n = (Σ Wᵢ vᵢ)² / Σ Wᵢ vᵢ², W the normalized current weights and v the
    incremental weights (Zhou et al. 2016, eq. 3.9, divided by n); in (0, 1]."""
    w = np.exp(log_weights - np.max(log_weights))
    w /= w.sum()
    v = np.exp(log_increments - np.max(log_increments))
    return float(np.sum(w * v) ** 2 / np.sum(w * v * v))


def next_temperature(beta, log_weights, log_ratio, target):
    """The next β > ``beta`` of the adaptive schedule.

    Parameters
    ----------
    beta : float
        The current temperature, in [0, 1).
    log_weights : ndarray of shape (n,)
        The chains' current log weights.
    log_ratio : ndarray of shape (n,)
        -E(x) - log q(x) at the chains' states: the increment to β' is (β' - β)·log_ratio.
    target : float
        The conditional ESS fraction to keep, in (0, 1).

    Returns
    -------
    float
        1.0 if the whole remaining step keeps CESS/n ≥ target; else the β' with
        CESS/n = target (to about 1e-15 relative in β' - β).

    Notes
    -----
    The root of c(δ) = CESS(δ)/n - target is found by Brent's method (scipy's ``brentq``)
    on a bracket around the second-order guess δ₀ = √(-log(target) / Var_W(r)), from
    c(δ) ≈ exp(-δ² Var_W(r)) for small δ (r the log ratio, W the normalized weights):
    about 10 evaluations of c where a bisection to float precision took 60 (each an
    exp of n values; 60 of them were 55 % of an adaptive AIS run of 500 chains on a
    50-d Gaussian).
    """
    ok = np.isfinite(log_weights) & np.isfinite(log_ratio)
    if not np.any(ok):
        raise ValueError("every chain of the adaptive schedule's pilot has a zero weight")
    cess = _conditional_ess_of_step(log_weights[ok], log_ratio[ok])
    remaining = 1.0 - beta
    if cess(remaining) >= target:
        return 1.0
    step = _root(lambda delta: cess(delta) - target, remaining, cess.guess(target))
    return min(1.0, max(beta + step, np.nextafter(beta, 2.0)))


class _conditional_ess_of_step:
    """δ ↦ CESS/n of the increments δ·r under the normalized weights W (eq. 3.9 of Zhou
    et al. 2016, as ``conditional_ess``), with W computed once for all δ."""

    def __init__(self, log_weights, log_ratio):
        w = np.exp(log_weights - np.max(log_weights))
        self.w = w / w.sum()
        self.r = log_ratio - np.max(log_ratio)  # exp(δr) ≤ 1 for every δ ≥ 0

    def __call__(self, delta):
        v = np.exp(delta * self.r)
        wv, wv2 = self.w @ v, self.w @ (v * v)
        return float(wv * wv / wv2) if wv2 > 0.0 else 0.0  # all weight underflowed: 0

    def guess(self, target):
        """δ₀ = √(-log target / Var_W(r)), the root of exp(-δ² Var_W(r)) = target."""
        mean = self.w @ self.r
        var = float(self.w @ (self.r - mean) ** 2)
        return np.sqrt(-np.log(target) / var) if var > 0 else np.inf


def _root(f, hi_max, guess):
    """The root of the decreasing f on (0, hi_max], with f(0+) > 0 > f(hi_max): Brent's
    method on a bracket grown (or shrunk) from ``guess`` by factors of 4."""
    from scipy.optimize import brentq
    hi = min(guess, hi_max)
    if f(hi) > 0.0:
        lo = hi
        while f(hi) > 0.0:  # ends: f(hi_max) < 0
            lo, hi = hi, min(4.0 * hi, hi_max)
    else:
        lo = hi / 4.0
        while f(lo) <= 0.0:  # ends: f → 1 - target > 0 as δ → 0
            lo, hi = lo / 4.0, lo
    return brentq(f, lo, hi, xtol=1e-300, rtol=4.0 * np.finfo(float).eps)
