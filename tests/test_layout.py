"""The docks on a laptop screen, and what the result says (real viewer, Xvfb)."""

import numpy as np
import pytest
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QSlider,
)

from napari_gmm import make_seed_example

pytestmark = pytest.mark.gui

PLUGIN = "napari-gmm"
WIDGETS = {
    "points": "Gaussian mixture selection",
    "image": "Segment image intensities",
}
LAPTOP = (1366, 768)
INPUTS = (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QSlider,
    QAbstractItemView,
)


def _wait_idle(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def visible_inputs(widget) -> list:
    """Input controls of the dock a user can see now (collapsed ones are not)."""
    found = []
    for kind in INPUTS:
        for child in widget.native.findChildren(kind):
            if child.isVisible() and child not in found:
                found.append(child)
    return found


def _window_size(viewer):
    size = viewer.window._qt_window.size()
    return size.width(), size.height()


@pytest.mark.parametrize("kind", list(WIDGETS))
def test_each_dock_fits_a_laptop_screen(make_napari_viewer, qtbot, kind):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGETS[kind])
    if kind == "points":
        viewer.add_points(make_seed_example(), name="spots", size=0.1)
    else:
        from skimage import data

        viewer.add_image(data.cell(), name="cell")
    window = viewer.window._qt_window
    window.resize(*LAPTOP)
    qtbot.wait(300)
    assert _window_size(viewer) == LAPTOP
    # the dock asks for no more height than a laptop screen has
    dock = widget.native.parentWidget()
    assert dock.minimumSizeHint().height() < 500
    # a short default form: layer(s), K range, noise, Run/Cancel
    shown = visible_inputs(widget)
    assert 0 < len(shown) <= 12, [type(w).__name__ for w in shown]
    widget.form.k_max.value = 3
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    # a long result wraps instead of growing the window
    widget.controls.status.value = " ".join(["a long result sentence"] * 30)
    qtbot.wait(300)
    assert _window_size(viewer) == LAPTOP
    assert len(visible_inputs(widget)) <= 12
    # so does the table of components, in a dock under the canvas
    widget.show_component_dock()
    qtbot.wait(300)
    assert _window_size(viewer) == LAPTOP


@pytest.mark.parametrize("kind", list(WIDGETS))
def test_every_control_has_a_tooltip(make_napari_viewer, kind):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGETS[kind])
    missing = []
    for form in widget.forms:
        for row in form:
            widgets = list(row) if hasattr(row, "__iter__") else [row]
            for inner in widgets:
                for item in list(inner) if hasattr(inner, "__iter__") else [inner]:
                    if not item.tooltip:
                        missing.append(item.label or item.text)
    assert not missing
    for button in (widget.controls.run_button, widget.files.save_model_button):
        assert button.tooltip


def test_covariance_types_are_named_by_shape_with_sklearn_name_in_tooltip(
    points_widget,
):
    _, widget = points_widget
    full = widget.form.type_boxes["full"]
    assert full.text == "any shape"
    assert "'full'" in full.tooltip
    assert widget.form.type_boxes["tied"].text == "same shape for all"
    assert widget.form.type_boxes["diag"].text == "axis-aligned"


def test_input_stays_active_and_output_names_are_short(points_widget, qtbot):
    viewer, widget = points_widget
    spots = viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.form.k_max.value = 3
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert viewer.layers.selection.active is spots
    names = [layer.name for layer in viewer.layers]
    assert names == ["spots", "spots labels", "spots ellipses"]
    # the colored copy is shown; the input under it is hidden (noise reads grey)
    assert not spots.visible
    widget.live.box.value = True  # live update edits the input: shown again
    assert spots.visible


def test_long_layer_names_are_shortened_in_outputs(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="a very long layer name indeed")
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    outputs = [layer.name for layer in viewer.layers][1:]
    assert outputs == ["a very long lay… labels", "a very long lay… ellipses"]


def test_chosen_k_at_the_top_of_the_range_offers_a_wider_one(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result.best_key == (2, "full")
    assert "2 is the most clusters tried" in widget.controls.status.value
    assert widget.controls.widen_button.native.isVisibleTo(widget.native)
    assert widget.controls.widen_button.text == "Try up to 5 clusters"
    widget.controls.widen_button.native.click()
    assert widget.is_running
    _wait_idle(qtbot, widget)
    assert widget.form.k_max.value == 5
    assert widget.last_result.best_key == (2, "full")
    assert "most clusters tried" not in widget.controls.status.value
    assert not widget.controls.widen_button.native.isVisibleTo(widget.native)


def test_chosen_k_at_the_bottom_of_the_range_says_so(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(0)
    blobs = [rng.normal(c, 1.0, (200, 2)) for c in [(0, 0), (10, 0), (0, 10)]]
    viewer.add_points(np.concatenate(blobs), name="three", size=0.3)
    widget.form.k_min.value, widget.form.k_max.value = 3, 5
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result.best_key[0] == 3
    assert "3 is the fewest clusters tried: try from 1." in widget.controls.status.value


def test_show_best_appears_only_for_another_candidate(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.form.k_max.value = 3
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    best = widget.controls.best_button.native
    assert not best.isVisibleTo(widget.native)
    widget.canvas.on_select((3, "diag"))
    assert best.isVisibleTo(widget.native)
    assert "Showing 3 clusters, axis-aligned (diag)" in widget.controls.status.value
    best.click()
    assert not best.isVisibleTo(widget.native)


def test_plot_shows_delta_to_the_best_with_a_visible_winning_bar(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    (axes,) = widget.canvas.figure.axes
    assert axes.get_ylabel() == "ΔBIC to the best"
    winner = widget.canvas.bar_of((2, "full"))
    assert winner.get_y() < 0 < winner.get_y() + winner.get_height() + 1e-9
    assert winner.get_y() + winner.get_height() == pytest.approx(0.0, abs=1e-6)
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["round", "same shape for all", "axis-aligned", "any shape"]


def test_saved_model_gets_a_json_suffix(points_widget, qtbot, tmp_path):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots", size=0.1)
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    path = widget.save_model(path=str(tmp_path / "model"))
    assert path.endswith("model.json")
    assert (tmp_path / "model.json").exists()
    assert not (tmp_path / "model").exists()
    assert widget.save_model(path=str(tmp_path / "b.JSON")).endswith("b.JSON")


def test_noise_points_are_outlined(points_widget, qtbot):
    viewer, widget = points_widget
    (layer,) = viewer.open_sample(PLUGIN, "spots_with_outliers")
    widget.form.k_max.value = 3
    widget.form.noise.value = True
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    out = viewer.layers[f"{layer.name} labels"]
    noise = out.features["label"].to_numpy() == 0
    assert noise.any()
    assert np.all(out.border_width[noise] > 0)
    assert np.all(out.border_width[~noise] == 0)


def test_image_classes_are_described_by_intensity_ranges(image_widget, qtbot):
    viewer, widget = image_widget
    (coins,) = viewer.open_sample(PLUGIN, "coins")
    widget.inputs.contiguous.value = False
    widget.form.criterion.value = "bic"  # more classes than ICL's 2 on coins
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    # the most probable class per intensity: one class spans two ranges
    ranges = widget.class_ranges()
    assert any(len(spans) > 1 for spans in ranges.values())
    assert "spans separate ranges" in widget.controls.status.value
    table = widget.component_table()
    assert "intensities" in table
    assert any("," in text for text in table["intensities"])
    assert table["count"].sum() == coins.data.size
    # classes as intensity ranges: label order is brightness order
    widget.inputs.contiguous.value = True
    ranges = widget.class_ranges()
    assert all(len(spans) == 1 for spans in ranges.values())
    labels = np.asarray(viewer.layers["coins classes"].data)
    image = np.asarray(coins.data)
    for k in range(1, labels.max()):
        assert image[labels == k].max() < image[labels == k + 1].min()
    assert "By intensity: 1: " in widget.controls.status.value
    assert "spans separate ranges" not in widget.controls.status.value
    table = widget.component_table()
    assert "," not in "".join(table["intensities"])
    counts = np.bincount(labels.ravel(), minlength=len(table) + 1)[1:]
    np.testing.assert_array_equal(table["count"], counts)
    assert viewer.layers.selection.active is coins


def test_rgb_histogram_axes_are_named_by_color(image_widget, qtbot):
    viewer, widget = image_widget
    viewer.open_sample(PLUGIN, "immunohistochemistry")
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget, timeout=300_000)
    (axes,) = widget.histogram_canvas.figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("red", "green")
    assert list(widget.component_table().filter(like="mean ").columns) == [
        "mean red",
        "mean green",
        "mean blue",
    ]
