"""The points dock's outputs (Qt form, napari layers): colored points and ellipses.

:class:`PointsOutputs` owns the display settings (ellipse size, color by)
and turns a points display into layers with the pure builders of
:mod:`napari_gmm._layers`: the labelled copy of the points, and ellipses
(2-D), or ellipsoids with their sections (3-D).
"""

from __future__ import annotations

from magicgui.widgets import ComboBox, FloatSpinBox

from .._colors import slot_colors
from .._layers import (
    COLOR_BY_COMPONENT,
    ellipses_layer,
    ellipsoids_layer,
    feature_colors,
    find_output_layer,
    labeled_points_layer,
    section_ellipses_layer,
)
from .._output_sync import sync_outputs
from ..core import assign
from ..core.geometry import ellipse_radius

#: Output roles of one input layer.
OUTPUT_ROLES = ("labels", "ellipses", "ellipsoids")


class PointsOutputs:
    """Display settings and output layers of a points display.

    ``color_choices`` is the callable the "Color points by" box asks for
    its choices (the shown points' feature columns).
    """

    def __init__(self, viewer, color_choices):
        self._viewer = viewer
        self.ellipse_unit = ComboBox(
            label="Ellipse size in",
            choices=[
                ("standard deviations", "std"),
                ("% of points inside", "confidence"),
            ],
            value="std",
            tooltip="How the ellipse size below is given: in standard deviations, "
            "or as the share of a cluster's points the ellipse should hold.",
        )
        self.ellipse_size = FloatSpinBox(
            label="Ellipse size",
            value=2.0,
            min=0.1,
            max=10.0,
            step=0.5,
            tooltip="Size of the drawn ellipses (display only, no refit).",
        )
        self.color_by = ComboBox(
            label="Color points by",
            choices=color_choices,
            value=COLOR_BY_COMPONENT,
            tooltip="Color the output points by their cluster, or by any of "
            "their feature columns (categories cycle through colors, numbers "
            "get a colormap).",
        )
        self.ellipse_unit.changed.connect(self._on_unit_changed)

    def widgets(self) -> list:
        return [self.ellipse_unit, self.ellipse_size, self.color_by]

    def _on_unit_changed(self, unit) -> None:
        size = self.ellipse_size
        if unit == "confidence":
            size.min, size.max, size.step = 1.0, 99.9, 5.0
            size.value = 95.0
        else:
            size.min, size.max, size.step = 0.1, 10.0, 0.5
            size.value = 2.0

    def ellipse_radius(self, n_dims: int) -> float:
        """Mahalanobis radius of drawn ellipses (n_dims=2) or ellipsoids (3)."""
        if self.ellipse_unit.value == "confidence":
            return ellipse_radius(
                confidence=self.ellipse_size.value / 100.0, n_dims=n_dims
            )
        return ellipse_radius(n_std=self.ellipse_size.value)

    def current_color_by(self) -> str:
        """The "Color points by" choice, after offering the shown points' columns."""
        box = self.color_by
        with box.changed.blocked():
            wanted = box.value
            box.reset_choices()
            box.value = wanted if wanted in box.choices else COLOR_BY_COMPONENT
        return box.value

    def render(self, display, hide_inputs: bool) -> str:
        """(Re)build every output layer of ``display``; returns what the
        result line adds (the color legend, or why there are no ellipses).

        ``hide_inputs``: hide the input layers when their outputs are first
        drawn (the colored copy is drawn over every point; the input under
        it only makes pale noise points look white).
        """
        request, matrix, model = display.request, display.matrix, display.model
        colors = slot_colors(display.slots)
        name = request.name
        color_by = self.current_color_by()
        points = labeled_points_layer(
            request.coordinates,
            assign(model, matrix.X),
            model,
            name,
            request.size,
            colors,
            features=request.features,
            color_by=color_by,
        )
        outputs = [points]
        note = request.flat_note()
        if color_by != COLOR_BY_COMPONENT:
            values = points[1]["features"][color_by]
            note += " " + feature_colors(values).describe(color_by)
        dims = matrix.coordinate_dims
        ndim = request.coordinates.shape[1]
        last_two = (ndim - 2, ndim - 1)
        if matrix.is_coordinate_space and len(dims) == 2 and dims == last_two:
            outputs.append(
                ellipses_layer(model, name, self.ellipse_radius(2), colors=colors)
            )
        elif matrix.is_coordinate_space and dims == (0, 1, 2) and ndim == 3:
            radius = self.ellipse_radius(3)
            origin = float(request.coordinates[:, 0].min())
            outputs.append(section_ellipses_layer(model, name, radius, origin, colors))
            outputs.append(ellipsoids_layer(model, name, radius, colors))
        elif matrix.is_coordinate_space:
            note += " No ellipses for this choice of axes."
        layers = self._viewer.layers
        first = find_output_layer(layers, "labels", name) is None
        sync_outputs(layers, name, outputs, OUTPUT_ROLES, active=request.layer)
        if first and hide_inputs:
            for layer in request.layers:
                layer.visible = False
        self.match_ndisplay(name)
        return note

    def match_ndisplay(self, source: str) -> None:
        """3-D points: ellipsoids in the 3-D view, their slice sections in 2-D."""
        layers = self._viewer.layers
        surface = find_output_layer(layers, "ellipsoids", source)
        if surface is None:
            return
        sections = find_output_layer(layers, "ellipses", source)
        in_3d = self._viewer.dims.ndisplay == 3
        layers[surface].visible = in_3d
        if sections is not None:
            layers[sections].visible = not in_3d
