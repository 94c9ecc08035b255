"""What one Run of the image dock segments: the layers' pixels and the settings.

No Qt: a :class:`SegmentRequest` is read from Image layers (and a Labels or
Shapes mask layer), with :class:`~napari_gmm.core.settings.PixelSettings`
and :class:`~napari_gmm.core.settings.SweepSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import napari
import numpy as np

from ._run_model import count_candidates, form_kwargs
from .core.settings import PixelSettings, SweepSettings


def layer_data(layer):
    """Full-resolution data of an Image/Labels layer (multiscale: level 0)."""
    return layer.data[0] if layer.multiscale else layer.data


def mask_array(layer, shape):
    """The pixels a mask layer (Labels or Shapes) covers, or None for no layer."""
    if layer is None:
        return None
    if isinstance(layer, napari.layers.Shapes):
        if layer.nshapes == 0:
            raise ValueError(f"The mask layer '{layer.name}' has no shapes.")
        return np.asarray(layer.to_masks(mask_shape=shape)).any(axis=0)
    return layer_data(layer)


@dataclass(frozen=True)
class SegmentRequest:
    """One Run: the input layers, their pixels, and the settings."""

    layers: tuple
    image: object  # array, dask array, or list of arrays (channels)
    mask: object  # boolean/label array of the spatial shape, or None
    per_frame: bool = False
    pixels: PixelSettings = field(default_factory=PixelSettings)
    settings: SweepSettings = field(default_factory=SweepSettings)
    probability: bool = False  # also compute the uncertainty image

    @classmethod
    def of(cls, layers, mask_layer=None, **values) -> SegmentRequest:
        """A request for Image ``layers`` (several: channels), fitted inside
        ``mask_layer`` if given; ``values`` are the other fields.

        Raises
        ------
        ValueError
            With one sentence for the user when the layers cannot be
            segmented together.
        """
        layers = tuple(layers)
        if not layers:
            raise ValueError("Add or choose an Image layer first.")
        if len(layers) > 1 and any(layer.rgb for layer in layers):
            raise ValueError("Choose one RGB layer, or several single-channel layers.")
        shapes = {tuple(layer_data(layer).shape) for layer in layers}
        if len(shapes) > 1:
            raise ValueError(
                f"The chosen layers have different shapes {sorted(shapes)}; "
                "channels must have the same shape."
            )
        data = layer_data(layers[0])
        spatial = tuple(data.shape[:-1]) if layers[0].rgb else tuple(data.shape)
        image = data if len(layers) == 1 else [layer_data(layer) for layer in layers]
        pixels = replace(
            values.pop("pixels", PixelSettings()),
            channel_axis=-1 if layers[0].rgb else None,
        )
        mask = mask_array(mask_layer, spatial)
        return cls(layers, image, mask, pixels=pixels, **values)

    @property
    def name(self) -> str:
        return self.layers[0].name

    @property
    def n_frames(self) -> int:
        """Frames fitted one by one (1 unless ``per_frame``)."""
        if not self.per_frame:
            return 1
        return len(self.image[0] if isinstance(self.image, list) else self.image)

    @property
    def total(self) -> int:
        """Candidates the run fits, over all frames."""
        return count_candidates(self.settings) * self.n_frames

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`~napari_gmm.core.segment.iter_segment_image`."""
        return {
            **self.pixels.to_dict(),
            "probability": self.probability,
            **form_kwargs(self.settings),
        }
