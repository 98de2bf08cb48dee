"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010, 2012; seeds 001, 004).

Fit an unnormalized model by logistic regression of data against noise draws from a
known density q: with the model log p_m(x) = −E_θ(x) − c (c a learned log-normalizer)
and ν noise draws per data point, the classifier's logit is

    G(u) = −E_θ(u) − c − log q(u) − log ν,      h(u) = σ(G(u)),

and the loss (per data point) is J = −[mean_data log h(x) + ν mean_noise log(1 − h(y))].
Its gradients are ∇_θJ = mean_data (1−h)∇_θE − ν mean_noise h ∇_θE and
∂J/∂c = mean_data (1−h) − ν mean_noise h. At the optimum c estimates log Z.
"""
import warnings
from dataclasses import dataclass

import numpy as np

from ..energies.base import Energy
from ..proposals import Proposal
from ..results import Record


class NoiseEqualsModelWarning(UserWarning):
    """The noise density equals the model: NCE cannot tell data from noise."""


@dataclass(frozen=True, eq=False)
class NCELoss(Record):
    """The NCE loss with its gradients in θ and in the log-normalizer c."""

    loss: float
    grad_theta: np.ndarray
    grad_log_normalizer: float


def nce_logit(energy, proposal, x, *, log_normalizer=0.0, nu=1.0):
    """G(x) = −E(x) − c − log q(x) − log ν for points x of shape (n, d): the log-odds
    that x is data rather than noise (seed 001's NCE logit)."""
    _check(energy, proposal)
    pts, _, _ = energy._points(x, "x")
    return -energy.energy(pts) - log_normalizer - proposal.log_density(pts) - np.log(nu)


def nce_loss(energy, data, proposal, noise, *, log_normalizer=0.0):
    """The NCE loss of data (n, d) against noise draws (m, d) of ``proposal``; ν = m/n.

    Parameters
    ----------
    energy : Energy
        The unnormalized model exp(−E_θ); needs ∇_θE.
    data : array_like of shape (n, d)
    proposal : fastebm.proposals.Proposal
        The noise density q (draw ``noise`` with ``proposal.sample(m, rng=...)``).
    noise : array_like of shape (m, d)
    log_normalizer : float, default 0.0
        c, the model's learned log-normalizer.

    Returns
    -------
    NCELoss
        ``loss``, ``grad_theta`` (p,), ``grad_log_normalizer``.
    """
    _check(energy, proposal)
    data, _, _ = energy._points(data, "data")
    noise, _, _ = energy._points(noise, "noise")
    nu = noise.shape[0] / data.shape[0]
    g_data = nce_logit(energy, proposal, data, log_normalizer=log_normalizer, nu=nu)
    g_noise = nce_logit(energy, proposal, noise, log_normalizer=log_normalizer, nu=nu)
    if np.allclose(g_data, -np.log(nu), atol=1e-10) and np.allclose(g_noise, -np.log(nu),
                                                                     atol=1e-10):
        warnings.warn("the noise density equals the model (up to c): NCE cannot separate "
                      "data from noise and its gradient carries no information",
                      NoiseEqualsModelWarning, stacklevel=2)
    loss = np.mean(np.logaddexp(0.0, -g_data)) + nu * np.mean(np.logaddexp(0.0, g_noise))
    h_data, h_noise = _sigmoid(g_data), _sigmoid(g_noise)
    grad_theta = (np.mean((1.0 - h_data)[:, None] * energy.grad_theta(data), axis=0)
                  - nu * np.mean(h_noise[:, None] * energy.grad_theta(noise), axis=0))
    grad_c = np.mean(1.0 - h_data) - nu * np.mean(h_noise)
    return NCELoss(float(loss), grad_theta, float(grad_c))


def _sigmoid(g):
    return np.exp(-np.logaddexp(0.0, -g))


def _check(energy, proposal):
    if not isinstance(energy, Energy):
        raise TypeError(f"energy must be a fastebm energy, got {type(energy).__name__}")
    if not isinstance(proposal, Proposal):
        raise TypeError(f"proposal must be a fastebm.proposals object, got {type(proposal).__name__}")
