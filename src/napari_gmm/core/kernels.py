"""Compiled EM kernels: one E-step and one M-step per call.

:mod:`napari_gmm.core.em` writes EM as numpy array expressions, step for step
as scikit-learn. On the data our users have that is slow for two opposite
reasons: small data (a few hundred points, a histogram of a few thousand
distinct intensities) pay ~100 numpy calls of Python overhead per
iteration, and large data (10^5-10^6 points) build several ``(n, K)``
temporaries per iteration. The kernels below compute the same quantities
in loops compiled by numba: one call per E-step or M-step, no temporaries
beyond the ``(n, K)`` responsibilities (the work goes block by block of
:data:`BLOCK_ROWS` rows, transposed into small reused buffers, so that the
compiler vectorizes the loops over rows; the M-step's sums over rows in any
order, :data:`_SUMS`), the E-step's exponentials and logarithms computed by
our own branch-free arithmetic (:func:`exp_nonpositive`,
:func:`log_at_least_one`) so that the compiler vectorizes them, and the
GIL released so candidates fitted in threads run in parallel.

They compute what the numpy functions compute, with the same formulas where
scikit-learn's formula decides rounding (the tied and diagonal covariances
are ``E[x x^T] - mu mu^T`` as there); sums are accumulated in a different
order, so results agree to ~1e-12 relative, not bit for bit (tested against
the numpy path in ``tests/test_kernels.py``).

numba is a dependency, but everything works without it: :data:`AVAILABLE`
is False when it cannot be imported (or ``NAPARI_GMM_KERNELS=numpy`` is set
in the environment), and :mod:`~napari_gmm.core.em` then uses numpy.
Compiled code is cached on disk (numba's ``cache=True``), so only the first
fit on a machine pays the compilation (with the k-means and VVV tree
starts, ~36 s for a first default sweep of iris on 2 cores;
``benchmarks/first_sweep.py``, README).
"""

from __future__ import annotations

import math
import os

import numpy as np

try:  # pragma: no branch - numba is a dependency
    if os.environ.get("NAPARI_GMM_KERNELS", "").lower() == "numpy":
        raise ImportError("numba kernels switched off by NAPARI_GMM_KERNELS")
    from numba import njit as _numba_njit
except ImportError:  # pragma: no cover - exercised with NAPARI_GMM_KERNELS=numpy
    AVAILABLE = False

    def njit(*args, **kwargs):
        def decorate(function):
            return function

        return decorate
else:
    AVAILABLE = True

    def njit(**options):
        """numba's ``njit``; without a writable cache location (a read-only
        install and home folder) it compiles in every session instead of
        failing at import."""

        def decorate(function):
            try:
                return _numba_njit(**options)(function)
            except RuntimeError:  # "cannot cache function ...: no locator"
                return _numba_njit(**{**options, "cache": False})(function)

        return decorate


#: The entry points (numpy arrays in, scikit-learn's shapes out) and the
#: compiled building blocks :mod:`napari_gmm.core.compiled_loop` composes.
__all__ = [
    "AVAILABLE",
    "COMPILE_OPTIONS",
    "COVARIANCE_CODES",
    "call",
    "cholesky_lower",
    "e_step",
    "e_step_kernel",
    "exp_nonpositive",
    "log_at_least_one",
    "m_step",
    "m_step_kernel",
    "njit",
    "precision_cholesky",
    "precision_factors",
]

#: Covariance type -> the integer the kernels branch on.
COVARIANCE_CODES = {"spherical": 0, "tied": 1, "diag": 2, "full": 3}

_LOG_2PI = math.log(2.0 * math.pi)
_EPS10 = 10.0 * np.finfo(np.float64).eps

#: numba options of every compiled function of the core: cached on disk, GIL
#: released (candidates fitted in threads run in parallel), numpy's error
#: model (0/0 is NaN, not an exception), no fastmath (NaN checks must hold).
COMPILE_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}
_COMPILE = COMPILE_OPTIONS


# --------------------------------------------------------------------------
# E-step


@njit(**_COMPILE)
def _project_means(means, factors, code):
    """``mu_k U_k`` for full and tied precisions (zeros otherwise)."""
    n_components, d = means.shape
    projected = np.zeros((n_components, d))
    if code == 1 or code == 3:
        for k in range(n_components):
            factor = factors[0] if code == 1 else factors[k]
            for j in range(d):
                total = 0.0
                for m in range(d):
                    total += means[k, m] * factor[m, j]
                projected[k, j] = total
    return projected


@njit(**_COMPILE)
def _log_constants(weights, factors, code, d):
    """``log pi_k + log det U_k - d/2 log 2 pi`` per component."""
    n_components = weights.shape[0]
    constants = np.empty(n_components)
    for k in range(n_components):
        log_weight = math.log(weights[k]) if weights[k] > 0 else -np.inf
        log_det = 0.0
        if code == 1 or code == 3:
            factor = factors[0] if code == 1 else factors[k]
            for j in range(d):
                log_det += math.log(factor[j, j])
        elif code == 2:
            for j in range(d):
                log_det += math.log(factors[k, j, 0])
        else:
            log_det = d * math.log(factors[k, 0, 0])
        constants[k] = log_weight + log_det - 0.5 * d * _LOG_2PI
    return constants


#: Every kernel works block by block of rows, on the block transposed (one
#: contiguous run of the block's rows per feature and per component), so
#: that the compiler vectorizes the loops over rows. Above this many
#: features the E-step of full models computes ``x U_k`` as a matrix
#: product per block instead (BLAS, through numba's ``np.dot``). Measured
#: (ad-hoc, one thread, 20,000 rows, 5 components, with this constant set
#: high; ms, loops vs products): full E-step 2.29 vs 1.95 at 16 features,
#: 3.13 vs 3.17 at 20, 6.06 vs 5.20 at 30; the tied E-step's loops were
#: faster at every width tried (2.28 vs 2.45 ms at 30), and so were the
#: M-step's (5.7 vs 22.0 ms for full at 30, against the products of the
#: previous version), which therefore have no products.
VECTOR_MAX_FEATURES = 12
#: Rows per block: a block's buffers stay in cache.
BLOCK_ROWS = 256
#: The rows of a block's 2-D buffers are this many values longer than the
#: block: 256 doubles are 2 KiB, and rows 2 KiB apart share the cache's
#: sets, so that filling a transposed block of 30 features evicted its
#: own lines (measured, ad-hoc, 569 x 30, K = 5: 41 us per transposition
#: without the padding).
BLOCK_PADDING = 8


@njit(**_COMPILE)
def _padded(block):
    """The length of a block buffer's rows (:data:`BLOCK_PADDING`)."""
    return block + BLOCK_PADDING


@njit(**_COMPILE)
def _products(code, d):
    """The full E-step computes ``x U_k`` by matrix products
    (:data:`VECTOR_MAX_FEATURES`)."""
    return code == 3 and d > VECTOR_MAX_FEATURES


@njit(**_COMPILE)
def _transpose_rows(X, start, m, xt):
    """``xt[j, i] = X[start + i, j]`` for the block's ``m`` rows."""
    d = X.shape[1]
    for i in range(m):
        for j in range(d):
            xt[j, i] = X[start + i, j]


@njit(**_COMPILE)
def _project_block(xt, m, factors, index, xu):
    """``xu[j, i] = (x_i U)_j`` for a block (``xt`` transposed) and ``U =
    factors[index]``; the zeros of the triangular ``U`` are skipped (so an
    infinite ``x`` gives an infinite distance, not NaN: the callers check
    that X is finite first)."""
    d = factors.shape[1]
    for j in range(d):
        for i in range(m):
            xu[j, i] = 0.0
        for f in range(d):
            u = factors[index, f, j]
            if u != 0.0:
                for i in range(m):
                    xu[j, i] += xt[f, i] * u


@njit(**_COMPILE)
def _log_joint_block(X, start, m, means, factors, code, consts, buffers):
    """``joint[k, i] = log pi_k + log N(x_i | mu_k, Sigma_k)`` for
    the block of ``m`` rows from ``start`` (component-major).

    ``consts`` is ``(projected means mu_k U_k, log constants)`` of
    :func:`_project_means` and :func:`_log_constants`; ``buffers`` is
    ``(block, xt, xu, distance, joint)`` of :func:`_log_joint_buffers`.
    """
    projected, constants = consts
    _, xt, xu, distance, joint = buffers
    n_components, d = means.shape
    triangular = code == 1 or code == 3
    products = _products(code, d)
    if products:
        # contiguous operands: one np.dot specialization to compile
        rows = np.empty((m, d))
        part = np.empty((m, d))
        for i in range(m):
            for j in range(d):
                rows[i, j] = X[start + i, j]
    else:
        _transpose_rows(X, start, m, xt)
    for k in range(n_components):
        if not products:
            for i in range(m):
                distance[i] = 0.0
        if products:
            # ||x U_k - mu_k U_k||^2, x U_k as a matrix product, as
            # scikit-learn computes it
            np.dot(rows, factors[k], part)
            for i in range(m):
                total = 0.0
                for j in range(d):
                    difference = part[i, j] - projected[k, j]
                    total += difference * difference
                distance[i] = total
        elif triangular:
            if code == 3 or k == 0:
                _project_block(xt, m, factors, 0 if code == 1 else k, xu)
            for j in range(d):
                mean = projected[k, j]
                for i in range(m):
                    difference = xu[j, i] - mean
                    distance[i] += difference * difference
        elif code == 2:
            for j in range(d):
                mean = means[k, j]
                scale = factors[k, j, 0]
                for i in range(m):
                    scaled = (xt[j, i] - mean) * scale
                    distance[i] += scaled * scaled
        else:
            for j in range(d):
                mean = means[k, j]
                for i in range(m):
                    difference = xt[j, i] - mean
                    distance[i] += difference * difference
            precision = factors[k, 0, 0] * factors[k, 0, 0]
            for i in range(m):
                distance[i] *= precision
        constant = constants[k]
        for i in range(m):
            joint[k, i] = constant - 0.5 * distance[i]


@njit(**_COMPILE)
def _log_joint_buffers(n, d, n_components, code):
    """``(block, xt, xu, distance, joint)``, the buffers of
    :func:`_log_joint_block` for ``n`` rows (``xt``: the block transposed,
    ``xu``: ``x U`` transposed; empty where matrix products replace them)."""
    block = max(1, min(n, BLOCK_ROWS))
    triangular = code == 1 or code == 3
    products = _products(code, d)
    return (
        block,
        np.empty((0 if products else d, _padded(block))),
        np.empty((d if triangular and not products else 0, _padded(block))),
        np.empty(block),
        np.empty((n_components, _padded(block))),
    )


#: The E-step's exponentials: ``exp(x)`` for ``x <= 0`` as ``2**n * e**r``
#: with ``n = round(x / log 2)`` (the integer read off the bits of ``x /
#: log 2 + 1.5 * 2**52``), ``r = x - n log 2`` in two parts (Cody & Waite
#: 1980; fdlibm's split of ``log 2``) and ``e**r`` by its Taylor series to
#: degree 13 (``|r| <= log(2) / 2``: truncation below 1e-17). Written as
#: plain arithmetic on arrays, so the compiler vectorizes it; libm's ``exp``
#: is one call per entry. Measured: within 1.01 ulp of ``math.exp`` on
#: 9 * 10**5 values in [-700, 0], and 2.5x faster
#: (``tests/test_kernels.py`` checks 2 ulp).
_LOG2_E = 1.4426950408889634
_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10
_ROUNDING_SHIFT = 6755399441055744.0  # 1.5 * 2**52: x + it rounds x to an integer
_ROUNDING_SHIFT_BITS = 0x4338000000000000
#: Below this the exponential is 0 (the true value, below 3.3e-308, would be
#: subnormal); 2**n then stays a normal number.
_EXP_LOWEST = -708.0
#: ``1 / k!`` for k = 13 down to 0: Horner's order
_TAYLOR_HIGH_FIRST = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))

#: (log1p's series for a small rest, in the E-step)
_THIRD = 1.0 / 3.0


@njit(**{**_COMPILE, "fastmath": {"contract"}})
def exp_nonpositive(values, powers):
    """``values[j] = exp(values[j])`` for finite or ``-inf`` values ``<= 0``
    (exactly 1 at 0, 0 below :data:`_EXP_LOWEST`). ``powers`` is an int64
    work array at least as long. Outside that range the result is wrong
    without warning (NaN gives 0, positive values garbage): the E-step
    passes only differences to the row maximum. Only fused multiply-adds
    are allowed (``contract``), which keep it within ~1 ulp."""
    n = values.shape[0]
    if powers.shape[0] < n:
        raise ValueError("exp_nonpositive: the work array is too short")
    scale = powers.view(np.float64)
    for j in range(n):
        x = values[j]
        clipped = x if x > _EXP_LOWEST else _EXP_LOWEST
        shifted = clipped * _LOG2_E + _ROUNDING_SHIFT
        n_log2 = shifted - _ROUNDING_SHIFT
        r = (clipped - n_log2 * _LN2_HIGH) - n_log2 * _LN2_LOW
        p = 0.0
        for coefficient in _TAYLOR_HIGH_FIRST:
            p = p * r + coefficient
        values[j] = p if x >= _EXP_LOWEST else 0.0
        scale[j] = shifted
    for j in range(n):
        # the bits of 1.5 * 2**52 + n, minus those of 1.5 * 2**52, are n;
        # n + 1023 in the exponent field is 2**n
        powers[j] = (powers[j] - _ROUNDING_SHIFT_BITS + 1023) << 52
    for j in range(n):
        values[j] *= scale[j]


#: ``log`` of the E-step's row sums (``>= 1``), fdlibm's method: ``u = 2**k
#: m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))`` read off the bits, ``log m =
#: f - (f**2/2 - s (f**2/2 + R(s**2)))`` with ``f = m - 1``, ``s = f / (2 +
#: f)`` and fdlibm's minimax ``R``; ``k log 2`` in two parts. Within 1 ulp
#: of ``math.log`` on 10**6 values in [1, 100] (measured), ~7x faster than
#: a ``log1p`` call per row.
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_LG1, _LG2, _LG3, _LG4, _LG5, _LG6, _LG7 = _LG
_SQRT2 = 1.4142135623730951
_MANTISSA_BITS = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000


@njit(**{**_COMPILE, "fastmath": {"contract"}})
def log_at_least_one(values, bits, exponents):
    """``values[j] = log(values[j])`` for finite values ``>= 1``; ``bits``
    (int64) and ``exponents`` (float64) are work arrays at least as long.
    Outside that range the result is wrong without warning (0 gives -709,
    NaN a finite number): the E-step passes only row sums, in ``[1, K]``."""
    n = values.shape[0]
    if bits.shape[0] < n or exponents.shape[0] < n:
        raise ValueError("log_at_least_one: a work array is too short")
    mantissas = bits.view(np.float64)
    for j in range(n):
        mantissas[j] = values[j]
    for j in range(n):
        value_bits = bits[j]
        exponents[j] = (value_bits >> 52) - 1023
        bits[j] = (value_bits & _MANTISSA_BITS) | _ONE_BITS  # in [1, 2)
    for j in range(n):
        m = mantissas[j]
        above = m > _SQRT2
        m = m * 0.5 if above else m
        k = exponents[j] + (1.0 if above else 0.0)
        f = m - 1.0
        half_square = 0.5 * f * f
        s = f / (2.0 + f)
        z = s * s
        z2 = z * z
        r = z * (_LG1 + z2 * (_LG3 + z2 * (_LG5 + z2 * _LG7)))
        r += z2 * (_LG2 + z2 * (_LG4 + z2 * _LG6))
        values[j] = k * _LN2_HIGH - (
            (half_square - (s * (half_square + r) + k * _LN2_LOW)) - f
        )


@njit(**_COMPILE)
def e_step_kernel(X, w, weights, means, factors, code, resp, log_resp, want_log):
    """One E-step, block by block of :data:`BLOCK_ROWS` rows: the log
    densities (:func:`_log_joint_block`), their row maxima, exponentials
    (:func:`exp_nonpositive`) and sums.

    Writes the responsibilities into ``resp`` and, when ``want_log``, their
    logs into ``log_resp``; returns ``sum_i w_i log p(x_i) / sum_i w_i``.
    ``factors`` has shape (K or 1, d, d) for full/tied, (K, d, 1) for diag,
    (K, 1, 1) for spherical. ``log p(x_i)`` is ``max + log(m + rest)``
    (:func:`log_at_least_one`) with ``m`` the number of entries at the row
    maximum (each ``exp(0) = 1`` exactly) and ``rest`` the sum of the other
    ``exp(a - max)``; with ``m = 1`` and ``rest < 1e-3`` (most rows),
    ``max + log1p(rest)`` by its series, so that the dominant component's
    log responsibility keeps its digits, as ``em.logsumexp_rows``
    (``log1p(rest / m) + log(m)``; otherwise at most ~1e-16 apart). Rows
    with a NaN or without a finite maximum take the scalar path
    (``math.exp``); one component needs no exponential.
    """
    n, d = X.shape
    n_components = means.shape[0]
    consts = (
        _project_means(means, factors, code),
        _log_constants(weights, factors, code, d),
    )
    buffers = _log_joint_buffers(n, d, n_components, code)
    block = buffers[0]
    joint = buffers[4]
    if n_components == 1:
        for start in range(0, n, block):
            m = min(block, n - start)
            _log_joint_block(X, start, m, means, factors, code, consts, buffers)
            for i in range(m):
                resp[start + i, 0] = joint[0, i]
        return _one_component(w, resp, log_resp, want_log)
    # per block, component-major buffers ([k, i]): the loops over a block's
    # rows are contiguous, so the compiler vectorizes them
    exps_flat = np.zeros(n_components * _padded(block))
    exps = exps_flat.reshape((n_components, _padded(block)))
    powers = np.empty(exps_flat.shape[0], np.int64)
    largest = np.empty(block)
    n_nan = np.empty(block)
    n_at_max = np.empty(block)
    rest = np.empty(block)
    totals = np.empty(block)
    exponents = np.empty(block)
    weighted_sum = 0.0
    weight_sum = 0.0
    for start in range(0, n, block):
        m = min(block, n - start)
        _log_joint_block(X, start, m, means, factors, code, consts, buffers)
        for i in range(m):
            largest[i] = -np.inf
            n_nan[i] = 0.0
            n_at_max[i] = 0.0
            rest[i] = 0.0
        for k in range(n_components):
            for i in range(m):
                value = joint[k, i]
                largest[i] = value if value > largest[i] else largest[i]
                n_nan[i] += 0.0 if value == value else 1.0
        for k in range(n_components):
            for i in range(m):
                difference = joint[k, i] - largest[i]
                # NaN (rows left to the scalar path) must not reach the exp
                exps[k, i] = difference if difference <= 0.0 else 0.0
        if m == block:
            # one call for the whole buffer; its padding is reset to 0
            # (it held the previous block's exponentials)
            for k in range(n_components):
                for i in range(block, _padded(block)):
                    exps[k, i] = 0.0
            exp_nonpositive(exps_flat, powers)
        else:
            # a last, shorter block: its rows only
            for k in range(n_components):
                exp_nonpositive(exps[k, :m], powers)
        for k in range(n_components):
            for i in range(m):
                # at the row maximum exactly
                at_max = joint[k, i] == largest[i]
                n_at_max[i] += 1.0 if at_max else 0.0
                rest[i] += 0.0 if at_max else exps[k, i]
        for i in range(m):
            plain = n_nan[i] > 0.0 or not math.isfinite(largest[i])
            # log of the row's sum of exp(a - max), >= 1 (rows of the scalar
            # path get 1, never read)
            totals[i] = 1.0 if plain else n_at_max[i] + rest[i]
        log_at_least_one(totals, powers, exponents)
        for i in range(m):
            # one entry at the maximum and a small rest (most rows): log1p's
            # series, which keeps the rest's own digits (log(1 + rest) keeps
            # only ~1e-16 of it; error below rest**7 / 7)
            r = rest[i]
            series = r * (
                1.0 - r * (0.5 - r * (_THIRD - r * (0.25 - r * (0.2 - r / 6.0))))
            )
            small = n_at_max[i] == 1.0 and r < 1e-3
            totals[i] = series if small else totals[i]
        # the responsibilities, still component-major (vectorized), then
        # copied row by row
        for i in range(m):
            totals[i] += largest[i]  # log p(x_i)
            rest[i] = 1.0 / (n_at_max[i] + rest[i])
        for k in range(n_components):
            for i in range(m):
                share = 1.0 if joint[k, i] == largest[i] else exps[k, i]
                exps[k, i] = share * rest[i]
        for i in range(m):
            row = start + i
            if n_nan[i] > 0.0 or not math.isfinite(largest[i]):
                for k in range(n_components):
                    resp[row, k] = joint[k, i]
                log_prob = _scalar_row(resp, row, largest[i], log_resp, want_log)
            else:
                log_prob = totals[i]
                for k in range(n_components):
                    resp[row, k] = exps[k, i]
                if want_log:
                    for k in range(n_components):
                        log_resp[row, k] = joint[k, i] - log_prob
            weighted_sum += w[row] * log_prob
            weight_sum += w[row]
    return weighted_sum / weight_sum


@njit(**_COMPILE)
def _one_component(w, resp, log_resp, want_log):
    """:func:`e_step_kernel` for one component: every responsibility is 1
    and ``log p(x_i)`` is the log density itself (no exponential); NaN
    rows give NaN."""
    weighted_sum = 0.0
    weight_sum = 0.0
    for i in range(resp.shape[0]):
        value = resp[i, 0]
        if want_log:
            log_resp[i, 0] = value - value  # 0 (NaN for NaN or an infinity)
        resp[i, 0] = 1.0 if value == value else np.nan
        weighted_sum += w[i] * value
        weight_sum += w[i]
    return weighted_sum / weight_sum


@njit(**_COMPILE)
def _scalar_row(resp, i, largest, log_resp, want_log):
    """Row ``i`` of :func:`e_step_kernel` with ``math.exp``, for rows with a
    NaN or no finite maximum (all ``-inf``: equal shares; ``+inf``);
    returns its ``log p(x_i)`` (NaN with a NaN)."""
    n_components = resp.shape[1]
    joint = np.empty(n_components)
    has_nan = False
    for k in range(n_components):
        joint[k] = resp[i, k]
        if joint[k] != joint[k]:
            has_nan = True
    shift = largest if math.isfinite(largest) else 0.0
    n_at_max = 0.0
    rest = 0.0
    for k in range(n_components):
        value = joint[k]
        if value == largest:
            n_at_max += 1.0
            resp[i, k] = 1.0
        else:
            exp_value = math.exp(value - shift)
            rest += exp_value
            resp[i, k] = exp_value
    inverse_total = 1.0 / (n_at_max + rest)
    for k in range(n_components):
        resp[i, k] *= inverse_total
    if rest != 0.0:
        rest /= n_at_max
    log_prob = math.log1p(rest) + math.log(n_at_max) + largest
    if has_nan:
        log_prob = np.nan
    if want_log:
        for k in range(n_components):
            log_resp[i, k] = joint[k] - log_prob
    return log_prob


# --------------------------------------------------------------------------
# M-step


@njit(**_COMPILE)
def cholesky_lower(matrix, lower):
    """``lower = L`` with ``L L^T = matrix``; False when the matrix is not
    positive definite (a pivot that is not > 0, NaN included)."""
    d = matrix.shape[0]
    for j in range(d):
        for m in range(j + 1, d):
            lower[j, m] = 0.0
        pivot = matrix[j, j]
        for m in range(j):
            pivot -= lower[j, m] * lower[j, m]
        if not pivot > 0.0:
            return False
        lower[j, j] = math.sqrt(pivot)
        for i in range(j + 1, d):
            total = matrix[i, j]
            for m in range(j):
                total -= lower[i, m] * lower[j, m]
            lower[i, j] = total / lower[j, j]
    return True


@njit(**_COMPILE)
def _cholesky_precision(covariance, out):
    """``out = U`` with ``U U^T = covariance^-1``, U upper triangular.

    ``covariance = L L^T``; ``U = (L^-1)^T``. Returns False when the matrix is
    not positive definite.
    """
    d = covariance.shape[0]
    lower = np.empty((d, d))
    if not cholesky_lower(covariance, lower):
        return False
    # inverse of the lower factor by forward substitution, column by column;
    # its transpose is U
    for j in range(d):
        for i in range(d):
            out[i, j] = 0.0
    for column in range(d):
        for i in range(column, d):
            total = 1.0 if i == column else 0.0
            for m in range(column, i):
                total -= lower[i, m] * out[column, m]
            out[column, i] = total / lower[i, i]
    return True


#: The M-step's sums over a block's rows may be added in any order, so the
#: compiler vectorizes them (partial sums per vector lane): ~1e-16 relative
#: apart from an in-order sum, and the order depends on the machine's vector
#: width, as BLAS's does.
_SUMS = {**_COMPILE, "fastmath": {"reassoc", "contract"}}


@njit(**_SUMS)
def _sum(a, ka, m):
    """``sum(a[ka, :m])``."""
    total = 0.0
    for i in range(m):
        total += a[ka, i]
    return total


@njit(**_SUMS)
def _sum_of_products(a, ka, b, kb, m):
    """``sum_i a[ka, i] * b[kb, i]`` for ``i < m`` (rows by index, not
    views: a view per call costs more than a short row's sum)."""
    total = 0.0
    for i in range(m):
        total += a[ka, i] * b[kb, i]
    return total


@njit(**_SUMS)
def _sum_of_triple(a, ka, b, kb, c, kc, m):
    """``sum_i (a[ka, i] * b[kb, i]) * c[kc, i]`` for ``i < m``."""
    total = 0.0
    for i in range(m):
        total += (a[ka, i] * b[kb, i]) * c[kc, i]
    return total


@njit(**_COMPILE)
def _transposed_block(X, w, resp, start, m, xt, rt, wt):
    """A block of ``m`` rows from ``start``, transposed: ``xt[j, i] =
    X[start + i, j]``, ``rt[k, i] = w_i resp[start + i, k]`` and ``wt[0, i]
    = w_i``."""
    _transpose_rows(X, start, m, xt)
    n_components = resp.shape[1]
    for i in range(m):
        row = start + i
        weight = w[row]
        wt[0, i] = weight
        for k in range(n_components):
            rt[k, i] = resp[row, k] * weight


@njit(**_COMPILE)
def m_step_kernel(X, w, resp, reg_covar, floor, has_floor, code):
    """``(nk, means, covariances, factors, ok)`` from the responsibilities.

    ``nk = sum_i w_i tau_ik + 10 eps``; covariances as scikit-learn computes
    them (full: centred; tied and diag: ``E[x x^T] - mu mu^T``), shaped
    (K, d, d) full, (1, d, d) tied, (K, d, 1) diag, (K, 1, 1) spherical;
    ``factors`` the Cholesky factors of the precisions, same shapes; ``ok``
    False when a covariance is not positive definite.
    """
    n, d = X.shape
    n_components = resp.shape[1]
    block = max(1, min(n, BLOCK_ROWS))
    diagonal = code == 0 or code == 2
    xt = np.empty((d, _padded(block)))  # a block of rows, transposed
    rt = np.empty((n_components, _padded(block)))  # its w_i tau_ik
    wt = np.empty((1, block))  # its w_i
    nk = np.zeros(n_components)
    means = np.zeros((n_components, d))
    # diag and spherical: the weighted squares in the same pass (one read of
    # the responsibilities instead of two)
    squares = np.zeros((n_components if diagonal else 0, d))
    # tied: sum_i w_i x_i x_i^T (lower triangle), in the same pass too
    tied = np.zeros((1 if code == 1 else 0, d, d))
    for start in range(0, n, block):
        m = min(block, n - start)
        _transposed_block(X, w, resp, start, m, xt, rt, wt)
        for k in range(n_components):
            nk[k] += _sum(rt, k, m)
            for j in range(d):
                means[k, j] += _sum_of_products(rt, k, xt, j, m)
                if diagonal:
                    squares[k, j] += _sum_of_triple(rt, k, xt, j, xt, j, m)
        if code == 1:
            # not a literal 0: numba would compile _sum_of_triple twice
            only = np.int64(0)
            for j in range(d):
                for f in range(j + 1):
                    tied[0, j, f] += _sum_of_triple(wt, only, xt, j, xt, f, m)
    for k in range(n_components):
        nk[k] += _EPS10
        for j in range(d):
            means[k, j] /= nk[k]

    if code == 3:
        # sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T (scikit-learn's formula),
        # lower triangle, over transposed blocks
        covariances = np.zeros((n_components, d, d))
        centred = np.empty((d, _padded(block)))
        weighted = np.empty((d, _padded(block)))
        for start in range(0, n, block):
            m = min(block, n - start)
            if n > block:  # (one block: still in xt and rt)
                _transposed_block(X, w, resp, start, m, xt, rt, wt)
            for k in range(n_components):
                for j in range(d):
                    mean = means[k, j]
                    for i in range(m):
                        value = xt[j, i] - mean
                        centred[j, i] = value
                        weighted[j, i] = rt[k, i] * value
                for j in range(d):
                    for f in range(j + 1):
                        covariances[k, j, f] += _sum_of_products(
                            weighted, j, centred, f, m
                        )
        for k in range(n_components):
            for j in range(d):
                for f in range(j + 1):
                    covariances[k, j, f] /= nk[k]
                    covariances[k, f, j] = covariances[k, j, f]
                covariances[k, j, j] += reg_covar
                if has_floor:
                    covariances[k, j, j] += floor[j]
    elif code == 1:
        # sum_i w_i x_i x_i^T - sum_k n_k mu_k mu_k^T, over sum_k n_k
        # (scikit-learn's formula: it decides the rounding)
        covariances = tied
        total_nk = 0.0
        for k in range(n_components):
            total_nk += nk[k]
            for j in range(d):
                scaled = nk[k] * means[k, j]
                for f in range(j + 1):
                    covariances[0, j, f] -= scaled * means[k, f]
        for j in range(d):
            for f in range(j + 1):
                covariances[0, j, f] /= total_nk
                covariances[0, f, j] = covariances[0, j, f]
            covariances[0, j, j] += reg_covar
            if has_floor:
                covariances[0, j, j] += floor[j]
    else:
        # diag and spherical: E_k[x_j^2] - mu_kj^2 + reg_covar
        covariances = np.zeros((n_components, d, 1))
        for k in range(n_components):
            for j in range(d):
                covariances[k, j, 0] = (
                    squares[k, j] / nk[k] - means[k, j] * means[k, j] + reg_covar
                )
                if has_floor and code == 2:
                    covariances[k, j, 0] += floor[j]
    if code == 0:
        # spherical: the mean of the diagonal (its floor: the floor's mean)
        floor_mean = 0.0
        if has_floor:
            for j in range(d):
                floor_mean += floor[j]
            floor_mean /= d
        spherical = np.empty((n_components, 1, 1))
        for k in range(n_components):
            total = 0.0
            for j in range(d):
                total += covariances[k, j, 0]
            spherical[k, 0, 0] = total / d + floor_mean
        covariances = spherical
    factors, ok = precision_factors(covariances, code)
    return nk, means, covariances, factors, ok


@njit(**_COMPILE)
def precision_factors(covariances, code):
    """``(factors, ok)``: the Cholesky factors ``U`` of the precisions of
    covariances in the kernels' shapes (full and tied: ``(K or 1, d, d)``;
    diag and spherical: ``(K, d or 1, 1)`` variances, whose factor is
    ``1 / sd``); ``ok`` is False when one is not positive definite."""
    factors = np.zeros_like(covariances)
    if code == 1 or code == 3:
        for k in range(covariances.shape[0]):
            if not _cholesky_precision(covariances[k], factors[k]):
                return factors, False
        return factors, True
    ok = True
    for k in range(covariances.shape[0]):
        for j in range(covariances.shape[1]):
            variance = covariances[k, j, 0]
            if variance > 0.0:
                factors[k, j, 0] = 1.0 / math.sqrt(variance)
            else:
                ok = False
    return factors, ok


# --------------------------------------------------------------------------
# Python entry points (shapes as scikit-learn stores them)


def call(kernel, *args):
    """``kernel(*args)``, with Ctrl-C as a KeyboardInterrupt.

    A Ctrl-C that arrives while a compiled function returns surfaces as
    ``SystemError: ... returned a result with an exception set`` caused by
    the KeyboardInterrupt (measured with the command line's Ctrl-C test):
    this gives the interrupt back.
    """
    try:
        return kernel(*args)
    except SystemError as err:
        if isinstance(err.__cause__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise


def usable(X: np.ndarray) -> bool:
    """True when the kernels can run on ``X`` (float64, 2-D)."""
    return AVAILABLE and X.dtype == np.float64 and X.ndim == 2


def _as_float(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float64)


#: scikit-learn's shapes -> the kernels' (K or 1, d, d or 1).
TO_STACK = {
    "full": lambda a, k, d: a,
    "tied": lambda a, k, d: a.reshape(1, d, d),
    "diag": lambda a, k, d: a.reshape(k, d, 1),
    "spherical": lambda a, k, d: a.reshape(k, 1, 1),
}


def e_step(X, w, weights, means, precisions_cholesky, covariance_type, want_log=True):
    """``(lower_bound, log_resp, resp)`` as ``em.e_step`` (plus ``resp``).

    ``lower_bound = sum_i w_i log p(x_i) / sum_i w_i``; ``resp`` are the
    responsibilities ``exp(log_resp)`` (computed without a second
    exponential); ``log_resp`` is None unless ``want_log``. Shapes as
    scikit-learn stores them (see ``em.MixtureParameters``).
    """
    means = _as_float(means)
    n_components, n_features = means.shape
    factors = _as_float(
        TO_STACK[covariance_type](
            np.asarray(precisions_cholesky), n_components, n_features
        )
    )
    resp = np.empty((X.shape[0], n_components))
    log_resp = np.empty((X.shape[0], n_components) if want_log else (0, 0))
    lower_bound = call(
        e_step_kernel,
        _as_float(X),
        _as_float(w),
        _as_float(weights),
        means,
        factors,
        COVARIANCE_CODES[covariance_type],
        resp,
        log_resp,
        want_log,
    )
    return lower_bound, (log_resp if want_log else None), resp


#: The kernels' shapes -> scikit-learn's (inverse of :data:`TO_STACK`).
FROM_STACK = {
    "full": lambda a: a,
    "tied": lambda a: a[0],
    "diag": lambda a: a[:, :, 0],
    "spherical": lambda a: a[:, 0, 0],
}


def m_step(X, w, resp, reg_covar, floor, covariance_type):
    """``(nk, means, covariances, precisions_cholesky)`` from the
    responsibilities, as ``em.weighted_gaussian_parameters`` followed by the
    Cholesky factors of the precisions; the factors are None when a
    covariance is not positive definite. Shapes as scikit-learn stores them.
    """
    has_floor = floor is not None
    floor_array = (
        np.zeros(X.shape[1])
        if floor is None
        # a copy: broadcast_to's read-only view would compile the kernel a
        # second time (numba types read-only arrays apart)
        else np.array(np.broadcast_to(floor, (X.shape[1],)), dtype=np.float64)
    )
    nk, means, covariances, factors, ok = call(
        m_step_kernel,
        _as_float(X),
        _as_float(w),
        _as_float(resp),
        float(reg_covar),
        floor_array,
        has_floor,
        COVARIANCE_CODES[covariance_type],
    )
    shape = FROM_STACK[covariance_type]
    return nk, means, shape(covariances), shape(factors) if ok else None


def precision_cholesky(covariances: np.ndarray, covariance_type: str):
    """``U`` factors of the precisions, or None when one covariance is not
    positive definite (full and tied; the caller handles the vector types)."""
    stack = np.ascontiguousarray(covariances, dtype=np.float64)
    if covariance_type == "tied":
        stack = stack[np.newaxis]
    factors, ok = call(precision_factors, stack, COVARIANCE_CODES[covariance_type])
    if not ok:
        return None
    return factors[0] if covariance_type == "tied" else factors
