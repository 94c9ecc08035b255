"""Pure pieces behind the component table, exports, pooling and color-by."""

import dask.array as da
import numpy as np
import pandas as pd
import pytest

from napari_gmm import assign
from napari_gmm._colors import component_colors
from napari_gmm._layers import (
    COLOR_BY_COMPONENT,
    EXPORT_KEY,
    METADATA_KEY,
    class_mask_layers,
    color_by_choices,
    component_points_layers,
    feature_colors,
    is_categorical,
    labeled_points_layer,
    output_features,
)
from napari_gmm.core.points import pool_points
from napari_gmm.core.report import component_table, format_component_table


# -- pooling several layers ------------------------------------------------------
def test_pool_points_stacks_layers_and_records_the_source():
    a = np.zeros((3, 2))
    b = np.ones((2, 2))
    pooled = pool_points(
        ["a", "b"],
        [a, b],
        [pd.DataFrame({"area": [1.0, 2.0, 3.0]}), pd.DataFrame({"area": [4.0, 5.0]})],
        [0.5, np.array([1.0, 2.0])],
        columns=["area"],
    )
    np.testing.assert_array_equal(pooled.coordinates, np.r_[a, b])
    assert list(pooled.features["area"]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert list(pooled.features["source"]) == ["a", "a", "a", "b", "b"]
    assert list(pooled.features["source_index"]) == [0, 1, 2, 0, 1]
    np.testing.assert_array_equal(pooled.size, [0.5, 0.5, 0.5, 1.0, 2.0])
    assert pooled.name == "a + b"
    parts = pooled.split(np.arange(5))
    assert list(parts) == ["a", "b"]
    np.testing.assert_array_equal(parts["b"], [3, 4])


def test_pool_of_one_layer_adds_no_columns():
    features = pd.DataFrame({"area": [1.0, 2.0]})
    pooled = pool_points(["a"], [np.zeros((2, 3))], [features])
    assert list(pooled.features.columns) == ["area"]
    assert pooled.name == "a" and pooled.size is None


def test_pool_fills_columns_missing_from_a_layer_with_nan():
    pooled = pool_points(
        ["a", "b"],
        [np.zeros((1, 2)), np.zeros((1, 2))],
        [pd.DataFrame({"x": [1.0]}), pd.DataFrame({"y": ["t"]})],
    )
    assert pooled.features["x"].isna().tolist() == [False, True]
    assert pooled.features["y"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"names": ["a", "b"], "coordinates": [np.zeros((2, 2)), np.zeros((2, 3))]},
            "'a' is 2-D, 'b' is 3-D",
        ),
        ({"names": [], "coordinates": []}, "at least one Points layer"),
        (
            {"names": ["a", "a"], "coordinates": [np.zeros((1, 2))] * 2},
            "distinct",
        ),
        (
            {
                "names": ["a", "b"],
                "coordinates": [np.zeros((1, 2))] * 2,
                "features": [pd.DataFrame({"area": [1.0]}), None],
                "columns": ["area"],
            },
            "'b' has no numeric feature column(s) ['area']",
        ),
        (
            {
                "names": ["a"],
                "coordinates": [np.zeros((2, 2))],
                "features": [pd.DataFrame({"area": [1.0]})],
            },
            "has 1 rows for 2 points",
        ),
    ],
)
def test_pool_points_rejects_bad_input_with_one_sentence(kwargs, message):
    with pytest.raises(ValueError) as info:
        pool_points(**kwargs)
    assert message in str(info.value)


# -- output features and colors ---------------------------------------------------
def test_output_features_carry_the_input_columns(seed_X, seed_result):
    assignment = assign(seed_result.best, seed_X)
    features = pd.DataFrame(
        {"label": np.zeros(len(seed_X)), "area": np.arange(len(seed_X))},
        index=np.arange(len(seed_X)) + 100,  # an index that is not 0..n-1
    )
    table = output_features(assignment, features)
    assert list(table.columns) == [
        "label",
        "probability",
        "uncertainty",
        "label (input)",
        "area",
    ]
    np.testing.assert_array_equal(table["label"], assignment.labels)
    np.testing.assert_array_equal(table["area"], np.arange(len(seed_X)))
    assert color_by_choices(features) == [
        COLOR_BY_COMPONENT,
        "label",
        "probability",
        "uncertainty",
        "label (input)",
        "area",
    ]
    assert color_by_choices(None)[0] == COLOR_BY_COMPONENT


@pytest.mark.parametrize(
    ("values", "categorical"),
    [
        (["a", "b"], True),
        ([True, False], True),
        (pd.Categorical(["x", "y"]), True),
        ([1, 2, 3, 2], True),  # few integers: labels, classes
        (list(range(50)), False),  # many integers: a measurement
        ([0.1, 0.5], False),
    ],
)
def test_categorical_or_numeric(values, categorical):
    assert is_categorical(pd.Series(values)) is categorical


def test_categorical_colors_cycle_in_sorted_order_and_missing_is_grey():
    colors = feature_colors(pd.Series(["b", "a", None, "b"]))
    palette = component_colors(2)
    np.testing.assert_allclose(colors.colors[1], palette[0])  # "a" first
    np.testing.assert_allclose(colors.colors[0], palette[1])
    np.testing.assert_allclose(colors.colors[0], colors.colors[3])
    np.testing.assert_allclose(colors.colors[2], [0.6, 0.6, 0.6, 1.0])
    assert list(colors.categories) == ["a", "b"]
    assert colors.describe("kind") == "Colored by 'kind': 2 categories."


def test_numeric_colors_span_the_colormap():
    import matplotlib

    colors = feature_colors(pd.Series([1.0, np.nan, 3.0, 2.0]))
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(colors.colors[0], viridis(0.0))
    np.testing.assert_allclose(colors.colors[2], viridis(1.0))
    np.testing.assert_allclose(colors.colors[3], viridis(0.5))
    np.testing.assert_allclose(colors.colors[1], [0.6, 0.6, 0.6, 1.0])
    assert colors.limits == (1.0, 3.0)
    assert colors.describe("area") == "Colored by 'area': viridis, 1 to 3."
    constant = feature_colors(pd.Series([2.0, 2.0]))
    np.testing.assert_allclose(constant.colors[0], viridis(0.5))


def test_labeled_points_colored_by_a_column(seed_X, seed_result):
    best = seed_result.best
    assignment = assign(best, seed_X)
    features = pd.DataFrame({"kind": np.where(np.arange(len(seed_X)) < 10, "x", "y")})
    _, meta, _ = labeled_points_layer(
        seed_X, assignment, best, "s", features=features, color_by="kind"
    )
    np.testing.assert_allclose(
        meta["face_color"], feature_colors(features["kind"]).colors
    )
    assert list(meta["features"].columns)[-1] == "kind"
    _, meta, _ = labeled_points_layer(
        seed_X, assignment, best, "s", features=features, color_by="component"
    )
    np.testing.assert_allclose(
        meta["face_color"], component_colors(2)[assignment.labels - 1]
    )
    with pytest.raises(ValueError, match="no such feature"):
        labeled_points_layer(seed_X, assignment, best, "s", color_by="area")


# -- exports ------------------------------------------------------------------------
def test_component_points_layers_split_points_and_features(seed_X, seed_result):
    best = seed_result.best
    assignment = assign(best, seed_X)
    features = pd.DataFrame({"id": np.arange(len(seed_X))})
    colors = component_colors(2)[::-1]
    layers = component_points_layers(
        seed_X, assignment, best, "spots", 0.2, colors, features
    )
    assert [meta["name"] for _, meta, _ in layers] == [
        "spots component 1",
        "spots component 2",
    ]
    for label, (data, meta, layer_type) in enumerate(layers, start=1):
        members = assignment.labels == label
        assert layer_type == "points"
        np.testing.assert_array_equal(data, seed_X[members])
        np.testing.assert_array_equal(meta["features"]["id"], np.flatnonzero(members))
        assert (meta["features"]["label"] == label).all()
        np.testing.assert_allclose(meta["face_color"], colors[label - 1])
        assert meta["size"].shape == (members.sum(),)
        # ordinary layers, not outputs the widget would replace
        assert METADATA_KEY not in meta["metadata"]
        assert meta["metadata"][EXPORT_KEY]["label"] == label
    data[:] = 0  # copies: the input is not a view
    assert np.any(seed_X != 0)


def test_empty_components_get_no_layer(seed_X, seed_result):
    model = seed_result.model(3, "full")
    assignment = assign(model, seed_X)
    assignment.labels[:] = 1
    layers = component_points_layers(seed_X, assignment, model, "s")
    assert len(layers) == 1


@pytest.mark.parametrize("lazy", [False, True])
def test_class_mask_layers_one_per_class(seed_result, lazy):
    labels = np.array([[0, 1, 2], [2, 2, 1]])
    source = da.from_array(labels, chunks=1) if lazy else labels
    layers = class_mask_layers(
        source, seed_result.best, "img", scale=(2.0, 2.0), translate=(1.0, 0.0)
    )
    assert [meta["name"] for _, meta, _ in layers] == ["img class 1", "img class 2"]
    for label, (mask, meta, layer_type) in enumerate(layers, start=1):
        assert layer_type == "labels"
        assert isinstance(mask, da.Array) is lazy
        np.testing.assert_array_equal(np.asarray(mask), labels == label)
        assert meta["scale"] == (2.0, 2.0) and meta["translate"] == (1.0, 0.0)
        np.testing.assert_allclose(meta["colormap"][1], component_colors(2)[label - 1])
    assert len(class_mask_layers(labels, seed_result.best, "img", n_classes=4)) == 4


# -- the component table as text ------------------------------------------------------
def test_format_component_table(seed_X, seed_result):
    table = component_table(seed_result.best, seed_X, ["x", "y"])
    text = format_component_table(table, digits=3)
    assert text.shape == table.shape
    assert list(text["label"]) == ["1", "2"]
    assert list(text["count"]) == ["500", "500"]
    assert all(len(v.lstrip("-").replace(".", "")) <= 8 for v in text["mean x"])
    float(text["corr x/y"].iloc[0])  # still a number, as text
    missing = format_component_table(pd.DataFrame({"a": [np.nan, 0.123456]}))
    assert list(missing["a"]) == ["", "0.1235"]


def test_noise_points_get_a_last_layer(seed_X, seed_result):
    from napari_gmm._colors import NOISE_COLOR

    best = seed_result.best
    assignment = assign(best, seed_X)
    assignment.labels[:5] = 0  # as a noise component would label them
    layers = component_points_layers(seed_X, assignment, best, "s")
    assert [meta["name"] for _, meta, _ in layers][-1] == "s noise"
    data, meta, _ = layers[-1]
    np.testing.assert_array_equal(data, seed_X[:5])
    np.testing.assert_allclose(meta["face_color"], NOISE_COLOR)
    assert sum(len(d) for d, _, _ in layers) == len(seed_X)


def test_pooled_layers_keep_their_own_source_column():
    pooled = pool_points(
        ["a", "b"],
        [np.zeros((1, 2)), np.zeros((1, 2))],
        [pd.DataFrame({"source": ["scope 1"]}), pd.DataFrame({"source": ["scope 2"]})],
    )
    assert list(pooled.features["source"]) == ["a", "b"]
    assert list(pooled.features["source (input)"]) == ["scope 1", "scope 2"]


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        ([[1e200, 1e200]], ValueError, "as large as 1e"),
        ([[np.nan, 1.0]], ValueError, "NaN or infinite"),
        ([1.0, 2.0], ValueError, r"shape \(n_samples, 2\)"),
        (3.0, ValueError, r"shape \(n_samples, 2\)"),
        ([[1.0, 2.0, 3.0]], ValueError, r"got an array of shape \(1, 3\)"),
        ([[1 + 2j, 0.0]], TypeError, "real numbers"),
    ],
)
def test_assign_checks_its_points(seed_result, X, error, match):
    # found by fuzzing (session 10): scikit-learn's messages, a TypeError of
    # len(), or silent NaN probabilities
    with pytest.raises(error, match=match):
        assign(seed_result.best, X)
    assert len(assign(seed_result.best, np.empty((0, 2))).labels) == 0
