"""A scrolling dock body with collapsible groups of settings (Qt).

The docks must fit a laptop screen next to napari's own panels: everything
goes into one scroll area (so the dock has no tall minimum height), and
settings most users never change go into collapsed groups.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget
from superqt import QCollapsible


def _native(widget):
    return getattr(widget, "native", widget)


class ScrollBody:
    """A vertical scroll area filling ``outer`` (a QWidget with a layout)."""

    def __init__(self, outer: QWidget):
        self.scroll = QScrollArea(outer)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.inner = QWidget()
        self.layout = QVBoxLayout(self.inner)
        self.layout.setContentsMargins(4, 4, 4, 4)
        self.scroll.setWidget(self.inner)
        outer.layout().setContentsMargins(0, 0, 0, 0)
        outer.layout().addWidget(self.scroll)

    def add(self, widget) -> None:
        """Append a magicgui widget or a QWidget."""
        self.layout.addWidget(_native(widget))

    def finish(self) -> None:
        """Push everything up and keep the whole width of the form visible."""
        self.layout.addStretch(1)
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        self.scroll.setMinimumWidth(self.inner.minimumSizeHint().width() + bar)


def collapsible(title: str, parts, tooltip: str = "") -> QCollapsible:
    """A collapsed group holding ``parts`` (magicgui widgets, QWidgets, or
    ``str`` sub-headings), opened by clicking its title."""
    group = QCollapsible(title)
    group.setToolTip(tooltip)
    group.layout().setContentsMargins(0, 0, 0, 0)
    for part in parts:
        if isinstance(part, str):
            heading = QLabel(f"<b>{part}</b>")
            group.addWidget(heading)
        else:
            group.addWidget(_native(part))
    group.collapse(animate=False)
    return group


def set_shown(widget, shown: bool) -> None:
    """Show or hide a magicgui widget or a QWidget."""
    _native(widget).setVisible(shown)
