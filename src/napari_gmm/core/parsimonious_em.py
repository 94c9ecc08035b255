"""Weighted EM for the 14 parsimonious covariance models.

:class:`ParsimoniousGaussianMixture` is a
:class:`~napari_gmm.core.em.WeightedGaussianMixture` whose M-step keeps the
covariances inside one of the models of :mod:`napari_gmm.core.parsimonious`
(mclust's EII ... VVV). It stores every covariance in scikit-learn's "full"
layout (``covariance_type`` is always "full"), so scoring, ``predict``,
``predict_proba``, ``sample``, ellipses and anything else that understands
full covariances work unchanged; only the parameter count
(:meth:`~ParsimoniousGaussianMixture._n_parameters`, hence ``bic``/``aic``)
is the model's.

Everything around the M-step is :class:`WeightedGaussianMixture`'s: sample
weights, restarts, warm starts, ``iteration_callback``, both stopping rules
and SQUAREM. The starting point (from ``init_params`` or the user's initial
values) is first brought into the model by
:func:`~napari_gmm.core.parsimonious.project`, so every E-step, the first
included, sees a mixture of the model and the log-likelihood never
decreases. SQUAREM extrapolates full covariances (their Cholesky factors),
which leaves most models' constraint; the extrapolated point is projected
back into the model before it is evaluated, and as before it is kept only
if its log-likelihood is at least plain EM's, so the accelerated run stays
monotone and ends at EM's fixed points.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from . import kernels, parsimonious
from .em import (
    GaussianSteps,
    MixtureParameters,
    WeightedGaussianMixture,
    e_step,
    params_from_vector,
    precision_cholesky,
)
from .noise import NOISE_INIT, NoiseSteps, NoisyGaussianMixture, NoisyParameters

_FULL = "full"


#: The compiled kernels' layout that holds each axis-aligned or pooled
#: model: its E-step and M-step statistics then cost O(d), not O(d^2), per
#: sample and component; the others use the full layout.
_KERNEL_LAYOUT = {
    "EII": "spherical",
    "VII": "spherical",
    "EEI": "diag",
    "VEI": "diag",
    "EVI": "diag",
    "VVI": "diag",
    "EEE": "tied",
}


def _kernel_factors(params: MixtureParameters, layout: str) -> np.ndarray:
    """Precision factors of a model's full-layout parameters in ``layout``.

    Exact for parameters that satisfy the model (every parameter EM passes
    to an E-step does): diagonal covariances for "diag", multiples of the
    identity for "spherical", one covariance for "tied".
    """
    if layout == _FULL:
        return params.precisions_cholesky
    if layout == "tied":
        return params.precisions_cholesky[0]
    variances = np.diagonal(params.covariances, axis1=1, axis2=2)
    if layout == "spherical":
        variances = variances[:, 0]
    return 1.0 / np.sqrt(variances)


def _scatter_from_kernel(nk, covariances, layout: str, n_features: int):
    """Scatter matrices, shape (K, d, d), from the kernels' covariances.

    Outside the full layout they carry only what the model's M-step reads:
    the diagonals (diagonal models), the traces (spherical ones) or the sum
    over components (EEE).
    """
    if layout in (_FULL, "tied"):
        return nk[:, np.newaxis, np.newaxis] * covariances
    if layout == "spherical":
        return (nk * covariances)[:, np.newaxis, np.newaxis] * np.eye(n_features)
    scatter = np.zeros((len(nk), n_features, n_features))
    diagonal = np.arange(n_features)
    scatter[:, diagonal, diagonal] = nk[:, np.newaxis] * covariances
    return scatter


class ParsimoniousGaussianMixture(WeightedGaussianMixture):
    """Sample-weighted Gaussian mixture with one of 14 covariance models.

    Parameters
    ----------
    n_components : int, default=1
    covariance_model : str, default="VVV"
        mclust's name (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV,
        VEV, EVV, VVV; see :mod:`napari_gmm.core.parsimonious`) or
        scikit-learn's (spherical, diag, tied, full).
    tol, reg_covar, max_iter, n_init, init_params, weights_init, means_init, \
random_state, warm_start, verbose, verbose_interval, covariance_floor, \
stopping, accelerate, collapse_variance
        As in :class:`~napari_gmm.core.em.WeightedGaussianMixture`.
        ``reg_covar`` and ``covariance_floor`` are added to the diagonal of
        each component's sample covariance before the constrained estimate.
    precisions_init : array-like of shape (n_components, n_features, \
n_features), default=None
        Full precision matrices (projected into the model).
    inner_tol : float, default=1e-10
        Relative tolerance of the iterative M-steps (VEI, VEE, VEV, EVE,
        VVE).
    inner_max_iter : int, default=200
        Cap on their iterations per M-step (warm-started, so later EM
        iterations need few).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_, \
converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As in :class:`~napari_gmm.core.em.WeightedGaussianMixture`, in the
        "full" layout: ``covariances_`` has shape (n_components, n_features,
        n_features).
    """

    _parameter_constraints: ClassVar[dict] = {
        **WeightedGaussianMixture._parameter_constraints,
        "covariance_model": [
            StrOptions(set(parsimonious.MODELS) | set(parsimonious.SKLEARN_TO_MCLUST))
        ],
        "inner_tol": [Interval(Real, 0.0, None, closed="left")],
        "inner_max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_model="VVV",
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
        inner_tol=parsimonious.INNER_TOL,
        inner_max_iter=parsimonious.INNER_MAX_ITER,
    ):
        super().__init__(
            n_components=n_components,
            covariance_type=_FULL,
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
        self.covariance_model = covariance_model
        self.inner_tol = inner_tol
        self.inner_max_iter = inner_max_iter

    # covariances are always stored full; not a constructor parameter
    @property
    def covariance_type(self) -> str:
        """Always "full": the layout the covariances are stored in."""
        return _FULL

    @covariance_type.setter
    def covariance_type(self, value) -> None:
        if value != _FULL:
            raise ValueError(
                "ParsimoniousGaussianMixture stores full covariances; choose the "
                f"model with covariance_model, not covariance_type={value!r}."
            )

    @property
    def model_name_(self) -> str:
        """mclust's name of the covariance model (e.g. "VVV" for "full")."""
        return parsimonious.canonical_model(self.covariance_model)

    def _n_parameters(self) -> int:
        """Free parameters: the model's covariances, the means and K - 1 weights."""
        n_components, n_features = self.means_.shape
        covariance = parsimonious.n_covariance_parameters(
            self.covariance_model, n_components, n_features
        )
        return int(covariance + n_components * n_features + n_components - 1)

    def _project(self, params: MixtureParameters, total_weight, previous=None):
        """``params`` with its covariances brought into the model."""
        covariances = parsimonious.project(
            params.covariances,
            np.asarray(params.weights) * total_weight,
            self.covariance_model,
            previous=previous,
            tol=self.inner_tol,
            max_iter=self.inner_max_iter,
        )
        return MixtureParameters(
            params.weights,
            params.means,
            covariances,
            precision_cholesky(covariances, _FULL),
        )

    def _initial(self, X, w, floor, random_state, shift):
        """scikit-learn's start (full covariances), projected into the model."""
        params = super()._initial(X, w, floor, random_state, shift)
        return self._project(params, float(np.sum(w)))

    def _steps(self) -> ParsimoniousSteps:
        """E-step, constrained M-step and SQUAREM's projection."""
        return ParsimoniousSteps(self)


class ParsimoniousSteps(GaussianSteps):
    """The EM steps of one :class:`ParsimoniousGaussianMixture`.

    The M-step warm-starts its inner iterations from the point the last
    E-step was at: in plain EM and in SQUAREM each M-step follows the E-step
    of its point. What passes from E- to M-step is the responsibilities
    themselves (not their logs), as with the compiled kernels.
    """

    def __init__(self, estimator: ParsimoniousGaussianMixture):
        self.estimator = estimator
        self.model = parsimonious.canonical_model(estimator.covariance_model)
        self.layout = _KERNEL_LAYOUT.get(self.model, _FULL)
        self.inner = {"tol": estimator.inner_tol, "max_iter": estimator.inner_max_iter}
        self.evaluated_at = None
        # what em._run_em needs to run these steps in the compiled loop
        # (EM with the gain rule, SQUAREM or plain: the same iterations, see
        # compiled_loop.run)
        self.compiled_model = {
            "model": self.model,
            "inner_tol": estimator.inner_tol,
            "inner_max_iter": estimator.inner_max_iter,
        }

    def e_step(self, X, w, params, covariance_type):
        self.evaluated_at = params
        if kernels.usable(X):
            lower_bound, _, resp = kernels.e_step(
                X,
                w,
                params.weights,
                params.means,
                _kernel_factors(params, self.layout),
                self.layout,
                want_log=False,
            )
            return lower_bound, resp
        lower_bound, log_resp = e_step(X, w, params, _FULL)
        return lower_bound, np.exp(log_resp)

    def m_step(self, X, w, resp, reg_covar, floor, covariance_type):
        if kernels.usable(X):  # one compiled pass for the statistics
            nk, means, statistics, _ = kernels.m_step(
                X, w, resp, reg_covar, floor, self.layout
            )
            scatter = _scatter_from_kernel(nk, statistics, self.layout, X.shape[1])
        else:
            nk, means, scatter = parsimonious.weighted_scatter(
                X, resp * w[:, np.newaxis], reg_covar, floor
            )
        at = self.evaluated_at
        covariances = parsimonious.constrained_covariances(
            scatter,
            nk,
            self.model,
            previous=None if at is None else at.covariances,
            **self.inner,
        )
        chol = precision_cholesky(covariances, _FULL)
        return MixtureParameters(nk / nk.sum(), means, covariances, chol)

    def to_vector(self, params, covariance_type):
        return super().to_vector(params, _FULL)

    def from_vector(self, vector, like, covariance_type):
        point = params_from_vector(vector, like, _FULL, self.scale)
        # n_k only sets the pooling weights of the E models: any positive
        # total gives the same projection
        return self.estimator._project(point, 1.0, previous=like.covariances)


#: ``mixture_for``'s "no noise component" (None is a noise volume: the box).
_NO_NOISE = object()


def mixture_for(
    covariance_type: str, noise_volume=_NO_NOISE, **settings
) -> WeightedGaussianMixture:
    """The unfitted estimator of a sweep's covariance type.

    scikit-learn's four types (whatever name they were given) keep
    :class:`~napari_gmm.core.em.WeightedGaussianMixture` and its compiled
    layouts, so their numbers do not depend on the naming; the ten other
    models are a :class:`ParsimoniousGaussianMixture`.

    Parameters
    ----------
    covariance_type : str
        "spherical", "tied", "diag", "full" or one of mclust's names.
    noise_volume : float or None, optional
        Given (None included: the data's box), the mixture has a uniform
        noise component (:mod:`napari_gmm.core.noise`) of that volume.
    **settings
        The other constructor arguments (not ``covariance_type``).

    Returns
    -------
    WeightedGaussianMixture, ParsimoniousGaussianMixture or their noise variants
    """
    model = parsimonious.canonical_model(covariance_type)
    noise = noise_volume is not _NO_NOISE
    if noise:
        settings = {**settings, "noise_volume": noise_volume}
    if model in parsimonious.MCLUST_TO_SKLEARN:
        estimator = NoisyGaussianMixture if noise else WeightedGaussianMixture
        return estimator(
            covariance_type=parsimonious.MCLUST_TO_SKLEARN[model], **settings
        )
    if noise:
        return NoisyParsimoniousGaussianMixture(covariance_model=model, **settings)
    return ParsimoniousGaussianMixture(covariance_model=model, **settings)


class ParsimoniousNoiseSteps(NoiseSteps):
    """EM steps of a mixture of one of the 14 models plus uniform noise.

    :class:`~napari_gmm.core.noise.NoiseSteps` on the full layout, with the
    Gaussians' covariances brought into the model after each M-step (the
    M-step of the Gaussian columns is the ordinary weighted one, see
    :mod:`napari_gmm.core.noise`, so the constrained estimate is the
    model's M-step on the same scatter matrices) and after SQUAREM's
    extrapolation.
    """

    def __init__(self, estimator: NoisyParsimoniousGaussianMixture):
        super().__init__(-math.log(estimator.noise_volume_))
        self.estimator = estimator
        self.model = parsimonious.canonical_model(estimator.covariance_model)
        self.inner = {"tol": estimator.inner_tol, "max_iter": estimator.inner_max_iter}
        self.evaluated_at = None

    def e_step(self, X, w, params: NoisyParameters, covariance_type):
        self.evaluated_at = params
        return super().e_step(X, w, params, _FULL)

    def m_step(self, X, w, log_resp, reg_covar, floor, covariance_type):
        point = super().m_step(X, w, log_resp, reg_covar, floor, _FULL)
        gaussians = point.gaussians
        at = self.evaluated_at
        # the weights are n_k over the total (noise included): proportional
        # to n_k, which is all the projection's pooling needs
        covariances = parsimonious.project(
            gaussians.covariances,
            gaussians.weights,
            self.model,
            previous=None if at is None else at.gaussians.covariances,
            **self.inner,
        )
        chol = precision_cholesky(covariances, _FULL)
        return NoisyParameters(
            gaussians._replace(covariances=covariances, precisions_cholesky=chol),
            point.noise_weight,
        )

    def to_vector(self, params, covariance_type):
        return super().to_vector(params, _FULL)

    def from_vector(self, vector, like: NoisyParameters, covariance_type):
        point = super().from_vector(vector, like, _FULL)
        gaussians = self.estimator._project(
            point.gaussians, 1.0, previous=like.gaussians.covariances
        )
        return NoisyParameters(gaussians, point.noise_weight)


class NoisyParsimoniousGaussianMixture(NoisyGaussianMixture):
    """One of the 14 covariance models plus a uniform noise component.

    :class:`~napari_gmm.core.noise.NoisyGaussianMixture` (same noise,
    prediction and attributes) whose Gaussians follow ``covariance_model``
    as in :class:`ParsimoniousGaussianMixture`: full layout, the model's
    parameter count (plus the noise weight), starts projected into the
    model.

    Parameters
    ----------
    n_components : int, default=1
    covariance_model : str, default="VVV"
        As in :class:`ParsimoniousGaussianMixture`.
    noise_volume, noise_init
        As in :class:`~napari_gmm.core.noise.NoisyGaussianMixture`.
    inner_tol, inner_max_iter
        As in :class:`ParsimoniousGaussianMixture`.
    tol, reg_covar, max_iter, n_init, init_params, weights_init, means_init, \
precisions_init, random_state, warm_start, verbose, verbose_interval, \
covariance_floor, stopping, accelerate, collapse_variance
        As in :class:`~napari_gmm.core.em.WeightedGaussianMixture`.
    """

    _parameter_constraints: ClassVar[dict] = {
        **NoisyGaussianMixture._parameter_constraints,
        **ParsimoniousGaussianMixture._parameter_constraints,
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_model="VVV",
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
        inner_tol=parsimonious.INNER_TOL,
        inner_max_iter=parsimonious.INNER_MAX_ITER,
    ):
        super().__init__(
            n_components=n_components,
            covariance_type=_FULL,
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
            noise_volume=noise_volume,
            noise_init=noise_init,
        )
        self.covariance_model = covariance_model
        self.inner_tol = inner_tol
        self.inner_max_iter = inner_max_iter

    # what makes it parsimonious is ParsimoniousGaussianMixture's, shared
    # rather than inherited (the noise class is the base: its steps,
    # parameters and prediction are the ones that change)
    covariance_type = ParsimoniousGaussianMixture.covariance_type
    model_name_ = ParsimoniousGaussianMixture.model_name_
    _project = ParsimoniousGaussianMixture._project

    def _n_parameters(self) -> int:
        """The model's count plus the noise weight."""
        return ParsimoniousGaussianMixture._n_parameters(self) + 1

    def _initial(self, X, w, floor, random_state, shift) -> NoisyParameters:
        """The noise start, with its Gaussians projected into the model."""
        start = super()._initial(X, w, floor, random_state, shift)
        gaussians = self._project(start.gaussians, float(np.sum(w)))
        return NoisyParameters(gaussians, start.noise_weight)

    def _steps(self) -> ParsimoniousNoiseSteps:
        return ParsimoniousNoiseSteps(self)


def is_parsimonious(model) -> bool:
    """Whether a mixture is one of the 14 models' estimators (with or
    without noise): its covariances are stored full whatever its model."""
    return isinstance(
        model, (ParsimoniousGaussianMixture, NoisyParsimoniousGaussianMixture)
    )
