"""The points dock: gathers inputs, runs the model, shows its display.

The widget holds no science: it reads its form into a
:class:`~napari_gmm._points_request.SweepRequest`, hands it to a
:class:`~napari_gmm._points_model.PointsSweepModel` (which runs the core in
a napari thread worker through the dock's run controller), and draws the
model's display with :class:`~napari_gmm._qt.points_outputs.PointsOutputs`.
Its parts live in :mod:`napari_gmm._qt`.
"""

from __future__ import annotations

import napari
from psygnal import Signal

from ._layers import color_by_choices
from ._points_model import PointsSweepModel
from ._points_request import SweepRequest
from ._qt.criterion_canvas import CriterionCanvas
from ._qt.feature_dock import FeatureDock
from ._qt.live_mode import LiveMode
from ._qt.points_inputs import PointsInputs
from ._qt.points_outputs import OUTPUT_ROLES, PointsOutputs
from ._result_text import notices
from ._terms import model_name
from ._widget_base import SweepDock


class GMMWidget(SweepDock):
    """Sweep K x covariance type on a Points layer and show the chosen mixture."""

    #: Emitted after a live refit updated the layers.
    live_updated = Signal(object)
    output_roles = OUTPUT_ROLES
    unit = "clusters"
    components_dock_name = "GMM components (points)"
    model_type = PointsSweepModel

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        self._note = ""  # what the result line adds about colors and ellipses
        self.inputs = PointsInputs(napari_viewer)
        self.outputs = PointsOutputs(napari_viewer, self._color_by_choices)
        self.live = LiveMode(self)
        self.feature_dock = FeatureDock(napari_viewer, self.outputs.ellipse_radius)
        self._build_form()
        self.controls.say("Pick a Points layer and press Run.")
        self.inputs.layer.changed.connect(self._on_layer_changed)
        self.outputs.ellipse_size.changed.connect(self._render_if_shown)
        self.outputs.color_by.changed.connect(self._on_color_by_changed)
        self.viewer.dims.events.ndisplay.connect(self._match_ndisplay)
        for event in (
            napari_viewer.layers.events.inserted,
            napari_viewer.layers.events.removed,
        ):
            event.connect(self._on_layers_changed)
        self._on_layer_changed()

    def _build_form(self) -> None:
        body, form = self.body, self.form
        body.add_form([self.inputs.layer, form.k_range_widget(), form.noise])
        body.add_group(
            "Advanced settings",
            [
                ("Data", self.inputs.data_widgets()),
                ("Models to compare", [*form.model_setting_widgets(), form.seeds]),
                (
                    "Display and live update",
                    [*self.outputs.widgets(), *self.live.widgets()],
                ),
            ],
            tooltip="Which data are clustered, which models are compared, how "
            "the result is drawn. The defaults suit most uses.",
        )
        for widget in self.controls.widgets():
            body.add(widget)
        self.canvas = CriterionCanvas(on_select=self.show_candidate, unit=self.unit)
        body.add(self.canvas)
        body.add_group("Save, apply, export", self.files.widgets())
        body.finish()

    # -- inputs ---------------------------------------------------------------
    def choose_layers(self, layer, *pooled) -> None:
        """Cluster the Points ``layer`` (with the ``pooled`` ones) at the next Run."""
        self.inputs.choose(layer, *pooled)

    def selected_layers(self) -> tuple:
        """The chosen Points layer, then those pooled with it."""
        return self.inputs.selected_layers()

    def _color_by_choices(self, _widget=None):
        if self.display is not None:
            return color_by_choices(self.display.request.features)
        layer = self.inputs.layer.value
        return color_by_choices(None if layer is None else layer.features)

    def _on_layers_changed(self, _=None) -> None:
        self.inputs.layer.reset_choices()
        self._on_layer_changed()

    def _on_layer_changed(self, _=None) -> None:
        self.inputs.refresh()
        if self.display is None:
            self.outputs.color_by.reset_choices()

    def request(self) -> SweepRequest:
        """The form as a request; ValueError with a sentence for the user."""
        layers = self.selected_layers()
        if not layers:
            raise ValueError("Add or choose a Points layer first.")
        return SweepRequest.of(
            layers,
            self.form.settings(),
            coordinate_dims=self.inputs.coordinate_dims(layers[0]),
            columns=self.inputs.columns.value,
            standardize=self.inputs.standardize.value,
            seeds=self.form.seeds.value,
        )

    # -- running --------------------------------------------------------------
    def run(self, _=None):
        """Start a sweep on the chosen layer; returns the worker, or None."""
        if self.refuse_while_running():
            return None
        try:
            request = self.request()
        except (ValueError, TypeError) as err:
            self.controls.fail(str(err))
            return None
        return self.start_run(
            request.total,
            f"Fitting {request.total} candidates on '{request.name}'…",
            lambda callbacks: self.model.run(request, callbacks),
            self._on_sweep,
        )

    def after_run(self) -> None:
        super().after_run()
        self.live.after_run()

    def _on_sweep(self, fitted) -> None:
        if self.source_gone(fitted.request.layers):
            return

        def show():
            display = self.model.show_sweep(fitted)
            self.render()
            self.canvas.show_result(display.result, display.key)
            self.controls.say(self.summary(display.result, display.key) + self._note)

        if self.show_safely(show):
            self.show_notes(notices(fitted.value))
            self.live.follow()
            self.sweep_finished.emit(fitted.value)

    def show_live_result(self, fitted) -> None:
        """Draw a live refit (or live sweep) on the edited points."""
        if self.display is None or self.source_gone(fitted.request.layers):
            return

        def show():
            display = self.model.show_refit(fitted)
            if fitted.is_sweep:
                self.canvas.show_result(display.result, display.key)
            self.render()
            n_points = len(fitted.matrix.X)
            if fitted.is_sweep:
                self.controls.say(
                    self.summary(display.result, display.key)
                    + self._note
                    + f" Live sweep on {n_points} points."
                )
            else:
                # the plot still shows the last sweep; say what is displayed now
                model = display.model
                self.controls.say(
                    f"Live refit ({self.live.mode.value}) on {n_points} points: "
                    f"{model.covariance_type}, {model.n_components} components, "
                    f"BIC {model.bic(fitted.matrix.X):.2f}. Run again to redo "
                    "the sweep."
                )

        if self.show_safely(show):
            self.live_updated.emit(self.display.model)

    # -- showing a model ------------------------------------------------------
    def current_table(self):
        return self.display.result.table if self.has_result() else None

    def show_candidate(self, key) -> None:
        """Display another candidate of the sweep (e.g. a clicked bar)."""
        if not self.has_result() or self.is_running:
            return
        try:
            display = self.model.show_candidate(key)
        except KeyError as err:
            self.controls.fail(str(err.args[0]))
            return
        self.canvas.highlight(display.key)
        self.render()
        self.controls.say(self.summary(display.result, display.key) + self._note)

    def show_best(self, _=None) -> None:
        """Display the chosen candidate again."""
        if self.has_result():
            self.show_candidate(self.display.result.best_key)

    def show_saved_model(self, saved, path) -> None:
        """Label the chosen Points layer with a loaded model, without refitting."""
        display = self.model.show_saved(
            saved, self.selected_layers(), path, settings=self.form.settings()
        )
        model = display.model
        self.canvas.clear()
        self.render()
        self.set_buttons(running=False)
        self.controls.say(
            f"Applied the saved model {path} ({model.covariance_type}, "
            f"{model.n_components} components) to '{display.request.name}' "
            "without refitting." + self._note
        )
        self.live.follow()

    def _on_color_by_changed(self, _=None) -> None:
        self._render_if_shown()
        if self.has_result() and not self.is_running:
            display = self.display
            self.controls.say(self.summary(display.result, display.key) + self._note)

    def _render_if_shown(self, _=None) -> None:
        if self.display is not None and not self.is_running:
            self.render()

    def render(self) -> None:
        """(Re)build every output layer of the displayed model."""
        display = self.display
        if any(layer not in self.viewer.layers for layer in display.request.layers):
            return
        self._note = self.outputs.render(display, hide_inputs=not self.live.enabled)
        self.feature_dock.show(display)
        self.refresh_component_dock()
        self.refresh_next_row()

    def ellipse_radius(self, n_dims: int) -> float:
        """Mahalanobis radius of drawn ellipses (n_dims=2) or ellipsoids (3)."""
        return self.outputs.ellipse_radius(n_dims)

    def _match_ndisplay(self, _=None) -> None:
        if self.display is not None:
            self.outputs.match_ndisplay(self.display.request.name)

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
