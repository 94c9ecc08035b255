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
    assign,
    component_ellipses,
    iter_sweep,
    make_seed_example,
    sweep,
)

__version__ = "0.1.0"

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "Assignment",
    "CandidateFit",
    "SweepCancelled",
    "SweepResult",
    "__version__",
    "assign",
    "component_ellipses",
    "iter_sweep",
    "make_seed_example",
    "sweep",
]
