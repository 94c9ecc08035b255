"""The docks' models without a viewer, Qt or display: runs, cancel, what is shown.

The models run their bodies through a runner; here :func:`run_now` (in the
calling thread) or a runner that only keeps the body, to look at a run
that has not ended.
"""

import subprocess
import sys

import napari
import numpy as np
import pytest

from napari_gmm import make_seed_example, sweep
from napari_gmm._image_model import ImageSweepModel
from napari_gmm._image_request import SegmentRequest
from napari_gmm._points_model import PointsSweepModel
from napari_gmm._points_request import SweepRequest
from napari_gmm._run_model import BUSY, RunBusy, RunCallbacks, form_kwargs, run_now
from napari_gmm.core import assign
from napari_gmm.core.model_io import load_model, save_model
from napari_gmm.core.segment import segment_image
from napari_gmm.core.settings import PixelSettings, SweepSettings

SMALL = SweepSettings(n_components=range(1, 4), covariance_types=("diag", "full"))


class Recorder:
    """RunCallbacks that write down what a run reported."""

    def __init__(self, show=None):
        self.steps, self.results, self.errors = [], [], []
        self.cancelled = self.ended = 0
        self._show = show

    def callbacks(self) -> RunCallbacks:
        def result(value):
            self.results.append(value)
            if self._show is not None:
                self._show(value)

        def cancelled():
            self.cancelled += 1

        def ended():
            self.ended += 1

        return RunCallbacks(
            step=self.steps.append,
            result=result,
            cancelled=cancelled,
            error=self.errors.append,
            end=ended,
        )


class KeepBody:
    """A runner that starts nothing: the run stays open until :meth:`finish`."""

    def __init__(self):
        self.body = self.callbacks = None

    def __call__(self, body, callbacks):
        self.body, self.callbacks = body, callbacks
        return "handle"

    def finish(self):
        run_now(self.body, self.callbacks)


def _fitted(layer) -> PointsSweepModel:
    """A points model showing the chosen model of a sweep on ``layer``."""
    model = PointsSweepModel()
    model.run(SweepRequest.of([layer], SMALL), Recorder(model.show_sweep).callbacks())
    return model


@pytest.fixture
def seed_layer():
    return napari.layers.Points(make_seed_example(), name="spots")


def test_points_model_runs_the_sweep_of_the_core(seed_layer):
    model = PointsSweepModel()
    request = SweepRequest.of([seed_layer], SMALL)
    record = Recorder(show=model.show_sweep)
    model.run(request, record.callbacks())
    assert not model.is_running and model.handle is None
    assert len(record.steps) == request.total == 6
    assert record.cancelled == 0 and record.errors == [] and record.ended == 1
    display = model.display
    expected = sweep(make_seed_example(), **form_kwargs(SMALL))
    assert display.key == expected.best_key == (2, "full")
    np.testing.assert_allclose(
        display.result.table["bic"], expected.table["bic"], rtol=1e-9
    )
    assert model.last_result is display.result
    # the shown model is a copy: recoloring or refitting it leaves the sweep's
    assert display.model is not display.result.best
    np.testing.assert_array_equal(display.slots, [0, 1])


def test_points_model_shows_another_candidate_and_refuses_unfitted_ones(seed_layer):
    model = _fitted(seed_layer)
    shown = model.show_candidate((3, "diag"))
    assert shown.key == (3, "diag") and shown.model.n_components == 3
    assert sorted(shown.slots) == [0, 1, 2]
    with pytest.raises(KeyError):
        model.show_candidate((3, "tied"))  # not in the settings
    assert model.display.key == (3, "diag")


def test_stability_seeds_count_every_run(seed_layer):
    model = PointsSweepModel()
    settings = SMALL.replace(n_components=range(1, 3))
    request = SweepRequest.of([seed_layer], settings, seeds=2)
    record = Recorder(model.show_sweep)
    model.run(request, record.callbacks())
    assert len(record.steps) == request.total == 8
    assert "chosen_fraction" in model.display.result.table


def test_points_model_refuses_a_second_run_and_cancels_the_first(seed_layer):
    runner = KeepBody()
    model = PointsSweepModel(runner)
    request = SweepRequest.of([seed_layer], SMALL)
    record = Recorder()
    assert model.run(request, record.callbacks()) == "handle"
    assert model.is_running and model.handle == "handle"
    with pytest.raises(RunBusy, match=BUSY):
        model.run(request, Recorder().callbacks())
    assert model.cancel()
    runner.finish()  # the core sees the flag at its first check
    assert record.cancelled == 1 and record.results == [] and record.ended == 1
    assert not model.is_running and not model.cancel()
    assert model.display is None


def test_a_failing_run_reports_its_error_once():
    def body():
        raise MemoryError("out of memory")

    record = Recorder()
    model = PointsSweepModel()
    model.start(body, record.callbacks())
    assert [str(err) for err in record.errors] == ["out of memory"]
    assert record.results == [] and record.ended == 1 and not model.is_running
    with pytest.raises(MemoryError):  # no error callback: raised, not swallowed
        run_now(body, RunCallbacks())


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ((), "Add or choose a Points layer first."),
        (
            (napari.layers.Points(np.empty((0, 2)), name="none"),),
            "The layer 'none' has no points to cluster.",
        ),
    ],
)
def test_points_request_errors_are_one_sentence(layers, message):
    with pytest.raises(ValueError) as raised:
        SweepRequest.of(layers, SMALL)
    assert str(raised.value) == message


def test_live_refit_follows_the_edited_points_and_keeps_colors(seed_layer):
    model = _fitted(seed_layer)
    before = model.display
    seed_layer.data = seed_layer.data + 0.05  # the user moved every point a little
    record = Recorder(model.show_refit)
    model.refit("warm start", record.callbacks())
    after = model.display
    assert after.key == before.key and after.result is before.result
    assert after.model is not before.model
    np.testing.assert_allclose(after.matrix.X, before.matrix.X + 0.05)
    # each component keeps its color slot: its mean moved by the shift only
    for slot, mean in zip(after.slots, after.model.means_, strict=True):
        k = list(before.slots).index(slot)
        np.testing.assert_allclose(mean, before.model.means_[k] + 0.05, atol=0.05)


def test_a_saved_points_model_labels_the_points_again(seed_layer, tmp_path):
    model = _fitted(seed_layer)
    document = model.model_document()
    document["components"] = model.component_table()
    save_model(tmp_path / "m.json", document.pop("model"), **document)
    other = PointsSweepModel()
    with pytest.raises(ValueError, match="to apply the model to"):
        other.show_saved(load_model(tmp_path / "m.json"), [], "m.json")
    shown = other.show_saved(load_model(tmp_path / "m.json"), [seed_layer], "m.json")
    assert shown.result is None and shown.key == (2, "full")
    fitted = model.display
    np.testing.assert_array_equal(
        assign(shown.model, shown.matrix.X).labels,
        assign(fitted.model, fitted.matrix.X).labels,
    )


def test_live_new_sweep_shows_the_new_choice(seed_layer):
    model = _fitted(seed_layer)
    first = model.display.result
    seed_layer.data = seed_layer.data[:600]  # most of one blob deleted
    model.refit("new sweep", Recorder(model.show_refit).callbacks())
    assert model.display.result is not first
    assert len(model.display.matrix.X) == 600
    assert model.display.key == tuple(model.display.result.best_key)


def _two_class_image():
    rng = np.random.default_rng(0)
    image = rng.normal(60, 6, (40, 50))
    image[:, 25:] = rng.normal(170, 9, (40, 25))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_image_model_segments_like_the_core():
    image = _two_class_image()
    layer = napari.layers.Image(image, name="img")
    settings = SMALL.replace(criterion="icl")
    request = SegmentRequest.of([layer], settings=settings, pixels=PixelSettings())
    model = ImageSweepModel(contiguous=False)
    record = Recorder(lambda result: model.show_result(request, result))
    model.run(request, record.callbacks())
    assert len(record.steps) == request.total == 6
    display = model.display
    expected = segment_image(image, **form_kwargs(settings))
    assert display.key == expected.sweep.best_key
    np.testing.assert_array_equal(display.segmentation.labels, expected.labels)
    # label 1 is the dimmest class; the table counts every pixel once
    labels = np.asarray(display.segmentation.labels)
    assert image[labels == 1].mean() < image[labels == 2].mean()
    assert model.component_table()["count"].sum() == image.size
    assert model.channel_names() == ["intensity"]
    assert model.model_document()["preprocessing"] == PixelSettings().to_dict()


def test_image_request_rejects_channels_of_different_shapes():
    a = napari.layers.Image(np.zeros((4, 5)), name="a")
    b = napari.layers.Image(np.zeros((4, 6)), name="b")
    with pytest.raises(ValueError, match="channels must have the same shape"):
        SegmentRequest.of([a, b])
    with pytest.raises(ValueError, match="Add or choose an Image layer first"):
        SegmentRequest.of([])


def test_the_models_import_no_qt():
    """Tests and scripts can drive the models without Qt or magicgui."""
    code = (
        "import sys\n"
        "import napari_gmm._image_model, napari_gmm._points_model\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'superqt')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "[]"


def test_points_on_one_slice_are_clustered_in_its_plane():
    # spots clicked on one z-slice of a stack: "all axes" leaves z out (with
    # z, every tied, diag and full fit collapses onto the plane and four
    # spherical components win; see core.points.constant_axes)
    rng = np.random.default_rng(0)
    yx = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))]
    layer = napari.layers.Points(np.column_stack([np.full(200, 7.0), yx]))
    request = SweepRequest.of([layer], SMALL)
    assert request.flat_axes == (0,) and request.coordinate_dims == (1, 2)
    assert "same data coordinate on axis 0 (7)" in request.flat_note()
    model = PointsSweepModel()
    model.run(request, Recorder(model.show_sweep).callbacks())
    display = model.display
    assert display.matrix.coordinate_dims == (1, 2)
    assert display.key[0] == 2 and not display.result.table["degenerate"].any()
    # the saved model names the axes it was fitted on
    assert model.model_document()["features_extra"]["coordinate_dims"] == [1, 2]
    # axes asked for explicitly are kept, constant or not
    explicit = SweepRequest.of([layer], SMALL, coordinate_dims=(0, 1, 2))
    assert explicit.flat_axes == () and explicit.coordinate_dims == (0, 1, 2)
    # points moved off the plane since Run (live mode): the note says so
    moved = layer.data.copy()
    moved[0, 0] = 8.0
    layer.data = moved
    assert "Axis 0 left out of the fit" in request.reread().flat_note()
    # ... and all moved onto one position: axis 0 is still flat
    layer.data = np.tile([7.0, 1.0, 1.0], (5, 1))
    assert "same data coordinate on axis 0" in request.reread().flat_note()


def test_constant_axes_with_feature_columns_are_all_left_out():
    # every point at one position, told apart by a measurement only
    rng = np.random.default_rng(0)
    area = np.r_[rng.normal(10, 1, 60), rng.normal(20, 1, 60)]
    layer = napari.layers.Points(np.tile([3.0, 4.0], (120, 1)), features={"area": area})
    request = SweepRequest.of([layer], SMALL, columns=["area"])
    assert request.flat_axes == (0, 1) and request.coordinate_dims == ()
    assert request.feature_matrix().names == ("area",)
    assert "axes [0, 1] (3, 4)" in request.flat_note()
    # without columns, identical points keep their axes (the sweep's own
    # note then says there is nothing to separate)
    assert SweepRequest.of([layer], SMALL).flat_axes == ()
