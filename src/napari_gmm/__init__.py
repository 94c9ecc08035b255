"""napari-gmm: choose the Gaussian mixture that best explains your data.

The public API is importable without napari or Qt::

    import napari_gmm
    result = napari_gmm.sweep(X)   # X: (n_samples, n_features)
    result.table                   # one row per candidate
    result.best                    # the chosen sklearn GaussianMixture

    seg = napari_gmm.segment_image(image)  # intensity classes of an image
    seg.labels                     # 1..K from dimmest to brightest, 0 excluded

``__all__`` lists it: the entry points, their result types, the settings
objects, the estimators and the errors. Everything else is public in its
submodule of :mod:`napari_gmm.core` (geometry, pixels, datasets, criteria,
report, ...; see docs/api.md).
"""

from .core import (
    Assignment,
    CandidateFit,
    FeatureMatrix,
    ModelFileError,
    NoisyGaussianMixture,
    PixelSettings,
    SavedModel,
    SegmentationResult,
    SweepCancelled,
    SweepResult,
    SweepSettings,
    WeightedGaussianMixture,
    assign,
    iter_sweep,
    load_model,
    points_feature_matrix,
    save_model,
    segment_image,
    sweep,
)

# The README's example data; its home is napari_gmm.core.datasets.
from .core.datasets import make_seed_example  # noqa: F401
from .core.model_io import package_version

#: The installed distribution's version (pyproject.toml is its one source).
__version__ = package_version()

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
    "__version__",
    "assign",
    "iter_sweep",
    "load_model",
    "points_feature_matrix",
    "save_model",
    "segment_image",
    "sweep",
]
