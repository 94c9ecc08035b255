"""Compiled EM kernels: one E-step and one M-step per call, in one pass.

:mod:`napari_gmm.core.em` writes EM as numpy array expressions, step for step
as scikit-learn. On the data our users have that is slow for two opposite
reasons: small data (a few hundred points, a histogram of a few thousand
distinct intensities) pay ~100 numpy calls of Python overhead per
iteration, and large data (10^5-10^6 points) build several ``(n, K)``
temporaries per iteration. The kernels below compute the same quantities
in loops compiled by numba: one call per E-step or M-step, no temporaries
beyond the ``(n, K)`` responsibilities, and the GIL released so candidates
fitted in threads run in parallel.

They compute what the numpy functions compute, with the same formulas where
scikit-learn's formula decides rounding (the tied and diagonal covariances
are ``E[x x^T] - mu mu^T`` as there); sums are accumulated in a different
order, so results agree to ~1e-12 relative, not bit for bit (tested against
the numpy path in ``tests/test_kernels.py``).

numba is a dependency, but everything works without it: :data:`AVAILABLE`
is False when it cannot be imported (or ``NAPARI_GMM_KERNELS=numpy`` is set
in the environment), and :mod:`~napari_gmm.core.em` then uses numpy.
Compiled code is cached on disk (numba's ``cache=True``), so only the first
fit on a machine pays the compilation (a few seconds).
"""

from __future__ import annotations

import math
import os

import numpy as np

try:  # pragma: no branch - numba is a dependency
    if os.environ.get("NAPARI_GMM_KERNELS", "").lower() == "numpy":
        raise ImportError("numba kernels switched off by NAPARI_GMM_KERNELS")
    from numba import njit
except ImportError:  # pragma: no cover - exercised with NAPARI_GMM_KERNELS=numpy
    AVAILABLE = False

    def njit(*args, **kwargs):
        def decorate(function):
            return function

        return decorate
else:
    AVAILABLE = True

__all__ = ["AVAILABLE", "COVARIANCE_CODES", "e_step", "m_step", "precision_cholesky"]

#: Covariance type -> the integer the kernels branch on.
COVARIANCE_CODES = {"spherical": 0, "tied": 1, "diag": 2, "full": 3}

_LOG_2PI = math.log(2.0 * math.pi)
_EPS10 = 10.0 * np.finfo(np.float64).eps

_COMPILE = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


# --------------------------------------------------------------------------
# E-step


@njit(**_COMPILE)
def _joint_quadratic(X, log_weights, means, factors, shared, out):
    """``out[i, k] = log pi_k + log N(x_i | mu_k, S_k)`` for full or tied
    covariances: ``||x U_k - mu_k U_k||^2`` with ``U_k = factors[k]``, or
    ``factors[0]`` for every k when ``shared``."""
    n, d = X.shape
    projected_mean = np.empty(d)
    for k in range(means.shape[0]):
        factor = factors[0] if shared else factors[k]
        log_det = 0.0
        for j in range(d):
            log_det += math.log(factor[j, j])
        for j in range(d):
            total = 0.0
            for m in range(d):
                total += means[k, m] * factor[m, j]
            projected_mean[j] = total
        constant = log_weights[k] + log_det - 0.5 * d * _LOG_2PI
        for i in range(n):
            distance = 0.0
            for j in range(d):
                total = 0.0
                for m in range(d):
                    total += X[i, m] * factor[m, j]
                total -= projected_mean[j]
                distance += total * total
            out[i, k] = constant - 0.5 * distance


@njit(**_COMPILE)
def _joint_diagonal(X, log_weights, means, scales, out):
    """As :func:`_joint_quadratic` for diagonal precisions: ``scales[k, j]``
    is ``1 / sd`` of feature j in component k (spherical: the same for all j)."""
    n, d = X.shape
    for k in range(means.shape[0]):
        log_det = 0.0
        for j in range(d):
            log_det += math.log(scales[k, j])
        constant = log_weights[k] + log_det - 0.5 * d * _LOG_2PI
        for i in range(n):
            distance = 0.0
            for j in range(d):
                scaled = (X[i, j] - means[k, j]) * scales[k, j]
                distance += scaled * scaled
            out[i, k] = constant - 0.5 * distance


@njit(**_COMPILE)
def _shift_rows(joint):
    """Subtract each row's maximum (0 when it is not finite) in place.

    Returns the shifts, shape (n_samples,), and whether any row holds NaN.
    After the shift the entries at a row's maximum are exactly 0.
    """
    n, n_components = joint.shape
    shifts = np.empty(n)
    has_nan = False
    for i in range(n):
        largest = -np.inf
        for k in range(n_components):
            value = joint[i, k]
            if value != value:
                has_nan = True
            elif value > largest:
                largest = value
        shift = largest if math.isfinite(largest) else 0.0
        shifts[i] = shift
        for k in range(n_components):
            joint[i, k] -= shift
    return shifts, has_nan


@njit(**_COMPILE)
def _finish_rows(shifted, exps, shifts, w):
    """Log responsibilities (in place of ``shifted``) and responsibilities
    (in place of ``exps = exp(shifted)``); returns the lower bound.

    Each row's ``log p(x_i)`` is ``log1p(rest / m) + log(m) + max``, with
    ``m`` the number of entries at the row maximum and ``rest`` the sum of
    the other ``exp(a - max)``: accurate when one component dominates, as
    ``em._logsumexp_rows``.
    """
    n, n_components = shifted.shape
    weighted_sum = 0.0
    weight_sum = 0.0
    for i in range(n):
        n_at_max = 0.0
        rest = 0.0
        has_nan = False
        largest = -np.inf
        for k in range(n_components):
            value = shifted[i, k]
            if value != value:
                has_nan = True
            elif value > largest:
                largest = value
        for k in range(n_components):
            if shifted[i, k] == largest:
                n_at_max += 1.0
            else:
                rest += exps[i, k]
        total = n_at_max + rest
        if rest != 0.0:
            rest /= n_at_max
        log_prob = math.log1p(rest) + math.log(n_at_max) + largest + shifts[i]
        if has_nan:
            log_prob = np.nan
        offset = log_prob - shifts[i]
        for k in range(n_components):
            shifted[i, k] -= offset
            exps[i, k] /= total
        weighted_sum += w[i] * log_prob
        weight_sum += w[i]
    return weighted_sum / weight_sum


# --------------------------------------------------------------------------
# M-step


@njit(**_COMPILE)
def _cholesky_lower(matrix, lower):
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
    if not _cholesky_lower(covariance, lower):
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


@njit(**_COMPILE)
def _m_step_kernel(X, w, resp, reg_covar, floor, has_floor, code):
    n, d = X.shape
    n_components = resp.shape[1]
    resp_w = np.empty((n, n_components))
    nk = np.zeros(n_components)
    means = np.zeros((n_components, d))
    for i in range(n):
        for k in range(n_components):
            r = resp[i, k] * w[i]
            resp_w[i, k] = r
            nk[k] += r
            for j in range(d):
                means[k, j] += r * X[i, j]
    for k in range(n_components):
        nk[k] += _EPS10
        for j in range(d):
            means[k, j] /= nk[k]

    if code == 3:
        covariances = np.zeros((n_components, d, d))
        centred = np.empty(d)
        for k in range(n_components):
            for i in range(n):
                r = resp_w[i, k]
                for j in range(d):
                    centred[j] = X[i, j] - means[k, j]
                for j in range(d):
                    scaled = r * centred[j]
                    for m in range(j + 1):
                        covariances[k, j, m] += scaled * centred[m]
            for j in range(d):
                for m in range(j + 1):
                    covariances[k, j, m] /= nk[k]
                    covariances[k, m, j] = covariances[k, j, m]
                covariances[k, j, j] += reg_covar
                if has_floor:
                    covariances[k, j, j] += floor[j]
    elif code == 1:
        # sum_i w_i x_i x_i^T - sum_k n_k mu_k mu_k^T, over sum_k n_k
        # (scikit-learn's formula: it decides the rounding)
        covariances = np.zeros((1, d, d))
        for i in range(n):
            for j in range(d):
                scaled = w[i] * X[i, j]
                for m in range(j + 1):
                    covariances[0, j, m] += scaled * X[i, m]
        total_nk = 0.0
        for k in range(n_components):
            total_nk += nk[k]
            for j in range(d):
                scaled = nk[k] * means[k, j]
                for m in range(j + 1):
                    covariances[0, j, m] -= scaled * means[k, m]
        for j in range(d):
            for m in range(j + 1):
                covariances[0, j, m] /= total_nk
                covariances[0, m, j] = covariances[0, j, m]
            covariances[0, j, j] += reg_covar
            if has_floor:
                covariances[0, j, j] += floor[j]
    else:
        # diag and spherical: E_k[x_j^2] - mu_kj^2 + reg_covar
        covariances = np.zeros((n_components, d, 1))
        for i in range(n):
            for k in range(n_components):
                r = resp_w[i, k]
                for j in range(d):
                    covariances[k, j, 0] += r * X[i, j] * X[i, j]
        for k in range(n_components):
            for j in range(d):
                covariances[k, j, 0] = (
                    covariances[k, j, 0] / nk[k] - means[k, j] * means[k, j] + reg_covar
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
    factors = np.empty_like(covariances)
    ok = True
    if code == 1 or code == 3:
        for k in range(covariances.shape[0]):
            if not _cholesky_precision(covariances[k], factors[k]):
                ok = False
                break
    else:
        for k in range(covariances.shape[0]):
            for j in range(covariances.shape[1]):
                variance = covariances[k, j, 0]
                if not variance > 0.0:
                    ok = False
                factors[k, j, 0] = 1.0 / math.sqrt(variance) if variance > 0 else 0.0
    return nk, means, covariances, factors, ok


@njit(**_COMPILE)
def _precision_cholesky_kernel(covariances):
    """Cholesky factors of the precisions of ``(K, d, d)`` matrices."""
    out = np.empty_like(covariances)
    for k in range(covariances.shape[0]):
        if not _cholesky_precision(covariances[k], out[k]):
            return out, False
    return out, True


# --------------------------------------------------------------------------
# Python entry points (shapes as scikit-learn stores them)


def usable(X: np.ndarray) -> bool:
    """True when the kernels can run on ``X`` (float64, 2-D)."""
    return AVAILABLE and X.dtype == np.float64 and X.ndim == 2


def _as_float(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float64)


def e_step(X, w, weights, means, precisions_cholesky, covariance_type):
    """``(lower_bound, log_resp, resp)`` as ``em._e_step`` (plus ``resp``).

    ``lower_bound = sum_i w_i log p(x_i) / sum_i w_i``; ``resp`` are the
    responsibilities ``exp(log_resp)`` (computed without a second
    exponential). Shapes as scikit-learn stores them (see
    ``em.MixtureParameters``).
    """
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    X, w, means = _as_float(X), _as_float(w), _as_float(means)
    chol = _as_float(precisions_cholesky)
    n_components, n_features = means.shape
    joint = np.empty((X.shape[0], n_components))
    if covariance_type in ("full", "tied"):
        factors = chol.reshape(-1, n_features, n_features)
        shared = covariance_type == "tied"
        _joint_quadratic(X, log_weights, means, factors, shared, joint)
    else:
        scales = np.broadcast_to(chol.reshape(n_components, -1), means.shape)
        _joint_diagonal(X, log_weights, means, _as_float(scales), joint)
    shifts, _ = _shift_rows(joint)
    # numpy's exponential is vectorised (SIMD): several times faster than a
    # scalar exp in the compiled loop, and it is the costliest part
    with np.errstate(under="ignore"):
        exps = np.exp(joint)
    lower_bound = _finish_rows(joint, exps, shifts, w)
    return lower_bound, joint, exps


#: Kernel output (n_components or 1, d, d or 1) -> scikit-learn's shapes.
_SHAPES = {
    "full": lambda a: a,
    "tied": lambda a: a[0],
    "diag": lambda a: a[:, :, 0],
    "spherical": lambda a: a[:, 0, 0],
}


def m_step(X, w, resp, reg_covar, floor, covariance_type):
    """``(nk, means, covariances, precisions_cholesky)`` from the
    responsibilities, as ``em._weighted_gaussian_parameters`` followed by the
    Cholesky factors of the precisions; the factors are None when a
    covariance is not positive definite. Shapes as scikit-learn stores them.
    """
    has_floor = floor is not None
    floor_array = (
        np.zeros(X.shape[1])
        if floor is None
        else _as_float(np.broadcast_to(floor, (X.shape[1],)))
    )
    nk, means, covariances, factors, ok = _m_step_kernel(
        _as_float(X),
        _as_float(w),
        _as_float(resp),
        float(reg_covar),
        floor_array,
        has_floor,
        COVARIANCE_CODES[covariance_type],
    )
    shape = _SHAPES[covariance_type]
    return nk, means, shape(covariances), shape(factors) if ok else None


def precision_cholesky(covariances: np.ndarray, covariance_type: str):
    """``U`` factors of the precisions, or None when one covariance is not
    positive definite (full and tied; the caller handles the vector types)."""
    stack = np.ascontiguousarray(covariances, dtype=np.float64)
    if covariance_type == "tied":
        factors, ok = _precision_cholesky_kernel(stack[np.newaxis])
        return factors[0] if ok else None
    factors, ok = _precision_cholesky_kernel(stack)
    return factors if ok else None
