"""The widget in a real napari viewer (PyQt6 under Xvfb), opened via the manifest."""

import numpy as np
import pytest

from napari_gmm import make_seed_example
from napari_gmm._widget import GMMWidget

PLUGIN = "napari-gmm"
WIDGET = "Gaussian mixture selection"


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return viewer, widget


def _wait_idle(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def _output_layers(viewer):
    return [layer for layer in viewer.layers if layer.metadata.get("napari_gmm")]


def test_widget_from_manifest_reproduces_seed_example(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    assert isinstance(widget, GMMWidget)
    (points,) = viewer.open_sample(PLUGIN, "seed_example")
    before = points.data.copy()
    features_before = points.features.copy()
    assert widget._layer_combo.value is points

    widget._run_button.native.click()
    assert widget.is_running
    _wait_idle(qtbot, widget)

    result = widget.last_result
    assert result is not None and result.best_key == (2, "full")
    labels_layer = viewer.layers["GMM selection example GMM labels"]
    ellipses = viewer.layers["GMM selection example GMM ellipses"]
    counts = labels_layer.features["label"].value_counts().sort_index()
    assert list(counts.index) == [1, 2]
    assert list(counts) == [500, 500]
    assert set(labels_layer.features.columns) >= {"label", "probability", "uncertainty"}
    assert ellipses.nshapes == 2
    assert ellipses.shape_type == ["ellipse", "ellipse"]
    # colors: the points of label k and ellipse k share one color
    first = labels_layer.features["label"].to_numpy() == 1
    np.testing.assert_allclose(
        labels_layer.face_color[first][0], ellipses.edge_color[0]
    )
    # the input layer is untouched
    np.testing.assert_array_equal(points.data, before)
    assert points.features.equals(features_before)
    assert "napari_gmm" not in points.metadata
    # the plot shows all 24 candidates
    assert sum(len(bars) for bars in widget.canvas.bars.values()) == 24
    assert "full, 2 components" in widget._status.value


def test_rerun_replaces_outputs_instead_of_piling_up(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget._run_button.native.click()
    _wait_idle(qtbot, widget)
    widget._k_max.value = 3
    widget._type_boxes["spherical"].value = False
    widget._run_button.native.click()
    _wait_idle(qtbot, widget)
    assert len(viewer.layers) == 3
    assert len(_output_layers(viewer)) == 2
    assert len(widget.last_result.table) == 9


def test_cancel_leaves_viewer_and_input_unchanged(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    data = np.random.default_rng(0).normal(size=(30_000, 2))
    layer = viewer.add_points(data, name="many")
    widget._k_max.value = 10
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget._run_button.native.click()
    widget._cancel_button.native.click()
    _wait_idle(qtbot, widget)
    assert failures and "Cancelled" in failures[0]
    assert _output_layers(viewer) == []
    np.testing.assert_array_equal(layer.data, data)
    assert widget._run_button.enabled and not widget._cancel_button.enabled


def test_layer_deleted_during_fit_discards_result(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    viewer.add_points(make_seed_example(), name="spots")
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget._k_max.value = 2
    widget._run_button.native.click()
    viewer.layers.remove("spots")
    _wait_idle(qtbot, widget)
    assert failures and "was removed during the fit" in failures[0]
    assert len(viewer.layers) == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda v, w: None, "Add or choose a Points layer"),
        (lambda v, w: v.add_points(np.empty((0, 2)), name="empty"), "has no points"),
        (
            lambda v, w: (
                v.add_points(np.ones((5, 2)), name="p"),
                [box.set_value(False) for box in w._type_boxes.values()],
            ),
            "at least one covariance type",
        ),
        (
            lambda v, w: (
                v.add_points(np.ones((5, 2)), name="p"),
                w._k_min.set_value(7),
            ),
            "larger than max components",
        ),
    ],
)
def test_bad_input_gets_one_sentence_and_no_worker(viewer_and_widget, setup, message):
    viewer, widget = viewer_and_widget
    setup(viewer, widget)
    failures = []
    widget.sweep_failed.connect(failures.append)
    assert widget.run() is None
    assert not widget.is_running
    assert len(failures) == 1 and message in failures[0]
    assert _output_layers(viewer) == []


def test_three_dimensional_points_get_labels_without_ellipses(viewer_and_widget, qtbot):
    viewer, widget = viewer_and_widget
    rng = np.random.default_rng(1)
    data = np.r_[rng.normal(0, 1, (200, 3)), rng.normal(10, 1, (200, 3))]
    viewer.add_points(data, name="spots3d")
    widget._k_max.value = 3
    widget._run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result.best_key[0] == 2
    labels = viewer.layers["spots3d GMM labels"]
    assert sorted(labels.features["label"].value_counts()) == [200, 200]
    assert "Ellipses are drawn for 2-D points only" in widget._status.value
