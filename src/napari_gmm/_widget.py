"""The napari widget: gathers inputs, runs the sweep in a worker, shows results.

The widget holds no science: it reads its form, calls
:func:`napari_gmm.iter_sweep` in a napari thread worker, and hands the
result to the pure layer builders in :mod:`napari_gmm._layers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from ._layers import ellipses_layer, find_output_layer, labeled_points_layer
from ._qt.criterion_canvas import CriterionCanvas
from .core import COVARIANCE_TYPES, CRITERIA, assign, ellipse_radius, iter_sweep


@dataclass(frozen=True)
class SweepRequest:
    """Everything one Run needs, copied out of the form and the layer."""

    layer: napari.layers.Points
    coordinates: np.ndarray
    size: np.ndarray
    n_components: range
    covariance_types: tuple[str, ...]
    criterion: str
    random_state: int
    radius: float


def _run_sweep(fits, coordinates):
    """Worker body: drain the sweep generator, then assign the points."""
    result = yield from fits
    return result, assign(result.best, coordinates)


class GMMWidget(Container):
    """Sweep K x covariance type on a Points layer and show the chosen mixture."""

    #: Emitted on the main thread after the output layers were updated,
    #: with the :class:`napari_gmm.SweepResult`.
    sweep_finished = Signal(object)
    #: Emitted when a run ends without a result (error, cancel, layer gone).
    sweep_failed = Signal(str)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._worker = None
        self.last_result = None
        self._last_request = None

        self._layer_combo = ComboBox(label="Points layer", choices=self._points_layers)
        self._k_min = SpinBox(label="Min components", value=1, min=1, max=100)
        self._k_max = SpinBox(label="Max components", value=6, min=1, max=100)
        self._type_boxes = {
            name: CheckBox(text=name, value=True) for name in COVARIANCE_TYPES
        }
        self._criterion = ComboBox(
            label="Criterion",
            choices=[(name.upper(), name) for name in CRITERIA],
            value="bic",
        )
        self._seed = SpinBox(label="Random seed", value=0, min=0, max=2**31 - 1)
        self._n_std = FloatSpinBox(
            label="Ellipse size (σ)", value=2.0, min=0.1, max=10.0, step=0.5
        )
        self._run_button = PushButton(text="Run")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Candidates", value=0, min=0, max=1)
        self._status = Label(label="Result", value="Pick a Points layer and press Run.")
        types_row = Container(
            widgets=list(self._type_boxes.values()),
            layout="horizontal",
            labels=False,
            label="Covariance types",
        )
        buttons = Container(
            widgets=[self._run_button, self._cancel_button],
            layout="horizontal",
            labels=False,
        )
        self.extend(
            [
                self._layer_combo,
                self._k_min,
                self._k_max,
                types_row,
                self._criterion,
                self._seed,
                self._n_std,
                buttons,
                self._progress,
                self._status,
            ]
        )
        self._status.native.setWordWrap(True)
        self.canvas = CriterionCanvas()
        self.native.layout().addWidget(self.canvas)

        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self._n_std.changed.connect(self._redraw_ellipses)
        self._viewer.layers.events.inserted.connect(self._layer_combo.reset_choices)
        self._viewer.layers.events.removed.connect(self._layer_combo.reset_choices)

    # -- input ------------------------------------------------------------
    def _points_layers(self, _widget=None):
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Points)
            and not layer.metadata.get("napari_gmm")
        ]

    def _gather(self) -> SweepRequest:
        """Read the form; raise ValueError with a sentence for the user."""
        layer = self._layer_combo.value
        if layer is None:
            raise ValueError("Add or choose a Points layer first.")
        if len(layer.data) == 0:
            raise ValueError(f"The layer '{layer.name}' has no points to cluster.")
        types = tuple(name for name, box in self._type_boxes.items() if box.value)
        if not types:
            raise ValueError("Tick at least one covariance type.")
        k_min, k_max = self._k_min.value, self._k_max.value
        if k_min > k_max:
            raise ValueError(
                f"Min components ({k_min}) is larger than max components ({k_max})."
            )
        return SweepRequest(
            layer=layer,
            coordinates=np.array(layer.data, dtype=float, copy=True),
            size=np.array(layer.size, copy=True),
            n_components=range(k_min, k_max + 1),
            covariance_types=types,
            criterion=self._criterion.value,
            random_state=int(self._seed.value),
            radius=ellipse_radius(n_std=self._n_std.value),
        )

    # -- running ----------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def run(self, _=None):
        """Start a sweep on the chosen layer (no-op while one is running)."""
        if self.is_running:
            show_info("A fit is already running; press Cancel to stop it first.")
            return None
        try:
            request = self._gather()
            fits = iter_sweep(
                request.coordinates,
                n_components=request.n_components,
                covariance_types=request.covariance_types,
                criterion=request.criterion,
                random_state=request.random_state,
            )
        except (ValueError, TypeError) as err:
            self._fail(str(err))
            return None
        total = len(request.n_components) * len(request.covariance_types)
        self._progress.max = total
        self._progress.value = 0
        self._status.value = f"Fitting {total} candidates on '{request.layer.name}'…"
        self._set_running(True)
        worker = create_worker(_run_sweep, fits, request.coordinates)
        worker.yielded.connect(self._on_candidate)
        worker.returned.connect(lambda out: self._on_result(request, *out))
        worker.errored.connect(lambda err: self._fail(f"The fit failed: {err}"))
        worker.aborted.connect(
            lambda: self._fail("Cancelled; no layer was changed.", error=False)
        )
        worker.finished.connect(lambda: self._set_running(False))
        self._worker = worker
        worker.start()
        return worker

    def cancel(self, _=None):
        """Stop the running sweep after the candidate being fitted."""
        if self._worker is not None:
            self._status.value = "Cancelling…"
            self._worker.quit()

    def _set_running(self, running: bool):
        if not running:
            self._worker = None
        self._run_button.enabled = not running
        self._cancel_button.enabled = running

    def _on_candidate(self, fit):
        self._progress.value = fit.index + 1
        self._status.value = (
            f"Fitted {fit.index + 1}/{fit.total}: {fit.covariance_type}, "
            f"K={fit.n_components}"
        )

    def _fail(self, message: str, error: bool = True):
        self._status.value = message
        (show_error if error else show_info)(message)
        self.sweep_failed.emit(message)

    # -- output -----------------------------------------------------------
    def _on_result(self, request: SweepRequest, result, assignment):
        if request.layer not in self._viewer.layers:
            message = (
                f"The layer '{request.layer.name}' was removed during the fit; "
                "the result was discarded."
            )
            show_warning(message)
            self._status.value = message
            self.sweep_failed.emit(message)
            return
        self.last_result = result
        self._last_request = request
        best = result.best
        self._put_layer(
            labeled_points_layer(
                request.coordinates, assignment, best, request.layer.name, request.size
            )
        )
        if result.n_features == 2:
            self._put_layer(ellipses_layer(best, request.layer.name, request.radius))
        self.canvas.show_result(result)
        self._status.value = self._summary(result)
        for message in result.messages:
            show_warning(message)
        self.sweep_finished.emit(result)

    @staticmethod
    def _summary(result) -> str:
        row = result.best_row
        name = result.criterion.upper()
        text = (
            f"Chosen: {row.covariance_type}, {row.n_components} components "
            f"({name} {row[result.criterion]:.2f})"
        )
        others = result.table.loc[~result.table["selected"], "delta"]
        if len(others) and np.isfinite(others.min()):
            text += f"; next best is {others.min():.2f} higher"
        if result.n_features != 2:
            text += f". Ellipses are drawn for 2-D points only ({result.n_features}-D)"
        return text

    def _put_layer(self, layer_tuple):
        """Add an output layer, replacing our previous one for the same input."""
        data, meta, layer_type = layer_tuple
        tag = meta["metadata"]["napari_gmm"]
        layer = napari.layers.Layer.create(data, meta, layer_type)
        index = find_output_layer(self._viewer.layers, tag["role"], tag["source"])
        if index is None:
            self._viewer.layers.append(layer)
        else:
            self._viewer.layers.pop(index)
            self._viewer.layers.insert(index, layer)

    def _redraw_ellipses(self, _=None):
        result = self.last_result
        if result is None or result.n_features != 2 or self.is_running:
            return
        request = self._last_request
        if request.layer not in self._viewer.layers:
            return
        radius = ellipse_radius(n_std=self._n_std.value)
        self._put_layer(ellipses_layer(result.best, request.layer.name, radius))
