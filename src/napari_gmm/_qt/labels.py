"""Word-wrapped status labels that keep their whole text visible."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QSizePolicy


class _FitHeight(QObject):
    """Sets a wrapped QLabel's minimum height to what its text needs.

    Form layouts size a label from its size hint, computed for some default
    width, not from its real width: a long text in a narrow dock would be
    cut off at the top and bottom.
    """

    def __init__(self, native):
        super().__init__(native)
        self._native = native
        native.installEventFilter(self)

    def fit(self, _=None) -> None:
        native = self._native
        if not native.isVisible():
            return  # its width is not known yet; fitted when shown (resized)
        native.setMinimumHeight(0)  # heightForWidth includes the minimum
        native.setMinimumHeight(native.heightForWidth(native.width()))

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False


def fit_wrapped_label(label) -> None:
    """Wrap a magicgui Label's text and keep the label tall enough for it."""
    native = label.native
    native.setWordWrap(True)
    native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    fitter = _FitHeight(native)
    set_text = label.set_value  # a Label emits no signal when its text is set

    def set_value(value) -> None:
        set_text(value)
        fitter.fit()

    label.set_value = set_value
