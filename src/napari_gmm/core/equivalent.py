"""Candidates that are the same model: fit once, list every row.

With one feature a spherical, a diagonal and a full covariance are all one
variance per component: the three candidates of the same K are one model,
with the same parameters, likelihood and number of free parameters. The
default sweep fits the spherical one and gives the diag and full rows a copy
of its fit, converted to their covariance shapes (so ``predict``,
``covariances_`` and model files behave as for a real diag or full fit).
Their criteria are then equal, not merely equal to rounding, and the
selection's tie rule picks the spherical row (fewest parameters, first
type). The copied rows say so in their message and take no fitting time.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

#: Covariance types that coincide with "spherical" when there is one feature.
ONE_FEATURE_TWINS = ("diag", "full")

#: Fitted attributes and constructor parameters holding covariance-shaped arrays.
_COVARIANCE_ARRAYS = ("covariances_", "precisions_cholesky_", "precisions_")


def equivalent_candidates(candidates, n_features: int) -> dict[int, int]:
    """``{index: index of the candidate it copies}`` for the sweep's candidates.

    Only with one feature: every diag or full candidate whose spherical
    candidate of the same K is in the sweep copies it.
    """
    if n_features != 1:
        return {}
    spherical = {k: i for i, (k, t) in enumerate(candidates) if t == "spherical"}
    return {
        i: spherical[k]
        for i, (k, t) in enumerate(candidates)
        if t in ONE_FEATURE_TWINS and k in spherical
    }


def _reshaped(array, covariance_type: str, n_components: int):
    if array is None:
        return None
    array = np.asarray(array, dtype=float)
    shape = (n_components, 1) if covariance_type == "diag" else (n_components, 1, 1)
    return array.reshape(shape).copy()


def convert_one_feature(model, covariance_type: str):
    """A copy of a fitted one-feature spherical ``model`` as ``covariance_type``."""
    twin = copy.deepcopy(model)
    k = int(model.n_components)
    for name in _COVARIANCE_ARRAYS:
        if hasattr(twin, name):
            setattr(twin, name, _reshaped(getattr(twin, name), covariance_type, k))
    params = {"covariance_type": covariance_type}
    if getattr(model, "precisions_init", None) is not None:
        params["precisions_init"] = _reshaped(model.precisions_init, covariance_type, k)
    twin.set_params(**params)
    return twin


def twin_fit(fit, covariance_type: str, index: int):
    """The sweep row of ``covariance_type`` copied from the spherical ``fit``."""
    note = (
        f"same model as K={fit.n_components} spherical (one feature: spherical, "
        "diag and full coincide), fitted once"
    )
    model = None
    if fit.model is not None:
        model = convert_one_feature(fit.model, covariance_type)
    return dataclasses.replace(
        fit,
        index=index,
        covariance_type=covariance_type,
        model=model,
        fit_time_s=0.0,
        message="; ".join(m for m in (fit.message, note) if m),
    )
