"""The table of the shown model's components, in a dock under the canvas (Qt)."""

from __future__ import annotations

import contextlib

from magicgui.widgets import Container, Label, Table

from ..core.report import format_component_table
from .tables import make_read_only

#: What every column of the table means (the caption's tooltip).
COLUMNS_TOOLTIP = (
    "One row per component: weight, number of members (count), mean "
    "probability of its members, mean and standard deviation (sd) per "
    "feature, correlation (corr) per pair of features; covariance = corr × "
    "sd × sd."
)


class ComponentDock:
    """A caption and a read-only table, docked once opened; it follows the
    model shown until it (or its dock) is closed."""

    def __init__(self, viewer, name: str):
        self._viewer = viewer
        self.name = name
        self.panel = None  # the Container, once opened
        self.caption = None
        self.table = None

    @property
    def is_open(self) -> bool:
        return self.panel is not None

    def show(self, table, caption: str):
        """Open (or bring back) the dock with ``table``; returns the panel."""
        if self.panel is None:
            self.caption = Label(value="", tooltip=COLUMNS_TOOLTIP)
            self.table = Table()
            make_read_only(self.table)
            self.panel = Container(widgets=[self.caption, self.table], labels=False)
        panel = self.panel
        docked = self._viewer.window.dock_widgets.values()
        if not any(inner is panel or inner is panel.native for inner in docked):
            self._viewer.window.add_dock_widget(panel, name=self.name, area="bottom")
        self.refresh(table, caption)
        return panel

    def refresh(self, table, caption: str) -> None:
        """Show ``table`` (a component table) under ``caption``."""
        self.table.value = format_component_table(table)
        self.caption.value = (
            f"{caption} sd: standard deviation, corr: correlation "
            "(covariance = corr × sd × sd)."
        )

    def close(self) -> None:
        """Take the dock away (our own dock was closed: nothing would update
        its rows any more)."""
        panel, self.panel = self.panel, None
        if panel is not None:
            with contextlib.suppress(Exception):  # the window may be gone too
                self._viewer.window.remove_dock_widget(panel.native)
