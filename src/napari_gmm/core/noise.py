"""A Gaussian mixture with one extra uniform "noise" component.

Scattered outliers and background clutter are not Gaussian; without a place
to go, BIC explains them with extra (broad, or tiny) Gaussian components. The
usual remedy (Banfield & Raftery 1993, "Model-based Gaussian and
non-Gaussian clustering", Biometrics 49:803) adds a component with a constant
density ``1 / V`` over the region that holds the data:

``p(x) = pi_0 / V + sum_k pi_k N(x | mu_k, S_k)``,  ``pi_0 + sum_k pi_k = 1``.

``V`` is the volume of the data's bounding box (or a volume the caller gives,
e.g. the area of a mask); it is a fixed constant, not estimated. The noise
weight ``pi_0`` is estimated, so the model has one free parameter more than
the Gaussian mixture with the same ``K``;
:func:`napari_gmm.core.criteria.n_parameters` (``noise=True``) counts it
and every criterion uses that count.

EM changes in two places. The E-step has one more column, ``log pi_0 - log
V``. The M-step estimates the Gaussians from the responsibilities of the
Gaussian columns only, which is the ordinary weighted M-step with the sample
weights ``w_i (1 - tau_i0)`` and the responsibilities renormalised over the
Gaussians; then ``pi_0 = sum_i w_i tau_i0 / sum_i w_i``.

Conventions shared with the rest of the package: ``n_components`` counts the
Gaussians; ``weights_`` are their weights (they sum to ``1 - noise_weight_``);
``predict_proba`` has ``n_components + 1`` columns, the noise last; and
``predict`` returns ``-1`` for noise, so that ``label = predict + 1`` is 0 for
noise and 1..K for the Gaussians (see :func:`napari_gmm.core.components.assign`).
The uniform density is used everywhere, also outside the box, so new data far
from every Gaussian are labelled noise.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import ClassVar, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval

from .criteria import has_noise
from .em import (
    GaussianSteps,
    MixtureParameters,
    WeightedGaussianMixture,
    log_gaussian_density,
    logsumexp_rows,
    precision_cholesky,
    weighted_gaussian_parameters,
)

#: Initial noise weight, before the first E-step.
NOISE_INIT = 0.1
#: Smallest and largest noise weight a warm start begins from (``noise_init``
#: must lie strictly between 0 and 1).
_WARM_NOISE = (1e-6, 1.0 - 1e-6)


class NoisyParameters(NamedTuple):
    """Gaussian parameters (``weights`` sum to ``1 - noise_weight``) and noise."""

    gaussians: MixtureParameters
    noise_weight: float


def bounding_box_volume(X, sample_weight=None) -> float:
    """Volume of the axis-aligned box that holds the rows with positive weight.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If a feature is constant (the box is flat) or the volume is not a
        finite positive number.
    """
    X = np.asarray(X, dtype=float)
    if sample_weight is not None:
        X = X[np.asarray(sample_weight) > 0]
    extent = X.max(axis=0) - X.min(axis=0)
    flat = np.flatnonzero(~(extent > 0))
    if flat.size:
        raise ValueError(
            f"The noise component is uniform over the data's bounding box, but "
            f"feature {int(flat[0])} is constant, so the box has no volume; "
            "drop that feature, pass noise_volume, or turn the noise component off."
        )
    with np.errstate(over="ignore"):
        volume = float(np.prod(extent))
    if not (np.isfinite(volume) and volume > 0):
        raise ValueError(
            f"The data's bounding box has volume {volume!r} (extents "
            f"{extent.tolist()}), which float64 cannot use; rescale the data or "
            "pass noise_volume."
        )
    return volume


def check_noise_volume(noise_volume) -> float | None:
    """None, or a finite positive volume (as float)."""
    if noise_volume is None:
        return None
    try:
        volume = float(noise_volume)
    except (TypeError, ValueError):
        raise ValueError(
            f"noise_volume must be a positive number or None, got {noise_volume!r}."
        ) from None
    if not (math.isfinite(volume) and volume > 0):
        raise ValueError(
            f"noise_volume must be a finite number > 0, got {noise_volume!r}; "
            "it is the volume (area in 2-D) of the region the noise fills."
        )
    return volume


class NoiseSteps(GaussianSteps):
    """EM's steps with the uniform noise column (see the module docstring).

    The parameters exchanged are :class:`NoisyParameters`.

    Parameters
    ----------
    log_noise_density : float
        ``-log V``, the log density of the uniform component.
    """

    def __init__(self, log_noise_density: float):
        self.log_noise_density = log_noise_density

    def e_step(self, X, w, params: NoisyParameters, covariance_type) -> tuple:
        """``(lower_bound, log_resp)`` with the noise as the last column."""
        g = params.gaussians
        with np.errstate(divide="ignore"):
            log_weights = np.log(g.weights)
            log_noise = np.log(params.noise_weight)
        joint = np.empty((X.shape[0], g.weights.shape[0] + 1), dtype=X.dtype)
        joint[:, :-1] = (
            log_gaussian_density(X, g.means, g.precisions_cholesky, covariance_type)
            + log_weights
        )
        joint[:, -1] = log_noise + self.log_noise_density
        log_prob = logsumexp_rows(joint)
        with np.errstate(under="ignore"):
            log_resp = joint - log_prob[:, np.newaxis]
        return np.sum(w * log_prob) / np.sum(w), log_resp

    def m_step(
        self, X, w, log_resp, reg_covar, floor, covariance_type
    ) -> NoisyParameters:
        """The Gaussians from their columns, the noise weight from its own."""
        resp = np.exp(log_resp)
        gaussian = resp[:, :-1]
        share = gaussian.sum(axis=1)  # 1 - tau_i0, without cancellation
        # Gaussians see each row with weight w_i (1 - tau_i0) and
        # responsibilities renormalised over the Gaussians: then
        # r_ik = w_i tau_ik, as EM requires (rows the noise owns entirely get
        # weight 0 and contribute nothing).
        safe = np.where(share > 0, share, 1.0)
        nk, means, covariances = weighted_gaussian_parameters(
            X,
            w * share,
            gaussian / safe[:, np.newaxis],
            reg_covar,
            floor,
            covariance_type,
        )
        noise = float(np.sum(w * resp[:, -1]))
        total = nk.sum() + noise
        chol = precision_cholesky(covariances, covariance_type)
        return NoisyParameters(
            MixtureParameters(nk / total, means, covariances, chol), noise / total
        )

    def to_vector(self, params: NoisyParameters, covariance_type: str) -> np.ndarray:
        """The Gaussians' vector with the noise's log weight in front."""
        with np.errstate(divide="ignore"):
            log_noise = np.log(params.noise_weight)
        gaussians = super().to_vector(params.gaussians, covariance_type)
        return np.concatenate([[log_noise], gaussians])

    def from_vector(self, vector, like: NoisyParameters, covariance_type: str):
        """Inverse of :meth:`to_vector`."""
        g = super().from_vector(vector[1:], like.gaussians, covariance_type)
        # softmax over the noise and the Gaussians' log weights together
        log_weights = np.concatenate([[vector[0]], vector[1 : 1 + len(g.weights)]])
        weights = np.exp(log_weights - log_weights.max())
        weights /= weights.sum()
        return NoisyParameters(g._replace(weights=weights[1:]), float(weights[0]))


class NoisyGaussianMixture(WeightedGaussianMixture):
    """Weighted Gaussian mixture plus one uniform noise component.

    Parameters
    ----------
    n_components : int
        Number of Gaussian components (the noise comes on top).
    noise_volume : float or None, default=None
        Volume (area in 2-D) of the region the noise is uniform over. None:
        the bounding box of the fitted rows.
    noise_init : float, default=0.1
        Noise weight before the first E-step; the Gaussians start from
        ``init_params`` on all rows, their weights scaled by
        ``1 - noise_init``.
    **kwargs
        Everything else as :class:`~napari_gmm.core.em.WeightedGaussianMixture`.

    Attributes
    ----------
    noise_weight_ : float
        Estimated weight of the noise component.
    noise_volume_ : float
        The volume used (given or the bounding box).
    weights_ : ndarray of shape (n_components,)
        Gaussian weights; they sum to ``1 - noise_weight_``.

    Notes
    -----
    ``predict`` returns -1 for noise; ``predict_proba`` has the noise as its
    last column; ``score_samples`` includes the noise density. See the module
    docstring for the model.
    """

    _parameter_constraints: ClassVar[dict] = {
        **WeightedGaussianMixture._parameter_constraints,
        "noise_volume": [None, Interval(Real, 0.0, None, closed="neither")],
        "noise_init": [Interval(Real, 0.0, 1.0, closed="neither")],
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
        noise_volume=None,
        noise_init=NOISE_INIT,
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
            covariance_floor=covariance_floor,
            stopping=stopping,
            accelerate=accelerate,
            collapse_variance=collapse_variance,
        )
        self.noise_volume = noise_volume
        self.noise_init = noise_init

    # -- fitting hooks of WeightedGaussianMixture --------------------------

    def _prepare(self, X, w) -> None:
        volume = check_noise_volume(self.noise_volume)
        self.noise_volume_ = bounding_box_volume(X, w) if volume is None else volume

    def _steps(self) -> NoiseSteps:
        return NoiseSteps(-math.log(self.noise_volume_))

    def _initial(self, X, w, floor, random_state, shift) -> NoisyParameters:
        g = super()._initial(X, w, floor, random_state, shift)
        scaled = g._replace(weights=np.asarray(g.weights) * (1.0 - self.noise_init))
        return NoisyParameters(scaled, float(self.noise_init))

    def _current_parameters(self, shift=None) -> NoisyParameters:
        return NoisyParameters(super()._current_parameters(shift), self.noise_weight_)

    def _store(self, params: NoisyParameters, shift=None) -> None:
        super()._store(params.gaussians, shift)
        self.noise_weight_ = float(params.noise_weight)

    def _n_parameters(self) -> int:
        """scikit-learn's count plus the noise weight (``bic``/``aic`` use it)."""
        return super()._n_parameters() + 1

    def sample(self, n_samples=1):
        """Not available: only the noise volume is stored, not where its box is.

        Raises
        ------
        NotImplementedError
        """
        raise NotImplementedError(
            "Sampling from a mixture with a noise component is not supported: "
            "the model stores the noise volume but not where its box lies."
        )

    # -- prediction -------------------------------------------------------

    @property
    def log_noise_density_(self) -> float:
        """``log(noise_weight_ / noise_volume_)``: the noise column's joint."""
        if self.noise_weight_ <= 0:
            return -np.inf
        return math.log(self.noise_weight_) - math.log(self.noise_volume_)

    def _estimate_weighted_log_prob(self, X, *args, **kwargs):
        gaussian = np.asarray(super()._estimate_weighted_log_prob(X, *args, **kwargs))
        noise = np.full((gaussian.shape[0], 1), self.log_noise_density_, gaussian.dtype)
        return np.hstack([gaussian, noise])

    def predict(self, X):
        """Most probable component of each row, ``-1`` for the noise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            ``0..n_components - 1`` for the Gaussians, ``-1`` for noise.
        """
        winner = super().predict(X)
        return np.where(winner == self.n_components, -1, winner)


def warm_start(model) -> dict:
    """Constructor arguments that start EM from a fitted model's parameters.

    For :class:`~napari_gmm.core.em.WeightedGaussianMixture` and, with its
    noise weight, :class:`NoisyGaussianMixture` (whose Gaussian weights sum to
    ``1 - noise_weight_`` and are renormalised here, as ``weights_init``
    requires). One start: ``n_init=1``.
    """
    start = {
        "weights_init": model.weights_ / model.weights_.sum(),
        "means_init": model.means_,
        "precisions_init": model.precisions_,
        "n_init": 1,
    }
    if has_noise(model):
        start["noise_init"] = float(np.clip(model.noise_weight_, *_WARM_NOISE))
    return start
