"""The image dock: segment Image layer(s) into intensity classes.

Reads its form into a :class:`~napari_gmm._image_model.SegmentRequest`,
hands it to an :class:`~napari_gmm._image_model.ImageSweepModel` (which
runs :func:`~napari_gmm.core.segment.iter_segment_image`, or the per-frame
variant, in a thread worker through the dock's run controller), and adds a
Labels layer of the chosen classes (1 = dimmest) and, on request, an
uncertainty image. The criterion plot is shared with the points dock; the
histogram plot shows the fitted classes.
"""

from __future__ import annotations

import napari

from ._colors import component_colors
from ._image_model import ImageSweepModel
from ._image_request import SegmentRequest
from ._layers import class_labels_layer, uncertainty_layer
from ._qt.criterion_canvas import CriterionCanvas
from ._qt.histogram_canvas import HistogramCanvas
from ._qt.image_inputs import ImageInputs
from ._qt.sections import plot_tabs
from ._result_text import notices
from ._terms import model_name
from ._widget_base import SweepDock
from .core.intervals import format_intervals
from .core.segment import IMAGE_CRITERION, FramesResult

#: Tooltip of the disabled "+ 10 more shapes" box for a one-channel image.
ONE_CHANNEL_MODELS = (
    "Not for one channel: on a single intensity mclust's 14 models are only "
    "two (all classes with one variance, or each its own), and the four "
    "shapes already include both. Choose an RGB image or several "
    "single-channel layers to compare them."
)


class SegmentWidget(SweepDock):
    """Sweep K x covariance type on pixel intensities; add a Labels layer."""

    output_roles = ("classes", "uncertainty")
    unit = "classes"
    components_dock_name = "GMM classes (image)"
    model_type = ImageSweepModel

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        # images choose by ICL, as segment_image (docs/images.md, section 6)
        super().__init__(napari_viewer, k_max=5, criterion=IMAGE_CRITERION)
        self.inputs = ImageInputs(napari_viewer)
        self.model.contiguous = bool(self.inputs.contiguous.value)
        self._build_form()
        self.controls.say("Pick Image layer(s) and press Run.")
        self.inputs.contiguous.changed.connect(self._on_contiguous_changed)
        self.inputs.images.changed.connect(self._on_images_changed)
        for event in (
            self.viewer.layers.events.inserted,
            self.viewer.layers.events.removed,
        ):
            event.connect(lambda _=None: self.inputs.refresh())
        self.inputs.refresh()
        self._on_images_changed()

    def _build_form(self) -> None:
        body, form = self.body, self.form
        body.add_form([self.inputs.images, form.k_range_widget(), form.noise])
        body.add_group(
            "Advanced settings",
            [
                ("Pixels", self.inputs.pixel_widgets()),
                ("Models to compare", form.model_setting_widgets()),
            ],
            tooltip="Which pixels are used, how they are prepared, which models "
            "are compared. The defaults suit most images.",
        )
        for widget in self.controls.widgets():
            body.add(widget)
        self.canvas = CriterionCanvas(on_select=self.show_candidate, unit=self.unit)
        self.histogram_canvas = HistogramCanvas()
        self.plot_tabs = plot_tabs(
            [
                (
                    "Scores",
                    self.canvas,
                    "Each model's criterion minus the best's; click a bar (or "
                    "a marker) to show that model.",
                ),
                (
                    "Histogram",
                    self.histogram_canvas,
                    "The pixels' intensities with each class's fitted curve "
                    "(one channel) or ellipse (two or more).",
                ),
            ]
        )
        body.add(self.plot_tabs)
        body.add_group("Save, apply, export", self.files.widgets())
        body.finish()

    # -- inputs ---------------------------------------------------------------
    def choose_layers(self, *layers) -> None:
        """Segment ``layers`` (one image, or one layer per channel) at the next Run."""
        self.inputs.images.value = list(layers)

    def request(self) -> SegmentRequest:
        """The form as a request; ValueError with a sentence for the user."""
        inputs = self.inputs
        return SegmentRequest.of(
            inputs.images.value,
            inputs.mask.value,
            per_frame=bool(inputs.per_frame.value),
            pixels=inputs.pixel_settings(),
            settings=self.form.settings(),
            probability=bool(inputs.probability.value),
        )

    def _on_images_changed(self, _=None) -> None:
        """mclust's ten other models only for two or more channels: in one
        dimension the 14 models are two, which the four shapes include."""
        self.form.allow_more_models(
            self.inputs.n_channels() != 1, reason=ONE_CHANNEL_MODELS
        )

    # -- running --------------------------------------------------------------
    def run(self, _=None):
        """Start the segmentation of the chosen layer(s); returns the worker."""
        if self.refuse_while_running():
            return None
        try:
            request = self.request()
        except (ValueError, TypeError) as err:
            self.controls.fail(str(err))
            return None
        return self.start_run(
            request.total,
            f"Compressing and fitting {request.total} candidates…",
            lambda callbacks: self.model.run(request, callbacks),
            lambda result: self._on_result(request, result),
            count_steps=True,
        )

    def _on_result(self, request: SegmentRequest, result) -> None:
        if self.source_gone(request.layers):
            return

        def show():
            display = self.model.show_result(request, result)
            self.render()
            sweep = display.segmentation.sweep
            self.canvas.show_result(sweep, sweep.best_key)

        if self.show_safely(show):
            self.show_notes(notices(self.display.segmentation.sweep))
            self.sweep_finished.emit(self.display.result)

    # -- showing a model ------------------------------------------------------
    def has_model(self) -> bool:
        return self.model.has_model()

    def shown_sweep(self):
        display = self.display
        return None if display is None else display.segmentation.sweep

    def current_table(self):
        return self.display.segmentation.table if self.has_result() else None

    def channel_names(self) -> list[str]:
        """'intensity'; red/green/blue for RGB; the layer names for channels."""
        return self.model.channel_names()

    def class_ranges(self) -> dict | None:
        """One channel: ``{label: [(low, high), ...]}`` intensity ranges shown."""
        return self.model.class_ranges()

    def show_candidate(self, key) -> None:
        """Show another candidate's classes (one model for the stack only)."""
        if not self.has_result() or self.is_running:
            return
        if isinstance(self.display.result, FramesResult):
            self.controls.fail(
                "With one model per frame, the plot shows frame 0 only; "
                "candidates cannot be switched.",
                error=False,
            )
            return
        try:
            display = self.model.show_candidate(key)
        except KeyError as err:
            self.controls.fail(str(err.args[0]))
            return
        self.canvas.highlight(display.key)
        self.render()

    def show_best(self, _=None) -> None:
        if self.has_result():
            self.show_candidate(self.display.segmentation.sweep.best_key)

    def show_saved_model(self, saved, path) -> None:
        """Label the chosen image layer(s) with a loaded model (no refit)."""
        self.model.check_saved(saved, path)  # before asking for an image
        self.model.show_saved(saved, self.request(), path)
        self.canvas.clear()
        self.render()
        self.set_buttons(running=False)

    def _on_contiguous_changed(self, value) -> None:
        """Relabel the shown model (no refit): ranges or most probable class."""
        self.model.contiguous = bool(value)
        if self.is_running:
            return
        if self.model.relabel() is not None:
            self.render()

    def render(self) -> None:
        """(Re)build the output layers, the histogram and the result line."""
        display, model = self.display, self.model
        request, shown = display.request, display.segmentation
        layer = request.layers[0]
        if isinstance(display.result, FramesResult):
            labels, uncertainty = display.result.labels, None
        else:
            labels, uncertainty = shown.labels, shown.uncertainty
        scale, translate = tuple(layer.scale), tuple(layer.translate)
        colors = component_colors(model.n_colors())
        shown_model = display.model
        outputs = [
            class_labels_layer(
                labels, shown_model, request.name, scale, translate, colors
            )
        ]
        if uncertainty is not None:
            outputs.append(
                uncertainty_layer(
                    uncertainty, shown_model, request.name, scale, translate
                )
            )
        self.sync_outputs(request.name, outputs, active=layer)
        self.histogram_canvas.show_model(
            shown.histogram,
            shown_model,
            colors[: shown_model.n_components],
            shown.thresholds,
            names=model.channel_names(),
            title=shown.histogram.description,
        )
        # what was done to the pixels: on the histogram and the result's tooltip
        self.controls.status.tooltip = shown.histogram.description
        self.controls.say(self._describe())
        self.refresh_component_dock()
        self.refresh_next_row()

    def _describe(self) -> str:
        display = self.display
        shown = display.segmentation
        if shown.sweep is None:
            model = display.model
            text = (
                f"Applied a saved model ({model.covariance_type}, "
                f"{model.n_components} classes) without refitting."
            )
        else:
            text = self.summary(shown.sweep, display.key)
        ranges = self.model.class_ranges()
        if ranges:
            text += "\nBy intensity: " + "; ".join(
                f"{label}: {format_intervals(spans)}" for label, spans in ranges.items()
            )
            split = [label for label, spans in ranges.items() if len(spans) > 1]
            if split:
                text += (
                    f". Class {split[0]} spans separate ranges; tick 'Classes are "
                    "intensity ranges' (Advanced) to order every pixel by brightness"
                )
            text += "."
        if isinstance(display.result, FramesResult):
            text += f" Classes per frame: {display.result.n_classes}."
        return text

    def component_caption(self) -> str:
        display = self.display
        model = display.model
        text = (
            f"'{display.request.name}': "
            f"{model_name(model.n_components, model.covariance_type, self.unit)}"
        )
        if isinstance(display.result, FramesResult):
            text += " (frame 0; one model per frame)"
        elif display.result is not None and tuple(display.key) == tuple(
            display.segmentation.sweep.best_key
        ):
            text += " (the chosen model)"
        return text + "; label 1 is the dimmest class, count = pixels."
