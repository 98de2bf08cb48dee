"""A streaming log-sum-exp, for enumerations too long to hold their terms.

``push(top, total, value)`` folds exp(value) into a running pair with
log Σ exp = top + log(total); ``combine(tops, totals)`` merges the pairs of parallel
chunks. Nothing overflows: every exponent is ≤ 0.
"""
import numpy as np

from ._jit import helper


@helper(inline=True)
def push(top, total, value):
    """The running (top, total) after adding exp(value)."""
    if value > top:
        return value, total * np.exp(top - value) + 1.0
    return top, total + np.exp(value - top)


@helper()
def combine(tops, totals):
    """log Σ_c totals[c] · exp(tops[c])."""
    top = tops.max()
    return top + np.log(np.sum(totals * np.exp(tops - top)))
