"""A whole EM run with the gain rule (SQUAREM or plain) in compiled code.

:func:`~napari_gmm.core.convergence.run_squarem` drives EM from Python: per
E-step a dozen small numpy calls around the kernels of
:mod:`~napari_gmm.core.kernels`. On the data most users fit (a few hundred
points, a histogram of a few thousand intensities) that overhead is most of
the time (measured in docs/performance.md). :func:`run` does the same
iterations in one compiled loop: the same SQUAREM cycles (three EM iterates,
extrapolation, monotone safeguard, backtracking, growing step cap), the same
:class:`~napari_gmm.core.convergence.GainRule` and the same collapse check,
so it ends where the Python loop ends (to rounding; tested in
``tests/test_kernels.py``).

The loop runs in chunks of E-steps and returns to Python between chunks, at
the start of a SQUAREM cycle, so a progress callback still sees every
E-step (in batches) and can cancel the fit by raising.

The same loop fits mclust's ten other covariance models
(:mod:`~napari_gmm.core.parsimonious_em`): given a model, every M-step and
every extrapolated point is brought into it by
:func:`~napari_gmm.core.parsimonious_kernels.constrained`. For the four
scikit-learn types the model is None, numba prunes that branch, and the
parsimonious code is never compiled for them.
"""

from __future__ import annotations

import math

import numpy as np

from . import convergence
from .kernels import (
    AVAILABLE,
    COMPILE_OPTIONS,
    COVARIANCE_CODES,
    FROM_STACK,
    TO_STACK,
    call,
    cholesky_lower,
    e_step_kernel,
    m_step_kernel,
    njit,
    precision_factors,
)
from .parsimonious import MODEL_CODES
from .parsimonious_kernels import constrained

_COMPILE = COMPILE_OPTIONS
_INLINED = {**COMPILE_OPTIONS, "inline": "always"}


class IllDefined(ValueError):
    """An M-step met a covariance that is not positive definite."""


#: ``status`` values returned by :func:`_squarem_chunk`.
RUNNING, CONVERGED, MAX_ITER, HALTED, ILL_DEFINED = range(5)

#: Indices into the ``state`` array that carries a run across chunks.
_N_ITER, _MAX_STEP, _SETTLED, _LAST_RATE, _N_RATES, _N_HISTORY, _N_RECORDED = range(7)

#: Plain EM checks for a collapse every this many iterations (as
#: ``em._run_em``'s Python loop).
HALT_EVERY = 5

#: Work per chunk, in (rows x components) E-step entries: a chunk lasts
#: ~10 ms, so cancel and progress stay responsive.
CHUNK_ENTRIES = 2_000_000


@njit(**_INLINED)
def _e_step(X, w, weights, means, factors, code, resp):
    """E-step into ``resp`` (the responsibilities); returns the lower bound."""
    # ``want_log`` as a value known only at run time (always False): a
    # constant would be typed Literal[bool](False), and numba would compile
    # e_step_kernel a second time beside the Python callers' ``bool``
    # (measured: ~4 s of a first sweep with an empty cache)
    want_log = code < 0
    return e_step_kernel(X, w, weights, means, factors, code, resp, resp, want_log)


@njit(**_INLINED)
def _m_step(X, w, resp, reg_covar, floor, has_floor, code, model, at, inner):
    """The M-step; for a parsimonious ``model`` (an int, full layout) the
    covariances are then the model's, warm-started from ``at`` (those of the
    point the E-step was at), as ``parsimonious_em.ParsimoniousSteps``."""
    nk, means, covariances, factors, ok = m_step_kernel(
        X, w, resp, reg_covar, floor, has_floor, code
    )
    # None for a Gaussian mixture: numba then prunes this branch, so the
    # default fit never compiles the parsimonious code (seconds, measured)
    if model is not None:
        if ok:
            covariances, ok = _constrain(nk, covariances, model, at, inner)
        if ok:
            factors, ok = precision_factors(covariances, code)
    weights = nk / nk.sum()
    return weights, means, covariances, factors, ok


@njit(**_COMPILE)
def _constrain(nk, covariances, model, previous, inner):
    """The model's covariances for ``W_k = n_k Sigma_k`` (``inner``: the
    inner loops' tolerance and iteration cap)."""
    scatter = np.empty_like(covariances)
    for k in range(covariances.shape[0]):
        scatter[k] = nk[k] * covariances[k]
    return constrained(scatter, nk, model, previous, True, inner[0], int(inner[1]))


@njit(**_COMPILE)
def _project(weights, covariances, model, like, code, inner):
    """SQUAREM's extrapolated point brought back into the model (as
    ``ParsimoniousGaussianMixture._project`` with total weight 1)."""
    covariances, ok = _constrain(weights, covariances, model, like, inner)
    if not ok:
        return covariances, covariances, False
    factors, ok = precision_factors(covariances, code)
    return covariances, factors, ok


@njit(**_COMPILE)
def _to_vector(weights, means, covariances, code, scale):
    """Log weights, means and covariance factors (lower Cholesky factors for
    full and tied, log variances otherwise) in one vector, in the units
    ``scale`` (per feature), as ``em.params_to_vector``; ``ok`` is False when
    a covariance is not positive definite (a status, not an exception, so
    that one failing start does not stop a batch of them)."""
    n_components, d = means.shape
    n_factor = covariances.size
    out = np.empty(n_components + means.size + n_factor)
    for k in range(n_components):
        out[k] = math.log(weights[k]) if weights[k] > 0 else -np.inf
    position = n_components
    for k in range(n_components):
        for j in range(d):
            out[position] = means[k, j] / scale[j]
            position += 1
    if code == 1 or code == 3:
        lower = np.empty((d, d))
        for c in range(covariances.shape[0]):
            if not cholesky_lower(covariances[c], lower):
                return out, False
            for j in range(d):
                for m in range(d):
                    out[position] = lower[j, m] / scale[j]
                    position += 1
    else:
        for c in range(covariances.shape[0]):
            for j in range(covariances.shape[1]):
                out[position] = math.log(covariances[c, j, 0]) - 2.0 * math.log(
                    scale[j]
                )
                position += 1
    return out, True


@njit(**_COMPILE)
def _from_vector(vector, like_means, like_covariances, code, scale):
    """Inverse of :func:`_to_vector`; ``ok`` is False for a point that is not
    a usable mixture (non-finite, a covariance not positive definite)."""
    n_components, d = like_means.shape
    weights = np.empty(n_components)
    means = np.empty_like(like_means)
    covariances = np.empty_like(like_covariances)
    for value in vector:
        if not math.isfinite(value):
            return weights, means, covariances, covariances, False
    largest = vector[:n_components].max()
    for k in range(n_components):
        weights[k] = math.exp(vector[k] - largest)
    weights /= weights.sum()
    position = n_components
    for k in range(n_components):
        for j in range(d):
            means[k, j] = vector[position] * scale[j]
            position += 1
    if code == 1 or code == 3:
        lower = np.empty((d, d))
        for c in range(covariances.shape[0]):
            for j in range(d):
                for m in range(d):
                    lower[j, m] = vector[position] * scale[j]
                    position += 1
            for j in range(d):
                for m in range(d):
                    total = 0.0
                    for p in range(d):
                        total += lower[j, p] * lower[m, p]
                    covariances[c, j, m] = total
    else:
        for c in range(covariances.shape[0]):
            for j in range(covariances.shape[1]):
                covariances[c, j, 0] = math.exp(
                    vector[position] + 2.0 * math.log(scale[j])
                )
                position += 1
    factors, ok = precision_factors(covariances, code)
    return weights, means, covariances, factors, ok


@njit(**_COMPILE)
def _collapsed(covariances, collapse_root, code):
    """A component's variance, in units of ``collapse_root**2`` per feature,
    has an eigenvalue below 1 (as ``em._collapse_check``)."""
    d = collapse_root.size
    if code == 1 or code == 3:
        # smallest eigenvalue of the scaled matrix S below 1 <=> S - I is not
        # positive definite: a Cholesky attempt tells (d^3/3, no LAPACK call)
        shifted = np.empty((d, d))
        lower = np.empty((d, d))
        for c in range(covariances.shape[0]):
            for j in range(d):
                for m in range(d):
                    shifted[j, m] = covariances[c, j, m] / (
                        collapse_root[j] * collapse_root[m]
                    )
                shifted[j, j] -= 1.0
            if not cholesky_lower(shifted, lower):
                return True
        return False
    for k in range(covariances.shape[0]):
        for j in range(covariances.shape[1]):
            for m in range(d):
                below = covariances[k, j, 0] < collapse_root[m] * collapse_root[m]
                if below and (code == 0 or m == j):
                    return True
    return False


@njit(**_COMPILE)
def _gain_stop(history, state, value, tol, total_weight, rule):
    """:class:`~napari_gmm.core.convergence.GainRule` fed ``value``.

    ``history`` holds the totals seen so far (``state[_N_HISTORY]`` of them);
    ``rule`` its constants (PRECISION, RATE_STABILITY, SETTLED_ITERATIONS,
    CRAWL_WINDOW, CRAWL_GAIN, SMALL_CHANGE).
    """
    precision, stability, settled_needed, window, crawl_gain, small = (
        rule[0],
        rule[1],
        rule[2],
        int(rule[3]),
        rule[4],
        rule[5],
    )
    total = value * total_weight
    h = int(state[_N_HISTORY])
    history[h] = total
    h += 1
    state[_N_HISTORY] = h
    if h < 2:
        return False
    change = history[h - 1] - history[h - 2]
    scale = max(abs(total), total_weight, 1.0)
    if abs(change) <= precision * scale:
        return True
    if h > window and 0 <= total - history[h - 1 - window] < crawl_gain * tol:
        return True
    if h < 3:
        return False
    before = history[h - 2] - history[h - 3]
    rate = change / before if before > 0 else np.inf
    previous_rate = state[_LAST_RATE]
    n_rates = state[_N_RATES] + 1
    state[_N_RATES] = n_rates
    state[_LAST_RATE] = rate
    if not (0 <= change < tol and 0 <= rate < 1):
        state[_SETTLED] = 0
        return False
    if change * rate / (1.0 - rate) >= tol:
        state[_SETTLED] = 0
        return False
    steady = n_rates >= 2 and abs(rate - previous_rate) <= stability * (1.0 - rate)
    if steady or change < small * tol:
        state[_SETTLED] += 1
    else:
        state[_SETTLED] = 0
    return state[_SETTLED] >= settled_needed


@njit(**_COMPILE)
def _record(state, recorded, recorded_at, value, n_iter):
    """Count an E-step and keep its lower bound for the progress callback."""
    state[_N_ITER] = n_iter
    r = int(state[_N_RECORDED])
    recorded[r] = value
    recorded_at[r] = n_iter
    state[_N_RECORDED] = r + 1


@njit(**_COMPILE)
def _squarem_chunk(
    X,
    w,
    weights,
    means,
    covariances,
    factors,
    code,
    scale,
    reg_covar,
    floor,
    has_floor,
    collapse_root,
    has_collapse,
    tol,
    total_weight,
    max_iter,
    chunk_end,
    rule,
    steps,
    history,
    state,
    recorded,
    recorded_at,
    model,
    inner,
):
    """SQUAREM cycles from ``(weights, means, covariances, factors)`` until
    the rule stops, ``max_iter`` E-steps, a collapse, or the first cycle start
    at or after ``chunk_end`` E-steps (status RUNNING: call again with the
    returned parameters and the same arrays).

    ``steps`` holds MAX_STEP's growth factor, the number of backtracks,
    1.0 for SQUAREM or 0.0 for plain EM (one EM iteration per cycle, the
    collapse checked every ``steps[3]`` iterations, as ``em._run_em``); every
    recorded E-step's value goes to ``recorded`` and its E-step number
    to ``recorded_at`` (``state[_N_RECORDED]`` of them). ``model``, None or
    an int, is a parsimonious model (:data:`parsimonious.MODEL_CODES`, full
    layout) whose M-steps and extrapolated points are kept in the model;
    ``inner`` holds its inner loops' tolerance and iteration cap.
    """
    n_components = means.shape[0]
    resp = np.empty((X.shape[0], n_components))
    growth, backtracks = steps[0], int(steps[1])
    accelerate, halt_every = steps[2] > 0.0, int(steps[3])
    last_value = (
        recorded[int(state[_N_RECORDED]) - 1] if state[_N_RECORDED] else -np.inf
    )

    while True:
        n_iter = int(state[_N_ITER])
        check = has_collapse and n_iter and (accelerate or n_iter % halt_every == 0)
        if check and _collapsed(covariances, collapse_root, code):
            return HALTED, weights, means, covariances, factors, last_value
        if n_iter >= chunk_end:
            return RUNNING, weights, means, covariances, factors, last_value
        value0 = _e_step(X, w, weights, means, factors, code, resp)
        n_iter += 1
        _record(state, recorded, recorded_at, value0, n_iter)
        last_value = value0
        stop = _gain_stop(history, state, value0, tol, total_weight, rule)
        w1, m1, c1, f1, ok = _m_step(
            X, w, resp, reg_covar, floor, has_floor, code, model, covariances, inner
        )
        if not ok:
            return ILL_DEFINED, weights, means, covariances, factors, last_value
        if stop:
            return CONVERGED, w1, m1, c1, f1, value0
        if n_iter >= max_iter:
            return MAX_ITER, w1, m1, c1, f1, value0
        if not accelerate:
            weights, means, covariances, factors = w1, m1, c1, f1
            continue
        value1 = _e_step(X, w, w1, m1, f1, code, resp)
        n_iter += 1
        _record(state, recorded, recorded_at, value1, n_iter)
        last_value = value1
        w2, m2, c2, f2, ok = _m_step(
            X, w, resp, reg_covar, floor, has_floor, code, model, c1, inner
        )
        if not ok:
            return ILL_DEFINED, w1, m1, c1, f1, last_value
        if n_iter >= max_iter:
            return MAX_ITER, w2, m2, c2, f2, value1
        v0, ok0 = _to_vector(weights, means, covariances, code, scale)
        v1, ok1 = _to_vector(w1, m1, c1, code, scale)
        v2, ok2 = _to_vector(w2, m2, c2, code, scale)
        if not (ok0 and ok1 and ok2):
            return ILL_DEFINED, w2, m2, c2, f2, last_value
        step_r = v1 - v0
        step_u = v2 - v1 - step_r
        r_norm = math.sqrt(np.sum(step_r * step_r))
        u_norm = math.sqrt(np.sum(step_u * step_u))
        weights, means, covariances, factors = w2, m2, c2, f2
        if not (u_norm > 0 and math.isfinite(u_norm) and math.isfinite(r_norm)):
            continue
        step = min(max(r_norm / u_norm, 1.0), state[_MAX_STEP])
        for _ in range(backtracks):
            if step <= 1.0:
                break
            candidate = v0 + 2 * step * step_r + step * step * step_u
            n_iter += 1
            state[_N_ITER] = n_iter
            pw, pm, pc, pf, ok = _from_vector(
                candidate, means, covariances, code, scale
            )
            if model is not None:  # noqa: SIM102 - alone, numba prunes it (_m_step)
                if ok:
                    pc, pf, ok = _project(pw, pc, model, covariances, code, inner)
            value = -np.inf
            if ok:
                value = _e_step(X, w, pw, pm, pf, code, resp)
            if math.isfinite(value) and value >= value1:
                if step >= state[_MAX_STEP]:
                    state[_MAX_STEP] *= growth
                _record(state, recorded, recorded_at, value, n_iter)
                last_value = value
                nw, nm, nc, nf, ok = _m_step(
                    X, w, resp, reg_covar, floor, has_floor, code, model, pc, inner
                )
                if not ok:
                    return ILL_DEFINED, w2, m2, c2, f2, last_value
                weights, means, covariances, factors = nw, nm, nc, nf
                break
            step = (step + 1.0) / 2.0
        if n_iter >= max_iter:
            return MAX_ITER, weights, means, covariances, factors, last_value


@njit(**_INLINED)
def _partition_start(X, w, labels, n_components, floor, has_floor, code):
    """The M-step on the hard partition ``labels`` (as
    ``em.start_mixture``: no ``reg_covar``, the floor, on ``X``
    centred at its weighted mean so that data far from the origin keep
    their variances)."""
    n, d = X.shape
    centre = np.zeros(d)
    total = 0.0
    for i in range(n):
        total += w[i]
        for j in range(d):
            centre[j] += w[i] * X[i, j]
    centred = np.empty((n, d))
    for j in range(d):
        centre[j] /= total
    for i in range(n):
        for j in range(d):
            centred[i, j] = X[i, j] - centre[j]
    resp = np.zeros((n, n_components))
    for i in range(n):
        resp[i, labels[i]] = 1.0
    nk, means, covariances, factors, ok = m_step_kernel(
        centred, w, resp, 0.0, floor, has_floor, code
    )
    for k in range(n_components):
        for j in range(d):
            means[k, j] += centre[j]
    return nk / nk.sum(), means, covariances, factors, ok


@njit(**_COMPILE)
def _partition_runs(
    X_start,
    w_start,
    partitions,
    first,
    stop,
    shift,
    X,
    w,
    code,
    scale,
    reg_covar,
    floor,
    has_floor,
    collapse_root,
    has_collapse,
    tol,
    total_weight,
    max_iter,
    rule,
    steps,
    max_step,
    status,
    values,
    n_iters,
    out_weights,
    out_means,
    out_covariances,
    out_factors,
    out_history,
    n_recorded,
):
    """EM (:func:`_squarem_chunk`, to its end) from the hard partitions
    ``partitions[first:stop]`` (rows of ``X_start``), on ``X`` (``X_start``'s
    coordinates minus ``shift``); each run's status, last value, E-steps,
    parameters and recorded values (``n_recorded[s]`` of them) go to row
    ``s`` of the ``out`` arrays."""
    n_components = out_weights.shape[1]
    history = np.empty(max_iter + 1)
    recorded = np.empty(max_iter + 1)
    recorded_at = np.empty(max_iter + 1)
    state = np.zeros(7)
    inner = np.zeros(2)
    for s in range(first, stop):
        weights, means, covariances, factors, ok = _partition_start(
            X_start, w_start, partitions[s], n_components, floor, has_floor, code
        )
        if not ok:
            status[s] = ILL_DEFINED
            continue
        for k in range(n_components):
            for j in range(means.shape[1]):
                means[k, j] -= shift[j]
        state[:] = 0.0
        state[_MAX_STEP] = max_step
        result, weights, means, covariances, factors, value = _squarem_chunk(
            X,
            w,
            weights,
            means,
            covariances,
            factors,
            code,
            scale,
            reg_covar,
            floor,
            has_floor,
            collapse_root,
            has_collapse,
            tol,
            total_weight,
            max_iter,
            max_iter,
            rule,
            steps,
            history,
            state,
            recorded,
            recorded_at,
            None,
            inner,
        )
        status[s] = result
        values[s] = value
        n_iters[s] = int(state[_N_ITER])
        # element by element, as kmeans._copy_row: an array assignment
        # compiles a shape check with a formatted message (seconds)
        for k in range(n_components):
            out_weights[s, k] = weights[k]
            for j in range(means.shape[1]):
                out_means[s, k, j] = means[k, j]
        for c in range(covariances.shape[0]):
            for j in range(covariances.shape[1]):
                for m in range(covariances.shape[2]):
                    out_covariances[s, c, j, m] = covariances[c, j, m]
                    out_factors[s, c, j, m] = factors[c, j, m]
        n_recorded[s] = int(state[_N_RECORDED])
        for r in range(n_recorded[s]):
            out_history[s, r] = recorded[r]


# --------------------------------------------------------------------------
# Python side


def _rule_constants() -> np.ndarray:
    # read at every call, not frozen into the compiled code, so the loop
    # always follows convergence.py's values
    return np.array(
        [
            convergence.PRECISION,
            convergence.RATE_STABILITY,
            convergence.SETTLED_ITERATIONS,
            convergence.CRAWL_WINDOW,
            convergence.CRAWL_GAIN,
            convergence.SMALL_CHANGE,
        ],
        dtype=np.float64,
    )


def _step_constants(accelerate: bool) -> np.ndarray:
    """``steps`` of :func:`_squarem_chunk`."""
    return np.array(
        [
            convergence.STEP_GROWTH,
            convergence.BACKTRACKS,
            1.0 if accelerate else 0.0,
            HALT_EVERY,
        ],
        np.float64,
    )


def _fixed_arguments(
    d,
    covariance_type,
    scale,
    reg_covar,
    floor,
    collapse_variance,
    tol,
    total_weight,
    max_iter,
) -> tuple:
    """The arguments of :func:`_squarem_chunk` from ``code`` to ``max_iter``,
    which stay the same over a run (and over a batch of runs)."""
    floor_array = (
        np.zeros(d)
        if floor is None
        # a writable copy: broadcast_to gives a read-only view, which numba
        # types apart from a writable array, so every kernel that takes the
        # floor would be compiled twice (as kernels.m_step's copy avoids)
        else np.array(np.broadcast_to(floor, d), dtype=np.float64)
    )
    collapse_root = (
        np.ones(d)
        if collapse_variance is None
        else np.sqrt(np.ascontiguousarray(np.broadcast_to(collapse_variance, d)))
    )
    return (
        COVARIANCE_CODES[covariance_type],
        np.ascontiguousarray(scale, dtype=np.float64),
        float(reg_covar),
        floor_array,
        floor is not None,
        collapse_root,
        collapse_variance is not None,
        float(tol),
        float(total_weight),
        int(max_iter),
    )


def run(
    X,
    w,
    weights,
    means,
    covariances,
    precisions_cholesky,
    *,
    covariance_type,
    reg_covar,
    floor,
    tol,
    max_iter,
    total_weight,
    scale,
    collapse_variance=None,
    on_iteration=None,
    model=None,
    inner_tol=1e-10,
    inner_max_iter=200,
    accelerate=True,
):
    """EM with the gain rule, SQUAREM-accelerated or plain, compiled.

    Parameters as :func:`napari_gmm.core.em._run_em` (``stopping="gain"``);
    ``collapse_variance`` replaces ``halt`` (see
    ``WeightedGaussianMixture.collapse_variance``); ``scale`` (n_features,)
    gives SQUAREM's units (``em.vector_scale``). ``model`` (one of mclust's
    names, with ``covariance_type="full"``) keeps every M-step and
    extrapolated point in that parsimonious model, warm-starting its inner
    loops (``inner_tol``, ``inner_max_iter``) as
    :class:`~napari_gmm.core.parsimonious_em.ParsimoniousSteps` does.

    Returns
    -------
    weights, means, covariances, precisions_cholesky, lower_bound,
    lower_bounds, n_iter, converged
        As :func:`~napari_gmm.core.convergence.run_squarem`.

    Raises
    ------
    IllDefined
        When an M-step meets a covariance that is not positive definite (the
        caller words the message).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    n_components, d = np.shape(means)
    code = COVARIANCE_CODES[covariance_type]
    to_stack = TO_STACK[covariance_type]
    params = (
        np.ascontiguousarray(weights, dtype=np.float64),
        np.ascontiguousarray(means, dtype=np.float64),
        np.ascontiguousarray(to_stack(np.asarray(covariances), n_components, d)),
        np.ascontiguousarray(
            to_stack(np.asarray(precisions_cholesky), n_components, d)
        ),
    )
    fixed = _fixed_arguments(
        d,
        covariance_type,
        scale,
        reg_covar,
        floor,
        collapse_variance,
        tol,
        total_weight,
        max_iter,
    )
    state = np.zeros(7)
    state[_MAX_STEP] = convergence.MAX_STEP
    history = np.empty(max_iter + 1)
    recorded = np.empty(max_iter + 1)
    recorded_at = np.empty(max_iter + 1)
    chunk = max(1, CHUNK_ENTRIES // max(1, X.shape[0] * n_components))
    rule, steps = _rule_constants(), _step_constants(accelerate)
    model_code = None if model is None else MODEL_CODES[model]
    if model_code is not None and code != COVARIANCE_CODES["full"]:
        raise ValueError("a parsimonious model runs in the full layout")
    inner = np.array([float(inner_tol), float(inner_max_iter)])
    previous, reported = -np.inf, 0
    while True:
        chunk_end = (
            int(state[_N_ITER]) + chunk if on_iteration is not None else max_iter
        )
        status, *params, value = call(
            _squarem_chunk,
            X,
            w,
            *params,
            *fixed,
            chunk_end,
            rule,
            steps,
            history,
            state,
            recorded,
            recorded_at,
            model_code,
            inner,
        )
        n_recorded = int(state[_N_RECORDED])
        if on_iteration is not None:
            for index in range(reported, n_recorded):
                on_iteration(int(recorded_at[index]), recorded[index] - previous)
                previous = recorded[index]
        reported = n_recorded
        if status == ILL_DEFINED:
            raise IllDefined("a covariance is not positive definite")
        if status != RUNNING:
            break
    from_stack = FROM_STACK[covariance_type]
    weights, means, covariances, factors = params
    return (
        weights,
        means,
        from_stack(covariances),
        from_stack(factors),
        float(value),
        recorded[:n_recorded].tolist(),
        int(state[_N_ITER]),
        status == CONVERGED,
    )


def run_partitions(
    X_start,
    w_start,
    partitions,
    X,
    w,
    shift,
    *,
    n_components,
    covariance_type,
    reg_covar,
    floor,
    tol,
    max_iter,
    total_weight,
    scale,
    collapse_variance=None,
    accelerate=True,
    between=None,
):
    """EM with the gain rule from each of several hard partitions, compiled.

    What :func:`run` does from each partition's M-step (``start_mixture``),
    in one compiled call for a batch of starts: a sweep of small data runs
    ~20 short runs per candidate, and the Python work around each (its
    start, its call, its results) cost as much as its E-steps (measured in
    docs/performance.md).

    Parameters
    ----------
    X_start, w_start : ndarray
        The rows the partitions label, and their weights.
    partitions : ndarray of shape (n_starts, n_start_rows), integer
        Component of each row of ``X_start``, per start.
    X, w : ndarray
        The data EM runs on, in ``X_start``'s coordinates minus ``shift``.
    shift : ndarray of shape (n_features,) or None
    n_components : int
    covariance_type, reg_covar, floor, tol, max_iter, total_weight, scale,
    collapse_variance, accelerate
        As :func:`run`.
    between : callable, optional
        Called between batches of starts (each at most about
        :data:`CHUNK_ENTRIES` rows x components x ``max_iter`` E-step
        entries, whatever the number of features); whatever it raises (a
        cancel) stops the runs.

    Returns
    -------
    list
        Per start, ``(weights, means, covariances, precisions_cholesky,
        lower_bound, lower_bounds, n_iter, converged)`` as :func:`run`
        returns, or an :class:`IllDefined` error.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    partitions = np.ascontiguousarray(partitions, dtype=np.int64)
    # the compiled code indexes with these labels unchecked
    if partitions.ndim != 2 or partitions.shape[1] != len(X_start):
        raise ValueError(
            f"partitions must have shape (n_starts, {len(X_start)}), got "
            f"{partitions.shape}"
        )
    if partitions.size and not 0 <= partitions.min() <= partitions.max() < n_components:
        raise ValueError(f"partition labels must be in 0..{n_components - 1}")
    n_starts = len(partitions)
    d = X.shape[1]
    code = COVARIANCE_CODES[covariance_type]
    rows = 1 if code == COVARIANCE_CODES["tied"] else n_components
    width = 1 if code == COVARIANCE_CODES["spherical"] else d
    depth = d if code in (COVARIANCE_CODES["tied"], COVARIANCE_CODES["full"]) else 1
    status = np.zeros(n_starts, dtype=np.int64)
    values = np.full(n_starts, np.nan)
    n_iters = np.zeros(n_starts, dtype=np.int64)
    out_weights = np.empty((n_starts, n_components))
    out_means = np.empty((n_starts, n_components, d))
    out_covariances = np.empty((n_starts, rows, width, depth))
    out_factors = np.empty_like(out_covariances)
    out_history = np.empty((n_starts, max_iter + 1))
    n_recorded = np.zeros(n_starts, dtype=np.int64)
    fixed = _fixed_arguments(
        d,
        covariance_type,
        scale,
        reg_covar,
        floor,
        collapse_variance,
        tol,
        total_weight,
        max_iter,
    )
    arguments = (
        np.ascontiguousarray(X_start, dtype=np.float64),
        np.ascontiguousarray(w_start, dtype=np.float64),
        partitions,
    )
    per_call = max(1, CHUNK_ENTRIES // max(1, len(X) * n_components * max_iter))
    for first in range(0, n_starts, per_call):
        if between is not None:
            between()
        call(
            _partition_runs,
            *arguments,
            first,
            min(first + per_call, n_starts),
            np.zeros(d) if shift is None else np.ascontiguousarray(shift, np.float64),
            X,
            w,
            *fixed,
            _rule_constants(),
            _step_constants(accelerate),
            float(convergence.MAX_STEP),
            status,
            values,
            n_iters,
            out_weights,
            out_means,
            out_covariances,
            out_factors,
            out_history,
            n_recorded,
        )
    from_stack = FROM_STACK[covariance_type]
    ends = []
    for s in range(n_starts):
        if status[s] == ILL_DEFINED:
            ends.append(IllDefined("a covariance is not positive definite"))
            continue
        ends.append(
            (
                out_weights[s],
                out_means[s],
                from_stack(out_covariances[s]),
                from_stack(out_factors[s]),
                float(values[s]),
                out_history[s, : n_recorded[s]].tolist(),
                int(n_iters[s]),
                status[s] == CONVERGED,
            )
        )
    return ends


#: What the docks and the command line add while the first fit compiles
#: (``python benchmarks/first_sweep.py``: 36 s for the first default sweep of
#: iris on a 2-core machine, 0.2 s for the next).
FIRST_COMPILE_NOTE = (
    "The first fit after installing also compiles the fitting code: about "
    "half a minute, once."
)


def needs_compiling() -> bool:
    """True when the next fit will compile the EM loop: numba is in use,
    the loop is not loaded in this process, and numba's cache on disk holds
    no version of it for this machine's CPU.

    Best effort, for a message only: it reads numba's cache index (not a
    public API), and says False whenever it cannot tell.
    """
    if not AVAILABLE:
        return False  # the numpy path: nothing to compile
    loop = _squarem_chunk
    try:
        if loop.signatures:
            return False
        from numba.core.caching import NullCache

        cache = loop._cache
        if isinstance(cache, NullCache):
            return True  # no cache (a read-only install): compiled every session
        index = cache._cache_file._load_index()
        machine = loop.targetctx.codegen().magic_tuple()
        return not any(key[1] == machine for key in index)
    except Exception:  # numba's internals moved: say nothing
        return False
