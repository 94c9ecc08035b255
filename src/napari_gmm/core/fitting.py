"""Fit one candidate of a sweep: (K, covariance type) -> :class:`CandidateFit`.

A candidate that cannot be fitted becomes a failed :class:`CandidateFit`
(infinite criteria, a message saying why) instead of aborting the sweep.
Every candidate is fitted by one EM engine,
:class:`~napari_gmm.core.em.WeightedGaussianMixture` (or its noise variant),
in one of two ways chosen by the preset: the ``sklearn`` preset's single
fit (``_fit_weighted``: scikit-learn's algorithm, k-means start, stopping
rule and ``reg_covar``, so the numbers are scikit-learn's; tests keep
:class:`sklearn.mixture.GaussianMixture` as the reference) and the default
preset's several-starts fit (``_fit_careful``); ``_cross_validate`` adds the
held-out criterion when the sweep asks for it.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
from sklearn import config_context

from .candidate import (
    above_floor,
    degeneracies,
    degeneracy,
    scale_kind,
    start_parameters,
)
from .components import sort_components
from .criteria import COVARIANCE_TYPES, CRITERIA, n_parameters
from .crossval import held_out_criterion
from .em import (
    EMRun,
    MixtureParameters,
    centring_shift,
    fitted_criteria,
    log_probabilities,
    quiet_convergence,
    run_partitions,
    run_starts,
    weighted_criteria,
)
from .noise import warm_start
from .parsimonious_em import mixture_for
from .plan import SweepPlan
from .result import CandidateFit


def failed_fit(
    index, total, k, covariance_type, n_features, message, noise=False
) -> CandidateFit:
    """The record of a candidate that could not be fitted.

    Infinite criteria (it is never chosen), no model, ``message`` saying
    why; also used by :mod:`~napari_gmm.core.large` for a failed refit.

    Parameters
    ----------
    index, total : int
        Its position in the sweep and the number of candidates.
    k : int
    covariance_type : str
    n_features : int
        For the parameter count shown in the table.
    message : str
    noise : bool, default False
        The candidate has a noise component (one more parameter).

    Returns
    -------
    CandidateFit
    """
    return CandidateFit(
        index=index,
        total=total,
        n_components=k,
        covariance_type=covariance_type,
        model=None,
        log_likelihood=float("nan"),
        n_parameters=n_parameters(k, n_features, covariance_type, noise=noise),
        bic=float("inf"),
        aic=float("inf"),
        icl=float("inf"),
        converged=False,
        n_iter=0,
        fit_time_s=0.0,
        message=message,
        cv=float("inf"),
    )


def fit_candidate(plan: SweepPlan, index: int) -> CandidateFit:
    """Fit and score the plan's candidate number ``index``.

    Parameters
    ----------
    plan : SweepPlan
    index : int
        Into ``plan.candidates``.

    Returns
    -------
    CandidateFit
        Failed (:func:`failed_fit`) when it cannot be fitted, e.g. too few
        samples for its K or every start fails; raises only SweepCancelled.
    """
    k, covariance_type = plan.candidates[index]
    total = len(plan.candidates)
    n_features = plan.X.shape[1]
    n_usable = plan.n_usable_samples
    if plan.weights is None and k >= n_usable:
        # one sample per component leaves no spread to estimate: such a fit
        # sits on the points themselves and BIC rewards it without bound
        return failed_fit(
            index,
            total,
            k,
            covariance_type,
            n_features,
            f"skipped: {k} components need at least {k} samples plus one, "
            f"got {n_usable}",
            plan.noise,
        )
    if k > n_usable:
        return failed_fit(
            index,
            total,
            k,
            covariance_type,
            n_features,
            f"skipped: {k} components need at least {k} samples with positive "
            f"weight, got {n_usable}",
            plan.noise,
        )
    start = time.perf_counter()
    fit = _fit_careful if plan.preset == "default" else _fit_weighted
    try:
        with quiet_convergence(plan.n_jobs == 1):
            model, log_likelihood, scores, *extra = fit(plan, k, covariance_type)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        return failed_fit(
            index, total, k, covariance_type, n_features, f"failed: {err}", plan.noise
        )
    details = extra[0] if extra else {}
    degenerate = details.get("degenerate")
    if degenerate is None and plan.variance is not None:
        degenerate = degeneracy(
            model, plan.variance, plan.total_weight, 0.0, plan.covariance_floor
        )
    with quiet_convergence(plan.n_jobs == 1):
        cv, cv_message = _cross_validate(plan, k, covariance_type, model)
    elapsed = time.perf_counter() - start
    p = n_parameters(k, n_features, covariance_type, noise=plan.noise)
    converged = bool(model.converged_)
    message = (
        ""
        if converged or degenerate  # (EM stops on a collapse; the note says so)
        else not_converged_message(model)
    )
    if plan.criterion != "cv" and not np.isfinite(scores[plan.criterion]):
        message = "; ".join(
            m
            for m in (
                f"its {plan.criterion.upper()} is not finite (the data's values "
                "are too large or too small for float64); rescale the data",
                message,
            )
            if m
        )
    notes = [
        note
        for note in (
            f"degenerate: {degenerate}" if degenerate else "",
            *details.get("notes", ()),
            cv_message,
        )
        if note
    ]
    message = "; ".join([m for m in (message, *notes) if m])
    return CandidateFit(
        index=index,
        total=total,
        n_components=k,
        covariance_type=covariance_type,
        model=model,
        log_likelihood=log_likelihood,
        n_parameters=p,
        converged=converged,
        n_iter=int(model.n_iter_),
        fit_time_s=elapsed,
        message=message,
        cv=cv,
        noise_weight=float(getattr(model, "noise_weight_", float("nan"))),
        degenerate=degenerate or "",
        start=details.get("start", ""),
        **scores,
    )


def _weighted_model(plan: SweepPlan, k: int, covariance_type: str, **overrides):
    """The unfitted estimator of one candidate: weighted EM, with noise if asked."""
    settings = {
        "n_components": k,
        "random_state": plan.random_state,
        "covariance_floor": plan.floor_for(covariance_type),
        "collapse_variance": plan.collapse_for(covariance_type),
        **plan.gmm_params,
        **plan.start_for(k, covariance_type),
        **overrides,
    }
    if plan.noise:
        return mixture_for(covariance_type, noise_volume=plan.noise_volume, **settings)
    return mixture_for(covariance_type, **settings)


def _fit_weighted(plan: SweepPlan, k: int, covariance_type: str) -> tuple:
    """Fit a WeightedGaussianMixture; return it, weighted log L and criteria."""
    model = _weighted_model(plan, k, covariance_type)
    model.fit(plan.X, sample_weight=plan.weights, iteration_callback=plan.check_cancel)
    sort_components(model)
    criteria = weighted_criteria(model, plan.X, plan.weights)
    scores = {name: criteria[name] for name in CRITERIA}
    return model, criteria["log_likelihood"], scores


def _starts_for(plan: SweepPlan, k: int, covariance_type: str) -> list:
    """``[(name, labels or None)]``: the distinct starts of one candidate
    (None: the estimator's own initialization or the given start)."""
    if plan.partitions is None:
        if plan.start_for(k, covariance_type):
            return [("given", None)]  # iter_sweep(starts=...)
        # one of scikit-learn's own initializations, n_init times
        return [(plan.gmm_params["init_params"], None)]
    # models not invariant under rescaling one feature start from the
    # commonly scaled partitions (core/starts.py); a partition equal to an
    # earlier start's is not there (starts.distinct_partitions)
    family = "spherical" if scale_kind(covariance_type) == "spherical" else ""
    return [
        (method, plan.partitions[(method, k, family)])
        for method in plan.init_methods
        if (method, k, family) in plan.partitions
    ]


#: A fit that did not converge counts as drifting when its lower bound fell
#: over this many last E-steps (see :func:`not_converged_message`).
DRIFT_WINDOW = 50


def not_converged_message(model) -> str:
    """The note of a fit stopped by ``max_iter``.

    Most such fits still gain a little at every E-step (a crawl), and more
    iterations would take them further. Under a covariance floor (an
    image's quantization floor) the M-step is not an ascent step, and with
    SQUAREM the lower bound can drift *down* instead (measured in
    docs/performance.md, "Left for later"): more iterations would not help,
    so the note does not suggest them.
    """
    head = (
        f"did not converge within max_iter={model.max_iter} iterations "
        f"(tol={model.tol})"
    )
    values = getattr(model, "lower_bounds_", None)  # a list or an array
    values = np.asarray([] if values is None else values, dtype=float)
    if len(values) > DRIFT_WINDOW and values[-1] < values[-1 - DRIFT_WINDOW]:
        return (
            f"{head}: its likelihood was falling, not rising, at the end (a "
            "covariance floor, such as an image's quantization floor, can do "
            "this), so more iterations would not help; its criteria are from "
            "its last iteration"
        )
    return f"{head}; increase max_iter or tol"


def _estimator_start(plan: SweepPlan, k, covariance_type, labels, floor) -> dict:
    """Estimator settings that start from the partition ``labels``."""
    if labels is None:
        return {}
    start = start_parameters(
        plan.X, plan.row_weights, labels, k, covariance_type, floor
    )
    return {**start, "n_init": 1}


def _fit_careful(plan: SweepPlan, k: int, covariance_type: str) -> tuple:
    """The default preset's fit: the best non-degenerate end over the starts.

    Two phases, as "short EM" strategies do (Biernacki, Celeux & Govaert
    2003): every start runs EM (SQUAREM) to a loose gain rule
    (:data:`SHORT_RUN_TOL`, at most :data:`SHORT_RUN_MAX_ITER` E-steps), which
    is enough to tell the basins apart; the best non-degenerate one then
    continues to the sweep's tolerance (:mod:`napari_gmm.core.convergence`).
    Above :data:`SHORT_RUN_MAX_ROWS` rows the short runs see a subsample of
    that many rows (:func:`short_run_rows`), the best
    :data:`SUBSAMPLE_SETTLED_STARTS` of them that look like distinct basins
    continue there to the sweep's tolerance, and the best of those
    continues on all rows; if the subsample cannot tell it from the
    runner-up (:func:`_undecided`), both first run
    :data:`PROBE_MAX_ITER` E-steps on all rows and the better goes on.
    A start that fails is dropped with a note; the candidate fails only if
    every start does. Degenerate ends
    (:func:`~napari_gmm.core.candidate.degeneracy`) are kept only when no
    start ends otherwise.
    """
    floor = plan.floor_for(covariance_type)
    starts = _starts_for(plan, k, covariance_type)
    if not starts:
        raise ValueError(f"no start could make {k} non-empty clusters")
    notes = []
    # the sweep checked X, the weights and the starts once: hundreds of small
    # fits skip scikit-learn's per-fit checks (measured: most of the time
    # on data of a few hundred rows)
    fit_on = {
        "sample_weight": plan.weights,
        "iteration_callback": plan.check_cancel,
        "check_input": False,
    }
    with config_context(skip_parameter_validation=True):
        if len(starts) == 1:
            name, labels = starts[0]
            settings = _estimator_start(plan, k, covariance_type, labels, floor)
            model = _weighted_model(plan, k, covariance_type, **settings)
            try:
                model.fit(plan.X, **fit_on)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
                raise ValueError(f"the {name} start failed ({err})") from err
            model = lift_floor_of(plan, k, covariance_type, model, notes)
            why = degeneracy(
                model,
                plan.variance,
                plan.total_weight,
                plan.relative_reg,
                plan.covariance_floor,
            )
        else:
            cap = (
                SMALL_DATA_SHORT_RUN_MAX_ITER if plan.small_data else SHORT_RUN_MAX_ITER
            )
            short = {
                "tol": max(SHORT_RUN_TOL, plan.gmm_params["tol"]),
                "max_iter": min(cap, plan.gmm_params["max_iter"]),
            }
            rows = short_run_rows(plan.X, plan.weights, plan.random_state)
            plain = _runs_without_estimator(plan, covariance_type)
            runs = _short_runs if plain else _short_fits
            ends = runs(plan, k, covariance_type, starts, short, rows, floor, notes)
            if not ends:
                raise ValueError("; ".join(notes))
            # non-degenerate first, then the highest likelihood; the best
            # short runs go on to the sweep's tolerance
            ends.sort(key=lambda end: end[:2])
            ends = _continue_best(plan, k, covariance_type, ends, fit_on, notes)
            if plain and plan.floor_is_bound and plan.small_data:
                ends += _bounded_runs(plan, k, covariance_type, starts, notes)
                ends.sort(key=lambda end: end[:2])
            _, _, name, model, why = ends[0]
    sort_components(model)
    criteria = fitted_criteria(model, plan.X, plan.weights)
    scores = {name_: criteria[name_] for name_ in CRITERIA}
    details = {"start": name, "degenerate": why, "notes": notes}
    return model, criteria["log_likelihood"], scores, details


def _short_data(plan: SweepPlan, rows) -> tuple:
    """``(X, weights or None, total weight)`` the short runs see."""
    if rows is None:
        return plan.X, plan.weights, plan.total_weight
    w = None if plan.weights is None else plan.weights[rows]
    return plan.X[rows], w, float(len(rows) if w is None else w.sum())


def _short_fits(plan, k, covariance_type, starts, short, rows, floor, notes) -> list:
    """Short runs by one estimator per start (the noise component and the
    parsimonious models): ``[(degenerate?, -lower bound, name, model, why)]``."""
    X, w, total = _short_data(plan, rows)
    on = {
        "sample_weight": w,
        "iteration_callback": plan.check_cancel,
        "check_input": False,
    }
    ends = []
    for name, labels in starts:
        settings = _estimator_start(plan, k, covariance_type, labels, floor)
        model = _weighted_model(plan, k, covariance_type, **settings, **short)
        ends.append(_fitted_end(plan, model, X, on, 0, name, total, notes))
    ends = [end for end in ends if end is not None]
    if rows is None or not SUBSAMPLE_SETTLED_STARTS:
        return ends
    # as _short_runs: the best that are apart go on to the sweep's tolerance
    # on the subsample; the others stay as fallbacks unless in their basins
    # (their weights are read before the chosen estimators go on)
    ends.sort(key=lambda end: end[:2])
    chosen = _apart(ends, SUBSAMPLE_SETTLED_STARTS)
    others = [end for end in ends if not any(end is c for c in chosen)]
    settled = [
        _fitted_end(plan, model, X, on, _resume(plan, model), name, total, notes)
        for _, _, name, model, _ in chosen
    ]
    settled = [end for end in settled if end is not None]
    return settled + [
        end for end in others if not any(_near(end, kept) for kept in settled)
    ]


def _resume(plan: SweepPlan, model) -> int:
    """Make an estimator of :func:`_short_fits` go on, warm-started, to the
    sweep's tolerance; returns the E-steps it already spent."""
    # plain attributes: set_params would re-inspect the signature
    model.warm_start = True
    model.tol = plan.gmm_params["tol"]
    model.max_iter = plan.gmm_params["max_iter"]
    return model.n_iter_


def _fitted_end(plan, model, X, fit_on, spent, name, total, notes):
    """``model`` fitted on ``X``, with ``spent`` earlier E-steps counted, as
    ``(degenerate?, -lower bound, name, model, why)``; None (and a note) if
    the fit failed."""
    try:
        model.fit(X, **fit_on)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        notes.append(f"the {name} start failed ({err})")
        return None
    finally:
        model.warm_start = False
    model.n_iter_ += spent
    why = degeneracy(
        model, plan.variance, total, plan.relative_reg, plan.covariance_floor
    )
    return (bool(why), -model.lower_bound_, name, model, why)


def _runs_without_estimator(plan: SweepPlan, covariance_type: str) -> bool:
    """The candidate's short runs are plain Gaussian EM (:func:`_short_runs`)."""
    return not plan.noise and covariance_type in COVARIANCE_TYPES


def _rows_as_the_estimator_fits(X, w) -> tuple:
    """``(X, w, shift)``: the rows of positive weight (None: all, weight 1),
    centred by ``shift`` when far from the origin (None otherwise), as
    :class:`~napari_gmm.core.em.WeightedGaussianMixture` fits them."""
    w = np.ones(len(X)) if w is None else w
    if np.any(w <= 0):  # rows of weight 0 do not count
        X, w = X[w > 0], w[w > 0]
    shift = centring_shift(X, w)
    return (X if shift is None else X - shift), w, shift


def _all_rows(plan: SweepPlan) -> tuple:
    """:func:`_rows_as_the_estimator_fits` of all the plan's rows, once per
    sweep."""
    return plan.memoized(
        "all rows", lambda: _rows_as_the_estimator_fits(plan.X, plan.row_weights)
    )


def _short_runs(plan, k, covariance_type, starts, short, rows, floor, notes) -> list:
    """Short runs of a plain Gaussian mixture, all by
    :func:`~napari_gmm.core.em.run_partitions` (what :func:`_short_fits` does,
    without an estimator per start): ``[(degenerate?, -lower bound, name,
    (EMRun, centring shift), why)]``."""
    X, w, total = _short_data(plan, rows)
    X, w, shift = _all_rows(plan) if rows is None else _rows_as_the_estimator_fits(X, w)
    gmm = plan.gmm_params
    settings = {
        "covariance_type": covariance_type,
        "reg_covar": gmm["reg_covar"],
        "floor": floor,
        "stopping": gmm.get("stopping", "change"),
        "accelerate": gmm.get("accelerate", False),
        "collapse_variance": plan.collapse_for(covariance_type),
    }
    names = [name for name, _ in starts]
    runs = run_partitions(
        plan.X,
        plan.row_weights,
        [labels for _, labels in starts],
        X,
        w,
        shift,
        n_components=k,
        tol=short["tol"],
        max_iter=short["max_iter"],
        check=plan.check_cancel,
        plain_retry=_plain_retry(plan, names),
        **settings,
    )
    ends = _ends_of(plan, covariance_type, names, runs, shift, total, notes)
    if rows is not None and SUBSAMPLE_SETTLED_STARTS:
        # on a subsample the best short runs first go on to the sweep's
        # tolerance there (cheap), so that the one continued on all rows
        # is chosen by where the runs end, not by 20 E-steps
        ends.sort(key=lambda end: end[:2])
        chosen = _apart(ends, SUBSAMPLE_SETTLED_STARTS)
        runs = run_starts(
            X,
            w,
            [end[3][0].params for end in chosen],
            tol=gmm["tol"],
            max_iter=gmm["max_iter"],
            on_iteration=lambda *_: plan.check_cancel(),
            **settings,
        )
        runs = [
            run
            if isinstance(run, ValueError)
            else run._replace(n_iter=run.n_iter + end[3][0].n_iter)
            for end, run in zip(chosen, runs, strict=True)
        ]
        settled = [
            (*end[:3], SettledRun(*end[3]), end[4])
            for end in _ends_of(
                plan,
                covariance_type,
                [end[2] for end in chosen],
                runs,
                shift,
                total,
                notes,
            )
        ]
        # the other short runs stay as fallbacks (all settled ends may be
        # degenerate), except those in a settled end's basin: their lower
        # bound after 20 E-steps could outrank its settled value by a hair
        others = [
            end
            for end in ends
            if not any(end is c for c in chosen)
            and not any(_near(end, kept) for kept in settled)
        ]
        ends = settled + others
    return ends


class SettledRun(NamedTuple):
    """A short run on the subsample continued there to the sweep's
    tolerance (``ends`` hold ``(EMRun, shift)`` pairs; this one is
    marked)."""

    run: object
    shift: object


#: Short-run ends whose lower bounds (mean log-likelihoods) agree to this,
#: relative, and whose sorted weights agree to NEAR_END_WEIGHTS, are taken
#: for one basin when choosing which to settle on a subsample: after 20
#: E-steps runs into one optimum still differ in the 6th digit.
NEAR_END_RELATIVE = 1e-6
NEAR_END_WEIGHTS = 1e-3


#: E-steps on all rows that decide between basins the subsample could not
#: tell apart (:func:`_undecided`) before one of them goes on to the
#: sweep's tolerance.
PROBE_MAX_ITER = 20


def _probe_on_all_rows(plan, covariance_type, short_runs, notes) -> list:
    """Of settled short runs on a subsample, the one whose basin is
    best on all rows after :data:`PROBE_MAX_ITER` E-steps there (as
    ``[(name, (EMRun, shift))]``, its E-steps counted): one continuation to
    the sweep's tolerance on all rows instead of several."""
    ends = _runs_on_all_rows(
        plan,
        covariance_type,
        short_runs,
        max(SHORT_RUN_TOL, plan.gmm_params["tol"]),
        PROBE_MAX_ITER,
        notes,
    )
    if not ends:
        return short_runs  # (every probe failed: the notes say why)
    best = min(ends, key=lambda end: end[:2])
    return [(best[2], best[3])]


#: On a subsample, a second basin whose log-likelihood is behind the best
#: one's by less than this many standard errors is continued on all rows
#: too (:func:`_undecided`).
SUBSAMPLE_EVIDENCE_Z = 2.0


def _undecided(plan: SweepPlan, covariance_type: str, best, other) -> bool:
    """The short runs' subsample cannot tell whether ``best`` or ``other``
    (ends of :func:`_short_runs` on it) is the better basin on all rows.

    The subsample's log-likelihood difference ``D = sum_i w_i (log p_best(x_i)
    - log p_other(x_i))`` estimates ``m / n`` of the difference on all rows;
    drawn without replacement, its standard error is ``sqrt(m (1 - m / n))``
    times the standard deviation of the rows' terms. ``other`` is
    undecided when ``D`` is below :data:`SUBSAMPLE_EVIDENCE_Z` standard
    errors. (GvHD.pos, diag K = 5: the second basin was 40 log-likelihood
    units behind on 5,000 of its 9,083 rows and ends 33 ahead on all of
    them.) Both ends were fitted to the subsample, so ``D`` is an in-sample
    difference and this error, which treats the parameters as fixed,
    understates the uncertainty: the test leans towards "decided".
    Degenerate ends and ends of estimators are never undecided.
    """
    if other[0] or not isinstance(other[3], tuple) or not isinstance(best[3], tuple):
        return False
    rows = short_run_rows(plan.X, plan.weights, plan.random_state)
    if rows is None:
        return False
    X, w, _ = _short_data(plan, rows)
    X, w, shift = _rows_as_the_estimator_fits(X, w)
    (best_run, best_shift), (other_run, other_shift) = best[3], other[3]
    if not _same_shift(shift, best_shift) or not _same_shift(shift, other_shift):
        return False
    terms = w * (
        log_probabilities(X, best_run.params, covariance_type)
        - log_probabilities(X, other_run.params, covariance_type)
    )
    n_rows = len(plan.X) if plan.weights is None else np.count_nonzero(plan.weights > 0)
    m = len(terms)
    error = np.sqrt(m * max(0.0, 1.0 - m / n_rows) * np.var(terms, ddof=1))
    return bool(terms.sum() < SUBSAMPLE_EVIDENCE_Z * error)


def _same_shift(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def _apart(ends: list, n: int) -> list:
    """The first ``n`` of the sorted ``ends`` that are not near an earlier
    chosen one (fewer if there are not ``n``)."""
    chosen = []
    for end in ends:
        if len(chosen) == n:
            break
        if not any(_near(end, kept) for kept in chosen):
            chosen.append(end)
    return chosen


def _near(a, b) -> bool:
    """Short-run ends ``a`` and ``b`` (of :func:`_short_runs`) look like one basin."""
    if abs(a[1] - b[1]) > NEAR_END_RELATIVE * max(1.0, abs(a[1])):
        return False
    return _weights_within(a, b, NEAR_END_WEIGHTS)


def _ends_of(plan, covariance_type, names, runs, shift, total, notes) -> list:
    """``[(degenerate?, -lower bound, name, (EMRun, shift), why)]`` of the
    runs that did not fail (those add a note)."""
    for name, run in zip(names, runs, strict=True):
        if isinstance(run, ValueError):
            notes.append(f"the {name} start failed ({run})")
    kept = [
        (name, run)
        for name, run in zip(names, runs, strict=True)
        if not isinstance(run, ValueError)
    ]
    if not kept:
        return []
    reasons = degeneracies(
        np.stack([run.params.weights for _, run in kept]),
        np.stack([run.params.covariances for _, run in kept]),
        covariance_type,
        covariance_type,
        plan.variance,
        total,
        plan.relative_reg,
        plan.covariance_floor,
    )
    return [
        (bool(why), -run.lower_bound, name, (run, shift), why)
        for (name, run), why in zip(kept, reasons, strict=True)
    ]


#: Two short runs whose lower bounds (mean log-likelihoods) agree to this,
#: relative, and whose sorted weights agree to SAME_END_WEIGHTS, have
#: reached one optimum: only one is continued. (Measured on 8 of
#: vs_mclust.py's data sets: all 109 such pairs among the continued runs
#: ended within 7e-12 of each other; above 1e-7 some did not.)
SAME_END_RELATIVE = 1e-9
SAME_END_WEIGHTS = 1e-6


def _same_end(a, b) -> bool:
    """Short-run ends ``a`` and ``b`` (as in ``ends``) are one optimum."""
    if abs(a[1] - b[1]) > SAME_END_RELATIVE * max(1.0, abs(a[1])):
        return False
    return _weights_within(a, b, SAME_END_WEIGHTS)


def _weights_within(a, b, tolerance: float) -> bool:
    """The sorted mixture weights of ends ``a`` and ``b`` agree to
    ``tolerance`` (what ``np.allclose(rtol=0, atol=tolerance)`` says of
    finite weights, without its per-call overhead: a sweep of small data
    compares ~1,600 pairs)."""
    difference = _sorted_weights(a) - _sorted_weights(b)
    return bool(np.abs(difference).max() <= tolerance)


def _sorted_weights(end) -> np.ndarray:
    """The mixture weights of a short-run end, sorted."""
    run = end[3]
    return np.sort(run[0].params.weights if isinstance(run, tuple) else run.weights_)


def _continue_best(plan, k, covariance_type, ends, fit_on: dict, notes) -> list:
    """The best :data:`CONTINUED_STARTS` short runs of distinct basins
    (:func:`_apart`; :data:`CONTINUED_STARTS_SEVERAL_FEATURES` among
    one-feature starts of several features), and those of
    :data:`REFERENCE_STARTS`, continued to the sweep's tolerance, sorted as
    ``ends`` (non-degenerate first, then likelihood). Above
    :data:`SMALL_DATA_ROWS` rows the best end continues, after a probe on
    all rows (:func:`_probe_on_all_rows`) against up to
    ``LARGE_DATA_CONTINUED_STARTS - 1`` distinct ends the subsample could
    not rank below it (:func:`_undecided`). On small data, when every
    continued end is degenerate or failed, all other non-degenerate short
    runs not in the same optimum as a continued one go on too."""
    n_continued = LARGE_DATA_CONTINUED_STARTS
    if plan.small_data:
        # the one-feature starts, when there are several features, compete
        # for the continued places too
        axes = plan.X.shape[1] > 1 and "axis1" in plan.init_methods
        n_continued = CONTINUED_STARTS_SEVERAL_FEATURES if axes else CONTINUED_STARTS
    # on small data mclust's start always goes on too, so that every
    # candidate ends at least where mclust's own fit does: its basin can
    # look worse after the short runs and still end best (faithful full
    # K = 6: 2,385.7 from it, 2,387.3 from the best two short runs, 2,387.0
    # in mclust). (Above SMALL_DATA_ROWS our tree's subsample is not
    # mclust's, and a continuation on all rows costs more.)
    always = REFERENCE_STARTS if plan.small_data else ()
    if plan.small_data:
        # the best ends of distinct basins: runs in one basin take one place,
        # not several (R's attenu, tied K = 4: ten short runs in one basin
        # filled the places ahead of the start that ends 29 BIC lower; on 73
        # R tables 6 candidates lower, none higher, no measurable time)
        chosen = _apart(ends, n_continued)
    else:
        # runners-up among the settled ends only: a short run's lower bound
        # after 20 E-steps is below where it ends, and would look decided
        settled = [end for end in ends if isinstance(end[3], SettledRun)]
        runners_up = [end for end in settled if not _near(end, ends[0])]
        chosen = ends[:1]
        if isinstance(ends[0][3], SettledRun):
            chosen += [
                end
                for end in _apart(runners_up, n_continued - 1)
                if _undecided(plan, covariance_type, ends[0], end)
            ]
    chosen = chosen + [
        end
        for end in ends[n_continued:]
        if end[2] in always and not end[0]  # (end[0]: degenerate)
    ]
    finals = _continue_chosen(plan, k, covariance_type, chosen, fit_on, notes)
    if plan.small_data and chosen and all(end[0] for end in finals):
        # every continued end collapsed (or failed): all other non-degenerate short
        # runs go on too, once (a start that collapses on the way, e.g.
        # mclust's rescued by plain EM, must not cost the candidate a fit
        # another start reaches; all, not the next two or three: on R's
        # acidity K = 7 and 9 the best real fits came from the 4th-8th,
        # 3.5-7.8 BIC lower, at no measurable cost on 47 R tables)
        more = [
            end
            for end in ends
            if not end[0] and not any(_same_end(end, kept) for kept in chosen)
        ]
        finals += _continue_chosen(plan, k, covariance_type, more, fit_on, notes)
    if not finals:
        raise ValueError("; ".join(notes))
    return sorted(finals, key=lambda end: end[:2])


def _continue_chosen(plan, k, covariance_type, chosen, fit_on, notes) -> list:
    """The short-run ends ``chosen`` (those that are one optimum once)
    continued to the sweep's tolerance, as ``[(degenerate?, -lower bound,
    name, model, why)]`` in no order."""
    finals = []
    distinct = []
    for end in chosen:
        if not any(_same_end(end, kept) for kept in distinct):
            distinct.append(end)
    # short runs of _short_runs go on together, without an estimator each
    short_runs = [(end[2], end[3]) for end in distinct if isinstance(end[3], tuple)]
    if not plan.small_data and len(short_runs) > 1:
        short_runs = _probe_on_all_rows(plan, covariance_type, short_runs, notes)
    if short_runs:
        finals += _continue_runs(plan, k, covariance_type, short_runs, notes)
    for _, _, name, end, _ in distinct:
        if isinstance(end, tuple):
            continue
        # an estimator of _short_fits: continue it
        model, spent = end, _resume(plan, end)
        # after short runs on a subsample, the stopping rule starts afresh
        # on the whole data (its lower bound is not comparable)
        model.lower_bound_ = -np.inf
        final = _fitted_end(
            plan, model, plan.X, fit_on, spent, name, plan.total_weight, notes
        )
        if final is not None:
            finals.append(final)
    return finals


def _continue_runs(plan, k, covariance_type, short_runs, notes) -> list:
    """Short runs of :func:`_short_runs` (``[(name, (EMRun, shift))]``)
    continued on all rows to the sweep's tolerance in one
    :func:`~napari_gmm.core.em.run_starts` call (what fitting an estimator
    from each end does, without its per-fit work: ~1 ms each, ~100 times
    in a sweep of small data); each end is stored in a fitted estimator,
    as ``(degenerate?, -lower bound, name, model, why)``."""
    gmm = plan.gmm_params
    ends = _runs_on_all_rows(
        plan, covariance_type, short_runs, gmm["tol"], gmm["max_iter"], notes
    )
    if plan.floor_is_bound:
        ends = _lift_floor(plan, covariance_type, ends, notes)
    finals = []
    for degenerate, lower, name, (run, run_shift), why in ends:
        # (a lifted end too keeps the floor in its settings: a refit of the
        # model, e.g. of an edited points layer, searches with it added)
        model = _weighted_model(plan, k, covariance_type)
        model.record_run(run, run_shift, plan.X.shape[1])
        finals.append((degenerate, lower, name, model, why))
    return finals


def _lift_floor(plan, covariance_type, ends, notes) -> list:
    """``ends`` of :func:`_runs_on_all_rows` (fitted with the quantization
    floor added to every variance), each non-degenerate one continued by EM
    without it; a continuation replaces its end when it converged, stayed
    in the bounded model (:func:`~napari_gmm.core.candidate.above_floor`),
    is not degenerate and its likelihood is not lower. The E-steps of a
    continuation not kept are counted in its end's.

    The floor of :func:`~napari_gmm.core.candidate.quantization_floor` is a
    lower bound: a component's variance along a quantized feature is at
    least ``step**2 / (2 pi)``. Adding it in every M-step keeps EM out of
    the spikes that make the likelihood unbounded, but it moves every fit,
    even those far above it (R's discoveries, yearly counts: up to 0.86 BIC
    above mclust's fits, and a different choice). A fit that converges
    above the floor without it is a local maximum of the bounded model too,
    and the exact one: it is kept. One that would fall below it (a
    component settling on one value) stops there (the collapse limits
    raised to the floor, :meth:`SweepPlan.bound_collapse_for`) and keeps
    its floored end, which lies in the bounded model as well."""
    names = [end[2] for end in ends if not end[0]]
    if not names:
        return ends
    X, w, shift = _all_rows(plan)
    gmm = plan.gmm_params
    floored = {end[2]: end for end in ends}
    runs = run_starts(
        X,
        w,
        [floored[name][3][0].params for name in names],
        covariance_type=covariance_type,
        reg_covar=gmm["reg_covar"],
        floor=plan.reg_floor_for(covariance_type),
        tol=gmm["tol"],
        max_iter=gmm["max_iter"],
        stopping=gmm.get("stopping", "change"),
        accelerate=gmm.get("accelerate", False),
        collapse_variance=plan.bound_collapse_for(covariance_type),
        on_iteration=lambda *_: plan.check_cancel(),
    )
    candidates, spent = {}, {}
    for name, run in zip(names, runs, strict=True):
        if isinstance(run, ValueError):
            continue
        end = floored[name]
        spent[name] = run.n_iter
        if (
            run.converged
            and -run.lower_bound <= end[1]
            and above_floor(
                run.params.covariances, covariance_type, plan.covariance_floor
            )
        ):
            candidates[name] = run._replace(n_iter=run.n_iter + end[3][0].n_iter)
    lifted = {}
    if candidates:
        checked = _ends_of(
            plan,
            covariance_type,
            list(candidates),
            list(candidates.values()),
            shift,
            plan.total_weight,
            notes,
        )
        # (without the floor a component can still thin out below its
        # parameters' support, or collapse across an unquantized feature)
        lifted = {end[2]: end for end in checked if not end[0]}
    kept = []
    for end in ends:
        name = end[2]
        if name in lifted:
            kept.append(lifted[name])
        elif name in spent:
            run, run_shift = end[3]
            counted = run._replace(n_iter=run.n_iter + spent[name])
            kept.append((*end[:3], (counted, run_shift), end[4]))
        else:
            kept.append(end)
    return kept


def _bounded_runs(plan, k, covariance_type, starts, notes) -> list:
    """Every start run by EM without the added floor to the sweep's
    tolerance, as the finals of :func:`_continue_best`: those that converge
    inside the bounded model, not degenerate (the others: none). For small
    data whose quantization floor bounds the model
    (:attr:`SweepPlan.floor_is_bound`).

    :func:`_lift_floor` continues ends that were *searched* with the floor
    added, which moves EM's path, and the starts it sends elsewhere are not
    rescued: on R's discoveries (yearly counts, 0-12), tied K = 6 to 8
    ended 5.2-6.6 BIC above the fits some of the same starts reach
    without the floor, inside the bounded model. Runs that leave the
    bounded model stop there (the collapse limits raised to the floor), so
    a run into a spike costs a few E-steps (measured: 13-33 % more time on
    the three floored R tables of ``vs_mclust.py``)."""
    X, w, shift = _all_rows(plan)
    gmm = plan.gmm_params
    names = [f"{name}, no floor" for name, _ in starts]
    runs = run_partitions(
        plan.X,
        plan.row_weights,
        [labels for _, labels in starts],
        X,
        w,
        shift,
        n_components=k,
        covariance_type=covariance_type,
        reg_covar=gmm["reg_covar"],
        floor=plan.reg_floor_for(covariance_type),
        tol=gmm["tol"],
        max_iter=gmm["max_iter"],
        stopping=gmm.get("stopping", "change"),
        accelerate=gmm.get("accelerate", False),
        collapse_variance=plan.bound_collapse_for(covariance_type),
        check=plan.check_cancel,
        plain_retry=_plain_retry(plan, [name for name, _ in starts]),
    )
    inside = [
        (name, run)
        for name, run in zip(names, runs, strict=True)
        if not isinstance(run, ValueError)
        and run.converged
        and above_floor(run.params.covariances, covariance_type, plan.covariance_floor)
    ]
    if not inside:
        return []
    ends = _ends_of(
        plan,
        covariance_type,
        [name for name, _ in inside],
        [run for _, run in inside],
        shift,
        plan.total_weight,
        notes,
    )
    finals = []
    for degenerate, lower, name, (run, run_shift), why in ends:
        if degenerate:
            continue
        model = _weighted_model(plan, k, covariance_type)
        model.record_run(run, run_shift, plan.X.shape[1])
        finals.append((degenerate, lower, name, model, why))
    return finals


def lift_floor_of(plan, k, covariance_type, model, notes):
    """:func:`_lift_floor` for a fit by an estimator on all the plan's rows
    (a candidate of one start, or one refitted after screening,
    :mod:`~napari_gmm.core.large`): when the plan's floor bounds the model,
    the candidate is a plain Gaussian one and ``model`` is not degenerate,
    a new estimator holding the continuation without the floor, if that is
    kept; otherwise ``model`` (with the continuation's E-steps counted)."""
    plain = plan.floor_is_bound and _runs_without_estimator(plan, covariance_type)
    if not plain or degeneracy(
        model,
        plan.variance,
        plan.total_weight,
        plan.relative_reg,
        plan.covariance_floor,
    ):
        return model
    _, _, shift = _all_rows(plan)
    params = MixtureParameters(
        model.weights_,
        model.means_ if shift is None else model.means_ - shift,
        model.covariances_,
        model.precisions_cholesky_,
    )
    run = EMRun(params, model.lower_bound_, [], model.n_iter_, model.converged_)
    end = (False, -model.lower_bound_, "fit", (run, shift), "")
    ((_, _, _, (kept, kept_shift), _),) = _lift_floor(
        plan, covariance_type, [end], notes
    )
    if kept.params is params:  # not kept: the same parameters, E-steps added
        model.n_iter_ = kept.n_iter
        return model
    # (its settings name the floor: a refit searches with it added)
    lifted = _weighted_model(plan, k, covariance_type)
    lifted.record_run(kept, kept_shift, plan.X.shape[1])
    return lifted


def _plain_retry(plan: SweepPlan, names) -> list[bool]:
    """Which starts run again with plain EM if SQUAREM ends them on a
    collapsed component (:func:`~napari_gmm.core.em.run_starts`): on small
    data, mclust's start (:data:`REFERENCE_STARTS`), so that every
    candidate still gets what mclust's plain EM reaches from it."""
    return [plan.small_data and name in REFERENCE_STARTS for name in names]


def _runs_on_all_rows(plan, covariance_type, short_runs, tol, max_iter, notes):
    """Short runs (``[(name, (EMRun, shift))]``) continued on all rows to
    ``tol`` or ``max_iter`` more E-steps, as ``[(degenerate?, -lower bound,
    name, (EMRun, shift), why)]`` counting all their E-steps."""
    X, w, shift = _all_rows(plan)
    starts = []
    for _, (run, short_shift) in short_runs:
        # (the difference first: exactly 0 when both runs are centred alike)
        offset = (0.0 if short_shift is None else short_shift) - (
            0.0 if shift is None else shift
        )
        starts.append(run.params._replace(means=run.params.means + offset))
    gmm = plan.gmm_params
    names = [name for name, _ in short_runs]
    runs = run_starts(
        X,
        w,
        starts,
        covariance_type=covariance_type,
        reg_covar=gmm["reg_covar"],
        floor=plan.floor_for(covariance_type),
        tol=tol,
        max_iter=max_iter,
        stopping=gmm.get("stopping", "change"),
        accelerate=gmm.get("accelerate", False),
        collapse_variance=plan.collapse_for(covariance_type),
        on_iteration=lambda *_: plan.check_cancel(),
        plain_retry=_plain_retry(plan, names),
    )
    spent = dict(zip(names, (end[0].n_iter for _, end in short_runs), strict=True))
    runs = [
        run
        if isinstance(run, ValueError)
        else run._replace(n_iter=run.n_iter + spent[name])
        for name, run in zip(names, runs, strict=True)
    ]
    return _ends_of(plan, covariance_type, names, runs, shift, plan.total_weight, notes)


#: The default preset's short runs: every start runs EM until at most this
#: much log-likelihood is left to gain (or :data:`SHORT_RUN_MAX_ITER`
#: E-steps; :data:`SMALL_DATA_SHORT_RUN_MAX_ITER` on small data), then the
#: best (the best :data:`CONTINUED_STARTS` on small data) continue to the
#: sweep's tolerance.
SHORT_RUN_TOL = 1.0
#: (Above SMALL_DATA_ROWS the short runs are on a subsample of
#: SHORT_RUN_MAX_ROWS rows, so they cost what small data's do: 100 E-steps
#: there cost 30 % more CPU than 20 and found no better end on 10^4 blobs.)
SHORT_RUN_MAX_ITER = 20

#: Up to this many rows the default spends more on starts: with
#: ``init_params="auto"`` the short runs see every row and stop after
#: SMALL_DATA_SHORT_RUN_MAX_ITER E-steps, and the best
#: CONTINUED_STARTS short runs (not only the best) continue to the sweep's
#: tolerance. On small data several local optima are common and EM is cheap
#: (measured: benchmarks/starts.py, docs/model-selection.md); on more rows
#: the likelihood has fewer traps and every E-step costs more.
SMALL_DATA_ROWS = 5_000
#: With ``init_params="auto"`` each of the ``n_init`` k-means starts is
#: AUTO_KMEANS_STARTS k-means runs with consecutive seeds, at every size:
#: above SMALL_DATA_ROWS all but the first are k-means of the short runs'
#: subsample, extended to every row by the nearest mean (session 14: 3-D
#: blobs of 10^4..10^5 rows, 8 candidates lower by up to 1,254 BIC, none
#: higher, ~11 % more time; docs/model-selection.md).
AUTO_KMEANS_STARTS = 10
#: Up to SMALL_DATA_ROWS rows of more than one feature, ``init_params="auto"``
#: also has this many k-means starts on whitened and as many on robustly
#: scaled data (``starts.KMEANS_METRICS``; session 16, ad-hoc A/B on 73 R
#: tables, one thread: 47 non-degenerate candidates lower by 1,070 BIC in
#: all, 9 higher by 94, 15 -> 12 candidates above the better of mclust's
#: and scikit-learn's fits, 1-9 % more time; docs/model-selection.md).
AUTO_METRIC_KMEANS_STARTS = 3
AUTO_RANDOM_STARTS = 10
SMALL_DATA_SHORT_RUN_MAX_ITER = 20
CONTINUED_STARTS = 2
#: CONTINUED_STARTS when the starts include the one-feature ("axes")
#: starts of several features, which compete for the continued places too
#: (with 2, 2 of 1,692 candidates of 47 R tables ended higher than before
#: the axes starts, a better-looking short run having taken the second
#: place; with 3 none did and 56 ended lower, for 18 % more time in all;
#: docs/performance.md, "One-feature starts"). One feature (image
#: histograms) keeps 2.
CONTINUED_STARTS_SEVERAL_FEATURES = 3

#: Starts whose short runs always continue to the sweep's tolerance on up to
#: SMALL_DATA_ROWS rows (unless degenerate), besides the best ones: mclust's
#: (the "vvv" tree, see core/model_tree.py).
REFERENCE_STARTS = ("vvv",)

#: Above this many rows the short runs use a random subsample of this many
#: rows (the same for every candidate; weights kept), and only the best one
#: continues, on all the rows. Telling basins apart needs far fewer rows
#: than the final estimate: on 10^5 points most of a sweep's time went to
#: short runs on all of them (cProfile, benchmarks/vs_mclust.py --speed).
SHORT_RUN_MAX_ROWS = 5_000

#: Above SMALL_DATA_ROWS rows the default has this many random-rows starts
#: (AUTO_RANDOM_STARTS up to SMALL_DATA_ROWS); their short runs are cheap on
#: the subsample.
LARGE_DATA_RANDOM_STARTS = 10

#: Above SMALL_DATA_ROWS rows, at most this many settled basins are probed on
#: all rows (the best, and those the subsample cannot rank below it); one
#: continues to the sweep's tolerance. GvHD.pos (9,083 x 4): diag K = 5 ends
#: 56.6 BIC above mclust's fit with one, 10.4 below with two, 2.2 s per
#: sweep either way; 10^5 blobs 13.5 -> 13.0 s (ad-hoc, session 11).
LARGE_DATA_CONTINUED_STARTS = 2

#: When the short runs see a subsample, this many of the best that are apart
#: (:func:`_apart`) first continue there to the sweep's tolerance; the best
#: of those ends goes on to all rows.
SUBSAMPLE_SETTLED_STARTS = 3


def short_run_rows(X: np.ndarray, weights, random_state) -> np.ndarray | None:
    """Sorted indices of the short runs' subsample, or None for all rows.

    Drawn without replacement among the positive-weight rows, seeded by the
    sweep's ``random_state``, so every candidate sees the same rows.
    """
    positive = np.arange(len(X)) if weights is None else np.flatnonzero(weights > 0)
    if len(positive) <= SHORT_RUN_MAX_ROWS:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(positive, size=SHORT_RUN_MAX_ROWS, replace=False))


def _cross_validate(plan: SweepPlan, k: int, covariance_type: str, full) -> tuple:
    """``(cv, message)``: the held-out criterion of one candidate, if asked for.

    Every fold is fitted on the other folds twice: from the candidate's own
    initialization (same settings and seed) and from ``full``, the candidate
    fitted on all the data; the fit with the higher training likelihood is
    scored on the held-out fold. (One unlucky start in one fold would
    otherwise decide the comparison; the second start only picks the basin,
    its parameters are refitted on the training folds.) A fold that cannot
    be fitted makes ``cv`` infinite and says why; the candidate's other
    criteria are unaffected.
    """
    if plan.folds is None:
        return float("nan"), ""
    warm = warm_start(full)

    def fit_on(train_weights):
        if k > np.count_nonzero(train_weights > 0):
            raise ValueError(f"a training fold has fewer than {k} samples")
        fits = []
        for start in ({}, warm):
            model = _weighted_model(plan, k, covariance_type).set_params(**start)
            fits.append(
                model.fit(
                    plan.X,
                    sample_weight=train_weights,
                    iteration_callback=plan.check_cancel,
                )
            )
        return max(fits, key=lambda model: model.lower_bound_)

    try:
        return held_out_criterion(fit_on, plan.X, plan.folds, plan.weights), ""
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        return float("inf"), f"cross-validation failed: {err}"
