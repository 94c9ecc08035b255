"""What the points and image widgets share: sweep settings, run/cancel, outputs.

A widget built on :class:`SweepWidgetBase` only adds its own inputs and how
to turn a result into layers; reading the sweep settings, running a worker
with progress and a prompt Cancel, reporting errors in one sentence, and
replacing (not piling up) output layers live here.
"""

from __future__ import annotations

import contextlib
import threading

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    Table,
)
from napari.qt.threading import GeneratorWorker
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from ._layers import METADATA_KEY, find_output_layer
from ._qt.dialogs import JSON_FILTER, ask_open_path, ask_save_path
from ._qt.labels import fit_wrapped_label
from ._qt.lifecycle import on_undocked
from ._qt.progress import ThrottledProgress
from ._qt.sections import ScrollBody, collapsible
from ._qt.tables import make_read_only
from ._terms import COVARIANCE_NAMES, COVARIANCE_TOOLTIPS, model_name
from .core import COVARIANCE_TYPES, SweepCancelled
from .core.criteria import GRADED_CRITERIA, range_edge_note
from .core.model_io import ModelFileError, load_model, save_model
from .core.report import close_call, evidence, format_component_table, runner_up
from .core.settings import DEFAULT_INIT_PARAMS, SELECTION_CRITERIA

#: How the criteria are listed in the form.
CRITERION_LABELS = {
    "bic": "BIC (default)",
    "aic": "AIC",
    "icl": "ICL",
    "cv": "CV (held-out data)",
}
#: How many more components "Try more" adds to the range.
WIDEN_BY = 3


#: Advice in the core's notes that names API-only settings, and what a
#: widget user can do instead.
GUI_ADVICE = (
    (
        "Set covariance_floor (1/12 for integer coordinates), or add jitter, "
        "and run again.",
        "Try fewer clusters (the 'to' box), or add a little jitter to the "
        "coordinates, and run again.",
    ),
    ("increase max_iter or tol", "try more Starts per model or fewer clusters"),
    ("Increase max_iter or tol.", "Try more Starts per model or fewer clusters."),
    (
        "Use fewer components, increase reg_covar, set covariance_floor (e.g. "
        "step**2 / 12 per feature for integer data), or rescale the data.",
        "Try fewer clusters (the 'to' box), or rescale the data.",
    ),
    (", pass noise_volume,", ","),
    ("rescale the data or pass noise_volume.", "rescale the data."),
    (
        "rescale (e.g. standardize) the data or lower reg_covar.",
        "tick Standardize features (or rescale the data).",
    ),
)


def with_json_suffix(path) -> str:
    """``path`` ending in ``.json`` (added when left out), so that the Apply
    dialog, which lists ``*.json`` files, finds the model again."""
    path = str(path)
    return path if path.lower().endswith(".json") else path + ".json"


class WorkerFailure:
    """An exception of the worker's body, returned instead of raised.

    Raised errors would reach the widget through the worker's ``errored``
    signal, which has two problems: superqt's generator workers treat a
    RuntimeError as a stopped generator and end without ``errored`` or
    ``finished`` (the widget would stay "running"), and under PySide6
    napari's own ``errored`` slot (its activity status) takes too few
    arguments and raises in the event loop. A returned failure has neither.
    """

    def __init__(self, error: BaseException):
        self.error = error


def run_generator(fits):
    """Worker body: drain a sweep generator (yields candidates), return its value."""
    try:
        return (yield from fits)
    except Exception as err:  # handed to the main thread, see WorkerFailure
        return WorkerFailure(err)


def run_function(function, *args):
    """Worker body: ``function(*args)``, or its exception as a WorkerFailure."""
    try:
        return function(*args)
    except Exception as err:  # handed to the main thread, see WorkerFailure
        return WorkerFailure(err)


class SweepWidgetBase(Container):
    """Shared form and run machinery; subclasses add inputs and outputs."""

    #: Emitted on the main thread after the output layers were updated.
    sweep_finished = Signal(object)
    #: Emitted when a run ends without a result (error, cancel, layer gone).
    sweep_failed = Signal(str)

    #: Output roles a subclass manages for one input layer.
    output_roles: tuple[str, ...] = ()

    #: What one component is called in the form and the result line.
    unit = "components"

    def __init__(
        self, napari_viewer: napari.viewer.Viewer, k_max: int = 6, criterion="bic"
    ):
        super().__init__(labels=False)
        self._viewer = napari_viewer
        self._worker = None
        self._cancel_requested = threading.Event()
        self._forms: list[Container] = []  # our magicgui forms (reset_choices)
        self._body = ScrollBody(self.native)
        unit = self.unit
        self._k_min = SpinBox(
            label="from",
            value=1,
            min=1,
            max=100,
            tooltip=f"Fewest {unit} to try. Keep 1 unless you know there are "
            "at least this many.",
        )
        self._k_max = SpinBox(
            label="to",
            value=k_max,
            min=1,
            max=100,
            tooltip=f"Most {unit} to try. Raise it when the result says the "
            "largest number tried was chosen.",
        )
        self._type_boxes = {
            name: CheckBox(
                text=COVARIANCE_NAMES[name],
                value=True,
                tooltip=COVARIANCE_TOOLTIPS[name],
            )
            for name in COVARIANCE_TYPES
        }
        self._criterion = ComboBox(
            label="Choose by",
            choices=[
                (
                    CRITERION_LABELS[name].replace(" (default)", "")
                    + (" (default)" if name == criterion else ""),
                    name,
                )
                for name in SELECTION_CRITERIA
            ],
            value=criterion,
            tooltip="How the best model is chosen; lower is better for all. BIC "
            "balances fit and number of parameters; AIC prefers more "
            f"{unit}; ICL prefers well-separated {unit}; CV scores held-out "
            f"data by cross-validation (slower). Default here: "
            f"{criterion.upper()}.",
        )
        self._noise = CheckBox(
            text="Allow noise (outliers)",
            value=False,
            tooltip="Add a flat background component over the data's range: "
            "scattered outliers get label 0 (grey, is_noise) instead of extra "
            f"{unit}. Turn on when there are stray points or pixels.",
        )
        self._cv_folds = SpinBox(
            label="Cross-validation folds",
            value=0,
            min=0,
            max=20,
            tooltip="Also score each model on held-out data by k-fold "
            "cross-validation (0 = off; 5 when choosing by CV). Each fold adds "
            "two fits per model: slower.",
        )
        self._n_init = SpinBox(
            label="Starts per model",
            value=1,
            min=1,
            max=50,
            tooltip="Fit each model from this many starting points and keep the "
            "best (scikit-learn: n_init). Raise it if results change between "
            "runs or seeds.",
        )
        self._seed = SpinBox(
            label="Random seed",
            value=0,
            min=0,
            max=2**31 - 1,
            tooltip="Seed of the random starting points: the same seed gives "
            "the same result. Change it to check that the choice is stable.",
        )
        self._init = ComboBox(
            label="Starting points",
            choices=[
                ("automatic (several)", "auto"),
                *((name, name) for name in DEFAULT_INIT_PARAMS if name != "auto"),
            ],
            value="auto",
            tooltip="How the starting centres are picked (scikit-learn: "
            "init_params). 'automatic' (the default, as in the Python API) "
            "tries k-means, hierarchical and Ward starts and keeps the best "
            "fit; a single one is faster but can end in a worse fit.",
        )
        self._seeds = SpinBox(
            label="Repeat with seeds",
            value=1,
            min=1,
            max=50,
            tooltip="Repeat the whole comparison with this many random seeds and "
            "show how often each model wins (1 = off). Slower; use it to check "
            "that the choice is stable.",
        )
        self._run_button = PushButton(text="Run", tooltip="Fit and compare all models.")
        self._cancel_button = PushButton(
            text="Cancel", enabled=False, tooltip="Stop the running fit."
        )
        self._progress = ProgressBar(value=0, min=0, max=1)
        self._progress.tooltip = "Models fitted so far, and the last one."
        self._progress_shown = ThrottledProgress(self._progress)
        self._status = Label(value="")
        fit_wrapped_label(self._status)  # long sentences wrap, never cut off
        self._best_button = PushButton(
            text="Show best",
            enabled=False,
            tooltip="Show the chosen model again after clicking another bar.",
        )
        self._widen_button = PushButton(
            text="Try more",
            tooltip=f"The largest number of {unit} tried was chosen: try up to 3 more.",
        )
        self._widen_button.native.setVisible(False)
        self._save_button = PushButton(
            text="Save table…",
            enabled=False,
            tooltip="Write the score of every model tried to a CSV file.",
        )
        self._components_button = PushButton(
            text="Save components…",
            enabled=False,
            tooltip=f"Write the shown model's {unit} (weight, mean, spread) to "
            "a CSV file.",
        )
        self._save_model_button = PushButton(
            text="Save model…",
            enabled=False,
            tooltip="Save the shown model (a .json file) to apply it to other "
            "data later without refitting.",
        )
        self._apply_model_button = PushButton(
            text="Apply model…",
            tooltip="Label the chosen layer with a saved model (.json), without "
            "refitting.",
        )
        self._table_button = PushButton(
            text=f"Table of {unit}",
            enabled=False,
            tooltip=f"Open a table of the shown model's {unit} below the canvas.",
        )
        self._export_button = PushButton(
            text=f"One layer per {unit[:-1]}",
            enabled=False,
            tooltip=f"Add one ordinary layer per {unit[:-1]} (inputs unchanged).",
        )
        self._components_panel = None  # the component table dock, once opened
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self.native.destroyed.connect(self._on_destroyed)
        on_undocked(self.native, self._close_component_dock)
        self._best_button.changed.connect(self.show_best)
        self._widen_button.changed.connect(self.widen_and_run)
        self._save_button.changed.connect(self.save_table)
        self._components_button.changed.connect(self.save_components)
        self._save_model_button.changed.connect(self.save_model)
        self._apply_model_button.changed.connect(self.apply_model)
        self._table_button.changed.connect(self.show_component_dock)
        self._export_button.changed.connect(self.export_components)

    # -- form pieces ----------------------------------------------------------
    def add_form(self, widgets) -> Container:
        """A labelled form of ``widgets``, appended to the dock."""
        form = Container(widgets=list(widgets), labels=True)
        self._forms.append(form)
        self._body.add(form)
        return form

    def add_group(self, title: str, parts, tooltip: str = ""):
        """A collapsed group: ``parts`` are widgets or (heading, [widgets])."""
        items = []
        for part in parts:
            if isinstance(part, tuple):
                heading, widgets = part
                form = Container(widgets=list(widgets), labels=True)
                self._forms.append(form)
                items.extend([heading, form])
            else:
                items.append(part)
        group = collapsible(title, items, tooltip)
        self._body.add(group)
        return group

    def add_native(self, widget) -> None:
        """Append a Qt widget (a plot) to the dock."""
        self._body.add(widget)

    def finish_form(self) -> None:
        self._body.finish()

    def reset_choices(self, *_):
        """napari calls this when layers change: refresh every combo box."""
        for form in self._forms:
            form.reset_choices()

    def k_range_widget(self) -> Container:
        """'<Unit> to try: from [1] to [6]' on one row."""
        return Container(
            widgets=[self._k_min, self._k_max],
            layout="horizontal",
            labels=True,
            label=f"{self.unit.capitalize()} to try",
            tooltip=f"The numbers of {self.unit} compared; the best is chosen.",
        )

    def types_widget(self) -> Container:
        """The covariance types as check boxes, two per row."""
        boxes = list(self._type_boxes.values())
        rows = [
            Container(widgets=boxes[i : i + 2], layout="horizontal", labels=False)
            for i in range(0, len(boxes), 2)
        ]
        for row in rows:
            row.margins = (0, 0, 0, 0)
        shapes = Container(
            widgets=rows,
            labels=False,
            label="Shapes",
            tooltip="Which cluster shapes to compare (hover each for its "
            "scikit-learn name). Untick shapes you know do not apply.",
        )
        shapes.margins = (0, 0, 0, 0)
        return shapes

    def model_setting_widgets(self) -> list:
        """Models to compare (advanced): shapes, criterion, starts, seeds."""
        return [
            self.types_widget(),
            self._criterion,
            self._cv_folds,
            self._init,
            self._n_init,
            self._seed,
        ]

    def run_widgets(self) -> list:
        """Run/Cancel, progress bar, result line, Show best / Try more."""
        run_row = Container(
            widgets=[self._run_button, self._cancel_button],
            layout="horizontal",
            labels=False,
        )
        self._next_row = Container(
            widgets=[self._best_button, self._widen_button],
            layout="horizontal",
            labels=False,
        )
        self._next_row.native.setVisible(False)
        return [run_row, self._progress, self._status, self._next_row]

    def output_widgets(self) -> list:
        """Save / apply / export buttons (a collapsed group)."""
        return [
            Container(
                widgets=[self._save_button, self._components_button],
                layout="horizontal",
                labels=False,
            ),
            Container(
                widgets=[self._save_model_button, self._apply_model_button],
                layout="horizontal",
                labels=False,
            ),
            Container(
                widgets=[self._table_button, self._export_button],
                layout="horizontal",
                labels=False,
            ),
        ]

    def sweep_kwargs(self) -> dict:
        """The sweep settings of the form; ValueError with a sentence if invalid."""
        types = tuple(name for name, box in self._type_boxes.items() if box.value)
        if not types:
            raise ValueError(
                "Tick at least one cluster shape (Advanced settings → Shapes)."
            )
        k_min, k_max = self._k_min.value, self._k_max.value
        if k_min > k_max:
            raise ValueError(
                f"{self.unit.capitalize()} to try: 'from' ({k_min}) is larger "
                f"than 'to' ({k_max})."
            )
        return {
            "n_components": range(k_min, k_max + 1),
            "covariance_types": types,
            "criterion": self._criterion.value,
            "random_state": int(self._seed.value),
            "n_init": int(self._n_init.value),
            "init_params": self._init.value,
            "noise": bool(self._noise.value),
            "cv_folds": int(self._cv_folds.value) or None,
        }

    # -- running --------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def cancel_check(self):
        """A fresh cancel flag for a new run; pass its ``is_set`` to the core."""
        self._cancel_requested.clear()
        return self._cancel_requested.is_set

    def start_worker(self, worker, total: int, what: str, on_result):
        """Connect progress, result, errors and the end of a worker; start it.

        ``on_result(value)`` is called on the main thread with what the body
        returned; a :class:`WorkerFailure` goes to the error handling instead.
        """
        self._progress_shown.reset(total)
        self._skipped = 0
        self._status.value = what
        if isinstance(worker, GeneratorWorker):
            worker.yielded.connect(self._on_candidate)
            worker.aborted.connect(self._cancelled)
        else:  # one fit (a live refit): nothing to count until it returns
            worker.returned.connect(lambda _: self._progress_shown.update(total, total))

        def deliver(value):
            if isinstance(value, WorkerFailure):
                self._on_worker_error(value.error)
            else:
                on_result(value)

        worker.returned.connect(deliver)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._set_buttons(running=True)
        worker.start()
        return worker

    def _close_component_dock(self) -> None:
        """Our dock was closed: close the component table too (else it stays
        open, showing rows nothing updates any more)."""
        panel, self._components_panel = self._components_panel, None
        if panel is not None:
            with contextlib.suppress(Exception):  # the window may be gone too
                self._viewer.window.remove_dock_widget(panel.native)

    def _on_destroyed(self, _=None):
        """The dock (or the viewer) was closed: stop the fit, drop its signals.

        The worker's last signals would otherwise reach deleted Qt widgets.
        """
        self._cancel_requested.set()
        self._close_component_dock()
        worker, self._worker = self._worker, None
        if worker is None:
            return
        for name in ("yielded", "returned", "errored", "finished", "aborted"):
            signal = getattr(worker, name, None)
            if signal is None:
                continue
            with contextlib.suppress(TypeError, RuntimeError):  # none connected
                signal.disconnect()

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
            self._fail(f"The result could not be shown: {err}")
            return False
        return True

    def cancel(self, _=None):
        """Stop the running fit within one EM iteration."""
        if self._worker is not None:
            # the core raises SweepCancelled at its next check (after the
            # current EM iteration); the worker then reports it as an error
            self._status.value = "Cancelling…"
            self._cancel_requested.set()

    def _on_worker_error(self, err):
        if isinstance(err, SweepCancelled):
            self._cancelled()
        else:
            self._fail(f"The fit failed: {err}")

    def _on_worker_finished(self):
        self._progress_shown.finish(getattr(self, "_skipped", 0))
        self._worker = None
        self._set_buttons(running=False)
        self.after_worker()

    def after_worker(self):
        """Hook: called on the main thread when a worker has ended."""

    #: What is shown now; subclasses keep a dataclass with ``.result`` here.
    display = None

    @property
    def last_result(self):
        """The result shown now (None before the first run or for a loaded model)."""
        return None if self.display is None else self.display.result

    def has_result(self) -> bool:
        """A sweep result is shown (its table and candidates are available)."""
        return self.display is not None and self.display.result is not None

    def has_model(self) -> bool:
        """A model is shown (fitted or loaded), so it can be saved."""
        return self.has_result()

    def _set_buttons(self, running: bool):
        self._run_button.enabled = not running
        self._cancel_button.enabled = running
        self._best_button.enabled = not running and self.has_result()
        self._save_button.enabled = not running and self.has_result()
        self._save_model_button.enabled = not running and self.has_model()
        self._components_button.enabled = not running and self.has_model()
        self._apply_model_button.enabled = not running
        self._table_button.enabled = not running and self.display is not None
        self._export_button.enabled = not running and self.display is not None
        self.refresh_next_row()

    def refresh_next_row(self) -> None:
        """'Show best' while another candidate is shown; 'Try up to K+3' when
        the chosen K is the largest tried; the row is hidden when neither."""
        sweep = self.shown_sweep()
        display = self.display
        other = (
            sweep is not None
            and display is not None
            and tuple(display.key) != tuple(sweep.best_key)
        )
        self._best_button.native.setVisible(other)
        self.update_widen_button(None if other else sweep)
        self._next_row.native.setVisible(
            not self._best_button.native.isHidden()
            or not self._widen_button.native.isHidden()
        )

    def shown_sweep(self):
        """The SweepResult whose candidates are shown (None for a loaded model)."""
        return self.last_result

    def _on_candidate(self, fit):
        # the status line keeps the run's sentence: a changing text would
        # relayout the dock, and every repaint costs a window composite
        done, total = self.candidate_progress(fit)
        if fit.model is None and fit.message.startswith("skipped"):
            self._skipped = getattr(self, "_skipped", 0) + 1
        self._progress_shown.update(
            done, total, f"{fit.covariance_type}, K={fit.n_components}"
        )

    def candidate_progress(self, fit) -> tuple[int, int]:
        """Candidates fitted so far and in all, after ``fit``."""
        return fit.index + 1, fit.total  # screening adds refits to the total

    def _cancelled(self):
        # the status line only: the user pressed Cancel and is looking at
        # it, and a notification pops up over the canvas, which then redraws
        # every point (~0.2 s for 10^5 points in software OpenGL)
        message = "Cancelled; no layer was changed."
        self._status.value = message
        self.sweep_failed.emit(message)

    def _fail(self, message: str, error: bool = True):
        message = self.gui_note(message)
        self._status.value = message
        (show_error if error else show_info)(message)
        self.sweep_failed.emit(message)

    def gui_note(self, message: str) -> str:
        """``message`` with advice the user can follow in this widget."""
        for api, gui in GUI_ADVICE:
            message = message.replace(api, gui)
        return message

    def show_notes(self, messages) -> None:
        """The result's notes as one warning (never one pop-up per note)."""
        notes = [self.gui_note(m) for m in messages]
        if notes:
            show_warning(" ".join(n if n.endswith(".") else n + "." for n in notes))

    def source_gone(self, layer) -> bool:
        """True (and say so) when the input layer left the viewer mid-fit."""
        if layer in self._viewer.layers:
            return False
        message = (
            f"The layer '{layer.name}' was removed during the fit; "
            "the result was discarded."
        )
        show_warning(message)
        self._status.value = message
        self.sweep_failed.emit(message)
        return True

    # -- results ---------------------------------------------------------------
    def run(self, _=None):  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def show_best(self, _=None):  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def current_table(self):
        """The criterion table shown now, or None."""
        return None

    def save_table(self, _=None, path=None):
        """Write the criterion table to a CSV file (asks where when no path)."""
        table = self.current_table()
        if table is None:
            return None
        path = path or ask_save_path(self.native, "Save criterion table")
        if path:
            table.to_csv(path, index=False)
            self._status.value = f"Saved the criterion table to {path}."
        return path

    def component_table(self):
        """Subclasses: the per-component table of the shown model."""
        raise NotImplementedError

    def save_components(self, _=None, path=None):
        """Write the shown model's per-component parameters to CSV."""
        if not self.has_model():
            return None
        path = path or ask_save_path(self.native, "Save component parameters")
        if path:
            self.component_table().to_csv(path, index=False)
            self._status.value = f"Saved the component parameters to {path}."
        return path

    #: Title of the component table dock (one per kind of widget).
    components_dock_name = "GMM components"

    def component_caption(self) -> str:
        """Subclasses: one sentence on the model the component table shows."""
        return ""

    def show_component_dock(self, _=None):
        """Open (or bring back) the component table dock; it follows the display."""
        if self.display is None:
            return None
        panel = self._components_panel
        if panel is None:
            self._components_caption = Label(
                value="",
                tooltip="One row per component: weight, number of members "
                "(count), mean probability of its members, mean and standard "
                "deviation (sd) per feature, correlation (corr) per pair of "
                "features; covariance = corr × sd × sd.",
            )
            self._components_table = Table()
            make_read_only(self._components_table)
            panel = Container(
                widgets=[self._components_caption, self._components_table],
                labels=False,
            )
            self._components_panel = panel
        docked = self._viewer.window.dock_widgets.values()
        if not any(inner is panel or inner is panel.native for inner in docked):
            self._viewer.window.add_dock_widget(
                panel, name=self.components_dock_name, area="bottom"
            )
        self.refresh_component_dock()
        return panel

    def refresh_component_dock(self) -> None:
        """Put the shown model's components in the dock (once it was opened)."""
        if self._components_panel is None or self.display is None:
            return
        self._components_table.value = format_component_table(self.component_table())
        self._components_caption.value = (
            f"{self.component_caption()} sd: standard deviation, corr: "
            "correlation (covariance = corr × sd × sd)."
        )

    def component_layers(self) -> list[tuple]:
        """Subclasses: one layer-data tuple per component of the shown model."""
        raise NotImplementedError

    def export_components(self, _=None) -> list:
        """Add one ordinary layer per component (inputs are not changed)."""
        if self.display is None or self.is_running:
            return []
        try:
            outputs = self.component_layers()
        except (ValueError, TypeError, MemoryError) as err:
            self._fail(f"The components could not be exported: {err}")
            return []
        layers = [napari.layers.Layer.create(*output) for output in outputs]
        for layer in layers:
            self._viewer.layers.append(layer)
        names = ", ".join(f"'{layer.name}'" for layer in layers)
        self._status.value = f"Added {len(layers)} layer(s), one per component: {names}"
        return layers

    def model_document(self) -> dict:
        """Subclasses: keyword arguments of ``save_model`` for the shown model."""
        raise NotImplementedError

    def save_model(self, _=None, path=None):
        """Save the displayed model (JSON, never pickle); asks where if no path."""
        if not self.has_model():
            return None
        path = path or ask_save_path(self.native, "Save model", JSON_FILTER)
        if path:
            path = with_json_suffix(path)
            document = self.model_document()
            document["components"] = self.component_table()
            save_model(path, document.pop("model"), **document)
            self._status.value = f"Saved the model to {path}."
        return path

    def apply_model(self, _=None, path=None):
        """Label the chosen input with a saved model (no refit)."""
        if self.is_running:
            self._fail("A fit is running; press Cancel first.", error=False)
            return None
        path = path or ask_open_path(self.native, "Apply a saved model")
        if not path:
            return None
        try:
            saved = load_model(path)
            self.show_saved_model(saved, path)
        except (ModelFileError, ValueError) as err:
            self._fail(str(err))
            return None
        return saved

    def show_saved_model(self, saved, path) -> None:
        """Subclasses: apply a loaded model to the chosen input and show it."""
        raise NotImplementedError

    def summary(self, result, key) -> str:
        """One or two short sentences on the displayed candidate of a sweep."""
        table = result.table
        row = table[
            (table.n_components == key[0]) & (table.covariance_type == key[1])
        ].iloc[0]
        name = result.criterion.upper()
        value = row[result.criterion]
        shown = model_name(key[0], key[1], self.unit)
        if tuple(key) != tuple(result.best_key):
            return (
                f"Showing {shown}: {name} {row.delta:.1f} above the best "
                "(lower is better)."
            )
        found = runner_up(result)
        if found is None:
            text = f"Chosen: {shown} ({name} {value:.2f}, lower is better)."
        elif result.criterion in GRADED_CRITERIA:
            text = (
                f"Chosen: {shown}, {evidence(found[1])} evidence "
                f"(next best {name} +{found[1]:.1f}, lower is better)."
            )
        else:
            text = (
                f"Chosen: {shown} (next best {name} +{found[1]:.1f}, lower is better)."
            )
        extra = []
        noise = row.get("noise_weight", np.nan)
        if np.isfinite(noise):
            extra.append(f"{noise:.1%} of the data are noise")
        if "chosen_fraction" in table:
            fraction = table.loc[table["selected"], "chosen_fraction"].iloc[0]
            extra.append(f"chosen by {fraction:.0%} of the stability seeds")
        if extra:
            text += " " + "; ".join(extra).capitalize() + "."
        warning = close_call(found[1], name) if found is not None else None
        edge = self.edge_note(result)
        return " ".join(part for part in (text, warning, edge) if part)

    def notices(self, result) -> list[str]:
        """The sweep's messages worth a notification: not the core's note that
        the choice is at an edge of the range (the result line says it, with
        a button)."""
        edge = range_edge_note(
            int(result.best_key[0]), result.table["n_components"].unique()
        )
        return [message for message in result.messages if message != edge]

    def edge_note(self, result) -> str:
        """A hint when the chosen K is at an end of the range tried (else "")."""
        ks = sorted(int(k) for k in result.table["n_components"].unique())
        k = int(result.best_key[0])
        if len(ks) < 2:
            return ""  # one K tried: nothing was chosen among numbers
        if k == ks[-1]:
            return f"{k} is the most {self.unit} tried: more may fit better."
        if k == ks[0] and k > 1:
            return f"{k} is the fewest {self.unit} tried: try from 1."
        return ""

    def update_widen_button(self, result=None) -> None:
        """Offer "Try up to K+3" when the chosen K is the largest tried."""
        shown = False
        if result is not None and not self.is_running:
            ks = result.table["n_components"]
            k = int(result.best_key[0])
            shown = (
                ks.nunique() > 1
                and k == int(ks.max())
                and k + WIDEN_BY <= self._k_max.max
            )
            if shown:
                self._widen_button.text = f"Try up to {k + WIDEN_BY} {self.unit}"
        self._widen_button.native.setVisible(shown)

    def widen_and_run(self, _=None):
        """Raise the largest K tried by WIDEN_BY and run again."""
        sweep = self.shown_sweep()
        if sweep is None or self.is_running:
            return None
        self._k_max.value = int(sweep.table["n_components"].max()) + WIDEN_BY
        return self.run()

    def sync_outputs(self, source: str, outputs, active=None) -> None:
        """Replace our outputs for ``source``; remove roles no longer drawn.

        ``active`` (the input layer) is made the selected, active layer again:
        adding a layer makes it the active one, and the user's next action
        (editing points, changing contrast) is meant for the input.
        """
        drawn = set()
        for data, meta, layer_type in outputs:
            role = meta["metadata"][METADATA_KEY]["role"]
            drawn.add(role)
            layer = napari.layers.Layer.create(data, meta, layer_type)
            index = find_output_layer(self._viewer.layers, role, source)
            if index is None:
                self._viewer.layers.append(layer)
            else:
                layer.visible = self._viewer.layers[index].visible
                self._viewer.layers.pop(index)
                self._viewer.layers.insert(index, layer)
        for role in set(self.output_roles) - drawn:
            index = find_output_layer(self._viewer.layers, role, source)
            if index is not None:
                self._viewer.layers.pop(index)
        if active is not None and active in self._viewer.layers:
            self._viewer.layers.selection.active = active
