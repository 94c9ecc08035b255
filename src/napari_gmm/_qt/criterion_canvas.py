"""A matplotlib canvas (Qt) with the criterion plot; click a candidate to choose it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._plot import plot_criterion
from .._terms import COVARIANCE_NAMES

#: How far from a marker's centre a click still selects it (line view).
MARKER_PICK_RADIUS_PT = 5.0


class CriterionCanvas(FigureCanvasQTAgg):
    """The sweep's criterion plot; empty until a result arrives.

    Grouped bars for scikit-learn's four covariance types, one line per model
    for more (mclust's 14, see :func:`~napari_gmm._plot.plot_criterion`).
    Either way, clicking a candidate (its bar, or its marker) calls
    ``on_select`` with it, and :meth:`highlight` outlines the shown one.

    Parameters
    ----------
    on_select : callable, optional
        Called with ``(n_components, covariance_type)`` when a candidate is
        clicked.
    """

    def __init__(
        self,
        on_select: Callable[[tuple[int, str]], None] | None = None,
        unit: str = "components",
    ):
        super().__init__(Figure(figsize=(4.0, 2.4), layout="constrained"))
        self.setMinimumHeight(210)
        self.setToolTip(
            "Each candidate's criterion minus the best's (* = chosen). Click a "
            "bar, or a marker when mclust's models are drawn as lines, to show "
            "that candidate; the one shown is outlined."
        )
        self.on_select = on_select
        self.unit = unit
        self.bars = {}  # covariance_type -> BarContainer (bars) or Line2D (lines)
        self.bar_keys = {}  # Rectangle -> (n_components, covariance_type)
        self.marker_points = {}  # (n_components, covariance_type) -> (x, y)
        self.ring = None  # the outline of the shown candidate's marker (lines)
        self.mpl_connect("pick_event", self._picked)
        self.mpl_connect("button_press_event", self._pressed)

    def show_result(self, result, displayed_key=None) -> None:
        self.figure.clear()
        axes = self.figure.add_subplot()
        self.bars = plot_criterion(
            axes, result, labels=COVARIANCE_NAMES, unit=self.unit
        )
        ks = [int(k) for k in sorted(result.table["n_components"].unique())]
        self.bar_keys, self.marker_points, self.ring = {}, {}, None
        for covariance_type, artist in self.bars.items():
            if isinstance(artist, Line2D):
                self._add_markers(ks, covariance_type, artist)
            else:
                for k, patch in zip(ks, artist.patches, strict=True):
                    patch.set_picker(True)
                    self.bar_keys[patch] = (k, covariance_type)
        if self.marker_points:
            (self.ring,) = axes.plot(
                [], [], "o", ms=11, mfc="none", mec="black", mew=1.8, zorder=5
            )
        self.highlight(displayed_key)

    def _add_markers(self, ks, covariance_type, line) -> None:
        """Remember where a model's markers are; failed candidates have none."""
        for k, y in zip(ks, line.get_ydata(), strict=True):
            if np.isfinite(y):
                self.marker_points[(k, covariance_type)] = (float(k), float(y))

    def clear(self) -> None:
        """No plot (e.g. a loaded model has no sweep behind it)."""
        self.figure.clear()
        self.bars, self.bar_keys, self.marker_points, self.ring = {}, {}, {}, None
        self.draw_idle()

    def bar_of(self, key):
        """The bar (Rectangle) of a candidate, or None (also in the line view)."""
        return next((p for p, k in self.bar_keys.items() if k == key), None)

    def position_of(self, key):
        """Where a candidate is drawn, in data units: its bar's centre or its
        marker; None when it has neither (failed, or not in the sweep)."""
        bar = self.bar_of(key)
        if bar is not None:
            x, y = bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2
            return (x, y)
        return self.marker_points.get(key)

    def highlight(self, key) -> None:
        """Outline the bar, or ring the marker, of the displayed candidate."""
        for patch, patch_key in self.bar_keys.items():
            chosen = patch_key == key
            patch.set_edgecolor("black" if chosen else "none")
            patch.set_linewidth(2.0 if chosen else 0.0)
        if self.ring is not None:
            x, y = self.marker_points.get(key, (np.nan, np.nan))
            self.ring.set_data([x], [y])
        self.draw_idle()

    def marker_at(self, x_px: float, y_px: float):
        """The candidate whose marker is nearest a point in display pixels,
        within :data:`MARKER_PICK_RADIUS_PT`; None if none is that close.
        On a tie the one drawn last (on top) wins."""
        if not self.marker_points or not self.figure.axes:
            return None
        keys = list(self.marker_points)
        data = np.array([self.marker_points[key] for key in keys])
        pixels = self.figure.axes[0].transData.transform(data)
        distances = np.hypot(pixels[:, 0] - x_px, pixels[:, 1] - y_px)
        nearest = len(keys) - 1 - int(np.argmin(distances[::-1]))
        return keys[nearest] if distances[nearest] <= self.pick_radius_px() else None

    def pick_radius_px(self) -> float:
        """:data:`MARKER_PICK_RADIUS_PT` in display pixels."""
        return MARKER_PICK_RADIUS_PT * self.figure.dpi / 72

    def _picked(self, event) -> None:
        key = self.bar_keys.get(event.artist)
        if key is not None and self.on_select is not None:
            self.on_select(key)

    def _pressed(self, event) -> None:
        if event.button != 1 or self.on_select is None:
            return
        key = self.marker_at(event.x, event.y)
        if key is not None:
            self.on_select(key)
