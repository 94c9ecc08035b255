"""Synthetic data sets used by the demo, the samples and the tests."""

from __future__ import annotations

import numpy as np

#: Linear map that stretches the first blob of the scikit-learn example.
SEED_STRETCH = np.array([[0.0, -0.1], [1.7, 0.4]])
#: Centre of the second (round) blob of the scikit-learn example.
SEED_SHIFT = np.array([-6.0, 3.0])


def make_seed_example(n_samples: int = 500, random_state: int = 0) -> np.ndarray:
    """Points of scikit-learn's "Gaussian Mixture Model Selection" example.

    Two blobs of ``n_samples`` points each: ``N(0, I) @ SEED_STRETCH`` and
    ``0.7 * N(0, I) + SEED_SHIFT``. The draws come from a legacy
    ``RandomState(random_state)``, which yields the same numbers as the
    example's ``np.random.seed(0); np.random.randn(...)`` without touching
    numpy's global random state.

    Parameters
    ----------
    n_samples : int
        Points per blob.
    random_state : int
        Seed of the legacy generator (the example uses 0).

    Returns
    -------
    X : ndarray of shape (2 * n_samples, 2)
        The first ``n_samples`` rows are the stretched blob.
    """
    rng = np.random.RandomState(random_state)
    stretched = rng.randn(n_samples, 2) @ SEED_STRETCH
    round_blob = 0.7 * rng.randn(n_samples, 2) + SEED_SHIFT
    return np.r_[stretched, round_blob]


#: Box the outliers of :func:`make_blobs_with_outliers` are drawn in.
OUTLIER_BOX = (np.array([-5.0, -5.0]), np.array([13.0, 9.0]))


def make_blobs_with_outliers(
    n_per_blob: int = 500, outlier_fraction: float = 0.05, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs plus uniformly scattered outliers.

    The blobs have axis-aligned covariances (standard deviations (1, 0.5)
    around (0, 0) and (0.7, 1.2) around (8, 3)); the outliers are uniform over
    :data:`OUTLIER_BOX` and make up ``outlier_fraction`` of all points. A
    plain BIC sweep explains the outliers with an extra broad component; a
    sweep with ``noise=True`` labels them noise (docs/model-selection.md).

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
    is_outlier : ndarray of bool, shape (n_samples,)
    """
    if not 0 <= outlier_fraction < 1:
        raise ValueError(f"outlier_fraction must be in [0, 1), got {outlier_fraction}.")
    rng = np.random.default_rng(random_state)
    a = rng.normal([0.0, 0.0], [1.0, 0.5], (n_per_blob, 2))
    b = rng.normal([8.0, 3.0], [0.7, 1.2], (n_per_blob, 2))
    n_out = round(outlier_fraction * 2 * n_per_blob / (1 - outlier_fraction))
    outliers = rng.uniform(*OUTLIER_BOX, (n_out, 2))
    X = np.vstack([a, b, outliers])
    is_outlier = np.r_[np.zeros(2 * n_per_blob, bool), np.ones(n_out, bool)]
    return X, is_outlier
