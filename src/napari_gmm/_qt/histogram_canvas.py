"""A matplotlib canvas (Qt): the pixel histogram with the fitted classes."""

from __future__ import annotations

from textwrap import fill

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from .._plot import plot_histogram_2d, plot_intensity_histogram


class HistogramCanvas(FigureCanvasQTAgg):
    """1 channel: histogram + component densities; 2+: 2-D histogram + ellipses."""

    def __init__(self):
        super().__init__(Figure(figsize=(4.0, 2.4), layout="constrained"))
        self.setMinimumHeight(210)

    def show_model(
        self, histogram, model, colors, thresholds=None, names=None, title=""
    ):
        self.figure.clear()
        axes = self.figure.add_subplot()
        if histogram.values.shape[1] == 1:
            plot_intensity_histogram(axes, histogram, model, colors, thresholds)
        else:
            plot_histogram_2d(
                axes, histogram, model, radius=2.0, colors=colors, names=names
            )
        if title:
            axes.set_title(fill(title, 60), fontsize="small")
        self.draw_idle()
