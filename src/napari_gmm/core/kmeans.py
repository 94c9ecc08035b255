"""A small weighted k-means, compiled, for the many extra starts on small data.

On data of at most a few thousand rows the default sweep starts every
candidate from ten k-means partitions per covariance family
(:mod:`napari_gmm.core.starts`). scikit-learn's ``KMeans`` costs ~1.5 ms
per call there, nearly all of it per-call overhead (validation, thread
pools, seeding set-up): with 2 x 9 x 10 calls it was half of a whole sweep
on R's ``faithful`` (272 rows), measured with ``cProfile``. This module
computes the same kind of partition in one compiled call, ~0.15 ms
with its Python wrapper (cProfile on faithful: 162 calls, 0.025 s).
The first k-means start, scikit-learn's own partition, is computed here too
(:func:`sklearn_kmeans_partitions`): the same steps, with scikit-learn's
random numbers, tolerance and stopping.

The algorithm is the textbook one, written from the papers:

* greedy k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre
  is a row drawn with probability proportional to its weight; each further
  centre is the best (lowest weighted potential) of ``2 + floor(log k)``
  rows drawn with probability proportional to weight x squared distance to
  the nearest centre so far;
* Lloyd's iterations (Lloyd 1982) with weighted means, until no label
  changes or the centres move less than ``tol`` x the mean feature variance
  (squared, summed), at most ``max_iter`` times. A cluster left empty is
  moved onto the row farthest from its centre.

The random numbers are drawn beforehand with numpy (``default_rng(seed)``),
so the compiled function and its numpy twin (used when numba is switched
off, see :mod:`napari_gmm.core.kernels`) make the same partition from the
same seed (tested in ``tests/test_kmeans.py``).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import check_random_state

from . import kernels
from .kernels import njit

__all__ = [
    "kmeans_labels",
    "kmeans_partitions",
    "nearest_centre_labels",
    "sklearn_kmeans",
    "sklearn_kmeans_partitions",
    "squared_distance",
]

#: Lloyd's iterations stop when the centres' squared shift, summed, is below
#: this times the mean feature variance (scikit-learn's default tolerance).
TOLERANCE = 1e-4

#: At most this many Lloyd iterations (scikit-learn's default).
MAX_ITER = 300


def _n_trials(n_clusters: int) -> int:
    """Candidates drawn per centre in greedy k-means++ (2 + floor(log k))."""
    return 2 + int(math.log(n_clusters))


def _draws(n_clusters: int, seed, stream=None) -> np.ndarray:
    """Uniform numbers for the seeding, shape ``(n_clusters, n_trials)``: the
    first of ``default_rng(seed)``'s numbers (or of ``stream``, at least
    that many of them drawn from it)."""
    size = n_clusters * _n_trials(n_clusters)
    if stream is None:
        stream = np.random.default_rng(seed).random(size)
    return stream[:size].reshape(n_clusters, _n_trials(n_clusters))


@njit(**kernels.COMPILE_OPTIONS)
def squared_distance(Z, i, centres, c):
    """``|Z[i] - centres[c]|^2``, summed feature by feature (compiled)."""
    total = 0.0
    for j in range(Z.shape[1]):
        difference = Z[i, j] - centres[c, j]
        total += difference * difference
    return total


@njit(**kernels.COMPILE_OPTIONS)
def _pick(cumulative, value):
    """First index whose cumulative weight is >= value (clipped to the end)."""
    index = np.searchsorted(cumulative, value)
    return min(index, cumulative.shape[0] - 1)


@njit(**kernels.COMPILE_OPTIONS)
def _copy_row(source, row, target, at):
    """``target[at] = source[row]``, element by element: numba compiles an
    array assignment with a shape check whose error message alone (string
    formatting) took seconds of a first sweep's compile time."""
    for j in range(source.shape[1]):
        target[at, j] = source[row, j]


@njit(**kernels.COMPILE_OPTIONS)
def _seed_compiled(Z, w, n_clusters, draws, first):
    """k-means++ centres; the first is row ``first``, or, when it is -1, the
    row that ``draws[0, 0]`` picks by weight; ``draws[c]`` pick centre c's
    candidates."""
    n, d = Z.shape
    centres = np.empty((n_clusters, d))
    if first < 0:
        first = _pick(np.cumsum(w), draws[0, 0] * w.sum())
    first_centre = np.int64(0)  # (not a literal 0: see model_tree's note)
    _copy_row(Z, first, centres, first_centre)
    closest = np.empty(n)
    for i in range(n):
        closest[i] = squared_distance(Z, i, centres, first_centre)
    candidate_distance = np.empty(n)
    best_distance = np.empty(n)
    for c in range(1, n_clusters):
        cumulative = np.cumsum(w * closest)
        potential = cumulative[-1]
        best_potential = np.inf
        best_row = 0
        for t in range(draws.shape[1]):
            row = _pick(cumulative, draws[c, t] * potential)
            _copy_row(Z, row, centres, c)
            total = 0.0
            for i in range(n):
                distance = min(closest[i], squared_distance(Z, i, centres, c))
                candidate_distance[i] = distance
                total += w[i] * distance
            if total < best_potential:
                best_potential = total
                best_row = row
                for i in range(n):
                    best_distance[i] = candidate_distance[i]
        _copy_row(Z, best_row, centres, c)
        for i in range(n):
            closest[i] = best_distance[i]
    return centres


@njit(**kernels.COMPILE_OPTIONS)
def _assign(Z, centres, labels, distances):
    """Nearest centre of every row (ties: the lower index); True if changed."""
    changed = False
    for i in range(Z.shape[0]):
        best = np.inf
        best_c = 0
        for c in range(centres.shape[0]):
            distance = squared_distance(Z, i, centres, c)
            if distance < best:
                best = distance
                best_c = c
        if labels[i] != best_c:
            changed = True
            labels[i] = best_c
        distances[i] = best
    return changed


@njit(**kernels.COMPILE_OPTIONS)
def _lloyd_compiled(Z, w, centres, tol, max_iter, relocate):
    """Lloyd's iterations from ``centres``: ``(labels, True)``, or, when a
    cluster is left empty and ``relocate`` is False, ``(labels, False)`` at
    once (scikit-learn moves empty clusters otherwise)."""
    n, d = Z.shape
    n_clusters = centres.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    distances = np.empty(n)
    _assign(Z, centres, labels, distances)
    for _ in range(max_iter):
        sums = np.zeros((n_clusters, d))
        totals = np.zeros(n_clusters)
        for i in range(n):
            totals[labels[i]] += w[i]
            for j in range(d):
                sums[labels[i], j] += w[i] * Z[i, j]
        shift = 0.0
        for c in range(n_clusters):
            if totals[c] > 0:
                for j in range(d):
                    value = sums[c, j] / totals[c]
                    shift += (value - centres[c, j]) ** 2
                    centres[c, j] = value
            elif not relocate:
                return labels, False
            else:  # empty: onto the positive-weight row farthest from its centre
                far = -1.0
                far_row = 0
                for i in range(n):
                    if w[i] > 0 and distances[i] > far:
                        far = distances[i]
                        far_row = i
                for j in range(d):
                    shift += (Z[far_row, j] - centres[c, j]) ** 2
                    centres[c, j] = Z[far_row, j]
                distances[far_row] = 0.0
        changed = _assign(Z, centres, labels, distances)
        if not changed or shift <= tol:
            break
    return labels, True


def _seed_numpy(Z, w, n_clusters, draws):
    """:func:`_seed_compiled` with numpy arrays (the same choices)."""
    centres = np.empty((n_clusters, Z.shape[1]))
    cumulative = np.cumsum(w)
    first = min(np.searchsorted(cumulative, draws[0, 0] * w.sum()), len(Z) - 1)
    centres[0] = Z[first]
    closest = ((Z - centres[0]) ** 2).sum(axis=1)
    for c in range(1, n_clusters):
        cumulative = np.cumsum(w * closest)
        rows = np.minimum(
            np.searchsorted(cumulative, draws[c] * cumulative[-1]), len(Z) - 1
        )
        to_rows = ((Z[None, :, :] - Z[rows][:, None, :]) ** 2).sum(axis=2)
        candidate = np.minimum(closest[None, :], to_rows)
        best = int(np.argmin(candidate @ w))
        centres[c] = Z[rows[best]]
        closest = candidate[best]
    return centres


def _lloyd_numpy(Z, w, centres, tol, max_iter):
    """:func:`_lloyd_compiled` with numpy arrays."""
    n_clusters = len(centres)

    def nearest():
        squared = ((Z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = np.argmin(squared, axis=1)
        return labels, squared[np.arange(len(Z)), labels]

    labels, distances = nearest()
    for _ in range(max_iter):
        totals = np.bincount(labels, weights=w, minlength=n_clusters)
        shift = 0.0
        for c in range(n_clusters):
            if totals[c] > 0:
                value = (w[labels == c] @ Z[labels == c]) / totals[c]
            else:
                far_row = int(np.argmax(np.where(w > 0, distances, -1.0)))
                value = Z[far_row]
                distances[far_row] = 0.0
            shift += float(((value - centres[c]) ** 2).sum())
            centres[c] = value
        previous = labels
        labels, distances = nearest()
        if np.array_equal(labels, previous) or shift <= tol:
            break
    return labels


def kmeans_labels(Z: np.ndarray, w: np.ndarray, n_clusters: int, seed) -> np.ndarray:
    """Weighted k-means partition of the rows of ``Z``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Finite data (the sweep's standardized or commonly scaled data).
    w : ndarray of shape (n_samples,)
        Non-negative weights, at least ``n_clusters`` of them positive.
    n_clusters : int
    seed : int or None
        Seeds numpy's ``default_rng`` for the k-means++ draws.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Values ``0..n_clusters-1``; a cluster can be empty only when the
        rows have fewer than ``n_clusters`` distinct positive-weight values.
    """
    return kmeans_partitions(Z, w, [n_clusters], seed)[n_clusters]


def kmeans_partitions(Z: np.ndarray, w: np.ndarray, ks, seed) -> dict:
    """``{k: kmeans_labels(Z, w, k, seed)}`` for every k of ``ks``, with the
    data's preparation (contiguous copies, the tolerance) done once."""
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    centre = np.average(Z, axis=0, weights=w)
    variances = np.average((Z - centre) ** 2, axis=0, weights=w)
    tol = TOLERANCE * float(variances.mean())
    # one generator for every k (each k's draws are the first of its numbers)
    ks = list(ks)
    most = max((k * _n_trials(k) for k in ks), default=0)
    stream = np.random.default_rng(seed).random(most)
    return {k: _partition(Z, w, k, _draws(k, seed, stream), tol) for k in ks}


def nearest_centre_labels(
    Z: np.ndarray, Z_part: np.ndarray, w_part: np.ndarray, labels: np.ndarray, k: int
) -> np.ndarray:
    """Every row of ``Z`` joins the nearest weighted cluster mean of a
    partition ``labels`` (values ``0..k-1``) of the rows ``Z_part`` with
    weights ``w_part``: a partition of a subsample extended to all rows.

    Returns labels of shape ``(len(Z),)``; a cluster without weight in the
    partition gets no row.
    """
    totals = np.bincount(labels, weights=w_part, minlength=k)
    sums = np.zeros((k, Z.shape[1]))
    np.add.at(sums, labels, w_part[:, None] * Z_part)
    # an empty cluster's mean is put out of reach (no row joins it)
    centres = np.divide(
        sums, totals[:, None], out=np.full_like(sums, np.inf), where=totals[:, None] > 0
    )
    if kernels.AVAILABLE:
        Z = np.ascontiguousarray(Z, dtype=np.float64)
        out = np.zeros(len(Z), dtype=np.int64)
        kernels.call(_assign, Z, centres, out, np.empty(len(Z)))
        return out
    out = np.empty(len(Z), dtype=np.int64)
    for block in range(0, len(Z), 65_536):  # (bounded memory)
        part = Z[block : block + 65_536]
        out[block : block + 65_536] = np.argmin(
            ((part[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1
        )
    return out


def _partition(Z, w, n_clusters, draws, tol):
    if kernels.AVAILABLE:
        centres = kernels.call(_seed_compiled, Z, w, n_clusters, draws, -1)
        labels, _ = kernels.call(_lloyd_compiled, Z, w, centres, tol, MAX_ITER, True)
        return labels
    centres = _seed_numpy(Z, w, n_clusters, draws)
    return _lloyd_numpy(Z, w, centres, tol, MAX_ITER)


def sklearn_kmeans_partitions(Z: np.ndarray, w: np.ndarray, ks, seed) -> dict:
    """``{k: KMeans(k, n_init=1, random_state=seed).fit(Z, sample_weight=w)
    .labels_}`` for scikit-learn's ``KMeans`` (k-means++ and Lloyd), in one
    compiled call per k instead of ~1 ms of per-call overhead each.

    The same computation: the data centred on their (unweighted) mean, the
    tolerance ``1e-4`` x the mean (unweighted) feature variance, the first
    centre drawn by ``RandomState(seed).choice`` with probabilities
    proportional to ``w`` and each further centre's candidates by
    ``uniform``, in scikit-learn's order; Lloyd's iterations stop as
    scikit-learn's (no label changed, or the centres' squared shift at most
    the tolerance). The distances are summed feature by feature, where
    scikit-learn expands ``|x|^2 - 2 x.c + |c|^2``, so a row at equal
    distance from two centres up to rounding can go the other way, and
    Lloyd's iterations then go on elsewhere. On continuous data that does
    not happen (``tests/test_kmeans.py`` checks equal labels); on lattice
    data (histograms, rounded values) rows are often exactly halfway
    between two centres that are data rows themselves, and the two
    partitions then differ now and then, as scikit-learn's own can
    between two BLAS libraries (docs/model-selection.md). For
    the one case handled differently, a cluster left empty during Lloyd's
    iterations (scikit-learn moves it onto the rows farthest from their
    centres, in an order of its own), scikit-learn's ``KMeans`` itself is
    run. Without numba it always is.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Finite data.
    w : ndarray of shape (n_samples,)
        Non-negative weights, at least ``max(ks)`` of them positive.
    ks : iterable of int
    seed : int or None
        scikit-learn's ``random_state``.

    Returns
    -------
    dict
        ``{k: labels}``, labels of shape ``(n_samples,)``.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    tol = TOLERANCE * float(np.mean(np.var(Z, axis=0)))
    centred = Z - Z.mean(axis=0)
    labels = {}
    for k in ks:
        found = None
        if kernels.AVAILABLE:
            # (None: numpy's global RandomState, as scikit-learn's)
            random_state = check_random_state(seed)
            first = int(random_state.choice(len(Z), p=w / w.sum()))
            draws = np.empty((k, _n_trials(k)))
            draws[1:] = random_state.uniform(size=(k - 1, _n_trials(k)))
            centres = kernels.call(_seed_compiled, centred, w, k, draws, first)
            found, ok = kernels.call(
                _lloyd_compiled, centred, w, centres, tol, MAX_ITER, False
            )
            if not ok:
                found = None
        labels[k] = sklearn_kmeans(Z, w, k, seed) if found is None else found
    return labels


def sklearn_kmeans(Z, w, n_clusters, seed, one_thread: bool = True) -> np.ndarray:
    """``KMeans(n_clusters, n_init=1, random_state=seed).fit(Z,
    sample_weight=w).labels_``, without scikit-learn's per-fit checks (Z is
    finite and the settings are ours: a few ms each); with ``one_thread``
    its OpenMP in one thread: on small data the threads only synchronise,
    and they spin badly when the cores are busy (measured: 272 rows, 64 ms
    per k-means with 2 threads on a loaded 2-core machine, ~1 ms with one).
    """
    from contextlib import nullcontext

    from sklearn import config_context
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    quiet = config_context(skip_parameter_validation=True, assume_finite=True)
    limits = nullcontext()
    if one_thread:
        limits = threadpool_limits(limits=1, user_api="openmp")
    with limits, quiet:
        model = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
        return model.fit(Z, sample_weight=w).labels_
