"""Tables of the 128-layer ziggurat for the standard normal (Marsaglia & Tsang 2000).

With f(x) = exp(-x²/2), layer 0 is the base strip of width X[0] = V / f(R) (its part
beyond R stands for the tail), X[1] = R, and X[i+1] = f⁻¹(V / X[i] + f(X[i])) so that
every layer has area V; X[128] = 0. R is solved here (bisection) so that the top layer
closes exactly: V / X[127] + f(X[127]) = 1, with V = R f(R) + ∫_R^∞ f.
"""
import math

import numpy as np

N_LAYERS = 128


def _layers(r):
    """X[0..N] for tail start r, and the closure error of the top layer."""
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    xs = [v / f(r), r]
    for _ in range(1, N_LAYERS - 1):
        y = v / xs[-1] + f(xs[-1])
        if y >= 1.0:
            return xs, math.inf
        xs.append(math.sqrt(-2.0 * math.log(y)))
    return xs + [0.0], v / xs[-1] + f(xs[-1]) - 1.0


def _solve_r():
    lo, hi = 3.0, 4.0  # closure error is > 0 (or inf) for small r, < 0 for large r
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _layers(mid)[1] > 0.0:
            lo = mid
        else:
            hi = mid
    return hi


ZIG_R = _solve_r()
ZIG_X = np.array(_layers(ZIG_R)[0], dtype=np.float64)
ZIG_F = np.exp(-0.5 * ZIG_X * ZIG_X)
ZIG_RATIO = np.append(ZIG_X[1:] / ZIG_X[:-1], 0.0)
