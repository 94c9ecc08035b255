"""One candidate, fitted carefully: several starts, scale-free regularization,
degenerate ends recognised.

The default sweep (``preset="default"``) fits every (K, covariance type)
from each start of :mod:`napari_gmm.core.starts`, runs EM to the
"gain" stopping rule with SQUAREM acceleration
(:mod:`napari_gmm.core.convergence`), and keeps the end with the highest
likelihood that is not degenerate.

Degenerate
    A component whose smallest variance (eigenvalue of its covariance, the
    data standardized per feature) is below :data:`DEGENERATE_VARIANCE`, or
    that is supported by fewer (weighted) samples than it has parameters
    (mean and own covariance). The likelihood of such a fit grows without
    bound as the component shrinks onto a few values, so its BIC says
    nothing about the data; R's mclust reports no BIC for it. The sweep
    keeps these rows visible (``degenerate`` column) and does not choose
    them unless asked to.

Scale-free regularization
    ``reg_covar`` is read in units of each feature's variance (the mean
    variance for spherical models): ``reg_covar * var_j`` is added to the
    diagonal. Rescaling a feature rescales the fit with it, so the choice
    and every BIC (up to the Jacobian term ``2 n sum log c_j``) do not
    depend on the data's units.
"""

from __future__ import annotations

import functools

import numpy as np

from .criteria import COVARIANCE_TYPES
from .em import precisions_from_cholesky, start_mixture
from .parsimonious import FLOOR_SCALE, canonical_model, n_covariance_parameters

#: Default ``reg_covar`` of the default preset, relative to each feature's
#: variance (scikit-learn's number, made scale-free): it moves a variance by
#: one part in a million, far below what BIC can see, and keeps every
#: covariance invertible (at 1e-8, 30-feature full models failed their
#: Cholesky factorisation on wdbc, benchmarks/vs_mclust.py).
RELATIVE_REG_COVAR = 1e-6

#: A component is degenerate when a variance falls below this fraction of
#: the data's (standardized units; std below 0.1 % of the data's).
DEGENERATE_VARIANCE = 1e-6


def own_covariance_parameters(covariance_type: str, n_features: int) -> int:
    """Covariance parameters one component adds (beyond its ``d`` mean
    coordinates): what its variable parts (volume, shape, orientation) cost.

    1 for spherical, ``d`` for diag, ``d (d + 1) / 2`` for full, 0 for tied
    and any model whose parts are all equal or the identity.
    """
    one = n_covariance_parameters(covariance_type, 1, n_features)
    return n_covariance_parameters(covariance_type, 2, n_features) - one


def scale_kind(covariance_type: str) -> str:
    """ "spherical" or "diag": the scale a model's regularization follows
    (:data:`~napari_gmm.core.parsimonious.FLOOR_SCALE`)."""
    return FLOOR_SCALE[canonical_model(covariance_type)]


def model_type(model) -> str:
    """The covariance model of a fitted mixture: its ``covariance_model``
    (a :class:`~napari_gmm.core.parsimonious_em.ParsimoniousGaussianMixture`,
    whose ``covariance_type`` is its storage layout) or ``covariance_type``."""
    return getattr(model, "covariance_model", None) or model.covariance_type


def scale_of(variance: np.ndarray, covariance_type: str) -> np.ndarray:
    """Per-feature variance scale a candidate's regularization follows.

    The data's variance per feature; for the models that are not invariant
    under rescaling one feature (spherical and the others
    :data:`~napari_gmm.core.parsimonious.FLOOR_SCALE` marks "spherical")
    their mean in every feature, so that only a common rescaling, the one
    those models are invariant under, scales it. Features without spread
    get scale 1.
    """
    variance = np.ascontiguousarray(variance, dtype=float)
    return _scale_of(variance.tobytes(), scale_kind(covariance_type)).copy()


@functools.lru_cache(maxsize=64)
def _scale_of(variance_bytes: bytes, kind: str) -> np.ndarray:
    """:func:`scale_of` of the variances in ``variance_bytes`` (float64),
    cached: every candidate of a sweep asks for it, in its floors, collapse
    limits and degeneracy checks (~2,800 calls in a sweep of small data)."""
    variance = np.frombuffer(variance_bytes, dtype=float)
    if kind == "spherical":
        spread = variance[variance > 0]
        common = float(spread.mean()) if spread.size else 1.0
        return np.full(variance.shape, common)
    return np.where(variance > 0, variance, 1.0)


def relative_floor(
    variance: np.ndarray,
    covariance_type: str,
    reg_covar: float,
    extra_floor: np.ndarray | None = None,
) -> np.ndarray:
    """The per-feature variance added to every covariance diagonal."""
    floor = reg_covar * scale_of(variance, covariance_type)
    return floor if extra_floor is None else floor + extra_floor


def above_floor(covariances: np.ndarray, layout: str, floor: np.ndarray) -> bool:
    """Every component's variance along the floored features is at least
    the ``floor``: the mixture lies in the bounded model of
    :func:`quantization_floor` (its likelihood is finite there).

    For full and tied covariances the bound is on the conditional
    covariance ``C`` of the floored features given the others (the
    variance left to them once the others are known, which is what bounds
    a component's density on one quantized value): ``C >= diag(floor)`` in
    the Loewner order, i.e. the largest eigenvalue of ``F^1/2 P_qq F^1/2``
    is at most 1, with ``P`` the precision matrix. Diagonal covariances
    compare variance by variance, spherical ones against the floor's mean
    (the floor a spherical model gets, :func:`relative_floor`).

    Parameters
    ----------
    covariances : ndarray
        A mixture's covariances in scikit-learn's ``layout``.
    layout : {"spherical", "tied", "diag", "full"}
    floor : ndarray of shape (n_features,)
        Per-feature bound, 0 for features without one.
    """
    floor = np.asarray(floor, dtype=float)
    floored = floor > 0
    if not floored.any():
        return True
    covariances = np.asarray(covariances, dtype=float)
    if layout == "spherical":
        return bool(np.all(covariances >= floor.mean()))
    if layout == "diag":
        return bool(np.all(covariances[:, floored] >= floor[floored]))
    full = covariances.reshape(-1, len(floor), len(floor))
    root = np.sqrt(floor[floored])
    try:
        precisions = np.linalg.inv(full)
    except np.linalg.LinAlgError:
        return False
    block = precisions[:, floored][:, :, floored] * np.outer(root, root)
    return bool(np.all(np.linalg.eigvalsh(block).max(axis=1) <= 1.0))


def start_parameters(
    X: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    n_components: int,
    covariance_type: str,
    floor: np.ndarray,
) -> dict:
    """``weights_init``, ``means_init``, ``precisions_init`` of a hard partition.

    For the models scikit-learn does not have, the full covariances of the
    clusters: the estimator projects them into its model, which is the
    model's M-step on the partition.
    """
    if covariance_type not in COVARIANCE_TYPES:
        covariance_type = "full"
    params = start_mixture(X, w, labels, n_components, covariance_type, floor)
    return {
        "weights_init": params.weights,
        "means_init": params.means,
        "precisions_init": precisions_from_cholesky(
            params.precisions_cholesky, covariance_type
        ),
    }


def degeneracy(
    model,
    variance: np.ndarray,
    total_weight: float,
    reg_covar: float = RELATIVE_REG_COVAR,
    floor: np.ndarray | None = None,
) -> str:
    """Why a fitted mixture is degenerate, or "" if it is not.

    Parameters
    ----------
    model : fitted GaussianMixture (or subclass)
    variance : ndarray of shape (n_features,)
        The data's variance per feature.
    total_weight : float
        Number of samples (total weight) the model was fitted on.
    reg_covar : float
        The relative regularization used; a variance within twice of it is
        at the floor and counts as collapsed as well.
    floor : ndarray of shape (n_features,), optional
        The covariance floor added besides ``reg_covar`` (quantized values:
        an image's ``step**2 / 12``, integer coordinates), see
        :func:`collapse_limits`.
    """
    return mixture_degeneracy(
        model.weights_,
        model.covariances_,
        model.covariance_type,
        model_type(model),
        variance,
        total_weight,
        reg_covar,
        floor,
    )


def collapse_limits(
    variance: np.ndarray,
    covariance_type: str,
    reg_covar: float = RELATIVE_REG_COVAR,
    floor: np.ndarray | None = None,
) -> np.ndarray:
    """Per-feature variance under which a component counts as collapsed.

    ``max(DEGENERATE_VARIANCE, 2 reg_covar)`` x the feature's scale
    (:func:`scale_of`); in a feature with a covariance ``floor`` at most
    half of it. Every variance there is at least the floor, so a component
    on one value of a quantized feature (a class of one grey level, a
    saturated area) is not collapsed: the floor bounds its likelihood. It
    still is when it collapses across the other features. Without that,
    whether such a component was degenerate depended on how far apart the
    values were: on a 16-bit image with two levels 1,000 apart the floor is
    below ``2e-6`` of the variance, and the sweep chose one class.
    """
    limit = max(DEGENERATE_VARIANCE, 2.0 * reg_covar) * scale_of(
        variance, covariance_type
    )
    if floor is None:
        return limit
    floor = np.broadcast_to(np.asarray(floor, dtype=float), limit.shape)
    if scale_kind(covariance_type) == "spherical":
        # one variance for every feature, floored by the floors' mean
        floor = np.full(limit.shape, float(floor.mean()))
    return np.where(floor > 0, np.minimum(limit, floor / 2.0), limit)


def mixture_degeneracy(
    weights: np.ndarray,
    covariances: np.ndarray,
    layout: str,
    covariance_type: str,
    variance: np.ndarray,
    total_weight: float,
    reg_covar: float = RELATIVE_REG_COVAR,
    floor: np.ndarray | None = None,
) -> str:
    """:func:`degeneracy` of a mixture's parameters: ``weights`` (K,),
    ``covariances`` in scikit-learn's ``layout`` for that type, and the
    covariance model ``covariance_type`` (which decides the scale and the
    parameters a component needs)."""
    return degeneracies(
        np.asarray(weights, dtype=float)[np.newaxis],
        np.asarray(covariances, dtype=float)[np.newaxis],
        layout,
        covariance_type,
        variance,
        total_weight,
        reg_covar,
        floor,
    )[0]


def degeneracies(
    weights: np.ndarray,
    covariances: np.ndarray,
    layout: str,
    covariance_type: str,
    variance: np.ndarray,
    total_weight: float,
    reg_covar: float = RELATIVE_REG_COVAR,
    floor: np.ndarray | None = None,
) -> list[str]:
    """:func:`mixture_degeneracy` of several mixtures of one candidate at
    once (one eigenvalue call for all: a sweep checks ~20 short runs per
    candidate).

    Parameters
    ----------
    weights : ndarray of shape (n_mixtures, n_components)
    covariances : ndarray of shape (n_mixtures, ...)
        Each mixture's covariances in scikit-learn's ``layout``.
    layout, covariance_type, variance, total_weight, reg_covar, floor
        As :func:`mixture_degeneracy`.

    Returns
    -------
    list of str
        One reason (or "") per mixture.
    """
    n_mixtures, k = weights.shape
    d = len(variance)
    scale = np.sqrt(scale_of(variance, covariance_type))
    limit = max(DEGENERATE_VARIANCE, 2.0 * reg_covar)
    # per feature, the variance under which a component collapsed, as a
    # scale: the smallest eigenvalue of Sigma / (root root^T) below 1
    root = np.sqrt(collapse_limits(variance, covariance_type, reg_covar, floor))
    if layout in ("diag", "spherical"):
        # diagonal covariances: the eigenvalues are the variances themselves
        variances = np.broadcast_to(
            covariances.reshape(n_mixtures, k, -1), (n_mixtures, k, d)
        )
        smallest = (variances / np.square(scale)).min(axis=2)
        if floor is None:  # root is limit x scale: the same test
            below = smallest < limit
        else:
            below = (variances / np.square(root)).min(axis=2) < 1.0
    else:
        # full: (K, d, d) per mixture; tied: one (d, d) shared by all K
        shared = 1 if layout == "tied" else k
        full = np.reshape(covariances, (n_mixtures, shared, d, d))
        smallest = np.linalg.eigvalsh(full / np.outer(scale, scale)).min(axis=2)
        smallest = np.broadcast_to(smallest, (n_mixtures, k))
        if floor is None:  # root is limit x scale: the same test
            below = smallest < limit
        else:
            ratio = np.linalg.eigvalsh(full / np.outer(root, root)).min(axis=2)
            below = np.broadcast_to(ratio < 1.0, (n_mixtures, k))
    support = weights * total_weight
    needed = d + own_covariance_parameters(covariance_type, d)
    # per mixture, its most collapsed component and its thinnest one (all
    # mixtures at once: a sweep checks ~20 short runs per candidate)
    thin = support < needed
    most_collapsed = np.where(below, smallest, np.inf).argmin(axis=1).tolist()
    thinnest = np.where(thin, support, np.inf).argmin(axis=1).tolist()
    any_collapsed = below.any(axis=1).tolist()
    any_thin = thin.any(axis=1).tolist()
    reasons = []
    for index in range(n_mixtures):
        if any_collapsed[index]:
            j = most_collapsed[index]
            reasons.append(
                f"component {j + 1} collapsed (its smallest variance is "
                f"{smallest[index, j]:.2g} of the data's): the likelihood grows "
                "without bound there, so its criterion is meaningless"
            )
        elif any_thin[index]:
            j = thinnest[index]
            reasons.append(
                f"component {j + 1} rests on {support[index, j]:.3g} samples for "
                f"its {needed} mean and covariance parameters"
            )
        else:
            reasons.append("")
    return reasons


#: A feature counts as coarsely quantized when its values are multiples of
#: one step (to this tolerance, in steps), repeat (fewer distinct values
#: than half the rows), and the step is at least COARSE_STEP of the
#: feature's standard deviation (a dozen levels across +-2 std or fewer).
#: Finer quantization (e.g. iris's 0.1 cm, Old Faithful's whole minutes)
#: gets no floor: it barely changes the likelihood, and the maximum
#: likelihood fit is what mclust and scikit-learn report.
_QUANTIZED_TOLERANCE = 1e-6
COARSE_STEP = 1.0 / 3.0

#: The automatic floor of :func:`quantization_floor` is for data of at most
#: this many features: a points layer's 2-D to 4-D (t, z, y, x) integer
#: positions (images pass their own step**2 / 12, core/segment.py), where a
#: component on one grid row wins BIC without it (100 integer spots of two
#: blobs of std 0.5 px: tied 6 to 9 chosen, 2 clusters with it). On R's
#: biopsy (683 x 9 integer scores 1..10, the only one of 49 R tables of
#: benchmarks/vs_mclust.py it applied to) it held 16 of 36 candidates
#: crawling to the iteration cap, up to 1,077 BIC above mclust's fits, for
#: the choice mclust and the unfloored fits make (spherical 9); unfloored,
#: one candidate ended above mclust's (spherical 8, +53; below it since
#: mclust's start is rescued from SQUAREM's collapses, em.run_starts) and
#: the sweep took 0.47 instead of 1.23 s (session 14).
FLOOR_MAX_FEATURES = 4


def quantization_floor(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray | None:
    """``step**2 / (2 pi)`` for each coarsely quantized feature (0 for others).

    None when no feature is.

    Integer pixel coordinates from a spot detector, counts or rounded
    measurements have no variance inside one step, so a component can sit on
    a single value with a vanishing variance. Only for data of at most
    :data:`FLOOR_MAX_FEATURES` features (a points layer's coordinates, 2-D
    to 4-D; image sweeps pass their own floor); tables of more features are
    fitted as continuous data, as mclust and scikit-learn fit them. A
    value's exact probability is at most 1 (its whole step): a Gaussian's
    density at its centre times the step is at most 1 when its variance is
    at least ``step**2 / (2 pi)``. With the smaller floor ``step**2 / 12``
    (a value spread uniformly over its step, what images use,
    :mod:`napari_gmm.core.segment`) a component on one value scores 0.32
    nats per point more than that exact bound, and with good starts BIC then
    splits clusters into grid rows (measured: 100 integer spots of two blobs
    of std 0.5 px, tied K = 6 chosen over the two clusters). The floor
    rescales with the data.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] > FLOOR_MAX_FEATURES:
        return None
    if w is not None:
        X = X[np.asarray(w) > 0]
    floor = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        if len(values) < 2 or len(values) > len(X) / 2:
            continue
        step = float(np.diff(values).min())
        offsets = (values - values[0]) / step
        coarse = step >= COARSE_STEP * float(X[:, j].std())
        regular = np.allclose(
            offsets, np.round(offsets), rtol=0, atol=_QUANTIZED_TOLERANCE
        )
        if coarse and regular:
            floor[j] = step**2 / (2.0 * np.pi)
    return floor if floor.any() else None
