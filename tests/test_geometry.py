"""Ellipse geometry checked against an eigen-decomposition."""

import numpy as np
import pytest
from scipy.stats import chi2
from sklearn.mixture import GaussianMixture

from napari_gmm.core.geometry import (
    component_ellipses,
    ellipse_corners,
    ellipse_outline,
    ellipse_radius,
    full_covariances,
    model_covariances,
    principal_axes,
)


def _mahalanobis_squared(points, mean, covariance):
    centered = points - mean
    return np.einsum("ni,ij,nj->n", centered, np.linalg.inv(covariance), centered)


def test_principal_axes_match_eigh():
    covariance = np.array([[3.0, 1.2], [1.2, 1.0]])
    sigmas, directions = principal_axes(covariance)
    values, vectors = np.linalg.eigh(covariance)
    np.testing.assert_allclose(sigmas, np.sqrt(values[::-1]))
    for i in range(2):
        # same axis up to sign
        assert abs(directions[:, i] @ vectors[:, ::-1][:, i]) == pytest.approx(1.0)
    np.testing.assert_allclose(
        directions @ np.diag(sigmas**2) @ directions.T, covariance
    )


def test_corners_bound_the_ellipse_and_outline_lies_on_it():
    mean = np.array([2.0, -1.0])
    covariance = np.array([[3.0, 1.2], [1.2, 1.0]])
    radius = 2.0
    corners = ellipse_corners(mean, covariance, radius)
    np.testing.assert_allclose(corners.mean(axis=0), mean)
    sigmas, directions = principal_axes(covariance)
    # the sides of the rectangle are 2 r sigma_i long, along the eigenvectors
    np.testing.assert_allclose(
        np.linalg.norm(corners[1] - corners[0]), 2 * radius * sigmas[0]
    )
    np.testing.assert_allclose(
        np.linalg.norm(corners[2] - corners[1]), 2 * radius * sigmas[1]
    )
    side = (corners[1] - corners[0]) / np.linalg.norm(corners[1] - corners[0])
    assert abs(side @ directions[:, 0]) == pytest.approx(1.0)
    outline = ellipse_outline(mean, covariance, radius)
    np.testing.assert_allclose(
        _mahalanobis_squared(outline, mean, covariance), radius**2
    )
    # midpoints of the rectangle sides touch the ellipse
    midpoints = (corners + np.roll(corners, -1, axis=0)) / 2
    np.testing.assert_allclose(
        _mahalanobis_squared(midpoints, mean, covariance), radius**2
    )


def test_radius_from_std_or_confidence():
    assert ellipse_radius() == 2.0
    assert ellipse_radius(n_std=1.5) == 1.5
    # 2-D closed form: r^2 = -2 ln(1 - p)
    assert ellipse_radius(confidence=0.95) == pytest.approx(np.sqrt(-2 * np.log(0.05)))
    assert ellipse_radius(confidence=0.9, n_dims=3) == pytest.approx(
        np.sqrt(chi2.ppf(0.9, 3))
    )
    for bad in [
        {"n_std": 0},
        {"n_std": np.nan},
        {"confidence": 1.0},
        {"n_std": 1, "confidence": 0.5},
    ]:
        with pytest.raises(ValueError):
            ellipse_radius(**bad)


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag", "full"])
def test_every_covariance_type_gives_correct_ellipses(seed_X, covariance_type):
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(
        seed_X
    )
    covariances = model_covariances(model)
    assert covariances.shape == (3, 2, 2)
    # expanded matrices reproduce sklearn's precisions
    np.testing.assert_allclose(
        np.linalg.inv(covariances),
        full_covariances(model.precisions_, covariance_type, 3, 2),
        rtol=1e-8,
    )
    shapes = component_ellipses(model, radius=2.0)
    assert len(shapes) == 3
    for corners, mean, covariance in zip(
        shapes, model.means_, covariances, strict=True
    ):
        np.testing.assert_allclose(corners.mean(axis=0), mean)
        midpoints = (corners + np.roll(corners, -1, axis=0)) / 2
        np.testing.assert_allclose(
            _mahalanobis_squared(midpoints, mean, covariance), 4.0, rtol=1e-9
        )


def test_marginal_ellipses_of_higher_dimensional_model(rng):
    X = rng.normal(size=(200, 3)) * [1, 2, 3]
    model = GaussianMixture(1, covariance_type="diag", random_state=0).fit(X)
    (corners,) = component_ellipses(model, dims=(1, 2), radius=1.0)
    lengths = sorted(np.linalg.norm(np.diff(corners[[0, 1, 2]], axis=0), axis=1) / 2)
    np.testing.assert_allclose(lengths, np.sqrt(np.sort(model.covariances_[0, 1:])))
    with pytest.raises(ValueError, match="two distinct feature dimensions"):
        component_ellipses(model, dims=(0, 5))


def test_ellipsoid_mesh_lies_on_the_ellipsoid():
    from napari_gmm.core.geometry import ellipsoid_mesh

    mean = np.array([1.0, 2.0, 3.0])
    a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    vertices, faces = ellipsoid_mesh(mean, a, radius=1.5)
    np.testing.assert_allclose(_mahalanobis_squared(vertices, mean, a), 1.5**2)
    assert faces.min() == 0 and faces.max() == len(vertices) - 1
    # a closed surface: every edge is shared by exactly two triangles
    edges = np.sort(np.r_[faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)


def test_ellipsoid_sections_are_on_the_ellipsoid_and_in_their_plane():
    from napari_gmm.core.geometry import ellipsoid_sections

    mean = np.array([10.3, 2.0, 3.0])
    a = np.array([[4.0, 1.0, 0.5], [1.0, 2.0, 0.2], [0.5, 0.2, 1.0]])
    shapes = ellipsoid_sections(mean, a, radius=2.0, axis=0, origin=0.5)
    # planes 0.5 + n within 10.3 +- 2 * 2 = [6.3, 14.3] -> 6.5 .. 13.5
    assert [s[0, 0] for s in shapes] == list(np.arange(6.5, 14.0, 1.0))
    for corners in shapes:
        midpoints = (corners + np.roll(corners, -1, axis=0)) / 2
        np.testing.assert_allclose(_mahalanobis_squared(midpoints, mean, a), 4.0)
