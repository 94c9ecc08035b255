"""The napari widget: gathers inputs, runs the core in a worker, shows results.

The widget holds no science: it reads its form into a :class:`SweepRequest`,
runs :func:`napari_gmm.iter_sweep` (or a live refit) in a napari thread
worker, and hands the result to the pure layer builders of
:mod:`napari_gmm._layers`. Qt-only pieces live in :mod:`napari_gmm._qt`.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, replace

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    Select,
    SpinBox,
)
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal
from qtpy.QtCore import QTimer

from ._colors import slot_colors
from ._layers import (
    METADATA_KEY,
    ellipses_layer,
    ellipsoids_layer,
    find_output_layer,
    labeled_points_layer,
    section_ellipses_layer,
)
from ._qt.criterion_canvas import CriterionCanvas
from ._qt.dialogs import ask_save_path
from ._qt.feature_canvas import FeatureSpaceCanvas
from .core import (
    COVARIANCE_TYPES,
    CRITERIA,
    SweepCancelled,
    assign,
    ellipse_radius,
    iter_sweep,
)
from .core.points import FeatureMatrix, numeric_columns, points_feature_matrix
from .core.refit import REFIT_MODES, follow_slots, refit_same, refit_warm

#: Output roles the widget manages for one input layer.
OUTPUT_ROLES = ("labels", "ellipses", "ellipsoids")
#: Delay between the last edit of the points and a live refit.
LIVE_DEBOUNCE_MS = 300


@dataclass(frozen=True)
class SweepRequest:
    """Everything one Run needs, copied out of the form and the layer."""

    layer: napari.layers.Points
    coordinates: np.ndarray
    size: np.ndarray
    features: pd.DataFrame
    coordinate_dims: tuple[int, ...] | None
    columns: tuple[str, ...]
    standardize: bool
    sweep_kwargs: dict = field(default_factory=dict)

    def feature_matrix(self) -> FeatureMatrix:
        return points_feature_matrix(
            self.coordinates,
            self.features,
            coordinate_dims=self.coordinate_dims,
            columns=self.columns,
            standardize=self.standardize,
        )


@dataclass
class Display:
    """What is shown now: the data, the sweep, and the displayed model."""

    request: SweepRequest
    matrix: FeatureMatrix
    result: object  # SweepResult
    key: tuple[int, str]
    model: object  # GaussianMixture
    slots: np.ndarray


def _run_sweep(fits):
    """Worker body: drain the sweep generator (yields candidates)."""
    return (yield from fits)


class GMMWidget(Container):
    """Sweep K x covariance type on a Points layer and show the chosen mixture."""

    #: Emitted on the main thread after the output layers were updated.
    sweep_finished = Signal(object)
    #: Emitted when a run ends without a result (error, cancel, layer gone).
    sweep_failed = Signal(str)
    #: Emitted after a live refit updated the layers.
    live_updated = Signal(object)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._worker = None
        self._cancel_requested = threading.Event()
        self.display: Display | None = None
        self._live_layer = None
        self._live_pending = False
        self._feature_dock = None
        self._build_form()
        self._live_timer = QTimer()
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self._live_refit)
        self._connect()
        self._on_layer_changed()

    # -- form ---------------------------------------------------------------
    def _build_form(self):
        self._layer_combo = ComboBox(label="Points layer", choices=self._points_layers)
        self._coordinates = ComboBox(
            label="Coordinates",
            choices=[
                ("all axes", "all"),
                ("displayed axes", "displayed"),
                ("none", "none"),
            ],
            value="all",
        )
        self._columns = Select(
            label="Feature columns", choices=self._column_choices, value=[]
        )
        self._columns.native.setMaximumHeight(80)
        self._standardize = CheckBox(text="Standardize features", value=False)
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
        self._n_init = SpinBox(label="Initializations", value=1, min=1, max=50)
        self._seed = SpinBox(label="Random seed", value=0, min=0, max=2**31 - 1)
        self._ellipse_unit = ComboBox(
            label="Ellipse size in",
            choices=[("standard deviations", "std"), ("confidence %", "confidence")],
            value="std",
        )
        self._ellipse_size = FloatSpinBox(
            label="Ellipse size", value=2.0, min=0.1, max=10.0, step=0.5
        )
        self._run_button = PushButton(text="Run")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Candidates", value=0, min=0, max=1)
        self._status = Label(label="Result", value="Pick a Points layer and press Run.")
        self._status.native.setWordWrap(True)
        self._best_button = PushButton(text="Show best", enabled=False)
        self._save_button = PushButton(text="Save table…", enabled=False)
        self._live_box = CheckBox(text="Live update while editing points", value=False)
        self._live_mode = ComboBox(label="Live refit", choices=REFIT_MODES)
        types_row = Container(
            widgets=list(self._type_boxes.values()),
            layout="horizontal",
            labels=False,
            label="Covariance types",
        )
        run_row = Container(
            widgets=[self._run_button, self._cancel_button],
            layout="horizontal",
            labels=False,
        )
        result_row = Container(
            widgets=[self._best_button, self._save_button],
            layout="horizontal",
            labels=False,
        )
        self.extend(
            [
                self._layer_combo,
                self._coordinates,
                self._columns,
                self._standardize,
                self._k_min,
                self._k_max,
                types_row,
                self._criterion,
                self._n_init,
                self._seed,
                self._ellipse_unit,
                self._ellipse_size,
                run_row,
                self._progress,
                self._status,
                result_row,
                self._live_box,
                self._live_mode,
            ]
        )
        self.canvas = CriterionCanvas(on_select=self.show_candidate)
        self.native.layout().addWidget(self.canvas)

    def _connect(self):
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self._best_button.changed.connect(self.show_best)
        self._save_button.changed.connect(self.save_table)
        self._layer_combo.changed.connect(self._on_layer_changed)
        self._ellipse_unit.changed.connect(self._on_ellipse_unit_changed)
        self._ellipse_size.changed.connect(self._render_if_shown)
        self._live_box.changed.connect(self._update_live_connection)
        self._viewer.layers.events.inserted.connect(self._refresh_layer_choices)
        self._viewer.layers.events.removed.connect(self._refresh_layer_choices)
        self._viewer.layers.events.removed.connect(self._on_layer_removed)
        self._viewer.dims.events.ndisplay.connect(self._match_ndisplay)

    def _points_layers(self, _widget=None):
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Points)
            and not layer.metadata.get(METADATA_KEY)
        ]

    def _refresh_layer_choices(self, _=None):
        self._layer_combo.reset_choices()
        self._on_layer_changed()

    def _column_choices(self, _widget=None):
        # a callable, so that napari's reset_choices() recomputes it
        layer = getattr(self, "_layer_combo", None)
        layer = None if layer is None else layer.value
        return numeric_columns(layer.features) if layer is not None else []

    def _feature_axis_choices(self, _widget=None):
        if self.display is None:
            return []
        return [(name, i) for i, name in enumerate(self.display.matrix.names)]

    def _on_layer_changed(self, _=None):
        self._columns.reset_choices()
        self._columns.enabled = bool(self._columns.choices)

    def _on_ellipse_unit_changed(self, unit):
        if unit == "confidence":
            self._ellipse_size.min, self._ellipse_size.max = 1.0, 99.9
            self._ellipse_size.step = 5.0
            self._ellipse_size.value = 95.0
        else:
            self._ellipse_size.min, self._ellipse_size.max = 0.1, 10.0
            self._ellipse_size.step = 0.5
            self._ellipse_size.value = 2.0

    def ellipse_radius(self, n_dims: int) -> float:
        """Mahalanobis radius of drawn ellipses (n_dims=2) or ellipsoids (3)."""
        if self._ellipse_unit.value == "confidence":
            return ellipse_radius(
                confidence=self._ellipse_size.value / 100.0, n_dims=n_dims
            )
        return ellipse_radius(n_std=self._ellipse_size.value)

    def _displayed_axes(self, layer) -> tuple[int, ...]:
        offset = self._viewer.dims.ndim - layer.ndim
        return tuple(d - offset for d in self._viewer.dims.displayed if d >= offset)

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
        coordinate_dims = {
            "all": None,
            "displayed": self._displayed_axes(layer),
            "none": (),
        }[self._coordinates.value]
        return SweepRequest(
            layer=layer,
            coordinates=np.array(layer.data, dtype=float, copy=True),
            size=np.array(layer.size, copy=True),
            features=layer.features.copy(),
            coordinate_dims=coordinate_dims,
            columns=tuple(self._columns.value),
            standardize=bool(self._standardize.value),
            sweep_kwargs={
                "n_components": range(k_min, k_max + 1),
                "covariance_types": types,
                "criterion": self._criterion.value,
                "random_state": int(self._seed.value),
                "n_init": int(self._n_init.value),
            },
        )

    # -- running a sweep ------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def run(self, _=None):
        """Start a sweep on the chosen layer; returns the worker, or None."""
        if self.is_running:
            show_info("A fit is already running; press Cancel to stop it first.")
            return None
        try:
            request = self._gather()
            matrix = request.feature_matrix()
            fits = self._iter_sweep(matrix.X, request.sweep_kwargs)
        except (ValueError, TypeError) as err:
            self._fail(str(err))
            return None
        kwargs = request.sweep_kwargs
        total = len(kwargs["n_components"]) * len(kwargs["covariance_types"])
        self._progress.max = total
        self._progress.value = 0
        self._status.value = f"Fitting {total} candidates on '{request.layer.name}'…"
        worker = create_worker(_run_sweep, fits, _ignore_errors=True)
        worker.yielded.connect(self._on_candidate)
        worker.returned.connect(lambda result: self._on_sweep(request, matrix, result))
        return self._start(worker)

    def _iter_sweep(self, X, sweep_kwargs):
        # the core checks the flag after every EM iteration: Cancel is prompt
        self._cancel_requested.clear()
        return iter_sweep(X, cancel=self._cancel_requested.is_set, **sweep_kwargs)

    def _on_worker_error(self, err):
        if isinstance(err, SweepCancelled):
            self._fail("Cancelled; no layer was changed.", error=False)
        else:
            self._fail(f"The fit failed: {err}")

    def _start(self, worker):
        worker.errored.connect(self._on_worker_error)
        if isinstance(worker, GeneratorWorker):
            worker.aborted.connect(
                lambda: self._fail("Cancelled; no layer was changed.", error=False)
            )
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._set_buttons(running=True)
        worker.start()
        return worker

    def cancel(self, _=None):
        """Stop the running sweep within one EM iteration."""
        if self._worker is not None:
            self._status.value = "Cancelling…"
            # the core raises SweepCancelled at its next check (after the
            # current EM iteration); the worker then reports it as an error
            self._cancel_requested.set()

    def _on_worker_finished(self):
        self._worker = None
        self._set_buttons(running=False)
        if self._live_pending:
            self._live_pending = False
            self._live_timer.start()

    def _set_buttons(self, running: bool):
        self._run_button.enabled = not running
        self._cancel_button.enabled = running
        self._best_button.enabled = not running and self.display is not None
        self._save_button.enabled = not running and self.display is not None

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

    def _source_gone(self, layer) -> bool:
        if layer in self._viewer.layers:
            return False
        message = (
            f"The layer '{layer.name}' was removed during the fit; "
            "the result was discarded."
        )
        show_warning(message)
        self._status.value = message
        self.sweep_failed.emit(message)
        return True

    def _on_sweep(self, request: SweepRequest, matrix: FeatureMatrix, result):
        if self._source_gone(request.layer):
            return
        model = copy.deepcopy(result.best)
        self.display = Display(
            request=request,
            matrix=matrix,
            result=result,
            key=result.best_key,
            model=model,
            slots=np.arange(model.n_components),
        )
        self.canvas.show_result(result, result.best_key)
        self._render()
        for message in result.messages:
            show_warning(message)
        self._update_live_connection()
        self.sweep_finished.emit(result)

    # -- showing a model ------------------------------------------------------
    @property
    def last_result(self):
        """The SweepResult shown now (None before the first run)."""
        return None if self.display is None else self.display.result

    def show_candidate(self, key):
        """Display another candidate of the sweep (e.g. a clicked bar)."""
        display = self.display
        if display is None or self.is_running:
            return
        try:
            model = copy.deepcopy(display.result.model(*key))
        except KeyError as err:
            self._fail(str(err.args[0]))
            return
        slots = follow_slots(model, display.model, display.slots)
        self.display = replace(display, key=tuple(key), model=model, slots=slots)
        self.canvas.highlight(self.display.key)
        self._render()

    def show_best(self, _=None):
        """Display the chosen candidate again."""
        if self.display is not None:
            self.show_candidate(self.display.result.best_key)

    def save_table(self, _=None, path=None):
        """Write the criterion table to a CSV file (asks where when no path)."""
        if self.display is None:
            return None
        path = path or ask_save_path(self.native, "Save criterion table")
        if path:
            self.display.result.table.to_csv(path, index=False)
            self._status.value = f"Saved the criterion table to {path}."
        return path

    def _render_if_shown(self, _=None):
        if self.display is not None and not self.is_running:
            self._render()

    def _render(self):
        """(Re)build every output layer of the displayed model."""
        display = self.display
        request, matrix, model = display.request, display.matrix, display.model
        if request.layer not in self._viewer.layers:
            return
        colors = slot_colors(display.slots)
        assignment = assign(model, matrix.X)
        name = request.layer.name
        outputs = [
            labeled_points_layer(
                request.coordinates, assignment, model, name, request.size, colors
            )
        ]
        note = ""
        dims = matrix.coordinate_dims
        ndim = request.coordinates.shape[1]
        if (
            matrix.is_coordinate_space
            and len(dims) == 2
            and dims == (ndim - 2, ndim - 1)
        ):
            outputs.append(
                ellipses_layer(model, name, self.ellipse_radius(2), colors=colors)
            )
        elif matrix.is_coordinate_space and dims == (0, 1, 2) and ndim == 3:
            radius = self.ellipse_radius(3)
            origin = float(request.coordinates[:, 0].min())
            outputs.append(section_ellipses_layer(model, name, radius, origin, colors))
            outputs.append(ellipsoids_layer(model, name, radius, colors))
        elif matrix.is_coordinate_space:
            note = " No ellipses for this choice of axes."
        self._sync_outputs(name, outputs)
        self._match_ndisplay()
        self._show_feature_space(assignment, colors)
        self._status.value = self._summary() + note

    def _summary(self) -> str:
        display = self.display
        result, key = display.result, display.key
        table = result.table
        row = table[
            (table.n_components == key[0]) & (table.covariance_type == key[1])
        ].iloc[0]
        name = result.criterion.upper()
        value = row[result.criterion]
        if key == result.best_key:
            text = f"Chosen: {key[1]}, {key[0]} components ({name} {value:.2f})"
            others = table.loc[~table["selected"], "delta"]
            if len(others) and np.isfinite(others.min()):
                text += f"; next best is {others.min():.2f} higher"
        else:
            text = (
                f"Showing {key[1]}, {key[0]} components ({name} {value:.2f}, "
                f"{row.delta:.2f} above the best)"
            )
        return text + "."

    def _sync_outputs(self, source: str, outputs):
        """Replace our outputs for ``source``; remove roles no longer drawn."""
        drawn = set()
        for data, meta, layer_type in outputs:
            role = meta["metadata"][METADATA_KEY]["role"]
            drawn.add(role)
            layer = napari.layers.Layer.create(data, meta, layer_type)
            index = find_output_layer(self._viewer.layers, role, source)
            if index is None:
                self._viewer.layers.append(layer)
            else:
                old = self._viewer.layers[index]
                layer.visible = old.visible
                self._viewer.layers.pop(index)
                self._viewer.layers.insert(index, layer)
        for role in set(OUTPUT_ROLES) - drawn:
            index = find_output_layer(self._viewer.layers, role, source)
            if index is not None:
                self._viewer.layers.pop(index)

    def _match_ndisplay(self, _=None):
        """3-D points: ellipsoids in the 3-D view, their slice sections in 2-D."""
        if self.display is None:
            return
        source = self.display.request.layer.name
        surface = find_output_layer(self._viewer.layers, "ellipsoids", source)
        if surface is None:
            return
        sections = find_output_layer(self._viewer.layers, "ellipses", source)
        in_3d = self._viewer.dims.ndisplay == 3
        self._viewer.layers[surface].visible = in_3d
        if sections is not None:
            self._viewer.layers[sections].visible = not in_3d

    # -- feature-space view ---------------------------------------------------
    def _show_feature_space(self, assignment, colors):
        matrix = self.display.matrix
        if matrix.is_coordinate_space or matrix.X.shape[1] < 2:
            return
        if self._feature_dock is None:
            self._feature_x = ComboBox(
                label="Horizontal", choices=self._feature_axis_choices
            )
            self._feature_y = ComboBox(
                label="Vertical", choices=self._feature_axis_choices
            )
            self.feature_canvas = FeatureSpaceCanvas()
            panel = Container(widgets=[self._feature_x, self._feature_y])
            panel.native.layout().addWidget(self.feature_canvas)
            self._feature_y.value = 1
            self._feature_x.changed.connect(self._draw_feature_space)
            self._feature_y.changed.connect(self._draw_feature_space)
            self._feature_panel = panel
            self._feature_dock = self._viewer.window.add_dock_widget(
                panel, name="GMM feature space", area="right"
            )
        if list(self._feature_x.choices) != list(range(len(matrix.names))):
            with self._feature_x.changed.blocked(), self._feature_y.changed.blocked():
                self._feature_x.reset_choices()
                self._feature_y.reset_choices()
                self._feature_x.value, self._feature_y.value = 0, 1
        self._draw_feature_space()

    def _draw_feature_space(self, _=None):
        display = self.display
        if display is None or display.matrix.is_coordinate_space:
            return
        dims = (self._feature_x.value, self._feature_y.value)
        if dims[0] == dims[1]:
            return
        self.feature_canvas.show_model(
            display.model,
            display.matrix,
            dims,
            self.ellipse_radius(2),
            slot_colors(display.slots),
        )

    # -- live mode ------------------------------------------------------------
    def _update_live_connection(self, _=None):
        wanted = None
        if self._live_box.value and self.display is not None:
            wanted = self.display.request.layer
        if wanted is self._live_layer:
            return
        if self._live_layer is not None:
            self._live_layer.events.data.disconnect(self._on_points_edited)
        self._live_layer = wanted
        if wanted is not None:
            wanted.events.data.connect(self._on_points_edited)

    def _on_points_edited(self, event=None):
        action = getattr(event, "action", None)
        if action is not None and str(action).endswith("ing"):
            return  # "adding"/"changing"/"removing": wait for the finished edit
        self._live_timer.start()  # restarts the countdown: debounce

    def _on_layer_removed(self, event=None):
        if self._live_layer is not None and self._live_layer not in self._viewer.layers:
            self._live_layer.events.data.disconnect(self._on_points_edited)
            self._live_layer = None

    def _live_refit(self):
        display = self.display
        if display is None or self._live_layer is None:
            return
        if self.is_running:
            self._live_pending = True
            return
        layer = display.request.layer
        request = replace(
            display.request,
            coordinates=np.array(layer.data, dtype=float, copy=True),
            size=np.array(layer.size, copy=True),
            features=layer.features.copy(),
        )
        try:
            matrix = request.feature_matrix()
        except ValueError as err:
            self._fail(f"Live update paused: {err}")
            return
        mode = self._live_mode.value
        self._status.value = f"Live: refitting on {len(matrix.X)} points ({mode})…"
        if mode == "new sweep":
            try:
                fits = self._iter_sweep(matrix.X, request.sweep_kwargs)
            except ValueError as err:
                self._fail(f"Live update paused: {err}")
                return
            worker = create_worker(_run_sweep, fits, _ignore_errors=True)
            worker.returned.connect(
                lambda result: self._on_live_result(
                    request, matrix, copy.deepcopy(result.best), result
                )
            )
        else:
            refit = refit_warm if mode == "warm start" else refit_same
            worker = create_worker(refit, matrix.X, display.model, _ignore_errors=True)
            worker.returned.connect(
                lambda model: self._on_live_result(request, matrix, model, None)
            )
        self._start(worker)

    def _on_live_result(self, request, matrix, model, result):
        display = self.display
        if display is None or self._source_gone(request.layer):
            return
        slots = follow_slots(model, display.model, display.slots)
        if result is None:
            key, result = display.key, display.result
        else:
            key = result.best_key
            self.canvas.show_result(result, key)
        self.display = Display(request, matrix, result, key, model, slots)
        self._render()
        mode = self._live_mode.value
        if mode == "new sweep":
            self._status.value += f" Live sweep on {len(matrix.X)} points."
        else:
            # the plot still shows the last sweep; say what is displayed now
            self._status.value = (
                f"Live refit ({mode}) on {len(matrix.X)} points: "
                f"{model.covariance_type}, {model.n_components} components, "
                f"BIC {model.bic(matrix.X):.2f}. Run again to redo the sweep."
            )
        self.live_updated.emit(model)
