"""Candidates that are the same model: fit once, list every row.

With one feature a spherical, a diagonal and a full covariance are all one
variance per component: the three candidates of the same K are one model,
with the same parameters, likelihood and number of free parameters. The
default sweep fits one of them (the full one when the sweep has it: its
accelerated EM reached the optimum in fewer E-steps in
``benchmarks/image_speed.py``, see docs/performance.md) and gives the other
rows a copy of its fit, converted to their covariance shapes (so
``predict``, ``covariances_`` and model files behave as for a real fit of
that type). Their criteria are then equal, not merely equal to rounding,
and the selection's tie rule picks the spherical row (fewest parameters,
first type). The copied rows take no fitting time (``fit_time_s`` 0).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

#: Covariance types that coincide when there is one feature, in the order
#: they are preferred as the one that is fitted.
ONE_FEATURE_TYPES = ("full", "diag", "spherical")

#: Fitted attributes and constructor parameters holding covariance-shaped arrays.
_COVARIANCE_ARRAYS = ("covariances_", "precisions_cholesky_", "precisions_")


def equivalent_candidates(candidates, n_features: int) -> dict[int, int]:
    """``{index: index of the candidate it copies}`` for the sweep's candidates.

    Only with one feature: of the spherical, diag and full candidates of
    each K, the first of :data:`ONE_FEATURE_TYPES` in the sweep is fitted
    and the others copy it.
    """
    if n_features != 1:
        return {}
    fitted = {}
    for covariance_type in ONE_FEATURE_TYPES:
        for i, (k, t) in enumerate(candidates):
            if t == covariance_type:
                fitted.setdefault(k, i)
    return {
        i: fitted[k]
        for i, (k, t) in enumerate(candidates)
        if t in ONE_FEATURE_TYPES and fitted[k] != i
    }


def _reshaped(array, covariance_type: str, n_components: int):
    if array is None:
        return None
    shape = {
        "spherical": (n_components,),
        "diag": (n_components, 1),
        "full": (n_components, 1, 1),
    }[covariance_type]
    return np.asarray(array, dtype=float).reshape(shape).copy()


def convert_one_feature(model, covariance_type: str):
    """A copy of a fitted one-feature mixture ``model`` as ``covariance_type``."""
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
    """The sweep row of ``covariance_type`` copied from ``fit`` (one feature).

    Same criteria, convergence, start and message (the message column is for
    problems, which the copy shares); ``fit_time_s`` is 0: nothing was fitted.
    """
    model = None
    if fit.model is not None:
        model = convert_one_feature(fit.model, covariance_type)
    return dataclasses.replace(
        fit, index=index, covariance_type=covariance_type, model=model, fit_time_s=0.0
    )


def fit_order(n_candidates: int, twins: dict) -> list[int]:
    """Candidates to fit, in the order their rows are needed.

    A copied row needs the candidate it copies: that one is fitted when the
    first row that needs it comes, so rows can be reported in sweep order
    while the fits go on. Without ``twins``: ``0..n-1``.
    """
    order, seen = [], set()
    for index in range(n_candidates):
        source = twins.get(index, index)
        if source not in seen:
            seen.add(source)
            order.append(source)
    return order


def in_sweep_order(candidates, fitted, twins: dict):
    """Generator: every row in sweep order, from the fits as they come.

    ``fitted`` yields the fits of :func:`fit_order` (in any order); copied
    rows are made with :func:`twin_fit`. Returns the list of all rows.
    """
    ready, rows = {}, []
    for fit in fitted:
        ready[fit.index] = fit
        while len(rows) < len(candidates):
            index = len(rows)
            source = twins.get(index)
            if source is not None and source in ready:
                ready[index] = twin_fit(ready[source], candidates[index][1], index)
            if index not in ready:
                break
            rows.append(ready[index])
            yield ready[index]
    return rows
