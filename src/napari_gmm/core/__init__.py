"""napari-gmm's core: numpy and scikit-learn only, never napari or Qt."""

from .components import Assignment, assign, component_order, sort_components
from .criteria import COVARIANCE_TYPES, CRITERIA, information_criteria, n_parameters
from .datasets import make_seed_example
from .em import (
    WeightedGaussianMixture,
    check_covariance_floor,
    check_sample_weight,
    weighted_criteria,
    weighted_log_likelihood,
)
from .geometry import (
    DEFAULT_N_STD,
    component_ellipses,
    ellipse_corners,
    ellipse_outline,
    ellipse_radius,
    full_covariances,
    model_covariances,
    principal_axes,
)
from .sweep import (
    TABLE_COLUMNS,
    CandidateFit,
    SweepCancelled,
    SweepResult,
    iter_sweep,
    select_best,
    sweep,
)

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "DEFAULT_N_STD",
    "TABLE_COLUMNS",
    "Assignment",
    "CandidateFit",
    "SweepCancelled",
    "SweepResult",
    "WeightedGaussianMixture",
    "assign",
    "check_covariance_floor",
    "check_sample_weight",
    "component_ellipses",
    "component_order",
    "ellipse_corners",
    "ellipse_outline",
    "ellipse_radius",
    "full_covariances",
    "information_criteria",
    "iter_sweep",
    "make_seed_example",
    "model_covariances",
    "n_parameters",
    "principal_axes",
    "select_best",
    "sort_components",
    "sweep",
    "weighted_criteria",
    "weighted_log_likelihood",
]
