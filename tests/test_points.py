"""Feature matrices from points, component matching, live refits (no viewer)."""

import numpy as np
import pandas as pd
import pytest

from napari_gmm import make_seed_example, sweep
from napari_gmm.core.points import (
    match_components,
    numeric_columns,
    points_feature_matrix,
)
from napari_gmm.core.refit import follow_slots, refit_same, refit_warm


def test_numeric_columns_skip_text_and_bool():
    table = pd.DataFrame({"a": [1.0], "b": ["x"], "c": [True], "d": [3]})
    assert numeric_columns(table) == ["a", "d"]
    assert numeric_columns(None) == []


def test_feature_matrix_combines_axes_and_columns():
    coords = np.arange(12.0).reshape(4, 3)
    table = pd.DataFrame({"area": [1.0, 2.0, 3.0, 4.0]})
    matrix = points_feature_matrix(
        coords, table, coordinate_dims=(1, 2), columns=["area"]
    )
    np.testing.assert_array_equal(matrix.X, np.c_[coords[:, 1:], table.area])
    assert matrix.names == ("axis 1", "axis 2", "area")
    assert not matrix.is_coordinate_space
    only_coords = points_feature_matrix(coords)
    assert only_coords.is_coordinate_space and only_coords.coordinate_dims == (0, 1, 2)


def test_standardization_is_reversible():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(50, 2)) * [1, 100] + [5, -3]
    matrix = points_feature_matrix(coords, standardize=True)
    np.testing.assert_allclose(matrix.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(matrix.X.std(axis=0), 1)
    np.testing.assert_allclose(matrix.to_raw(matrix.X), coords)
    assert not matrix.is_coordinate_space


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coordinate_dims": ()}, "at least one"),
        ({"coordinate_dims": (5,)}, "do not exist"),
        ({"columns": ["nope"]}, "not numeric columns"),
    ],
)
def test_feature_matrix_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        points_feature_matrix(
            np.zeros((3, 2)), pd.DataFrame({"a": [1, 2, 3]}), **kwargs
        )


def test_nan_feature_is_named():
    table = pd.DataFrame({"a": [1.0, np.nan, 2.0]})
    with pytest.raises(ValueError, match=r"1 point\(s\).*'a'"):
        points_feature_matrix(np.zeros((3, 2)), table, columns=["a"])


def test_match_components_keeps_slots_and_adds_fresh_ones():
    previous = np.array([[0.0, 0.0], [10.0, 0.0]])
    slots = np.array([3, 5])
    # same components, swapped order, plus one new far away
    new = np.array([[10.2, 0.1], [50.0, 50.0], [-0.1, 0.2]])
    result = match_components(previous, slots, new)
    np.testing.assert_array_equal(result, [5, 6, 3])
    # fewer components: the survivor keeps its slot
    np.testing.assert_array_equal(match_components(previous, slots, new[:1]), [5])


def test_warm_refit_follows_a_moved_point_and_keeps_colors():
    X = make_seed_example()
    best = sweep(X, n_components=[2], covariance_types=["full"]).best
    slots = np.array([0, 1])
    moved = np.r_[X, [[15.0, -12.0]]]
    model = refit_warm(moved, best)
    new_slots = follow_slots(model, best, slots)
    np.testing.assert_array_equal(new_slots, [0, 1])
    np.testing.assert_allclose(model.means_, best.means_, atol=0.1)
    same = refit_same(moved, best)
    assert same.n_components == 2 and same.covariance_type == "full"
    with pytest.raises(ValueError, match="too few"):
        refit_warm(X[:1], best)


def test_assign_in_blocks_equals_one_predict_proba(monkeypatch):
    from napari_gmm import assign, sweep
    from napari_gmm.core import components

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2500, 2))
    X[:1000] += 5
    model = sweep(X, n_components=[3], covariance_types=["full"]).best
    responsibilities = model.predict_proba(X)
    monkeypatch.setattr(components, "ASSIGN_BLOCK", 7)  # many ragged blocks
    blocked = assign(model, X)
    np.testing.assert_array_equal(blocked.labels, responsibilities.argmax(axis=1) + 1)
    # (the compiled E-step: ~1e-16 from scikit-learn's computation)
    np.testing.assert_allclose(
        blocked.probability, responsibilities.max(axis=1), rtol=1e-12, atol=1e-300
    )


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag", "full"])
def test_assign_is_predict_proba_for_every_type_and_far_data(covariance_type):
    """The compiled responsibilities of a sweep's mixture are scikit-learn's:
    the same labels, probabilities within 1e-12, on data far from the origin
    (the fit is centred: ``shift_``) and on points far from every component
    (responsibilities from the tails)."""
    from napari_gmm import assign, sweep

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 2)) * [1.0, 0.3]
    X[:250] += [4.0, 1.0]
    X += 1e7  # centred in the fit
    model = sweep(X, n_components=[3], covariance_types=[covariance_type]).best
    assert model.shift_ is not None
    points = np.vstack([X, X[:5] + 50.0, X[:5] - 400.0])
    expected = model.predict_proba(points)
    got = assign(model, points)
    np.testing.assert_array_equal(got.labels, expected.argmax(axis=1) + 1)
    np.testing.assert_allclose(
        got.probability, expected.max(axis=1), rtol=1e-12, atol=1e-300
    )


def test_assign_gives_nan_where_no_component_has_density():
    """A point whose density underflows to 0 under every component gets NaN
    (as scikit-learn's predict_proba), which the image labelling turns into
    its "too far from its components" error, not an equal share."""
    import copy

    from napari_gmm import assign, sweep
    from napari_gmm.core.pixels import compress_image
    from napari_gmm.core.segment import labels_for_model

    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 1, 200)])[:, None]
    model = copy.deepcopy(sweep(X, n_components=[2], covariance_types=["full"]).best)
    model.precisions_cholesky_ = model.precisions_cholesky_ * 1e150
    with np.errstate(all="ignore"):
        expected = model.predict_proba(np.array([[1e90], [0.0]]))
        got = assign(model, np.array([[1e90], [0.0]]))
    assert np.isnan(expected[0]).all() and np.isnan(got.probability[0])
    assert got.probability[1] == pytest.approx(expected[1].max())
    image = np.array([[0, 1_000_000_000]], dtype=np.int64)
    with pytest.raises(ValueError, match="too far from"):
        labels_for_model(image, compress_image(image), model)


def test_constant_axes():
    from napari_gmm.core.points import constant_axes

    points = np.array([[3.0, 1.0, 5.0], [3.0, 2.0, 5.0], [3.0, 4.0, 5.0]])
    assert constant_axes(points) == (0, 2)
    assert constant_axes(points[:, 1:2]) == ()  # it varies
    assert constant_axes(np.ones((4, 3))) == ()  # identical points: not left out
    assert constant_axes(np.empty((0, 3))) == ()
    with_nan = points.copy()
    with_nan[1, 0] = np.nan  # reported by points_feature_matrix, not here
    assert constant_axes(with_nan) == (2,)
