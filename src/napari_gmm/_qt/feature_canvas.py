"""A matplotlib canvas (Qt): points and component ellipses in feature space."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from .._plot import plot_mixture_2d


class FeatureSpaceCanvas(FigureCanvasQTAgg):
    """Scatter of the clustered features with each component's ellipse."""

    def __init__(self):
        super().__init__(Figure(figsize=(4.0, 3.6), layout="constrained"))
        self.setMinimumHeight(280)

    def show_model(self, model, matrix, dims, radius, colors) -> None:
        """Draw ``model`` over two columns of a FeatureMatrix, in raw units."""
        self.figure.clear()
        axes = self.figure.add_subplot()
        plot_mixture_2d(
            axes,
            model,
            matrix.X,
            radius,
            dims=dims,
            colors=colors,
            names=list(matrix.names),
            center=matrix.center,
            scale=matrix.scale,
        )
        axes.title.set_fontsize("medium")  # the dock is narrow
        self.draw_idle()
