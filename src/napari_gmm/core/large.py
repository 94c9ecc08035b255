"""Large point sets: screen candidates on a subsample, refit the best on all.

For ``n`` points the sweep costs ``O(n)`` per EM iteration and candidate.
When ``n`` is large (see :data:`SCREEN_THRESHOLD`), :func:`iter_sweep`
switches to this strategy, which is documented in docs/performance.md and
can be turned off with ``screen=False``:

1. fit every candidate on a random subsample of ``screen_size`` points
   (same seed, same settings);
2. score every subsample fit on *all* points (one E-step each): its
   log-likelihood and the criterion with ``n`` = all points;
3. refit the ``refit_top`` best of them on all points, warm-started from
   their subsample fit (EM never lowers the likelihood, so a refitted
   candidate's exact criterion is at most its screened estimate, and the
   choice is always one of the refitted candidates);
4. the table has the exact values for the refitted candidates and the
   estimates for the others, marked in the ``screened`` column.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .components import sort_components
from .criteria import CRITERIA, information_criteria
from .em import WeightedGaussianMixture, weighted_criteria

#: Above this many points, iter_sweep screens on a subsample by default.
SCREEN_THRESHOLD = 100_000
#: Default subsample size for screening.
SCREEN_SIZE = 50_000
#: How many screened candidates are refitted on all points.
REFIT_TOP = 3
#: Rows per block when scoring on all points (bounds the N x K matrices).
_BLOCK = 200_000


def _score_on_all(model, X: np.ndarray) -> tuple[float, float]:
    """Total log-likelihood and sum of log max responsibility, blockwise."""
    log_likelihood = 0.0
    log_max = 0.0
    for start in range(0, len(X), _BLOCK):
        block = X[start : start + _BLOCK]
        log_likelihood += float(model.score_samples(block).sum())
        log_max += float(np.log(model.predict_proba(block).max(axis=1)).sum())
    return log_likelihood, log_max


def _screened_fit(fit, X: np.ndarray, subsample: int):
    """A subsample candidate re-scored on all points (criteria estimated)."""
    if not fit.ok:
        return fit
    log_likelihood, log_max = _score_on_all(fit.model, X)
    scores = information_criteria(log_likelihood, fit.n_parameters, len(X), log_max)
    note = f"screened on {subsample} points; criteria estimated on all points"
    message = f"{fit.message}; {note}" if fit.message else note
    return dataclasses.replace(
        fit, log_likelihood=log_likelihood, message=message, **scores
    )


def _refit(plan, fit, X: np.ndarray, index: int, total: int):
    """Refit a screened candidate on all points, warm-started."""
    start = time.perf_counter()
    screened = fit.model
    model = WeightedGaussianMixture(
        n_components=fit.n_components,
        covariance_type=fit.covariance_type,
        random_state=plan.random_state,
        weights_init=screened.weights_,
        means_init=screened.means_,
        precisions_init=screened.precisions_,
        **{**plan.gmm_params, "n_init": 1},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, iteration_callback=plan.check_cancel)
    sort_components(model)
    criteria = weighted_criteria(model, X)
    converged = bool(model.converged_)
    return dataclasses.replace(
        fit,
        index=index,
        total=total,
        model=model,
        log_likelihood=criteria["log_likelihood"],
        converged=converged,
        n_iter=int(model.n_iter_),
        fit_time_s=fit.fit_time_s + time.perf_counter() - start,
        message="" if converged else "did not converge on all points",
        **{name: criteria[name] for name in CRITERIA},
    )


def run_screened(
    plan, screen_plan, run_plan, build_result, subsample: int, refit_top: int
):
    """Generator: the screened sweep (see the module docstring).

    ``plan`` is the full-data plan, ``screen_plan`` the same on the subsample;
    ``run_plan``/``build_result`` are the sweep's own machinery.
    """
    n_candidates = len(plan.candidates)
    total = n_candidates + refit_top
    screened = []
    fits = run_plan(screen_plan)
    while True:
        try:
            fit = next(fits)
        except StopIteration:
            break
        fit = _screened_fit(fit, plan.X, subsample)
        screened.append(fit)
        yield dataclasses.replace(fit, total=total)
    ranked = sorted(
        (f for f in screened if f.ok and np.isfinite(getattr(f, plan.criterion))),
        key=lambda f: getattr(f, plan.criterion),
    )
    for j, fit in enumerate(ranked[:refit_top]):
        plan.check_cancel()
        refitted = _refit(plan, fit, plan.X, n_candidates + j, total)
        screened[screened.index(fit)] = refitted
        yield refitted
    result = build_result(plan, screened)
    refitted_keys = {f.key for f in ranked[:refit_top]}
    result.table["screened"] = [
        (k, t) not in refitted_keys
        for k, t in zip(
            result.table.n_components, result.table.covariance_type, strict=True
        )
    ]
    result.messages = [m for m in result.messages if "screened on" not in m]
    result.messages.append(
        f"{len(plan.X)} points: candidates were screened on a random subsample of "
        f"{subsample} and the best {min(refit_top, len(ranked))} refitted on all "
        "points (screen=False fits every candidate on all points)."
    )
    return result
