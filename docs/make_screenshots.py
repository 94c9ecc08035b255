"""Regenerate the screenshots of docs/points.md (run under xvfb-run).

xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
import numpy as np
import pandas as pd
from qtpy.QtWidgets import QApplication

from napari_gmm import make_seed_example

IMAGES = Path(__file__).parent / "images"
PLUGIN, WIDGET = "napari-gmm", "Gaussian mixture selection"
#: Screenshots show what a laptop user sees: a 1366 x 768 window.
LAPTOP = (1366, 768)


def _settle(seconds: float = 0.5) -> None:
    app = QApplication.instance()
    end = __import__("time").time() + seconds
    while __import__("time").time() < end:
        app.processEvents()


def _wait(widget, signal_name="sweep_finished", timeout=120.0):
    done = []
    getattr(widget, signal_name).connect(lambda *_: done.append(True))
    failed = []
    widget.sweep_failed.connect(failed.append)
    import time

    end = time.time() + timeout
    while not done and not failed and time.time() < end:
        QApplication.instance().processEvents()
        time.sleep(0.02)
    if failed or not done:
        sys.exit(f"screenshot run failed: {failed or 'timeout'}")
    _settle()


def _new_viewer(**kwargs):
    return _docked(WIDGET, **kwargs)


def _docked(name, **kwargs):
    viewer = napari.Viewer(**kwargs)
    viewer.window._qt_window.resize(*LAPTOP)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return viewer, widget


def _shrink_bottom_dock(viewer, name, height=190):
    """The component table needs a few rows, not half of a laptop screen."""
    from qtpy.QtCore import Qt

    window = viewer.window._qt_window
    dock = viewer.window._wrapped_dock_widgets[name]
    window.resizeDocks([dock], [height], Qt.Orientation.Vertical)
    _settle()


def _close_toasts(viewer) -> None:
    """Close napari's notification pop-ups (e.g. a non-convergence warning
    of one candidate, which the result line already reports)."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    _settle()


def _shot(viewer, name):
    viewer.screenshot(str(IMAGES / name), canvas_only=False)
    print("wrote", IMAGES / name)


def clicked_candidate_and_live():
    viewer, widget = _new_viewer()
    points = viewer.add_points(make_seed_example(), name="spots", size=0.08)
    viewer.dims.order = (1, 0)
    viewer.camera.orientation2d = ("up", "right")
    widget.run()
    _wait(widget)
    widget.show_candidate((4, "diag"))
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_clicked_candidate.png")
    widget.show_best()
    widget.live.box.value = True
    widget.live.mode.value = "new sweep"
    blob = np.random.default_rng(3).normal(size=(150, 2)) * 0.4 + [6.0, 6.0]
    points.add(blob)
    _wait(widget, "live_updated")
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_live.png")
    viewer.close()


def three_d():
    viewer, widget = _new_viewer()
    rng = np.random.default_rng(1)
    means = np.array([[5.0, 10.0, 10.0], [15.0, 30.0, 12.0], [25.0, 15.0, 35.0]])
    sigmas = np.array([[1.0, 2.0, 3.0], [2.0, 1.5, 1.0], [1.5, 1.5, 1.5]])
    data = np.concatenate(
        [rng.normal(m, s, (400, 3)) for m, s in zip(means, sigmas, strict=True)]
    )
    spots = viewer.add_points(data, name="spots3d", size=0.3)
    widget.form.k_max.value = 5
    widget.run()
    _wait(widget)
    spots.visible = False  # the colored copy is enough here
    viewer.dims.ndisplay = 3
    viewer.camera.angles = (10, -30, 60)
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_3d_ellipsoids.png")
    viewer.dims.ndisplay = 2
    viewer.dims.set_point(0, 15.0)
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_3d_slice.png")
    viewer.close()


def feature_space():
    viewer, widget = _new_viewer()
    rng = np.random.default_rng(2)
    n = 300
    features = pd.DataFrame(
        {
            "area": np.r_[rng.normal(50, 5, n), rng.normal(120, 10, n)],
            "intensity": np.r_[rng.normal(1000, 80, n), rng.normal(400, 50, n)],
        }
    )
    viewer.add_points(
        rng.uniform(0, 100, (2 * n, 2)), features=features, name="cells", size=2
    )
    widget.inputs.coordinates.value = "none"
    widget.inputs.columns.value = ["area", "intensity"]
    widget.inputs.standardize.value = True
    widget.run()
    _wait(widget)
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_feature_space.png")
    viewer.close()


def image_segmentation():
    viewer, widget = _docked("Segment image intensities")
    viewer.open_sample(PLUGIN, "cell")
    widget.inputs.probability.value = True
    widget.run()
    _wait(widget)
    viewer.reset_view()
    _settle()
    _shot(viewer, "image_cell.png")
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    viewer.open_sample(PLUGIN, "immunohistochemistry")
    widget.inputs.probability.value = False
    widget.form.k_max.value = 4
    widget.run()
    _wait(widget)
    widget.plot_tabs.setCurrentIndex(1)  # the 2-D histogram, red vs green
    viewer.reset_view()
    _settle()
    _shot(viewer, "image_rgb.png")
    viewer.close()


def _cells(rng, n, offset=(0.0, 0.0)):
    """Two kinds of cells with area and intensity, scattered over a field."""
    features = pd.DataFrame(
        {
            "area": np.r_[rng.normal(50, 5, n), rng.normal(120, 10, n)],
            "intensity": np.r_[rng.normal(1000, 80, n), rng.normal(400, 50, n)],
        }
    )
    return rng.uniform(0, 100, (2 * n, 2)) + offset, features


def components_and_export():
    """Component table dock and the exported component layers (points)."""
    viewer, widget = _new_viewer()
    viewer.add_points(make_seed_example(), name="spots", size=0.08)
    viewer.dims.order = (1, 0)
    viewer.camera.orientation2d = ("up", "right")
    widget.form.k_max.value = 4
    widget.run()
    _wait(widget)
    widget.show_component_dock()
    _shrink_bottom_dock(viewer, widget.components_dock_name)
    widget.export_components()
    viewer.layers["spots"].visible = False
    viewer.layers["spots labels"].visible = False
    viewer.layers.selection.active = viewer.layers["spots component 2"]
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_components.png")
    viewer.close()


def pooled_layers():
    """Two Points layers clustered together, colored by their source."""
    viewer, widget = _new_viewer()
    rng = np.random.default_rng(4)
    data, features = _cells(rng, 150)
    viewer.add_points(data, features=features, name="well A1", size=2)
    data, features = _cells(rng, 100, offset=(0.0, 110.0))
    viewer.add_points(data, features=features, name="well A2", size=2)
    widget.choose_layers(viewer.layers["well A1"], viewer.layers["well A2"])
    widget.inputs.coordinates.value = "none"
    widget.inputs.columns.value = ["area", "intensity"]
    widget.inputs.standardize.value = True
    widget.form.k_max.value = 4
    widget.run()
    _wait(widget)
    for name in ("well A1", "well A2"):
        viewer.layers[name].visible = False
    widget.outputs.color_by.value = "source"
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_pooled.png")
    # the feature-space dock is in the shot above; make room for the status
    viewer.window.remove_dock_widget(widget.feature_dock.panel.native)
    widget.outputs.color_by.value = "intensity"
    _settle()
    _shot(viewer, "points_color_by.png")
    viewer.close()


def image_class_masks():
    """The image widget's component table and one mask layer per class."""
    viewer, widget = _docked("Segment image intensities")
    viewer.open_sample(PLUGIN, "cell")
    widget.run()
    _wait(widget)
    widget.show_component_dock()
    _shrink_bottom_dock(viewer, widget.components_dock_name)
    widget.export_components()
    viewer.layers["cell classes"].visible = False
    for layer in list(viewer.layers)[:-1]:
        if layer.name.startswith("cell class"):
            layer.visible = False
    viewer.reset_view()
    _settle()
    _shot(viewer, "image_class_masks.png")
    viewer.close()


def noise_component():
    """docs/model-selection.md: outliers labelled noise (grey), two ellipses."""
    viewer, widget = _new_viewer()
    viewer.open_sample(PLUGIN, "spots_with_outliers")
    viewer.dims.order = (1, 0)
    viewer.camera.orientation2d = ("up", "right")
    widget.form.k_max.value = 4
    widget.form.noise.value = True
    widget.run()
    _wait(widget)
    viewer.layers["noisy spots"].visible = False
    viewer.reset_view()
    _settle()
    _shot(viewer, "points_noise.png")
    viewer.close()


def fourteen_models():
    """The "+ 10 more shapes" box: mclust's 14 models on clusters of one size
    and shape in three orientations (mclust's EEV)."""
    viewer, widget = _new_viewer()
    rng = np.random.default_rng(5)
    shape = np.diag([4.0, 0.25])
    parts = []
    for angle, centre in zip((0.0, 1.0, 2.1), ((0, 0), (8, 2), (3, 9)), strict=True):
        rotation = np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        covariance = rotation @ shape @ rotation.T
        parts.append(rng.multivariate_normal(centre, covariance, 200))
    viewer.add_points(np.concatenate(parts), name="spots", size=0.3)
    widget.form.k_max.value = 9  # 126 candidates: one line per model
    widget.form.more_models.value = True
    widget.run()
    _wait(widget, timeout=600.0)
    viewer.reset_view()
    _close_toasts(viewer)
    _shot(viewer, "points_14_models.png")
    viewer.close()


if __name__ == "__main__":
    targets = sys.argv[1:] or [
        "points",
        "three_d",
        "features",
        "images",
        "components",
        "noise",
        "models",
    ]
    if "components" in targets:
        components_and_export()
        pooled_layers()
        image_class_masks()
    if "points" in targets:
        clicked_candidate_and_live()
    if "three_d" in targets:
        three_d()
    if "features" in targets:
        feature_space()
    if "images" in targets:
        image_segmentation()
    if "noise" in targets:
        noise_component()
    if "models" in targets:
        fourteen_models()
