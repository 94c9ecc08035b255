"""Ward (agglomerative) starts shared by all candidates."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm import make_seed_example, sweep
from napari_gmm.core.initialization import ward_initializations


def test_ward_sweep_reproduces_the_seed_choice():
    result = sweep(make_seed_example(), init_params="ward")
    assert result.best_key == (2, "full")
    assert result.best.n_init == 1


def test_ward_starts_are_one_tree_for_every_type():
    X = make_seed_example()
    candidates = [(k, t) for t in ("spherical", "full") for k in (2, 3)]
    starts = ward_initializations(X, candidates, 1e-6, random_state=0)
    for k in (2, 3):
        np.testing.assert_array_equal(
            starts[(k, "spherical")]["means_init"], starts[(k, "full")]["means_init"]
        )
    # a start from the two Ward clusters of this data is already the answer
    start = starts[(2, "full")]
    model = GaussianMixture(2, covariance_type="full", **start).fit(X)
    labels = model.predict(X)
    assert len(set(labels[:500])) == 1 and len(set(labels[500:])) == 1


def test_ward_with_weights_and_bad_init_name():
    X = make_seed_example()[:200]
    result = sweep(
        X, weights=np.full(200, 3.0), init_params="ward", n_components=[1, 2]
    )
    assert np.isfinite(result.table["bic"]).all()
    with pytest.raises(ValueError, match="init_params must be one of"):
        sweep(X, init_params="agglo")


def _thin_parallel_lines(n=200, sx=2.0, sy=0.15, gap=1.5, seed=0):
    """Three long, thin, parallel clusters (standard deviations 2 along x,
    0.15 across, 1.5 apart): k-means cuts them across, so EM started from
    k-means usually stays in a poor local optimum."""
    rng = np.random.default_rng(seed)
    return np.vstack(
        [
            np.column_stack([rng.normal(0, sx, n), rng.normal(offset, sy, n)])
            for offset in (0.0, gap, 2 * gap)
        ]
    )


def test_unlucky_default_start_restarts_and_stability_show_it():
    """Issue #9: one default start picks a worse fit; more starts find the
    lower BIC; the stability report shows that the seeds disagree."""
    from napari_gmm.core.report import stability

    X = _thin_parallel_lines()
    settings = {
        "n_components": range(1, 5),
        "covariance_types": ["full"],
        "preset": "sklearn",  # one k-means start, as scikit-learn
    }
    default = sweep(X, **settings)
    restarts = sweep(X, n_init=10, init_params="k-means++", **settings)
    assert default.best_key == restarts.best_key == (3, "full")
    # the default start ends ~725 higher: the three lines were cut across
    assert default.best_row.bic - restarts.best_row.bic > 500
    # (Ward's tree does not help on this data: it merges the thin lines
    # before the halves of a line; that is what the stability report is for)
    report = stability(X, seeds=8, **settings).table.set_index("n_components")
    assert report.loc[3, "bic_max"] - report.loc[3, "bic_min"] > 500
    assert report.loc[3, "bic_min"] == pytest.approx(restarts.best_row.bic, rel=1e-6)
    # napari-gmm's default preset (several starts, among them the tree on
    # whitened data) finds the better optimum from its own starts
    ours = sweep(X, n_components=range(1, 5), covariance_types=["full"])
    assert ours.best_key == (3, "full")
    assert ours.best_row.bic <= restarts.best_row.bic + 1e-6 * abs(ours.best_row.bic)


def _same_partition(a, b) -> bool:
    """Equal up to renumbering."""
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b) == 1.0


def test_one_feature_tree_is_scipys_ward_tree():
    """The 1-D tree (neighbouring intervals, a heap) cuts as scipy's Ward
    linkage on continuous data, where no two merge costs are equal."""
    from scipy.cluster.hierarchy import fcluster, linkage

    from napari_gmm.core.starts import _interval_tree_labels

    rng = np.random.default_rng(3)
    for _ in range(5):
        z = np.concatenate(
            [rng.normal(0, 1, 150), rng.normal(4, 0.5, 100), rng.normal(9, 2, 50)]
        )
        rng.shuffle(z)
        ours = _interval_tree_labels(z, np.ones(len(z)), range(1, 10))
        tree = linkage(z[:, None], method="ward")
        for k in range(1, 10):
            assert _same_partition(ours[k], fcluster(tree, k, criterion="maxclust"))


def test_one_feature_tree_counts_a_weight_as_repeated_rows():
    """A value of weight r merges as r equal rows: the tree of an image's
    histogram is the tree of its pixels. Zero-weight rows join the nearest
    cluster mean."""
    from scipy.cluster.hierarchy import fcluster, linkage

    from napari_gmm.core.starts import _interval_tree_labels

    rng = np.random.default_rng(4)
    values = rng.normal(0, 3, 60)
    counts = rng.integers(1, 6, len(values))
    weighted = _interval_tree_labels(values, counts.astype(float), range(1, 7))
    tree = linkage(np.repeat(values, counts)[:, None], method="ward")
    for k in range(1, 7):
        pixels = fcluster(tree, k, criterion="maxclust")
        assert _same_partition(np.repeat(weighted[k], counts), pixels)
    # weights change the tree: two heavy neighbours cost more to merge
    # (Ward's cost grows with the weights) than a light far one
    z = np.array([0.0, 1.0, 3.0])
    light = _interval_tree_labels(z, np.ones(3), [2])
    heavy = _interval_tree_labels(z, np.array([100.0, 100.0, 1.0]), [2])
    assert _same_partition(light[2], [0, 0, 1])
    assert _same_partition(heavy[2], [0, 1, 1])
    # a zero-weight row joins the nearest cluster mean; K above the number
    # of distinct positive values is left out
    labels = _interval_tree_labels(
        np.array([0.0, 0.1, 5.0, 5.2, 4.0]), np.array([1.0, 1.0, 1.0, 1.0, 0.0]), [2, 5]
    )
    assert _same_partition(labels[2], [0, 0, 1, 1, 1])
    assert 5 not in labels


def test_tree_cuts_are_fclusters_cuts():
    """Every K's cut of a Ward tree at once, numbered as scipy's
    ``fcluster(tree, k, "maxclust")``, and left out where fcluster makes
    fewer clusters (equal heights at the cut: rounded, duplicated rows)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    from napari_gmm.core.starts import _tree_cuts

    rng = np.random.default_rng(0)
    n_skipped = 0
    for trial in range(120):
        n = int(rng.integers(2, 120 if trial < 90 else 12))
        Z = rng.normal(size=(n, int(rng.integers(1, 5))))
        if trial % 2:
            Z = np.round(Z * rng.uniform(0.5, 3))
        tree = linkage(Z, method="ward")
        cuts = _tree_cuts(tree, n, range(1, 10))
        for k in range(1, 10):
            if k > n:
                assert k not in cuts
                continue
            expected = fcluster(tree, t=k, criterion="maxclust") - 1
            if expected.max() + 1 < k:
                n_skipped += 1
                assert k not in cuts
            else:
                np.testing.assert_array_equal(cuts[k], expected)
    assert n_skipped > 0  # the tie case was exercised


def test_compiled_random_rows_are_the_python_ones():
    """The compiled choice of distinct drawn rows and nearest-row labels
    give the partitions of the Python path (cdist), ties included."""
    from scipy.spatial.distance import cdist

    from napari_gmm.core import starts

    rng = np.random.default_rng(1)
    for trial in range(40):
        n, d = int(rng.integers(5, 200)), int(rng.integers(1, 8))
        Z = rng.normal(size=(n, d))
        if trial % 3 == 0:
            Z = np.round(Z)  # repeated values and equal distances
        w = rng.integers(0, 3, n).astype(float) if trial % 2 else np.ones(n)
        labels = starts._random_rows_labels(Z, w, range(1, 10), trial)
        cumulative = np.cumsum(w)
        for k in range(1, 10):
            draws = np.random.default_rng([trial, k]).random(20 * k + 100)
            rows = np.searchsorted(cumulative, draws * cumulative[-1], "right")
            rows = np.minimum(rows, n - 1)
            chosen = starts._first_distinct_rows_python(Z, w, rows, k)
            if len(chosen) < k:
                assert k not in labels
                continue
            expected = cdist(Z, Z[chosen], "sqeuclidean").argmin(axis=1)
            np.testing.assert_array_equal(labels[k], expected)


def test_one_feature_tree_of_many_values_is_built_on_some(monkeypatch):
    """Beyond INTERVAL_TREE_MAX_VALUES distinct values the tree sees evenly
    spaced ones; every value still gets a cluster, the clusters are
    intervals of the values and none is empty."""
    from napari_gmm.core import starts

    monkeypatch.setattr(starts, "INTERVAL_TREE_MAX_VALUES", 50)
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 1, 200)])
    labels = starts._interval_tree_labels(z, np.ones(len(z)), range(1, 6))
    order = np.argsort(z)
    for k in range(1, 6):
        along = labels[k][order]
        assert np.all(np.diff(along) >= 0)  # intervals, numbered in order
        assert np.array_equal(np.unique(along), np.arange(k))
    # two well separated groups: the 2-cluster cut (nearly) splits them
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels[2], z > 3.0) > 0.9
