"""Fit every candidate mixture, score it, and choose the best one.

Selection rule
--------------
The chosen candidate has the lowest value of the criterion (BIC by default;
all criteria are "lower is better"). Candidates that failed (infinite
criterion) are never chosen. Candidates whose EM did not converge are only
chosen when no converged candidate exists, and the result then says so.
Ties -- criteria within ``TIE_TOLERANCE`` (1e-9) relative of the lowest,
which happen when two candidates are the same model (in 1-D spherical, diag
and full coincide; for K = 1 tied equals full) -- are broken in favour of
the simpler model: fewer free parameters, then fewer components, then the
covariance type that comes first in ``("spherical", "tied", "diag", "full")``.

Weighted data
-------------
With ``weights`` (e.g. the counts of distinct pixel values), every candidate
is a :class:`~napari_gmm.core.em.WeightedGaussianMixture` fitted with those
weights, and the criteria use the weighted log-likelihood with the total
weight as the number of samples, so integer counts score like the repeated
data. Without weights (and without ``covariance_floor``, ``cancel`` or
``noise``, on data not far from the origin) the candidates of fewer than
``PARALLEL_THRESHOLD`` (20,000) samples are plain
:class:`sklearn.mixture.GaussianMixture` fits; from that size they are
WeightedGaussianMixture fits with unit weights (a subclass of
GaussianMixture; same criteria to rounding, a faster E-step); see
``_SweepPlan.weighted``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from .candidate import (
    DEGENERATE_VARIANCE,
    RELATIVE_REG_COVAR,
    degeneracy,
    quantization_floor,
    relative_floor,
    scale_of,
    start_parameters,
)
from .components import sort_components
from .criteria import (
    COVARIANCE_TYPES,
    CRITERIA,
    GRADED_CRITERIA,
    evidence,
    information_criteria,
    n_parameters,
    range_edge_note,
)
from .crossval import (
    CV_FOLDS,
    check_cv_folds,
    check_fold_split,
    fold_weights,
    held_out_criterion,
)
from .em import (
    WeightedGaussianMixture,
    centring_shift,
    check_covariance_floor,
    check_sample_weight,
    weighted_criteria,
)
from .equivalent import equivalent_candidates, fit_order, in_sweep_order
from .geometry import full_covariances
from .initialization import ward_initializations
from .large import (
    REFIT_TOP,
    SCREEN_SIZE,
    SCREEN_THRESHOLD,
    run_screened,
    subsample_params,
)
from .noise import (
    NoisyGaussianMixture,
    bounding_box_volume,
    check_noise_volume,
    warm_start,
)
from .starts import START_METHODS, kmeans_names, start_partitions, weighted_moments

#: Columns of :attr:`SweepResult.table`, in order.
TABLE_COLUMNS = (
    "covariance_type",
    "n_components",
    "bic",
    "aic",
    "icl",
    "log_likelihood",
    "n_parameters",
    "converged",
    "degenerate",
    "n_iter",
    "fit_time_s",
    "start",
    "delta",
    "evidence",
    "selected",
    "message",
)


class SweepCancelled(Exception):
    """Raised by :func:`sweep` when its ``cancel`` callback returns True."""


@dataclass
class CandidateFit:
    """One fitted (or failed) candidate of a sweep.

    A failed candidate has ``model=None``, infinite criteria and a
    ``message`` saying why; it never aborts the sweep.
    """

    index: int
    total: int
    n_components: int
    covariance_type: str
    model: GaussianMixture | None
    log_likelihood: float
    n_parameters: int
    bic: float
    aic: float
    icl: float
    converged: bool
    n_iter: int
    fit_time_s: float
    message: str = ""
    #: ``-2 x`` held-out log-likelihood (k-fold), NaN when not computed.
    cv: float = float("nan")
    #: Weight of the uniform noise component, NaN without one.
    noise_weight: float = float("nan")
    #: Why the fit is degenerate ("" if it is not; see core/candidate.py).
    degenerate: str = ""
    #: The start the kept fit came from ("" for scikit-learn's own).
    start: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return (self.n_components, self.covariance_type)

    @property
    def ok(self) -> bool:
        return self.model is not None


@dataclass
class SweepResult:
    """Outcome of :func:`sweep`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, in sweep order (covariance type outer,
        number of components inner), with the columns :data:`TABLE_COLUMNS`.
        ``delta`` is the criterion minus the chosen candidate's (>= 0: lower
        is better) and ``evidence`` grades it (Kass & Raftery for BIC and ICL:
        "weak" < 2 <= "positive" < 6 <= "strong" < 10 <= "very strong"
        evidence for the chosen model; "chosen" on the chosen row, "same
        model" on rows tied with it). ``fit_time_s`` includes the
        cross-validation fits when ``cv_folds`` is set.
    models : dict
        ``{(n_components, covariance_type): GaussianMixture}`` for every
        candidate that could be fitted (a
        :class:`~napari_gmm.core.em.WeightedGaussianMixture`, itself a
        GaussianMixture, when the sweep had weights or a covariance floor).
    criterion : str
        ``"bic"``, ``"aic"`` or ``"icl"``.
    best_key : tuple
        ``(n_components, covariance_type)`` of the chosen candidate.
    n_samples : int or float
        Number of rows of the data, or the total weight (float) when the
        sweep had weights; it is the ``n`` of BIC.
    n_features : int
        Number of features of the data.
    random_state : int
        Seed every candidate was fitted with (drawn and recorded when the
        caller passed None, so a run can always be repeated).
    messages : list of str
        Human-readable notes: skipped or failed candidates, non-convergence.
    settings : dict
        The sweep's settings as given (``init_params``, ``n_init``, ``tol``,
        ``reg_covar``, ``max_iter``, ``noise``, ``noise_volume``,
        ``cv_folds``, ...), JSON-ready, so a run can be repeated and a saved
        model says how it was chosen.
    """

    table: pd.DataFrame
    models: dict[tuple[int, str], GaussianMixture]
    criterion: str
    best_key: tuple[int, str]
    n_samples: int | float
    n_features: int
    random_state: int
    messages: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def best(self) -> GaussianMixture:
        """The chosen, fitted :class:`sklearn.mixture.GaussianMixture`."""
        return self.models[self.best_key]

    @property
    def best_row(self) -> pd.Series:
        """The table row of the chosen candidate."""
        return self.table.loc[self.table["selected"]].iloc[0]

    def model(self, n_components: int, covariance_type: str) -> GaussianMixture:
        """The fitted model of any candidate.

        Raises
        ------
        KeyError
            If that candidate was not part of the sweep or failed to fit.
        """
        key = (int(n_components), str(covariance_type))
        if key not in self.models:
            fitted = ", ".join(f"{k}/{t}" for k, t in self.models)
            raise KeyError(
                f"No fitted model for n_components={key[0]}, "
                f"covariance_type={key[1]!r}; fitted candidates: {fitted}."
            )
        return self.models[key]

    def criterion_values(self) -> np.ndarray:
        """Criterion values as an array of shape (n_types, n_k), NaN if absent.

        Rows follow the covariance types and columns the numbers of
        components, both in sweep order.
        """
        pivot = self.table.pivot(
            index="covariance_type", columns="n_components", values=self.criterion
        )
        types = list(dict.fromkeys(self.table["covariance_type"]))
        return pivot.loc[types].to_numpy(dtype=float)


@dataclass(frozen=True)
class _SweepPlan:
    X: np.ndarray
    candidates: tuple[tuple[int, str], ...]
    criterion: str
    random_state: int
    gmm_params: dict
    weights: np.ndarray | None = None
    covariance_floor: np.ndarray | None = None
    cancel: Callable[[], bool] | None = None
    n_jobs: int = 1
    client: object = None
    starts: dict | None = None  # shared initializations, e.g. Ward
    noise: bool = False  # add a uniform noise component (core/noise.py)
    noise_volume: float | None = None  # its volume if given, else each fit's box
    folds: np.ndarray | None = None  # held-out fold weights (core/crossval.py)
    settings: dict = field(default_factory=dict)  # as given, for the result
    # tol was left to auto_tol: subsample fits (screening) use auto_tol of
    # their own size, a looser tolerance for fewer points (core/large.py)
    tol_follows_n: bool = False
    preset: str = "sklearn"
    # default preset: start partitions {(method, k): labels}, the data's
    # per-feature variance, the relative reg_covar, degenerate fits allowed
    partitions: dict | None = None
    variance: np.ndarray | None = None
    relative_reg: float = RELATIVE_REG_COVAR
    allow_degenerate: bool = False
    init_methods: tuple = ()

    def start_for(self, k: int, covariance_type: str) -> dict:
        """Constructor arguments that fix a candidate's starting point, if any."""
        if not self.starts:
            return {}
        return self.starts.get((k, covariance_type), {})

    centred: bool = False

    @property
    def weighted(self) -> bool:
        """Fit WeightedGaussianMixture rather than GaussianMixture.

        Also when the sweep can be cancelled: our EM checks ``cancel`` after
        every iteration (with unit weights it equals scikit-learn's exactly);
        and when the data lie far from the origin (``centred``): our EM
        centres them, scikit-learn's would lose the variances to rounding;
        and from :data:`PARALLEL_THRESHOLD` samples, where our E-step is
        faster (row reductions over columns; same BICs to ~1e-16 in
        benchmarks/points_sweep.py).
        """
        return (
            self.preset == "default"
            or self.weights is not None
            or self.covariance_floor is not None
            or self.cancel is not None
            or self.centred
            or self.noise
            or len(self.X) >= PARALLEL_THRESHOLD
        )

    def floor_for(self, covariance_type: str) -> np.ndarray | None:
        """The covariance floor of a candidate (scale-relative by default)."""
        if self.preset != "default":
            return self.covariance_floor
        return relative_floor(
            self.variance, covariance_type, self.relative_reg, self.covariance_floor
        )

    def collapse_for(self, covariance_type: str) -> np.ndarray | None:
        """Variances below which EM stops early: the component is degenerate."""
        if self.preset != "default":
            return None
        limit = max(DEGENERATE_VARIANCE, 2.0 * self.relative_reg)
        return limit * scale_of(self.variance, covariance_type)

    @property
    def total_weight(self) -> float:
        return float(len(self.X) if self.weights is None else self.weights.sum())

    def check_cancel(self) -> None:
        """Raise SweepCancelled when the caller asked to stop."""
        if self.cancel is not None and self.cancel():
            raise SweepCancelled("The sweep was cancelled.")

    @property
    def n_usable_samples(self) -> int:
        """Rows that count: all of them, or those with positive weight."""
        if self.weights is None:
            return self.X.shape[0]
        return int(np.count_nonzero(self.weights > 0))

    @property
    def n_samples(self) -> int | float:
        """Number of rows, or the total weight when there are weights."""
        if self.weights is None:
            return self.X.shape[0]
        return float(self.weights.sum())


#: Most distinct numbers of components one sweep tries.
MAX_N_COMPONENTS_VALUES = 1000

#: Largest accepted ``n_init`` and ``max_iter``.
MAX_N_INIT = 1000
MAX_ITER = 1_000_000

#: Largest accepted magnitude of a data value: EM squares the values, and
#: sums of squares beyond ~1e308 overflow float64.
MAX_ABS_VALUE = 1e100


def _check_data(X) -> np.ndarray:
    if np.iscomplexobj(X):
        raise TypeError(
            "X must be real numbers; got complex values. Fit e.g. "
            "np.column_stack([X.real, X.imag]) or np.abs(X) instead."
        )
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"X must be a numeric array of shape (n_samples, n_features); "
            f"could not convert it to float: {err}"
        ) from None
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got an array of shape "
            f"{X.shape}. Reshape it, e.g. X.reshape(-1, X.shape[-1])."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X is empty (shape {X.shape}); a mixture needs at least one sample "
            "with at least one feature."
        )
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(
            f"X contains {int(bad_rows.sum())} row(s) with NaN or infinite values "
            f"(first at row {first}); drop or impute them before fitting."
        )
    if X.shape[0] < 2:
        raise ValueError(
            "X has a single sample; a Gaussian mixture needs at least 2 samples."
        )
    largest = float(max(X.max(), -X.min()))  # no |X| copy of a large array
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"X has values as large as {largest:.3g}; beyond {MAX_ABS_VALUE:.0e} "
            "their squares overflow. Rescale the data (e.g. divide by "
            f"{largest:.0e}) before fitting."
        )
    return X


def _check_n_components(n_components) -> tuple[int, ...]:
    if isinstance(n_components, (int, np.integer)):
        raise TypeError(
            f"n_components must be a collection of integers, got the single "
            f"integer {n_components}; pass range(1, {n_components + 1}) for "
            f"K = 1..{n_components} or [{n_components}] for K = {n_components} only."
        )
    if isinstance(n_components, str) or not isinstance(n_components, Iterable):
        raise TypeError(
            f"n_components must be a collection of integers such as range(1, 7), "
            f"got {n_components!r}."
        )
    n_components = list(n_components)
    not_integers = [
        k
        for k in n_components
        if isinstance(k, (bool, np.bool_))
        or not isinstance(k, (int, np.integer, float, np.floating))
        or not float(k).is_integer()
    ]
    if not_integers:
        raise TypeError(
            f"n_components must be whole numbers, got {not_integers}; "
            "pass e.g. range(1, 7)."
        )
    values = sorted({int(k) for k in n_components})
    if not values:
        raise ValueError("n_components is empty; pass e.g. range(1, 7).")
    if values[0] < 1:
        raise ValueError(f"n_components must all be >= 1, got {values}.")
    if len(values) > MAX_N_COMPONENTS_VALUES:
        raise ValueError(
            f"n_components has {len(values)} values (from {values[0]} to "
            f"{values[-1]}); a sweep tries at most {MAX_N_COMPONENTS_VALUES}, pass "
            "e.g. range(1, 21)."
        )
    return tuple(values)


def _check_covariance_types(covariance_types) -> tuple[str, ...]:
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    if not isinstance(covariance_types, Iterable):
        raise TypeError(
            f"covariance_types must be a selection of {list(COVARIANCE_TYPES)}, "
            f"got {covariance_types!r}."
        )
    types = tuple(dict.fromkeys(str(t).lower() for t in covariance_types))
    unknown = [t for t in types if t not in COVARIANCE_TYPES]
    if unknown or not types:
        raise ValueError(
            f"covariance_types must be a non-empty selection of "
            f"{list(COVARIANCE_TYPES)}, got {list(covariance_types)}."
        )
    return types


#: Criteria a sweep can choose by: the information criteria and "cv"
#: (``-2 x`` held-out log-likelihood, see :mod:`napari_gmm.core.crossval`).
SELECTION_CRITERIA = (*CRITERIA, "cv")


def _check_criterion(criterion: str) -> str:
    name = str(criterion).lower()
    if name not in SELECTION_CRITERIA:
        raise ValueError(
            f"criterion must be one of {list(SELECTION_CRITERIA)}, got {criterion!r}."
        )
    return name


def _check_random_state(random_state) -> int:
    if random_state is None:
        # Draw a seed and record it, so the run can be repeated exactly.
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    if isinstance(random_state, (int, np.integer)) and 0 <= random_state < 2**32:
        return int(random_state)
    raise ValueError(
        f"random_state must be None or an integer in [0, 2**32), got {random_state!r}."
    )


def _failed(
    index, total, k, covariance_type, n_features, message, noise=False
) -> CandidateFit:
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


@contextlib.contextmanager
def _quiet(plan: _SweepPlan):
    """Silence ConvergenceWarning: non-convergence is recorded in the table.

    Warning filters are process-wide and not thread-safe: with several
    threads, _run_plan sets them once around all of them instead.
    """
    if plan.n_jobs != 1:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _fit_candidate(plan: _SweepPlan, index: int) -> CandidateFit:
    k, covariance_type = plan.candidates[index]
    total = len(plan.candidates)
    n_features = plan.X.shape[1]
    n_usable = plan.n_usable_samples
    if plan.weights is None and k >= n_usable:
        # one sample per component leaves no spread to estimate: such a fit
        # sits on the points themselves and BIC rewards it without bound
        return _failed(
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
        return _failed(
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
    if plan.preset == "default":
        fit = _fit_careful
    else:
        fit = _fit_weighted if plan.weighted else _fit_plain
    try:
        with _quiet(plan):
            model, log_likelihood, scores, *extra = fit(plan, k, covariance_type)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        return _failed(
            index, total, k, covariance_type, n_features, f"failed: {err}", plan.noise
        )
    details = extra[0] if extra else {}
    degenerate = details.get("degenerate")
    if degenerate is None and plan.variance is not None:
        degenerate = degeneracy(model, plan.variance, plan.total_weight, 0.0)
    with _quiet(plan):
        cv, cv_message = _cross_validate(plan, k, covariance_type, model)
    elapsed = time.perf_counter() - start
    p = n_parameters(k, n_features, covariance_type, noise=plan.noise)
    converged = bool(model.converged_)
    message = (
        ""
        if converged or degenerate  # (EM stops on a collapse; the note says so)
        else (
            f"did not converge within max_iter={model.max_iter} iterations "
            f"(tol={model.tol}); increase max_iter or tol"
        )
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


def _fit_plain(plan: _SweepPlan, k: int, covariance_type: str) -> tuple:
    """Fit a GaussianMixture; return it, log L and the criteria."""
    model = GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        random_state=plan.random_state,
        **plan.gmm_params,
        **plan.start_for(k, covariance_type),
    )
    model.fit(plan.X)
    sort_components(model)
    per_sample = model.score_samples(plan.X)
    log_max_resp = np.log(model.predict_proba(plan.X).max(axis=1))
    log_likelihood = float(per_sample.sum())
    p = n_parameters(k, plan.X.shape[1], covariance_type)
    n_samples = plan.X.shape[0]
    scores = information_criteria(log_likelihood, p, n_samples, log_max_resp.sum())
    return model, log_likelihood, scores


def _weighted_model(plan: _SweepPlan, k: int, covariance_type: str):
    """The unfitted estimator of one candidate: weighted EM, with noise if asked."""
    settings = {
        "n_components": k,
        "covariance_type": covariance_type,
        "random_state": plan.random_state,
        "covariance_floor": plan.floor_for(covariance_type),
        "collapse_variance": plan.collapse_for(covariance_type),
        **plan.gmm_params,
        **plan.start_for(k, covariance_type),
    }
    if plan.noise:
        return NoisyGaussianMixture(noise_volume=plan.noise_volume, **settings)
    return WeightedGaussianMixture(**settings)


def _fit_weighted(plan: _SweepPlan, k: int, covariance_type: str) -> tuple:
    """Fit a WeightedGaussianMixture; return it, weighted log L and criteria."""
    model = _weighted_model(plan, k, covariance_type)
    model.fit(plan.X, sample_weight=plan.weights, iteration_callback=plan.check_cancel)
    sort_components(model)
    criteria = weighted_criteria(model, plan.X, plan.weights)
    scores = {name: criteria[name] for name in CRITERIA}
    return model, criteria["log_likelihood"], scores


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered by first appearance: equal partitions compare equal."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


def _starts_for(plan: _SweepPlan, k: int, covariance_type: str, floor) -> list:
    """``[(name, estimator settings)]``: the distinct starts of one candidate."""
    if plan.partitions is None:
        if plan.start_for(k, covariance_type):
            return [("given", {})]  # iter_sweep(starts=...)
        # one of scikit-learn's own initializations, n_init times
        return [(plan.gmm_params["init_params"], {})]
    w = np.ones(len(plan.X)) if plan.weights is None else plan.weights
    starts, seen = [], []
    family = "spherical" if covariance_type == "spherical" else ""
    for method in plan.init_methods:
        labels = plan.partitions.get((method, k, family))
        if labels is None:
            continue
        canonical = _canonical(labels)
        if any(np.array_equal(canonical, other) for other in seen):
            continue  # the same partition as an earlier start
        seen.append(canonical)
        start = start_parameters(plan.X, w, labels, k, covariance_type, floor)
        starts.append((method, {**start, "n_init": 1}))
    return starts


def _fit_careful(plan: _SweepPlan, k: int, covariance_type: str) -> tuple:
    """The default preset's fit: the best non-degenerate end over the starts.

    Two phases, as "short EM" strategies do (Biernacki, Celeux & Govaert
    2003): every start runs EM (SQUAREM) to a loose gain rule
    (:data:`SHORT_RUN_TOL`, at most :data:`SHORT_RUN_MAX_ITER` E-steps), which
    is enough to tell the basins apart; the best non-degenerate one then
    continues to the sweep's tolerance (:mod:`napari_gmm.core.convergence`).
    A start that fails is dropped with a note; the candidate fails only if
    every start does. Degenerate ends
    (:func:`~napari_gmm.core.candidate.degeneracy`) are kept only when no
    start ends otherwise.
    """
    floor = plan.floor_for(covariance_type)
    starts = _starts_for(plan, k, covariance_type, floor)
    if not starts:
        raise ValueError(f"no start could make {k} non-empty clusters")
    ends, notes = [], []
    fit_on = {"sample_weight": plan.weights, "iteration_callback": plan.check_cancel}
    short = {
        "tol": max(SHORT_RUN_TOL, plan.gmm_params["tol"]),
        "max_iter": min(SHORT_RUN_MAX_ITER, plan.gmm_params["max_iter"]),
    }
    for name, settings in starts:
        model = _weighted_model(plan, k, covariance_type).set_params(**settings)
        if len(starts) > 1:
            model.set_params(**short)
        try:
            model.fit(plan.X, **fit_on)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
            notes.append(f"the {name} start failed ({err})")
            continue
        why = degeneracy(model, plan.variance, plan.total_weight, plan.relative_reg)
        ends.append((bool(why), -model.lower_bound_, name, model, why))
    if not ends:
        raise ValueError("; ".join(notes))
    # non-degenerate first, then the highest likelihood
    _, _, name, model, why = min(ends, key=lambda end: end[:2])
    if len(starts) > 1:  # the short run goes on to the sweep's tolerance
        spent = model.n_iter_
        model.set_params(
            warm_start=True,
            tol=plan.gmm_params["tol"],
            max_iter=plan.gmm_params["max_iter"],
        )
        model.fit(plan.X, **fit_on)
        model.set_params(warm_start=False)
        model.n_iter_ += spent
        why = degeneracy(model, plan.variance, plan.total_weight, plan.relative_reg)
    sort_components(model)
    criteria = weighted_criteria(model, plan.X, plan.weights)
    scores = {name_: criteria[name_] for name_ in CRITERIA}
    details = {"start": name, "degenerate": why, "notes": notes}
    return model, criteria["log_likelihood"], scores, details


#: The default preset's short runs: every start runs EM until at most this
#: much log-likelihood is left to gain (or :data:`SHORT_RUN_MAX_ITER`
#: E-steps), then only the best continues to the sweep's tolerance.
SHORT_RUN_TOL = 1.0
SHORT_RUN_MAX_ITER = 100


def _cross_validate(plan: _SweepPlan, k: int, covariance_type: str, full) -> tuple:
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


#: Initializations: scikit-learn's four, and one Ward tree shared by all
#: candidates (:mod:`napari_gmm.core.initialization`).
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "ward")


def auto_tol(n_samples: float) -> float:
    """Default EM tolerance: scikit-learn's 1e-3, tightened to 1/n for large n.

    EM stops when the *mean* log-likelihood changes by less than ``tol``, so
    stopping early can leave up to about ``2 n tol`` in BIC. With
    ``tol = min(1e-3, 1/n)`` that is about 2 whatever n, below the
    difference of 6-10 usually read as strong evidence, so the choice does
    not depend on where EM stopped. Up to 1,000 samples it is exactly
    scikit-learn's default.
    """
    return float(min(1e-3, 1.0 / max(float(n_samples), 1.0)))


#: Samples from which ``n_jobs=None`` fits candidates in parallel threads.
PARALLEL_THRESHOLD = 20_000

#: Up to this many features, candidates fitted one after the other use one
#: BLAS/OpenMP thread (see _run_plan).
FEW_FEATURES = 16

#: Criterion values this close (relative) count as a tie.
TIE_TOLERANCE = 1e-9


def _simplicity(fit: CandidateFit) -> tuple:
    return (
        fit.n_parameters,
        fit.n_components,
        COVARIANCE_TYPES.index(fit.covariance_type),
    )


def _reason(message: str) -> str:
    """A candidate's message without what is particular to its K."""
    if message.startswith("skipped:"):
        got = message.rsplit("got ", 1)[-1]
        if "positive weight" in message:
            return f"skipped: more components than the {got} rows with positive weight"
        return f"skipped: as many components as samples or more ({got} samples)"
    return message


def _keys(fits: list[CandidateFit]) -> str:
    """``K=4 full, K=5 full`` for a few candidates, ``K=2..6 (full, diag)`` else."""
    if len(fits) <= 6:
        return ", ".join(f"K={f.n_components} {f.covariance_type}" for f in fits)
    ks = sorted({f.n_components for f in fits})
    types = list(dict.fromkeys(f.covariance_type for f in fits))
    span = f"K={ks[0]}..{ks[-1]}" if len(ks) > 1 else f"K={ks[0]}"
    return f"{span} ({', '.join(types)})"


def summarize_messages(fits: list[CandidateFit]) -> list[str]:
    """One sentence per distinct reason instead of one per candidate.

    ``K=5 spherical: <message>`` when one candidate has that reason,
    ``<n> of <total> candidates (<which>): <reason> (<n>x)`` when several do.
    """
    groups: dict[str, list[CandidateFit]] = {}
    for fit in fits:
        if fit.message:
            groups.setdefault(_reason(fit.message), []).append(fit)
    messages = []
    for reason, members in groups.items():
        if len(members) == 1:
            fit = members[0]
            messages.append(
                f"K={fit.n_components} {fit.covariance_type}: {fit.message}"
            )
        else:
            messages.append(
                f"{len(members)} of {len(fits)} candidates ({_keys(members)}): "
                f"{reason} ({len(members)}\u00d7)."
            )
    return messages


def _all_failed(fits: list[CandidateFit]) -> str:
    """The sentence of a sweep where no candidate could be fitted."""
    groups: dict[str, int] = {}
    for fit in fits:
        reason = _reason(fit.message or "no finite criterion")
        reason = reason.removeprefix("failed: ")
        groups[reason] = groups.get(reason, 0) + 1
    reasons = "; ".join(f"{reason} ({count}\u00d7)" for reason, count in groups.items())
    return (
        f"No candidate could be fitted; all {len(fits)} candidates failed: {reasons}."
    )


def select_best(
    fits: list[CandidateFit], criterion: str, allow_degenerate: bool = True
) -> tuple[CandidateFit, list[str]]:
    """Apply the selection rule of this module to a list of candidates.

    With ``allow_degenerate=False`` candidates marked degenerate are left out
    unless every fitted candidate is.

    Returns
    -------
    best : CandidateFit
    notes : list of str
        Why a non-converged candidate had to be chosen, if it was.

    Raises
    ------
    ValueError
        If no candidate could be fitted.
    """
    usable = [f for f in fits if f.ok and np.isfinite(getattr(f, criterion))]
    if not usable:
        raise ValueError(_all_failed(fits))
    notes = []
    if not allow_degenerate:
        sound = [f for f in usable if not f.degenerate]
        if sound:
            usable = sound
        else:
            notes.append(
                "Every fitted candidate is degenerate (a component collapsed "
                "onto a few values); the choice is among them and its "
                "criterion is not meaningful. Use fewer components or check the "
                "data for repeated or discrete values."
            )
    converged = [f for f in usable if f.converged]
    if not converged:
        notes.append(
            "No candidate converged; the choice is among non-converged fits. "
            "Increase max_iter or tol."
        )
        converged = usable
    lowest = min(getattr(f, criterion) for f in converged)
    margin = TIE_TOLERANCE * max(abs(lowest), 1.0)
    # Ties up to rounding: in 1-D, spherical, diag and full are one model, and
    # for K = 1 tied equals full; the simplest of the tied candidates wins.
    tied = [f for f in converged if getattr(f, criterion) <= lowest + margin]
    best = min(tied, key=_simplicity)
    return best, notes


def _data_notes(plan: _SweepPlan) -> list[str]:
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


def _smallest_variances(model) -> np.ndarray:
    """Each component's smallest variance (eigenvalue of its covariance)."""
    k, d = model.means_.shape
    covariances = full_covariances(model.covariances_, model.covariance_type, k, d)
    return np.linalg.eigvalsh(covariances).min(axis=1)


def _collapse_notes(plan: _SweepPlan, best: CandidateFit) -> list[str]:
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


def _evidence_against(fit, best, criterion: str, best_value: float) -> str:
    """How strongly the data prefer the chosen candidate over ``fit``.

    Kass & Raftery's words for BIC and ICL differences; "chosen" for the
    choice, "same model" for candidates tied with it (in 1-D spherical, diag
    and full coincide), "" for failed candidates and for criteria the grades
    do not fit.
    """
    if fit is best:
        return "chosen"
    value = getattr(fit, criterion)
    if not (fit.ok and np.isfinite(value)):
        return ""
    if abs(value - best_value) <= TIE_TOLERANCE * max(abs(best_value), 1.0):
        return "same model"
    if criterion not in GRADED_CRITERIA:
        return ""
    return evidence(value - best_value)


def _build_result(plan: _SweepPlan, fits: list[CandidateFit]) -> SweepResult:
    best, notes = select_best(fits, plan.criterion, plan.allow_degenerate)
    best_value = getattr(best, plan.criterion)
    rows = [
        {
            "covariance_type": f.covariance_type,
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
            "evidence": _evidence_against(f, best, plan.criterion, best_value),
            "selected": f is best,
            "message": f.message,
            "cv": f.cv,
            "noise_weight": f.noise_weight,
        }
        for f in fits
    ]
    columns = list(TABLE_COLUMNS)
    # optional columns only when computed, just before "converged"
    extra = [
        c
        for c, on in (("cv", plan.folds is not None), ("noise_weight", plan.noise))
        if on
    ]
    at = columns.index("converged")
    columns[at:at] = extra
    messages = summarize_messages(fits)
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


def _fit_checked(plan: _SweepPlan, index: int) -> CandidateFit:
    plan.check_cancel()
    return _fit_candidate(plan, index)


def _run_plan(plan: _SweepPlan) -> Generator[CandidateFit, None, SweepResult]:
    fits = []
    # one feature: spherical, diag and full candidates of one K are one
    # model, fitted once (default preset; core/equivalent.py)
    twins = (
        equivalent_candidates(plan.candidates, plan.X.shape[1])
        if plan.preset == "default"
        else {}
    )
    order = fit_order(len(plan.candidates), twins)
    if plan.client is not None:  # (run_on_cluster fits every candidate)
        from .cluster import run_on_cluster

        for fit in run_on_cluster(plan, plan.client, _fit_candidate):
            fits.append(fit)
            yield fit
        return _build_result(plan, fits)
    if plan.n_jobs == 1:
        # With few features the matrix products are too small for BLAS or
        # OpenMP (k-means) threads to pay off: they only add synchronisation,
        # and spin badly when the cores are busy. Results do not change.
        # (measured in benchmarks/vs_mclust.py: wdbc, 569 x 30, 10x slower
        # with all BLAS threads on a busy machine)
        small = plan.X.shape[1] <= FEW_FEATURES or len(plan.X) < PARALLEL_THRESHOLD
        limits = 1 if small else None
        with threadpool_limits(limits=limits):
            fitted = (_fit_checked(plan, index) for index in order)
            fits = yield from in_sweep_order(plan.candidates, fitted, twins)
        return _build_result(plan, fits)
    # Candidates in parallel threads (numpy releases the GIL in its heavy
    # loops); BLAS and OpenMP (k-means) limited to one thread each so the
    # cores are not oversubscribed. Results come back in sweep order; cancel
    # is shared.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parallel = Parallel(
            n_jobs=plan.n_jobs, backend="threading", return_as="generator"
        )
        fitted = parallel(delayed(_fit_checked)(plan, index) for index in order)
        fits = yield from in_sweep_order(plan.candidates, fitted, twins)
    return _build_result(plan, fits)


#: GaussianMixture's initialisations.
_INIT_PARAMS = INIT_METHODS

#: Initializations of the default preset: all of :mod:`napari_gmm.core.starts`
#: ("auto"), one of them, or one of scikit-learn's.
DEFAULT_INIT_PARAMS = (
    "auto",
    *START_METHODS,
    "k-means++",
    "random",
    "random_from_data",
)

#: Largest log-likelihood the default stopping rule may leave to gain (BIC
#: at most about twice that; measured in docs/model-selection.md).
GAIN_TOL = 0.01

#: Settings each preset fills in where the caller gave None.
PRESETS = {
    "default": {
        "tol": GAIN_TOL,
        "reg_covar": RELATIVE_REG_COVAR,
        "max_iter": 500,  # E-steps; overfitted candidates can crawl for longer
        "init_params": "auto",
        "allow_degenerate": False,
    },
    "sklearn": {
        "tol": None,  # auto_tol(n)
        "reg_covar": 1e-6,
        "max_iter": 100,
        "init_params": "kmeans",
        "allow_degenerate": True,
    },
}


def _resolve_n_jobs(n_jobs, n_samples: int, n_candidates: int) -> int:
    if n_jobs is None:
        # threads only pay off when each candidate has real work to do
        n_jobs = -1 if n_samples >= PARALLEL_THRESHOLD else 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number, -1 (all cores) or None.")
    cores = os.cpu_count() or 1
    resolved = cores + 1 + n_jobs if n_jobs < 0 else n_jobs
    return max(1, min(resolved, n_candidates))


def iter_sweep(
    X,
    n_components: Iterable[int] = range(1, 7),
    covariance_types: Iterable[str] = COVARIANCE_TYPES,
    criterion: str = "bic",
    random_state: int | None = 0,
    n_init: int = 1,
    tol: float | None = None,
    reg_covar: float | None = None,
    max_iter: int | None = None,
    init_params: str | None = None,
    weights=None,
    covariance_floor=None,
    cancel: Callable[[], bool] | None = None,
    screen: bool | str = "auto",
    screen_size: int = SCREEN_SIZE,
    refit_top: int = REFIT_TOP,
    n_jobs: int | None = None,
    client=None,
    noise: bool = False,
    noise_volume: float | None = None,
    cv_folds: int | None = None,
    preset: str = "default",
    allow_degenerate: bool | None = None,
    starts: dict | None = None,
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
    X = _check_data(X)
    sample_weight = None if weights is None else check_sample_weight(weights, len(X))
    if preset not in PRESETS:
        raise ValueError(
            f"preset must be one of {list(PRESETS)}, got {preset!r}: 'default' "
            "for napari-gmm's careful fits, 'sklearn' for scikit-learn's numbers."
        )
    tol_follows_n = tol is None and preset == "sklearn"
    defaults = PRESETS[preset]
    if tol is None:
        total = len(X) if sample_weight is None else float(sample_weight.sum())
        tol = auto_tol(total) if preset == "sklearn" else defaults["tol"]
    reg_covar = defaults["reg_covar"] if reg_covar is None else reg_covar
    max_iter = defaults["max_iter"] if max_iter is None else max_iter
    init_params = defaults["init_params"] if init_params is None else init_params
    if allow_degenerate is None:
        allow_degenerate = defaults["allow_degenerate"]
    floor = check_covariance_floor(covariance_floor, X.shape[1])
    ks = _check_n_components(n_components)
    types = _check_covariance_types(covariance_types)
    try:
        int(n_init), int(max_iter), float(tol), float(reg_covar)
    except (TypeError, ValueError):
        raise TypeError(
            f"n_init and max_iter must be integers and tol and reg_covar numbers; "
            f"got n_init={n_init!r}, max_iter={max_iter!r}, tol={tol!r}, "
            f"reg_covar={reg_covar!r}."
        ) from None
    if int(n_init) < 1 or int(max_iter) < 1:
        raise ValueError(
            f"n_init and max_iter must be >= 1, got n_init={n_init}, "
            f"max_iter={max_iter}."
        )
    valid_inits = _INIT_PARAMS if preset == "sklearn" else DEFAULT_INIT_PARAMS
    if init_params not in valid_inits:
        raise ValueError(
            f"init_params must be one of {list(valid_inits)} with "
            f"preset={preset!r}, got {init_params!r}."
        )
    if not (0 < float(tol) < np.inf and 0 <= float(reg_covar) < np.inf):
        raise ValueError(
            f"tol must be a finite number > 0 and reg_covar a finite number >= 0, "
            f"got tol={tol!r}, reg_covar={reg_covar!r}."
        )
    if int(n_init) > MAX_N_INIT or int(max_iter) > MAX_ITER:
        raise ValueError(
            f"n_init must be <= {MAX_N_INIT} and max_iter <= {MAX_ITER}, got "
            f"n_init={n_init}, max_iter={max_iter}; more would take hours without "
            "changing the choice."
        )
    if not isinstance(noise, (bool, np.bool_)):
        raise ValueError(f"noise must be True or False, got {noise!r}.")
    volume = check_noise_volume(noise_volume)
    if noise and volume is None:
        # each fit uses its own data's box (a refit on moved points too);
        # checked here so that a flat box is one error, not 24 failed rows
        bounding_box_volume(X, sample_weight)
    criterion = _check_criterion(criterion)
    folds = check_cv_folds(cv_folds)
    if criterion == "cv" and folds is None:
        folds = CV_FOLDS
    settings = {
        "n_components": list(ks),
        "covariance_types": list(types),
        "criterion": criterion,
        "init_params": init_params,
        "n_init": int(n_init),
        "tol": float(tol),
        "reg_covar": float(reg_covar),
        "max_iter": int(max_iter),
        "noise": bool(noise),
        "noise_volume": volume,
        "cv_folds": folds,
        "preset": preset,
        "allow_degenerate": bool(allow_degenerate),
    }
    if screen not in (True, False, "auto"):
        raise ValueError(f"screen must be True, False or 'auto', got {screen!r}.")
    if int(screen_size) < 1 or int(refit_top) < 1:
        raise ValueError(
            f"screen_size and refit_top must be >= 1, got {screen_size}, {refit_top}."
        )
    if folds is not None:
        check_fold_split(len(X), folds, sample_weight)
        if sample_weight is not None:
            positive = int(np.count_nonzero(sample_weight > 0))
            if positive < folds:
                raise ValueError(
                    f"cv_folds={folds} needs at least {folds} rows with positive "
                    f"weight, got {positive}; lower cv_folds or use another "
                    "criterion."
                )
    n_jobs = _resolve_n_jobs(n_jobs, len(X), len(ks) * len(types))
    # the work that grows with the data (centring, folds, Ward starts, the
    # screening subsample) runs at the first next(): in the widget's worker
    # thread, not on the viewer's event loop
    return _prepared_sweep(
        X,
        ks=ks,
        types=types,
        criterion=criterion,
        random_state=_check_random_state(random_state),
        gmm_params=_gmm_params(preset, init_params, n_init, tol, reg_covar, max_iter),
        preset=preset,
        relative_reg=float(reg_covar),
        allow_degenerate=bool(allow_degenerate),
        init_params=init_params,
        sample_weight=sample_weight,
        floor=floor,
        cancel=cancel,
        noise=bool(noise),
        volume=volume,
        folds=folds,
        settings=settings,
        tol_follows_n=tol_follows_n,
        screen=screen,
        screen_size=int(screen_size),
        refit_top=int(refit_top),
        n_jobs=n_jobs,
        client=client,
        starts=starts,
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
    starts=None,
) -> Generator[CandidateFit, None, SweepResult]:
    """Generator behind :func:`iter_sweep`, on validated inputs."""
    ward = preset == "sklearn" and gmm_params["init_params"] == "ward"
    if ward:
        # every candidate starts from the shared tree: restarts would repeat it,
        # and scikit-learn's own initialization is replaced (cheapest one kept)
        gmm_params = {**gmm_params, "init_params": "random_from_data", "n_init": 1}
    plan = _SweepPlan(
        X=X,
        candidates=tuple((k, t) for t in types for k in ks),
        criterion=criterion,
        random_state=random_state,
        gmm_params=gmm_params,
        weights=sample_weight,
        covariance_floor=floor,
        cancel=cancel,
        centred=centring_shift(X, sample_weight) is not None,
        noise=noise,
        noise_volume=volume,
        settings=settings,
        tol_follows_n=tol_follows_n,
        n_jobs=n_jobs,
        client=client,
        preset=preset,
        relative_reg=relative_reg,
        allow_degenerate=allow_degenerate,
        variance=weighted_moments(
            X, np.ones(len(X)) if sample_weight is None else sample_weight
        )[1],
    )
    if preset == "default" and floor is None:
        # quantized coordinates (e.g. integer pixels): the images' floor
        quantized = quantization_floor(X, sample_weight)
        if quantized is not None:
            plan = dataclasses.replace(
                plan,
                covariance_floor=quantized,
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
        return (
            yield from run_screened(
                plan, screen_plan, _run_plan, _build_result, screen_size, refit_top
            )
        )
    if starts is not None:
        # given starting points (e.g. a fit on a coarser histogram, see
        # core/segment.py): one start per candidate, no start partitions
        return (yield from _run_plan(dataclasses.replace(plan, starts=starts)))
    return (yield from _run_plan(_with_starts(plan, init_params)))


def _with_starts(plan: _SweepPlan, init_params: str) -> _SweepPlan:
    """The default preset's start partitions, computed on the plan's rows."""
    if plan.preset != "default" or init_params not in (*START_METHODS, "auto"):
        return plan
    methods = START_METHODS if init_params == "auto" else (init_params,)
    n_kmeans = int(plan.gmm_params["n_init"]) if "kmeans" in methods else 0
    partitions = start_partitions(
        plan.X,
        plan.weights,
        sorted({k for k, _ in plan.candidates}),
        plan.random_state,
        methods=methods,
        n_kmeans=n_kmeans,
    )
    names = [m for m in methods if m != "kmeans"]
    if n_kmeans:
        names = [*kmeans_names(n_kmeans), *names]
    return dataclasses.replace(plan, partitions=partitions, init_methods=tuple(names))


def _gmm_params(preset, init_params, n_init, tol, reg_covar, max_iter) -> dict:
    """Estimator settings shared by every candidate of a sweep."""
    params = {
        "n_init": int(n_init),
        "tol": float(tol),
        "reg_covar": float(reg_covar),
        "max_iter": int(max_iter),
        "init_params": init_params,
    }
    if preset == "sklearn":
        return params
    # the default preset: our EM to the gain rule, accelerated; reg_covar
    # becomes a covariance floor relative to each feature's variance
    # (_SweepPlan.floor_for); starts from core/starts.py unless one of
    # scikit-learn's own initializations was asked for
    own_init = init_params in (*START_METHODS, "auto")
    return {
        **params,
        "reg_covar": 0.0,
        "init_params": "kmeans" if own_init else init_params,
        "stopping": "gain",
        "accelerate": True,
    }


def sweep(
    X,
    n_components: Iterable[int] = range(1, 7),
    covariance_types: Iterable[str] = COVARIANCE_TYPES,
    criterion: str = "bic",
    random_state: int | None = 0,
    n_init: int = 1,
    tol: float | None = None,
    reg_covar: float | None = None,
    max_iter: int | None = None,
    init_params: str | None = None,
    weights=None,
    covariance_floor=None,
    progress: Callable[[int, int, CandidateFit], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    screen: bool | str = "auto",
    screen_size: int = SCREEN_SIZE,
    refit_top: int = REFIT_TOP,
    n_jobs: int | None = None,
    client=None,
    noise: bool = False,
    noise_volume: float | None = None,
    cv_folds: int | None = None,
    preset: str = "default",
    allow_degenerate: bool | None = None,
) -> SweepResult:
    """Fit every (n_components, covariance_type) candidate and choose one.

    Each candidate is ``GaussianMixture(n_components=k, covariance_type=t,
    random_state=random_state, ...)`` fitted to ``X``, with its components
    sorted by mean (first feature first) so labels do not depend on the
    initialization. The EM settings default to scikit-learn's.

    With ``weights`` or ``covariance_floor``, each candidate is instead a
    :class:`~napari_gmm.core.em.WeightedGaussianMixture` with the same
    settings, fitted with ``sample_weight=weights``; the table's
    log-likelihood is then ``sum_i w_i log p(x_i)`` and BIC, AIC and ICL use
    the total weight as the number of samples
    (:func:`~napari_gmm.core.em.weighted_criteria`). Fitting distinct values
    with their counts scores like fitting every repeated value, much faster.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; a 1-D array is one feature. Must be finite.
    n_components : iterable of int, default range(1, 7)
        Numbers of components to try.
    covariance_types : iterable of str, default all four
        Any of ``"spherical"``, ``"tied"``, ``"diag"``, ``"full"``.
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
    init_params : str, default "kmeans"
        scikit-learn's "kmeans", "k-means++", "random", "random_from_data",
        or "ward": one agglomerative (Ward) tree shared by all candidates
        (:mod:`napari_gmm.core.initialization`).
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
        cores from :data:`PARALLEL_THRESHOLD` samples on, else 1. The results
        do not depend on it.
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
        With ``cancel`` (or weights) the candidates are fitted by
        :class:`~napari_gmm.core.em.WeightedGaussianMixture`, whose numbers
        equal scikit-learn's exactly for unit weights.

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
    # every parameter but the data and the progress callback goes to iter_sweep
    settings = {k: v for k, v in locals().items() if k not in ("X", "progress")}
    fits = iter_sweep(X, **settings)
    return drive(fits, progress)


def drive(fits: Generator, progress: Callable | None = None):
    """Run a candidate generator to its end; return what it returns.

    ``progress(done, total, fit)`` is called after every yielded candidate,
    ``done`` counting from 1. Used by every non-generator entry point
    (sweep, segment_image, stability) so they report progress alike.
    """
    done = 0
    while True:
        try:
            fit = next(fits)
        except StopIteration as finished:
            return finished.value
        done += 1
        if progress is not None:
            progress(done, fit.total, fit)
