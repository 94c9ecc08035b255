"""Initializations shared by all candidates: agglomerative (Ward) starts.

scikit-learn initializes each candidate on its own (k-means, k-means++,
random). ``init_params="ward"`` instead builds one Ward hierarchy of the
data (on a random subsample of at most :data:`WARD_MAX_POINTS` points,
since the tree costs memory quadratic in its size), cuts it into K clusters
for every K, assigns every point to the nearest cluster mean, and starts
each candidate from those hard clusters' weights, means and covariances
(of the candidate's covariance type). The tree is computed once per sweep,
so every candidate with the same K starts from the same partition.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist

#: Largest number of points the Ward tree is built on.
WARD_MAX_POINTS = 2000


def _hard_parameters(X, w, labels, k, covariance_type, reg_covar):
    d = X.shape[1]
    onehot = np.zeros((len(X), k))
    onehot[np.arange(len(X)), labels] = w
    nk = onehot.sum(axis=0) + 10 * np.finfo(float).eps
    means = onehot.T @ X / nk[:, None]
    full = np.empty((k, d, d))
    for j in range(k):
        diff = X - means[j]
        full[j] = (onehot[:, j] * diff.T) @ diff / nk[j]
    if covariance_type not in ("tied", "diag", "spherical"):
        # full, and mclust's other models: their estimator projects the
        # clusters' full covariances into its model
        covariances = full + reg_covar * np.eye(d)
        precisions = np.linalg.inv(covariances)
    elif covariance_type == "tied":
        pooled = np.einsum("k,kij->ij", nk, full) / nk.sum() + reg_covar * np.eye(d)
        precisions = np.linalg.inv(pooled)
    elif covariance_type == "diag":
        precisions = 1.0 / (np.einsum("kii->ki", full) + reg_covar)
    else:  # spherical
        precisions = 1.0 / (np.einsum("kii->ki", full).mean(axis=1) + reg_covar)
    return nk / nk.sum(), means, precisions


def ward_initializations(
    X: np.ndarray,
    candidates,
    reg_covar: float,
    random_state: int,
    sample_weight: np.ndarray | None = None,
) -> dict:
    """Starting parameters of every candidate from one Ward hierarchy.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    candidates : iterable of (n_components, covariance_type)
    reg_covar : float
        Added to the covariance diagonals, as scikit-learn does.
    random_state : int
        Seed of the subsample the tree is built on.
    sample_weight : ndarray of shape (n_samples,), optional
        Weights (e.g. histogram counts): used for the parameters, and the
        subsample draws rows in proportion to them.

    Returns
    -------
    dict
        ``{(k, type): {"weights_init", "means_init", "precisions_init"}}``;
        candidates with more components than distinct rows are left out.
    """
    X = np.asarray(X, dtype=float)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    rng = np.random.default_rng(random_state)
    positive = np.flatnonzero(w > 0)
    if len(positive) > WARD_MAX_POINTS:
        p = w[positive] / w[positive].sum()
        rows = rng.choice(positive, size=WARD_MAX_POINTS, replace=False, p=p)
    else:
        rows = positive
    tree = linkage(X[rows], method="ward")
    starts = {}
    for k, covariance_type in candidates:
        if k > len(rows):
            continue
        cut = fcluster(tree, t=k, criterion="maxclust") - 1
        n_found = cut.max() + 1
        if n_found < k:  # duplicate points: fewer distinct clusters than asked
            continue
        centres = np.stack([X[rows][cut == j].mean(axis=0) for j in range(k)])
        labels = cdist(X, centres).argmin(axis=1)
        weights, means, precisions = _hard_parameters(
            X, w, labels, k, covariance_type, reg_covar
        )
        starts[(k, covariance_type)] = {
            "weights_init": weights,
            "means_init": means,
            "precisions_init": precisions,
        }
    return starts
