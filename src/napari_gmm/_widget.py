"""The napari widget: gathers inputs, runs the core in a worker, shows results.

The widget holds no science: it reads its form into a :class:`SweepRequest`,
runs :func:`napari_gmm.iter_sweep` (or a live refit) in a napari thread
worker, and hands the result to the pure layer builders of
:mod:`napari_gmm._layers`. Qt-only pieces live in :mod:`napari_gmm._qt`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Select
from matplotlib.colors import to_hex
from napari.qt.threading import create_worker
from psygnal import Signal
from qtpy.QtCore import QTimer

from ._colors import label_colors, slot_colors
from ._layers import (
    COLOR_BY_COMPONENT,
    METADATA_KEY,
    color_by_choices,
    component_points_layers,
    ellipses_layer,
    ellipsoids_layer,
    feature_colors,
    find_output_layer,
    labeled_points_layer,
    section_ellipses_layer,
)
from ._qt.criterion_canvas import CriterionCanvas
from ._qt.feature_canvas import FeatureSpaceCanvas
from ._terms import model_name
from ._widget_base import SweepWidgetBase, run_function, run_generator
from .core import assign, ellipse_radius, iter_sweep
from .core.points import (
    FeatureMatrix,
    PooledPoints,
    numeric_columns,
    points_feature_matrix,
    pool_points,
)
from .core.refit import REFIT_MODES, follow_slots, refit_same, refit_warm
from .core.report import component_table, iter_stability

#: Output roles the widget manages for one input layer.
OUTPUT_ROLES = ("labels", "ellipses", "ellipsoids")
#: Delay between the last edit of the points and a live refit.
LIVE_DEBOUNCE_MS = 300


@dataclass(frozen=True)
class SweepRequest:
    """Everything one Run needs, copied out of the form and the layer(s)."""

    layers: tuple  # the Points layers whose points are pooled, first = chosen
    points: PooledPoints
    coordinate_dims: tuple[int, ...] | None
    columns: tuple[str, ...]
    standardize: bool
    sweep_kwargs: dict = field(default_factory=dict)

    @property
    def layer(self) -> napari.layers.Points:
        return self.layers[0]

    @property
    def name(self) -> str:
        """The outputs' name stem: the input layer name(s)."""
        return self.points.name

    @property
    def coordinates(self) -> np.ndarray:
        return self.points.coordinates

    @property
    def size(self) -> np.ndarray | None:
        return self.points.size

    @property
    def features(self) -> pd.DataFrame:
        return self.points.features

    def reread(self) -> SweepRequest:
        """The same request on the layers' current points (live mode)."""
        return replace(self, points=read_points(self.layers, self.columns))

    def feature_matrix(self) -> FeatureMatrix:
        return points_feature_matrix(
            self.coordinates,
            self.features,
            coordinate_dims=self.coordinate_dims,
            columns=self.columns,
            standardize=self.standardize,
        )


def read_points(layers, columns=()) -> PooledPoints:
    """Copy the points, sizes and features of Points layers into one pool."""
    layers = tuple(layers)
    # pool_points stacks (copies) them: the pool does not share memory with
    # the layers, and 10^6 points are copied once on the event loop, not twice
    points = pool_points(
        [layer.name for layer in layers],
        [np.asarray(layer.data, dtype=float) for layer in layers],
        [layer.features.copy() for layer in layers],
        [np.asarray(layer.size) for layer in layers],
        columns=columns,
    )
    placements = {
        (tuple(np.round(layer.scale, 12)), tuple(np.round(layer.translate, 12)))
        for layer in layers
    }
    if len(placements) > 1:
        raise ValueError(
            "The chosen Points layers have different scale or translate; "
            "points clustered together must share one coordinate system."
        )
    return points


@dataclass
class Display:
    """What is shown now: the data, the sweep, and the displayed model."""

    request: SweepRequest
    matrix: FeatureMatrix
    result: object  # SweepResult
    key: tuple[int, str]
    model: object  # GaussianMixture
    slots: np.ndarray


class GMMWidget(SweepWidgetBase):
    """Sweep K x covariance type on a Points layer and show the chosen mixture."""

    #: Emitted after a live refit updated the layers.
    live_updated = Signal(object)
    output_roles = OUTPUT_ROLES
    unit = "clusters"
    components_dock_name = "GMM components (points)"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self.display: Display | None = None
        self._live_layers = ()  # the layers live mode listens to
        self._live_pending = False
        self._feature_dock = None
        self._note = ""  # what the status line adds about ellipses
        self._build_form()
        self._status.value = "Pick a Points layer and press Run."
        self._live_timer = QTimer()
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self._live_refit)
        self.native.destroyed.connect(self._live_timer.stop)
        self._connect()
        self._on_layer_changed()

    # -- form ---------------------------------------------------------------
    def _build_form(self):
        self._layer_combo = ComboBox(
            label="Points layer",
            choices=self._points_layers,
            tooltip="The points to cluster (a Points layer). Its data are never "
            "changed: the result is a new layer.",
        )
        self._pool = Select(
            label="Cluster together with",
            choices=self._pool_choices,
            value=[],
            tooltip="Other Points layers (same number of axes) whose points are "
            "clustered together with the chosen layer's, as one set; the "
            "output's 'source' column says which layer each point came from. "
            "Leave empty to cluster one layer.",
        )
        self._pool.native.setMaximumHeight(60)
        self._coordinates = ComboBox(
            label="Use positions",
            choices=[
                ("all axes", "all"),
                ("displayed axes", "displayed"),
                ("none (columns only)", "none"),
            ],
            value="all",
            tooltip="Which point coordinates are clustered: all axes, only the "
            "axes shown in the canvas (e.g. y, x of a z-stack), or none (then "
            "only the feature columns below).",
        )
        self._columns = Select(
            label="Feature columns",
            choices=self._column_choices,
            value=[],
            tooltip="Numeric columns of the layer's features (e.g. intensity, "
            "area) clustered together with the positions. Ctrl/Shift-click to "
            "pick several.",
        )
        self._columns.native.setMaximumHeight(80)
        self._standardize = CheckBox(
            text="Put features on one scale",
            value=False,
            tooltip="Divide every feature by its standard deviation before "
            "fitting (z-score). Turn on when features have different units "
            "(e.g. µm and intensity).",
        )
        self._ellipse_unit = ComboBox(
            label="Ellipse size in",
            choices=[
                ("standard deviations", "std"),
                ("% of points inside", "confidence"),
            ],
            value="std",
            tooltip="How the ellipse size below is given: in standard deviations, "
            "or as the share of a cluster's points the ellipse should hold.",
        )
        self._ellipse_size = FloatSpinBox(
            label="Ellipse size",
            value=2.0,
            min=0.1,
            max=10.0,
            step=0.5,
            tooltip="Size of the drawn ellipses (display only, no refit).",
        )
        self._color_by = ComboBox(
            label="Color points by",
            choices=self._color_by_choices,
            value=COLOR_BY_COMPONENT,
            tooltip="Color the output points by their cluster, or by any of "
            "their feature columns (categories cycle through colors, numbers "
            "get a colormap).",
        )
        self._live_box = CheckBox(
            text="Refit while I edit points",
            value=False,
            tooltip="After a run, moving, adding or deleting points refits the "
            "model (colors stay stable).",
        )
        self._live_mode = ComboBox(
            label="When editing",
            choices=REFIT_MODES,
            tooltip="What a refit while editing does: 'warm start' continues "
            "from the shown model (fast), 'same model' refits it from scratch, "
            "'new sweep' compares all models again (slowest).",
        )
        self.add_form([self._layer_combo, self.k_range_widget(), self._noise])
        self.add_group(
            "Advanced settings",
            [
                (
                    "Data",
                    [self._pool, self._coordinates, self._columns, self._standardize],
                ),
                ("Models to compare", [*self.model_setting_widgets(), self._seeds]),
                (
                    "Display and live update",
                    [
                        self._ellipse_unit,
                        self._ellipse_size,
                        self._color_by,
                        self._live_box,
                        self._live_mode,
                    ],
                ),
            ],
            tooltip="Which data are clustered, which models are compared, how "
            "the result is drawn. The defaults suit most uses.",
        )
        for widget in self.run_widgets():
            self.add_native(widget)
        self.canvas = CriterionCanvas(on_select=self.show_candidate, unit=self.unit)
        self.add_native(self.canvas)
        self.add_group("Save, apply, export", self.output_widgets())
        self.finish_form()

    def _connect(self):
        self._layer_combo.changed.connect(self._on_layer_changed)
        self._ellipse_unit.changed.connect(self._on_ellipse_unit_changed)
        self._ellipse_size.changed.connect(self._render_if_shown)
        self._color_by.changed.connect(self._on_color_by_changed)
        self._live_box.changed.connect(self._update_live_connection)
        self._live_box.changed.connect(self._show_inputs_for_editing)
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

    def _pool_choices(self, _widget=None):
        chosen = getattr(self, "_layer_combo", None)
        chosen = None if chosen is None else chosen.value
        return [
            (name, layer)
            for name, layer in self._points_layers()
            if layer is not chosen
        ]

    def selected_layers(self) -> tuple:
        """The chosen Points layer, then those pooled with it."""
        chosen = self._layer_combo.value
        if chosen is None:
            return ()
        return (chosen, *(layer for layer in self._pool.value if layer is not chosen))

    def _color_by_choices(self, _widget=None):
        if self.display is not None:
            return color_by_choices(self.display.request.features)
        layer = getattr(self, "_layer_combo", None)
        layer = None if layer is None else layer.value
        return color_by_choices(None if layer is None else layer.features)

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
        pooled = list(self._pool.value)
        self._pool.reset_choices()
        self._pool.value = [layer for layer in pooled if layer in self._pool.choices]
        self._pool.enabled = bool(self._pool.choices)
        if self.display is None:
            self._color_by.reset_choices()

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
        layers = self.selected_layers()
        if not layers:
            raise ValueError("Add or choose a Points layer first.")
        layer = layers[0]
        empty = [other.name for other in layers if len(other.data) == 0]
        if len(empty) == len(layers):
            raise ValueError(f"The layer '{layer.name}' has no points to cluster.")
        sweep_kwargs = self.sweep_kwargs()
        columns = tuple(self._columns.value)
        points = read_points(layers, columns)
        coordinate_dims = {
            "all": None,
            "displayed": self._displayed_axes(layer),
            "none": (),
        }[self._coordinates.value]
        return SweepRequest(
            layers=layers,
            points=points,
            coordinate_dims=coordinate_dims,
            columns=columns,
            standardize=bool(self._standardize.value),
            sweep_kwargs=sweep_kwargs,
        )

    # -- running a sweep ------------------------------------------------------
    def has_model(self) -> bool:
        return self.display is not None

    def component_table(self):
        display = self.display
        matrix = display.matrix
        table = component_table(
            display.model,
            matrix.X,
            list(matrix.names),
            center=matrix.center,
            scale=matrix.scale,
        )
        # label k -> its slot's color; a noise row (label 0) is grey
        colors = label_colors(slot_colors(display.slots), table["label"])
        table["color"] = [to_hex(rgba) for rgba in colors]
        return table

    def component_caption(self) -> str:
        display = self.display
        model = display.model
        text = (
            f"'{display.request.name}': "
            f"{model_name(model.n_components, model.covariance_type, self.unit)}"
        )
        if display.result is not None and tuple(display.key) == tuple(
            display.result.best_key
        ):
            text += " (the chosen model)"
        if not display.matrix.is_coordinate_space:
            text += "; means and sd in the features' own units"
        return text + "."

    def component_layers(self) -> list[tuple]:
        """One Points layer per component, with the points' features."""
        display = self.display
        request = display.request
        return component_points_layers(
            request.coordinates,
            assign(display.model, display.matrix.X),
            display.model,
            request.name,
            request.size,
            slot_colors(display.slots),
            features=request.features,
        )

    def model_document(self) -> dict:
        display = self.display
        matrix, request = display.matrix, display.request
        dims = request.coordinate_dims
        return {
            "model": display.model,
            "feature_names": list(matrix.names),
            "center": matrix.center,
            "scale": matrix.scale,
            "features_extra": {
                "kind": "points",
                "coordinate_dims": None
                if dims is None
                else list(matrix.coordinate_dims),
                "columns": list(request.columns),
                "standardize": request.standardize,
            },
            "result": display.result,
        }

    def show_saved_model(self, saved, path) -> None:
        """Label the chosen Points layer with a loaded model, without refitting."""
        features = saved.features
        if features.get("kind", "points") not in ("points", "table"):
            raise ValueError(f"{path} is a model for images, not for points.")
        layers = self.selected_layers()
        if not layers:
            raise ValueError("Add or choose a Points layer to apply the model to.")
        dims = features.get("coordinate_dims")
        columns = tuple(features.get("columns") or ())
        if "columns" not in features:  # written by `napari-gmm cluster`: columns only
            dims, columns = (), tuple(features["names"])
        request = SweepRequest(
            layers=layers,
            points=read_points(layers, columns),
            coordinate_dims=None if dims is None else tuple(dims),
            columns=columns,
            standardize=False,
            sweep_kwargs=self.sweep_kwargs(),
        )
        raw = request.feature_matrix()
        if raw.X.shape[1] != len(features["names"]):
            raise ValueError(
                f"The model uses {len(features['names'])} features "
                f"({features['names']}); the layer gives {raw.X.shape[1]}."
            )
        matrix = replace(
            raw,
            X=saved.transform(raw.X),
            center=features["center"],
            scale=features["scale"],
        )
        model = saved.model
        self.display = Display(
            request=request,
            matrix=matrix,
            result=None,
            key=(model.n_components, model.covariance_type),
            model=model,
            slots=np.arange(model.n_components),
        )
        self.canvas.clear()
        self._render()
        self._set_buttons(running=False)
        self._status.value = (
            f"Applied the saved model {path} ({model.covariance_type}, "
            f"{model.n_components} components) to '{request.name}' without "
            "refitting." + self._note
        )
        self._update_live_connection()

    def run(self, _=None):
        """Start a sweep on the chosen layer; returns the worker, or None."""
        if self.is_running:
            self._fail("A fit is already running; press Cancel first.", error=False)
            return None
        try:
            request = self._gather()
            matrix = request.feature_matrix()
            seeds = int(self._seeds.value)
            if seeds > 1:
                fits = iter_stability(
                    matrix.X,
                    seeds=seeds,
                    cancel=self.cancel_check(),
                    **request.sweep_kwargs,
                )
            else:
                fits = iter_sweep(
                    matrix.X, cancel=self.cancel_check(), **request.sweep_kwargs
                )
        except (ValueError, TypeError) as err:
            self._fail(str(err))
            return None
        kwargs = request.sweep_kwargs
        total = len(kwargs["n_components"]) * len(kwargs["covariance_types"]) * seeds
        worker = create_worker(run_generator, fits, _ignore_errors=True)
        return self.start_worker(
            worker,
            total,
            f"Fitting {total} candidates on '{request.name}'…",
            lambda result: self._on_sweep(request, matrix, result),
        )

    def after_worker(self):
        if self._live_pending:
            self._live_pending = False
            self._live_timer.start()

    def _on_sweep(self, request: SweepRequest, matrix: FeatureMatrix, result):
        if any(self.source_gone(layer) for layer in request.layers):
            return
        if self.show_safely(lambda: self._show_sweep(request, matrix, result)):
            self.show_notes(self.notices(result))
            self._update_live_connection()
            self.sweep_finished.emit(result)

    def _show_sweep(self, request: SweepRequest, matrix: FeatureMatrix, result):
        model = copy.deepcopy(result.best)
        self.display = Display(
            request=request,
            matrix=matrix,
            result=result,
            key=result.best_key,
            model=model,
            slots=np.arange(model.n_components),
        )
        self._render()
        self.canvas.show_result(result, result.best_key)
        self._status.value = self.summary(result, result.best_key) + self._note

    # -- showing a model ------------------------------------------------------
    def current_table(self):
        return self.display.result.table if self.has_result() else None

    def show_candidate(self, key):
        """Display another candidate of the sweep (e.g. a clicked bar)."""
        display = self.display
        if display is None or display.result is None or self.is_running:
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
        self._status.value = self.summary(display.result, tuple(key)) + self._note

    def show_best(self, _=None):
        """Display the chosen candidate again."""
        if self.has_result():
            self.show_candidate(self.display.result.best_key)

    def _on_color_by_changed(self, _=None):
        self._render_if_shown()
        display = self.display
        if display is not None and display.result is not None and not self.is_running:
            self._status.value = self.summary(display.result, display.key) + self._note

    def _render_if_shown(self, _=None):
        if self.display is not None and not self.is_running:
            self._render()

    def _render(self):
        """(Re)build every output layer of the displayed model."""
        display = self.display
        request, matrix, model = display.request, display.matrix, display.model
        if any(layer not in self._viewer.layers for layer in request.layers):
            return
        colors = slot_colors(display.slots)
        assignment = assign(model, matrix.X)
        name = request.name
        color_by = self._current_color_by()
        points = labeled_points_layer(
            request.coordinates,
            assignment,
            model,
            name,
            request.size,
            colors,
            features=request.features,
            color_by=color_by,
        )
        outputs = [points]
        self._note = ""
        if color_by != COLOR_BY_COMPONENT:
            values = points[1]["features"][color_by]
            self._note = " " + feature_colors(values).describe(color_by)
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
            self._note += " No ellipses for this choice of axes."
        first = find_output_layer(self._viewer.layers, "labels", name) is None
        self.sync_outputs(name, outputs, active=request.layer)
        if first and not self._live_box.value:
            # the output is a colored copy of every point: the input drawn
            # under it only makes pale (noise) points look white
            for layer in request.layers:
                layer.visible = False
        self._match_ndisplay()
        self._show_feature_space()
        self.refresh_component_dock()
        self.refresh_next_row()

    def _current_color_by(self) -> str:
        """The "Color points by" choice, after offering the shown points' columns."""
        with self._color_by.changed.blocked():
            wanted = self._color_by.value
            self._color_by.reset_choices()
            if wanted in self._color_by.choices:
                self._color_by.value = wanted
            else:
                self._color_by.value = COLOR_BY_COMPONENT
        return self._color_by.value

    def _match_ndisplay(self, _=None):
        """3-D points: ellipsoids in the 3-D view, their slice sections in 2-D."""
        if self.display is None:
            return
        source = self.display.request.name
        surface = find_output_layer(self._viewer.layers, "ellipsoids", source)
        if surface is None:
            return
        sections = find_output_layer(self._viewer.layers, "ellipses", source)
        in_3d = self._viewer.dims.ndisplay == 3
        self._viewer.layers[surface].visible = in_3d
        if sections is not None:
            self._viewer.layers[sections].visible = not in_3d

    # -- feature-space view ---------------------------------------------------
    def _show_feature_space(self):
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
        wanted = ()
        if self._live_box.value and self.display is not None:
            wanted = self.display.request.layers
        if wanted == self._live_layers:
            return
        for layer in self._live_layers:
            layer.events.data.disconnect(self._on_points_edited)
        self._live_layers = wanted
        for layer in wanted:
            layer.events.data.connect(self._on_points_edited)

    def _show_inputs_for_editing(self, live: bool) -> None:
        """Live update edits the input layer(s): show them again."""
        if live and self.display is not None:
            for layer in self.display.request.layers:
                if layer in self._viewer.layers:
                    layer.visible = True

    def _on_points_edited(self, event=None):
        action = getattr(event, "action", None)
        if action is not None and str(action).endswith("ing"):
            return  # "adding"/"changing"/"removing": wait for the finished edit
        self._live_timer.start()  # restarts the countdown: debounce

    def _on_layer_removed(self, event=None):
        if any(layer not in self._viewer.layers for layer in self._live_layers):
            for layer in self._live_layers:
                layer.events.data.disconnect(self._on_points_edited)
            self._live_layers = ()

    def _live_refit(self):
        display = self.display
        if display is None or not self._live_layers:
            return
        if self.is_running:
            self._live_pending = True
            return
        mode = self._live_mode.value
        try:
            request = display.request.reread()
            matrix = request.feature_matrix()
            if mode == "new sweep":
                fits = iter_sweep(
                    matrix.X, cancel=self.cancel_check(), **request.sweep_kwargs
                )
        except ValueError as err:
            self._fail(f"Live update paused: {err}")
            return
        if mode == "new sweep":
            worker = create_worker(run_generator, fits, _ignore_errors=True)

            def on_result(result):
                best = copy.deepcopy(result.best)
                self._on_live_result(request, matrix, best, result)

            total = self._progress.max
        else:
            refit = refit_warm if mode == "warm start" else refit_same
            worker = create_worker(
                run_function, refit, matrix.X, display.model, _ignore_errors=True
            )

            def on_result(model):
                self._on_live_result(request, matrix, model, None)

            total = 1
        self.start_worker(
            worker,
            total,
            f"Live: refitting on {len(matrix.X)} points ({mode})…",
            on_result,
        )

    def _on_live_result(self, request, matrix, model, result):
        if self.display is None or any(
            self.source_gone(layer) for layer in request.layers
        ):
            return
        if self.show_safely(
            lambda: self._show_live_result(request, matrix, model, result)
        ):
            self.live_updated.emit(model)

    def _show_live_result(self, request, matrix, model, result):
        display = self.display
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
            self._status.value = (
                self.summary(result, key)
                + self._note
                + f" Live sweep on {len(matrix.X)} points."
            )
        else:
            # the plot still shows the last sweep; say what is displayed now
            self._status.value = (
                f"Live refit ({mode}) on {len(matrix.X)} points: "
                f"{model.covariance_type}, {model.n_components} components, "
                f"BIC {model.bic(matrix.X):.2f}. Run again to redo the sweep."
            )
