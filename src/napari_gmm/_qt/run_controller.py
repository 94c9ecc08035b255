"""Run / Cancel, the progress bar and the result line of a dock (Qt).

:class:`RunController` is the runner of a dock's model
(:class:`~napari_gmm._run_model.SweepRunModel`): it starts the run's body
in a napari thread worker, shows progress, and hands candidates, results
and errors to :class:`~napari_gmm._run_model.RunCallbacks` on the main
thread. It also owns the row under the result line ("Show best", "Try
more").
"""

from __future__ import annotations

import contextlib

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from .._result_text import gui_note
from .._run_model import RunCallbacks, is_sweep
from ..core.compiled_loop import FIRST_COMPILE_NOTE, needs_compiling
from .labels import fit_wrapped_label
from .progress import ThrottledProgress

#: How many more components "Try more" adds to the range.
WIDEN_BY = 3
#: The status line after a cancelled run.
CANCELLED = "Cancelled; no layer was changed."


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


def run_function(function):
    """Worker body: ``function()``, or its exception as a WorkerFailure."""
    try:
        return function()
    except Exception as err:  # handed to the main thread, see WorkerFailure
        return WorkerFailure(err)


class RunController:
    """The run row of a dock and the thread worker behind it.

    Parameters
    ----------
    unit : str
        What a component is called ("clusters", "classes").
    on_failed : callable
        ``on_failed(message)`` after a run ended without a result (the
        dock's ``sweep_failed`` signal).
    """

    def __init__(self, unit: str, on_failed):
        self.unit = unit
        self._on_failed = on_failed
        self.run_button = PushButton(text="Run", tooltip="Fit and compare all models.")
        self.cancel_button = PushButton(
            text="Cancel", enabled=False, tooltip="Stop the running fit."
        )
        self.progress = ProgressBar(value=0, min=0, max=1)
        self.progress.tooltip = "Models fitted so far, and the last one."
        self.progress_shown = ThrottledProgress(self.progress)
        self.status = Label(value="")
        fit_wrapped_label(self.status)  # long sentences wrap, never cut off
        self.best_button = PushButton(
            text="Show best",
            enabled=False,
            tooltip="Show the chosen model again after clicking another bar.",
        )
        self.widen_button = PushButton(
            text="Try more",
            tooltip=f"The largest number of {unit} tried was chosen: try up to 3 more.",
        )
        self.widen_button.native.setVisible(False)
        self.next_row = Container(
            widgets=[self.best_button, self.widen_button],
            layout="horizontal",
            labels=False,
        )
        self.next_row.native.setVisible(False)
        self._expected = (1, "")  # total and status line of the next run
        self._done = self._skipped = 0
        self._count_steps = False

    def widgets(self) -> list:
        """Run/Cancel, progress bar, result line, Show best / Try more."""
        run_row = Container(
            widgets=[self.run_button, self.cancel_button],
            layout="horizontal",
            labels=False,
        )
        return [run_row, self.progress, self.status, self.next_row]

    # -- messages -------------------------------------------------------------
    def say(self, message: str) -> None:
        """Put ``message`` on the result line."""
        self.status.value = message

    def fail(self, message: str, error: bool = True) -> None:
        """A run or an action failed: result line, notification, signal."""
        message = gui_note(message)
        self.status.value = message
        (show_error if error else show_info)(message)
        self._on_failed(message)

    def cancelled(self) -> None:
        # the status line only: the user pressed Cancel and is looking at
        # it, and a notification pops up over the canvas, which then redraws
        # every point (~0.2 s for 10^5 points in software OpenGL)
        self.status.value = CANCELLED
        self._on_failed(CANCELLED)

    # -- a run ----------------------------------------------------------------
    def callbacks(self, on_result, on_end, *, count_steps=False):
        """The RunCallbacks of one run: progress here, ``on_result(value)``
        and ``on_end()`` in the dock. ``count_steps``: count the candidates
        (over all frames) rather than trust their own index."""
        self._count_steps = count_steps
        return RunCallbacks(
            step=self._on_candidate,
            result=on_result,
            cancelled=self.cancelled,
            error=lambda err: self.fail(f"The fit failed: {err}"),
            end=lambda: self._on_end(on_end),
        )

    def expect(self, total: int, what: str) -> None:
        """The next run fits ``total`` candidates; ``what`` says so meanwhile."""
        self._expected = (total, what)

    def runner(self, body, callbacks: RunCallbacks):
        """Run ``body`` in a thread worker (the model's runner); returns it."""
        total, what = self._expected
        self.progress_shown.reset(total)
        self._done = self._skipped = 0
        if needs_compiling():  # else the bar would sit still for half a minute
            what = f"{what} {FIRST_COMPILE_NOTE}"
        self.status.value = what
        if is_sweep(body):
            worker = create_worker(run_generator, body, _ignore_errors=True)
            worker.yielded.connect(callbacks.step)
            worker.aborted.connect(callbacks.cancelled)
        else:  # one fit (a live refit): nothing to count until it returns
            worker = create_worker(run_function, body, _ignore_errors=True)
            worker.returned.connect(lambda _: self.progress_shown.update(total, total))

        def deliver(value):
            if isinstance(value, WorkerFailure):
                callbacks.fail(value.error)
            else:
                callbacks.result(value)

        worker.returned.connect(deliver)
        worker.errored.connect(callbacks.fail)
        worker.finished.connect(callbacks.end)
        self.set_running(True)
        worker.start()
        return worker

    def _on_candidate(self, fit) -> None:
        # the status line keeps the run's sentence: a changing text would
        # relayout the dock, and every repaint costs a window composite
        if self._count_steps:  # a candidate's own index restarts per frame
            self._done += 1
            done, total = self._done, self._expected[0]
        else:
            done, total = fit.index + 1, fit.total  # screening adds refits
        if fit.model is None and fit.message.startswith("skipped"):
            self._skipped += 1
        self.progress_shown.update(
            done, total, f"{fit.covariance_type}, K={fit.n_components}"
        )

    def _on_end(self, on_end) -> None:
        self.progress_shown.finish(self._skipped)
        on_end()

    def set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.cancel_button.enabled = running

    @staticmethod
    def disconnect(worker) -> None:
        """Drop a worker's signals (its dock is gone: they would reach
        deleted Qt widgets)."""
        if worker is None:
            return
        for name in ("yielded", "returned", "errored", "finished", "aborted"):
            signal = getattr(worker, name, None)
            if signal is None:
                continue
            with contextlib.suppress(TypeError, RuntimeError):  # none connected
                signal.disconnect()

    # -- the row under the result line ----------------------------------------
    def refresh_next_row(self, sweep, other_shown: bool, running: bool, k_limit: int):
        """'Show best' while another candidate of ``sweep`` is shown; 'Try up
        to K+3' when the chosen K is the largest tried (and K+3 <= ``k_limit``);
        the row is hidden when neither."""
        self.best_button.enabled = not running and sweep is not None
        self.best_button.native.setVisible(other_shown)
        widen = False
        if sweep is not None and not other_shown and not running:
            ks = sweep.table["n_components"]
            k = int(sweep.best_key[0])
            widen = ks.nunique() > 1 and k == int(ks.max()) and k + WIDEN_BY <= k_limit
            if widen:
                self.widen_button.text = f"Try up to {k + WIDEN_BY} {self.unit}"
        self.widen_button.native.setVisible(widen)
        self.next_row.native.setVisible(other_shown or widen)
