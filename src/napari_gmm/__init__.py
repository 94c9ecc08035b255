"""napari-gmm: choose the Gaussian mixture that best explains your data.

The public API is importable without napari or Qt::

    import napari_gmm
    result = napari_gmm.sweep(X)   # X: (n_samples, n_features)
    result.table                   # one row per candidate
    result.best                    # the chosen sklearn GaussianMixture
"""

from .core import (
    COVARIANCE_TYPES,
    CRITERIA,
    Assignment,
    CandidateFit,
    SweepCancelled,
    SweepResult,
    WeightedGaussianMixture,
    assign,
    component_ellipses,
    iter_sweep,
    make_seed_example,
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
    "SweepCancelled",
    "SweepResult",
    "WeightedGaussianMixture",
    "__version__",
    "assign",
    "component_ellipses",
    "iter_sweep",
    "make_seed_example",
    "sweep",
    "weighted_criteria",
    "weighted_log_likelihood",
]
