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
from ._qt.tables import make_read_only
from .core import COVARIANCE_TYPES, SweepCancelled
from .core.criteria import GRADED_CRITERIA
from .core.model_io import ModelFileError, load_model, save_model
from .core.report import close_call, evidence, format_component_table, runner_up
from .core.sweep import INIT_METHODS, SELECTION_CRITERIA

#: How the criteria are listed in the form.
CRITERION_LABELS = {"bic": "BIC", "aic": "AIC", "icl": "ICL", "cv": "CV (held-out)"}


#: Advice in the core's notes that names API-only settings, and what a
#: widget user can do instead.
GUI_ADVICE = (
    (
        "Set covariance_floor (1/12 for integer coordinates), or add jitter, "
        "and run again.",
        "Lower Max components, or add a little jitter to the coordinates, and "
        "run again.",
    ),
    ("increase max_iter or tol", "try more Initializations or fewer components"),
    ("Increase max_iter or tol.", "Try more Initializations or fewer components."),
    (
        "Use fewer components, increase reg_covar, set covariance_floor (e.g. "
        "step**2 / 12 per feature for integer data), or rescale the data.",
        "Lower Max components, or rescale the data.",
    ),
    (", pass noise_volume,", ","),
    ("rescale the data or pass noise_volume.", "rescale the data."),
    (
        "rescale (e.g. standardize) the data or lower reg_covar.",
        "tick Standardize features (or rescale the data).",
    ),
)


class WorkerError(Exception):
    """A RuntimeError of the fit, re-raised as a plain Exception.

    superqt's generator workers treat a RuntimeError as a stopped generator
    and end without emitting ``errored`` or ``finished``, which would leave
    the widget "running" forever.
    """


def run_generator(fits):
    """Worker body: drain a sweep generator (yields candidates), return its value."""
    try:
        return (yield from fits)
    except RuntimeError as err:
        raise WorkerError(str(err)) from err


class SweepWidgetBase(Container):
    """Shared form and run machinery; subclasses add inputs and outputs."""

    #: Emitted on the main thread after the output layers were updated.
    sweep_finished = Signal(object)
    #: Emitted when a run ends without a result (error, cancel, layer gone).
    sweep_failed = Signal(str)

    #: Output roles a subclass manages for one input layer.
    output_roles: tuple[str, ...] = ()

    def __init__(self, napari_viewer: napari.viewer.Viewer, k_max: int = 6):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._worker = None
        self._cancel_requested = threading.Event()
        self._k_min = SpinBox(label="Min components", value=1, min=1, max=100)
        self._k_max = SpinBox(label="Max components", value=k_max, min=1, max=100)
        self._type_boxes = {
            name: CheckBox(text=name, value=True) for name in COVARIANCE_TYPES
        }
        self._criterion = ComboBox(
            label="Criterion",
            choices=[(CRITERION_LABELS[name], name) for name in SELECTION_CRITERIA],
            value="bic",
            tooltip="All criteria: lower is better. CV is -2 x the held-out "
            "log-likelihood by k-fold cross-validation (not BIC, slower).",
        )
        self._noise = CheckBox(
            text="Noise component",
            value=False,
            tooltip="Add a uniform component over the data's range: scattered "
            "outliers get label 0 (grey, is_noise) instead of extra Gaussians.",
        )
        self._cv_folds = SpinBox(
            label="CV folds",
            value=0,
            min=0,
            max=20,
            tooltip="Also compute the held-out log-likelihood by k-fold "
            "cross-validation (0 = off; 5 when the criterion is CV). Each fold "
            "adds two fits per candidate.",
        )
        self._n_init = SpinBox(label="Initializations", value=1, min=1, max=50)
        self._seed = SpinBox(label="Random seed", value=0, min=0, max=2**31 - 1)
        self._init = ComboBox(
            label="Initialization",
            choices=list(INIT_METHODS),
            value="kmeans",
        )
        self._seeds = SpinBox(
            label="Stability seeds",
            value=1,
            min=1,
            max=50,
            tooltip="Repeat the sweep with this many seeds and show how often "
            "each candidate is chosen (1 = off).",
        )
        self._run_button = PushButton(text="Run")
        self._cancel_button = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Candidates", value=0, min=0, max=1)
        self._progress_shown = ThrottledProgress(self._progress)
        self._status = Label(label="Result", value="")
        fit_wrapped_label(self._status)  # long sentences are not cut off
        self._best_button = PushButton(text="Show best", enabled=False)
        self._save_button = PushButton(text="Save table…", enabled=False)
        self._components_button = PushButton(text="Save components…", enabled=False)
        self._save_model_button = PushButton(text="Save model…", enabled=False)
        self._apply_model_button = PushButton(text="Apply model…")
        self._table_button = PushButton(text="Component table", enabled=False)
        self._export_button = PushButton(text="Export components", enabled=False)
        self._components_panel = None  # the component table dock, once opened
        self._run_button.changed.connect(self.run)
        self._cancel_button.changed.connect(self.cancel)
        self.native.destroyed.connect(self._on_destroyed)
        on_undocked(self.native, self._close_component_dock)
        self._best_button.changed.connect(self.show_best)
        self._save_button.changed.connect(self.save_table)
        self._components_button.changed.connect(self.save_components)
        self._save_model_button.changed.connect(self.save_model)
        self._apply_model_button.changed.connect(self.apply_model)
        self._table_button.changed.connect(self.show_component_dock)
        self._export_button.changed.connect(self.export_components)

    # -- form pieces ----------------------------------------------------------
    def sweep_setting_widgets(self) -> list:
        """K range, covariance types, criterion, initializations, seed."""
        types_row = Container(
            widgets=list(self._type_boxes.values()),
            layout="horizontal",
            labels=False,
            label="Covariance types",
        )
        return [
            self._k_min,
            self._k_max,
            types_row,
            self._criterion,
            self._cv_folds,
            self._noise,
            self._init,
            self._n_init,
            self._seed,
        ]

    def run_widgets(self) -> list:
        """Run/Cancel, progress bar, status line, Show best / Save table."""
        run_row = Container(
            widgets=[self._run_button, self._cancel_button],
            layout="horizontal",
            labels=False,
        )
        result_row = Container(
            widgets=[self._best_button, self._save_button],
            layout="horizontal",
            labels=False,
        )
        model_row = Container(
            widgets=[
                self._components_button,
                self._save_model_button,
                self._apply_model_button,
            ],
            layout="horizontal",
            labels=False,
        )
        components_row = Container(
            widgets=[self._table_button, self._export_button],
            layout="horizontal",
            labels=False,
        )
        return [
            run_row,
            self._progress,
            self._status,
            result_row,
            model_row,
            components_row,
        ]

    def sweep_kwargs(self) -> dict:
        """The sweep settings of the form; ValueError with a sentence if invalid."""
        types = tuple(name for name, box in self._type_boxes.items() if box.value)
        if not types:
            raise ValueError("Tick at least one covariance type.")
        k_min, k_max = self._k_min.value, self._k_max.value
        if k_min > k_max:
            raise ValueError(
                f"Min components ({k_min}) is larger than max components ({k_max})."
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

    def start_worker(self, worker, total: int, what: str):
        """Connect progress, errors and the end of a worker, then start it."""
        self._progress_shown.reset(total)
        self._skipped = 0
        self._status.value = what
        if isinstance(worker, GeneratorWorker):
            worker.yielded.connect(self._on_candidate)
            worker.aborted.connect(self._cancelled)
        else:  # one fit (a live refit): nothing to count until it returns
            worker.returned.connect(lambda _: self._progress_shown.update(total, total))
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

    @staticmethod
    def summary(result, key) -> str:
        """One sentence on the displayed candidate of a SweepResult."""
        table = result.table
        row = table[
            (table.n_components == key[0]) & (table.covariance_type == key[1])
        ].iloc[0]
        name = result.criterion.upper()
        value = row[result.criterion]
        after = ""
        if tuple(key) == result.best_key:
            text = (
                f"Chosen: {key[1]}, {key[0]} components ({name} {value:.2f}, "
                "lower is better)"
            )
            found = runner_up(result)
            if found is not None:
                gap = found[1]
                text += f"; the next different model is {gap:.2f} higher"
                if result.criterion in GRADED_CRITERIA:
                    text += f" ({evidence(gap)} evidence)"
                warning = close_call(gap, name)
                after = f" {warning}" if warning else ""
            noise = row.get("noise_weight", np.nan)
            if np.isfinite(noise):
                text += f"; {noise:.1%} of the data are noise"
            if "chosen_fraction" in table:
                fraction = table.loc[table["selected"], "chosen_fraction"].iloc[0]
                text += f"; chosen by {fraction:.0%} of the stability seeds"
        else:
            text = (
                f"Showing {key[1]}, {key[0]} components ({name} {value:.2f}, "
                f"{row.delta:.2f} above the best)"
            )
        return text + "." + after

    def sync_outputs(self, source: str, outputs) -> None:
        """Replace our outputs for ``source``; remove roles no longer drawn."""
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
