"""napari-gmm's core: numpy and scikit-learn only, never napari or Qt.

``__all__`` is the public API, the same as the package's top level: the
entry points, their result types, the settings objects, the estimators and
the errors. Everything else is public in its own submodule and documented
there (docs/api.md): :mod:`~napari_gmm.core.geometry` (ellipses),
:mod:`~napari_gmm.core.pixels` (image histograms),
:mod:`~napari_gmm.core.datasets` (example data),
:mod:`~napari_gmm.core.criteria`, :mod:`~napari_gmm.core.em`,
:mod:`~napari_gmm.core.report`, :mod:`~napari_gmm.core.segment`, ...
"""

from .components import Assignment, assign
from .em import WeightedGaussianMixture
from .model_io import ModelFileError, SavedModel, load_model, save_model
from .noise import NoisyGaussianMixture
from .points import FeatureMatrix, points_feature_matrix
from .result import CandidateFit, SweepCancelled, SweepResult
from .segment import SegmentationResult, segment_image
from .settings import PixelSettings, SweepSettings
from .sweep import iter_sweep, sweep

__all__ = [
    "Assignment",
    "CandidateFit",
    "FeatureMatrix",
    "ModelFileError",
    "NoisyGaussianMixture",
    "PixelSettings",
    "SavedModel",
    "SegmentationResult",
    "SweepCancelled",
    "SweepResult",
    "SweepSettings",
    "WeightedGaussianMixture",
    "assign",
    "iter_sweep",
    "load_model",
    "points_feature_matrix",
    "save_model",
    "segment_image",
    "sweep",
]
