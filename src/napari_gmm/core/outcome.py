"""A finished sweep's outcome: the table, the choice and the notes on the data.

:func:`build_result` turns the candidates of a sweep into its
:class:`~napari_gmm.core.result.SweepResult` by the rule of
:mod:`napari_gmm.core.selection`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .criteria import model_name, range_edge_note
from .geometry import full_covariances
from .plan import SweepPlan
from .result import CandidateFit, SweepResult, table_columns
from .selection import evidence_against, select_best, summarize_messages
from .starts import correlation_axes


def _data_notes(plan: SweepPlan) -> list[str]:
    """Sentences on data a mixture cannot resolve: identical rows, no spread."""
    X, w = plan.X, plan.weights
    if w is not None:
        X, w = X[w > 0], w[w > 0]
    w = np.ones(len(X)) if w is None else w
    spread = np.ptp(X, axis=0)
    if not spread.any():
        return [
            f"All {len(X)} samples are identical: there is nothing to separate, "
            "so one component is the only meaningful model."
        ]
    constant = np.flatnonzero(spread == 0)
    if constant.size:
        return [
            f"Feature(s) {constant.tolist()} have the same value in every sample "
            "and carry no information; leave them out of the fit."
        ]
    dependent = _dependent_features(X, w)
    if dependent:
        return [dependent]
    if plan.preset == "default":
        return []  # regularization relative to each feature's variance
    reg_covar = plan.gmm_params["reg_covar"]
    mean = (w @ X) / w.sum()
    variance = (w @ np.square(X - mean)) / w.sum()
    narrow = np.flatnonzero(variance < 100 * reg_covar)
    if narrow.size:
        return [
            f"Feature(s) {narrow.tolist()} vary by less than 10 sqrt(reg_covar) "
            f"(variance down to {variance.min():.2g}, reg_covar={reg_covar:g}, "
            "which is added to every component's variance), so close clusters "
            "cannot be told apart; rescale (e.g. standardize) the data or lower "
            "reg_covar."
        ]
    return []


#: Standardized data whose correlation matrix has an eigenvalue below this
#: lie on a hyperplane: a feature is a linear function of the others (the
#: degenerate-fit limit, candidate.DEGENERATE_VARIANCE x 2).
DEPENDENT_VARIANCE = 2e-6


def _dependent_features(X: np.ndarray, w: np.ndarray) -> str:
    """A sentence when some features are a linear function of the others,
    or "" (found in QA: an area column in pixels and in µm² made every tied
    and full candidate collapse, and 6 diagonal components won)."""
    if X.shape[1] < 2:
        return ""
    _, values, vectors = correlation_axes(X, w)
    if not values[0] < DEPENDENT_VARIANCE:
        return ""
    involved = np.flatnonzero(np.abs(vectors[:, 0]) > 0.1).tolist()
    return (
        f"Features {involved} are linearly dependent (one is a linear function "
        f"of the others; standardized variance {max(values[0], 0.0):.1g} along "
        "their combination), so tied and full components collapse along it; "
        "leave one of them out of the fit."
    )


def _smallest_variances(model) -> np.ndarray:
    """Each component's smallest variance (eigenvalue of its covariance)."""
    k, d = model.means_.shape
    covariances = full_covariances(model.covariances_, model.covariance_type, k, d)
    return np.linalg.eigvalsh(covariances).min(axis=1)


def _collapse_notes(plan: SweepPlan, best: CandidateFit) -> list[str]:
    """Say so when the chosen model has components collapsed onto one value.

    On quantized data (integer coordinates) or data with repeated rows, a
    component can sit on a single value with variance ``reg_covar``; its
    likelihood then grows without bound and BIC rewards it. A covariance
    floor (``step**2 / 12``) prevents this, as for images.
    """
    if plan.covariance_floor is not None or best.model is None:
        return []
    if plan.preset == "default":
        return []  # degenerate fits are marked and not chosen instead
    reg_covar = plan.gmm_params["reg_covar"]
    collapsed = np.flatnonzero(_smallest_variances(best.model) < 2 * reg_covar)
    if not collapsed.size:
        return []
    return [
        f"The chosen model (K={best.n_components} {best.covariance_type}) has "
        f"{collapsed.size} component(s) collapsed onto a single value (variance "
        f"at reg_covar={reg_covar:g}), which BIC over-rewards: the data look "
        "quantized (e.g. integer coordinates) or repeated. Set covariance_floor "
        "(1/12 for integer coordinates), or add jitter, and run again."
    ]


def build_result(
    plan: SweepPlan, fits: list[CandidateFit], screened: list[bool] | None = None
) -> SweepResult:
    """The result of a sweep whose candidates are ``fits``, in sweep order.

    Chooses by :func:`~napari_gmm.core.selection.select_best`, fills the
    table (every candidate's criteria, ``delta`` and ``evidence`` against the
    choice) and gathers the notes: the candidates' messages, one sentence per
    reason, then what the data or the choice call for. ``screened`` (one flag
    per candidate, from :mod:`napari_gmm.core.large`) adds that column.

    Raises
    ------
    ValueError
        If no candidate could be fitted.
    """
    best, notes = select_best(fits, plan.criterion, plan.allow_degenerate)
    best_value = getattr(best, plan.criterion)
    rows = [
        {
            "covariance_type": f.covariance_type,
            "model": model_name(f.covariance_type),
            "n_components": f.n_components,
            "bic": f.bic,
            "aic": f.aic,
            "icl": f.icl,
            "log_likelihood": f.log_likelihood,
            "n_parameters": f.n_parameters,
            "converged": f.converged,
            "degenerate": bool(f.degenerate),
            "n_iter": f.n_iter,
            "fit_time_s": f.fit_time_s,
            "start": f.start,
            "delta": getattr(f, plan.criterion) - best_value,
            "evidence": evidence_against(f, best, plan.criterion, best_value),
            "selected": f is best,
            "message": f.table_message,
            "cv": f.cv,
            "noise_weight": f.noise_weight,
            "screened": None if screened is None else bool(screened[i]),
        }
        for i, f in enumerate(fits)
    ]
    # optional columns only when computed
    columns = table_columns(
        cv=plan.folds is not None,
        noise_weight=plan.noise,
        screened=screened is not None,
    )
    # rows estimated by screening keep their notes in the table; the
    # screening's own note says it once for all of them (core/large.py)
    messages = summarize_messages([f for f in fits if not f.screening])
    edge = range_edge_note(best.n_components, (k for k, _ in plan.candidates))
    notes = _data_notes(plan) + _collapse_notes(plan, best) + notes
    notes += [edge] if edge else []
    return SweepResult(
        table=pd.DataFrame(rows, columns=columns),
        models={f.key: f.model for f in fits if f.ok},
        criterion=plan.criterion,
        best_key=best.key,
        n_samples=plan.n_samples,
        n_features=plan.X.shape[1],
        random_state=plan.random_state,
        messages=messages + notes,
        settings={**plan.settings, "random_state": plan.random_state},
    )
