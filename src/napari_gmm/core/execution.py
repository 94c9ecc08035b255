"""Run a sweep's candidates: one after the other, in threads or on a cluster.

How candidates are run (and how many BLAS threads each may use) never
changes their results, only how long they take. :func:`run_plan` is the
generator every sweep runs; :func:`drive` runs any such generator to its
end with a progress callback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor

import threadpoolctl
from threadpoolctl import ThreadpoolController

from .em import quiet_convergence
from .equivalent import equivalent_candidates, fit_order, in_sweep_order
from .fitting import fit_candidate
from .outcome import build_result
from .plan import SweepPlan
from .result import CandidateFit, SweepResult
from .settings import PARALLEL_THRESHOLD

#: Up to this many features, candidates fitted one after the other use one
#: BLAS/OpenMP thread (see run_plan).
FEW_FEATURES = 16


_controller: ThreadpoolController | None = None


def blas_limits(limits: int | None):
    """``threadpoolctl.threadpool_limits(limits=limits)`` without finding the
    loaded BLAS and OpenMP libraries again at every sweep (2 ms each time,
    a tenth of mclust's time on a 50-row table): threadpoolctl's cached
    controller (threadpoolctl >= 3.5, refreshed when new modules are
    imported), else one controller per process."""
    global _controller
    cached = getattr(threadpoolctl, "get_cached_controller", None)
    if cached is not None:
        return cached().limit(limits=limits)
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=limits)


def _fit_checked(plan: SweepPlan, index: int) -> CandidateFit:
    plan.check_cancel()
    return fit_candidate(plan, index)


def run_plan(plan: SweepPlan) -> Generator[CandidateFit, None, SweepResult]:
    """Generator: fit the plan's candidates, yield each; return the result.

    One after the other, in ``plan.n_jobs`` threads, or on ``plan.client``'s
    cluster; the fits come in sweep order whichever way they ran.
    """
    fits = []
    # one feature: spherical, diag and full candidates of one K are one
    # model, fitted once (default preset; core/equivalent.py)
    twins = (
        equivalent_candidates(plan.candidates, plan.X.shape[1])
        if plan.preset == "default"
        else {}
    )
    order = fit_order(len(plan.candidates), twins)
    if plan.client is not None:  # (run_on_cluster fits every candidate)
        from .cluster import run_on_cluster

        for fit in run_on_cluster(plan, plan.client, fit_candidate):
            fits.append(fit)
            yield fit
        return build_result(plan, fits)
    if plan.n_jobs == 1:
        # With few features the matrix products are too small for BLAS or
        # OpenMP (k-means) threads to pay off: they only add synchronisation,
        # and spin badly when the cores are busy. Results do not change.
        # (measured in benchmarks/vs_mclust.py: wdbc, 569 x 30, 10x slower
        # with all BLAS threads on a busy machine)
        small = plan.X.shape[1] <= FEW_FEATURES or len(plan.X) < PARALLEL_THRESHOLD
        limits = 1 if small else None
        with blas_limits(limits):
            fitted = (_fit_checked(plan, index) for index in order)
            fits = yield from in_sweep_order(plan.candidates, fitted, twins)
        return build_result(plan, fits)
    # Candidates in parallel threads (numpy releases the GIL in its heavy
    # loops); BLAS and OpenMP (k-means) limited to one thread each so the
    # cores are not oversubscribed. Results come back in sweep order; cancel
    # is shared.
    # (the fits in the threads leave the warning filter to this one)
    with blas_limits(1), quiet_convergence():
        fitted = threaded_map(plan.n_jobs, lambda i: _fit_checked(plan, i), order)
        fits = yield from in_sweep_order(
            plan.candidates, _until_cancel(plan, fitted), twins
        )
    return build_result(plan, fits)


def _until_cancel(plan: SweepPlan, fits) -> Generator:
    """``fits`` until a cancel: a fit that finished in another thread after
    the cancel is not reported, as no candidate starts after it one after
    the other."""
    for fit in fits:
        plan.check_cancel()
        yield fit


def threaded_map(n_jobs: int, function: Callable, items) -> Generator:
    """Generator: ``function(item)`` for every item, in order.

    In ``n_jobs`` threads when that is above 1 (numpy releases the GIL in its
    heavy loops; the caller limits BLAS to one thread each), else in this
    thread. ``items`` is consumed as the results are taken, so it may itself
    be a generator of work still being done (the screening scores subsample
    fits as they arrive), always from the calling thread. The one thread
    pool of the core: :func:`run_plan` and :mod:`napari_gmm.core.large` use
    it. Closing the generator (an error, a cancel) cancels the items not
    started and waits for the running ones.
    """
    if n_jobs == 1:
        for item in items:
            yield function(item)
        return
    pool = ThreadPoolExecutor(max_workers=n_jobs)
    try:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            while pending and pending[0].done():
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def relay(fits: Generator, on_fit: Callable) -> Generator:
    """Generator: ``on_fit(fit)`` for every candidate ``fits`` yields.

    Returns what ``fits`` returns (its :class:`SweepResult`): the one place
    that unwraps a candidate generator's result from its ``StopIteration``;
    :func:`drive` and the stability runs (:mod:`napari_gmm.core.report`)
    build on it.
    """
    while True:
        try:
            fit = next(fits)
        except StopIteration as finished:
            return finished.value
        yield on_fit(fit)


def drive(fits: Generator, progress: Callable | None = None):
    """Run a candidate generator to its end; return what it returns.

    ``progress(done, total, fit)`` is called after every yielded candidate,
    ``done`` counting from 1. Used by every non-generator entry point
    (sweep, segment_image, stability) so they report progress alike.
    """
    done = 0

    def report(fit):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, fit.total, fit)

    relayed = relay(fits, report)
    while True:
        try:
            next(relayed)
        except StopIteration as finished:
            return finished.value
