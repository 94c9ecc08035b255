"""The image dock's model, without Qt: what to segment, the run, what is shown.

:class:`ImageSweepModel` turns a
:class:`~napari_gmm._image_request.SegmentRequest` (the Image layer(s), an
optional mask, pixel and sweep settings) into a segmentation run started
through its runner, and keeps the :class:`ImageDisplay`: the result, the
candidate shown and its labels. The widget
(:mod:`napari_gmm._image_widget`) reads its form into a request and draws
the display; tests drive this model directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._colors import component_colors
from ._image_request import SegmentRequest
from ._layers import class_mask_layers
from ._run_model import RunCallbacks, SweepRunModel, run_now
from .core.intervals import class_intervals, format_intervals, make_contiguous
from .core.report import component_table
from .core.segment import (
    FramesResult,
    SegmentationResult,
    apply_to_image,
    iter_segment_frames,
    iter_segment_image,
    segmentation_for,
)

#: Names of an RGB(A) image's channels.
RGB_NAMES = ("red", "green", "blue", "alpha")


@dataclass
class ImageDisplay:
    """What is shown now: the request, the result and the shown labels."""

    request: SegmentRequest
    result: object  # SegmentationResult, FramesResult, or None for a loaded model
    key: tuple
    segmentation: SegmentationResult  # what the layers show (frame 0 if per frame)
    model: object  # the GaussianMixture shown


class ImageSweepModel(SweepRunModel):
    """Run segmentations of Image layers; keep the display.

    ``contiguous``: show every class as one intensity range where possible
    (one channel, no noise component); a display choice, no refit.
    """

    def __init__(self, runner=run_now, contiguous: bool = True):
        super().__init__(runner)
        self.contiguous = contiguous

    def run(self, request: SegmentRequest, callbacks: RunCallbacks | None = None):
        """Start the segmentation; ``callbacks.result`` gets its result.

        Raises
        ------
        ValueError, TypeError
            Before anything starts, when the request cannot be segmented.
        """
        callbacks = callbacks or RunCallbacks()
        kwargs = dict(request.kwargs(), cancel=self.cancel_check())
        if request.per_frame:
            body = iter_segment_frames(request.image, mask=request.mask, **kwargs)
        else:
            body = iter_segment_image(request.image, mask=request.mask, **kwargs)
        return self.start(body, callbacks)

    # -- what is shown --------------------------------------------------------
    def show_result(self, request: SegmentRequest, result) -> ImageDisplay:
        """Show the chosen model of a run's result."""
        if isinstance(result, FramesResult):
            first = result.frames[0]
        else:  # classes as intensity ranges, if asked (a display choice)
            result = self.as_shown(result, result.best, request)
            first = result
        self.display = ImageDisplay(
            request, result, first.sweep.best_key, first, first.best
        )
        return self.display

    def as_shown(self, shown, model, request: SegmentRequest):
        """``shown`` with every class one intensity range, when that is asked
        for and possible (one channel, no noise component)."""
        if not self.contiguous:
            return shown
        return make_contiguous(
            shown,
            model,
            request.image,
            mask=request.mask,
            probability=request.probability,
        )

    def relabel(self) -> ImageDisplay | None:
        """Label the shown model's pixels again after ``contiguous`` changed;
        None when nothing is relabelled (nothing shown, one model per frame)."""
        display = self.display
        if display is None or isinstance(display.result, FramesResult):
            return None  # one model per frame: labels come from the core as fitted
        shown = self._segmentation(display.model, display.segmentation)
        self.display = replace(display, segmentation=shown)
        return self.display

    def show_candidate(self, key) -> ImageDisplay:
        """Show another candidate's classes (KeyError if it was not fitted)."""
        display = self.display
        base = display.result
        model = base.sweep.model(*key)
        shown = self._segmentation(model, base)
        self.display = replace(display, key=tuple(key), segmentation=shown, model=model)
        return self.display

    def _segmentation(self, model, base):
        request = self.display.request
        shown = segmentation_for(
            request.image,
            base.histogram,
            model,
            sweep=base.sweep,
            mask=request.mask,
            probability=request.probability,
        )
        return self.as_shown(shown, model, request)

    @staticmethod
    def check_saved(saved, path) -> None:
        """Raise a ValueError unless ``saved`` (a loaded model) is for images."""
        if saved.features.get("kind") != "image":
            raise ValueError(f"{path} is a model for points, not for images.")

    def show_saved(self, saved, request: SegmentRequest, path) -> ImageDisplay:
        """Label ``request``'s image with a loaded model, without refitting.

        Raises
        ------
        ValueError
            If the model is not for images, or does not fit the image.
        """
        self.check_saved(saved, path)
        settings = dict(saved.preprocessing)
        settings["channel_axis"] = request.pixels.channel_axis
        shown = apply_to_image(
            saved.model,
            request.image,
            settings,
            mask=request.mask,
            probability=request.probability,
        )
        model = saved.model
        shown = self.as_shown(shown, model, request)
        key = (model.n_components, model.covariance_type)
        self.display = ImageDisplay(request, None, key, shown, model)
        return self.display

    # -- what the classes are -------------------------------------------------
    def has_model(self) -> bool:
        """One model is shown (not one per frame), so it can be saved."""
        return self.display is not None and not isinstance(
            self.display.result, FramesResult
        )

    def frame_classes(self) -> list[int]:
        """Classes chosen per frame ([0] unless one model per frame)."""
        result = self.display.result
        return result.n_classes if isinstance(result, FramesResult) else [0]

    def n_colors(self) -> int:
        """Colors the classes need (the most classes of any frame)."""
        return max(int(self.display.model.n_components), max(self.frame_classes()))

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
        """One row per class of the shown model (counts are pixels)."""
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

    def component_layers(self) -> list[tuple]:
        """One Labels layer per class (1 inside the class), where the image is."""
        display = self.display
        labels = (
            display.result.labels
            if isinstance(display.result, FramesResult)
            else display.segmentation.labels
        )
        layer = display.request.layers[0]
        n_classes = self.n_colors()
        return class_mask_layers(
            labels,
            display.model,
            display.request.name,
            tuple(layer.scale),
            tuple(layer.translate),
            component_colors(n_classes),
            n_classes=n_classes,
        )

    def model_document(self) -> dict:
        """Keyword arguments of :func:`~napari_gmm.core.model_io.save_model`."""
        display = self.display
        n_channels = display.model.means_.shape[1]
        return {
            "model": display.model,
            "feature_names": [f"channel {c}" for c in range(n_channels)],
            "features_extra": {"kind": "image"},
            "preprocessing": display.request.pixels.to_dict(),
            "result": None if display.result is None else display.result.sweep,
        }
