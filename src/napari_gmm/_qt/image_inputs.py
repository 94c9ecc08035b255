"""Which pixels the image dock segments, and how (Qt form)."""

from __future__ import annotations

import napari
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Select, SpinBox

from .._image_request import layer_data
from .._layers import METADATA_KEY
from ..core.settings import PixelSettings

#: The mask choice meaning "no mask".
NO_MASK = "(whole image)"
#: "Classes are intensity ranges" is on by default (see docs/images.md:
#: on skimage's cell, coins and camera it changes few pixels and makes
#: "label 1 = dimmest" true of every pixel).
CONTIGUOUS_DEFAULT = True


def _ours(layer) -> bool:
    return bool(layer.metadata.get(METADATA_KEY))


class ImageInputs:
    """The Image layer(s), the mask, and the pixel and display options."""

    def __init__(self, viewer):
        self._viewer = viewer
        self.images = Select(
            label="Image layer(s)",
            choices=self.image_layers,
            tooltip="The image to split into intensity classes. Pick several "
            "single-channel layers (Ctrl/Shift-click) to classify their channels "
            "together. Images are never changed: the result is a Labels layer.",
        )
        self.images.native.setMaximumHeight(56)
        self.mask = ComboBox(
            label="Only inside",
            choices=self.mask_layers,
            tooltip="A Labels or Shapes layer: fit on its non-zero pixels only "
            "(e.g. a region of interest). Every pixel is still labelled.",
        )
        self.smoothing = FloatSpinBox(
            label="Smoothing σ (pixels)",
            value=0.0,
            min=0.0,
            max=50.0,
            step=0.5,
            tooltip="Gaussian blur before classifying (0 = off). 1-2 pixels "
            "gives smoother classes on noisy images.",
        )
        self.log = CheckBox(
            text="Log intensities",
            value=False,
            tooltip="Classify log(1 + intensity): helps when dim and bright "
            "structures differ by orders of magnitude.",
        )
        self.exclude_zero = CheckBox(
            text="Ignore zero pixels",
            value=False,
            tooltip="Leave pixels of value 0 (e.g. padding, outside a stitched "
            "field) out of the fit; they get label 0.",
        )
        self.exclude_saturated = CheckBox(
            text="Ignore saturated pixels",
            value=False,
            tooltip="Leave pixels at the image type's maximum (e.g. 255, 65535) "
            "out of the fit; they get label 0.",
        )
        self.n_bins = SpinBox(
            label="Bins (float images)",
            value=256,
            min=8,
            max=65536,
            tooltip="Floating-point images are binned into this many intensity "
            "levels before fitting (integer images are used exactly).",
        )
        self.per_frame = CheckBox(
            text="One model per frame (first axis)",
            value=False,
            tooltip="Fit every time point separately (e.g. when bleaching "
            "changes intensities); else one model for the whole stack.",
        )
        self.probability = CheckBox(
            text="Add uncertainty image",
            value=False,
            tooltip="Also add an image of 1 - the probability of each pixel's "
            "class: bright where the class is unsure.",
        )
        self.contiguous = CheckBox(
            text="Classes are intensity ranges",
            value=CONTIGUOUS_DEFAULT,
            tooltip="One channel: make every class one intensity range, so "
            "label order = brightness order for every pixel (1 = dimmest). "
            "Off: each intensity gets its most probable class, and a broad "
            "class can cover two separate ranges.",
        )

    def pixel_widgets(self) -> list:
        """The "Pixels" rows of the advanced settings."""
        return [
            self.mask,
            self.smoothing,
            self.log,
            self.exclude_zero,
            self.exclude_saturated,
            self.n_bins,
            self.contiguous,
            self.per_frame,
            self.probability,
        ]

    # -- choices (callables, so that napari's reset_choices recomputes them) --
    def image_layers(self, _widget=None):
        """``(name, layer)`` of the viewer's Image layers that are not our outputs."""
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image) and not _ours(layer)
        ]

    def mask_layers(self, _widget=None):
        """No mask, then the Labels and Shapes layers that are not our outputs."""
        masks = [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, (napari.layers.Labels, napari.layers.Shapes))
            and not _ours(layer)
        ]
        return [(NO_MASK, None), *masks]

    def refresh(self) -> None:
        """Layers came or went: new choices; the first image when none is chosen."""
        self.images.reset_choices()
        self.mask.reset_choices()
        if not self.images.value and self.images.choices:
            self.images.value = [self.images.choices[0]]

    def n_channels(self) -> int | None:
        """Channels of the chosen layer(s): one per layer, or an RGB(A)
        layer's colors; None when no layer is chosen."""
        layers = list(self.images.value or ())
        if len(layers) != 1:
            return len(layers) or None
        (layer,) = layers
        return int(layer_data(layer).shape[-1]) if layer.rgb else 1

    # -- reading --------------------------------------------------------------
    def pixel_settings(self) -> PixelSettings:
        """How pixels become values (the channel axis is the request's)."""
        return PixelSettings(
            smoothing_sigma=float(self.smoothing.value),
            log_transform=bool(self.log.value),
            exclude_zero=bool(self.exclude_zero.value),
            exclude_saturated=bool(self.exclude_saturated.value),
            n_bins=int(self.n_bins.value),
        )
