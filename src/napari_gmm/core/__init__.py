"""napari-gmm's core: numpy and scikit-learn only, never napari or Qt."""

from .components import Assignment, assign, component_order, sort_components
from .criteria import COVARIANCE_TYPES, CRITERIA, information_criteria, n_parameters
from .datasets import make_blobs_with_outliers, make_seed_example
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
from .model_io import ModelFileError, SavedModel, load_model, save_model
from .noise import NoisyGaussianMixture
from .pixels import PixelHistogram, compress_image, label_image, value_map_image
from .points import FeatureMatrix, points_feature_matrix
from .result import TABLE_COLUMNS, CandidateFit, SweepCancelled, SweepResult
from .segment import SegmentationResult, labels_for_model, segment_image
from .selection import select_best
from .settings import PixelSettings, SweepSettings
from .sweep import iter_sweep, sweep

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "DEFAULT_N_STD",
    "TABLE_COLUMNS",
    "Assignment",
    "CandidateFit",
    "FeatureMatrix",
    "ModelFileError",
    "NoisyGaussianMixture",
    "PixelHistogram",
    "PixelSettings",
    "SavedModel",
    "SegmentationResult",
    "SweepCancelled",
    "SweepResult",
    "SweepSettings",
    "WeightedGaussianMixture",
    "assign",
    "check_covariance_floor",
    "check_sample_weight",
    "component_ellipses",
    "component_order",
    "compress_image",
    "ellipse_corners",
    "ellipse_outline",
    "ellipse_radius",
    "full_covariances",
    "information_criteria",
    "iter_sweep",
    "label_image",
    "labels_for_model",
    "load_model",
    "make_blobs_with_outliers",
    "make_seed_example",
    "model_covariances",
    "n_parameters",
    "points_feature_matrix",
    "principal_axes",
    "save_model",
    "segment_image",
    "select_best",
    "sort_components",
    "sweep",
    "value_map_image",
    "weighted_criteria",
    "weighted_log_likelihood",
]
