"""Candidates that are the same model: fit once, list every row.

With one feature a covariance is one variance per component, and of a
model's three letters only the volume's remains (a 1 x 1 shape or
orientation is 1): the seven models with variable volume (spherical, diag,
full, VEI, VEE, VVE, VEV) are all "one variance per component", and the seven
with equal volume (tied, EII, EEI, EVI, EVE, EEV, EVV) all "one variance
shared". Candidates of one K in the same group are one model, with the same
parameters, likelihood and number of free parameters. The default sweep
fits one of them (of scikit-learn's types when the sweep has one: the full
one first, its accelerated EM reached the optimum in fewer E-steps in
``benchmarks/image_speed.py``, see docs/performance.md) and gives the other
rows a copy of its fit, converted to their estimators and covariance shapes
(so ``predict``, ``covariances_`` and model files behave as for a real fit
of that type). Their criteria are then equal, not merely equal to rounding,
and the selection's tie rule picks the first row in mclust's order. The
copied rows take no fitting time (``fit_time_s`` 0).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from .criteria import COVARIANCE_TYPES, MODEL_TYPES, has_noise
from .parsimonious_em import is_parsimonious, mixture_for

#: Covariance types that coincide when there is one feature, in the order
#: they are preferred as the one that is fitted: the variable-volume group,
#: then the equal-volume one (scikit-learn's types first in each).
ONE_FEATURE_GROUPS = (
    (
        "full",
        "diag",
        "spherical",
        *(t for t in MODEL_TYPES if t not in COVARIANCE_TYPES and t[0] == "V"),
    ),
    ("tied", *(t for t in MODEL_TYPES if t not in COVARIANCE_TYPES and t[0] == "E")),
)
#: The variable-volume group (kept under its earlier name).
ONE_FEATURE_TYPES = ONE_FEATURE_GROUPS[0][:3]

#: Fitted attributes and constructor parameters holding covariance-shaped arrays.
_COVARIANCE_ARRAYS = ("covariances_", "precisions_cholesky_", "precisions_")


def equivalent_candidates(candidates, n_features: int) -> dict[int, int]:
    """``{index: index of the candidate it copies}`` for the sweep's candidates.

    Only with one feature: in each group of :data:`ONE_FEATURE_GROUPS`, the
    first candidate of each K in the group's order is fitted and the others
    copy it.
    """
    if n_features != 1:
        return {}
    twins = {}
    for group in ONE_FEATURE_GROUPS:
        fitted = {}
        for covariance_type in group:
            for i, (k, t) in enumerate(candidates):
                if t == covariance_type:
                    fitted.setdefault(k, i)
        twins.update(
            {
                i: fitted[k]
                for i, (k, t) in enumerate(candidates)
                if t in group and fitted[k] != i
            }
        )
    return twins


def _reshaped(array, covariance_type: str, n_components: int):
    if array is None:
        return None
    array = np.asarray(array, dtype=float)
    if covariance_type == "tied":
        return array.reshape(-1)[:1].reshape(1, 1).copy()
    shape = {
        "spherical": (n_components,),
        "diag": (n_components, 1),
        "full": (n_components, 1, 1),
    }[covariance_type]
    # one value for all components (from tied) or one each
    values = np.broadcast_to(array.reshape(-1, 1), (n_components, 1))
    return values.reshape(shape).copy()


def convert_one_feature(model, covariance_type: str):
    """A copy of a fitted one-feature mixture ``model`` as ``covariance_type``.

    ``covariance_type`` must be one of the model's group in
    :data:`ONE_FEATURE_GROUPS`. scikit-learn's types keep ``model``'s class
    (a noise component included); the others become the estimator of their
    model (:func:`~napari_gmm.core.parsimonious_em.mixture_for`, full
    layout, with the noise component if ``model`` has one), and a
    parsimonious ``model`` copied to one of scikit-learn's types becomes
    theirs.
    """
    k = int(model.n_components)
    source_own = is_parsimonious(model)
    target_own = covariance_type not in COVARIANCE_TYPES
    layout = "full" if target_own else covariance_type
    if not source_own and not target_own:
        twin = copy.deepcopy(model)
        params = {"covariance_type": covariance_type}
    else:
        # a new estimator of the target's class, with the fitted state
        noise = {"noise_volume": model.noise_volume} if has_noise(model) else {}
        params = mixture_for(covariance_type, **noise).get_params()
        shared = {
            name: copy.deepcopy(value)
            for name, value in model.get_params().items()
            if name in params and name not in ("covariance_type", "covariance_model")
        }
        twin = mixture_for(covariance_type, **shared)
        for name, value in vars(model).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(twin, name, copy.deepcopy(value))
        params = {}
    for name in _COVARIANCE_ARRAYS:
        if hasattr(twin, name):
            setattr(twin, name, _reshaped(getattr(twin, name), layout, k))
    if getattr(model, "precisions_init", None) is not None:
        params["precisions_init"] = _reshaped(model.precisions_init, layout, k)
    if params:
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
