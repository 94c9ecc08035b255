"""Model-based agglomeration with the unconstrained (VVV) Gaussian cost.

Hierarchical agglomeration by the classification likelihood (Banfield &
Raftery 1993; Fraley 1998) merges, at every stage, the two clusters whose
union lowers the classification log-likelihood of a Gaussian model the
least. For the unconstrained model (each cluster its own volume, shape
and orientation; mclust's "VVV", its default start) the maximized
classification log-likelihood of a partition is, up to constants,
``-1/2 sum_k n_k log det(W_k / n_k)``, with ``n_k`` a cluster's weight and
``W_k`` its scatter matrix. That is undefined for clusters of at most ``d``
distinct rows (a zero determinant), where every agglomeration begins, so
the cost of a cluster is regularized::

    cost(k) = n_k log( (tr W_k + alpha) / n_k + det(W_k / n_k) / beta )

with ``alpha`` the data's mean variance (``tr W / (n d)`` over all rows)
and ``beta = 1``. Small clusters (no determinant yet) merge by the
log of their mean squared spread, as spherical clusters of varying volume
do; once the determinant outgrows the trace term the cost is the
unconstrained Gaussian one. This is the cost mclust 6's VVV agglomeration
minimizes with its default tuning constants: found by probing its merge
costs on small point sets (``hcvvv``'s reported changes; formula written
here from those numbers, not from its code), and checked by the merge
order on small random sets and by the partitions on mclust's data sets
(docs/model-selection.md). One difference is known: when both merged
clusters have more than ``d`` rows, mclust's reported cost sometimes
differs from this formula (its union's determinant is smaller), which can
change the order of later merges (seen on a 9-row set in 3-D); the
partitions of its data sets were not affected. Equal merge costs, common
on lattice data, are broken in mclust's order (its storage of clusters in
slots, probed on point sets built with equal costs): with it, all 271
merges of ``faithful`` (many repeated rows) are mclust's.

Merging clusters ``i`` and ``j`` changes the total cost by
``cost(i u j) - cost(i) - cost(j)``, with
``W_(i u j) = W_i + W_j + n_i n_j / (n_i + n_j) (m_i - m_j)(m_i - m_j)^T``
(``m``: the clusters' means), so it depends on the two clusters only: the
matrix of merge costs changes only in the merged cluster's row after each
merge. The agglomeration keeps that matrix and each row's minimum
(``O(m^2)`` memory and scans for ``m`` rows) and evaluates each new merge
cost with at most one determinant: none while the union has at most ``d``
distinct rows (it is zero), the matrix determinant lemma in the
eigenbasis of ``W_i`` (``O(d^2)``) when cluster ``j`` has no spread (one
distinct row), a Cholesky factorization (``O(d^3)``) otherwise.

Compiled with numba (:mod:`napari_gmm.core.kernels`); without numba the
same code runs as plain Python, far slower, and
:func:`~napari_gmm.core.starts.start_partitions` then leaves this start out
of the default's starts (and refuses ``init_params="vvv"`` with a message).
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .kernels import njit
from .kmeans import squared_distance

__all__ = ["partitions_from_merges", "vvv_merges"]


@njit(**kernels.COMPILE_OPTIONS)
def _determinant_lower(matrix):
    """Determinant of a symmetric matrix given by its lower triangle, which
    is overwritten by its Cholesky factor; 0 if it is not positive definite
    (a scatter matrix of too few rows, up to rounding)."""
    d = matrix.shape[0]
    total = 1.0
    for j in range(d):
        pivot = matrix[j, j]
        for m in range(j):
            pivot -= matrix[j, m] * matrix[j, m]
        if pivot <= 0.0:
            return 0.0
        total *= pivot
        pivot = math.sqrt(pivot)
        matrix[j, j] = pivot
        for i in range(j + 1, d):
            value = matrix[i, j]
            for m in range(j):
                value -= matrix[i, m] * matrix[j, m]
            matrix[i, j] = value / pivot
    return total


@njit(**kernels.COMPILE_OPTIONS)
def _cluster_cost(n, trace, determinant, alpha, beta):
    """``n log((trace + alpha) / n + determinant / beta)``."""
    return n * math.log((trace + alpha) / n + determinant / beta)


@njit(**kernels.COMPILE_OPTIONS)
def _merge_cost(
    i, j, n, size, means, scatter, trace, cost, alpha, beta, cofactors, vectors, work
):
    """``cost(i u j) - cost(i) - cost(j)``.

    ``cofactors, vectors``: ``prod_{b != a} lambda_b`` per eigenvalue
    ``lambda_a`` of ``scatter[i]`` and its eigenvectors (used when cluster
    ``j`` has no spread); ``work``: a ``(d, d)`` buffer.
    """
    d = means.shape[1]
    total = n[i] + n[j]
    pair = n[i] * n[j] / total
    union_trace = trace[i] + trace[j] + pair * squared_distance(means, i, means, j)
    determinant = 0.0
    if size[i] + size[j] > d:
        if trace[j] == 0.0:
            # det(W_i + c v v^T) = det(W_i) + c v^T adj(W_i) v, the adjugate
            # in the eigenbasis of W_i (defined when W_i is singular too)
            determinant = cofactors[d]
            for a in range(d):
                projection = 0.0
                for b in range(d):
                    projection += vectors[b, a] * (means[i, b] - means[j, b])
                determinant += pair * projection * projection * cofactors[a]
            determinant = max(determinant, 0.0) / total**d
        else:
            for a in range(d):
                delta_a = means[i, a] - means[j, a]
                for b in range(a + 1):
                    delta_b = means[i, b] - means[j, b]
                    work[a, b] = (
                        scatter[i, a, b] + scatter[j, a, b] + pair * delta_a * delta_b
                    ) / total
            determinant = _determinant_lower(work)
    union = _cluster_cost(total, union_trace, determinant, alpha, beta)
    return union - cost[i] - cost[j]


@njit(**kernels.COMPILE_OPTIONS)
def _cofactors(values):
    """``[prod_{b != a} values_b for a] + [prod values]``, shape ``(d + 1,)``."""
    d = values.shape[0]
    out = np.ones(d + 1)
    for a in range(d):
        for b in range(d):
            if b != a:
                out[a] *= values[b]
        out[d] *= values[a]
    return out


@njit(**kernels.COMPILE_OPTIONS)
def _row_minimum(D, active, row):
    """``(minimum, column)`` of ``D[row]`` over the other active clusters."""
    best, where = np.inf, -1
    for column in range(D.shape[0]):
        if active[column] and column != row and D[row, column] < best:
            best, where = D[row, column], column
    return best, where


@njit(**kernels.COMPILE_OPTIONS)
def _vvv_merges_compiled(Z, w, alpha, beta, min_clusters):
    m, d = Z.shape
    n = w.copy()
    size = np.ones(m, dtype=np.int64)
    means = Z.copy()
    scatter = np.zeros((m, d, d))
    trace = np.zeros(m)
    cost = np.empty(m)
    for i in range(m):
        cost[i] = _cluster_cost(n[i], 0.0, 0.0, alpha, beta)
    active = np.ones(m, dtype=np.bool_)
    work = np.empty((d, d))
    D = np.empty((m, m))
    # every pair of single rows: W = n_i n_j / (n_i + n_j) delta delta^T,
    # of rank one (its determinant is zero unless d = 1)
    for i in range(m):
        D[i, i] = np.inf
        for j in range(i + 1, m):
            squared = squared_distance(Z, i, Z, j)
            total = n[i] + n[j]
            union_trace = n[i] * n[j] / total * squared
            determinant = union_trace / total if d == 1 else 0.0
            union = _cluster_cost(total, union_trace, determinant, alpha, beta)
            D[i, j] = union - cost[i] - cost[j]
            D[j, i] = D[i, j]
    row_min = np.empty(m)
    row_arg = np.empty(m, dtype=np.int64)
    for i in range(m):
        row_min[i], row_arg[i] = _row_minimum(D, active, i)
    merges = np.empty((max(m - min_clusters, 0), 2), dtype=np.int64)
    # a row whose best partner was merged keeps its old minimum as a lower
    # bound (every other entry of its row is unchanged) and is marked stale;
    # it is rescanned only if it comes up as the overall best
    stale = np.zeros(m, dtype=np.bool_)
    # mclust's storage order, which breaks ties between equal merge costs
    # (common on lattice data): clusters sit in slots 0..l-1; a merged
    # cluster takes the lower of its two slots and the last slot's cluster
    # moves into the higher one; of equal costs, the pair whose higher slot
    # is largest merges first, then the one whose lower slot is (probed on
    # point sets built with equal costs)
    slot = np.arange(m)
    at_slot = np.arange(m)
    n_slots = m
    for stage in range(m - min_clusters):
        while True:  # the smallest cost, from rows that are not stale
            best = np.inf
            for i in range(m):
                if active[i] and row_min[i] < best:
                    best = row_min[i]
            rescanned = False
            for i in range(m):
                if active[i] and stale[i] and row_min[i] <= best:
                    row_min[i], row_arg[i] = _row_minimum(D, active, i)
                    stale[i] = False
                    rescanned = True
            if not rescanned:
                break
        if best == np.inf:
            return merges[:stage]
        # np.int64, not the constant -1: numba would also compile the
        # helpers these reach for a Literal[int](-1) argument (a first
        # sweep's compile time with an empty cache)
        keep = gone = high = low = np.int64(-1)
        for i in range(m):
            if not (active[i] and row_min[i] == best):
                continue
            for c in range(m):
                if c == i or not active[c] or D[i, c] != best:
                    continue
                pair_high = max(slot[i], slot[c])
                pair_low = min(slot[i], slot[c])
                if pair_high > high or (pair_high == high and pair_low > low):
                    high, low = pair_high, pair_low
                    keep, gone = min(i, c), max(i, c)
        if keep < 0:
            return merges[:stage]
        # slots: the merged cluster (named keep) takes the lower one, the last
        # slot's cluster moves into the higher one
        moved = at_slot[n_slots - 1]
        at_slot[low] = keep
        slot[keep] = low
        if high != n_slots - 1:
            at_slot[high] = moved
            slot[moved] = high
        n_slots -= 1
        merges[stage, 0], merges[stage, 1] = keep, gone
        total = n[keep] + n[gone]
        pair = n[keep] * n[gone] / total
        squared = squared_distance(means, keep, means, gone)
        for a in range(d):
            delta_a = means[keep, a] - means[gone, a]
            for b in range(d):
                delta_b = means[keep, b] - means[gone, b]
                scatter[keep, a, b] += scatter[gone, a, b] + pair * delta_a * delta_b
        for a in range(d):
            means[keep, a] = (
                n[keep] * means[keep, a] + n[gone] * means[gone, a]
            ) / total
        trace[keep] += trace[gone] + pair * squared
        n[keep] = total
        size[keep] += size[gone]
        determinant = 0.0
        if size[keep] > d:
            for a in range(d):
                for b in range(a + 1):
                    work[a, b] = scatter[keep, a, b] / total
            determinant = _determinant_lower(work)
        cost[keep] = _cluster_cost(total, trace[keep], determinant, alpha, beta)
        active[gone] = False
        values, vectors = np.linalg.eigh(scatter[keep])
        cofactors = _cofactors(np.maximum(values, 0.0))
        for r in range(m):
            if active[r] and r != keep:
                D[keep, r] = _merge_cost(
                    keep, r, n, size, means, scatter, trace, cost, alpha, beta,
                    cofactors, vectors, work,
                )  # fmt: skip
                D[r, keep] = D[keep, r]
        row_min[keep], row_arg[keep] = _row_minimum(D, active, keep)
        stale[keep] = False
        for r in range(m):
            if not active[r] or r == keep:
                continue
            if D[r, keep] <= row_min[r]:
                row_min[r], row_arg[r] = D[r, keep], keep
                stale[r] = False
            elif row_arg[r] == keep or row_arg[r] == gone:
                stale[r] = True
    return merges


def vvv_merges(
    Z: np.ndarray, w: np.ndarray | None = None, min_clusters: int = 1, beta: float = 1.0
) -> np.ndarray:
    """The merges of the VVV agglomeration of the rows of ``Z``.

    Parameters
    ----------
    Z : ndarray of shape (m, d)
        Rows to agglomerate (finite).
    w : ndarray of shape (m,), optional
        Positive row weights: a row of weight r counts as r equal rows (one
        distinct row). Default: ones.
    min_clusters : int, default 1
        Stop when this many clusters are left.
    beta : float, default 1
        Weight of the determinant against the trace in the cost.

    Returns
    -------
    ndarray of shape (m - min_clusters, 2)
        Stage by stage, the two clusters merged, each named by its lowest
        row index; the second joins the first.
    """
    Z = np.ascontiguousarray(Z, dtype=float)
    w = np.ones(len(Z)) if w is None else np.ascontiguousarray(w, dtype=float)
    if Z.ndim != 2 or len(w) != len(Z) or np.any(w <= 0):
        raise ValueError("Z must be (m, d) and w positive, of length m")
    total = float(w.sum())
    spread = float(w @ np.square(Z - (w @ Z) / total).sum(axis=1))
    # mclust's alpha: the scatter's trace over (rows x features), at least eps
    alpha = max(spread / (total * Z.shape[1]), np.finfo(float).eps)
    return _vvv_merges_compiled(Z, w, alpha, float(beta), int(min_clusters))


def partitions_from_merges(merges: np.ndarray, m: int, ks) -> dict:
    """``{k: labels}``: the partitions of ``m`` rows into ``k`` clusters.

    Labels of shape ``(m,)``, values ``0..k-1`` numbered by first row; a
    ``k`` the merges do not reach (fewer than ``m - k`` merges) is left out.
    """
    wanted = sorted({int(k) for k in ks if 1 <= k <= m}, reverse=True)
    owner = np.arange(m)  # each row's cluster, named by its lowest row
    partitions = {}
    n_clusters = m
    for k in wanted:
        while n_clusters > k and m - n_clusters < len(merges):
            keep, gone = merges[m - n_clusters]
            owner[owner == gone] = keep
            n_clusters -= 1
        if n_clusters == k:
            partitions[k] = np.unique(owner, return_inverse=True)[1]
    return partitions
