"""The VVV agglomeration (mclust's default start) against a brute-force
greedy agglomeration with the same cost, and its use as the "vvv" start."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gmm.core import kernels
from napari_gmm.core.model_tree import partitions_from_merges, vvv_merges
from napari_gmm.core.starts import start_partitions, svd_transform

pytestmark = pytest.mark.skipif(
    not kernels.AVAILABLE, reason="the VVV tree is used only when compiled"
)


def _cost(Y: np.ndarray, alpha: float) -> float:
    """``n log((tr W + alpha) / n + det(W / n))`` of the rows ``Y``."""
    n = len(Y)
    centred = Y - Y.mean(axis=0)
    W = centred.T @ centred
    determinant = np.linalg.det(W / n) if n > Y.shape[1] else 0.0
    return n * np.log((np.trace(W) + alpha) / n + max(determinant, 0.0))


def _brute_force_merges(Z: np.ndarray) -> list:
    """Greedy agglomeration trying every pair at every stage."""
    centred = Z - Z.mean(axis=0)
    alpha = float(np.sum(centred**2)) / Z.size
    clusters = {i: [i] for i in range(len(Z))}
    merges = []
    while len(clusters) > 1:
        best = None
        for i in sorted(clusters):
            for j in sorted(clusters):
                if j <= i:
                    continue
                change = (
                    _cost(Z[clusters[i] + clusters[j]], alpha)
                    - _cost(Z[clusters[i]], alpha)
                    - _cost(Z[clusters[j]], alpha)
                )
                if best is None or change < best[0]:
                    best = (change, i, j)
        _, i, j = best
        merges.append((i, j))
        clusters[i] += clusters.pop(j)
    return merges


@pytest.mark.parametrize("n_features", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merges_are_the_greedy_agglomeration(n_features, seed):
    # continuous data: no ties between merge costs
    Z = np.random.default_rng(seed).normal(size=(14, n_features))
    Z[7:] += 4.0
    merges = vvv_merges(Z)
    assert [tuple(pair) for pair in merges] == _brute_force_merges(Z)


def test_a_weight_counts_as_repeated_rows():
    rng = np.random.default_rng(3)
    distinct = rng.normal(size=(12, 2))
    counts = rng.integers(1, 4, size=12)
    weighted = vvv_merges(distinct, counts.astype(float))
    # the same rows repeated: each repeat first joins its own row (cost 0 is
    # not guaranteed to come first, so compare the partitions instead)
    repeated = np.repeat(distinct, counts, axis=0)
    owner = np.repeat(np.arange(12), counts)
    from_repeats = partitions_from_merges(vvv_merges(repeated), len(repeated), [2, 3])
    from_weights = partitions_from_merges(weighted, 12, [2, 3])
    for k in (2, 3):
        first_of_each = np.searchsorted(owner, np.arange(12))
        expected = from_repeats[k][first_of_each]
        np.testing.assert_array_equal(_canonical(from_weights[k]), _canonical(expected))


def _canonical(labels):
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def test_partitions_from_merges():
    merges = np.array([[0, 1], [2, 3], [0, 2]])
    found = partitions_from_merges(merges, 4, [1, 2, 3, 4, 5])
    assert set(found) == {1, 2, 3, 4}
    np.testing.assert_array_equal(found[2], [0, 0, 1, 1])
    np.testing.assert_array_equal(found[3], [0, 0, 1, 2])
    np.testing.assert_array_equal(found[1], [0, 0, 0, 0])


def test_svd_transform_divides_components_by_root_singular_values():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3)) @ np.array([[2, 0, 0], [1, 1, 0], [0, 0, 5.0]])
    mean, scale, projection = svd_transform(X, np.ones(len(X)))
    standardized = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    singular = np.linalg.svd(standardized, compute_uv=False)
    Z = ((X - mean) / scale) @ projection
    # each column's sum of squares is its singular value (sigma^2 / sigma)
    np.testing.assert_allclose(np.sort(np.sum(Z**2, axis=0)), np.sort(singular))


def test_vvv_start_is_offered_and_scale_free():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(4, [0.5, 2], (60, 2))])
    found = start_partitions(X, None, [2, 3], 0, methods=("vvv",))
    assert {key[0] for key in found} == {"vvv"}
    assert {key[2] for key in found} == {"", "spherical"}
    rescaled = start_partitions(X * [1e3, 1e-2] + 7, None, [2, 3], 0, methods=("vvv",))
    for key, labels in found.items():
        np.testing.assert_array_equal(labels, rescaled[key])
    # two well-separated groups: the two-cluster cut finds them
    assert len(set(found[("vvv", 2, "")][:60])) == 1
    assert len(set(found[("vvv", 2, "")][60:])) == 1


def test_vvv_start_subsample_labels_every_row():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(2500, 2))
    X[1250:] += 6
    found = start_partitions(X, None, [2], 0, methods=("vvv",))
    labels = found[("vvv", 2, "")]
    assert labels.shape == (2500,)
    assert np.bincount(labels).min() > 1000  # the two groups, not a sliver


def test_vvv_start_in_one_dimension_only_when_asked_for():
    X = np.random.default_rng(7).normal(size=(40, 1))
    X[20:] += 5
    among_others = start_partitions(X, None, [2], 0, methods=("kmeans", "vvv"))
    assert {key[0] for key in among_others} == {"kmeans"}
    # asked for by name it is made (mclust itself would use its "V" tree in
    # one dimension; the VVV cost can keep a lone outlier apart there)
    alone = start_partitions(X, None, [2, 3], 0, methods=("vvv",))
    assert set(alone) == {
        ("vvv", 2, ""),
        ("vvv", 3, ""),
        ("vvv", 2, "spherical"),
        ("vvv", 3, "spherical"),
    }
    assert set(alone[("vvv", 3, "")]) == {0, 1, 2}


def test_vvv_tree_in_a_second_thread_gives_the_same_partitions(monkeypatch):
    import threading

    from napari_gmm.core import starts

    built_in = []
    tree = starts._vvv_tree_labels

    def recording(*args):
        built_in.append(threading.current_thread() is threading.main_thread())
        return tree(*args)

    monkeypatch.setattr(starts, "_vvv_tree_labels", recording)
    monkeypatch.setattr(starts, "VVV_THREAD_MIN_ROWS", 0)
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(0, 1, (150, 3)), rng.normal(3, [0.5, 2, 1], (150, 3))])
    one = start_partitions(X, None, range(1, 7), 0, n_kmeans=3, n_random=3)
    two = start_partitions(X, None, range(1, 7), 0, n_kmeans=3, n_random=3, n_jobs=2)
    assert built_in == [True, False]  # this thread, then the other one
    assert ("vvv", 4, "") in one
    # the same keys in the same order (distinct_partitions keeps the first
    # of equal partitions), the same labels
    assert list(one) == list(two)
    for key, labels in one.items():
        np.testing.assert_array_equal(labels, two[key])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_vvv_start_by_name_without_numba_says_so(monkeypatch, n_jobs):
    from napari_gmm.core import starts

    monkeypatch.setattr(kernels, "AVAILABLE", False)
    monkeypatch.setattr(starts, "VVV_THREAD_MIN_ROWS", 0)
    X = np.random.default_rng(7).normal(size=(40, 2))
    with pytest.raises(ValueError, match="init_params='vvv' needs the compiled"):
        start_partitions(X, None, [2], 0, methods=("vvv",), n_jobs=n_jobs)
    # among the default's starts it is left out
    found = start_partitions(X, None, [2], 0, methods=("kmeans", "vvv"))
    assert {key[0] for key in found} == {"kmeans"}


def test_merges_match_mclust_on_a_recorded_set():
    # mclust 6.0.0: hcVVV(X) on these 9 rows (R, default alpha = beta = 1)
    # merged (1-based) 4-8, 1-6, 1-5, 7-9, 1-3, 2-7, 1-4, 1-2
    X = np.array(
        [
            [1.04, 2.46],
            [0.99, -3.91],
            [2.72, 1.34],
            [-1.61, 1.74],
            [1.09, 0.88],
            [0.09, 1.64],
            [-2.21, -0.49],
            [-1.45, 1.8],
            [0.12, -0.88],
        ]
    )
    mclust = [(4, 8), (1, 6), (1, 5), (7, 9), (1, 3), (2, 7), (1, 4), (1, 2)]
    assert [tuple(pair + 1) for pair in vvv_merges(X)] == mclust


def test_vvv_start_in_many_dimensions_uses_fewer_rows(monkeypatch):
    # 400 rows in 200-D: the tree's scatter matrices would take 128 MB; it is
    # built on 100 rows (VVV_TREE_SCATTER_BUDGET) and every row gets a label
    from napari_gmm.core import starts

    seen = []

    def recording(Z, w, **kwargs):
        seen.append(Z.shape)
        return vvv_merges(Z, w, **kwargs)

    monkeypatch.setattr(starts, "vvv_merges", recording)
    X = np.random.default_rng(8).normal(size=(400, 200))
    X[200:] += 3
    found = start_partitions(X, None, [2], 0, methods=("vvv",))
    # 100 rows span 99 directions: the SVD transformation keeps those
    assert seen == [(100, 99)]
    labels = found[("vvv", 2, "")]
    assert labels.shape == (400,)
    assert set(labels) == {0, 1}


def test_vvv_start_with_fractional_weights_is_the_unweighted_one():
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(5, [0.5, 2], (40, 2))])
    unweighted = start_partitions(X, None, [2, 3, 4], 0, methods=("vvv",))
    normalized = start_partitions(
        X, np.full(len(X), 1 / len(X)), [2, 3, 4], 0, methods=("vvv",)
    )
    for key, labels in unweighted.items():
        np.testing.assert_array_equal(labels, normalized[key])


@pytest.mark.parametrize(
    ("rows", "mclust"),
    [
        # equal merge costs (pairs one unit apart) are broken in mclust's
        # order; mclust 6.0.0's hcVVV(X) on these rows, 1-based
        (
            [[0, 0], [1, 0], [0, 2], [5, 5], [5, 6], [9, 1]],
            [(4, 5), (1, 2), (1, 3), (4, 6), (1, 4)],
        ),
        (
            [[0, 0], [100, 0], [100, 0.1], [50, 50], [51, 50], [1, 0]],
            [(2, 3), (4, 5), (1, 6), (2, 4), (1, 2)],
        ),
        (
            [[0, 0], [50, 50], [51, 50], [1, 0], [100, 0], [200, 0]],
            [(1, 4), (2, 3), (2, 5), (1, 6), (1, 2)],
        ),
        (
            [[0, 0], [50, 50], [51, 50], [100, 0], [100, 0.1], [1, 0]],
            [(4, 5), (1, 6), (2, 3), (2, 4), (1, 2)],
        ),
    ],
)
def test_equal_costs_merge_in_mclust_order(rows, mclust):
    merges = vvv_merges(np.array(rows, dtype=float))
    assert [tuple(pair + 1) for pair in merges] == mclust
