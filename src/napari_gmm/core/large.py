"""Large point sets: screen candidates on a subsample, refit the best on all.

For ``n`` points the sweep costs ``O(n)`` per EM iteration and candidate.
When ``n`` is large (see :data:`SCREEN_THRESHOLD`), :func:`iter_sweep`
switches to this strategy, which is documented in docs/performance.md and
can be turned off with ``screen=False``:

1. fit every candidate on a random subsample of ``m = screen_size`` points
   (same seed, same settings; with the default tolerance, ``auto_tol(m)``
   on the subsample, see :func:`subsample_params`);
2. score every subsample fit on *all* ``n`` points (one blockwise pass that
   gives the log-likelihood and the largest responsibility together): its
   criterion with ``n`` = all points, the *screened estimate* ``U``;
3. if the rule below admits more than ``refit_top`` candidates, refit those
   on a larger subsample (``LADDER x m`` points, and so on while at most
   ``n/2``), warm-started, and score them on all points again: their
   estimates get closer, their margins narrower;
4. refit on all points, warm-started from the last subsample fit, every
   candidate that could still be chosen (the rule below), in parallel
   threads;
5. the table has the exact values for the refitted candidates and the
   estimates for the others, marked in the ``screened`` column.

Which candidates are refitted
-----------------------------
EM never lowers the likelihood, so a refitted candidate's BIC (or AIC) is at
most its screened estimate ``U``: the estimate is an *upper* bound, and a
candidate that was not refitted might still have won had it been refitted.
How much a refit lowers the criterion is, to first order, predictable: the
subsample fit misses the all-points optimum by the subsampling error of the
parameters, which costs ``2 x log-likelihood`` (the criterion gain of the
refit) approximately ``(n/m - 1) x chi2(p)`` for ``p`` free parameters
(``m`` of the ``n`` points are in the subsample; misspecified models have an
effective ``p`` of ``tr(I^-1 J)`` instead). So a candidate is refitted when

    U - refit_margin(p) < best criterion,   refit_margin(p) = (n/m - 1) * q

plus ``2 n tol_m`` for where EM stopped on the subsample
(:func:`convergence_allowance`), with ``m`` the subsample its current fit
saw, ``tol_m`` the tolerance of that fit, and ``q`` the ``REFIT_LEVEL``
quantile (0.999) of a chi-squared distribution with ``rho x p`` degrees of
freedom; ``rho >= 1`` is the largest gain per parameter observed so far,
relative to its expectation (so models whose refits gain more than the
theory says widen every margin). The best criterion is, before any refit,
the best ``U`` (the chosen criterion can only be lower); the first round
refits the ``refit_top`` best screened candidates and every one the rule
admits; later rounds use the refitted values, until the rule admits no
other candidate and the chosen one is a refitted one. A candidate left out
is therefore one whose criterion would have had to drop by more than the
0.999 quantile of its refit gain to win. On the 10^6-point benchmark
(benchmarks/points_sweep.py) the observed gains were 0.9-1.15 x
``(n/m - 1) p``.

Limits: the margin is an asymptotic, per-candidate argument, not a proof; it
says nothing about the all-points EM from k-means (what ``screen=False``
fits) ending in a *different* local optimum than the warm-started refit; and
for the ICL the entropy term can move either way under a refit (the same
margin is used). Switches: ``REFIT_LEVEL = None`` turns the margin off
(only the ``refit_top`` best screened candidates are refitted, the rule
before this margin existed); ``LADDER = 1`` skips the intermediate
subsamples; ``refit_top`` as large as the number of candidates refits them
all; ``screen=False`` fits every candidate on all points from k-means.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import ExitStack

import numpy as np
from scipy.stats import chi2
from threadpoolctl import threadpool_limits

from .candidate import degeneracy
from .components import sort_components
from .criteria import COVARIANCE_TYPES, information_criteria
from .em import WeightedGaussianMixture, quiet_convergence, row_max, row_sum
from .execution import FEW_FEATURES, run_plan, threaded_map
from .fitting import failed_fit, lift_floor_of
from .outcome import build_result
from .parsimonious_em import mixture_for
from .selection import select_best
from .settings import (  # noqa: F401 (the screening defaults, also named here)
    REFIT_TOP,
    SCREEN_SIZE,
    SCREEN_THRESHOLD,
    auto_tol,
)

#: Quantile of the refit gain used as the margin (None: no margin, refit
#: only the ``refit_top`` best).
REFIT_LEVEL = 0.999
#: Each intermediate screening level is this many times larger than the last
#: (1: none, straight from the subsample to all points).
LADDER = 4
#: Rows per block when scoring on all points (bounds the N x K matrices;
#: 50,000 rows of K doubles stay in cache better than larger blocks).
_BLOCK = 50_000
#: Marks an argument left to the module setting at the time of the call.
_DEFAULT = object()


def score_on_all(model, X: np.ndarray, check_cancel=None) -> tuple[float, float]:
    """Total log-likelihood and sum of log max responsibility, blockwise.

    One pass over ``X``: the joint log densities ``log w_k N(x | k)`` of a
    block are computed once and give both ``log p(x)`` (log-sum-exp) and
    ``log max_k tau_k = max_k joint - log p(x)``; the same values as
    ``score_samples`` and ``log(predict_proba(X).max(axis=1))``, which
    compute the joint densities twice. ``check_cancel`` is called before
    every block.
    """
    log_likelihood = 0.0
    log_max = 0.0
    for start in range(0, len(X), _BLOCK):
        if check_cancel is not None:
            check_cancel()
        joint = np.array(
            model._estimate_weighted_log_prob(X[start : start + _BLOCK]),
            dtype=float,
        )
        top = row_max(joint)
        shift = np.where(np.isfinite(top), top, 0.0)
        joint -= shift[:, np.newaxis]
        with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
            np.exp(joint, out=joint)
            log_sum = np.log(row_sum(joint))
            log_likelihood += float(np.sum(shift + log_sum))
            log_max += float(np.sum((top - shift) - log_sum))
    return log_likelihood, log_max


def criteria_on_all(model, X: np.ndarray, n_params: int, check_cancel=None) -> dict:
    """Log-likelihood, BIC, AIC and ICL of ``model`` on all rows of ``X``."""
    log_likelihood, log_max = score_on_all(model, X, check_cancel)
    scores = information_criteria(log_likelihood, n_params, len(X), log_max)
    return {"log_likelihood": log_likelihood, **scores}


def refit_margin(
    n_params: int,
    n_samples: int,
    subsample: int,
    level: float | None = REFIT_LEVEL,
    dof_scale: float = 1.0,
) -> float:
    """Upper estimate of how much a refit on all points lowers the criterion.

    ``(n/m - 1) x`` the ``level`` quantile of ``chi2(dof_scale x n_params)``:
    ``2 x`` the log-likelihood gained by moving a subsample fit (``m``
    points, part of the ``n``) to the all-points optimum is asymptotically
    ``(n/m - 1) x chi2(p)``. 0 when ``level`` is None or ``m >= n``.
    """
    if level is None or subsample >= n_samples:
        return 0.0
    quantile = float(chi2.ppf(level, dof_scale * max(n_params, 1)))
    return (n_samples / subsample - 1.0) * quantile


def subsample_params(plan, size: int) -> dict:
    """The EM settings for a fit on ``size`` of the plan's points.

    With the default tolerance (``plan.tol_follows_n``), ``auto_tol(size)``:
    it keeps the criterion on the subsample as precise (about 2) as the
    default keeps it on all points, and a subsample fit needs no more, since
    the refit on all points is warm-started from it. An explicit ``tol``
    applies to every fit.
    """
    if plan.gmm_params.get("stopping") == "gain" or not plan.tol_follows_n:
        # the gain rule's tolerance is in log-likelihood units at any size
        return plan.gmm_params
    return {**plan.gmm_params, "tol": max(plan.gmm_params["tol"], auto_tol(size))}


def convergence_allowance(plan, size: int) -> float:
    """How much more a refit may gain because its start stopped early.

    A fit on ``size`` points stops when its mean log-likelihood changes by
    less than ``tol``; scored on all ``n`` points the shortfall is of the
    order of ``n x tol``, ``2 n tol`` in the criterion. Added to the refit
    margin, so a looser tolerance on a subsample widens the margins.
    """
    # an explicit loose tol (e.g. 1e-3 at 10^6 points) makes this large, and
    # nearly every candidate is then refitted: slower, never less safe
    if plan.gmm_params.get("stopping") == "gain":
        # at most tol left on the subsample: n/size times that on all points
        return 2.0 * plan.gmm_params["tol"] * len(plan.X) / size
    return 2.0 * len(plan.X) * subsample_params(plan, size)["tol"]


def _screened_fit(fit, X: np.ndarray, subsample: int, check_cancel=None):
    """A subsample candidate re-scored on all points (criteria estimated)."""
    if not fit.ok:
        return fit
    scores = criteria_on_all(fit.model, X, fit.n_parameters, check_cancel)
    note = f"screened on {subsample} points; criteria estimated on all points"
    return dataclasses.replace(fit, screening=note, **scores)


def _refit(plan, fit, X_fit: np.ndarray, serial: bool = True):
    """Refit a screened candidate on ``X_fit``, warm-started; score on all points.

    ``X_fit`` is all points (an exact refit) or a larger subsample (an
    intermediate level: the criteria are again estimates). ``serial=False``
    when run in a thread: the caller then holds the warning filters (they
    are process-wide).
    """
    if not fit.ok:
        return fit  # failed before (e.g. on a smaller subsample): stays failed
    start = time.perf_counter()
    screened = fit.model
    settings = {
        "n_components": fit.n_components,
        "random_state": plan.random_state,
        "weights_init": screened.weights_,
        "means_init": screened.means_,
        "precisions_init": screened.precisions_,
        "covariance_floor": plan.floor_for(fit.covariance_type),
        **subsample_params(plan, len(X_fit)),
        "n_init": 1,
    }
    if fit.covariance_type in COVARIANCE_TYPES:
        model = WeightedGaussianMixture(covariance_type=fit.covariance_type, **settings)
    else:  # one of mclust's ten other models
        model = mixture_for(fit.covariance_type, **settings)
    try:
        with quiet_convergence(serial):
            model.fit(X_fit, iteration_callback=plan.check_cancel)
            if len(X_fit) == len(plan.X):
                # as the sweep's own fits: on without the quantization floor
                model = lift_floor_of(
                    plan, fit.n_components, fit.covariance_type, model, []
                )
        sort_components(model)
        scores = criteria_on_all(model, plan.X, fit.n_parameters, plan.check_cancel)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
        # as in the sweep: a failing candidate gets an infinite criterion and
        # its message; the others go on
        failed = failed_fit(
            fit.index,
            fit.total,
            fit.n_components,
            fit.covariance_type,
            plan.X.shape[1],
            f"failed when refitted on {len(X_fit)} points: {err}",
        )
        return dataclasses.replace(failed, fit_time_s=fit.fit_time_s)
    converged = bool(model.converged_)
    degenerate = fit.degenerate
    if plan.variance is not None:
        reg = plan.relative_reg if plan.preset == "default" else 0.0
        degenerate = degeneracy(
            model, plan.variance, float(len(X_fit)), reg, plan.covariance_floor
        )
    screening = ""
    if len(X_fit) == len(plan.X):
        message = "" if converged else "did not converge on all points"
    else:
        screening = (
            f"screened on {len(X_fit)} points (warm-started from its fit on "
            "fewer); criteria estimated on all points"
        )
        message = "" if converged else f"did not converge on {len(X_fit)} points"
    if degenerate:
        message = "; ".join(m for m in (message, f"degenerate: {degenerate}") if m)
    return dataclasses.replace(
        fit,
        model=model,
        converged=converged,
        degenerate=degenerate,
        n_iter=int(model.n_iter_),
        fit_time_s=fit.fit_time_s + time.perf_counter() - start,
        message=message,
        screening=screening,
        **scores,
    )


def screening_levels(subsample: int, n_samples: int) -> list[int]:
    """Intermediate subsample sizes between ``subsample`` and ``n_samples``.

    ``subsample x LADDER``, ``x LADDER**2``, ... while at most half of
    ``n_samples`` (above that, refitting on all points costs about as much).
    """
    sizes = []
    size = subsample * LADDER
    while LADDER > 1 and size <= n_samples // 2:
        sizes.append(size)
        size *= LADDER
    return sizes


def _usable(screened, criterion: str, indices) -> list[int]:
    """The ``indices`` whose fit succeeded with a finite criterion."""
    return [
        i
        for i in indices
        if screened[i].ok and np.isfinite(getattr(screened[i], criterion))
    ]


def _admitted(plan, screened, sizes, rho, best_value, level, exclude=()):
    """Candidates the refit rule admits (module docstring), best first."""
    n = len(plan.X)
    batch = []
    for i, fit in enumerate(screened):
        value = getattr(fit, plan.criterion)
        if i in exclude or not fit.ok or not np.isfinite(value):
            continue
        margin = refit_margin(fit.n_parameters, n, sizes[i], level, rho)
        if margin > 0:  # a fit on fewer points, which may have stopped early
            margin += convergence_allowance(plan, sizes[i])
        if value - margin < best_value:
            batch.append(i)
    return sorted(batch, key=lambda i: getattr(screened[i], plan.criterion))


def _observed_rho(n, before, after, size_before, size_after) -> float:
    """Criterion gain per parameter relative to its expectation.

    Moving a fit from ``size_before`` to ``size_after`` points (both scored
    on all ``n``) gains ``2 x log-likelihood`` of about
    ``(n/size_before - n/size_after) x p`` on average (see refit_margin).
    """
    expected = (n / size_before - n / size_after) * max(before.n_parameters, 1)
    if expected <= 0 or not (after.ok and np.isfinite(after.log_likelihood)):
        return 1.0
    return 2.0 * (after.log_likelihood - before.log_likelihood) / expected


def run_screened(
    plan,
    screen_plan,
    subsample: int,
    refit_top: int,
    refit_level: float | object | None = _DEFAULT,
):
    """Generator: the screened sweep (see the module docstring).

    ``plan`` is the full-data plan, ``screen_plan`` the same on the subsample.
    ``refit_level`` defaults to :data:`REFIT_LEVEL` as it is at the call
    (so ``napari_gmm.core.large.REFIT_LEVEL = None`` switches the margin off
    for :func:`~napari_gmm.sweep`).
    """
    if refit_level is _DEFAULT:
        refit_level = REFIT_LEVEL

    n = len(plan.X)
    n_candidates = len(plan.candidates)
    crit = plan.criterion
    with ExitStack() as stack:
        if plan.n_jobs > 1 or plan.X.shape[1] <= FEW_FEATURES:
            # threads share the cores, and few features make products too
            # small for BLAS threads: one BLAS/OpenMP thread each (as run_plan)
            stack.enter_context(threadpool_limits(limits=1))
        stack.enter_context(quiet_convergence())

        # 1-2: subsample fits (the sweep's threads), scored on all points as
        # they arrive (in threads of our own, so fitting and scoring overlap)
        total = n_candidates + refit_top
        screened = []
        scored = threaded_map(
            plan.n_jobs,
            lambda fit: _screened_fit(fit, plan.X, subsample, plan.check_cancel),
            run_plan(screen_plan),
        )
        for fit in scored:
            screened.append(fit)
            yield dataclasses.replace(fit, total=total)
        usable = _usable(screened, crit, range(len(screened)))
        if not usable:
            return build_result(plan, screened)
        sizes = [subsample] * len(screened)  # points each current fit saw
        rho = 1.0
        steps = 0  # refits and intermediate fits yielded so far

        def run_batch(batch, X_fit):
            nonlocal rho, steps, total
            total = max(total, n_candidates + steps + len(batch))
            serial = plan.n_jobs == 1
            refits = threaded_map(
                plan.n_jobs, lambda i: _refit(plan, screened[i], X_fit, serial), batch
            )
            for i, refitted in zip(batch, refits, strict=True):
                plan.check_cancel()
                rho = max(
                    rho, _observed_rho(n, screened[i], refitted, sizes[i], len(X_fit))
                )
                refitted = dataclasses.replace(
                    refitted, index=n_candidates + steps, total=total
                )
                screened[i] = refitted
                sizes[i] = len(X_fit)
                steps += 1
                yield refitted

        # 3a: intermediate levels (larger subsamples) for the candidates the
        # rule admits, so that fewer reach the costly refit on all points
        intermediate = {}
        for size in screening_levels(subsample, n):
            best_value = min(getattr(screened[i], crit) for i in usable)
            batch = _admitted(plan, screened, sizes, rho, best_value, refit_level)
            if len(batch) <= max(1, refit_top):
                break  # all of them go to all points anyway
            rng = np.random.default_rng([plan.random_state, size])
            rows = np.sort(rng.choice(n, size=size, replace=False))
            yield from run_batch(batch, plan.X[rows])
            intermediate[size] = len(batch)

        # 3b: refit on all points in rounds until the rule admits no other
        # (a refit on a larger subsample may have failed: those are out)
        usable = _usable(screened, crit, usable)
        if not usable:
            return build_result(plan, screened)
        ranked = sorted(usable, key=lambda i: getattr(screened[i], crit))
        best_value = getattr(screened[ranked[0]], crit)
        batch = ranked[:refit_top]
        batch += [
            i
            for i in _admitted(plan, screened, sizes, rho, best_value, refit_level)
            if i not in batch
        ]
        done: set[int] = set()
        while batch:
            yield from run_batch(batch, plan.X)
            done.update(batch)
            best, _ = select_best(screened, crit, plan.allow_degenerate)
            best_index = next(i for i, f in enumerate(screened) if f is best)
            batch = _admitted(
                plan, screened, sizes, rho, getattr(best, crit), refit_level, done
            )
            if best_index not in done and best_index not in batch:
                batch.insert(0, best_index)

    result = build_result(
        plan, screened, screened=[i not in done for i in range(len(screened))]
    )
    # (build_result leaves the rows' screening notes to the table: the one
    # sentence below says it for all of them)
    if refit_level is None:
        rule = f"the best {min(refit_top, len(usable))} (no refit margin)"
    else:
        rule = (
            f"the best {min(refit_top, len(usable))} and every other whose "
            f"screened {crit.upper()} came within its refit margin of the best "
            f"((n/m - 1) x the {refit_level} quantile of chi2({rho:.2f} p))"
        )
    levels = "".join(
        f", then {count} of them on {size}" for size, count in intermediate.items()
    )
    result.messages.append(
        f"{n} points: candidates were screened on a random subsample of "
        f"{subsample}{levels}; {len(done)} refitted on all points: {rule} "
        "(napari_gmm.core.large; screen=False fits every candidate on all points)."
    )
    return result
