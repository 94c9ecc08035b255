"""Pure layer builders, checked without a viewer."""

import numpy as np

from napari_gmm import assign
from napari_gmm._colors import component_colors
from napari_gmm._layers import (
    METADATA_KEY,
    ellipses_layer,
    find_output_layer,
    labeled_points_layer,
)


def test_labeled_points_layer_has_features_and_component_colors(seed_X, seed_result):
    best = seed_result.best
    assignment = assign(best, seed_X)
    data, meta, layer_type = labeled_points_layer(
        seed_X, assignment, best, "spots", 0.1
    )
    assert layer_type == "points"
    np.testing.assert_array_equal(data, seed_X)
    assert data is not seed_X
    features = meta["features"]
    assert list(features.columns) == ["label", "probability", "uncertainty"]
    np.testing.assert_array_equal(features["label"], best.predict(seed_X) + 1)
    np.testing.assert_allclose(
        features["probability"], best.predict_proba(seed_X).max(axis=1)
    )
    np.testing.assert_allclose(features["uncertainty"], 1 - features["probability"])
    assert sorted(np.bincount(features["label"])[1:]) == [500, 500]
    colors = component_colors(2)
    np.testing.assert_allclose(meta["face_color"], colors[features["label"] - 1])
    assert meta["metadata"][METADATA_KEY]["source"] == "spots"
    assert meta["name"] == "spots labels"


def test_ellipses_layer_has_one_ellipse_per_component(seed_result):
    data, meta, layer_type = ellipses_layer(seed_result.best, "spots", radius=2.0)
    assert layer_type == "shapes"
    assert meta["shape_type"] == "ellipse"
    assert len(data) == 2 and all(d.shape == (4, 2) for d in data)
    np.testing.assert_allclose(meta["edge_color"], component_colors(2))
    np.testing.assert_allclose([d.mean(axis=0) for d in data], seed_result.best.means_)


class _FakeLayer:
    def __init__(self, metadata):
        self.metadata = metadata


def test_find_output_layer_matches_role_and_source():
    layers = [
        _FakeLayer({}),
        _FakeLayer({METADATA_KEY: {"role": "labels", "source": "a"}}),
        _FakeLayer({METADATA_KEY: {"role": "ellipses", "source": "b"}}),
    ]
    assert find_output_layer(layers, "labels", "a") == 1
    assert find_output_layer(layers, "ellipses", "b") == 2
    assert find_output_layer(layers, "labels", "b") is None
