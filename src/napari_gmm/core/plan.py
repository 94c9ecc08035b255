"""The validated, prepared work of one sweep: data, candidates and EM settings.

Weighted data
-------------
Every candidate is a :class:`~napari_gmm.core.em.WeightedGaussianMixture`
(a subclass of scikit-learn's GaussianMixture), fitted with ``weights``
(e.g. the counts of distinct pixel values) or unit weights; the criteria use
the weighted log-likelihood with the total weight as the number of samples,
so integer counts score like the repeated data. With unit weights and the
``sklearn`` preset its numbers are scikit-learn's (same algorithm, tested
against :class:`sklearn.mixture.GaussianMixture`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .candidate import (
    RELATIVE_REG_COVAR,
    collapse_limits,
    relative_floor,
    scale_kind,
)
from .result import SweepCancelled


@dataclass(frozen=True)
class SweepPlan:
    """One sweep's work, validated and prepared; what the fitting modules read.

    Built by :func:`napari_gmm.core.sweep.iter_sweep` from the data and the
    checked :class:`~napari_gmm.core.settings.SweepSettings`; candidate
    fitting (:mod:`~napari_gmm.core.fitting`), execution, screening and the
    result all take it. Frozen: a variant (a subsample, given starts) is a
    :func:`dataclasses.replace` copy.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    candidates : tuple of (n_components, covariance_type)
        In sweep order.
    criterion : str
    random_state : int
    gmm_params : dict
        Estimator settings shared by every candidate.
    weights : ndarray of shape (n_samples,) or None
    """

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
    # the data given have at most fitting.SMALL_DATA_ROWS rows: more starts
    # (decided on the whole data, so a screening subsample uses the same)
    small_data: bool = False
    # the covariance floor is the automatic quantization floor, a lower bound
    # of the model rather than a variance added to it: fits that stay above
    # it without it are kept without it (fitting._lift_floor)
    floor_is_bound: bool = False
    # per-plan values asked for by every candidate (floors, collapse limits,
    # the rows as fitted): computed once (a sweep of small data asked for
    # the data's scale ~2,800 times); not an argument, so that
    # dataclasses.replace starts afresh
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memoized(self, key, compute: Callable[[], object]):
        """``compute()``, once per plan and ``key``. The value is shared:
        callers must not modify it."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def start_for(self, k: int, covariance_type: str) -> dict:
        """Constructor arguments that fix a candidate's starting point, if any."""
        if not self.starts:
            return {}
        return self.starts.get((k, covariance_type), {})

    def floor_for(self, covariance_type: str) -> np.ndarray | None:
        """The covariance floor of a candidate (scale-relative by default)."""
        if self.preset != "default":
            return self.covariance_floor
        return self.memoized(
            ("floor", covariance_type),
            lambda: relative_floor(
                self.variance, covariance_type, self.relative_reg, self.covariance_floor
            ),
        )

    def reg_floor_for(self, covariance_type: str) -> np.ndarray | None:
        """:meth:`floor_for` without the covariance floor: the relative
        ``reg_covar`` alone (the default preset's) or None."""
        if self.preset != "default":
            return None
        return relative_floor(self.variance, covariance_type, self.relative_reg)

    def bound_collapse_for(self, covariance_type: str) -> np.ndarray:
        """:meth:`collapse_for` raised to the covariance floor: EM without the
        floor (``fitting._lift_floor``) stops when a component has left the
        bounded model (checked every few E-steps; the floor's mean for
        spherical models, as :func:`~napari_gmm.core.candidate.above_floor`
        reads it)."""
        floor = np.asarray(self.covariance_floor, dtype=float)
        if scale_kind(covariance_type) == "spherical":
            floor = np.full(floor.shape, float(floor.mean()))
        return np.maximum(self.collapse_for(covariance_type), floor)

    def collapse_for(self, covariance_type: str) -> np.ndarray | None:
        """Variances below which EM stops early: the component is degenerate
        (:func:`~napari_gmm.core.candidate.collapse_limits`)."""
        if self.preset != "default":
            return None
        return self.memoized(
            ("collapse", covariance_type),
            lambda: collapse_limits(
                self.variance, covariance_type, self.relative_reg, self.covariance_floor
            ),
        )

    @property
    def total_weight(self) -> float:
        return float(len(self.X) if self.weights is None else self.weights.sum())

    @property
    def row_weights(self) -> np.ndarray:
        """The weights, or ones when the rows are unweighted; shape (n_samples,)."""
        return np.ones(len(self.X)) if self.weights is None else self.weights

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
