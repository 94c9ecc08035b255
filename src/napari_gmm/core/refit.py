"""Refitting a displayed model when the points change (live mode)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from .components import permute_components, sort_components
from .points import match_components

#: Live-mode strategies, in the order the widget offers them.
REFIT_MODES = ("warm start", "same model", "new sweep")
#: Constructor parameters of a plain GaussianMixture (a displayed model may be
#: a WeightedGaussianMixture, which has more).
_GMM_PARAMS = frozenset(GaussianMixture._get_param_names())


def _plain_params(model: GaussianMixture) -> dict:
    return {k: v for k, v in model.get_params().items() if k in _GMM_PARAMS}


def _check_enough_points(X: np.ndarray, n_components: int) -> None:
    if len(X) < n_components:
        raise ValueError(
            f"{len(X)} point(s) are too few for {n_components} components; "
            "add points or lower the number of components."
        )


def refit_warm(X: np.ndarray, model: GaussianMixture) -> GaussianMixture:
    """Refit the same K and covariance type, starting from ``model``'s parameters.

    Component ``k`` of the result continues component ``k`` of ``model``, so
    EM moves each component a little instead of re-deciding the clusters.
    """
    X = np.asarray(X, dtype=float)
    _check_enough_points(X, model.n_components)
    params = _plain_params(model)
    params.update(
        weights_init=model.weights_,
        means_init=model.means_,
        precisions_init=model.precisions_,
        n_init=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X)


def refit_same(X: np.ndarray, model: GaussianMixture) -> GaussianMixture:
    """Refit the same K and covariance type from a fresh initialization."""
    X = np.asarray(X, dtype=float)
    _check_enough_points(X, model.n_components)
    params = {
        key: value
        for key, value in _plain_params(model).items()
        if key not in ("weights_init", "means_init", "precisions_init")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sort_components(GaussianMixture(**params).fit(X))


def follow_slots(
    model: GaussianMixture, previous: GaussianMixture, previous_slots: np.ndarray
) -> np.ndarray:
    """Order ``model``'s components like ``previous`` and return their slots.

    The components of ``model`` are permuted in place so that slots increase
    with the label; each slot keeps its color across refits.

    Returns
    -------
    slots : ndarray of int, shape (model.n_components,)
    """
    slots = match_components(previous.means_, previous_slots, model.means_)
    order = np.argsort(slots, kind="stable")
    permute_components(model, order)
    return slots[order]
