"""Estimators of the likelihood gradient used to fit energy-based models."""
from .gradients import GradientEstimate, mle_gradient

__all__ = ["GradientEstimate", "mle_gradient"]
