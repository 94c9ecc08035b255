"""Covariance matrices -> ellipse geometry (pure numpy).

An ellipse of "size" ``r`` around a Gaussian ``N(mu, S)`` is the set
``{x : (x - mu)^T S^-1 (x - mu) = r^2}``: its semi-axes are ``r * sqrt(l_i)``
along the eigenvectors of ``S`` with eigenvalues ``l_i``. ``r`` is given
either in standard deviations (``n_std``, default 2) or as the probability
mass the ellipse holds (``confidence``): ``r^2`` is then the chi-square
quantile with ``d`` degrees of freedom (for d = 2, ``r^2 = -2 ln(1 - p)``).
In 2-D, ``n_std = 2`` holds ``1 - exp(-2) = 86.5 %`` of a component.

The 2-D functions take a marginal of the d-dimensional component over two
chosen dimensions, which is the exact distribution of those coordinates.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

#: Default ellipse size in standard deviations.
DEFAULT_N_STD = 2.0


def _expand_spherical(covariances, n_components, n_features):
    variances = np.asarray(covariances, dtype=float).reshape(n_components)
    return variances[:, None, None] * np.eye(n_features)


def _expand_diag(covariances, n_components, n_features):
    diagonals = np.asarray(covariances, dtype=float).reshape(n_components, n_features)
    return diagonals[:, :, None] * np.eye(n_features)


def _expand_tied(covariances, n_components, n_features):
    shared = np.asarray(covariances, dtype=float).reshape(n_features, n_features)
    return np.repeat(shared[None], n_components, axis=0)


def _expand_full(covariances, n_components, n_features):
    return np.asarray(covariances, dtype=float).reshape(
        n_components, n_features, n_features
    )


_EXPANDERS = {
    "spherical": _expand_spherical,
    "diag": _expand_diag,
    "tied": _expand_tied,
    "full": _expand_full,
}


def full_covariances(
    covariances: np.ndarray, covariance_type: str, n_components: int, n_features: int
) -> np.ndarray:
    """Expand scikit-learn's stored covariances to one full matrix per component.

    Parameters
    ----------
    covariances : ndarray
        ``GaussianMixture.covariances_``: shape (K,) for spherical, (K, d)
        for diag, (d, d) for tied, (K, d, d) for full.
    covariance_type : {"spherical", "tied", "diag", "full"}
    n_components, n_features : int

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
    """
    try:
        expand = _EXPANDERS[covariance_type]
    except KeyError:
        raise ValueError(
            f"covariance_type must be one of {sorted(_EXPANDERS)}, "
            f"got {covariance_type!r}."
        ) from None
    return expand(covariances, n_components, n_features)


def model_covariances(model) -> np.ndarray:
    """Full covariance matrices of a fitted ``GaussianMixture``, (K, d, d)."""
    n_components, n_features = model.means_.shape
    return full_covariances(
        model.covariances_, model.covariance_type, n_components, n_features
    )


def ellipse_radius(
    n_std: float | None = None, confidence: float | None = None, n_dims: int = 2
) -> float:
    """Mahalanobis radius of the drawn ellipse (or ellipsoid).

    Parameters
    ----------
    n_std : float, optional
        Radius in standard deviations. Default :data:`DEFAULT_N_STD` when
        neither argument is given.
    confidence : float in (0, 1), optional
        Probability mass inside the ellipse; exclusive with ``n_std``.
    n_dims : int
        Dimension of the ellipse (2 for ellipses, 3 for ellipsoids).

    Returns
    -------
    float
    """
    if n_std is not None and confidence is not None:
        raise ValueError("Give either n_std or confidence, not both.")
    if confidence is not None:
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
        return float(np.sqrt(chi2.ppf(confidence, df=n_dims)))
    radius = DEFAULT_N_STD if n_std is None else float(n_std)
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"n_std must be a positive number, got {n_std}.")
    return radius


def principal_axes(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations and directions of a covariance matrix's axes.

    Parameters
    ----------
    covariance : ndarray of shape (d, d)
        Symmetric positive semi-definite.

    Returns
    -------
    sigmas : ndarray of shape (d,)
        Square roots of the eigenvalues, largest first.
    directions : ndarray of shape (d, d)
        Unit eigenvectors as columns, in the same order.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(covariance, dtype=float))
    order = np.argsort(eigenvalues)[::-1]
    sigmas = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    return sigmas, eigenvectors[:, order]


def ellipse_corners(
    mean: np.ndarray, covariance: np.ndarray, radius: float
) -> np.ndarray:
    """Corners of the (rotated) rectangle that bounds a 2-D ellipse.

    This is how napari's Shapes layer describes an ``"ellipse"``.

    Parameters
    ----------
    mean : ndarray of shape (2,)
    covariance : ndarray of shape (2, 2)
    radius : float
        Mahalanobis radius, see :func:`ellipse_radius`.

    Returns
    -------
    ndarray of shape (4, 2)
        Corners in order around the rectangle.
    """
    sigmas, directions = principal_axes(covariance)
    major = radius * sigmas[0] * directions[:, 0]
    minor = radius * sigmas[1] * directions[:, 1]
    mean = np.asarray(mean, dtype=float)
    return np.stack(
        [
            mean - major - minor,
            mean + major - minor,
            mean + major + minor,
            mean - major + minor,
        ]
    )


def ellipse_outline(
    mean: np.ndarray, covariance: np.ndarray, radius: float, n_vertices: int = 64
) -> np.ndarray:
    """Points on a 2-D ellipse, shape (n_vertices, 2)."""
    sigmas, directions = principal_axes(covariance)
    angles = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    unit_circle = np.stack([np.cos(angles), np.sin(angles)])
    return (directions @ (radius * sigmas[:, None] * unit_circle)).T + mean


def marginal(
    mean: np.ndarray, covariance: np.ndarray, dims: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the chosen coordinates of a Gaussian."""
    dims = list(dims)
    return np.asarray(mean)[dims], np.asarray(covariance)[np.ix_(dims, dims)]


def component_ellipses(
    model, dims: tuple[int, int] = (0, 1), radius: float | None = None
) -> list[np.ndarray]:
    """napari ellipse corners for every component of a fitted mixture.

    Parameters
    ----------
    model : GaussianMixture
        Fitted, any covariance type, ``n_features >= 2``.
    dims : tuple of two ints
        Which features to draw (the marginal over them is used).
    radius : float, optional
        Mahalanobis radius; default ``ellipse_radius()`` (2 standard deviations).

    Returns
    -------
    list of ndarray of shape (4, 2)
        One per component, in component order.
    """
    n_features = model.means_.shape[1]
    if n_features < 2 or len(dims) != 2 or max(dims) >= n_features:
        raise ValueError(
            f"Ellipses need two distinct feature dimensions; the model has "
            f"{n_features} feature(s) and dims={tuple(dims)} was asked for."
        )
    radius = ellipse_radius() if radius is None else radius
    covariances = model_covariances(model)
    shapes = []
    for mean, covariance in zip(model.means_, covariances, strict=True):
        m, c = marginal(mean, covariance, dims)
        shapes.append(ellipse_corners(m, c, radius))
    return shapes
