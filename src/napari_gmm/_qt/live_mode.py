"""Live mode of the points dock (Qt): refit while the user edits the points.

After a run, moving, adding or deleting points of the input layer(s)
starts a refit once the edits pause (debounced); colors follow the
components, so a cluster keeps its color. A refit asked for while another
run is going waits for its end.
"""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox
from qtpy.QtCore import QTimer

from ..core.refit import REFIT_MODES

#: Delay between the last edit of the points and a live refit.
LIVE_DEBOUNCE_MS = 300


class LiveMode:
    """The "Refit while I edit points" box and what it does for ``dock``
    (a GMMWidget)."""

    def __init__(self, dock):
        self._dock = dock
        self.box = CheckBox(
            text="Refit while I edit points",
            value=False,
            tooltip="After a run, moving, adding or deleting points refits the "
            "model (colors stay stable).",
        )
        self.mode = ComboBox(
            label="When editing",
            choices=REFIT_MODES,
            tooltip="What a refit while editing does: 'warm start' continues "
            "from the shown model (fast), 'same model' refits it from scratch, "
            "'new sweep' compares all models again (slowest).",
        )
        self.layers = ()  # the layers whose edits are followed
        self.pending = False  # an edit came while another run was going
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(LIVE_DEBOUNCE_MS)
        self.timer.timeout.connect(self.refit)
        dock.native.destroyed.connect(self.timer.stop)
        self.box.changed.connect(self.follow)
        self.box.changed.connect(self._show_inputs)
        dock.viewer.layers.events.removed.connect(self._on_layer_removed)

    @property
    def enabled(self) -> bool:
        return bool(self.box.value)

    def widgets(self) -> list:
        return [self.box, self.mode]

    def follow(self, _=None) -> None:
        """Listen to the edits of the shown input layers (when the box is on)."""
        display = self._dock.display
        wanted = display.request.layers if self.enabled and display else ()
        if wanted == self.layers:
            return
        self._stop_following()
        self.layers = wanted
        for layer in wanted:
            layer.events.data.connect(self._on_edited)

    def _stop_following(self) -> None:
        for layer in self.layers:
            layer.events.data.disconnect(self._on_edited)
        self.layers = ()

    def _show_inputs(self, live: bool) -> None:
        """Live update edits the input layer(s): show them again."""
        display = self._dock.display
        if live and display is not None:
            for layer in display.request.layers:
                if layer in self._dock.viewer.layers:
                    layer.visible = True

    def _on_edited(self, event=None) -> None:
        action = getattr(event, "action", None)
        if action is not None and str(action).endswith("ing"):
            return  # "adding"/"changing"/"removing": wait for the finished edit
        self.timer.start()  # restarts the countdown: debounce

    def _on_layer_removed(self, event=None) -> None:
        if any(layer not in self._dock.viewer.layers for layer in self.layers):
            self._stop_following()

    def after_run(self) -> None:
        """A run ended: do the refit that waited for it."""
        if self.pending:
            self.pending = False
            self.timer.start()

    def refit(self) -> None:
        """Refit on the edited points, as the "When editing" box says."""
        dock = self._dock
        if dock.display is None or not self.layers:
            return
        if dock.is_running:
            self.pending = True
            return
        mode = self.mode.value
        try:
            request = dock.display.request.reread()
        except ValueError as err:
            dock.controls.fail(f"Live update paused: {err}")
            return
        total = dock.controls.progress.max if mode == "new sweep" else 1
        what = f"Live: refitting on {len(request.coordinates)} points ({mode})…"

        def start(callbacks):
            try:
                return dock.model.refit(mode, callbacks, request=request)
            except ValueError as err:
                raise ValueError(f"Live update paused: {err}") from None

        dock.start_run(total, what, start, dock.show_live_result)
