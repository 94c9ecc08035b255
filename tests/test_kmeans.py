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


@pytest.mark.parametrize("weighted", [False, True])
def test_every_k_in_one_compiled_call_is_the_numpy_partition(weighted, monkeypatch):
    if not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    Z = _blobs(d=2)
    rng = np.random.default_rng(2)
    w = rng.uniform(0.5, 2.0, len(Z)) if weighted else np.ones(len(Z))
    ks = [1, 2, 3, 5, 9]
    compiled = kmeans.kmeans_partitions(Z, w, ks, seed=4)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    plain = kmeans.kmeans_partitions(Z, w, ks, seed=4)
    assert list(compiled) == ks
    for k in ks:
        # each k's draws are the first of one stream, in the batch too
        np.testing.assert_array_equal(compiled[k], plain[k])
        assert set(np.unique(compiled[k])) == set(range(k))


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
    if compiled:
        labels, ok = kmeans._lloyd_compiled(Z, w, centres.copy(), 1e-12, 300, True)
        assert ok
    else:
        labels = kmeans._lloyd_numpy(Z, w, centres.copy(), 1e-12, 300)
    assert len(np.unique(labels)) == 3
    np.testing.assert_array_equal(labels, [0, 0, 1, 2, 2])
    if compiled:  # scikit-learn's twin: the empty cluster is reported instead
        _, ok = kmeans._lloyd_compiled(Z, w, centres.copy(), 1e-12, 300, False)
        assert not ok


@pytest.mark.parametrize("d", [1, 3, 5])
@pytest.mark.parametrize("weights", ["ones", "uneven", "some zero"])
def test_the_first_start_is_scikit_learns_kmeans_partition(d, weights):
    # continuous data: no row at equal distance from two centres, where the
    # two ways of summing a distance could round differently
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(d)
    Z = _blobs(n=250, d=d, seed=d) * rng.uniform(0.5, 3.0, d)
    w = {
        "ones": np.ones(len(Z)),
        "uneven": rng.uniform(0.2, 5.0, len(Z)),
        "some zero": np.where(rng.random(len(Z)) < 0.2, 0.0, 1.0),
    }[weights]
    ks = [1, 2, 3, 5, 8]
    for seed in (0, 4):
        ours = kmeans.sklearn_kmeans_partitions(Z, w, ks, seed)
        for k in ks:
            theirs = KMeans(k, n_init=1, random_state=seed).fit(Z, sample_weight=w)
            np.testing.assert_array_equal(ours[k], theirs.labels_)


def test_scikit_learns_kmeans_runs_when_a_cluster_empties(monkeypatch):
    if not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    Z = _blobs(n=100)
    w = np.ones(len(Z))
    calls = []
    monkeypatch.setattr(
        kmeans, "sklearn_kmeans", lambda *args: calls.append(args[2]) or "theirs"
    )
    monkeypatch.setattr(
        kmeans, "_lloyd_compiled", lambda Z, w, c, *_: (np.zeros(len(Z), int), False)
    )
    assert kmeans.sklearn_kmeans_partitions(Z, w, [2, 3], 0) == {
        2: "theirs",
        3: "theirs",
    }
    assert calls == [2, 3]


def test_one_stream_per_seed_gives_each_k_its_own_draws():
    # the draws of every k are the first numbers of default_rng(seed), as
    # when each k had a generator of its own
    stream = np.random.default_rng(11).random(9 * kmeans._n_trials(9))
    for k in (1, 2, 5, 9):
        expected = np.random.default_rng(11).random((k, kmeans._n_trials(k)))
        np.testing.assert_array_equal(kmeans._draws(k, 11, stream), expected)
        np.testing.assert_array_equal(kmeans._draws(k, 11), expected)


def test_without_a_seed_the_first_start_follows_numpys_global_state():
    from sklearn.cluster import KMeans

    Z = _blobs(n=200, d=2, seed=5)
    w = np.ones(len(Z))
    np.random.seed(5)  # noqa: NPY002 - the global state is what is tested
    ours = kmeans.sklearn_kmeans_partitions(Z, w, [2, 4], None)
    np.random.seed(5)  # noqa: NPY002 - the global state is what is tested
    theirs = [KMeans(k, n_init=1).fit(Z, sample_weight=w).labels_ for k in (2, 4)]
    np.testing.assert_array_equal(ours[2], theirs[0])
    np.testing.assert_array_equal(ours[4], theirs[1])


@pytest.mark.parametrize("compiled", [True, False])
def test_a_subsample_partition_extends_to_every_row_by_nearest_mean(
    compiled, monkeypatch
):
    if compiled and not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    monkeypatch.setattr(kernels, "AVAILABLE", compiled and kernels.AVAILABLE)
    Z = _blobs(n=600, d=3, seed=4)
    rows = np.arange(0, 600, 3)
    w_part = np.linspace(0.5, 2.0, len(rows))
    part = kmeans.kmeans_labels(Z[rows], w_part, 4, seed=1)
    labels = kmeans.nearest_centre_labels(Z, Z[rows], w_part, part, 4)
    assert labels.shape == (600,)
    centres = np.stack(
        [
            np.average(Z[rows][part == c], axis=0, weights=w_part[part == c])
            for c in range(4)
        ]
    )
    nearest = ((Z[:, None] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(labels, nearest)
    # Lloyd ended at a fixed point: the subsample keeps its own partition
    np.testing.assert_array_equal(labels[rows], part)


@pytest.mark.parametrize("compiled", [True, False])
def test_an_empty_cluster_of_the_subsample_gets_no_row(compiled, monkeypatch):
    if compiled and not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    monkeypatch.setattr(kernels, "AVAILABLE", compiled and kernels.AVAILABLE)
    Z = np.array([[0.0], [1.0], [5.0], [6.0], [100.0]])
    part = np.array([0, 0, 2, 2])  # cluster 1 has no row
    labels = kmeans.nearest_centre_labels(Z, Z[:4], np.ones(4), part, 3)
    np.testing.assert_array_equal(labels, [0, 0, 2, 2, 2])
