"""Which points the points dock clusters (Qt form): layer(s), axes, columns."""

from __future__ import annotations

import napari
from magicgui.widgets import CheckBox, ComboBox, Select

from .._layers import METADATA_KEY
from ..core.points import numeric_columns

#: "Use positions" choices and the coordinate axes each one clusters.
POSITION_CHOICES = [
    ("all axes", "all"),
    ("displayed axes", "displayed"),
    ("none (columns only)", "none"),
]


class PointsInputs:
    """The chosen Points layer, layers pooled with it, and its features."""

    def __init__(self, viewer):
        self._viewer = viewer
        self.layer = ComboBox(
            label="Points layer",
            choices=self.points_layers,
            tooltip="The points to cluster (a Points layer). Its data are never "
            "changed: the result is a new layer.",
        )
        self.pool = Select(
            label="Cluster together with",
            choices=self._pool_choices,
            value=[],
            tooltip="Other Points layers (same number of axes) whose points are "
            "clustered together with the chosen layer's, as one set; the "
            "output's 'source' column says which layer each point came from. "
            "Leave empty to cluster one layer.",
        )
        self.pool.native.setMaximumHeight(60)
        self.coordinates = ComboBox(
            label="Use positions",
            choices=POSITION_CHOICES,
            value="all",
            tooltip="Which point coordinates are clustered: all axes (an axis "
            "on which every point has the same value, e.g. the z of spots "
            "on one slice, is left out), only the axes shown in the canvas "
            "(e.g. y, x of a z-stack), or none (then only the feature "
            "columns below).",
        )
        self.columns = Select(
            label="Feature columns",
            choices=self._column_choices,
            value=[],
            tooltip="Numeric columns of the layer's features (e.g. intensity, "
            "area) clustered together with the positions. Ctrl/Shift-click to "
            "pick several.",
        )
        self.columns.native.setMaximumHeight(80)
        self.standardize = CheckBox(
            text="Put features on one scale",
            value=False,
            tooltip="Divide every feature by its standard deviation before "
            "fitting (z-score). Turn on when features have different units "
            "(e.g. µm and intensity).",
        )

    def data_widgets(self) -> list:
        """The "Data" rows of the advanced settings."""
        return [self.pool, self.coordinates, self.columns, self.standardize]

    # -- choices (callables, so that napari's reset_choices recomputes them) --
    def points_layers(self, _widget=None):
        """``(name, layer)`` of the viewer's Points layers that are not our outputs."""
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Points)
            and not layer.metadata.get(METADATA_KEY)
        ]

    def _pool_choices(self, _widget=None):
        chosen = getattr(self, "layer", None)
        chosen = None if chosen is None else chosen.value
        return [
            (name, layer) for name, layer in self.points_layers() if layer is not chosen
        ]

    def _column_choices(self, _widget=None):
        layer = getattr(self, "layer", None)
        layer = None if layer is None else layer.value
        return numeric_columns(layer.features) if layer is not None else []

    def refresh(self) -> None:
        """The chosen layer changed: offer its columns and the other layers."""
        self.columns.reset_choices()
        self.columns.enabled = bool(self.columns.choices)
        pooled = list(self.pool.value)
        self.pool.reset_choices()
        self.pool.value = [layer for layer in pooled if layer in self.pool.choices]
        self.pool.enabled = bool(self.pool.choices)

    # -- reading --------------------------------------------------------------
    def choose(self, layer, *pooled) -> None:
        """Choose ``layer`` (and pool ``pooled`` with it)."""
        self.layer.value = layer
        self.pool.value = list(pooled)

    def selected_layers(self) -> tuple:
        """The chosen Points layer, then those pooled with it."""
        chosen = self.layer.value
        if chosen is None:
            return ()
        return (chosen, *(layer for layer in self.pool.value if layer is not chosen))

    def coordinate_dims(self, layer) -> tuple[int, ...] | None:
        """The axes of ``layer`` clustered (None: all of them)."""
        choice = self.coordinates.value
        if choice == "all":
            return None
        if choice == "none":
            return ()
        offset = self._viewer.dims.ndim - layer.ndim
        return tuple(d - offset for d in self._viewer.dims.displayed if d >= offset)
