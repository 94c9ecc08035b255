"""Held-out log-likelihood by k-fold cross-validation: a criterion that is not BIC.

BIC approximates how well a model would predict new data with a penalty
derived from asymptotics. Cross-validation measures it: the data are split
into ``n_folds`` folds; each candidate is fitted on all folds but one and
scored on the one left out; the held-out log-likelihoods of the folds add up
to one number per candidate. The sweep reports

``cv = -2 * sum_folds sum_{i in fold} w_i log p(x_i | model fitted without the fold)``

so that, like BIC, lower is better and differences are on the same
"deviance" scale; but it has no ``p ln n`` penalty and the Kass-Raftery
grades of BIC differences do not apply to it. Each fold is fitted from the
candidate's own start and from its fit on all the data, and the better
training fit is scored (see ``napari_gmm.core.sweep``): ``2 x n_folds``
extra fits per candidate, so it is off by default.

Weighted rows (distinct pixel values with their counts) are split the way
the pixels themselves would be: each row's count is divided among the folds
at random (a multinomial draw), which needs integer counts.
"""

from __future__ import annotations

import numpy as np

#: Default number of folds when cross-validation is asked for.
CV_FOLDS = 5


def check_cv_folds(cv_folds) -> int | None:
    """None/0 (off) or an integer >= 2."""
    if cv_folds is None or (isinstance(cv_folds, (int, np.integer)) and cv_folds == 0):
        return None
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, (int, np.integer)):
        raise ValueError(
            f"cv_folds must be None (off) or an integer >= 2, got {cv_folds!r}."
        )
    if cv_folds < 2:
        raise ValueError(
            f"cv_folds must be >= 2 (each fold is held out once), got {cv_folds}."
        )
    return int(cv_folds)


def check_fold_split(n_samples: int, n_folds: int, sample_weight=None) -> None:
    """Raise ValueError when the data cannot be split into ``n_folds`` folds.

    Cheap (one pass over the weights): the sweep calls it before it starts,
    so a bad setting is an immediate error, not one at the first candidate.
    """
    if sample_weight is None:
        if n_samples < n_folds:
            raise ValueError(
                f"cv_folds={n_folds} needs at least {n_folds} samples, got {n_samples}."
            )
        return
    counts = np.asarray(sample_weight, dtype=float)
    if not np.all(counts == np.round(counts)):
        raise ValueError(
            "Cross-validation splits weighted rows as counts of samples, so the "
            "weights must be whole numbers (e.g. pixel counts)."
        )
    if counts.sum() < n_folds:
        raise ValueError(
            f"cv_folds={n_folds} needs a total weight of at least {n_folds}, "
            f"got {counts.sum():g}."
        )


def fold_weights(
    n_samples: int, n_folds: int, random_state: int, sample_weight=None
) -> np.ndarray:
    """Each row's weight in each held-out fold.

    Parameters
    ----------
    n_samples : int
    n_folds : int
    random_state : int
        Seed of the split.
    sample_weight : ndarray of shape (n_samples,), optional
        Integer counts; None means one sample per row.

    Returns
    -------
    ndarray of shape (n_folds, n_samples)
        Column sums equal the row weights. Without weights every row is in
        exactly one fold (folds differ in size by at most one); with counts,
        each count is split multinomially with equal probabilities.

    Raises
    ------
    ValueError
        Non-integer weights, or fewer samples than folds.
    """
    check_fold_split(n_samples, n_folds, sample_weight)
    rng = np.random.default_rng(random_state)
    if sample_weight is None:
        fold_of = np.empty(n_samples, dtype=int)
        fold_of[rng.permutation(n_samples)] = np.arange(n_samples) % n_folds
        out = np.zeros((n_folds, n_samples))
        out[fold_of, np.arange(n_samples)] = 1.0
        return out
    counts = np.asarray(sample_weight, dtype=float)
    probabilities = np.full(n_folds, 1.0 / n_folds)
    split = rng.multinomial(counts.astype(np.int64), probabilities)
    return split.T.astype(float)


def held_out_criterion(fit_on, X: np.ndarray, folds: np.ndarray, weights=None):
    """``-2 x`` the held-out log-likelihood summed over the folds.

    Parameters
    ----------
    fit_on : callable
        ``fit_on(train_weights)`` returns a model fitted to ``X`` with those
        sample weights (rows with weight 0 are left out of the fit).
    X : ndarray of shape (n_samples, n_features)
    folds : ndarray of shape (n_folds, n_samples)
        From :func:`fold_weights`.
    weights : ndarray of shape (n_samples,), optional
        Row weights (None: one per row); training weights are
        ``weights - fold``.

    Returns
    -------
    float
        Lower is better.
    """
    total = np.ones(X.shape[0]) if weights is None else np.asarray(weights, float)
    held_out = 0.0
    for fold in folds:
        rows = fold > 0
        if not rows.any():
            continue  # an empty held-out fold (weights split by chance)
        model = fit_on(total - fold)
        held_out += float(np.sum(fold[rows] * model.score_samples(X[rows])))
    return -2.0 * held_out
