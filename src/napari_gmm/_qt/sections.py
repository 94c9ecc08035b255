"""A scrolling dock body with collapsible groups of settings (Qt).

The docks must fit a laptop screen next to napari's own panels: everything
goes into one scroll area (so the dock has no tall minimum height), and
settings most users never change go into collapsed groups.
"""

from __future__ import annotations

from magicgui.widgets import Container
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible


def _native(widget):
    return getattr(widget, "native", widget)


class _FollowWidth(QObject):
    """Keeps a scroll area at least as wide as its contents need.

    Only vertical scrolling is wanted; without this, contents that grow
    wider (a longer button text, a plot) would be cut at the right edge.
    """

    def __init__(self, scroll: QScrollArea):
        super().__init__(scroll)
        self._scroll = scroll
        scroll.widget().installEventFilter(self)

    def fit(self) -> None:
        inner = self._scroll.widget()
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        self._scroll.setMinimumWidth(inner.minimumSizeHint().width() + bar)

    def eventFilter(self, watched, event):  # Qt calls it by this name
        if event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return False


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
        self._width = _FollowWidth(self.scroll)

    def add(self, widget) -> None:
        """Append a magicgui widget or a QWidget."""
        self.layout.addWidget(_native(widget))

    def finish(self) -> None:
        """Push everything up and keep the whole width of the form visible."""
        self.layout.addStretch(1)
        self._width.fit()


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
    # collapsed is also hidden: out of the Tab order, and not "visible" to Qt
    content = group.content()
    content.setVisible(False)
    group.toggled.connect(content.setVisible)
    return group


def set_shown(widget, shown: bool) -> None:
    """Show or hide a magicgui widget or a QWidget."""
    _native(widget).setVisible(shown)


def plot_tabs(pages) -> QTabWidget:
    """Plots on tabs (``[(title, widget, tooltip), ...]``): one plot's height
    instead of several, so that the dock fits a laptop screen."""
    tabs = QTabWidget()
    tabs.setDocumentMode(True)
    for index, (title, widget, tooltip) in enumerate(pages):
        tabs.addTab(_native(widget), title)
        tabs.setTabToolTip(index, tooltip)
    return tabs


class DockBody:
    """A dock's scrolling body built from labelled forms and collapsed groups.

    Keeps the magicgui forms it made, so that napari's ``reset_choices``
    (layers added or removed) reaches every combo box.
    """

    def __init__(self, outer: QWidget):
        self._scroll = ScrollBody(outer)
        self.forms: list = []

    def _form(self, widgets) -> Container:
        form = Container(widgets=list(widgets), labels=True)
        self.forms.append(form)
        return form

    def add_form(self, widgets):
        """A labelled form of ``widgets``, appended to the dock."""
        form = self._form(widgets)
        self._scroll.add(form)
        return form

    def add_group(self, title: str, parts, tooltip: str = "") -> QCollapsible:
        """A collapsed group: ``parts`` are widgets or (heading, [widgets])."""
        items = []
        for part in parts:
            if isinstance(part, tuple):
                heading, widgets = part
                items.extend([heading, self._form(widgets)])
            else:
                items.append(part)
        group = collapsible(title, items, tooltip)
        self._scroll.add(group)
        return group

    def add(self, widget) -> None:
        """Append a magicgui widget or a QWidget (a plot, a row of buttons)."""
        self._scroll.add(widget)

    def finish(self) -> None:
        self._scroll.finish()

    def reset_choices(self) -> None:
        for form in self.forms:
            form.reset_choices()
