"""Component table dock, per-component export, pooled layers and color-by,
in a real napari viewer (PyQt6 under Xvfb)."""

import numpy as np
import pandas as pd
import pytest

from napari_gmm import make_seed_example

pytestmark = pytest.mark.gui

PLUGIN = "napari-gmm"


def _run(qtbot, widget, timeout=120_000):
    widget.controls.run_button.native.click()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def _table_rows(widget):
    value = widget.components.table.value
    return pd.DataFrame(value["data"], columns=value["columns"])


def test_component_dock_follows_the_clicked_candidate(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    assert not widget.files.table_button.enabled
    widget.form.k_max.value = 4
    _run(qtbot, widget)
    assert widget.files.table_button.enabled and widget.files.export_button.enabled
    widget.files.table_button.native.click()
    assert "GMM components (points)" in viewer.window.dock_widgets
    rows = _table_rows(widget)
    assert list(rows["label"]) == ["1", "2"]
    assert list(rows["count"]) == ["500", "500"]
    assert {"weight", "mean axis 0", "sd axis 1", "corr axis 0/axis 1"} <= set(
        rows.columns
    )
    assert "(the chosen model)" in widget.components.caption.value
    widget.show_candidate((4, "diag"))
    rows = _table_rows(widget)
    assert list(rows["label"]) == ["1", "2", "3", "4"]
    assert rows["count"].astype(int).sum() == 1000
    assert "4 clusters, axis-aligned (diag)" in widget.components.caption.value
    assert "chosen" not in widget.components.caption.value
    # the user closes the dock; the button brings it back
    viewer.window.remove_dock_widget(widget.components.panel.native)
    assert "GMM components (points)" not in viewer.window.dock_widgets
    widget.files.table_button.native.click()
    assert "GMM components (points)" in viewer.window.dock_widgets


def test_export_points_components_as_layers(points_widget, qtbot):
    viewer, widget = points_widget
    data = make_seed_example()
    features = pd.DataFrame({"area": np.arange(len(data), dtype=float)})
    points = viewer.add_points(data, features=features, name="spots", size=0.1)
    before = points.data.copy()
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    n_before = len(viewer.layers)
    widget.files.export_button.native.click()
    exported = list(viewer.layers)[n_before:]
    assert [layer.name for layer in exported] == [
        "spots component 1",
        "spots component 2",
    ]
    labels = viewer.layers["spots labels"].features["label"].to_numpy()
    for k, layer in enumerate(exported, start=1):
        np.testing.assert_array_equal(layer.data, data[labels == k])
        np.testing.assert_array_equal(
            layer.features["area"], np.flatnonzero(labels == k)
        )
        assert (layer.features["label"] == k).all()
    # the input is untouched, and the exports can be clustered in turn
    np.testing.assert_array_equal(points.data, before)
    assert list(points.features.columns) == ["area"]
    assert "spots component 1" in [name for name, _ in widget.inputs.points_layers()]
    assert "one per component" in widget.controls.status.value


def test_pooled_layers_record_their_source(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(0)
    a = viewer.add_points(rng.normal(0, 1, (300, 2)), name="a", size=0.1)
    b = viewer.add_points(rng.normal(8, 1, (200, 2)), name="b", size=0.2)
    widget.inputs.layer.value = a
    assert list(widget.inputs.pool.choices) == [b]
    widget.inputs.pool.value = [b]
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    out = viewer.layers["a + b labels"]
    assert len(out.data) == 500
    features = out.features
    assert list(features["source"].astype(str)) == ["a"] * 300 + ["b"] * 200
    np.testing.assert_array_equal(
        features["source_index"], np.r_[np.arange(300), np.arange(200)]
    )
    # every output point maps back to its input point
    for name, layer in (("a", a), ("b", b)):
        rows = features["source"].astype(str) == name
        np.testing.assert_array_equal(
            out.data[rows.to_numpy()], layer.data[features["source_index"][rows]]
        )
    assert widget.display.key[0] == 2
    labels = features["label"].to_numpy()
    assert len(set(labels[:300])) == 1 and len(set(labels[300:])) == 1
    np.testing.assert_allclose(out.size, np.r_[[0.1] * 300, [0.2] * 200])
    widget.files.table_button.native.click()
    assert "'a + b'" in widget.components.caption.value
    assert widget.components.table.shape[0] == 2


def test_pooling_layers_of_different_dimensionality_is_one_clear_error(
    points_widget,
):
    viewer, widget = points_widget
    flat = viewer.add_points(np.random.default_rng(0).normal(size=(20, 2)), name="flat")
    deep = viewer.add_points(np.random.default_rng(1).normal(size=(20, 3)), name="deep")
    widget.inputs.layer.value = flat
    widget.inputs.pool.value = [deep]
    failures = []
    widget.sweep_failed.connect(failures.append)
    assert widget.run() is None
    assert len(failures) == 1
    assert "same number of axes" in failures[0] and "'deep' is 3-D" in failures[0]
    assert [layer.name for layer in viewer.layers] == ["flat", "deep"]
    assert "source" not in flat.features and "source" not in deep.features


def test_color_by_a_feature_column(points_widget, qtbot):
    viewer, widget = points_widget
    data = make_seed_example()
    features = pd.DataFrame(
        {
            "area": np.linspace(0.0, 1.0, len(data)),
            "kind": np.where(np.arange(len(data)) % 2, "odd", "even"),
        }
    )
    viewer.add_points(data, features=features, name="spots")
    widget.form.k_max.value = 2
    _run(qtbot, widget)
    choices = list(widget.outputs.color_by.choices)
    assert choices[:4] == ["component", "label", "probability", "uncertainty"]
    assert {"area", "kind"} <= set(choices)
    out = viewer.layers["spots labels"]
    by_component = out.face_color.copy()
    assert len({tuple(c) for c in np.round(by_component, 6)}) == 2
    widget.outputs.color_by.value = "kind"
    out = viewer.layers["spots labels"]
    colors = np.round(out.face_color, 6)
    assert len({tuple(c) for c in colors}) == 2
    np.testing.assert_array_equal(colors[0], colors[2])  # both "even"
    assert "Colored by 'kind': 2 categories." in widget.controls.status.value
    widget.outputs.color_by.value = "area"
    out = viewer.layers["spots labels"]
    assert len({tuple(c) for c in np.round(out.face_color, 6)}) > 100
    assert "viridis" in widget.controls.status.value
    # the choice survives another candidate; component colors come back
    widget.show_candidate((1, "full"))
    assert widget.outputs.color_by.value == "area"
    widget.outputs.color_by.value = "component"
    out = viewer.layers["spots labels"]
    assert len({tuple(c) for c in np.round(out.face_color, 6)}) == 1


def test_image_component_dock_and_class_masks(image_widget, qtbot):
    viewer, widget = image_widget
    (cell,) = viewer.open_sample(PLUGIN, "cell")
    before = cell.data.copy()
    widget.form.k_max.value = 4
    _run(qtbot, widget)
    k = widget.display.model.n_components
    widget.files.table_button.native.click()
    rows = _table_rows(widget)
    assert list(rows["label"]) == [str(i) for i in range(1, k + 1)]
    assert rows["count"].astype(float).sum() == cell.data.size
    assert "dimmest" in widget.components.caption.value
    widget.show_candidate((2, "full"))
    assert len(_table_rows(widget)) == 2
    n_before = len(viewer.layers)
    widget.files.export_button.native.click()
    masks = list(viewer.layers)[n_before:]
    assert [layer.name for layer in masks] == ["cell class 1", "cell class 2"]
    classes = np.asarray(viewer.layers["cell classes"].data)
    for label, layer in enumerate(masks, start=1):
        np.testing.assert_array_equal(np.asarray(layer.data), classes == label)
        assert layer.scale.tolist() == cell.scale.tolist()
    np.testing.assert_array_equal(cell.data, before)
    # a class mask is offered as a mask for the next run
    assert masks[0] in [layer for _, layer in widget.inputs.mask_layers()]


def test_live_mode_follows_every_pooled_layer(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(0)
    a = viewer.add_points(rng.normal(0, 1, (200, 2)), name="a")
    b = viewer.add_points(rng.normal(8, 1, (200, 2)), name="b")
    widget.inputs.layer.value = a
    widget.inputs.pool.value = [b]
    widget.form.k_max.value = 2
    _run(qtbot, widget)
    widget.live.box.value = True
    with qtbot.waitSignal(widget.live_updated, timeout=30_000):
        b.add([[8.0, 8.5]])  # an edit of the second layer
    out = viewer.layers["a + b labels"]
    assert len(out.data) == 401
    assert out.features["source"].astype(str).iloc[-1] == "b"
    assert out.features["source_index"].iloc[-1] == 200
    np.testing.assert_array_equal(
        a.data, widget.display.request.points.split(out.data)["a"]
    )


def test_a_long_status_is_not_cut_off(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.window.show()  # a hidden label has no width to wrap to
    label = widget.controls.status.native
    qtbot.waitUntil(label.isVisible)
    widget.controls.status.value = "short"
    short = label.minimumHeight()
    widget.controls.status.value = " ".join(["a long sentence"] * 40)
    assert label.minimumHeight() > short
    assert label.minimumHeight() >= label.heightForWidth(label.width())
