"""Estimators of the likelihood gradient used to fit energy-based models."""
from .fit import fit
from .fit_result import FitResult
from .gradient_error import GradientError, gradient_error
from .gradients import GradientEstimate, exact_mle_gradient, mle_gradient
from .nce import NCELoss, NoiseEqualsModelWarning, nce_logit, nce_loss
from .dsm import dsm_loss
from .score_matching import score_matching_loss
from .ssm import ssm_loss
from .stein import KSDResult, ksd

__all__ = ["GradientEstimate", "mle_gradient", "exact_mle_gradient", "KSDResult", "ksd",
           "score_matching_loss", "dsm_loss", "ssm_loss", "NCELoss", "NoiseEqualsModelWarning", "nce_logit",
           "nce_loss", "GradientError", "gradient_error", "fit", "FitResult"]
