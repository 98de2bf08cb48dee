"""Energies: p(x) = exp(-E(x)) / Z, with ∇ₓE and ∇_θE."""
from .base import Energy
from .compose import SumEnergy
from .custom import CustomEnergy, FiniteDifferenceWarning, energy
from .gaussian import Gaussian
from .ising import Ising
from .mixture import GaussianMixture
from .rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["Energy", "Gaussian", "GaussianMixture", "CustomEnergy", "SumEnergy", "energy",
           "FiniteDifferenceWarning", "BernoulliRBM", "GaussianBernoulliRBM", "Ising"]

Energy._sum_type = SumEnergy  # E1 + E2 (base.py cannot import compose.py)
