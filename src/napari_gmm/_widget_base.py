"""What the points and image docks share: their parts and how they fit together.

A dock is a magicgui Container composed of small parts: a
:class:`~napari_gmm._qt.sweep_form.SweepForm` (the sweep settings), a
:class:`~napari_gmm._qt.run_controller.RunController` (Run/Cancel,
progress, result line; the runner of the dock's model), a
:class:`~napari_gmm._qt.model_files.ModelFiles` group (save, apply,
export) and a :class:`~napari_gmm._qt.component_dock.ComponentDock`, over a
Qt-free model (:class:`~napari_gmm._points_model.PointsSweepModel` or
:class:`~napari_gmm._image_model.ImageSweepModel`) that holds the run and
what is shown. A subclass adds its inputs, reads them into a request, and
draws the model's display.
"""

from __future__ import annotations

import napari
from magicgui.widgets import Container
from napari.utils.notifications import show_warning
from psygnal import Signal

from ._output_sync import sync_outputs
from ._qt.component_dock import ComponentDock
from ._qt.lifecycle import on_undocked
from ._qt.model_files import ModelFiles
from ._qt.run_controller import WIDEN_BY, RunController
from ._qt.sections import DockBody
from ._qt.sweep_form import SweepForm
from ._result_text import notes_sentence, summary
from ._run_model import BUSY, SweepRunModel


class SweepDock(Container):
    """Shared parts and glue; subclasses add inputs and outputs.

    Subclasses name their model's class in :attr:`model_type` (made with
    the run controller as its runner) and implement ``run``, ``render``, ``show_best``,
    ``show_candidate``, ``show_saved_model``, ``current_table`` and
    ``component_caption``.
    """

    #: Emitted on the main thread after the output layers were updated.
    sweep_finished = Signal(object)
    #: Emitted when a run ends without a result (error, cancel, layer gone).
    sweep_failed = Signal(str)

    #: Output roles a subclass manages for one input layer.
    output_roles: tuple[str, ...] = ()
    #: What one component is called in the form and the result line.
    unit = "components"
    #: Title of the component table dock (one per kind of widget).
    components_dock_name = "GMM components"
    #: The dock's model: a SweepRunModel subclass taking ``runner=``.
    model_type = SweepRunModel

    def __init__(self, napari_viewer: napari.viewer.Viewer, k_max=6, criterion="bic"):
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.body = DockBody(self.native)
        self.form = SweepForm(self.unit, k_max=k_max, criterion=criterion)
        self.controls = RunController(self.unit, self.sweep_failed.emit)
        self.model = self.model_type(runner=self.controls.runner)
        self.files = ModelFiles(self)
        self.components = ComponentDock(napari_viewer, self.components_dock_name)
        controls = self.controls
        controls.run_button.changed.connect(lambda _: self.run())
        controls.cancel_button.changed.connect(lambda _: self.cancel())
        controls.best_button.changed.connect(lambda _: self.show_best())
        controls.widen_button.changed.connect(lambda _: self.widen_and_run())
        self.native.destroyed.connect(self._on_destroyed)
        on_undocked(self.native, self.components.close)

    # -- napari hooks and state -----------------------------------------------
    @property
    def forms(self) -> list:
        """The dock's magicgui forms (every labelled row of inputs)."""
        return self.body.forms

    def reset_choices(self, *_):
        """napari calls this when layers change: refresh every combo box."""
        self.body.reset_choices()

    @property
    def is_running(self) -> bool:
        return self.model.is_running

    @property
    def display(self):
        """What is shown now (the model's display), or None."""
        return self.model.display

    @display.setter
    def display(self, value) -> None:
        self.model.display = value

    @property
    def last_result(self):
        """The result shown now (None before the first run or for a loaded model)."""
        return self.model.last_result

    def has_result(self) -> bool:
        """A sweep result is shown (its table and candidates are available)."""
        return self.display is not None and self.display.result is not None

    def has_model(self) -> bool:
        """A model is shown (fitted or loaded), so it can be saved."""
        return self.display is not None

    def shown_sweep(self):
        """The SweepResult whose candidates are shown (None for a loaded model)."""
        return self.last_result

    # -- running --------------------------------------------------------------
    def start_run(self, total: int, what: str, start, on_result, count_steps=False):
        """Start a run of the model; the worker, or None after saying why not.

        ``start(callbacks)`` starts it (e.g. ``model.run(request, callbacks)``)
        and may raise ValueError or TypeError with a sentence for the user;
        ``what`` is the result line meanwhile; ``on_result(value)`` runs on
        the main thread.
        """
        self.controls.expect(total, what)
        callbacks = self.controls.callbacks(
            on_result, self.after_run, count_steps=count_steps
        )
        try:
            return start(callbacks)
        except (ValueError, TypeError) as err:
            self.controls.fail(str(err))
            return None

    def refuse_while_running(self) -> bool:
        """True (and say so) when a fit is running: one run at a time."""
        if self.is_running:
            self.controls.fail(BUSY, error=False)
        return self.is_running

    def cancel(self, _=None):
        """Stop the running fit within one EM iteration."""
        # the core raises SweepCancelled at its next check (after the
        # current EM iteration); the worker then reports it as an error
        if self.model.cancel():
            self.controls.say("Cancelling…")

    def after_run(self) -> None:
        """A worker has ended (main thread): buttons back."""
        self.set_buttons(running=False)

    def _on_destroyed(self, _=None):
        """The dock (or the viewer) was closed: stop the fit, drop its signals.

        The worker's last signals would otherwise reach deleted Qt widgets.
        """
        worker = self.model.handle
        self.model.stop()
        self.components.close()
        self.controls.disconnect(worker)

    def show_safely(self, show) -> bool:
        """Run ``show()`` (which builds and adds output layers) or say why not.

        An error while drawing a result must not escape a Qt slot: the
        previous display is kept and the user gets one sentence.
        """
        previous = self.display
        try:
            show()
        except Exception as err:  # any failure is reported, never raised
            self.display = previous
            self.controls.fail(f"The result could not be shown: {err}")
            return False
        return True

    def source_gone(self, layers) -> bool:
        """True (and say so) when an input layer left the viewer mid-fit."""
        gone = [layer for layer in layers if layer not in self.viewer.layers]
        if not gone:
            return False
        message = (
            f"The layer '{gone[0].name}' was removed during the fit; "
            "the result was discarded."
        )
        show_warning(message)
        self.controls.say(message)
        self.sweep_failed.emit(message)
        return True

    def show_notes(self, messages) -> None:
        """The result's notes as one warning (never one pop-up per note)."""
        text = notes_sentence(messages)
        if text:
            show_warning(text)

    def summary(self, result, key) -> str:
        """One or two short sentences on the displayed candidate of a sweep."""
        return summary(result, key, self.unit)

    # -- buttons --------------------------------------------------------------
    def set_buttons(self, running: bool) -> None:
        self.controls.set_running(running)
        self.files.set_enabled(running)
        self.refresh_next_row()

    def refresh_next_row(self) -> None:
        """'Show best' / 'Try more' under the result line, as the display allows."""
        sweep, display = self.shown_sweep(), self.display
        other = (
            sweep is not None
            and display is not None
            and tuple(display.key) != tuple(sweep.best_key)
        )
        self.controls.refresh_next_row(
            sweep, other, self.is_running, self.form.k_max.max
        )

    def widen_and_run(self, _=None):
        """Raise the largest K tried by WIDEN_BY and run again."""
        sweep = self.shown_sweep()
        if sweep is None or self.is_running:
            return None
        self.form.k_max.value = int(sweep.table["n_components"].max()) + WIDEN_BY
        return self.run()

    # -- outputs --------------------------------------------------------------
    def sync_outputs(self, source: str, outputs, active=None) -> None:
        """Replace our outputs for ``source``; remove roles no longer drawn."""
        sync_outputs(self.viewer.layers, source, outputs, self.output_roles, active)

    def component_table(self):
        """The per-component table of the shown model."""
        return self.model.component_table()

    def component_layers(self) -> list[tuple]:
        """One layer-data tuple per component of the shown model."""
        return self.model.component_layers()

    def model_document(self) -> dict:
        """Keyword arguments of ``save_model`` for the shown model."""
        return self.model.model_document()

    def show_component_dock(self, _=None):
        """Open (or bring back) the component table dock; it follows the display."""
        if self.display is None:
            return None
        return self.components.show(self.component_table(), self.component_caption())

    def refresh_component_dock(self) -> None:
        """Put the shown model's components in the dock (once it was opened)."""
        if self.components.is_open and self.display is not None:
            self.components.refresh(self.component_table(), self.component_caption())

    # the buttons of the "Save, apply, export" group, callable from scripts
    def save_table(self, _=None, path=None):
        """Write the criterion table to a CSV file (asks where when no path)."""
        return self.files.save_table(path)

    def save_components(self, _=None, path=None):
        """Write the shown model's per-component parameters to CSV."""
        return self.files.save_components(path)

    def save_model(self, _=None, path=None):
        """Save the displayed model (JSON, never pickle); asks where if no path."""
        return self.files.save_model(path)

    def apply_model(self, _=None, path=None):
        """Label the chosen input with a saved model (no refit)."""
        return self.files.apply_model(path)

    def export_components(self, _=None) -> list:
        """Add one ordinary layer per component (inputs are not changed)."""
        return self.files.export_components()
