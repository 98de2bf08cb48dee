"""fastebm: fast samplers and estimators for energy-based models, p(x) = exp(-E(x)) / Z.

Energies (``Gaussian``, ``GaussianMixture``, user functions through ``energy``) know
E, ∇ₓE, ∇_θE and, where it exists, log Z. Samplers (``langevin``, ``mala``,
``metropolis``) move thousands of chains at once in compiled kernels, each chain on its
own Philox stream; ``importance_sample`` estimates log Z with its standard error.
The fitting tools (``mle_gradient``, ``exact_mle_gradient``, ``gradient_error``,
``score_matching_loss``, ``nce_loss``, ``ksd``) estimate gradients and goodness of fit
with their uncertainty.
"""
from . import portable, proposals
from .arviz_convert import to_arviz
from .diagnostics import ess, rhat, weights_ess
from .energies import (BernoulliRBM, CustomEnergy, Energy, FiniteDifferenceWarning, Gaussian,
                       GaussianBernoulliRBM, GaussianMixture, Ising, SumEnergy, energy)
from .energies.check import check_grad
from .estimators import BiasedAISWarning, ais, log_partition, reverse_ais
from .estimators.replicate import ImportanceEstimator, ReplicationResult, compare, replicate
from .estimators.geyer import (GeyerFit, GeyerNLL, fit_geyer, geyer_nll,
                               importance_resampling_gradient, independent_mh_gradient)
from .resampling import resample
from .results import ChainState, ImportanceResult, LogZEstimate, MCMCResult
from .io import load
from .samplers.importance import importance_resample, importance_sample
from .samplers.gibbs import gibbs
from .samplers.langevin import langevin, mala
from .samplers.metropolis import metropolis
from .training import (FitResult, fit, GradientError, GradientEstimate, KSDResult, gradient_error, NCELoss, NoiseEqualsModelWarning,
                       exact_mle_gradient, ksd, mle_gradient, nce_logit, nce_loss,
                       score_matching_loss, dsm_loss, ssm_loss)

from .warnings import LowAcceptanceWarning, LowESSWarning

__version__ = "0.1.0"

__all__ = [
    "Energy", "Gaussian", "GaussianMixture", "BernoulliRBM", "GaussianBernoulliRBM", "Ising", "gibbs", "CustomEnergy", "SumEnergy", "energy",
    "check_grad", "FiniteDifferenceWarning", "proposals", "portable",
    "langevin", "mala", "metropolis", "importance_sample", "importance_resample",
    "resample", "ess", "rhat", "weights_ess", "to_arviz", "mle_gradient", "exact_mle_gradient", "GradientEstimate",
    "ksd", "KSDResult", "score_matching_loss", "dsm_loss", "ssm_loss", "nce_loss", "nce_logit", "NCELoss",
    "NoiseEqualsModelWarning", "gradient_error", "GradientError", "fit", "FitResult",
    "ChainState", "MCMCResult", "ImportanceResult", "load",
    "log_partition", "ais", "reverse_ais", "BiasedAISWarning", "LogZEstimate",
    "replicate", "compare", "ReplicationResult", "ImportanceEstimator",
    "geyer_nll", "fit_geyer", "GeyerNLL", "GeyerFit", "independent_mh_gradient",
    "importance_resampling_gradient", "LowAcceptanceWarning", "LowESSWarning",
]
