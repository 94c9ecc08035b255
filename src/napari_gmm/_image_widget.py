"""The image widget: segment Image layer(s) into intensity classes.

Reads its form into the keyword arguments of
:func:`napari_gmm.core.segment.iter_segment_image` (or the per-frame variant),
runs it in a thread worker, and adds a Labels layer of the chosen classes
(1 = dimmest) and, on request, an uncertainty image. The criterion plot is
shared with the points widget; the histogram plot shows the fitted classes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Select, SpinBox
from napari.qt.threading import create_worker

from ._colors import component_colors
from ._layers import (
    METADATA_KEY,
    class_labels_layer,
    class_mask_layers,
    uncertainty_layer,
)
from ._qt.criterion_canvas import CriterionCanvas
from ._qt.histogram_canvas import HistogramCanvas
from ._qt.sections import plot_tabs
from ._terms import model_name
from ._widget_base import SweepWidgetBase, run_generator
from .core.intervals import class_intervals, format_intervals, make_contiguous
from .core.report import component_table
from .core.segment import (
    IMAGE_CRITERION,
    FramesResult,
    SegmentationResult,
    apply_to_image,
    iter_segment_frames,
    iter_segment_image,
    segmentation_for,
)
from .core.settings import PixelSettings

NO_MASK = "(whole image)"
#: Names of an RGB(A) image's channels.
RGB_NAMES = ("red", "green", "blue", "alpha")
#: "Classes are intensity ranges" is on by default (see docs/images.md:
#: on skimage's cell, coins and camera it changes few pixels and makes
#: "label 1 = dimmest" true of every pixel).
CONTIGUOUS_DEFAULT = True


@dataclass(frozen=True)
class SegmentRequest:
    """One Run: the input layers and the core's keyword arguments."""

    layers: tuple
    image: object  # array, dask array, or list of arrays (channels)
    mask: object
    per_frame: bool
    kwargs: dict

    @property
    def name(self) -> str:
        return self.layers[0].name


@dataclass
class ImageDisplay:
    request: SegmentRequest
    result: object  # SegmentationResult, FramesResult, or None for a loaded model
    key: tuple
    segmentation: SegmentationResult  # what the layers show (frame 0 if per frame)
    model: object  # the GaussianMixture shown


def _layer_data(layer):
    """Full-resolution data of an Image/Labels layer (multiscale: level 0)."""
    return layer.data[0] if layer.multiscale else layer.data


class SegmentWidget(SweepWidgetBase):
    """Sweep K x covariance type on pixel intensities; add a Labels layer."""

    output_roles = ("classes", "uncertainty")
    unit = "classes"
    components_dock_name = "GMM classes (image)"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        # images choose by ICL, as segment_image (docs/images.md, section 6)
        super().__init__(napari_viewer, k_max=5, criterion=IMAGE_CRITERION)
        self.display: ImageDisplay | None = None
        self._images = Select(
            label="Image layer(s)",
            choices=self._image_layers,
            tooltip="The image to split into intensity classes. Pick several "
            "single-channel layers (Ctrl/Shift-click) to classify their channels "
            "together. Images are never changed: the result is a Labels layer.",
        )
        self._images.native.setMaximumHeight(56)
        self._mask = ComboBox(
            label="Only inside",
            choices=self._mask_layers,
            tooltip="A Labels or Shapes layer: fit on its non-zero pixels only "
            "(e.g. a region of interest). Every pixel is still labelled.",
        )
        self._smoothing = FloatSpinBox(
            label="Smoothing σ (pixels)",
            value=0.0,
            min=0.0,
            max=50.0,
            step=0.5,
            tooltip="Gaussian blur before classifying (0 = off). 1-2 pixels "
            "gives smoother classes on noisy images.",
        )
        self._log = CheckBox(
            text="Log intensities",
            value=False,
            tooltip="Classify log(1 + intensity): helps when dim and bright "
            "structures differ by orders of magnitude.",
        )
        self._exclude_zero = CheckBox(
            text="Ignore zero pixels",
            value=False,
            tooltip="Leave pixels of value 0 (e.g. padding, outside a stitched "
            "field) out of the fit; they get label 0.",
        )
        self._exclude_saturated = CheckBox(
            text="Ignore saturated pixels",
            value=False,
            tooltip="Leave pixels at the image type's maximum (e.g. 255, 65535) "
            "out of the fit; they get label 0.",
        )
        self._n_bins = SpinBox(
            label="Bins (float images)",
            value=256,
            min=8,
            max=65536,
            tooltip="Floating-point images are binned into this many intensity "
            "levels before fitting (integer images are used exactly).",
        )
        self._per_frame = CheckBox(
            text="One model per frame (first axis)",
            value=False,
            tooltip="Fit every time point separately (e.g. when bleaching "
            "changes intensities); else one model for the whole stack.",
        )
        self._probability = CheckBox(
            text="Add uncertainty image",
            value=False,
            tooltip="Also add an image of 1 - the probability of each pixel's "
            "class: bright where the class is unsure.",
        )
        self._contiguous = CheckBox(
            text="Classes are intensity ranges",
            value=CONTIGUOUS_DEFAULT,
            tooltip="One channel: make every class one intensity range, so "
            "label order = brightness order for every pixel (1 = dimmest). "
            "Off: each intensity gets its most probable class, and a broad "
            "class can cover two separate ranges.",
        )
        self.add_form([self._images, self.k_range_widget(), self._noise])
        self.add_group(
            "Advanced settings",
            [
                (
                    "Pixels",
                    [
                        self._mask,
                        self._smoothing,
                        self._log,
                        self._exclude_zero,
                        self._exclude_saturated,
                        self._n_bins,
                        self._contiguous,
                        self._per_frame,
                        self._probability,
                    ],
                ),
                ("Models to compare", self.model_setting_widgets()),
            ],
            tooltip="Which pixels are used, how they are prepared, which models "
            "are compared. The defaults suit most images.",
        )
        for widget in self.run_widgets():
            self.add_native(widget)
        self._status.value = "Pick Image layer(s) and press Run."
        self.canvas = CriterionCanvas(on_select=self.show_candidate, unit=self.unit)
        self.histogram_canvas = HistogramCanvas()
        self.plot_tabs = plot_tabs(
            [
                (
                    "Scores",
                    self.canvas,
                    "Each model's BIC minus the best's; click a bar to show "
                    "that model.",
                ),
                (
                    "Histogram",
                    self.histogram_canvas,
                    "The pixels' intensities with each class's fitted curve "
                    "(one channel) or ellipse (two or more).",
                ),
            ]
        )
        self.add_native(self.plot_tabs)
        self.add_group("Save, apply, export", self.output_widgets())
        self.finish_form()
        self._contiguous.changed.connect(self._on_contiguous_changed)
        for event in (
            self._viewer.layers.events.inserted,
            self._viewer.layers.events.removed,
        ):
            event.connect(self._refresh_choices)
        self._refresh_choices()

    # -- form ---------------------------------------------------------------
    def _image_layers(self, _widget=None):
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image)
            and not layer.metadata.get(METADATA_KEY)
        ]

    def _mask_layers(self, _widget=None):
        masks = [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, (napari.layers.Labels, napari.layers.Shapes))
            and not layer.metadata.get(METADATA_KEY)
        ]
        return [(NO_MASK, None), *masks]

    def _refresh_choices(self, _=None):
        self._images.reset_choices()
        self._mask.reset_choices()
        if not self._images.value and self._images.choices:
            self._images.value = [self._images.choices[0]]

    def _spatial_shape(self, layers) -> tuple:
        data = _layer_data(layers[0])
        return tuple(data.shape[:-1]) if layers[0].rgb else tuple(data.shape)

    def _mask_array(self, layer, shape):
        if layer is None:
            return None
        if isinstance(layer, napari.layers.Shapes):
            if layer.nshapes == 0:
                raise ValueError(f"The mask layer '{layer.name}' has no shapes.")
            return np.asarray(layer.to_masks(mask_shape=shape)).any(axis=0)
        return _layer_data(layer)

    def _gather(self) -> SegmentRequest:
        layers = tuple(self._images.value)
        if not layers:
            raise ValueError("Add or choose an Image layer first.")
        if len(layers) > 1 and any(layer.rgb for layer in layers):
            raise ValueError("Choose one RGB layer, or several single-channel layers.")
        shapes = {tuple(_layer_data(layer).shape) for layer in layers}
        if len(shapes) > 1:
            raise ValueError(
                f"The chosen layers have different shapes {sorted(shapes)}; "
                "channels must have the same shape."
            )
        image = (
            _layer_data(layers[0])
            if len(layers) == 1
            else [_layer_data(layer) for layer in layers]
        )
        mask = self._mask_array(self._mask.value, self._spatial_shape(layers))
        kwargs = {
            "channel_axis": -1 if layers[0].rgb else None,
            "smoothing_sigma": float(self._smoothing.value),
            "log_transform": bool(self._log.value),
            "exclude_zero": bool(self._exclude_zero.value),
            "exclude_saturated": bool(self._exclude_saturated.value),
            "n_bins": int(self._n_bins.value),
            "probability": bool(self._probability.value),
            **self.sweep_kwargs(),
        }
        return SegmentRequest(layers, image, mask, bool(self._per_frame.value), kwargs)

    # -- running --------------------------------------------------------------
    def has_model(self) -> bool:
        return self.display is not None and not isinstance(
            self.display.result, FramesResult
        )

    def channel_names(self) -> list[str]:
        """'intensity'; red/green/blue for RGB; the layer names for channels."""
        display = self.display
        n_channels = display.model.means_.shape[1]
        layers = display.request.layers
        if n_channels == 1:
            return ["intensity"]
        if layers[0].rgb:
            return list(RGB_NAMES[:n_channels])
        if len(layers) == n_channels:
            return [layer.name for layer in layers]
        return [f"channel {c}" for c in range(n_channels)]  # pragma: no cover

    def class_ranges(self) -> dict | None:
        """One channel: ``{label: [(low, high), ...]}`` intensity ranges shown."""
        shown = self.display.segmentation
        histogram = shown.histogram
        if histogram.values.shape[1] != 1:
            return None
        return class_intervals(
            histogram.values[:, 0], shown.value_labels, histogram.log_transform
        )

    def component_table(self):
        display = self.display
        shown = display.segmentation
        histogram = shown.histogram
        table = component_table(
            display.model,
            histogram.values,
            self.channel_names(),
            sample_weight=histogram.counts,
        )
        ranges = self.class_ranges()
        if ranges is not None:
            # the labels shown (they may be intervals), not the bare argmax
            counts = np.bincount(
                np.asarray(shown.value_labels, dtype=int),
                weights=histogram.counts,
                minlength=int(table["label"].max()) + 1,
            )
            if "count" in table:
                table["count"] = counts[table["label"].to_numpy()].astype(np.int64)
            table.insert(
                1,
                "intensities",
                [format_intervals(ranges.get(int(k), [])) for k in table["label"]],
            )
        return table

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

    def component_layers(self) -> list[tuple]:
        """One Labels layer per class (1 inside the class), where the image is."""
        display = self.display
        labels = (
            display.result.labels
            if isinstance(display.result, FramesResult)
            else display.segmentation.labels
        )
        n_classes = max(int(display.model.n_components), max(self._frame_classes()))
        scale, translate = self._spatial_transform(display.request.layers[0])
        return class_mask_layers(
            labels,
            display.model,
            display.request.name,
            scale,
            translate,
            component_colors(n_classes),
            n_classes=n_classes,
        )

    def model_document(self) -> dict:
        display = self.display
        n_channels = display.model.means_.shape[1]
        return {
            "model": display.model,
            "feature_names": [f"channel {c}" for c in range(n_channels)],
            "features_extra": {"kind": "image"},
            "preprocessing": PixelSettings.from_dict(display.request.kwargs).to_dict(),
            "result": None if display.result is None else display.result.sweep,
        }

    def show_saved_model(self, saved, path) -> None:
        """Label the chosen image layer(s) with a loaded model (no refit)."""
        if saved.features.get("kind") != "image":
            raise ValueError(f"{path} is a model for points, not for images.")
        request = self._gather()
        settings = dict(saved.preprocessing)
        settings["channel_axis"] = request.kwargs["channel_axis"]
        shown = apply_to_image(
            saved.model,
            request.image,
            settings,
            mask=request.mask,
            probability=request.kwargs["probability"],
        )
        model = saved.model
        shown = self._as_shown(shown, model, request)
        key = (model.n_components, model.covariance_type)
        self.display = ImageDisplay(request, None, key, shown, model)
        self.canvas.clear()
        self._render()
        self._set_buttons(running=False)

    def run(self, _=None):
        """Start the segmentation of the chosen layer(s); returns the worker."""
        if self.is_running:
            self._fail("A fit is already running; press Cancel first.", error=False)
            return None
        try:
            request = self._gather()
            kwargs = dict(request.kwargs, cancel=self.cancel_check())
            if request.per_frame:
                fits = iter_segment_frames(request.image, mask=request.mask, **kwargs)
                n_frames = len(
                    request.image[0]
                    if isinstance(request.image, list)
                    else request.image
                )
            else:
                fits = iter_segment_image(request.image, mask=request.mask, **kwargs)
                n_frames = 1
        except (ValueError, TypeError) as err:
            self._fail(str(err))
            return None
        per_frame = len(kwargs["n_components"]) * len(kwargs["covariance_types"])
        worker = create_worker(run_generator, fits, _ignore_errors=True)
        self._total, self._done = per_frame * n_frames, 0
        return self.start_worker(
            worker,
            self._total,
            f"Compressing and fitting {self._total} candidates…",
            lambda result: self._on_result(request, result),
        )

    def candidate_progress(self, fit) -> tuple[int, int]:
        # counts over all frames (a candidate's own index restarts per frame)
        self._done += 1
        return self._done, self._total

    def _on_result(self, request: SegmentRequest, result):
        if any(self.source_gone(layer) for layer in request.layers):
            return
        if isinstance(result, FramesResult):
            first = result.frames[0]
        else:  # classes as intensity ranges, if asked (a display choice)
            result = self._as_shown(result, result.best, request)
            first = result

        def show():
            self.display = ImageDisplay(
                request, result, first.sweep.best_key, first, first.best
            )
            self._render()
            self.canvas.show_result(first.sweep, first.sweep.best_key)

        if self.show_safely(show):
            self.show_notes(self.notices(first.sweep))
            self.sweep_finished.emit(result)

    # -- showing a model ------------------------------------------------------
    def _as_shown(self, shown, model, request):
        """``shown`` with every class one intensity range, when that is asked
        for and possible (one channel, no noise component)."""
        if not self._contiguous.value:
            return shown
        return make_contiguous(
            shown,
            model,
            request.image,
            mask=request.mask,
            probability=request.kwargs["probability"],
        )

    def _on_contiguous_changed(self, _=None):
        """Relabel the shown model (no refit): ranges or most probable class."""
        display = self.display
        if display is None or self.is_running:
            return
        if isinstance(display.result, FramesResult):
            return  # one model per frame: labels come from the core as fitted
        request = display.request
        shown = segmentation_for(
            request.image,
            display.segmentation.histogram,
            display.model,
            sweep=display.segmentation.sweep,
            mask=request.mask,
            probability=request.kwargs["probability"],
        )
        shown = self._as_shown(shown, display.model, request)
        self.display = replace(display, segmentation=shown)
        self._render()

    def shown_sweep(self):
        display = self.display
        return None if display is None else display.segmentation.sweep

    def current_table(self):
        return self.display.segmentation.table if self.has_result() else None

    def show_candidate(self, key):
        """Show another candidate's classes (one model for the stack only)."""
        display = self.display
        if display is None or display.result is None or self.is_running:
            return
        if isinstance(display.result, FramesResult):
            self._fail(
                "With one model per frame, the plot shows frame 0 only; "
                "candidates cannot be switched.",
                error=False,
            )
            return
        base = display.result
        try:
            model = base.sweep.model(*key)
        except KeyError as err:
            self._fail(str(err.args[0]))
            return
        request = display.request
        shown = segmentation_for(
            request.image,
            base.histogram,
            model,
            sweep=base.sweep,
            mask=request.mask,
            probability=request.kwargs["probability"],
        )
        shown = self._as_shown(shown, model, request)
        self.display = replace(display, key=tuple(key), segmentation=shown, model=model)
        self.canvas.highlight(self.display.key)
        self._render()

    def show_best(self, _=None):
        if self.has_result():
            self.show_candidate(self.display.segmentation.sweep.best_key)

    def _render(self):
        display = self.display
        request, shown = display.request, display.segmentation
        layer = request.layers[0]
        model = display.model
        if isinstance(display.result, FramesResult):
            labels = display.result.labels
            uncertainty = None
        else:
            labels, uncertainty = shown.labels, shown.uncertainty
        scale, translate = self._spatial_transform(layer)
        n_colors = max(int(model.n_components), max(self._frame_classes()))
        colors = component_colors(n_colors)
        outputs = [
            class_labels_layer(labels, model, request.name, scale, translate, colors)
        ]
        if uncertainty is not None:
            outputs.append(
                uncertainty_layer(uncertainty, model, request.name, scale, translate)
            )
        self.sync_outputs(request.name, outputs, active=layer)
        thresholds = shown.thresholds
        self.histogram_canvas.show_model(
            shown.histogram,
            model,
            colors[: model.n_components],
            thresholds,
            names=self.channel_names(),
            title=shown.histogram.description,
        )
        # what was done to the pixels: on the histogram and the result's tooltip
        self._status.tooltip = shown.histogram.description
        self._status.value = self._describe(shown, display.key)
        self.refresh_component_dock()
        self.refresh_next_row()

    def _frame_classes(self) -> list[int]:
        result = self.display.result
        return result.n_classes if isinstance(result, FramesResult) else [0]

    def _spatial_transform(self, layer):
        """Scale/translate of the image's spatial axes (RGB has one more axis)."""
        return tuple(layer.scale), tuple(layer.translate)

    def _describe(self, shown: SegmentationResult, key) -> str:
        if shown.sweep is None:
            model = self.display.model
            text = (
                f"Applied a saved model ({model.covariance_type}, "
                f"{model.n_components} classes) without refitting."
            )
        else:
            text = self.summary(shown.sweep, key)
        ranges = self.class_ranges()
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
        result = self.display.result
        if isinstance(result, FramesResult):
            text += f" Classes per frame: {result.n_classes}."
        return text
