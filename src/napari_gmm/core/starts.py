"""Several principled starts per candidate, computed once per sweep.

EM only finds the local optimum its start leads to, so the default sweep
fits every candidate from several starts and keeps the best
non-degenerate end (:mod:`napari_gmm.core.candidate`). The starts are
hard partitions of the data, turned into a mixture by one M-step:

* ``"kmeans"``: scikit-learn's k-means start (one k-means++ seeding and
  Lloyd iterations, ``random_state``), on standardized data; the further
  k-means starts of small data (``"kmeans2"``, ``"kmeans3"``, ...) use the
  same algorithm compiled (:mod:`napari_gmm.core.kmeans`), seeded
  ``random_state + 1``, ``random_state + 2``, ...;
* ``"hierarchical"``: agglomerative clustering in the manner of mclust's
  start (Fraley 1998): one tree for all K, on the data whitened by their
  principal components, with Ward's merge cost, which is the
  classification likelihood's cost for spherical, equal-volume clusters
  (Fraley 1998, section 2). mclust's own default differs in two ways: it
  merges by the unconstrained (VVV) classification likelihood, and its
  "SVD" transformation divides each principal component by the square
  root of its singular value, not by its standard deviation (Scrucca &
  Raftery 2015). Using that transformation here changed one of the 20
  candidates that end worse than mclust's on its data sets
  (docs/performance.md); ``"vvv"`` below is mclust's start itself;
* ``"ward"``: the same tree on standardized (not whitened) data;
* ``"vvv"``: mclust's own default start, reproduced: the VVV
  agglomeration of :mod:`napari_gmm.core.model_tree` on mclust's "SVD"
  transformation of the data (:func:`svd_transform`), with mclust's order
  for equal merge costs. On mclust's 8 small data sets (faithful, iris,
  diabetes, banknote, wdbc, thyroid, chevron, EuroUnemployment) its
  partitions for K = 2..9 are mclust's exactly (adjusted Rand index 1).
  Left out for one feature and without numba;
* ``"axes"``: k-means of each feature alone (``"axis1"``, ``"axis2"``,
  ...), the start of clusters that differ mostly in one feature (which
  scikit-learn's k-means of the raw data finds when that feature has the
  largest spread); for the non-spherical models, and left out for one
  feature among other starts (it is the k-means start there).

The default also draws random-rows starts (:func:`_random_rows_labels`).

Every start is computed on standardized data (each feature centred and
divided by its standard deviation) or whitened data, so it does not change
when a feature is rescaled — except for spherical models, which are not
invariant under that: their k-means and Ward starts use the data divided
by one common scale. Together with the scale-relative
regularization this makes tied, diag and full candidates invariant under
``X * c + b`` (spherical ones under a common ``c``). The trees are built on
at most :data:`TREE_MAX_ROWS` rows (drawn in proportion to their weights;
the tree's memory is quadratic) and every row then joins its nearest
cluster mean; of one feature, on every distinct value by
:func:`_interval_tree_labels` (no distance matrix).
"""

from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist

from . import kernels
from .kernels import njit
from .kmeans import (
    kmeans_partitions,
    nearest_centre_labels,
    sklearn_kmeans,
    sklearn_kmeans_partitions,
)
from .model_tree import partitions_from_merges, vvv_merges

#: Largest number of rows an agglomeration tree is built on.
TREE_MAX_ROWS = 2000

#: The VVV tree is built on at most this many rows x features^2 (its
#: scatter matrices: 32 MB; measured 0.7 s for 2,000 rows in 30-D and
#: 1.1 s for 1,000 rows in 60-D).
VVV_TREE_SCATTER_BUDGET = 4_000_000

#: The starts of the default sweep, in the order they are tried.
START_METHODS = ("kmeans", "hierarchical", "ward", "vvv", "axes")


def weighted_moments(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature weighted mean and variance, shapes ``(n_features,)``."""
    total = w.sum()
    mean = (w @ X) / total
    variance = (w @ np.square(X - mean)) / total
    return mean, variance


def standardized(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each feature centred and divided by its standard deviation (1 if 0)."""
    mean, variance = weighted_moments(X, w)
    scale = np.sqrt(variance)
    scale[scale == 0] = 1.0
    return (X - mean) / scale


def robust_scaled(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each feature centred at its weighted median and divided by its
    weighted median absolute deviation (by its standard deviation where
    that is 0, by 1 if both are).

    Unchanged by rescaling or shifting any feature (up to the sign of the
    scale, which k-means ignores), like :func:`standardized`, but a few
    far-out values do not shrink the bulk of a feature (R's attenu: the
    skewed distances and accelerations; docs/model-selection.md).
    """
    centre = np.array([_weighted_median(column, w) for column in X.T])
    spread = np.array([_weighted_median(d, w) for d in np.abs(X - centre).T])
    _, variance = weighted_moments(X, w)
    spread = np.where(spread > 0, spread, np.sqrt(variance))
    spread[spread == 0] = 1.0
    return (X - centre) / spread


def _weighted_median(values: np.ndarray, w: np.ndarray) -> float:
    """The weighted median: the midpoint of the lowest value with half the
    total weight at or below it and the lowest with more than half (so
    that negating the values negates it, and a weight of r counts as r
    repeated values)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(w[order])
    half = 0.5 * cumulative[-1]
    last = len(values) - 1
    lower = min(int(np.searchsorted(cumulative, half, "left")), last)
    upper = min(int(np.searchsorted(cumulative, half, "right")), last)
    return 0.5 * float(values[order][lower] + values[order][upper])


def common_scaled(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Centred and divided by one scale for all features (the mean std).

    Spherical models treat all features alike, so their starts keep the
    features' relative scales: rescaling one feature changes a spherical
    model, rescaling all of them by a common factor does not.
    """
    mean, variance = weighted_moments(X, w)
    spread = variance[variance > 0]
    scale = float(np.sqrt(spread.mean())) if spread.size else 1.0
    return (X - mean) / scale


def whitened(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Principal components divided by their standard deviations.

    Directions of (numerically) zero variance are dropped. Whitening is
    unchanged by any invertible affine map of the data up to a rotation,
    which Ward's criterion ignores.
    """
    Z, eigenvalues, vectors = correlation_axes(X, w)
    keep = eigenvalues > 1e-10 * max(eigenvalues.max(), 1e-300)
    return (Z @ vectors[:, keep]) / np.sqrt(eigenvalues[keep])


#: The other scalings of the k-means starts of several features on small
#: data (:func:`metric_kmeans_names`), in order.
KMEANS_METRICS = {"whitened": whitened, "robust": robust_scaled}


def correlation_axes(X: np.ndarray, w: np.ndarray) -> tuple:
    """``(Z, eigenvalues, vectors)``: the :func:`standardized` data and the
    eigenvalues (ascending) and eigenvectors (columns) of their weighted
    correlation matrix."""
    Z = standardized(X, w)
    correlation = (Z * w[:, None]).T @ Z / w.sum()
    eigenvalues, vectors = np.linalg.eigh(correlation)
    return Z, eigenvalues, vectors


def svd_transform(X: np.ndarray, w: np.ndarray) -> tuple:
    """mclust's "SVD" transformation (Scrucca & Raftery 2015) as
    ``(mean, scale, projection)``, applied as
    ``((X - mean) / scale) @ projection``: the data standardized (standard
    deviations with ``n - 1``), projected on their right singular vectors,
    each divided by the square root of its singular value. Directions of
    (numerically) zero variance are dropped.

    Unlike whitening, the transformed data keep some of the components'
    relative scales, and the VVV agglomeration's cost is not invariant to a
    common scale factor: the exact transformation matters for reaching
    mclust's partitions."""
    total = w.sum()
    mean, variance = weighted_moments(X, w)
    variance = variance * (total / max(total - 1.0, 1e-300))  # (n - 1)
    scale = np.sqrt(variance)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    squared_singular, vectors = np.linalg.eigh((Z * w[:, None]).T @ Z)
    keep = squared_singular > 1e-10 * max(squared_singular.max(), 1e-300)
    return mean, scale, vectors[:, keep] / squared_singular[keep] ** 0.25


def _vvv_tree_labels(X: np.ndarray, w: np.ndarray, ks, random_state) -> dict:
    """``{k: labels}`` from one VVV agglomeration (:mod:`.model_tree`) on
    (a subsample of) the SVD-scaled data, as mclust's default start; rows
    left out of the subsample join the nearest cluster mean."""
    rng = np.random.default_rng(random_state)
    # the tree keeps a d x d scatter matrix per row: fewer rows in many
    # dimensions (2,000 rows up to 44 features)
    max_rows = min(TREE_MAX_ROWS, VVV_TREE_SCATTER_BUDGET // X.shape[1] ** 2)
    rows = _tree_rows(w, rng, max(max_rows, 2))
    if len(rows) < 2:
        return {}
    # rows drawn in proportion to weight count once each
    subsampled = len(rows) < np.count_nonzero(w > 0)
    tree_w = np.ones(len(rows)) if subsampled else w[rows]
    if tree_w.sum() < len(rows):
        # fractional weights (e.g. summing to 1): the cost counts weights
        # as rows, so they are scaled to one per row on average
        tree_w = tree_w * (len(rows) / tree_w.sum())
    mean, scale, projection = svd_transform(X[rows], tree_w)
    if projection.shape[1] == 0:
        return {}
    Z = ((X[rows] - mean) / scale) @ projection
    # every row its own cluster at first, equal rows too (as mclust: equal
    # merge costs are then broken in its order, see model_tree)
    merges = vvv_merges(Z, tree_w, min_clusters=max(1, min(ks)))
    labels = {}
    every_row = ((X - mean) / scale) @ projection if subsampled else None
    for k, cut in partitions_from_merges(merges, len(rows), ks).items():
        if not subsampled:
            labels[k] = np.zeros(len(X), dtype=cut.dtype)
            labels[k][rows] = cut
            continue
        centres = np.stack([Z[cut == j].mean(axis=0) for j in range(k)])
        labels[k] = cdist(every_row, centres).argmin(axis=1)
    return labels


def _tree_rows(
    w: np.ndarray, rng: np.random.Generator, max_rows: int = TREE_MAX_ROWS
) -> np.ndarray:
    positive = np.flatnonzero(w > 0)
    if len(positive) <= max_rows:
        return positive
    p = w[positive] / w[positive].sum()
    return np.sort(rng.choice(positive, size=max_rows, replace=False, p=p))


def _tree_labels(Z: np.ndarray, w: np.ndarray, ks, random_state) -> dict:
    """``{k: labels}`` from one Ward tree on (a subsample of) ``Z``."""
    rng = np.random.default_rng(random_state)
    rows = _tree_rows(w, rng)
    if len(rows) < 2:
        return {}
    tree = linkage(Z[rows], method="ward")
    labels = {}
    cuts = _tree_cuts(tree, len(rows), ks)
    for k in ks:
        cut = cuts.get(k)
        if cut is None:  # duplicate rows: fewer clusters than asked
            continue
        if len(rows) == len(Z):
            labels[k] = cut
            continue
        centres = np.stack([Z[rows][cut == j].mean(axis=0) for j in range(k)])
        labels[k] = cdist(Z, centres).argmin(axis=1)
    return labels


def _interval_tree_for(X: np.ndarray) -> bool:
    """True when the trees of ``X`` are built by :func:`_interval_tree_labels`
    (one feature, compiled kernels: in Python its heap took 3.8 s per tree
    on 200,000 distinct values, where scipy's tree sees a 2,000-row
    subsample): scipy's tree of a 16-bit image's 2,000-row subsample
    took 86 of the camera sweep's 400 ms, and of an 8-bit histogram's 862
    values 16 of the 106 ms of the synthetic cell image's sweep. On
    continuous values the cuts are scipy's; on lattice values (histograms)
    equal merge costs abound and the two trees break them from opposite
    ends, scipy in its own order: on 72 images (ad-hoc A/B, session 11) 56
    candidate rows ended higher (by 4,747 BIC in all) and 60 lower (by
    20,263), no choice changed. With the "ward" tree weighted by the counts
    instead, the worse rows outweighed the better ones (59 higher, 58
    lower, 8,505 against 2,073 BIC): not kept."""
    return X.shape[1] == 1 and kernels.AVAILABLE


#: Most distinct values an interval tree is built on (more: evenly spaced
#: ones by rank; 0.15 s per tree at this size, 2 s at 10^6 values).
INTERVAL_TREE_MAX_VALUES = 100_000


def _interval_tree_labels(z: np.ndarray, w: np.ndarray, ks) -> dict:
    """``{k: labels}`` from the weighted Ward tree of one feature ``z``.

    In one dimension Ward's tree needs no distance matrix: clusters stay
    intervals of the sorted values, and the cheapest merge is always
    between two neighbouring intervals. (For intervals A < B < C with
    weights a, b, c and mean gaps s = m_B - m_A, t = m_C - m_B, the smaller
    of the neighbours' costs h(a, b) s^2 and h(b, c) t^2, with h(x, y) =
    x y / (x + y), is at most h(a, b) h(b, c) (s + t)^2 / (h(a, b) +
    h(b, c)) < h(a, c) (s + t)^2, since 1 / h(a, b) + 1 / h(b, c) = 1/a +
    1/c + 2/b > 1 / h(a, c); with several intervals between A and C, by
    induction: A and C cost more than A and B, or than B and C.) So the
    tree is built by merging the cheapest neighbouring pair with a heap, in
    O(n log n) for n distinct values (up to
    :data:`INTERVAL_TREE_MAX_VALUES`), and with the rows' weights: a distinct
    value of weight r merges as r equal rows would. (The default's starts
    pass weight 1 for every distinct value: the tree of the values a
    histogram has, not of its pixels; see :func:`_interval_tree_for`.)
    Equal costs merge the
    leftmost pair first; on unweighted continuous data the partitions are
    scipy's ``linkage(method="ward")`` cuts (tested).

    Rows of zero weight join the nearest cluster mean; K above the number
    of distinct positive-weight values is left out. Above
    :data:`INTERVAL_TREE_MAX_VALUES` distinct values the tree is built on
    that many, evenly spaced by rank, and every value joins the interval of
    the one at or below it.
    """
    z = np.asarray(z, dtype=float).ravel()
    positive = w > 0
    values, inverse = np.unique(z[positive], return_inverse=True)
    if len(values) < 2:
        return {}
    weights = np.bincount(inverse, weights=w[positive])
    # beyond INTERVAL_TREE_MAX_VALUES, the tree of evenly spaced (by rank)
    # values; each value then joins the interval of the one at or below it
    in_tree = None
    if len(values) > INTERVAL_TREE_MAX_VALUES:
        in_tree = np.unique(
            np.linspace(0, len(values) - 1, INTERVAL_TREE_MAX_VALUES).round()
        ).astype(np.intp)
    tree_values = values if in_tree is None else values[in_tree]
    tree_weights = weights if in_tree is None else weights[in_tree]
    # values of tiny weight (fractions summing to 1) merge by the same
    # costs up to a common factor: the order does not change
    removed_at = kernels.call(
        _interval_merge_steps,
        tree_values * tree_weights,
        tree_weights,
        max(1, min(ks)),
    )
    labels = {}
    for k in ks:
        if k > len(tree_values):
            continue
        # the k - 1 boundaries merged last (or never) separate the k clusters
        kept = removed_at >= len(tree_values) - k
        kept[0] = False
        of_value = np.cumsum(kept)
        if in_tree is not None:
            below = np.searchsorted(tree_values, values, side="right") - 1
            of_value = of_value[below]
        labels[k] = np.empty(len(z), dtype=np.int64)
        labels[k][positive] = of_value[inverse]
        if not positive.all():
            counts = np.bincount(of_value, weights=weights, minlength=k)
            means = np.bincount(of_value, weights=values * weights, minlength=k)
            means = means / counts
            labels[k][~positive] = np.abs(z[~positive, None] - means).argmin(axis=1)
    return labels


@njit(**kernels.COMPILE_OPTIONS)
def _interval_merge_steps(sums, weights, n_clusters):
    """Ward's merges of sorted 1-D values (``sums`` = value x weight) down
    to ``n_clusters`` intervals: ``removed_at[j]`` is the merge (0, 1, ...)
    that removed the boundary just before value ``j``, or ``n`` if none did.

    The heap holds ``(cost, left, right, left's version, right's version)``
    of neighbouring intervals, named by their first values; an entry whose
    intervals have merged since is stale and skipped."""
    n = weights.shape[0]
    following = np.arange(1, n + 1)
    preceding = np.arange(-1, n - 1)
    version = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=np.bool_)
    weight = weights.copy()
    total = sums.copy()
    removed_at = np.full(n, n, dtype=np.int64)
    heap = [(0.0, 0.0, 0.0, 0.0, 0.0)]
    heap.pop()  # (typed empty list)
    for left in range(n - 1):
        heap.append(_merge_entry(total, weight, version, left, left + 1))
    heapq.heapify(heap)
    merges = 0
    while merges < n - n_clusters and len(heap) > 0:
        _, first, second, first_version, second_version = heapq.heappop(heap)
        left = int(first)
        right = int(second)
        if not (
            alive[left]
            and alive[right]
            and following[left] == right
            and version[left] == first_version
            and version[right] == second_version
        ):
            continue
        weight[left] += weight[right]
        total[left] += total[right]
        alive[right] = False
        removed_at[right] = merges
        merges += 1
        version[left] += 1
        after = following[right]
        following[left] = after
        if after < n:
            preceding[after] = left
            heapq.heappush(heap, _merge_entry(total, weight, version, left, after))
        before = preceding[left]
        if before >= 0:
            heapq.heappush(heap, _merge_entry(total, weight, version, before, left))
    return removed_at


@njit(**kernels.COMPILE_OPTIONS)
def _merge_entry(total, weight, version, left, right):
    """The heap entry of merging neighbouring intervals ``left``, ``right``."""
    gap = total[left] / weight[left] - total[right] / weight[right]
    cost = weight[left] * weight[right] / (weight[left] + weight[right]) * gap * gap
    return (
        cost,
        float(left),
        float(right),
        float(version[left]),
        float(version[right]),
    )


def _tree_cuts(tree: np.ndarray, n: int, ks) -> dict:
    """``{k: labels}``: scipy's ``fcluster(tree, k, "maxclust") - 1`` for
    every ``k`` at once, without its per-call checks (~0.2 ms each, 27 calls
    per sweep); ``k`` is left out where ``fcluster`` makes fewer clusters
    (an equal merge height at the cut: duplicate rows) or ``k > n``.

    ``tree`` is a linkage matrix sorted by height (as ``linkage`` returns
    it), so the k clusters are those of its first ``n - k`` merges; they are
    numbered as ``fcluster`` numbers them (tested)."""
    heights = tree[:, 2]
    wanted = [
        int(k)
        for k in ks
        if 1 <= k < n and (k == 1 or heights[n - k] > heights[n - k - 1])
    ]
    cuts = {}
    if wanted and kernels.AVAILABLE:
        children = np.ascontiguousarray(tree[:, :2], dtype=np.int64)
        found = kernels.call(_cuts_compiled, children, n, np.asarray(wanted))
        cuts = dict(zip(wanted, found, strict=True))
    elif wanted:
        cuts = {k: fcluster(tree, t=k, criterion="maxclust") - 1 for k in wanted}
    if n in ks:  # (tiny data: scipy's own numbering of n singletons)
        cut = fcluster(tree, t=n, criterion="maxclust") - 1
        if cut.max() + 1 == n:
            cuts[n] = cut
    return cuts


@njit(**kernels.COMPILE_OPTIONS)
def _cuts_compiled(children, n, ks):
    """:func:`_tree_cuts`' labels, shape ``(len(ks), n)``.

    The numbering is ``fcluster``'s: depth first from the top, left child
    first; a cluster (a node of the first ``n - k`` merges) is numbered on
    reaching it, a row left on its own when its parent's children are
    done."""
    labels = np.empty((ks.shape[0], n), dtype=np.int64)
    nodes = np.empty(2 * n, dtype=np.int64)  # (the stack)
    finishing = np.empty(2 * n, dtype=np.bool_)
    inside = np.empty(n, dtype=np.int64)  # (the stack of a cluster's nodes)
    for c in range(ks.shape[0]):
        merged = n - ks[c]
        following = 0
        nodes[0] = 2 * n - 2
        finishing[0] = False
        depth = 1
        while depth > 0:
            depth -= 1
            node = nodes[depth]
            merge = node - n
            if finishing[depth]:
                for side in range(2):
                    child = children[merge, side]
                    if child < n:
                        labels[c, child] = following
                        following += 1
                continue
            if merge < merged:  # a cluster: every row below it
                inside[0] = node
                size = 1
                while size > 0:
                    size -= 1
                    below = inside[size]
                    if below < n:
                        labels[c, below] = following
                    else:
                        inside[size] = children[below - n, 0]
                        inside[size + 1] = children[below - n, 1]
                        size += 2
                following += 1
                continue
            finishing[depth] = True
            depth += 1
            for side in (1, 0):  # the left child's subtree first
                child = children[merge, side]
                if child >= n:
                    nodes[depth] = child
                    finishing[depth] = False
                    depth += 1
    return labels


def kmeans_names(n_kmeans: int) -> list[str]:
    """Names of the k-means starts: "kmeans", then "kmeans2", "kmeans3"..."""
    return ["kmeans"] + [f"kmeans{i + 1}" for i in range(1, n_kmeans)]


#: Below this many rows the first k-means start is scikit-learn's ``KMeans``
#: computed by its compiled twin (:func:`~.kmeans.sklearn_kmeans_partitions`:
#: the same partitions without ~1 ms of per-call overhead each; on a 50-row
#: table its 18 calls were a sixth of the sweep); from it on, ``KMeans``
#: itself in its OpenMP threads.
SERIAL_KMEANS_ROWS = 20_000


def _kmeans_labels(Z: np.ndarray, w: np.ndarray, ks, random_state) -> dict:
    n_positive = int(np.count_nonzero(w > 0))
    ks = [k for k in ks if k <= n_positive]
    if len(Z) < SERIAL_KMEANS_ROWS:
        return sklearn_kmeans_partitions(Z, w, ks, random_state)
    return {k: sklearn_kmeans(Z, w, k, random_state, one_thread=False) for k in ks}


def _compiled_kmeans_labels(Z: np.ndarray, w: np.ndarray, ks, seed) -> dict:
    """As :func:`_kmeans_labels`, with :func:`~.kmeans.kmeans_partitions`."""
    n_positive = int(np.count_nonzero(w > 0))
    return kmeans_partitions(Z, w, [k for k in ks if k <= n_positive], seed)


def _subsample_kmeans_labels(Z: np.ndarray, w: np.ndarray, ks, seed, rows) -> dict:
    """:func:`_compiled_kmeans_labels` of the rows ``rows`` only, every row
    then joining the nearest cluster mean: a k-means start costs what it
    does on the subsample, which is all the short runs see."""
    Z_part, w_part = Z[rows], w[rows]
    found = _compiled_kmeans_labels(Z_part, w_part, ks, seed)
    return {
        k: nearest_centre_labels(Z, Z_part, w_part, labels, k)
        for k, labels in found.items()
    }


def metric_kmeans_names(n_metric: int) -> list[str]:
    """Names of the k-means starts on other scalings (:data:`KMEANS_METRICS`):
    "kmeans_whitened", "kmeans_whitened2", ..., then "kmeans_robust", ..."""
    return [
        f"kmeans_{metric}" + ("" if i == 0 else str(i + 1))
        for metric in KMEANS_METRICS
        for i in range(n_metric)
    ]


def axis_names(n_features: int) -> list[str]:
    """Names of the one-feature starts: "axis1", "axis2", ..."""
    return [f"axis{j + 1}" for j in range(n_features)]


def random_rows_names(n_random: int) -> list[str]:
    """Names of the random-rows starts: "random_rows", "random_rows2", ..."""
    return ["random_rows"] + [f"random_rows{i + 1}" for i in range(1, n_random)]


def _random_rows_labels(Z: np.ndarray, w: np.ndarray, ks, seed, chosen=None) -> dict:
    """``{k: labels}``: each row joins the nearest of k random rows.

    The random starts of emEM (Biernacki, Celeux & Govaert 2003): unlike
    k-means they do not all fall into the partition of least inertia, whose
    basin is not always the mixture's best (measured: 10^4 points from 4
    blobs, diag K=3, where every k-means and tree start ends 869 BIC above
    scikit-learn's raw-data k-means start, and 3 of 8 random-rows starts
    reach that better optimum). Rows are drawn with probability
    proportional to their weight, skipping values already drawn, so a row
    of weight r and r repeated rows give the same start (as for k-means).

    ``chosen`` (``{k: rows}``, from :func:`_random_rows_chosen` on the same
    rows, scaled otherwise) skips the draws: the rows drawn do not depend
    on how the features are scaled.
    """
    if chosen is None:
        chosen = _random_rows_chosen(Z, w, ks, seed)
    labels = {}
    for k, rows in chosen.items():
        if kernels.AVAILABLE:
            labels[k] = kernels.call(_nearest_row, Z, rows)
        else:
            labels[k] = cdist(Z, Z[rows], "sqeuclidean").argmin(axis=1)
    return labels


def _random_rows_chosen(Z: np.ndarray, w: np.ndarray, ks, seed) -> dict:
    """``{k: rows}`` of :func:`_random_rows_labels`: the first k distinct
    values among up to 20 k + 100 rows drawn in proportion to ``w``, in
    the order drawn; K with fewer distinct values drawn is left out."""
    cumulative = np.cumsum(w)
    total = float(cumulative[-1]) if len(cumulative) else 0.0
    chosen = {}
    if total <= 0:
        return chosen
    for k in ks:
        # seeded by (seed, k): a candidate's start does not depend on which
        # other K the sweep tries
        rng = np.random.default_rng(None if seed is None else [seed, k])
        # (duplicates are redrawn, within reason), taken at once
        rows = np.searchsorted(cumulative, rng.random(20 * k + 100) * total, "right")
        rows = np.minimum(rows, len(Z) - 1)
        if kernels.AVAILABLE:
            rows = kernels.call(_first_distinct_rows, Z, w, rows, k)
        else:
            rows = _first_distinct_rows_python(Z, w, rows, k)
        if len(rows) == k:  # else fewer distinct values than k
            chosen[k] = rows
    return chosen


def _first_distinct_rows_python(Z, w, rows, k) -> np.ndarray:
    """:func:`_first_distinct_rows` without numba."""
    chosen, seen = [], set()
    for row in rows[w[rows] > 0].tolist():
        value = (Z[row] + 0.0).tobytes()  # (+ 0.0: -0.0 equals 0.0)
        if value not in seen:
            seen.add(value)
            chosen.append(row)
            if len(chosen) == k:
                break
    return np.asarray(chosen, dtype=np.int64)


@njit(**kernels.COMPILE_OPTIONS)
def _first_distinct_rows(Z, w, rows, k):
    """The first ``k`` rows among ``rows`` of positive weight whose values
    differ from every earlier one (fewer if there are not ``k``)."""
    chosen = np.empty(k, dtype=np.int64)
    n_chosen = 0
    for row in rows:
        if not w[row] > 0:
            continue
        new = True
        for i in range(n_chosen):
            same = True
            for j in range(Z.shape[1]):
                if Z[row, j] != Z[chosen[i], j]:  # (-0.0 equals 0.0)
                    same = False
                    break
            if same:
                new = False
                break
        if new:
            chosen[n_chosen] = row
            n_chosen += 1
            if n_chosen == k:
                break
    return chosen[:n_chosen]


@njit(**kernels.COMPILE_OPTIONS)
def _nearest_row(Z, rows):
    """Each row's nearest of ``Z[rows]`` by squared distance, summed over
    the features in order as scipy's ``cdist`` does (the first on ties)."""
    labels = np.empty(Z.shape[0], dtype=np.int64)
    for i in range(Z.shape[0]):
        best = np.inf
        for c in range(rows.shape[0]):
            distance = 0.0
            for j in range(Z.shape[1]):
                gap = Z[i, j] - Z[rows[c], j]
                distance += gap * gap
            if distance < best:
                best = distance
                labels[i] = c
    return labels


def start_partitions(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    ks,
    random_state: int,
    methods=START_METHODS,
    n_kmeans: int = 1,
    n_random: int = 0,
    n_jobs: int = 1,
    kmeans_rows: np.ndarray | None = None,
    n_metric_kmeans: int = 0,
) -> dict:
    """Hard partitions of the rows for every K, by every start method.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    ks : iterable of int
        Numbers of components.
    random_state : int
    methods : iterable of str
        Any of :data:`START_METHODS`.
    n_kmeans : int
        k-means starts, seeded ``random_state``, ``random_state + 1``, ...
        (named by :func:`kmeans_names`).
    n_random : int
        Random-rows starts (:func:`_random_rows_labels`), seeded
        ``random_state``, ``random_state + 1``, ... (named by
        :func:`random_rows_names`).
        The "axes" method makes one start per feature, named by
        :func:`axis_names`.
    n_jobs : int
        Above 1 (and from :data:`VVV_THREAD_MIN_ROWS` rows), the "vvv" tree
        is built in a second thread while this one computes the other
        starts (compiled code that releases the GIL): the same partitions,
        sooner.
    kmeans_rows : ndarray of int or None
        The k-means starts after the first are computed on these rows only
        (the short runs' subsample), every other row joining the nearest
        cluster mean; None: on all rows.
    n_metric_kmeans : int
        With the "kmeans" method and more than one feature, also this many
        k-means starts on each of the other scalings of
        :data:`KMEANS_METRICS` (whitened, robustly scaled), seeded as the
        others, for the non-spherical family only (named by
        :func:`metric_kmeans_names`).

    Returns
    -------
    dict
        ``{(method, k, family): labels}``, labels of shape ``(n_samples,)``
        with values ``0..k-1``, every cluster non-empty among positive-weight
        rows; ``family`` is "spherical" for the starts of spherical models
        (computed on :func:`common_scaled` data) and "" for the others
        (standardized data). Partitions that cannot be made (fewer distinct
        rows than ``k``) are left out.
    """
    X = np.asarray(X, dtype=float)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    ks = sorted(set(int(k) for k in ks))
    partitions = {}
    # the VVV tree is the costliest start (O(n^2) merge costs: 0.07 s of
    # 0.14 s of starts on 1,000 x 2 rows) and shares nothing with the
    # others: with a second thread it is built meanwhile
    pool = vvv_tree = None
    threaded = n_jobs > 1 and len(X) >= VVV_THREAD_MIN_ROWS
    if threaded and _vvv_tree_wanted(X, methods):
        pool = ThreadPoolExecutor(max_workers=1)
        vvv_tree = pool.submit(_vvv_tree_labels, X, w, ks, random_state)
    try:
        runs = _start_runs(
            X, w, ks, random_state, methods, n_kmeans, n_random, vvv_tree, kmeans_rows
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if n_metric_kmeans and "kmeans" in methods and X.shape[1] > 1:
        runs += _metric_kmeans_runs(X, w, ks, random_state, n_metric_kmeans)
    if X.shape[1] == 1:
        runs = [
            (family, method, found)
            for computed_for, method, found in runs
            if computed_for == ""
            for family in ("", "spherical")
        ]
    positive = None if np.all(w > 0) else w > 0
    for family, method, found in runs:
        for k, labels in found.items():
            kept = labels if positive is None else labels[positive]
            if np.all(np.bincount(kept, minlength=k) > 0):
                partitions[(method, k, family)] = labels
    return partitions


#: From this many rows :func:`start_partitions` with ``n_jobs > 1`` builds the
#: VVV tree in a second thread. Below, the thread costs more than it saves
#: (starts of 31 rows, medians of 5: 8.8 ms in one thread, 9.9 ms in two;
#: 150 rows: equal; 500 rows: 44.7 -> 30.0 ms).
VVV_THREAD_MIN_ROWS = 200


def _vvv_tree_wanted(X: np.ndarray, methods) -> bool:
    """:func:`start_partitions` builds the "vvv" tree: among the default's
    starts it is left out without numba and for one feature (there mclust's
    own start is another tree, its "V" model, and the image sweeps of
    histograms of up to a few thousand values took 20 % longer with this
    one and chose the same: benchmarks/vs_mclust.py --images)."""
    if "vvv" not in methods:
        return False
    if not kernels.AVAILABLE and len(methods) == 1:
        raise ValueError(
            "init_params='vvv' needs the compiled kernels (numba "
            "could not be imported, or NAPARI_GMM_KERNELS=numpy); "
            "use init_params='auto' or another start."
        )
    return kernels.AVAILABLE and not (X.shape[1] == 1 and len(methods) > 1)


def _start_runs(
    X, w, ks, random_state, methods, n_kmeans, n_random, vvv_tree, kmeans_rows=None
):
    """``[(family, method, {k: labels})]`` of :func:`start_partitions`, in
    its order; ``vvv_tree`` is the future of the "vvv" tree built in
    another thread, or None to build it here."""
    runs = []
    families = (("", standardized), ("spherical", common_scaled))
    if X.shape[1] == 1:
        # one feature: common scaling is standardizing, so every start is
        # computed once and serves both families
        families = families[:1]
    # the rows each random-rows start draws, the same for both families
    drawn = {}
    for family, scaled in families:
        Z = scaled(X, w)
        for i, name in enumerate(random_rows_names(n_random) if n_random else ()):
            seed = None if random_state is None else random_state + i
            if name not in drawn:
                drawn[name] = _random_rows_chosen(Z, w, ks, seed)
            labels = _random_rows_labels(Z, w, ks, seed, drawn[name])
            runs.append((family, name, labels))
        for method in methods:
            if method == "kmeans":
                for i, name in enumerate(kmeans_names(n_kmeans)):
                    seed = None if random_state is None else random_state + i
                    # the first is scikit-learn's own; the others are the
                    # same algorithm in one compiled call each (~1 ms less)
                    if i == 0:
                        labels = _kmeans_labels(Z, w, ks, seed)
                    elif kmeans_rows is None:
                        labels = _compiled_kmeans_labels(Z, w, ks, seed)
                    else:
                        labels = _subsample_kmeans_labels(Z, w, ks, seed, kmeans_rows)
                    runs.append((family, name, labels))
            elif method == "hierarchical":
                if family:  # whitening is the same for both families
                    continue
                if _interval_tree_for(X):
                    tree = _interval_tree_labels(Z, (w > 0).astype(float), ks)
                else:
                    tree = _tree_labels(whitened(X, w), w, ks, random_state)
                runs.append((family, method, tree))
                runs.append(("spherical", method, tree))
            elif method == "vvv":
                # (one tree serves both families)
                if family or not _vvv_tree_wanted(X, methods):
                    continue
                if vvv_tree is None:
                    tree = _vvv_tree_labels(X, w, ks, random_state)
                else:
                    tree = vvv_tree.result()
                runs.append((family, method, tree))
                runs.append(("spherical", method, tree))
            elif method == "axes":
                # k-means of one feature at a time: a partition along one
                # axis does not change when any feature is rescaled, and it
                # starts clusters that differ mostly in one feature (what
                # scikit-learn's k-means of raw data finds when that feature
                # has the largest spread, e.g. R's ChickWeight tied K = 2:
                # 82 BIC below every other start's end). Not for spherical
                # models (their k-means starts are on commonly scaled data,
                # which keeps the features' relative spreads) nor, among
                # other starts, for one feature (it is the k-means start)
                alone = len(methods) == 1
                if family or (X.shape[1] == 1 and not alone):
                    continue
                for j, name in enumerate(axis_names(X.shape[1])):
                    one = np.ascontiguousarray(Z[:, j : j + 1])
                    labels = _compiled_kmeans_labels(one, w, ks, random_state)
                    runs.append((family, name, labels))
                    if alone:
                        # asked for alone, they start spherical models too (a
                        # partition along one axis is unchanged by any scaling)
                        runs.append(("spherical", name, labels))
            elif method == "ward":
                if _interval_tree_for(X):
                    # the same tree as "hierarchical" but for equal merge
                    # costs (lattice values), merged from the other end
                    tree = _interval_tree_labels(-Z, (w > 0).astype(float), ks)
                else:
                    tree = _tree_labels(Z, w, ks, random_state)
                runs.append((family, method, tree))
            else:
                raise ValueError(
                    f"Unknown start method {method!r}; use one of "
                    f"{list(START_METHODS)}."
                )
    return runs


def _metric_kmeans_runs(X, w, ks, random_state, n_metric) -> list:
    """``[("", name, {k: labels})]``: k-means of each scaling of
    :data:`KMEANS_METRICS`, ``n_metric`` seeds each (all rows).

    Standardizing is one scale-free metric among several: whitening (any
    affine map of the data leaves it unchanged up to a rotation) and robust
    scaling lead k-means to other partitions, from which EM reaches optima
    the standardized seeds miss (R's banknote diag K = 7 from a whitened
    start, attenu tied K = 3 from a robust one, both scikit-learn's
    raw-data optima; docs/model-selection.md).
    """
    names = iter(metric_kmeans_names(n_metric))
    runs = []
    for scaled in KMEANS_METRICS.values():
        Z = scaled(X, w)
        for i in range(n_metric):
            seed = None if random_state is None else random_state + i
            runs.append(("", next(names), _compiled_kmeans_labels(Z, w, ks, seed)))
    return runs


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Labels (int64) renumbered by first appearance: equal partitions
    compare equal. Compiled: a sweep of small data compares ~400 partitions,
    and ``np.unique`` took 4 of its 21 ms of starts (50 rows)."""
    if kernels.AVAILABLE:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        return kernels.call(_first_appearance, labels)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


@njit(**kernels.COMPILE_OPTIONS)
def _first_appearance(labels):
    """:func:`_canonical` of non-negative integer labels, in one pass."""
    size = 0
    for label in labels:
        size = max(size, label + 1)
    number = np.full(size, -1, dtype=np.int64)
    renumbered = np.empty(labels.shape[0], dtype=np.int64)
    following = 0
    for i in range(labels.shape[0]):
        if number[labels[i]] < 0:
            number[labels[i]] = following
            following += 1
        renumbered[i] = number[labels[i]]
    return renumbered


def distinct_partitions(partitions: dict, methods) -> dict:
    """``partitions`` without those equal to an earlier method's (in the order
    of ``methods``) for the same K and family: one short run per distinct
    start (ten k-means seeds often find one partition). Computed once per
    sweep, not once per candidate."""
    rank = {method: i for i, method in enumerate(methods)}
    kept, seen = {}, set()
    for name, k, family in sorted(
        (key for key in partitions if key[0] in rank), key=lambda key: rank[key[0]]
    ):
        labels = partitions[(name, k, family)]
        key = (k, family, _canonical(labels).tobytes())
        if key not in seen:
            seen.add(key)
            kept[(name, k, family)] = labels
    return kept
