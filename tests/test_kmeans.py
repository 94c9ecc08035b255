"""The compiled k-means of the extra starts (napari_gmm.core.kmeans)."""

import numpy as np
import pytest

from napari_gmm.core import kernels, kmeans


def _blobs(n=300, d=2, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(4, d))
    return centres[rng.integers(4, size=n)] + rng.normal(size=(n, d))


def _inertia(Z, w, labels):
    total = 0.0
    for c in np.unique(labels):
        rows = labels == c
        centre = w[rows] @ Z[rows] / w[rows].sum()
        total += w[rows] @ ((Z[rows] - centre) ** 2).sum(axis=1)
    return total


@pytest.mark.parametrize("k", [1, 2, 4, 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_and_numpy_make_the_same_partition(k, weighted, monkeypatch):
    Z = _blobs(d=3)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, len(Z)) if weighted else np.ones(len(Z))
    if not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    compiled = kmeans.kmeans_labels(Z, w, k, seed=3)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    plain = kmeans.kmeans_labels(Z, w, k, seed=3)
    np.testing.assert_array_equal(compiled, plain)
    assert set(np.unique(compiled)) == set(range(k))


def test_lloyd_ends_at_a_fixed_point_as_good_as_scikit_learn():
    from sklearn.cluster import KMeans

    Z = _blobs(n=400)
    w = np.ones(len(Z))
    ours = [_inertia(Z, w, kmeans.kmeans_labels(Z, w, 4, seed)) for seed in range(5)]
    theirs = KMeans(4, n_init=5, random_state=0).fit(Z).inertia_
    # the best of five seeds finds the four blobs as scikit-learn's does
    assert min(ours) <= theirs * (1 + 1e-9)
    labels = kmeans.kmeans_labels(Z, w, 4, seed=0)
    centres = np.stack([Z[labels == c].mean(axis=0) for c in range(4)])
    nearest = ((Z[:, None] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, labels)  # Lloyd's fixed point


def test_zero_weight_rows_never_seed_and_seeds_repeat():
    Z = _blobs(n=200)
    w = np.ones(len(Z))
    w[:100] = 0.0
    Z[:100] += 1000.0  # far away: a seed there would make its own cluster
    labels = kmeans.kmeans_labels(Z, w, 3, seed=5)
    assert len(np.unique(labels[100:])) == 3
    np.testing.assert_array_equal(labels, kmeans.kmeans_labels(Z, w, 3, seed=5))


@pytest.mark.parametrize("compiled", [True, False])
def test_an_empty_cluster_moves_onto_the_farthest_row(compiled):
    # two centres on the same value: the second gets no row (ties go to the
    # lower index) and moves onto the row farthest from its centre
    Z = np.array([[0.0], [0.1], [1.0], [9.0], [10.0]])
    w = np.ones(len(Z))
    centres = np.array([[0.0], [0.0], [10.0]])
    if compiled and not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    lloyd = kmeans._lloyd_compiled if compiled else kmeans._lloyd_numpy
    labels = lloyd(Z, w, centres, 1e-12, 300)
    assert len(np.unique(labels)) == 3
    np.testing.assert_array_equal(labels, [0, 0, 1, 2, 2])
