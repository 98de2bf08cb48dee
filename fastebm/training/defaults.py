"""Defaults of ``fe.fit`` that come from the data, so that a fit needs no tuning.

With the data's sample covariance S (d × d) and its smallest eigenvalue λ (the variance
along the data's narrowest direction), and the data's mean m:

- "cd", "pcd", "replay" without ``step_size``: negatives by MALA (exact: no
  discretization bias in the fitted model, unlike ULA, whose N(0, λ) chains have
  variance λ/(1 - h/2λ)) with h = λ d^(-1/3), the order of MALA's optimal step on a
  target of that scale (Roberts & Rosenthal 1998: proposal variance ℓ² λ d^(-1/3) with
  ℓ ≈ 1.65, i.e. h ≈ 1.36 λ d^(-1/3); a little smaller here, as the model is not yet the
  data early in the fit);
- "dsm" without ``sigma``: σ = 0.1 √λ. Denoising score matching fits the density
  smoothed by N(0, σ²I) (Vincent 2011), whose covariance is S + σ²I: 1 % above S along
  the narrowest direction with this σ;
- "nce" and "replay" without ``noise``, "geyer" without ``proposal``: the Gaussian
  N(m, S) matched to the data's moments (Gutmann & Hyvärinen 2012 advise noise close to
  the data); its covariance is S inflated by 10 % for "geyer", whose importance weights
  need tails at least as heavy as the model's.
"""
import numpy as np

DSM_SIGMA_FRACTION = 0.1
GEYER_INFLATION = 1.1
GEYER_SAMPLES = 10_000


def data_moments(data):
    """(mean (d,), covariance (d, d), smallest eigenvalue of the covariance) of the data."""
    mean = data.mean(axis=0)
    cov = np.atleast_2d(np.cov(data, rowvar=False))
    smallest = float(np.linalg.eigvalsh(cov)[0])
    if not smallest > 0:
        raise ValueError("the data's covariance is singular (a direction without spread): "
                         "give step_size, sigma and noise explicitly")
    return mean, cov, smallest


def langevin_step(data):
    """h = λ d^(-1/3) for the negatives' MALA moves."""
    _, _, smallest = data_moments(data)
    return smallest * data.shape[1] ** (-1.0 / 3.0)


def dsm_sigma(data):
    """σ = 0.1 √λ for denoising score matching."""
    return DSM_SIGMA_FRACTION * np.sqrt(data_moments(data)[2])


def matched_gaussian(data, inflation=1.0):
    """The Gaussian proposal N(m, inflation · S) matched to the data's moments."""
    from ..proposals import Gaussian
    mean, cov, _ = data_moments(data)
    return Gaussian(mean, inflation * cov)
