"""Deterministic component order and per-sample assignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture

from .em import row_max


def component_order(means: np.ndarray) -> np.ndarray:
    """Order that sorts components by their means, first feature first.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)

    Returns
    -------
    order : ndarray of shape (n_components,)
        Indices such that ``means[order]`` is sorted lexicographically
        (by feature 0, ties broken by feature 1, and so on).
    """
    means = np.asarray(means, dtype=float)
    # lexsort sorts by the *last* key first, so feed the features reversed.
    return np.lexsort(means.T[::-1])


def permute_components(model: GaussianMixture, order: np.ndarray) -> GaussianMixture:
    """Reorder a fitted mixture's components in place: new ``k`` = old ``order[k]``.

    The mixture density is unchanged (only the labels move), so predictions
    and scores are identical up to floating-point summation order.

    Returns
    -------
    model : GaussianMixture
        The same object, for chaining.
    """
    order = np.asarray(order, dtype=int)
    if sorted(order.tolist()) != list(range(model.n_components)):
        raise ValueError(
            f"order must be a permutation of 0..{model.n_components - 1}, got {order}."
        )
    model.weights_ = model.weights_[order]
    model.means_ = model.means_[order]
    if model.covariance_type != "tied":  # a tied covariance is shared: no order
        model.covariances_ = model.covariances_[order]
        model.precisions_ = model.precisions_[order]
        model.precisions_cholesky_ = model.precisions_cholesky_[order]
    return model


def sort_components(model: GaussianMixture) -> GaussianMixture:
    """Sort a fitted mixture's components by mean, see :func:`component_order`.

    This makes labels and colors independent of the random initialization.

    Returns
    -------
    model : GaussianMixture
        The same object, for chaining.
    """
    return permute_components(model, component_order(model.means_))


@dataclass(frozen=True)
class Assignment:
    """Hard assignment of samples to components.

    Attributes
    ----------
    labels : ndarray of int, shape (n_samples,)
        Component of each sample, numbered ``1..K`` (``model.predict(X) + 1``)
        so that 0 stays free for "no component", as in napari Labels layers;
        with a noise component (:mod:`.noise`) its samples get 0.
    probability : ndarray of float, shape (n_samples,)
        Posterior probability of the assigned component (``max_k tau_ik``).
    uncertainty : ndarray of float, shape (n_samples,)
        ``1 - probability``.
    """

    labels: np.ndarray
    probability: np.ndarray
    uncertainty: np.ndarray

    def counts(self, n_components: int) -> np.ndarray:
        """Samples per component, shape (n_components,), label 1 first."""
        return np.bincount(self.labels, minlength=n_components + 1)[1:]


#: Rows per block in :func:`assign` (bounds its N x K temporary arrays).
ASSIGN_BLOCK = 100_000


def assign(model: GaussianMixture, X: np.ndarray) -> Assignment:
    """Assign each row of ``X`` to its most probable component.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    Assignment

    Raises
    ------
    TypeError
        Complex or non-numeric ``X``.
    ValueError
        ``X`` of the wrong shape (another number of features than the
        model's), with NaN or infinite values, or values beyond
        :data:`~napari_gmm.core.settings.MAX_ABS_VALUE`.
    """
    X = _points_for(model, X)
    winner = np.empty(len(X), dtype=np.intp)
    probability = np.empty(len(X))
    responsibilities_of = _compiled_responsibilities(model, X)
    if responsibilities_of is None:
        responsibilities_of = model.predict_proba
    # in blocks, so that no N x K matrix for all N points exists at once
    for start in range(0, len(X), ASSIGN_BLOCK):
        block = slice(start, start + ASSIGN_BLOCK)
        responsibilities = responsibilities_of(X[block])
        winner[block] = responsibilities.argmax(axis=1)
        probability[block] = row_max(responsibilities)
    labels = (winner + 1).astype(np.int32)
    # a noise component is predict_proba's last column: its samples get 0
    labels[winner == model.n_components] = 0
    return Assignment(
        labels=labels,
        probability=probability,
        uncertainty=1.0 - probability,
    )


def _compiled_responsibilities(model: GaussianMixture, X: np.ndarray):
    """``predict_proba`` by the compiled E-step for a plain fitted
    :class:`~napari_gmm.core.em.WeightedGaussianMixture` (a sweep's
    candidates; within ~1e-12 of scikit-learn's computation, tested), or
    None for other mixtures (noise component, parsimonious models) and
    data the kernels do not take. An image's labels are its distinct
    values' (49,397 on the 16-bit camera: 15 ms in ``predict_proba``)."""
    from . import kernels
    from .em import WeightedGaussianMixture

    if type(model) is not WeightedGaussianMixture or not kernels.usable(X):
        return None
    shift = getattr(model, "shift_", None)
    means = model.means_ if shift is None else model.means_ - shift

    def responsibilities(block: np.ndarray) -> np.ndarray:
        rows = block if shift is None else block - shift
        _, log_resp, resp = kernels.e_step(
            np.ascontiguousarray(rows),
            np.ones(len(rows)),
            model.weights_,
            means,
            model.precisions_cholesky_,
            model.covariance_type,
        )
        # rows whose density is 0 (or infinite) under every component: the
        # kernel shares them equally, scikit-learn gives NaN, which the
        # image labelling reports as values too far from the model
        resp[np.isnan(log_resp).any(axis=1)] = np.nan
        return resp

    return responsibilities


def _points_for(model: GaussianMixture, X) -> np.ndarray:
    """``X`` as a finite float array of shape (n, the model's features), or
    one clear error (found by fuzzing: NaN, 1-D, scalar and complex input
    got scikit-learn's messages or silent NaN probabilities)."""
    from .em import check_finite_rows
    from .settings import MAX_ABS_VALUE

    n_features = int(model.means_.shape[1])
    if np.iscomplexobj(X):
        raise TypeError("X must be real numbers; got complex values.")
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"X must be numeric; could not convert it: {err}") from None
    if X.ndim == 1 and n_features == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}), the model's "
            f"{n_features} feature(s); got an array of shape {X.shape}."
        )
    check_finite_rows(X, "first")
    largest = float(max(X.max(), -X.min())) if X.size else 0.0  # (no |X| copy)
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"X has values as large as {largest:.3g}; beyond "
            f"{MAX_ABS_VALUE:.0e} the model's densities overflow. Use data on "
            "the scale the model was fitted on."
        )
    return X
