"""Estimators of log Z: exact, importance sampling, annealed importance sampling."""
from .ais import BiasedAISWarning, ais, reverse_ais
from .partition import log_partition
from . import schedules
from .replicate import ImportanceEstimator, ReplicationResult, compare, replicate
from .geyer import (GeyerFit, GeyerNLL, fit_geyer, geyer_nll, importance_resampling_gradient,
                    independent_mh_gradient)
