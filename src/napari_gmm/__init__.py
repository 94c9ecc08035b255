"""napari-gmm: choose the Gaussian mixture that best explains your data.

The public API is importable without napari or Qt::

    import napari_gmm
    result = napari_gmm.sweep(X)   # X: (n_samples, n_features)
    result.table                   # one row per candidate
    result.best                    # the chosen sklearn GaussianMixture

    seg = napari_gmm.segment_image(image)  # intensity classes of an image
    seg.labels                     # 1..K from dimmest to brightest, 0 excluded
"""

from .core import (
    COVARIANCE_TYPES,
    CRITERIA,
    Assignment,
    CandidateFit,
    FeatureMatrix,
    ModelFileError,
    NoisyGaussianMixture,
    SegmentationResult,
    SweepCancelled,
    SweepResult,
    WeightedGaussianMixture,
    assign,
    component_ellipses,
    iter_sweep,
    load_model,
    make_blobs_with_outliers,
    make_seed_example,
    points_feature_matrix,
    save_model,
    segment_image,
    sweep,
    weighted_criteria,
    weighted_log_likelihood,
)

__version__ = "0.1.0"

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "Assignment",
    "CandidateFit",
    "FeatureMatrix",
    "ModelFileError",
    "NoisyGaussianMixture",
    "SegmentationResult",
    "SweepCancelled",
    "SweepResult",
    "WeightedGaussianMixture",
    "__version__",
    "assign",
    "component_ellipses",
    "iter_sweep",
    "load_model",
    "make_blobs_with_outliers",
    "make_seed_example",
    "points_feature_matrix",
    "save_model",
    "segment_image",
    "sweep",
    "weighted_criteria",
    "weighted_log_likelihood",
]
