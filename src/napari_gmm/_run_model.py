"""A dock's run state without Qt: start, cancel and finish one fit at a time.

A :class:`SweepRunModel` knows whether a fit is running, hands the core a
fresh cancel flag for each run, and starts the run's *body* (a sweep
generator or a function call) through a *runner*: in the widgets a napari
thread worker (:mod:`napari_gmm._qt.run_controller`), in tests and scripts
:func:`run_now`, which runs the body in the calling thread. What happens
with the candidates and the result is told by :class:`RunCallbacks`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from .core import SweepCancelled
from .core.settings import SweepSettings

#: The one sentence a second Run gets while a fit is running.
BUSY = "A fit is already running; press Cancel first."


class RunBusy(ValueError):
    """A run was asked for while another one is running."""


#: The sweep settings a dock's form sets; the core's defaults hold for the rest.
FORM_SETTINGS = (
    "n_components",
    "covariance_types",
    "criterion",
    "random_state",
    "n_init",
    "init_params",
    "noise",
    "cv_folds",
)


def form_kwargs(settings: SweepSettings) -> dict:
    """The keyword arguments of a sweep for the settings a form sets."""
    return {name: getattr(settings, name) for name in FORM_SETTINGS}


def count_candidates(settings: SweepSettings) -> int:
    """Candidates one sweep with ``settings`` fits (K values x shapes)."""
    return len(list(settings.n_components)) * len(tuple(settings.covariance_types))


def _ignore(*_) -> None:
    return None


def _raise(error: BaseException) -> None:
    raise error


@dataclass(frozen=True)
class RunCallbacks:
    """What a runner calls, in the thread that owns the dock.

    ``step(fit)`` for every candidate a sweep yields, then either
    ``result(value)`` with what the body returned, ``cancelled()`` when the
    core stopped at the cancel flag, or ``error(exception)``; ``end()``
    comes last in every case.
    """

    step: Callable[[object], None] = _ignore
    result: Callable[[object], None] = _ignore
    cancelled: Callable[[], None] = _ignore
    error: Callable[[BaseException], None] = _raise
    end: Callable[[], None] = _ignore

    def fail(self, error: BaseException) -> None:
        """Report an exception of the body: a cancel, or an error."""
        if isinstance(error, SweepCancelled):
            self.cancelled()
        else:
            self.error(error)


def is_sweep(body) -> bool:
    """True for a generator body (yields candidates), False for a call."""
    return inspect.isgenerator(body)


def run_now(body, callbacks: RunCallbacks) -> None:
    """A runner that runs ``body`` in the calling thread (tests, scripts).

    ``body`` is a generator (its yielded candidates go to ``step``, its
    return value to ``result``) or a function of no arguments.
    """
    try:
        if is_sweep(body):
            while True:
                try:
                    callbacks.step(next(body))
                except StopIteration as finished:
                    value = finished.value
                    break
        else:
            value = body()
    except Exception as err:  # reported like a worker's error
        callbacks.fail(err)
    else:
        callbacks.result(value)
    finally:
        callbacks.end()


class SweepRunModel:
    """Whether a fit runs, its cancel flag, and what is shown of its result.

    Parameters
    ----------
    runner : callable, optional
        ``runner(body, callbacks)`` starts ``body`` and reports through
        ``callbacks`` (:class:`RunCallbacks`); it may return a handle (a
        thread worker), kept in :attr:`handle` while the run lasts.
        Default: :func:`run_now`.
    """

    def __init__(self, runner=run_now):
        self.runner = runner
        self.handle = None  # what the runner returned, while running
        self.display = None  # what is shown: subclasses keep a dataclass here
        self._running = False
        self._cancel_requested = threading.Event()

    @property
    def last_result(self):
        """The result shown (None before the first run or for a loaded model)."""
        return None if self.display is None else self.display.result

    @property
    def is_running(self) -> bool:
        return self._running

    def cancel_check(self) -> Callable[[], bool]:
        """A fresh cancel flag for a new run; the core calls it to stop."""
        self._cancel_requested.clear()
        return self._cancel_requested.is_set

    def cancel(self) -> bool:
        """Ask the running fit to stop (within one EM iteration); False if
        nothing runs."""
        if not self._running:
            return False
        self._cancel_requested.set()
        return True

    def stop(self) -> None:
        """Cancel and forget the run (its dock is gone): the handle is
        dropped and no further callback is expected."""
        self._cancel_requested.set()
        self._running = False
        self.handle = None

    def start(self, body, callbacks: RunCallbacks):
        """Start ``body`` through the runner; returns the runner's handle.

        Raises
        ------
        RunBusy
            If a fit is already running.
        """
        if self._running:
            raise RunBusy(BUSY)

        def end() -> None:
            self._running = False
            self.handle = None
            callbacks.end()

        self._running = True
        handle = self.runner(body, replace(callbacks, end=end))
        if self._running:  # a synchronous runner has ended already
            self.handle = handle
        return handle
