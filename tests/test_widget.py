"""The widget in a real napari viewer (PyQt6 under Xvfb), opened via the manifest."""

import numpy as np
import pandas as pd
import pytest

from napari_gmm import make_seed_example
from napari_gmm._widget import GMMWidget

pytestmark = pytest.mark.gui

PLUGIN = "napari-gmm"


def _wait_idle(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def _output_layers(viewer):
    return [layer for layer in viewer.layers if layer.metadata.get("napari_gmm")]


def test_widget_from_manifest_reproduces_seed_example(points_widget, qtbot):
    viewer, widget = points_widget
    assert isinstance(widget, GMMWidget)
    (points,) = viewer.open_sample(PLUGIN, "seed_example")
    before = points.data.copy()
    features_before = points.features.copy()
    assert widget.inputs.layer.value is points

    widget.controls.run_button.native.click()
    assert widget.is_running
    _wait_idle(qtbot, widget)

    result = widget.last_result
    assert result is not None and result.best_key == (2, "full")
    labels_layer = viewer.layers["seed example labels"]
    ellipses = viewer.layers["seed example ellipses"]
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
    assert "2 clusters, any shape (full)" in widget.controls.status.value


def test_rerun_replaces_outputs_instead_of_piling_up(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    widget.form.k_max.value = 3
    widget.form.type_boxes["spherical"].value = False
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert len(viewer.layers) == 3
    assert len(_output_layers(viewer)) == 2
    assert len(widget.last_result.table) == 9


def test_more_shapes_box_sweeps_all_fourteen_models(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example()[::4], name="spots", size=0.1)
    widget.form.k_max.value = 2
    assert not widget.form.more_models.value  # off by default: the four
    widget.form.more_models.value = True
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    table = widget.last_result.table
    assert len(table) == 28  # K = 1, 2 x 14 models
    assert set(table["model"]) == {
        "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
        "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
    }  # fmt: skip
    # one line per model, a marker per candidate, in a legend of two rows
    assert len(widget.canvas.bars) == 14
    assert widget.canvas.bar_keys == {}
    assert len(widget.canvas.marker_points) == 28
    legend = widget.canvas.figure.axes[0].get_legend()
    assert len(legend.get_texts()) == 14
    assert legend._ncols == 7


def _lonely_marker(canvas, exclude):
    """A candidate whose marker is farthest (in pixels) from all others, and
    that distance."""
    canvas.draw()
    keys = list(canvas.marker_points)
    pixels = canvas.figure.axes[0].transData.transform(
        [canvas.marker_points[key] for key in keys]
    )
    gaps = np.linalg.norm(pixels[:, None] - pixels[None], axis=-1)
    np.fill_diagonal(gaps, np.inf)
    index = max(
        (i for i, key in enumerate(keys) if key != exclude),
        key=lambda i: gaps[i].min(),
    )
    return keys[index], gaps[index].min()


def test_clicking_a_marker_of_the_fourteen_models_shows_it(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example()[::4], name="spots", size=0.1)
    widget.form.k_max.value = 3
    widget.form.more_models.value = True
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    canvas = widget.canvas
    best = widget.last_result.best_key
    assert canvas.ring.get_xydata().tolist() == [list(canvas.marker_points[best])]
    assert "marker" in canvas.toolTip()
    key, gap = _lonely_marker(canvas, exclude=best)
    radius = canvas.pick_radius_px()
    assert gap > 2.4 * radius
    # half the gap beside that marker: more than a radius from every marker
    x_px, y_px = canvas.figure.axes[0].transData.transform(canvas.marker_points[key])
    _click_px(canvas, x_px + gap / 2, y_px)
    assert widget.display.key == best
    # on the marker, a little off its centre: that candidate is shown
    _click_px(canvas, x_px + 0.5 * radius, y_px - 0.5 * radius)
    assert widget.display.key == key
    assert viewer.layers["spots ellipses"].nshapes == key[0]
    labels = viewer.layers["spots labels"]
    assert labels.metadata["napari_gmm"]["covariance_type"] == key[1]
    assert canvas.ring.get_xydata().tolist() == [list(canvas.marker_points[key])]
    widget.controls.best_button.native.click()
    assert widget.display.key == best
    assert canvas.ring.get_xydata().tolist() == [list(canvas.marker_points[best])]


def test_cancel_leaves_viewer_and_input_unchanged(points_widget, qtbot):
    viewer, widget = points_widget
    data = np.random.default_rng(0).normal(size=(100_000, 2))
    layer = viewer.add_points(data, name="many")
    widget.form.k_max.value = 10
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget.controls.run_button.native.click()
    # let it get into the long candidates, then cancel mid-fit
    qtbot.waitUntil(lambda: widget.controls.progress.value >= 2, timeout=60_000)
    widget.controls.cancel_button.native.click()
    # the core checks the flag after every EM iteration, so this is quick;
    # the timeout only guards against a hang
    _wait_idle(qtbot, widget, timeout=20_000)
    assert failures and "Cancelled" in failures[0]
    assert _output_layers(viewer) == []
    np.testing.assert_array_equal(layer.data, data)
    controls = widget.controls
    assert controls.run_button.enabled and not controls.cancel_button.enabled


def test_layer_deleted_during_fit_discards_result(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
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
                [box.set_value(False) for box in w.form.type_boxes.values()],
            ),
            "at least one cluster shape",
        ),
        (
            lambda v, w: (
                v.add_points(np.ones((5, 2)), name="p"),
                w.form.k_min.set_value(7),
            ),
            "larger than 'to'",
        ),
    ],
)
def test_bad_input_gets_one_sentence_and_no_worker(points_widget, setup, message):
    viewer, widget = points_widget
    setup(viewer, widget)
    failures = []
    widget.sweep_failed.connect(failures.append)
    assert widget.run() is None
    assert not widget.is_running
    assert len(failures) == 1 and message in failures[0]
    assert _output_layers(viewer) == []


def _click(widget, key):
    """A real matplotlib mouse click at a candidate's bar centre or marker."""
    canvas = widget.canvas
    canvas.draw()
    x_px, y_px = canvas.figure.axes[0].transData.transform(canvas.position_of(key))
    _click_px(canvas, x_px, y_px)


def _click_px(canvas, x_px, y_px):
    """A real matplotlib left click at a point of the canvas, in pixels."""
    from matplotlib.backend_bases import MouseEvent

    MouseEvent("button_press_event", canvas, x_px, y_px, button=1)._process()


def test_clicking_a_bar_shows_that_candidate_and_best_returns(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    _click(widget, (4, "diag"))
    assert widget.display.key == (4, "diag")
    labels = viewer.layers["spots labels"]
    assert labels.features["label"].nunique() == 4
    assert viewer.layers["spots ellipses"].nshapes == 4
    assert labels.metadata["napari_gmm"]["covariance_type"] == "diag"
    assert (
        "4 clusters" in widget.controls.status.value
        and "above the best" in widget.controls.status.value
    )
    assert widget.canvas.bar_of((4, "diag")).get_edgecolor()[:3] == (0, 0, 0)
    widget.controls.best_button.native.click()
    assert widget.display.key == (2, "full")
    assert viewer.layers["spots ellipses"].nshapes == 2


def test_save_table_writes_the_criterion_csv(
    points_widget, qtbot, tmp_path, monkeypatch
):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    widget.form.k_max.value = 3
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    target = tmp_path / "table.csv"
    monkeypatch.setattr(
        "napari_gmm._qt.model_files.ask_save_path", lambda *args, **kwargs: str(target)
    )
    widget.files.save_button.native.click()
    table = pd.read_csv(target)
    pd.testing.assert_frame_equal(
        table[["covariance_type", "n_components", "bic"]],
        widget.last_result.table[["covariance_type", "n_components", "bic"]],
    )


def _colors_by_point(layer):
    return [tuple(np.round(c, 6)) for c in layer.face_color]


def test_live_mode_follows_edits_and_keeps_colors(points_widget, qtbot):
    viewer, widget = points_widget
    points = viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    labels_layer = viewer.layers["spots labels"]
    colors_before = _colors_by_point(labels_layer)
    assert len(set(colors_before)) == 2
    widget.live.box.value = True
    assert widget.live.mode.value == "warm start"

    with qtbot.waitSignal(widget.live_updated, timeout=30_000):
        points.add([[15.0, -12.0]])  # far from both clusters
    labels_layer = viewer.layers["spots labels"]
    assert len(labels_layer.data) == 1001
    colors_after = _colors_by_point(labels_layer)
    assert set(colors_after) == set(colors_before)  # the two colors are kept
    kept = np.mean(
        [a == b for a, b in zip(colors_before, colors_after[:1000], strict=True)]
    )
    assert kept > 0.99
    assert labels_layer.features["label"].iloc[-1] in (1, 2)
    _wait_idle(qtbot, widget)
    bar = widget.controls.progress.native
    assert (bar.value(), bar.maximum(), bar.text()) == (1, 1, "1/1 fitted")

    points.selected_data = set(range(100))  # 100 points of the stretched blob
    with qtbot.waitSignal(widget.live_updated, timeout=30_000):
        points.remove_selected()
    labels_layer = viewer.layers["spots labels"]
    assert len(labels_layer.data) == 901
    remaining = labels_layer.features["label"].to_numpy()
    stretched, round_blob = remaining[:400], remaining[400:900]
    assert len(set(stretched)) == 1 and len(set(round_blob)) == 1
    assert stretched[0] != round_blob[0]
    assert len(points.data) == 901  # the user's own edit, not ours


def test_live_new_sweep_mode_recolors_new_components_only(points_widget, qtbot):
    viewer, widget = points_widget
    points = viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.form.type_boxes["spherical"].value = False
    widget.form.type_boxes["tied"].value = False
    widget.form.type_boxes["diag"].value = False
    widget.form.k_max.value = 4
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    old = {
        k: tuple(c)
        for k, c in zip(widget.display.slots, widget.display.model.means_, strict=True)
    }
    widget.live.box.value = True
    widget.live.mode.value = "new sweep"
    blob = np.random.default_rng(3).normal(size=(300, 2)) * 0.3 + [8.0, -8.0]
    with qtbot.waitSignal(widget.live_updated, timeout=60_000):
        points.add(blob)
    display = widget.display
    assert display.key == (3, "full")
    # the two old components keep their slots (and so their colors)
    for slot, mean in zip(display.slots, display.model.means_, strict=True):
        if slot in old:
            assert np.linalg.norm(np.subtract(mean, old[slot])) < 0.5
    assert sorted(display.slots) == [0, 1, 2]


def test_feature_columns_get_a_feature_space_view(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(2)
    n = 300
    features = pd.DataFrame(
        {
            "area": np.r_[rng.normal(50, 5, n), rng.normal(120, 10, n)],
            "intensity": np.r_[rng.normal(1000, 80, n), rng.normal(400, 50, n)],
            "name": ["cell"] * (2 * n),
        }
    )
    layer = viewer.add_points(rng.uniform(0, 100, (2 * n, 2)), features=features)
    assert widget.inputs.columns.choices == ("area", "intensity")
    widget.inputs.coordinates.value = "none"
    widget.inputs.columns.value = ["area", "intensity"]
    widget.inputs.standardize.value = True
    widget.form.k_max.value = 4
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.display.key[0] == 2
    labels = viewer.layers[f"{layer.name} labels"]
    assert sorted(labels.features["label"].value_counts()) == [n, n]
    # no ellipses in image space: the clustered space is the feature space
    assert f"{layer.name} ellipses" not in viewer.layers
    axes = widget.feature_dock.canvas.figure.axes[0]
    assert axes.get_xlabel() == "area" and axes.get_ylabel() == "intensity"
    assert len(axes.patches) == 2
    assert widget.feature_dock.dock is not None


def test_bad_feature_values_are_reported(points_widget):
    viewer, widget = points_widget
    features = pd.DataFrame({"area": [1.0, np.nan, 3.0, 4.0]})
    viewer.add_points(np.zeros((4, 2)), features=features)
    widget.inputs.columns.value = ["area"]
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget.run()
    assert failures and "NaN" in failures[0] and "area" in failures[0]


def test_confidence_level_sizes_the_ellipses(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    two_sigma = viewer.layers["spots ellipses"].data[0].copy()
    widget.outputs.ellipse_unit.value = "confidence"
    assert widget.outputs.ellipse_size.value == 95.0
    ninety_five = viewer.layers["spots ellipses"].data[0]
    ratio = np.ptp(ninety_five, axis=0).max() / np.ptp(two_sigma, axis=0).max()
    assert ratio == pytest.approx(np.sqrt(-2 * np.log(0.05)) / 2.0, rel=1e-6)


def test_three_d_points_give_ellipsoids_matching_the_truth(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(1)
    means = np.array([[5.0, 10.0, 10.0], [15.0, 30.0, 12.0], [25.0, 15.0, 35.0]])
    sigmas = np.array([[1.0, 2.0, 3.0], [2.0, 1.5, 1.0], [1.5, 1.5, 1.5]])
    n = 2000
    data = np.concatenate(
        [rng.normal(m, s, (n, 3)) for m, s in zip(means, sigmas, strict=True)]
    )
    viewer.add_points(data, name="spots3d", size=0.5)
    widget.form.k_max.value = 4
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    model = widget.display.model
    assert widget.display.key[0] == 3
    surface = viewer.layers["spots3d ellipsoids"]
    vertices = surface.data[0]
    per_component = len(vertices) // 3
    radius = widget.ellipse_radius(3)
    for k in range(3):
        centre = vertices[k * per_component : (k + 1) * per_component].mean(axis=0)
        true = int(np.argmin(np.linalg.norm(means - centre, axis=1)))
        # centre within 5 standard errors of the generating mean
        assert np.all(np.abs(centre - means[true]) < 5 * sigmas[true] / np.sqrt(n))
        # semi-axes: the ellipsoid's extent along each axis is r * sigma (diag truth)
        extent = (
            np.ptp(vertices[k * per_component : (k + 1) * per_component], axis=0) / 2
        )
        np.testing.assert_allclose(extent, radius * sigmas[true], rtol=0.1)
        np.testing.assert_allclose(model.means_[k], centre, atol=1e-6)
    sections = viewer.layers["spots3d ellipses"]
    assert sections.ndim == 3 and sections.nshapes > 3
    # 2-D view shows the sections, 3-D view the ellipsoids
    assert sections.visible and not surface.visible
    viewer.dims.ndisplay = 3
    assert surface.visible and not sections.visible
    # every section lies in one slice plane
    assert all(np.ptp(shape[:, 0]) == 0 for shape in sections.data)
    assert sorted(viewer.layers["spots3d labels"].features["label"].value_counts()) == [
        n,
        n,
        n,
    ]


def test_save_and_apply_model_round_trip(points_widget, qtbot, tmp_path):
    viewer, widget = points_widget
    data = make_seed_example()
    viewer.add_points(data, name="spots")
    widget.inputs.standardize.value = True
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    fitted = viewer.layers["spots labels"].features["label"].to_numpy()
    path = widget.save_model(path=str(tmp_path / "model.json"))
    assert (tmp_path / "model.json").is_file()
    other = viewer.add_points(data.copy(), name="other spots")
    widget.inputs.layer.value = other
    saved = widget.apply_model(path=path)
    assert saved is not None
    applied = viewer.layers["other spots labels"].features["label"].to_numpy()
    np.testing.assert_array_equal(applied, fitted)
    assert "without refitting" in widget.controls.status.value
    assert not widget.controls.best_button.enabled  # no sweep behind a loaded model
    failures = []
    widget.sweep_failed.connect(failures.append)
    (tmp_path / "bad.json").write_text("{}")
    assert widget.apply_model(path=str(tmp_path / "bad.json")) is None
    assert "not a napari-gmm model" in failures[-1]


def test_stability_seeds_components_export_and_evidence(points_widget, qtbot, tmp_path):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    widget.form.k_max.value = 3
    widget.form.seeds.value = 3
    widget.form.init.value = "k-means++"
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    table = widget.last_result.table
    assert "chosen_fraction" in table and table["chosen_fraction"].max() == 1.0
    status = widget.controls.status.value
    assert "chosen by 100% of the stability seeds" in status.lower()
    assert "very strong evidence" in widget.controls.status.value
    assert widget.controls.progress.value == widget.controls.progress.max == 36
    axes = widget.canvas.figure.axes[0]
    assert any(t.get_text() == "100%" for t in axes.texts)
    path = widget.save_components(path=str(tmp_path / "components.csv"))
    components = pd.read_csv(path)
    assert list(components["count"]) == [500, 500]
    assert components["color"].str.startswith("#").all()
    assert widget.last_result.best.init_params == "k-means++"


def test_first_fit_after_installing_says_it_compiles(points_widget, qtbot, monkeypatch):
    # (an empty numba cache is not made here: the compile takes half a
    # minute; test_kernels checks needs_compiling itself)
    from napari_gmm._qt import run_controller

    viewer, widget = points_widget
    viewer.open_sample(PLUGIN, "seed_example")
    monkeypatch.setattr(run_controller, "needs_compiling", lambda: True)
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    assert run_controller.FIRST_COMPILE_NOTE in widget.controls.status.value
    _wait_idle(qtbot, widget)
    # the result line replaces it
    assert run_controller.FIRST_COMPILE_NOTE not in widget.controls.status.value
    assert widget.last_result is not None


def test_points_on_one_slice_get_two_clusters_and_ellipses(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(1)
    yx = np.r_[rng.normal(0, 1, (80, 2)), rng.normal(8, 1, (80, 2))]
    data = np.column_stack([np.full(160, 7.0), yx])
    layer = viewer.add_points(
        data, name="slice spots", features={"area": np.arange(160.0)}
    )
    widget.form.k_max.value = 4
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result.best_key[0] == 2
    note = "Every point has the same data coordinate on axis 0 (7)"
    assert note in widget.controls.status.value
    assert viewer.layers["slice spots ellipses"].nshapes == 2
    np.testing.assert_array_equal(layer.data, data)
    # coloring by a column keeps the note (and adds the legend)
    widget.outputs.color_by.value = "area"
    assert note in widget.controls.status.value
    assert "area" in widget.controls.status.value
