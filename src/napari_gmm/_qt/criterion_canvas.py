"""A matplotlib canvas (Qt) with the criterion bars; click a bar to choose it."""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from .._plot import plot_criterion_bars
from .._terms import COVARIANCE_NAMES


class CriterionCanvas(FigureCanvasQTAgg):
    """Grouped-bar plot of the sweep's criterion; empty until a result arrives.

    Parameters
    ----------
    on_select : callable, optional
        Called with ``(n_components, covariance_type)`` when a bar is clicked.
    """

    def __init__(
        self,
        on_select: Callable[[tuple[int, str]], None] | None = None,
        unit: str = "components",
    ):
        super().__init__(Figure(figsize=(4.0, 2.4), layout="constrained"))
        self.setMinimumHeight(210)
        self.on_select = on_select
        self.unit = unit
        self.bars = {}
        self.bar_keys = {}  # Rectangle -> (n_components, covariance_type)
        self.mpl_connect("pick_event", self._picked)

    def show_result(self, result, displayed_key=None) -> None:
        self.figure.clear()
        self.bars = plot_criterion_bars(
            self.figure.add_subplot(), result, labels=COVARIANCE_NAMES, unit=self.unit
        )
        ks = sorted(result.table["n_components"].unique())
        self.bar_keys = {}
        for covariance_type, container in self.bars.items():
            for k, patch in zip(ks, container.patches, strict=True):
                patch.set_picker(True)
                self.bar_keys[patch] = (int(k), covariance_type)
        self.highlight(displayed_key)

    def clear(self) -> None:
        """No plot (e.g. a loaded model has no sweep behind it)."""
        self.figure.clear()
        self.bars = {}
        self.bar_keys = {}
        self.draw_idle()

    def bar_of(self, key):
        """The bar (Rectangle) of a candidate, or None."""
        return next((p for p, k in self.bar_keys.items() if k == key), None)

    def highlight(self, key) -> None:
        """Outline the bar of the displayed candidate."""
        for patch, patch_key in self.bar_keys.items():
            chosen = patch_key == key
            patch.set_edgecolor("black" if chosen else "none")
            patch.set_linewidth(2.0 if chosen else 0.0)
        self.draw_idle()

    def _picked(self, event) -> None:
        key = self.bar_keys.get(event.artist)
        if key is not None and self.on_select is not None:
            self.on_select(key)
