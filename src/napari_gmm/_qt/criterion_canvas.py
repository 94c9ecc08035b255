"""A matplotlib canvas (Qt) that shows the criterion bars of a sweep."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from .._plot import plot_criterion_bars


class CriterionCanvas(FigureCanvasQTAgg):
    """Grouped-bar plot of the sweep's criterion; empty until a result arrives."""

    def __init__(self):
        super().__init__(Figure(figsize=(4.0, 3.2), layout="constrained"))
        self.setMinimumHeight(260)
        self.bars = {}

    def show_result(self, result) -> None:
        self.figure.clear()
        self.bars = plot_criterion_bars(self.figure.add_subplot(), result)
        self.draw_idle()
