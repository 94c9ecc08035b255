"""Noticing that napari took a widget out of its dock."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject


class _ParentWatcher(QObject):
    def __init__(self, widget, on_removed: Callable[[], None]):
        super().__init__(widget)
        self._on_removed = on_removed

    def eventFilter(self, watched, event):  # Qt calls it by this name
        if event.type() == QEvent.Type.ParentChange and watched.parent() is None:
            self._on_removed()
        return False


def on_undocked(widget, on_removed: Callable[[], None]) -> None:
    """Call ``on_removed()`` when ``widget`` (a QWidget) loses its parent.

    Closing a plugin dock in napari (its x button, ``remove_dock_widget``)
    takes the inner widget out of the dock with ``setParent(None)`` and keeps
    it alive, so Qt's ``destroyed`` signal does not come; the parent change
    does.
    """
    widget.installEventFilter(_ParentWatcher(widget, on_removed))
