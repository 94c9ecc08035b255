"""The image widget in a real napari viewer (PyQt6 under Xvfb)."""

import dask.array as da
import numpy as np
import pytest

from napari_gmm._image_widget import SegmentWidget

pytestmark = pytest.mark.gui

PLUGIN = "napari-gmm"


def _run_and_wait(qtbot, widget, timeout=120_000):
    widget.controls.run_button.native.click()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def test_cell_sample_gives_labels_ordered_by_intensity(image_widget, qtbot):
    viewer, widget = image_widget
    assert isinstance(widget, SegmentWidget)
    (cell,) = viewer.open_sample(PLUGIN, "cell")
    before = cell.data.copy()
    assert widget.inputs.images.value == [cell]
    widget.inputs.probability.value = True
    _run_and_wait(qtbot, widget)
    segmentation = widget.last_result
    k = segmentation.n_classes
    labels_layer = viewer.layers["cell classes"]
    labels = np.asarray(labels_layer.data)
    assert labels.shape == cell.data.shape
    assert sorted(np.unique(labels)) == list(range(1, k + 1))
    means = [cell.data[labels == c].mean() for c in range(1, k + 1)]
    assert np.all(np.diff(means) > 0)  # label 1 is the dimmest
    assert "cell uncertainty" in viewer.layers
    np.testing.assert_array_equal(cell.data, before)  # input untouched
    assert sum(len(b) for b in widget.canvas.bars.values()) == 20
    assert widget.histogram_canvas.figure.axes  # histogram drawn
    assert "By intensity: 1: " in widget.controls.status.value
    assert "compressed exactly" in widget.controls.status.tooltip
    assert "compressed exactly" in widget.histogram_canvas.figure.axes[0].get_title()


def test_clicking_a_candidate_changes_the_classes(image_widget, qtbot):
    viewer, widget = image_widget
    viewer.open_sample(PLUGIN, "coins")
    widget.form.criterion.value = "bic"  # BIC chooses more than ICL's 2 classes
    _run_and_wait(qtbot, widget)
    widget.show_candidate((2, "full"))
    labels = np.asarray(viewer.layers["coins classes"].data)
    assert labels.max() == 2
    widget.controls.best_button.native.click()
    assert widget.display.key == widget.last_result.sweep.best_key
    # the largest label that holds pixels (a class can be empty: K=5 on coins
    # has one that never wins an intensity)
    shown = np.asarray(viewer.layers["coins classes"].data).max()
    assert shown == max(widget.class_ranges()) > 2
    # rerun replaces instead of piling up
    _run_and_wait(qtbot, widget)
    assert [layer.name for layer in viewer.layers].count("coins classes") == 1


def test_rgb_sample_and_mask(image_widget, qtbot):
    viewer, widget = image_widget
    (rgb,) = viewer.open_sample(PLUGIN, "immunohistochemistry")
    mask = np.zeros(rgb.data.shape[:2], dtype=np.uint8)
    mask[:256] = 1
    viewer.add_labels(mask, name="top half")
    widget.inputs.images.value = [rgb]
    widget.inputs.mask.value = viewer.layers["top half"]
    widget.form.k_max.value = 3
    _run_and_wait(qtbot, widget)
    labels = np.asarray(viewer.layers["IHC classes"].data)
    assert labels.shape == rgb.data.shape[:2]
    assert np.all(labels[256:] == 0) and np.all(labels[:256] > 0)


def test_dask_time_lapse_per_frame_and_lazy(image_widget, qtbot):
    viewer, widget = image_widget
    rng = np.random.default_rng(0)
    frames = np.stack(
        [
            np.where(rng.random((64, 64)) > 0.5, 40 + 10 * t, 5).astype(np.uint16)
            + rng.integers(0, 3, (64, 64)).astype(np.uint16)
            for t in range(3)
        ]
    )
    viewer.add_image(da.from_array(frames, chunks=(1, 32, 32)), name="movie")
    widget.form.k_max.value = 3
    _run_and_wait(qtbot, widget)
    lazy = viewer.layers["movie classes"].data
    assert isinstance(lazy, da.Array)  # one model for the stack, lazy labels
    widget.inputs.per_frame.value = True
    _run_and_wait(qtbot, widget)
    result = widget.last_result
    assert len(result.frames) == 3
    assert result.labels.shape == frames.shape
    assert "Classes per frame" in widget.controls.status.value


def test_bad_inputs_are_one_sentence(image_widget):
    viewer, widget = image_widget
    failures = []
    widget.sweep_failed.connect(failures.append)
    widget.run()
    assert "Add or choose an Image layer" in failures[-1]
    viewer.add_image(np.full((20, 20), 3, np.uint8), name="flat")
    worker = widget.run()
    assert worker is not None  # the core finds out in the worker
    import time

    from qtpy.QtWidgets import QApplication

    end = time.time() + 30
    while widget.is_running and time.time() < end:
        QApplication.instance().processEvents()
        time.sleep(0.01)
    assert "single distinct value" in failures[-1]
    assert "flat classes" not in viewer.layers
    viewer.add_image(np.zeros((10, 10)), name="other shape")
    widget.inputs.images.value = [viewer.layers["flat"], viewer.layers["other shape"]]
    widget.run()
    assert "different shapes" in failures[-1]


def test_image_model_save_and_apply_round_trip(image_widget, qtbot, tmp_path):
    viewer, widget = image_widget
    (coins,) = viewer.open_sample(PLUGIN, "coins")
    widget.form.k_max.value = 3
    _run_and_wait(qtbot, widget)
    fitted = np.asarray(viewer.layers["coins classes"].data).copy()
    path = widget.save_model(path=str(tmp_path / "coins.json"))
    viewer.add_image(coins.data.copy(), name="coins copy")
    widget.inputs.images.value = [viewer.layers["coins copy"]]
    assert widget.apply_model(path=path) is not None
    applied = np.asarray(viewer.layers["coins copy classes"].data)
    np.testing.assert_array_equal(applied, fitted)
    assert "without refitting" in widget.controls.status.value
    # a points model is refused with one sentence
    failures = []
    widget.sweep_failed.connect(failures.append)
    from napari_gmm import make_seed_example, save_model, sweep

    points_model = save_model(
        tmp_path / "points.json",
        sweep(make_seed_example(), n_components=[2]).best,
        features_extra={"kind": "points"},
    )
    assert widget.apply_model(path=str(points_model)) is None
    assert "not for images" in failures[-1]


def test_more_shapes_box_only_for_several_channels(image_widget):
    """In 1-D mclust's 14 models are two: the box is off and says why."""
    viewer, widget = image_widget
    box = widget.form.more_models
    rng = np.random.default_rng(0)
    gray = viewer.add_image(rng.integers(0, 255, (32, 32), dtype=np.uint8), name="g")
    assert widget.inputs.images.value == [gray]
    assert not box.enabled
    assert "Not for one channel" in box.tooltip
    assert len(widget.form.settings().covariance_types) == 4
    color = viewer.add_image(
        rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), name="c", rgb=True
    )
    widget.choose_layers(color)
    assert box.enabled and "mclust's ten other" in box.tooltip
    box.value = True
    assert len(widget.form.settings().covariance_types) == 14
    # back to one channel: unticked and ignored; the tick returns with RGB
    widget.choose_layers(gray)
    assert not box.enabled and not box.value
    assert len(widget.form.settings().covariance_types) == 4
    widget.choose_layers(color)
    assert box.enabled and box.value
    # two single-channel layers are two channels
    other = viewer.add_image(rng.integers(0, 255, (32, 32), dtype=np.uint8))
    widget.choose_layers(gray, other)
    assert box.enabled
    assert widget.inputs.n_channels() == 2
