"""Noise component and cross-validation in the points widget, in a real viewer."""

import numpy as np
import pytest

from napari_gmm._colors import NOISE_COLOR

pytestmark = pytest.mark.gui

PLUGIN = "napari-gmm"


def _wait_idle(qtbot, widget, timeout=180_000):
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def test_noise_component_labels_outliers_grey(points_widget, qtbot, tmp_path):
    viewer, widget = points_widget
    (points,) = viewer.open_sample(PLUGIN, "spots_with_outliers")
    before = points.data.copy()
    truth = points.features["outlier (truth)"].to_numpy()
    widget.form.k_max.value = 4
    widget.form.noise.value = True
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)

    result = widget.last_result
    assert result.best_key[0] == 2
    assert "noise_weight" in result.table.columns
    labeled = viewer.layers["noisy spots labels"]
    features = labeled.features
    assert features["is_noise"].dtype == bool
    np.testing.assert_array_equal(features["is_noise"], features["label"] == 0)
    assert features["is_noise"][truth].mean() >= 0.9
    # noise points are drawn in the noise color, the others are not
    noise_rows = features["is_noise"].to_numpy()
    np.testing.assert_allclose(
        labeled.face_color[noise_rows], NOISE_COLOR[None].repeat(noise_rows.sum(), 0)
    )
    assert not np.allclose(labeled.face_color[~noise_rows][0], NOISE_COLOR)
    # two ellipses: one per Gaussian, none for the noise
    assert viewer.layers["noisy spots ellipses"].nshapes == 2
    assert "of the data are noise" in widget.controls.status.value
    assert "lower is better" in widget.controls.status.value
    np.testing.assert_array_equal(points.data, before)
    assert "is_noise" not in points.features
    # the component table (dock and CSV) has a grey noise row with label 0
    table = widget.component_table()
    assert list(table["label"]) == [1, 2, 0]
    assert table["count"].sum() == len(points.data)
    assert table["color"].iloc[-1] == "#bfbfbf"
    widget.show_component_dock()
    # exporting puts the noise points in a layer of their own
    widget.export_components()
    noise_layer = viewer.layers["noisy spots noise"]
    assert len(noise_layer.data) == int(features["is_noise"].sum())
    # the saved model keeps the noise, the settings and the component table
    from napari_gmm.core.model_io import load_model

    saved = load_model(widget.save_model(path=tmp_path / "noisy.json"))
    assert saved.model.noise_weight_ == result.best.noise_weight_
    assert saved.settings["noise"] is True
    assert list(saved.components["label"]) == [1, 2, 0]


def test_cv_criterion_in_the_widget(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.open_sample(PLUGIN, "seed_example")
    widget.form.k_max.value = 3
    widget.form.criterion.value = "cv"
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    result = widget.last_result
    assert result.criterion == "cv"
    assert result.settings["cv_folds"] == 5
    assert np.isfinite(result.table["cv"]).all()
    assert result.best_key == (2, "full")
    status = widget.controls.status.value
    assert "CV" in status and "lower is better" in status
    assert "evidence" not in status  # Kass-Raftery grades are for BIC
    (axes,) = widget.canvas.figure.axes
    assert axes.get_ylabel() == "ΔCV: −2 × held-out log L to the best"


def test_bad_cv_folds_is_one_sentence_and_nothing_changes(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.open_sample(PLUGIN, "seed_example")
    widget.form.cv_folds.value = 1
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result is None
    assert "cv_folds must be >= 2" in widget.controls.status.value
    assert len(viewer.layers) == 1
    # the widget still works after the error
    widget.form.cv_folds.value = 0
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    assert widget.last_result is not None


def test_closing_the_widget_closes_its_component_table(points_widget, qtbot):
    viewer, widget = points_widget
    viewer.open_sample(PLUGIN, "seed_example")
    widget.form.k_max.value = 2
    widget.controls.run_button.native.click()
    _wait_idle(qtbot, widget)
    widget.show_component_dock()
    panel = widget.components.panel
    assert any(
        inner is panel or inner is panel.native
        for inner in viewer.window.dock_widgets.values()
    )
    viewer.window.remove_dock_widget(widget.native)  # the user closes the plugin

    def table_gone():
        docked = viewer.window.dock_widgets.values()
        return not any(inner is panel or inner is panel.native for inner in docked)

    qtbot.waitUntil(table_gone, timeout=5_000)
