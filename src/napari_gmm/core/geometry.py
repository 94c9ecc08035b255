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


def _unit_sphere(n_latitudes: int = 12, n_longitudes: int = 24):
    """Vertices and triangle faces of a latitude-longitude unit sphere."""
    theta = np.linspace(0.0, np.pi, n_latitudes + 1)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, n_longitudes, endpoint=False)
    ring = np.stack(
        [
            np.repeat(np.cos(theta), n_longitudes),
            np.outer(np.sin(theta), np.cos(phi)).ravel(),
            np.outer(np.sin(theta), np.sin(phi)).ravel(),
        ],
        axis=1,
    )
    vertices = np.vstack([[1.0, 0.0, 0.0], ring, [-1.0, 0.0, 0.0]])
    n_rings = len(theta)
    faces = []

    def index(r, c):
        return 1 + r * n_longitudes + c % n_longitudes

    for c in range(n_longitudes):  # caps
        faces.append([0, index(0, c), index(0, c + 1)])
        last = len(vertices) - 1
        faces.append([last, index(n_rings - 1, c + 1), index(n_rings - 1, c)])
    for r in range(n_rings - 1):
        for c in range(n_longitudes):
            faces.append([index(r, c), index(r + 1, c), index(r + 1, c + 1)])
            faces.append([index(r, c), index(r + 1, c + 1), index(r, c + 1)])
    return vertices, np.asarray(faces, dtype=int)


def ellipsoid_mesh(
    mean: np.ndarray, covariance: np.ndarray, radius: float, resolution: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of a 3-D ellipsoid ``(x - mu)^T S^-1 (x - mu) = r^2``.

    Parameters
    ----------
    mean : ndarray of shape (3,)
    covariance : ndarray of shape (3, 3)
    radius : float
        Mahalanobis radius, see :func:`ellipse_radius` (use ``n_dims=3``
        for a confidence level).
    resolution : int
        Latitude rings; twice as many longitudes.

    Returns
    -------
    vertices : ndarray of shape (n_vertices, 3)
    faces : ndarray of int, shape (n_faces, 3)
    """
    sphere, faces = _unit_sphere(resolution, 2 * resolution)
    sigmas, directions = principal_axes(covariance)
    transform = directions * (radius * sigmas)  # columns scaled
    return sphere @ transform.T + np.asarray(mean, dtype=float), faces


def ellipsoid_section(
    mean: np.ndarray, covariance: np.ndarray, radius: float, axis: int, position: float
):
    """The ellipse where the plane ``x[axis] = position`` cuts an ellipsoid.

    Uses the Schur complement: with ``a`` the cut axis and ``o`` the others,
    ``(x - mu)^T S^-1 (x - mu) = (x_o - c)^T C^-1 (x_o - c) + (p - mu_a)^2 / S_aa``
    where ``c = mu_o + S_oa (p - mu_a) / S_aa`` and
    ``C = S_oo - S_oa S_ao / S_aa``.

    Returns
    -------
    tuple or None
        ``(center (2,), covariance (2, 2), radius)`` of the section, or None
        when the plane misses the ellipsoid.
    """
    mean = np.asarray(mean, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    others = [d for d in range(len(mean)) if d != axis]
    s_aa = covariance[axis, axis]
    s_oa = covariance[others, axis]
    offset = position - mean[axis]
    remaining = radius**2 - offset**2 / s_aa
    if remaining <= 0:
        return None
    center = mean[others] + s_oa * offset / s_aa
    conditional = covariance[np.ix_(others, others)] - np.outer(s_oa, s_oa) / s_aa
    return center, conditional, float(np.sqrt(remaining))


def ellipsoid_sections(
    mean: np.ndarray,
    covariance: np.ndarray,
    radius: float,
    axis: int = 0,
    origin: float = 0.0,
    step: float = 1.0,
) -> list[np.ndarray]:
    """napari 3-D ellipse corners of an ellipsoid cut at ``origin + n * step``.

    These are what a 3-D Points layer shows in 2-D slicing: one ellipse per
    slice the ellipsoid reaches, each lying in its plane.

    Returns
    -------
    list of ndarray of shape (4, 3)
    """
    mean = np.asarray(mean, dtype=float)
    half_extent = radius * np.sqrt(covariance[axis, axis])
    first = np.ceil((mean[axis] - half_extent - origin) / step)
    last = np.floor((mean[axis] + half_extent - origin) / step)
    others = [d for d in range(len(mean)) if d != axis]
    shapes = []
    for n in np.arange(first, last + 1):
        position = origin + n * step
        section = ellipsoid_section(mean, covariance, radius, axis, position)
        if section is None:
            continue
        corners_2d = ellipse_corners(*section)
        corners = np.empty((4, len(mean)))
        corners[:, axis] = position
        corners[:, others] = corners_2d
        shapes.append(corners)
    return shapes
