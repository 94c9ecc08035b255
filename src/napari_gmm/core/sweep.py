"""Fit every candidate mixture, score it, and choose the best one.

The entry points: :func:`sweep` (a result), :func:`iter_sweep` (a generator
of candidates that returns the result). A sweep is split by job into
modules that only call downward:

- :mod:`~napari_gmm.core.settings`: ``SweepSettings`` (every setting and its
  checks), limits, presets;
- :mod:`~napari_gmm.core.plan`: the prepared work (data, candidates, EM settings);
- :mod:`~napari_gmm.core.fitting`: fit one candidate (or record why it failed);
- :mod:`~napari_gmm.core.selection`: the selection rule, ties and evidence;
- :mod:`~napari_gmm.core.outcome`: the table, the choice and the notes;
- :mod:`~napari_gmm.core.execution`: serial, threaded or cluster runs, ``drive``;
- :mod:`~napari_gmm.core.large`: large point sets, screened on a subsample;
- :mod:`~napari_gmm.core.result`: the types, :class:`CandidateFit` and
  :class:`SweepResult`.

The names other code imports from here (the result types, ``select_best``,
``auto_tol``, the limits ...) are re-exported from those modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator

import numpy as np

from . import fitting
from .candidate import RELATIVE_REG_COVAR, quantization_floor
from .crossval import fold_weights
from .em import check_sample_weight
from .execution import FEW_FEATURES, drive, run_plan
from .fitting import (
    AUTO_KMEANS_STARTS,
    CONTINUED_STARTS,
    SHORT_RUN_MAX_ITER,
    SHORT_RUN_TOL,
    SMALL_DATA_ROWS,
    SMALL_DATA_SHORT_RUN_MAX_ITER,
)
from .initialization import ward_initializations
from .large import run_screened, subsample_params
from .plan import SweepPlan
from .result import TABLE_COLUMNS, CandidateFit, SweepCancelled, SweepResult
from .selection import TIE_TOLERANCE, select_best, summarize_messages
from .settings import (
    DEFAULT_INIT_PARAMS,
    GAIN_TOL,
    INIT_METHODS,
    MAX_ABS_VALUE,
    MAX_ITER,
    MAX_N_COMPONENTS_VALUES,
    MAX_N_INIT,
    PARALLEL_THRESHOLD,
    PRESETS,
    REFIT_TOP,
    SCREEN_SIZE,
    SCREEN_THRESHOLD,
    SELECTION_CRITERIA,
    SweepSettings,
    auto_tol,
    check_data,
)
from .starts import (
    START_METHODS,
    axis_names,
    distinct_partitions,
    kmeans_names,
    metric_kmeans_names,
    random_rows_names,
    start_partitions,
    weighted_moments,
)

#: The entry points and the names re-exported from a sweep's modules.
__all__ = [
    "AUTO_KMEANS_STARTS",
    "CONTINUED_STARTS",
    "DEFAULT_INIT_PARAMS",
    "FEW_FEATURES",
    "GAIN_TOL",
    "INIT_METHODS",
    "MAX_ABS_VALUE",
    "MAX_ITER",
    "MAX_N_COMPONENTS_VALUES",
    "MAX_N_INIT",
    "PARALLEL_THRESHOLD",
    "PRESETS",
    "REFIT_TOP",
    "SCREEN_SIZE",
    "SCREEN_THRESHOLD",
    "SELECTION_CRITERIA",
    "SHORT_RUN_MAX_ITER",
    "SHORT_RUN_TOL",
    "SMALL_DATA_ROWS",
    "SMALL_DATA_SHORT_RUN_MAX_ITER",
    "TABLE_COLUMNS",
    "TIE_TOLERANCE",
    "CandidateFit",
    "SweepCancelled",
    "SweepResult",
    "SweepSettings",
    "auto_tol",
    "drive",
    "iter_sweep",
    "select_best",
    "summarize_messages",
    "sweep",
]


def iter_sweep(
    X,
    settings: SweepSettings | dict | None = None,
    *,
    weights=None,
    cancel: Callable[[], bool] | None = None,
    client=None,
    starts: dict | None = None,
    **overrides,
) -> Generator[CandidateFit, None, SweepResult]:
    """Validate the inputs, then fit the candidates one at a time.

    Same parameters as :func:`sweep` (including ``weights``,
    ``covariance_floor`` and ``cancel``, which is checked before every
    candidate and after every EM iteration). The inputs are checked immediately;
    the returned generator yields one :class:`CandidateFit` per candidate and
    *returns* the :class:`SweepResult` (``StopIteration.value``), which lets a
    caller report progress or stop between candidates (the napari widget
    runs it in a thread worker this way).

    ``starts`` (default preset only): ``{(n_components, covariance_type):
    {"weights_init": ..., "means_init": ..., "precisions_init": ...}}``, one
    given starting point per candidate instead of the start partitions
    (no short runs); core/segment.py passes the fits on a coarser histogram.
    """
    settings = SweepSettings.of(settings, **overrides)
    X = check_data(X)
    sample_weight = None if weights is None else check_sample_weight(weights, len(X))
    if sample_weight is not None:
        _check_weight_total(sample_weight, len(X))
    checked = settings.checked(X, sample_weight)
    # the work that grows with the data (centring, folds, Ward starts, the
    # screening subsample) runs at the first next(): in the widget's worker
    # thread, not on the viewer's event loop
    return _prepared_sweep(
        X,
        sample_weight=sample_weight,
        cancel=cancel,
        client=client,
        given_starts=starts,
        **checked,
    )


def _prepared_sweep(
    X,
    *,
    ks,
    types,
    criterion,
    random_state,
    gmm_params,
    sample_weight,
    floor,
    cancel,
    noise,
    volume,
    folds,
    settings,
    tol_follows_n,
    screen,
    screen_size,
    refit_top,
    n_jobs,
    client,
    preset="sklearn",
    relative_reg=RELATIVE_REG_COVAR,
    allow_degenerate=True,
    init_params=None,
    given_starts=None,
) -> Generator[CandidateFit, None, SweepResult]:
    """Generator behind :func:`iter_sweep`, on validated inputs."""
    ward = preset == "sklearn" and gmm_params["init_params"] == "ward"
    if ward:
        # every candidate starts from the shared tree: restarts would repeat it,
        # and scikit-learn's own initialization is replaced (cheapest one kept)
        gmm_params = {**gmm_params, "init_params": "random_from_data", "n_init": 1}
    plan = SweepPlan(
        X=X,
        candidates=tuple((k, t) for t in types for k in ks),
        criterion=criterion,
        random_state=random_state,
        gmm_params=gmm_params,
        weights=sample_weight,
        covariance_floor=floor,
        cancel=cancel,
        noise=noise,
        noise_volume=volume,
        settings=settings,
        tol_follows_n=tol_follows_n,
        n_jobs=n_jobs,
        client=client,
        preset=preset,
        relative_reg=relative_reg,
        allow_degenerate=allow_degenerate,
        small_data=len(X) <= fitting.SMALL_DATA_ROWS,
        variance=weighted_moments(
            X, np.ones(len(X)) if sample_weight is None else sample_weight
        )[1],
    )
    if preset == "default" and floor is None:
        # quantized coordinates (e.g. integer pixels): step**2 / (2 pi), see
        # candidate.quantization_floor
        quantized = quantization_floor(X, sample_weight)
        if quantized is not None:
            plan = dataclasses.replace(
                plan,
                covariance_floor=quantized,
                floor_is_bound=True,
                settings={**plan.settings, "quantization_floor": quantized.tolist()},
            )
    if folds is not None:
        split = fold_weights(len(X), folds, plan.random_state, sample_weight)
        plan = dataclasses.replace(plan, folds=split)
    if ward:
        reg_covar = gmm_params["reg_covar"]
        starts = ward_initializations(
            X, plan.candidates, reg_covar, plan.random_state, sample_weight
        )
        plan = dataclasses.replace(plan, starts=starts)
    automatic = screen == "auto" and len(X) > SCREEN_THRESHOLD
    # screening refits plain mixtures and has no held-out folds: it is used
    # for Gaussian-only sweeps scored by an information criterion
    screenable = sample_weight is None and not noise and folds is None
    if (screen is True or automatic) and screenable and len(X) > screen_size:
        # large n: fit on a subsample, refit the best on all points (core/large.py)
        rng = np.random.default_rng(plan.random_state)
        rows = np.sort(rng.choice(len(X), size=screen_size, replace=False))
        screen_plan = _with_starts(
            dataclasses.replace(
                plan, X=X[rows], gmm_params=subsample_params(plan, screen_size)
            ),
            init_params,
        )
        return (yield from run_screened(plan, screen_plan, screen_size, refit_top))
    if given_starts is not None:
        # given starting points (e.g. a fit on a coarser histogram, see
        # core/segment.py): one start per candidate, no start partitions
        return (yield from run_plan(dataclasses.replace(plan, starts=given_starts)))
    return (yield from run_plan(_with_starts(plan, init_params)))


def _check_weight_total(weights: np.ndarray, n_rows: int) -> None:
    """Weights count samples: a total below 2 is fewer samples than any
    mixture needs (normalized weights, found by fuzzing, made every
    candidate degenerate with a note about repeated values)."""
    total = float(weights.sum())
    if total < 2.0:
        raise ValueError(
            f"The weights total {total:.3g}, fewer than the 2 samples a mixture "
            "needs: a weight counts samples (a row of weight 3 stands for 3 "
            "rows). If they are relative weights, scale them, e.g. weights * "
            f"{n_rows} / weights.sum()."
        )


def _with_starts(plan: SweepPlan, init_params: str) -> SweepPlan:
    """The default preset's start partitions, computed on the plan's rows."""
    if plan.preset != "default" or init_params not in (*START_METHODS, "auto"):
        return plan
    methods = START_METHODS if init_params == "auto" else (init_params,)
    n_kmeans = int(plan.gmm_params["n_init"]) if "kmeans" in methods else 0
    kmeans_rows = None
    if init_params == "auto":
        n_kmeans *= fitting.AUTO_KMEANS_STARTS
        if not plan.small_data:
            # more rows: the k-means starts after the first see the short
            # runs' subsample (fitting.short_run_rows, SHORT_RUN_MAX_ROWS)
            kmeans_rows = fitting.short_run_rows(
                plan.X, plan.weights, plan.random_state
            )
    # more than one feature, small data: k-means of other scale-free
    # scalings too (their short runs see every row there)
    n_metric_kmeans = 0
    if init_params == "auto" and plan.small_data and plan.X.shape[1] > 1:
        n_metric_kmeans = fitting.AUTO_METRIC_KMEANS_STARTS
    n_random = 0
    if init_params == "auto":
        n_random = (
            fitting.AUTO_RANDOM_STARTS
            if plan.small_data
            else fitting.LARGE_DATA_RANDOM_STARTS
        )
    partitions = start_partitions(
        plan.X,
        plan.weights,
        sorted({k for k, _ in plan.candidates}),
        plan.random_state,
        methods=methods,
        n_kmeans=n_kmeans,
        n_random=n_random,
        n_jobs=plan.n_jobs,
        kmeans_rows=kmeans_rows,
        n_metric_kmeans=n_metric_kmeans,
    )
    names = [m for m in methods if m not in ("kmeans", "axes")]
    if n_kmeans:
        names = [
            *kmeans_names(n_kmeans),
            *metric_kmeans_names(n_metric_kmeans),
            *names,
        ]
    if "axes" in methods:
        names = [*names, *axis_names(plan.X.shape[1])]
    if n_random:
        names = [*names, *random_rows_names(n_random)]
    return dataclasses.replace(
        plan,
        partitions=distinct_partitions(partitions, names),
        init_methods=tuple(names),
    )


def sweep(
    X,
    settings: SweepSettings | dict | None = None,
    *,
    weights=None,
    progress: Callable[[int, int, CandidateFit], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    client=None,
    **overrides,
) -> SweepResult:
    """Fit every (n_components, covariance_type) candidate and choose one.

    Each candidate is a :class:`~napari_gmm.core.em.WeightedGaussianMixture`
    (scikit-learn's ``GaussianMixture`` with sample weights) with
    ``n_components=k, covariance_type=t``, fitted to ``X``, with its
    components sorted by mean (first feature first) so labels do not depend
    on the initialization. ``preset="sklearn"`` runs scikit-learn's
    algorithm and settings (its numbers, e.g. on the seed example); the
    default preset starts every candidate from several partitions and runs
    accelerated EM to a tighter rule (:mod:`napari_gmm.core.settings`).

    With ``weights``, each candidate is fitted with ``sample_weight=weights``;
    the table's log-likelihood is then ``sum_i w_i log p(x_i)`` and BIC, AIC
    and ICL use the total weight as the number of samples
    (:func:`~napari_gmm.core.em.weighted_criteria`). Fitting distinct values
    with their counts scores like fitting every repeated value, much faster.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; a 1-D array is one feature. Must be finite.
    settings : SweepSettings or dict, optional
        All settings at once (:class:`~napari_gmm.core.settings.SweepSettings`,
        whose fields are the parameters below from ``n_components`` on, or a
        dict of them such as :attr:`SweepResult.settings`); any setting given
        by name as well overrides it. None: the defaults below.
    n_components : iterable of int, default range(1, 7)
        Numbers of components to try.
    covariance_types : iterable of str or str, default scikit-learn's four
        Any of ``"spherical"``, ``"tied"``, ``"diag"``, ``"full"`` and of
        mclust's models ``"EII"`` ... ``"VVV"`` (any case, mixed; a model
        named twice, e.g. "full" and "VVV", is one candidate), or ``"all"``
        for the 14 (:data:`~napari_gmm.core.criteria.MODEL_TYPES`). A
        candidate's type is scikit-learn's name for the four it has and
        mclust's for the others (fitted by
        :class:`~napari_gmm.core.parsimonious_em.ParsimoniousGaussianMixture`);
        the table's ``model`` column has every row's mclust name.
    criterion : {"bic", "aic", "icl", "cv"}, default "bic"
        Criterion used for the choice (all are in the table; "cv" only when
        cross-validation runs). All are "lower is better".
    random_state : int or None, default 0
        Seed of every candidate's initialization. None draws one, which is
        recorded in :attr:`SweepResult.random_state`.
    tol : float or None, default None
        EM tolerance on the mean log-likelihood; None uses :func:`auto_tol`
        (scikit-learn's 1e-3 up to 1,000 samples, 1/n above).
    n_init, reg_covar, max_iter
        Passed to :class:`sklearn.mixture.GaussianMixture`.
    init_params : str, optional
        The default preset's "auto" (its default: the best of several
        starts, :mod:`napari_gmm.core.starts`) or one of them alone:
        "kmeans", "hierarchical", "vvv", "axes"; scikit-learn's "kmeans"
        (the sklearn preset's default), "k-means++", "random",
        "random_from_data"; or "ward": one agglomerative (Ward) tree shared
        by all candidates (:mod:`napari_gmm.core.initialization`).
    weights : array-like of shape (n_samples,), optional
        Non-negative finite sample weights with a positive total, e.g. the
        count of each distinct row of ``X``; zero-weight rows are ignored.
        Candidates need at least K rows with positive weight.
        :attr:`SweepResult.n_samples` is then the total weight.
    covariance_floor : float or array-like of shape (n_features,), optional
        Variance added to every covariance diagonal on top of ``reg_covar``
        (see :class:`~napari_gmm.core.em.WeightedGaussianMixture`);
        ``step**2 / 12`` per feature stops spike components on integer data.
    progress : callable, optional
        ``progress(done, total, candidate_fit)`` after each candidate.
    screen : {"auto", True, False}, default "auto"
        Large point sets: fit the candidates on a random subsample of
        ``screen_size`` points, then refit on all points, warm-started, the
        best ``refit_top`` and every candidate whose screened criterion is
        within the margin a refit could still gain (:mod:`napari_gmm.core.large`,
        which documents the rule and its switches). "auto" does so above
        :data:`~napari_gmm.core.large.SCREEN_THRESHOLD` unweighted points
        (not with ``noise`` or ``cv_folds``); the table's ``screened`` column
        marks estimated rows.
    screen_size, refit_top : int
        Subsample size and the fewest candidates refitted when screening.
    n_jobs : int or None, default None
        Candidates fitted in parallel threads (-1: all cores). None uses all
        cores from :data:`PARALLEL_THRESHOLD` samples on, else up to
        :data:`~napari_gmm.core.settings.SMALL_DATA_THREADS` (one below
        :data:`~napari_gmm.core.settings.SMALL_DATA_THREADS_MIN_ROWS`
        samples). The results do not depend on it.
    client : distributed.Client or str, optional
        Fit the candidates on a dask.distributed cluster (a Client or a
        scheduler address), see :mod:`napari_gmm.core.cluster`. Same results.
    noise : bool, default False
        Add one uniform "noise" component to every candidate (Banfield &
        Raftery), so scattered outliers are labelled noise instead of being
        explained by extra Gaussians; criteria count its weight as one more
        parameter. See :mod:`napari_gmm.core.noise`.
    noise_volume : float, optional
        Volume (area in 2-D) the noise is uniform over; default the data's
        bounding box.
    cv_folds : int, optional
        Also compute ``cv``, ``-2 x`` the held-out log-likelihood by k-fold
        cross-validation (not BIC; see :mod:`napari_gmm.core.crossval`); costs
        ``2 x cv_folds`` extra fits per candidate. ``criterion="cv"`` chooses by
        it (5 folds unless given). Large-n screening is off when ``noise`` or
        cross-validation is on.
    cancel : callable, optional
        Checked before each candidate and after every EM iteration; when it
        returns True the sweep stops and :class:`SweepCancelled` is raised.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        Invalid data or settings, or no candidate could be fitted.
    SweepCancelled
        If ``cancel()`` returned True.

    Examples
    --------
    >>> from napari_gmm import make_seed_example, sweep
    >>> result = sweep(make_seed_example())
    >>> result.best_key
    (2, 'full')
    """
    fits = iter_sweep(
        X, settings, weights=weights, cancel=cancel, client=client, **overrides
    )
    return drive(fits, progress)
