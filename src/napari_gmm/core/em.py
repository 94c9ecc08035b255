"""Sample-weighted EM for Gaussian mixtures, step for step as scikit-learn.

An image is usually summarised as ``(distinct value or value tuple, count)``.
EM on those distinct rows with the counts as sample weights is the same
algorithm as EM on every pixel (each sum over pixels becomes a weighted sum
over distinct rows), and far faster. scikit-learn's
:class:`~sklearn.mixture.GaussianMixture` has no sample weights, so
:class:`WeightedGaussianMixture` adds them while following scikit-learn's
algorithm exactly: the same initialisations, the same ``nk + 10 * eps`` guard,
the same ``reg_covar`` handling, the same convergence test, restarts and
final E-step. With unit weights it gives scikit-learn's numbers.

With weights ``w_i`` and responsibilities ``tau_ik`` one EM iteration is

* E-step: ``log p(x_i) = logsumexp_k (log pi_k + log N(x_i | mu_k, S_k))``
  and ``tau_ik = pi_k N(x_i | mu_k, S_k) / p(x_i)``;
* lower bound: ``sum_i w_i log p(x_i) / sum_i w_i`` (the mean log-likelihood
  per unit of weight, scikit-learn's ``lower_bound_`` with unit weights);
* M-step: ``r_ik = w_i tau_ik``, ``n_k = sum_i r_ik + 10 eps``,
  ``mu_k = sum_i r_ik x_i / n_k``, covariances from the ``r_ik`` (plus
  ``reg_covar`` and the optional ``covariance_floor`` on the diagonal) and
  ``pi_k = n_k / sum_k n_k``.

The pure functions below take and return plain arrays; the estimator only
validates, loops and stores attributes.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from collections.abc import Callable
from numbers import Real
from typing import ClassVar, NamedTuple

import numpy as np
import scipy.linalg
from sklearn.base import _fit_context
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._array_api import get_namespace
from sklearn.utils._param_validation import Interval, StrOptions

from . import compiled_loop, kernels
from .convergence import ChangeRule, GainRule, run_squarem
from .criteria import information_criteria, model_n_parameters

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)


_LOG_2PI = math.log(2.0 * math.pi)

_ILL_DEFINED = (
    "Fitting the mixture failed: a component's covariance is not positive "
    "definite (a component collapsed onto a single value or a few identical "
    "samples). Use fewer components, increase reg_covar, set covariance_floor "
    "(e.g. step**2 / 12 per feature for integer data), or rescale the data."
)


class MixtureParameters(NamedTuple):
    """Parameters of a Gaussian mixture, as scikit-learn stores them.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape (n_components,) for spherical, (n_features, n_features) for
        tied, (n_components, n_features) for diag and
        (n_components, n_features, n_features) for full.
    precisions_cholesky : ndarray
        Same shape as ``covariances``; ``P = U U^T`` with ``U`` upper
        triangular for tied and full, ``1 / sqrt(covariances)`` otherwise.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


@contextlib.contextmanager
def quiet_convergence(enabled: bool = True):
    """Silence scikit-learn's ConvergenceWarning inside the block.

    For callers that record non-convergence themselves (the sweep's table,
    live refits): a candidate that stops at ``max_iter`` is a row marked
    ``converged=False``, not a warning per fit. Warning filters are
    process-wide and not thread-safe, so code that runs in worker threads
    passes ``enabled=False`` and relies on the filter its caller set once
    around all of them.

    Parameters
    ----------
    enabled : bool, default True
        False: a block that changes nothing.
    """
    if not enabled:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# --------------------------------------------------------------------------
# Validation


def check_finite_rows(X: np.ndarray, when: str, show_row: bool = False) -> None:
    """One ValueError naming the NaN/inf rows of 2-D ``X``, if any (the
    first one's values too with ``show_row``); ``when`` ends its advice
    ("drop or impute them <when>")."""
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        values = f": {X[first].tolist()}" if show_row else ""
        raise ValueError(
            f"X contains {int(bad_rows.sum())} row(s) with NaN or infinite values "
            f"(first at row {first}{values}); drop or impute them {when}."
        )


def check_sample_weight(sample_weight, n_samples: int, dtype=np.float64) -> np.ndarray:
    """Validate per-sample weights.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative finite weights with a positive total; rows with zero
        weight are allowed (they are ignored). None means unit weights.
    n_samples : int
        Number of rows of the data the weights belong to.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If the weights are not numeric, not 1-D, of the wrong length,
        non-finite, negative, or sum to zero.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    try:
        w = np.asarray(sample_weight)
        complex_values = np.iscomplexobj(w)
        if not complex_values:
            w = np.asarray(w, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"sample_weight must be numeric, could not convert it to float: {err}"
        ) from None
    if complex_values:  # (a cast would drop the imaginary parts with a warning)
        raise ValueError("sample_weight must be real numbers; got complex values.")
    if w.ndim != 1:
        raise ValueError(
            f"sample_weight must be 1-D of shape (n_samples,) = ({n_samples},), "
            f"got an array of shape {w.shape}."
        )
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {w.shape[0]} entries but X has {n_samples} rows; "
            "they must have the same length."
        )
    bad = ~np.isfinite(w)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"sample_weight contains {int(bad.sum())} NaN or infinite value(s) "
            f"(first at index {first}: {float(w[first])}); weights must be finite."
        )
    negative = w < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"sample_weight must be >= 0, got {int(negative.sum())} negative "
            f"value(s) (first at index {first}: {float(w[first])})."
        )
    with np.errstate(over="ignore"):  # (an infinite total is refused below)
        total = float(w.sum())
    if not total > 0:
        raise ValueError(
            f"sample_weight sums to {total!r}: every weight is zero; at least one "
            "weight must be positive."
        )
    if not np.isfinite(total):
        raise ValueError(
            f"sample_weight sums to {total!r} (the largest weight is "
            f"{float(w.max()):.3g}); scale the weights down, e.g. to counts of "
            "samples."
        )
    return w


def check_covariance_floor(
    covariance_floor, n_features: int, dtype=np.float64
) -> np.ndarray | None:
    """Validate a per-feature variance floor.

    Parameters
    ----------
    covariance_floor : None, float or array-like of shape (n_features,)
        Non-negative finite variance(s); a float applies to every feature.
    n_features : int
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of shape (n_features,) or None
        None when ``covariance_floor`` is None.

    Raises
    ------
    ValueError
        Wrong shape, non-finite or negative values.
    """
    if covariance_floor is None:
        return None
    try:
        floor = np.asarray(covariance_floor, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"covariance_floor must be None, a float or an array of shape "
            f"(n_features,); could not convert it to float: {err}"
        ) from None
    if floor.ndim == 0:
        floor = np.full(n_features, floor, dtype=dtype)
    if floor.shape != (n_features,):
        raise ValueError(
            f"covariance_floor must be a float or have shape (n_features,) = "
            f"({n_features},), got shape {floor.shape}."
        )
    if not np.isfinite(floor).all() or (floor < 0).any():
        raise ValueError(
            f"covariance_floor must be finite and >= 0, got {floor.tolist()}."
        )
    return floor


def _takes_xp(method) -> bool:
    return "xp" in inspect.signature(method).parameters


#: scikit-learn >= 1.8 passes an array namespace to ``_check_parameters``
#: (looked up once: inspect.signature costs ~0.1 ms per fit).
_CHECK_TAKES_XP = _takes_xp(GaussianMixture._check_parameters)


def _check_initial_values(model: GaussianMixture, X: np.ndarray) -> None:
    """scikit-learn's checks of weights_init, means_init and precisions_init."""
    if _CHECK_TAKES_XP:
        model._check_parameters(X, xp=get_namespace(X)[0])
    else:  # pragma: no cover - older scikit-learn without array API support
        model._check_parameters(X)


def _check_finite(X) -> None:
    """Raise a ValueError naming the first non-finite row of X, if any."""
    try:
        if np.iscomplexobj(X):
            return  # scikit-learn's validation rejects complex data
        values = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        return  # not numeric: scikit-learn's own validation will say so
    if values.ndim != 2:
        return  # scikit-learn's validation explains the expected shape
    check_finite_rows(values, "before fitting", show_row=True)


#: Data whose mean lies more than this many standard deviations from the
#: origin are centred before EM (see :func:`centring_shift`).
CENTRING_RATIO = 1e4


def run_starts(
    X: np.ndarray,
    w: np.ndarray,
    starts: list,
    *,
    covariance_type: str,
    reg_covar: float,
    floor: np.ndarray | None,
    tol: float,
    max_iter: int,
    stopping: str = "gain",
    accelerate: bool = True,
    collapse_variance: np.ndarray | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    plain_retry: list[bool] | None = None,
) -> list:
    """Gaussian-mixture EM from each of several starting points on one data set.

    What fitting a :class:`WeightedGaussianMixture` from each start does
    (the same :func:`_run_em`), without an estimator, input checks,
    centring and SQUAREM's units per start: the default sweep runs ~20
    short runs per candidate, and on data of a few hundred rows that
    per-fit overhead took half of a sweep's time (measured in
    docs/performance.md).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite, checked data, centred if far from the origin (the caller
        shifts the means alike, see :func:`centring_shift`).
    w : ndarray of shape (n_samples,)
        Positive weights.
    starts : list of MixtureParameters
        Starting points, in the coordinates of ``X``.
    covariance_type : {"spherical", "tied", "diag", "full"}
    reg_covar, floor, tol, max_iter, stopping, accelerate, collapse_variance
        As in :class:`WeightedGaussianMixture`.
    on_iteration : callable, optional
        ``on_iteration(n_iter, change)`` after every iteration of every run;
        whatever it raises (a cancel) stops them all.
    plain_retry : list of bool, optional
        Per start: if its accelerated run stops on a collapsed component,
        run it again with plain EM (:func:`_collapsed_runs`).

    Returns
    -------
    list of EMRun or ValueError
        One per start: its end, or the error that stopped it (a covariance
        that is not positive definite).
    """
    settings = {
        "covariance_type": covariance_type,
        "reg_covar": reg_covar,
        "floor": floor,
        "tol": tol,
        "max_iter": max_iter,
        "on_iteration": on_iteration,
        "stopping": stopping,
        "accelerate": accelerate,
        "total_weight": float(np.sum(w)),
        "collapse_variance": collapse_variance,
    }
    if accelerate:
        settings["scale"] = vector_scale(X, w, covariance_type)
    runs = []
    for params in starts:
        try:
            runs.append(_run_em(X, w, params, -np.inf, **settings))
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
            runs.append(err if isinstance(err, ValueError) else ValueError(str(err)))
    retry = _collapsed_runs(
        runs, plain_retry, accelerate, collapse_variance, covariance_type
    )
    if retry:
        plain = {**settings, "accelerate": False}
        for name in ("scale", "total_weight"):
            plain.pop(name, None)
        again = run_starts(X, w, [starts[i] for i in retry], **plain)
        runs = _with_plain_runs(runs, retry, again, collapse_variance, covariance_type)
    return runs


def _collapsed_runs(
    runs, plain_retry, accelerate, collapse_variance, covariance_type
) -> list:
    """Indices of the accelerated ``runs`` marked in ``plain_retry`` that
    stopped on a collapsed component: their starts run again with plain EM.

    SQUAREM's longer steps along EM's path can land in the basin of a
    singularity that plain EM passes by, as mclust's EM does (R's biopsy,
    spherical K = 8 from mclust's partition: a component on 12 equal rows
    after 8 accelerated E-steps; plain EM ends 10 BIC below mclust's fit,
    session 14). Retrying every collapsed run cost 10-45 % more time on
    R tables and moved 4 candidates of iris and banknote up by up to 23
    BIC (a rescued short run took a continued place), so the sweep asks
    for it for mclust's start only (``fitting.REFERENCE_STARTS``).
    """
    if not accelerate or collapse_variance is None or plain_retry is None:
        return []
    halt = _collapse_check(collapse_variance, covariance_type)
    return [
        i
        for i, (run, wanted) in enumerate(zip(runs, plain_retry, strict=True))
        if wanted
        and not isinstance(run, ValueError)
        and not run.converged
        and halt(run.params)
    ]


def _with_plain_runs(runs, retry, again, collapse_variance, covariance_type) -> list:
    """``runs`` with each retried one replaced by its plain-EM run where that
    did not collapse; the E-steps of both runs are counted either way."""
    halt = _collapse_check(collapse_variance, covariance_type)
    runs = list(runs)
    for i, plain in zip(retry, again, strict=True):
        if isinstance(plain, ValueError):
            continue
        spent = plain.n_iter + runs[i].n_iter
        kept = runs[i] if halt(plain.params) else plain
        runs[i] = kept._replace(n_iter=spent)
    return runs


def start_mixture(
    X: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    n_components: int,
    covariance_type: str,
    floor: np.ndarray,
) -> MixtureParameters:
    """The M-step on a hard partition (``labels``, shape (n_samples,)) of
    ``X``: one of scikit-learn's four ``covariance_type``."""
    resp = np.zeros((len(X), n_components))
    resp[np.arange(len(X)), labels] = 1.0
    with np.errstate(divide="ignore"):
        log_resp = np.log(resp)
    # centred, so that data far from the origin keep their variances
    centre = (w @ X) / w.sum()
    params = m_step(X - centre, w, log_resp, 0.0, floor, covariance_type)
    return params._replace(means=params.means + centre)


def run_partitions(
    X_start: np.ndarray,
    w_start: np.ndarray,
    partitions: list,
    X: np.ndarray,
    w: np.ndarray,
    shift: np.ndarray | None,
    *,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    floor: np.ndarray | None,
    tol: float,
    max_iter: int,
    stopping: str = "gain",
    accelerate: bool = True,
    collapse_variance: np.ndarray | None = None,
    check: Callable[[], None] | None = None,
    plain_retry: list[bool] | None = None,
) -> list:
    """:func:`run_starts` from the M-steps on hard partitions (:func:`start_mixture`).

    Where the compiled loop applies, all starts run in one compiled call per
    batch (:func:`compiled_loop.run_partitions`): on data of a few hundred
    rows the Python work around each of a sweep's ~20 short runs per
    candidate cost as much as their E-steps.

    Parameters
    ----------
    X_start : ndarray of shape (n_start_rows, n_features)
    w_start : ndarray of shape (n_start_rows,)
        The rows the partitions label and their weights (the starts' M-steps
        see all of them).
    partitions : list of ndarray of shape (n_start_rows,)
        Component of each row, one array per start.
    X, w : ndarray
        The rows EM runs on (positive weights), in ``X_start``'s coordinates
        minus ``shift``.
    shift : ndarray of shape (n_features,) or None
        See :func:`centring_shift`.
    n_components : int
    covariance_type, reg_covar, floor, tol, max_iter, stopping, accelerate,
    collapse_variance
        As :func:`run_starts`.
    check : callable, optional
        Called between batches of starts when compiled, after every EM
        iteration otherwise; whatever it raises (a cancel) stops them all.
    plain_retry : list of bool, optional
        As :func:`run_starts`.

    Returns
    -------
    list of EMRun or ValueError
        As :func:`run_starts`.
    """
    settings = {
        "covariance_type": covariance_type,
        "reg_covar": reg_covar,
        "floor": floor,
        "tol": tol,
        "max_iter": max_iter,
        "accelerate": accelerate,
        "collapse_variance": collapse_variance,
    }
    if not _compiled_size(X, n_components, stopping):
        return _run_partitions_in_python(
            X_start,
            w_start,
            partitions,
            X,
            w,
            shift,
            n_components=n_components,
            stopping=stopping,
            on_iteration=None if check is None else lambda *_: check(),
            plain_retry=plain_retry,
            **settings,
        )
    ends = compiled_loop.run_partitions(
        X_start,
        w_start,
        np.asarray(partitions),
        X,
        w,
        shift,
        n_components=n_components,
        total_weight=float(np.sum(w)),
        scale=vector_scale(X, w, covariance_type),
        between=check,
        **settings,
    )
    runs = [
        ValueError(_ILL_DEFINED)
        if isinstance(end, compiled_loop.IllDefined)
        else EMRun(MixtureParameters(*end[:4]), *end[4:])
        for end in ends
    ]
    retry = _collapsed_runs(
        runs, plain_retry, accelerate, collapse_variance, covariance_type
    )
    if retry:
        again = run_partitions(
            X_start,
            w_start,
            [partitions[i] for i in retry],
            X,
            w,
            shift,
            n_components=n_components,
            stopping=stopping,
            check=check,
            **{**settings, "accelerate": False},
        )
        runs = _with_plain_runs(runs, retry, again, collapse_variance, covariance_type)
    return runs


def _run_partitions_in_python(
    X_start,
    w_start,
    partitions,
    X,
    w,
    shift,
    *,
    n_components,
    plain_retry=None,
    **settings,
) -> list:
    """:func:`run_partitions` without the compiled batch: each start's
    M-step, then :func:`run_starts`."""
    starts, ends, retry = [], [], []
    for index, labels in enumerate(partitions):
        try:
            start = start_mixture(
                X_start,
                w_start,
                labels,
                n_components,
                settings["covariance_type"],
                settings["floor"],
            )
        except ValueError as err:  # a cluster's covariance not positive definite
            ends.append(err)
            continue
        means = start.means if shift is None else start.means - shift
        starts.append(start._replace(means=means))
        ends.append(None)
        retry.append(plain_retry is not None and plain_retry[index])
    runs = iter(run_starts(X, w, starts, plain_retry=retry, **settings))
    return [next(runs) if end is None else end for end in ends]


def centring_shift(X, sample_weight=None) -> np.ndarray | None:
    """The shift that centres data far from the origin, or None.

    EM's variances are ``E[x^2] - E[x]^2`` (as in scikit-learn): with an
    offset of 1e9 and a spread of 1 both terms are 1e18 and their difference
    is lost to rounding, so covariances come out zero or negative and the fit
    fails. A mixture is translation invariant, so :class:`WeightedGaussianMixture`
    fits ``X - shift`` and adds ``shift`` back to the means (and subtracts it
    again when scoring), which gives the same model without the rounding.
    Data whose mean is within :data:`CENTRING_RATIO` standard deviations of
    the origin (per feature) are left alone, so ordinary data get exactly
    scikit-learn's numbers.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Finite data.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights (rows with weight 0 are ignored).

    Returns
    -------
    ndarray of shape (n_features,) or None
        The weighted mean of ``X``, or None when no feature needs centring.
    """
    X = np.asarray(X, dtype=float)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    total = w.sum()
    if X.ndim != 2 or len(X) == 0 or not total > 0:
        return None
    mean = (w @ X) / total
    spread = np.sqrt((w @ np.square(X - mean)) / total)
    if np.any(np.abs(mean) > CENTRING_RATIO * spread):
        return mean
    return None


# --------------------------------------------------------------------------
# E-step: log densities and responsibilities


#: Up to this many columns, numpy sums a row left to right, so a sum of
#: columns (below) gives the same bits; from 8 it sums in an unrolled order.
_SEQUENTIAL_ROW_SUM = 7


def row_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1)`` of a 2-D array, exactly, as a maximum of columns.

    numpy reduces the short rows of a tall ``(n, K)`` array one row at a
    time; an element-wise maximum over the K columns is several times faster
    for n in the millions and gives the same values (NaN included).
    """
    if a.shape[1] == 0:
        return a.max(axis=1)  # numpy's own error for an empty reduction
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        np.maximum(out, a[:, k], out=out)
    return out


def row_sum(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` of a 2-D float64 array, with the same values, faster.

    A left-to-right sum of the columns is numpy's own order for rows of up
    to :data:`_SEQUENTIAL_ROW_SUM` entries (only the sign of a zero sum can
    differ); wider arrays and other dtypes use numpy's sum.
    """
    if not 2 <= a.shape[1] <= _SEQUENTIAL_ROW_SUM or a.dtype != np.float64:
        return a.sum(axis=1)  # numpy's own dtype rules (int8 -> int64, ...)
    out = a[:, 0] + a[:, 1]
    for k in range(2, a.shape[1]):
        out += a[:, k]
    return out


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum_k exp(a[i, k]))`` for every row, without overflow.

    Written as ``log1p(rest / m) + log(m) + max`` where ``m`` is the number of
    entries equal to the row maximum and ``rest`` the sum of the other
    ``exp(a - max)``: accurate when one component dominates.

    Parameters
    ----------
    a : ndarray of shape (n_samples, n_components)

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    largest = row_max(a)[:, np.newaxis]
    at_max = a == largest
    n_at_max = row_sum(at_max.astype(a.dtype))[:, np.newaxis]
    shift = np.where(np.isfinite(largest), largest, 0)
    with np.errstate(under="ignore", invalid="ignore"):
        others = np.where(at_max, 0, np.exp(a - shift))
    rest = row_sum(others)[:, np.newaxis]
    rest = np.where(rest == 0, rest, rest / n_at_max)
    return (np.log1p(rest) + np.log(n_at_max) + largest)[:, 0]


def _log_det_full(precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
    diagonals = np.diagonal(precisions_cholesky, axis1=1, axis2=2)
    return np.log(diagonals).sum(axis=1)


def _log_det_tied(precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
    return np.log(np.diagonal(precisions_cholesky)).sum()


def _log_det_diag(precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
    return np.log(precisions_cholesky).sum(axis=1)


def _log_det_spherical(precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
    return n_features * np.log(precisions_cholesky)


#: ``log det U`` (= half the log-determinant of the precision), per component.
_LOG_DET_CHOLESKY = {
    "spherical": _log_det_spherical,
    "tied": _log_det_tied,
    "diag": _log_det_diag,
    "full": _log_det_full,
}


def _mahalanobis_full(X, means, precisions_cholesky):
    out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
    for k, (mean, chol) in enumerate(zip(means, precisions_cholesky, strict=True)):
        projected = X @ chol - mean @ chol
        out[:, k] = row_sum(np.square(projected))
    return out


def _mahalanobis_tied(X, means, precisions_cholesky):
    out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
    projected_X = X @ precisions_cholesky
    for k, mean in enumerate(means):
        projected = projected_X - mean @ precisions_cholesky
        out[:, k] = row_sum(np.square(projected))
    return out


def _mahalanobis_diag(X, means, precisions_cholesky):
    precisions = precisions_cholesky**2
    # (x - mu)^2 / s^2 expanded: mu^2 p - 2 x mu p + x^2 p, as matrix products
    return (
        (means**2 * precisions).sum(axis=1)
        - 2.0 * (X @ (means * precisions).T)
        + (X**2 @ precisions.T)
    )


def _mahalanobis_spherical(X, means, precisions_cholesky):
    precisions = precisions_cholesky**2
    squared_norms = np.einsum("ij,ij->i", X, X)
    return (
        (means**2).sum(axis=1) * precisions
        - 2 * (X @ means.T * precisions)
        + np.outer(squared_norms, precisions)
    )


#: Squared Mahalanobis distances, shape (n_samples, n_components).
_MAHALANOBIS = {
    "spherical": _mahalanobis_spherical,
    "tied": _mahalanobis_tied,
    "diag": _mahalanobis_diag,
    "full": _mahalanobis_full,
}


def log_gaussian_density(
    X: np.ndarray,
    means: np.ndarray,
    precisions_cholesky: np.ndarray,
    covariance_type: str,
) -> np.ndarray:
    """``log N(x_i | mu_k, S_k)`` for every sample and component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    precisions_cholesky : ndarray
        See :class:`MixtureParameters`.
    covariance_type : {"spherical", "tied", "diag", "full"}

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    n_features = X.shape[1]
    log_det = _LOG_DET_CHOLESKY[covariance_type](precisions_cholesky, n_features)
    distance = _MAHALANOBIS[covariance_type](X, means, precisions_cholesky)
    return -0.5 * (n_features * _LOG_2PI + distance) + log_det


def _log_prob_and_responsibilities(
    X: np.ndarray, params: MixtureParameters, covariance_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample log-likelihood and log responsibilities.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
        ``log p(x_i)``.
    log_resp : ndarray of shape (n_samples, n_components)
        ``log tau_ik``.
    """
    joint = log_gaussian_density(
        X, params.means, params.precisions_cholesky, covariance_type
    ) + np.log(params.weights)
    log_prob = logsumexp_rows(joint)
    with np.errstate(under="ignore"):
        log_resp = joint - log_prob[:, np.newaxis]
    return log_prob, log_resp


def log_probabilities(
    X: np.ndarray, params: MixtureParameters, covariance_type: str
) -> np.ndarray:
    """``log p(x_i)`` of every row under the mixture, shape ``(n_samples,)``."""
    return _log_prob_and_responsibilities(X, params, covariance_type)[0]


def e_step(
    X: np.ndarray, w: np.ndarray, params: MixtureParameters, covariance_type: str
) -> tuple[float, np.ndarray]:
    """E-step on weighted data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,)
        Positive weights.
    params : MixtureParameters
    covariance_type : str

    Returns
    -------
    lower_bound : float
        ``sum_i w_i log p(x_i) / sum_i w_i``.
    log_resp : ndarray of shape (n_samples, n_components)
    """
    if kernels.usable(X):  # compiled, same values (~1e-12 relative)
        lower_bound, log_resp, _ = kernels.e_step(
            X,
            w,
            params.weights,
            params.means,
            params.precisions_cholesky,
            covariance_type,
        )
        return lower_bound, log_resp
    log_prob, log_resp = _log_prob_and_responsibilities(X, params, covariance_type)
    return np.sum(w * log_prob) / np.sum(w), log_resp


# --------------------------------------------------------------------------
# M-step: weighted Gaussian parameters


def _covariances_full(X, w, resp_w, nk, means, reg_covar, floor):
    n_components, n_features = means.shape
    covariances = np.empty((n_components, n_features, n_features), dtype=X.dtype)
    for k in range(n_components):
        centred = X - means[k]
        covariances[k] = ((resp_w[:, k] * centred.T) @ centred) / nk[k]
        _add_diagonal(covariances[k], reg_covar)
        if floor is not None:
            _add_diagonal(covariances[k], floor)
    return covariances


def _covariances_tied(X, w, resp_w, nk, means, reg_covar, floor):
    # sum_k sum_i r_ik x_i x_i^T = sum_i w_i x_i x_i^T since sum_k tau_ik = 1;
    # scaling rows by sqrt(w) keeps the Gram product symmetric.
    rows = X * np.sqrt(w)[:, np.newaxis]
    covariance = rows.T @ rows - (nk * means.T) @ means
    covariance /= nk.sum()
    _add_diagonal(covariance, reg_covar)
    if floor is not None:
        _add_diagonal(covariance, floor)
    return covariance


def _diag_variances(X, resp_w, nk, means, reg_covar):
    second_moment = (resp_w.T @ (X * X)) / nk[:, np.newaxis]
    return second_moment - means**2 + reg_covar


def _covariances_diag(X, w, resp_w, nk, means, reg_covar, floor):
    variances = _diag_variances(X, resp_w, nk, means, reg_covar)
    return variances if floor is None else variances + floor


def _covariances_spherical(X, w, resp_w, nk, means, reg_covar, floor):
    variances = _diag_variances(X, resp_w, nk, means, reg_covar).mean(axis=1)
    return variances if floor is None else variances + floor.mean()


#: Weighted covariance estimates given ``r_ik = w_i tau_ik``, ``n_k``, means.
_COVARIANCES = {
    "spherical": _covariances_spherical,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "full": _covariances_full,
}


def _add_diagonal(matrix: np.ndarray, value) -> None:
    """Add a scalar or a (n_features,) vector to a square matrix's diagonal."""
    n = matrix.shape[0]
    matrix.flat[:: n + 1] += value


def weighted_gaussian_parameters(
    X: np.ndarray,
    w: np.ndarray,
    resp: np.ndarray,
    reg_covar: float,
    floor: np.ndarray | None,
    covariance_type: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sufficient statistics of the components.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,)
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities ``tau_ik``.
    reg_covar : float
        Added to every covariance diagonal.
    floor : ndarray of shape (n_features,) or None
        Per-feature variance floor added on top of ``reg_covar`` (its mean for
        spherical covariances).
    covariance_type : str

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``sum_i w_i tau_ik + 10 eps`` (the guard keeps empty components finite).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape depending on ``covariance_type``.
    """
    resp_w = resp * w[:, np.newaxis]
    nk = resp_w.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = (resp_w.T @ X) / nk[:, np.newaxis]
    covariances = _COVARIANCES[covariance_type](
        X, w, resp_w, nk, means, reg_covar, floor
    )
    return nk, means, covariances


def _precision_cholesky_full(covariances):
    if kernels.AVAILABLE and covariances.dtype == np.float64:
        factors = kernels.precision_cholesky(covariances, "full")
        if factors is None:
            raise ValueError(_ILL_DEFINED)
        return factors
    # batched: one LAPACK call for all components instead of 2 K scipy calls
    # (their wrappers cost more than the factorisations of small matrices)
    try:
        lower = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(_ILL_DEFINED) from None
    identity = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape)
    # S = L L^T  =>  P = U U^T with U = (L^-1)^T upper triangular
    return np.swapaxes(np.linalg.solve(lower, identity), -1, -2)


def _precision_cholesky_tied(covariance):
    if kernels.AVAILABLE and covariance.dtype == np.float64:
        factor = kernels.precision_cholesky(covariance, "tied")
        if factor is None:
            raise ValueError(_ILL_DEFINED)
        return factor
    try:
        lower = scipy.linalg.cholesky(covariance, lower=True)
    except np.linalg.LinAlgError:
        raise ValueError(_ILL_DEFINED) from None
    identity = np.eye(covariance.shape[0], dtype=covariance.dtype)
    # S = L L^T  =>  P = S^-1 = L^-T L^-1 = U U^T with U = (L^-1)^T upper.
    return scipy.linalg.solve_triangular(lower, identity, lower=True).T


def _precision_cholesky_vector(variances):
    if np.any(variances <= 0.0):
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(variances)


#: Covariances -> Cholesky factors ``U`` of the precisions.
_PRECISION_CHOLESKY = {
    "spherical": _precision_cholesky_vector,
    "tied": _precision_cholesky_tied,
    "diag": _precision_cholesky_vector,
    "full": _precision_cholesky_full,
}


def precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors ``U`` of the precisions (``P = U U^T``), as scikit-learn's.

    Parameters
    ----------
    covariances : ndarray
        Shaped as :attr:`MixtureParameters.covariances` for ``covariance_type``.
    covariance_type : {"spherical", "tied", "diag", "full"}

    Returns
    -------
    ndarray
        Same shape as ``covariances``.

    Raises
    ------
    ValueError
        If a covariance is not positive definite.
    """
    return _PRECISION_CHOLESKY[covariance_type](covariances)


def m_step(
    X: np.ndarray,
    w: np.ndarray,
    log_resp: np.ndarray,
    reg_covar: float,
    floor: np.ndarray | None,
    covariance_type: str,
) -> MixtureParameters:
    """M-step on weighted data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,)
    log_resp : ndarray of shape (n_samples, n_components)
    reg_covar : float
    floor : ndarray of shape (n_features,) or None
    covariance_type : str

    Returns
    -------
    MixtureParameters
        With ``weights = n_k / sum_k n_k``.
    """
    if kernels.usable(X) and log_resp.dtype == np.float64:
        return _kernel_m_step(X, w, np.exp(log_resp), reg_covar, floor, covariance_type)
    nk, means, covariances = weighted_gaussian_parameters(
        X, w, np.exp(log_resp), reg_covar, floor, covariance_type
    )
    weights = nk / nk.sum()
    chol = _PRECISION_CHOLESKY[covariance_type](covariances)
    return MixtureParameters(weights, means, covariances, chol)


def _kernel_e_step(X, w, params, covariance_type):
    """:func:`e_step` by the compiled kernels, handing the responsibilities
    (not their logs) on to :func:`_kernel_m_step` (see :func:`_run_em`)."""
    lower_bound, _, resp = kernels.e_step(
        X,
        w,
        params.weights,
        params.means,
        params.precisions_cholesky,
        covariance_type,
        want_log=False,
    )
    return lower_bound, resp


def _kernel_m_step(X, w, resp, reg_covar, floor, covariance_type):
    """:func:`m_step` from the responsibilities, by the compiled kernels."""
    nk, means, covariances, chol = kernels.m_step(
        X, w, resp, reg_covar, floor, covariance_type
    )
    if chol is None:
        raise ValueError(_ILL_DEFINED)
    return MixtureParameters(nk / nk.sum(), means, covariances, chol)


# --------------------------------------------------------------------------
# Precision matrices from their Cholesky factors and back


def _reverse(matrix):
    return matrix[..., ::-1, ::-1]


def _chol_from_precision_matrix(precision):
    # J P J = L L^T with J the exchange matrix  =>  P = (J L J)(J L J)^T, and
    # J L J is upper triangular: the factor scikit-learn stores.
    return _reverse(scipy.linalg.cholesky(_reverse(precision), lower=True))


def _chol_from_precisions_full(precisions):
    return np.stack([_chol_from_precision_matrix(p) for p in precisions])


#: User precisions (``precisions_init``) -> Cholesky factors ``U``.
_CHOLESKY_FROM_PRECISIONS = {
    "spherical": np.sqrt,
    "tied": _chol_from_precision_matrix,
    "diag": np.sqrt,
    "full": _chol_from_precisions_full,
}


def _precisions_full(chol):
    return chol @ np.swapaxes(chol, 1, 2)


def _precisions_tied(chol):
    return chol @ chol.T


#: Cholesky factors ``U`` -> precisions ``U U^T``.
_PRECISIONS = {
    "spherical": np.square,
    "tied": _precisions_tied,
    "diag": np.square,
    "full": _precisions_full,
}


def precisions_from_cholesky(
    precisions_cholesky: np.ndarray, covariance_type: str
) -> np.ndarray:
    """The precisions ``U U^T`` from their Cholesky factors ``U``.

    Parameters
    ----------
    precisions_cholesky : ndarray
        See :class:`MixtureParameters`.
    covariance_type : {"spherical", "tied", "diag", "full"}

    Returns
    -------
    ndarray
        Same shape as ``precisions_cholesky`` (scikit-learn's ``precisions_``).
    """
    return _PRECISIONS[covariance_type](precisions_cholesky)


def _covariances_from_precisions(precisions, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


# --------------------------------------------------------------------------
# Initialisation


def _resp_kmeans(X, w, n_components, random_state):
    labels = (
        KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
        .fit(X, sample_weight=w)
        .labels_
    )
    resp = np.zeros((X.shape[0], n_components), dtype=X.dtype)
    resp[np.arange(X.shape[0]), labels] = 1
    return resp


def _resp_kmeans_plusplus(X, w, n_components, random_state):
    _, indices = kmeans_plusplus(
        X, n_components, sample_weight=w, random_state=random_state
    )
    resp = np.zeros((X.shape[0], n_components), dtype=X.dtype)
    resp[indices, np.arange(n_components)] = 1
    return resp


def _resp_random(X, w, n_components, random_state):
    resp = np.asarray(
        random_state.uniform(size=(X.shape[0], n_components)), dtype=X.dtype
    )
    resp /= resp.sum(axis=1)[:, np.newaxis]
    return resp


def _resp_random_from_data(X, w, n_components, random_state):
    indices = random_state.choice(X.shape[0], size=n_components, replace=False)
    resp = np.zeros((X.shape[0], n_components), dtype=X.dtype)
    resp[indices, np.arange(n_components)] = 1
    return resp


#: ``init_params`` -> initial responsibilities, shape (n_samples, n_components).
_INITIAL_RESPONSIBILITIES = {
    "kmeans": _resp_kmeans,
    "k-means++": _resp_kmeans_plusplus,
    "random": _resp_random,
    "random_from_data": _resp_random_from_data,
}


def _initial_parameters(
    X: np.ndarray,
    w: np.ndarray,
    model: GaussianMixture,
    floor: np.ndarray | None,
    random_state: np.random.RandomState,
    shift: np.ndarray | None = None,
) -> MixtureParameters:
    """Initial parameters, as ``GaussianMixture._initialize_parameters``.

    Responsibilities come from ``model.init_params`` unless all three of
    ``weights_init``, ``means_init`` and ``precisions_init`` are given; each
    given one overrides its estimate. Initial weights are ``n_k / sum_i w_i``.
    ``X`` has been centred by ``shift`` (see :func:`centring_shift`), so
    ``means_init`` is too.
    """
    covariance_type = model.covariance_type
    given = (model.weights_init, model.means_init, model.precisions_init)
    weights = means = covariances = None
    if any(value is None for value in given):
        resp = _INITIAL_RESPONSIBILITIES[model.init_params](
            X, w, model.n_components, random_state
        )
        nk, means, covariances = weighted_gaussian_parameters(
            X, w, resp, model.reg_covar, floor, covariance_type
        )
        weights = nk / np.sum(w)
    if model.weights_init is not None:
        weights = np.asarray(model.weights_init)
    if model.means_init is not None:
        means = np.asarray(model.means_init)
        if shift is not None:
            means = means - shift
    if model.precisions_init is None:
        chol = _PRECISION_CHOLESKY[covariance_type](covariances)
    else:
        precisions = np.asarray(model.precisions_init)
        chol = _CHOLESKY_FROM_PRECISIONS[covariance_type](precisions)
        covariances = _covariances_from_precisions(precisions, covariance_type)
    return MixtureParameters(weights, means, covariances, chol)


# --------------------------------------------------------------------------
# Unconstrained parametrisation (for SQUAREM's extrapolation)


def _covariance_factor(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Cholesky factors (tied, full) or log variances: any value is valid."""
    if covariance_type in ("full", "tied"):
        try:
            return np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ValueError(_ILL_DEFINED) from None
    return np.log(covariances)


def _covariances_from_factor(factor: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        return factor @ np.swapaxes(factor, -1, -2)
    return np.exp(factor)


def vector_scale(X: np.ndarray, w: np.ndarray, covariance_type: str) -> np.ndarray:
    """Per-feature units of SQUAREM's parameter vector, shape ``(n_features,)``.

    SQUAREM's step length comes from norms of differences of parameter
    vectors; in the data's own units those norms weigh features by their
    arbitrary scales, so rescaling one feature changed the accelerated path
    (measured: the same start ended 0.67 BIC apart on rescaled data, plain
    EM agreed to 3e-9). In these units (each feature's standard deviation;
    for spherical models, one for all: the root mean variance, as they are
    invariant only under a common rescaling) the vector, hence the path, is
    unchanged by ``X * c + b``. Features without spread get 1.
    """
    total = float(np.sum(w))
    mean = (w @ X) / total
    variance = (w @ np.square(X - mean)) / total
    if covariance_type == "spherical":
        spread = variance[variance > 0]
        common = float(np.sqrt(spread.mean())) if spread.size else 1.0
        return np.full(X.shape[1], common)
    scale = np.sqrt(variance)
    scale[~(scale > 0)] = 1.0
    return scale


def params_to_vector(
    params: MixtureParameters, covariance_type: str, scale: np.ndarray | None = None
) -> np.ndarray:
    """Log weights, means and covariance factors as one 1-D array.

    The map is smooth and onto the valid mixtures, so a point extrapolated
    from EM iterates (SQUAREM) is again a mixture: weights by softmax,
    covariances as ``L L^T`` or ``exp``. With ``scale`` (see
    :func:`vector_scale`) means and factors are in those units: ``mu_j /
    s_j``, ``L_ij / s_i``, ``log sigma_j^2 - 2 log s_j``.
    """
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    means = np.asarray(params.means)
    factor = _covariance_factor(params.covariances, covariance_type)
    if scale is not None:
        means = means / scale
        factor = _in_units(factor, scale, covariance_type, inverse=False)
    return np.concatenate([log_weights, np.ravel(means), np.ravel(factor)])


def _in_units(factor, scale, covariance_type: str, inverse: bool):
    """Covariance factors divided by (``inverse``: multiplied by) the scale."""
    if covariance_type in ("full", "tied"):
        rows = scale[:, np.newaxis]
        return factor * rows if inverse else factor / rows
    log_scale = 2.0 * np.log(scale if covariance_type == "diag" else scale[:1])
    return factor + log_scale if inverse else factor - log_scale


def params_from_vector(
    vector: np.ndarray,
    like: MixtureParameters,
    covariance_type: str,
    scale: np.ndarray | None = None,
) -> MixtureParameters:
    """Inverse of :func:`params_to_vector`; ``like`` gives the shapes.

    Raises
    ------
    ValueError
        If the point is not a usable mixture (non-finite values, a singular
        covariance).
    """
    if not np.all(np.isfinite(vector)):
        raise ValueError("extrapolated parameters are not finite")
    k = like.weights.shape[0]
    means_size = like.means.size
    log_weights = vector[:k]
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    means = vector[k : k + means_size].reshape(like.means.shape)
    factor = vector[k + means_size :].reshape(like.covariances.shape)
    if scale is not None:
        means = means * scale
        factor = _in_units(factor, scale, covariance_type, inverse=True)
    covariances = _covariances_from_factor(factor, covariance_type)
    chol = _PRECISION_CHOLESKY[covariance_type](covariances)
    return MixtureParameters(weights, means, covariances, chol)


# --------------------------------------------------------------------------
# A model's EM steps


class GaussianSteps:
    """The E-step, M-step and SQUAREM parametrisation of a Gaussian mixture.

    :func:`_run_em` iterates these; the parameters they exchange are
    :class:`MixtureParameters`. A model with other parameters (the uniform
    noise component, :class:`napari_gmm.core.noise.NoiseSteps`) subclasses
    this and overrides the four methods; only the plain class may be
    replaced by the compiled kernels.
    """

    def e_step(self, X, w, params, covariance_type: str) -> tuple:
        """``(lower_bound, log_resp)``, see :func:`e_step`."""
        return e_step(X, w, params, covariance_type)

    def m_step(self, X, w, log_resp, reg_covar, floor, covariance_type: str):
        """The parameters from the (log) responsibilities, see :func:`m_step`."""
        return m_step(X, w, log_resp, reg_covar, floor, covariance_type)

    #: SQUAREM's units per feature (:func:`vector_scale`), set by
    #: :func:`_run_em`; None: the data's own units.
    scale: np.ndarray | None = None

    def to_vector(self, params, covariance_type: str) -> np.ndarray:
        """The parameters as one unconstrained 1-D array (for SQUAREM)."""
        return params_to_vector(params, covariance_type, self.scale)

    def from_vector(self, vector, like, covariance_type: str):
        """Inverse of :meth:`to_vector`; ``like`` gives the shapes."""
        return params_from_vector(vector, like, covariance_type, self.scale)


class _KernelSteps(GaussianSteps):
    """:class:`GaussianSteps` by the compiled kernels: the E-step hands the
    responsibilities (not their logs) on to the M-step."""

    def e_step(self, X, w, params, covariance_type: str) -> tuple:
        return _kernel_e_step(X, w, params, covariance_type)

    def m_step(self, X, w, log_resp, reg_covar, floor, covariance_type: str):
        return _kernel_m_step(X, w, log_resp, reg_covar, floor, covariance_type)


# --------------------------------------------------------------------------
# EM loop


class EMRun(NamedTuple):
    """One EM run's end: parameters, final and per-iteration lower bounds,
    iterations, convergence."""

    params: MixtureParameters
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool


def _run_em(
    X: np.ndarray,
    w: np.ndarray,
    params: MixtureParameters,
    lower_bound: float,
    *,
    covariance_type: str,
    reg_covar: float,
    floor: np.ndarray | None,
    tol: float,
    max_iter: int,
    on_iteration: Callable[[int, float], None] | None = None,
    steps: GaussianSteps | None = None,
    stopping: str = "change",
    accelerate: bool = False,
    total_weight: float = 1.0,
    collapse_variance: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> EMRun:
    """EM iterations from ``params`` until ``|change of lower bound| < tol``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    w : ndarray of shape (n_samples,)
    params : MixtureParameters
        Starting point.
    lower_bound : float
        Lower bound before the first iteration (``-inf`` after an
        initialisation, the previous fit's value for a warm start).
    covariance_type, reg_covar, floor, tol, max_iter
        As in :class:`WeightedGaussianMixture`; ``max_iter >= 1``.
    on_iteration : callable, optional
        ``on_iteration(n_iter, change)`` after every iteration.
    steps : GaussianSteps, optional
        The model's E- and M-steps and its parametrisation for the
        acceleration; ``params`` is whatever they exchange. None (or a
        plain :class:`GaussianSteps`): the Gaussian mixture's, which may run
        as compiled kernels; a subclass (the noise component of
        :mod:`napari_gmm.core.noise`) runs as written.
    stopping : {"change", "gain"}
        scikit-learn's rule on the mean log-likelihood's change, or the
        estimated total log-likelihood still to gain
        (:mod:`napari_gmm.core.convergence`); ``tol`` is in its units.
    accelerate : bool
        SQUAREM (:func:`~napari_gmm.core.convergence.run_squarem`); then
        ``max_iter`` counts E-steps.
    total_weight : float
        ``sum_i w_i``, for the "gain" rule.
    collapse_variance : ndarray of shape (n_features,), optional
        EM stops, not converged, when a component's variance has an
        eigenvalue below this (in these per-feature units; checked every few
        iterations; see :func:`_collapse_check`).
    scale : ndarray of shape (n_features,), optional
        SQUAREM's units, :func:`vector_scale` (computed when not given).

    Returns
    -------
    EMRun
        Parameters after the last M-step, final lower bound, the lower bound
        of every iteration, the number of iterations and whether it converged.
    """
    gaussian = steps is None or type(steps) is GaussianSteps
    # steps that name a model the compiled loop knows (the parsimonious
    # models of parsimonious_em) run there too
    compiled_model = getattr(steps, "compiled_model", None)
    if (gaussian or compiled_model is not None) and _compiled_loop_applies(
        X, params, stopping
    ):
        return _run_compiled(
            X,
            w,
            params,
            **({} if gaussian else compiled_model),
            accelerate=accelerate,
            covariance_type=covariance_type,
            reg_covar=reg_covar,
            floor=floor,
            tol=tol,
            max_iter=max_iter,
            total_weight=total_weight,
            collapse_variance=collapse_variance,
            on_iteration=on_iteration,
            scale=vector_scale(X, w, covariance_type) if scale is None else scale,
        )
    halt = (
        None
        if collapse_variance is None
        else _collapse_check(collapse_variance, covariance_type)
    )
    if gaussian:
        # the compiled steps hand the responsibilities themselves from the
        # E-step to the M-step (what passes between them is private to the pair)
        steps = _KernelSteps() if kernels.usable(X) else GaussianSteps()
    rule = STOPPING_RULES[stopping](tol, total_weight)
    if stopping == "change":
        rule.previous = lower_bound  # a warm start continues from its value
    if accelerate:
        steps.scale = vector_scale(X, w, covariance_type) if scale is None else scale
        params, lower_bound, lower_bounds, n_iter, converged = run_squarem(
            params,
            e_step=lambda point: steps.e_step(X, w, point, covariance_type),
            m_step=lambda log_resp: steps.m_step(
                X, w, log_resp, reg_covar, floor, covariance_type
            ),
            to_vector=lambda point: steps.to_vector(point, covariance_type),
            from_vector=lambda vector, like: steps.from_vector(
                vector, like, covariance_type
            ),
            stop=rule,
            max_iter=max_iter,
            on_iteration=on_iteration,
            halt=halt,
        )
        return EMRun(params, lower_bound, lower_bounds, n_iter, converged)
    lower_bounds = []
    converged = False
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        lower_bound, log_resp = steps.e_step(X, w, params, covariance_type)
        params = steps.m_step(X, w, log_resp, reg_covar, floor, covariance_type)
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        if on_iteration is not None:
            on_iteration(n_iter, change)
        if rule(lower_bound):
            converged = True
            break
        if halt is not None and n_iter % _HALT_EVERY == 0 and halt(params):
            break
    return EMRun(params, lower_bound, lower_bounds, n_iter, converged)


#: Up to this many (rows x components) entries EM with the gain rule
#: (SQUAREM, the default, or plain) runs as one compiled loop
#: (:mod:`compiled_loop`); above it an E-step takes milliseconds, Python's
#: overhead per step (~0.1 ms) no longer matters, and
#: :func:`~napari_gmm.core.convergence.run_squarem` or the plain loop below
#: drive the same kernels (the references the compiled loop is tested
#: against).
COMPILED_LOOP_MAX_ENTRIES = 200_000


def _compiled_loop_applies(X, params, stopping) -> bool:
    return isinstance(params, MixtureParameters) and _compiled_size(
        X, len(params.weights), stopping
    )


def _compiled_size(X, n_components: int, stopping: str) -> bool:
    """EM with ``stopping`` on ``X`` with this many components runs compiled."""
    return (
        stopping == "gain"
        and kernels.usable(X)
        and X.shape[0] * n_components <= COMPILED_LOOP_MAX_ENTRIES
    )


def _run_compiled(X, w, params, *, covariance_type, **settings) -> EMRun:
    """:func:`_run_em` by :func:`compiled_loop.run` (same iterations)."""
    try:
        *values, lower_bound, lower_bounds, n_iter, converged = compiled_loop.run(
            X,
            w,
            *params,
            covariance_type=covariance_type,
            **settings,
        )
    except compiled_loop.IllDefined:
        raise ValueError(_ILL_DEFINED) from None
    return EMRun(
        MixtureParameters(*values), lower_bound, lower_bounds, n_iter, converged
    )


#: Plain EM checks ``halt`` every this many iterations.
_HALT_EVERY = compiled_loop.HALT_EVERY


def _collapse_check(collapse_variance: np.ndarray, covariance_type: str):
    """``halt(params)``: True when a component's variance, in units of
    ``collapse_variance`` (per feature), has an eigenvalue below 1."""
    root = np.sqrt(np.asarray(collapse_variance, dtype=float))

    def halt(params) -> bool:
        gaussians = getattr(params, "gaussians", params)
        covariances = np.asarray(gaussians.covariances)
        if covariance_type in ("spherical", "diag"):
            variances = covariances.reshape(len(gaussians.weights), -1)
            return bool(np.any(variances < np.square(root).reshape(1, -1)))
        scaled = covariances / np.multiply.outer(root, root)
        return bool(np.linalg.eigvalsh(scaled).min() < 1.0)

    return halt


#: ``stopping`` -> rule class (:mod:`napari_gmm.core.convergence`).
STOPPING_RULES = {"change": ChangeRule, "gain": GainRule}


# --------------------------------------------------------------------------
# The estimator


class WeightedGaussianMixture(GaussianMixture):
    """:class:`~sklearn.mixture.GaussianMixture` whose ``fit`` takes sample weights.

    Fitting distinct rows with their counts as ``sample_weight`` gives the
    same model as fitting the data with every row repeated ``count`` times
    (up to floating-point summation order, and provided the initialisation is
    the same: the k-means initialisation sees the weights but draws its random
    numbers differently). Without weights it gives exactly what
    ``GaussianMixture.fit`` gives. Everything else (``predict``,
    ``predict_proba``, ``score_samples``, ``sample``, attributes) is
    scikit-learn's.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, \
init_params, weights_init, means_init, precisions_init, random_state, \
warm_start, verbose, verbose_interval
        As in :class:`sklearn.mixture.GaussianMixture`. ``tol`` applies to the
        weighted mean log-likelihood ``sum_i w_i log p(x_i) / sum_i w_i``.
    covariance_floor : None, float or array-like of shape (n_features,), \
default=None
        Per-feature variance added to every covariance diagonal, on top of
        ``reg_covar``, at initialisation and in every M-step (spherical
        covariances get its mean). Integer data have no variance inside one
        quantisation step; ``step**2 / 12`` per feature prevents spike
        components on a single value. Not applied to ``precisions_init``.
    stopping : {"change", "gain"}, default="change"
        "change" is scikit-learn's rule: stop when the weighted mean
        log-likelihood changes by less than ``tol``. "gain": stop when the
        total log-likelihood still to gain, estimated once the convergence
        rate has settled, is below ``tol`` (so BIC could still drop by
        about ``2 tol`` at most); see :mod:`napari_gmm.core.convergence`.
    accelerate : bool, default=False
        Accelerate EM by SQUAREM with a monotone safeguard: same fixed
        points, fewer E-steps; ``max_iter`` then counts E-steps.
    collapse_variance : None or array-like of shape (n_features,), default=None
        Stop EM (not converged) when a component's covariance has a
        variance (eigenvalue, each feature in units of this) below 1: the
        component is collapsing onto a few values and its likelihood would
        grow without bound. None: never.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_, \
converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`sklearn.mixture.GaussianMixture`; ``lower_bound_`` is the
        weighted mean log-likelihood of the best initialisation.

    Notes
    -----
    ``bic(X)``, ``aic(X)`` and ``score(X)`` are scikit-learn's and ignore
    weights; use :func:`weighted_criteria` for weighted data.

    Examples
    --------
    >>> import numpy as np
    >>> values, counts = np.unique([0, 0, 0, 1, 9, 9, 10, 10], return_counts=True)
    >>> gm = WeightedGaussianMixture(2, random_state=0).fit(
    ...     values.reshape(-1, 1), sample_weight=counts
    ... )
    >>> np.round(np.sort(gm.means_.ravel()), 2).tolist()
    [0.25, 9.5]
    """

    _parameter_constraints: ClassVar[dict] = {
        **GaussianMixture._parameter_constraints,
        "covariance_floor": [
            None,
            Interval(Real, 0.0, None, closed="left"),
            "array-like",
        ],
        "stopping": [StrOptions(set(STOPPING_RULES))],
        "accelerate": ["boolean"],
        "collapse_variance": [None, "array-like"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        covariance_floor=None,
        stopping="change",
        accelerate=False,
        collapse_variance=None,
    ):
        super().__init__(
            n_components=n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            precisions_init=precisions_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
        )
        self.covariance_floor = covariance_floor
        self.stopping = stopping
        self.accelerate = accelerate
        self.collapse_variance = collapse_variance

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y=None, sample_weight=None, iteration_callback=None, check_input=True
    ):
        """Estimate the parameters with weighted EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data, one row per sample (or per distinct value).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative finite weights with a positive total, e.g. the count
            of each distinct row. Zero-weight rows are ignored. None means
            unit weights (then the result equals ``GaussianMixture.fit``).
        iteration_callback : callable, optional
            Called with no argument after every initialisation and every EM
            iteration; whatever it raises stops the fit. The napari widget
            uses it to cancel a long fit within one iteration.
        check_input : bool, default=True
            False skips the checks of ``X``, ``sample_weight`` and the
            initial values (as scikit-learn's trees allow): for callers that
            pass a finite 2-D float ndarray, valid weights (or None) and
            valid initial values, such as the sweep, which fits hundreds of
            small candidates from data it checked once. Do not use it
            otherwise.

        Returns
        -------
        self : WeightedGaussianMixture
        """
        # fit_predict's final E-step is only for its labels: skipped here
        self._fit(X, sample_weight, iteration_callback, check_input)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None, iteration_callback=None):
        """Fit as :meth:`fit`, then return the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
        iteration_callback : callable, optional
            See :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._fit(X, sample_weight, iteration_callback)
        # Final E-step, so that fit_predict(X) agrees with fit(X).predict(X).
        return self.predict(X)

    def _fit(self, X, sample_weight, iteration_callback, check_input=True):
        """Validate, fit and store the parameters; return the validated X."""
        if check_input:
            _check_finite(X)
            X = _validate_data(
                self, X, dtype=[np.float64, np.float32], ensure_min_samples=2
            )
        else:  # the caller vouches for X (see fit's check_input)
            self.n_features_in_ = X.shape[1]
        n_samples, n_features = X.shape
        if check_input or sample_weight is None:
            w = check_sample_weight(sample_weight, n_samples, dtype=X.dtype)
        else:
            w = sample_weight
        positive = w > 0
        n_positive = int(positive.sum())
        if n_positive < self.n_components:
            raise ValueError(
                f"Expected at least n_components = {self.n_components} samples "
                f"with positive weight, got {n_positive} (of {n_samples} rows)."
            )
        if check_input:
            _check_initial_values(self, X)
        floor = check_covariance_floor(self.covariance_floor, n_features, X.dtype)
        # Zero-weight rows contribute nothing: drop them so that neither the
        # EM sums nor the random initialisation can see them.
        X_fit, w_fit = (X, w) if n_positive == n_samples else (X[positive], w[positive])
        self._prepare(X_fit, w_fit)
        # Far from the origin, fit centred data (same model, no rounding loss).
        shift = centring_shift(X_fit, w_fit)
        if shift is not None:
            shift = shift.astype(X.dtype)
            X_fit = X_fit - shift

        best = self._fit_restarts(X_fit, w_fit, floor, iteration_callback, shift)
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.record_run(best, shift)
        return X

    def record_run(self, run: EMRun, shift=None, n_features: int | None = None):
        """Store an EM run's end as this estimator's fit (what :meth:`fit`
        does with its best run): parameters (``run.params`` in coordinates
        centred by ``shift``, None: not centred), convergence, iterations and
        lower bounds. ``n_features`` is set as ``n_features_in_`` when given
        (for a run made outside :meth:`fit`, e.g. by :func:`run_starts`)."""
        if n_features is not None:
            self.n_features_in_ = n_features
        self._store(run.params, shift)
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = run.lower_bounds
        return self

    def _prepare(self, X, w) -> None:
        """Hook called with the rows that count before the first initialisation."""

    def _steps(self) -> GaussianSteps:
        """The model's EM steps (:class:`GaussianSteps`; subclasses override)."""
        return GaussianSteps()

    def _initial(self, X, w, floor, random_state, shift):
        """One initialisation's starting point, see :func:`_initial_parameters`."""
        return _initial_parameters(X, w, self, floor, random_state, shift)

    def _fit_restarts(self, X, w, floor, iteration_callback=None, shift=None):
        """Run ``n_init`` initialisations and keep the best lower bound.

        ``X`` is already centred by ``shift`` (None: not centred); returns the
        best :class:`EMRun`, whose parameters are in centred coordinates.
        """

        def on_iteration(n_iter: int, change: float) -> None:
            if self.verbose:
                self._report_iteration(n_iter, change)
            if iteration_callback is not None:
                iteration_callback()

        warm = self.warm_start and hasattr(self, "converged_")
        n_init = 1 if warm else self.n_init
        given = (self.weights_init, self.means_init, self.precisions_init)
        # a start given in full draws nothing: skip seeding a RandomState
        # (~0.1 ms, hundreds of times in a sweep of small data)
        drawn = not warm and any(value is None for value in given)
        random_state = check_random_state(self.random_state) if drawn else None
        best = EMRun(None, -np.inf, [], 0, False)
        for init in range(n_init):
            self._say(1, f"Initialization {init}")
            if warm:
                params = self._current_parameters(shift)
                lower_bound = self.lower_bound_
            else:
                params = self._initial(X, w, floor, random_state, shift)
                lower_bound = -np.inf
            if iteration_callback is not None:
                iteration_callback()
            if self.max_iter == 0:
                # As scikit-learn: the (last) initialisation is kept as is.
                best = EMRun(params, best.lower_bound, [], 0, False)
                continue
            run = _run_em(
                X,
                w,
                params,
                lower_bound,
                covariance_type=self.covariance_type,
                reg_covar=self.reg_covar,
                floor=floor,
                tol=self.tol,
                max_iter=self.max_iter,
                on_iteration=on_iteration,
                stopping=self.stopping,
                accelerate=self.accelerate,
                total_weight=float(np.sum(w)),
                collapse_variance=self.collapse_variance,
                steps=self._steps(),
            )
            status = "converged" if run.converged else "did not converge"
            self._say(1, f"Initialization {status}, lower bound {run.lower_bound:.5f}.")
            if run.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
                best = run
        return best

    def _current_parameters(self, shift=None) -> MixtureParameters:
        means = self.means_ if shift is None else self.means_ - shift
        return MixtureParameters(
            self.weights_, means, self.covariances_, self.precisions_cholesky_
        )

    def _store(self, params: MixtureParameters, shift=None) -> None:
        self.weights_ = params.weights
        self.means_ = params.means if shift is None else params.means + shift
        #: The centring of the fit (None if none), reused when scoring.
        self.shift_ = shift
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = _PRECISIONS[self.covariance_type](params.precisions_cholesky)

    def _estimate_log_prob(self, X, *args, **kwargs):
        """``log N(x_i | mu_k, S_k)``; centred as in the fit, see ``shift_``.

        Used by ``score_samples``, ``predict``, ``predict_proba`` and
        ``score``: with a shift the distances are computed on ``X - shift``
        and ``means_ - shift``, which is the same density without the
        rounding of large offsets.
        """
        shift = getattr(self, "shift_", None)
        if shift is None:
            return super()._estimate_log_prob(X, *args, **kwargs)
        return log_gaussian_density(
            np.asarray(X) - shift,
            self.means_ - shift,
            self.precisions_cholesky_,
            self.covariance_type,
        )

    def _say(self, level: int, message: str) -> None:
        if self.verbose >= level:
            print(message)

    def _report_iteration(self, n_iter: int, change: float) -> None:
        if n_iter % self.verbose_interval == 0:
            detail = f"\t lower bound change {change:.5f}" if self.verbose >= 2 else ""
            print(f"  Iteration {n_iter}{detail}")


# --------------------------------------------------------------------------
# Weighted scores of any fitted mixture


def _positive_rows(X, w):
    positive = w > 0
    if positive.all():
        return X, w
    rows = X.iloc[positive] if hasattr(X, "iloc") else np.asarray(X)[positive]
    return rows, w[positive]


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def weighted_log_likelihood(model: GaussianMixture, X, sample_weight=None) -> float:
    """Total weighted log-likelihood ``sum_i w_i log p(x_i)``.

    Parameters
    ----------
    model : GaussianMixture
        Any fitted mixture (plain or :class:`WeightedGaussianMixture`).
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,) or None
        None means unit weights (``model.score(X) * n_samples``).

    Returns
    -------
    float
    """
    w = check_sample_weight(sample_weight, _n_rows(X))
    rows, w = _positive_rows(X, w)
    return float(np.sum(w * model.score_samples(rows)))


def weighted_criteria(model: GaussianMixture, X, sample_weight=None) -> dict:
    """Log-likelihood, BIC, AIC and ICL of a fitted mixture on weighted data.

    The number of samples is the total weight, so with integer counts the
    values equal those on the data with every row repeated ``count`` times.

    Parameters
    ----------
    model : GaussianMixture
        Any fitted mixture.
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,) or None
        None means unit weights; then ``bic`` equals ``model.bic(X)``.

    Returns
    -------
    dict
        ``log_likelihood`` (``sum_i w_i log p(x_i)``), ``bic``, ``aic``,
        ``icl`` (with ``sum_i w_i log max_k tau_ik``), all from
        :func:`napari_gmm.core.criteria.information_criteria`, and
        ``n_samples`` (the total weight, float).
    """
    w = check_sample_weight(sample_weight, _n_rows(X))
    rows, w = _positive_rows(X, w)
    if isinstance(rows, np.ndarray) and rows.dtype == np.float64 and rows.ndim == 2:
        # one E-step for both, without scikit-learn's input checks twice
        # (a sweep scores every candidate: ~2 ms each on small data)
        log_prob, log_resp = model._estimate_log_prob_resp(rows)
        log_max_resp = log_resp.max(axis=1)
    else:
        log_prob = model.score_samples(rows)
        log_max_resp = np.log(model.predict_proba(rows).max(axis=1))
    return _criteria(model, float(np.sum(w * log_prob)), w, log_max_resp)


def _criteria(model, log_likelihood: float, w, log_max_resp) -> dict:
    """:func:`weighted_criteria`'s dict from the log-likelihood, the weights
    of the positive rows and their ``log max_k tau_ik``."""
    total = float(np.sum(w))
    p = model_n_parameters(model)
    scores = information_criteria(
        log_likelihood, p, total, float(np.sum(w * log_max_resp))
    )
    return {"log_likelihood": log_likelihood, **scores, "n_samples": total}


def fitted_criteria(model: GaussianMixture, X, sample_weight=None) -> dict:
    """:func:`weighted_criteria`, by one compiled E-step for a plain
    :class:`WeightedGaussianMixture` (the default preset's candidates; ~1e-16
    relative from scikit-learn's computation): the sweep scores every
    candidate, and scikit-learn's E-step with its checks cost ~0.15 ms each
    on small data, in Python, while the other thread waits. Other mixtures,
    and data the kernels do not take, go to :func:`weighted_criteria`."""
    w = check_sample_weight(sample_weight, _n_rows(X))
    rows, w = _positive_rows(X, w)
    plain = type(model) is WeightedGaussianMixture
    if not (plain and isinstance(rows, np.ndarray) and kernels.usable(rows)):
        return weighted_criteria(model, X, sample_weight)
    shift = getattr(model, "shift_", None)
    means = model.means_
    if shift is not None:  # as _estimate_log_prob: centred as in the fit
        rows, means = rows - shift, means - shift
    lower_bound, log_resp, _ = kernels.e_step(
        rows,
        w,
        model.weights_,
        means,
        model.precisions_cholesky_,
        model.covariance_type,
    )
    return _criteria(model, lower_bound * float(np.sum(w)), w, log_resp.max(axis=1))
