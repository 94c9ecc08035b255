"""The feature-space dock (Qt): the clustered features with the components.

Opened by the points dock when it clusters feature columns (not positions):
two features on the axes, picked in two combo boxes, the points colored
like the output layer and each component's ellipse.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container

from .._colors import slot_colors
from .feature_canvas import FeatureSpaceCanvas

#: Title of the dock.
FEATURE_DOCK_NAME = "GMM feature space"


class FeatureDock:
    """Draws a points display in feature space, in a dock opened on demand.

    ``radius()`` gives the Mahalanobis radius of the drawn ellipses.
    """

    def __init__(self, viewer, radius):
        self._viewer = viewer
        self._radius = radius
        self._display = None
        self.panel = None  # the Container, once opened
        self.dock = None  # napari's dock widget, once opened
        self.canvas = None
        self.x = self.y = None

    def _axis_choices(self, _widget=None):
        if self._display is None:
            return []
        return [(name, i) for i, name in enumerate(self._display.matrix.names)]

    def _open(self) -> None:
        self.x = ComboBox(label="Horizontal", choices=self._axis_choices)
        self.y = ComboBox(label="Vertical", choices=self._axis_choices)
        self.canvas = FeatureSpaceCanvas()
        panel = Container(widgets=[self.x, self.y])
        panel.native.layout().addWidget(self.canvas)
        self.y.value = 1
        self.x.changed.connect(self.draw)
        self.y.changed.connect(self.draw)
        self.panel = panel
        self.dock = self._viewer.window.add_dock_widget(
            panel, name=FEATURE_DOCK_NAME, area="right"
        )

    def show(self, display) -> None:
        """Show ``display`` (a points Display) when it clusters two or more
        features that are not positions; else leave the dock as it is."""
        matrix = display.matrix
        if matrix.is_coordinate_space or matrix.X.shape[1] < 2:
            return
        self._display = display
        if self.dock is None:
            self._open()
        if list(self.x.choices) != list(range(len(matrix.names))):
            with self.x.changed.blocked(), self.y.changed.blocked():
                self.x.reset_choices()
                self.y.reset_choices()
                self.x.value, self.y.value = 0, 1
        self.draw()

    def draw(self, _=None) -> None:
        """Draw the shown model over the two chosen features."""
        display = self._display
        if display is None or display.matrix.is_coordinate_space:
            return
        dims = (self.x.value, self.y.value)
        if dims[0] == dims[1]:
            return
        self.canvas.show_model(
            display.model,
            display.matrix,
            dims,
            self._radius(2),
            slot_colors(display.slots),
        )
