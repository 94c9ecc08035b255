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
