"""Refitting a displayed model when the points change (live mode)."""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from .components import permute_components, sort_components
from .criteria import has_noise
from .em import WeightedGaussianMixture, quiet_convergence
from .noise import NoisyGaussianMixture, warm_start
from .parsimonious_em import is_parsimonious
from .points import match_components

#: Live-mode strategies, in the order the widget offers them.
REFIT_MODES = ("warm start", "same model", "new sweep")


def _estimator_like(model: GaussianMixture, **overrides) -> GaussianMixture:
    """An unfitted estimator with ``model``'s settings.

    Our EM (equal to scikit-learn's on unit weights, and it centres data far
    from the origin), with the noise component if ``model`` has one; its
    volume is recomputed from the new points unless it was given.
    """
    estimator = NoisyGaussianMixture if has_noise(model) else WeightedGaussianMixture
    if is_parsimonious(model):  # one of mclust's models, with noise or not
        estimator = type(model)
    names = estimator._get_param_names()
    params = {k: v for k, v in model.get_params().items() if k in names}
    return estimator(**{**params, **overrides})


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
    with quiet_convergence():
        return _estimator_like(model, **warm_start(model)).fit(X)


def refit_same(X: np.ndarray, model: GaussianMixture) -> GaussianMixture:
    """Refit the same K and covariance type from a fresh initialization."""
    X = np.asarray(X, dtype=float)
    _check_enough_points(X, model.n_components)
    fresh = {"weights_init": None, "means_init": None, "precisions_init": None}
    with quiet_convergence():
        return sort_components(_estimator_like(model, **fresh).fit(X))


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
