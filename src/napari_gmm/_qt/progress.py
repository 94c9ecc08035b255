"""A progress bar that repaints at most a few times a second.

Every repaint of any widget in napari's window costs a full-window composite
(the canvas is an OpenGL widget, so Qt composes the whole window with it):
about 20 ms under software OpenGL on an idle 2-core machine, several times
that when the fit keeps both cores busy. One repaint per fitted candidate,
plus a relayout when a status label's text changes, kept the event loop
away for 40-210 ms at a time during a fit of 10^5 points. So the last
fitted candidate is written into the bar itself (no relayout), and the bar
is updated on the leading edge and then at most once per interval.
"""

from __future__ import annotations

from qtpy.QtCore import QTimer

#: Least time between two repaints of the progress bar, in milliseconds.
PROGRESS_INTERVAL_MS = 250


class ThrottledProgress:
    """Shows ``done/total · text`` in a magicgui ``ProgressBar``, throttled.

    The first update after a quiet interval is shown at once; later ones
    within the interval are merged and the latest is shown when it ends.
    :meth:`finish` shows the last update when the work ends.
    """

    def __init__(self, bar, interval_ms: int = PROGRESS_INTERVAL_MS):
        self._bar = bar
        self._pending = None
        self._timer = QTimer(bar.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timeout)

    def reset(self, total: int) -> None:
        """A new run of ``total`` steps: empty bar, shown now."""
        self._timer.stop()
        self._pending = None
        self._apply(0, total, "")

    def update(self, done: int, total: int, text: str = "") -> None:
        """Show ``done`` of ``total`` steps, ``text`` naming the last one."""
        self._pending = (done, total, text)
        if not self._timer.isActive():
            self._on_timeout()

    def flush(self) -> None:
        """Show the waiting update (if any) now."""
        self._timer.stop()
        if self._pending is not None:
            self._apply(*self._pending)
            self._pending = None

    def finish(self, skipped: int = 0) -> None:
        """The run ended (done, failed or cancelled): show how far it got,
        and how many of the candidates done were skipped (not fitted)."""
        self.flush()
        if skipped:
            fitted = max(self._bar.native.value() - skipped, 0)
            self._bar.native.setFormat(f"{fitted} fitted, {skipped} skipped of %m")
        else:
            self._bar.native.setFormat("%v/%m fitted")

    def _on_timeout(self) -> None:
        if self._pending is None:
            return  # nothing new in the last interval: go quiet
        self._apply(*self._pending)
        self._pending = None
        self._timer.start()

    def _apply(self, done: int, total: int, text: str) -> None:
        native = self._bar.native
        native.setFormat(f"%v/%m · {text}" if text else "%v/%m")
        if native.maximum() != max(total, 1):  # screening adds refits
            native.setMaximum(max(total, 1))
        native.setValue(done)
