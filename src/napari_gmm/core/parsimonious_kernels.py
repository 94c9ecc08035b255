"""Compiled inner loops of the iterative parsimonious M-steps.

VEI, VEV, VEE, EVE and VVE have no closed-form M-step: each EM iteration
runs an inner loop of exact block minimizations
(:mod:`napari_gmm.core.parsimonious`). Written with numpy, an inner
iteration is a dozen calls on arrays of a few dozen numbers, so on the data
these models are fitted to (hundreds of points, K <= 9) the Python overhead
was most of an EM iteration: a profile of EVE, K = 5 on iris put 0.083 of
0.144 s in the orientation sweep alone, and an EM iteration took 3x mclust's
(``benchmarks/vs_mclust_models.py``). These functions run the same loops,
step for step, compiled by numba; the numpy functions stay as the reference
and as the fallback without numba (``tests/test_parsimonious.py`` checks
that both end at the same point, to rounding: sums run in another order).

Every function takes and returns plain arrays, so
:func:`napari_gmm.core.parsimonious.constrained_covariances` chooses between
the two implementations in one place.
"""

from __future__ import annotations

import math

import numpy as np

from .kernels import (
    AVAILABLE,
    COMPILE_OPTIONS,
    cholesky_lower,
    njit,
    precision_factors,
)

__all__ = ["AVAILABLE", "common_orientation", "volumes_and_common", "volumes_and_shape"]

_COMPILE = COMPILE_OPTIONS


@njit(**_COMPILE)
def _converged(previous, current, scale, tol):
    return previous - current <= tol * scale


@njit(**_COMPILE)
def _volume_objective(nk, volumes, d):
    """``d sum_k n_k log l_k + d sum_k n_k``: F once the volumes are optimal."""
    total = 0.0
    weight = 0.0
    for k in range(nk.shape[0]):
        total += nk[k] * math.log(volumes[k])
        weight += nk[k]
    return d * total + d * weight


@njit(**_COMPILE)
def volumes_and_shape(values, nk, volumes, tol, max_iter):
    """Compiled :func:`napari_gmm.core.parsimonious._volumes_and_shape`.

    Parameters
    ----------
    values : ndarray of shape (n_components, n_features)
    nk : ndarray of shape (n_components,)
    volumes : ndarray of shape (n_components,)
        Starting volumes (not modified).
    tol : float
    max_iter : int

    Returns
    -------
    volumes : ndarray of shape (n_components,)
    shape : ndarray of shape (n_features,)
    """
    n_components, d = values.shape
    scale = max(nk.sum() * d, 1.0)
    volumes = volumes.copy()
    shape = np.empty(d)
    objective = np.inf
    for _ in range(max(max_iter, 1)):
        log_mean = 0.0
        for j in range(d):
            pooled = 0.0
            for k in range(n_components):
                pooled += values[k, j] / volumes[k]
            shape[j] = pooled
            log_mean += math.log(pooled)
        geometric = math.exp(log_mean / d)
        for j in range(d):
            shape[j] /= geometric
        for k in range(n_components):
            total = 0.0
            for j in range(d):
                total += values[k, j] / shape[j]
            volumes[k] = total / (nk[k] * d)
        current = _volume_objective(nk, volumes, d)
        done = _converged(objective, current, scale, tol)
        objective = current
        if done:
            break
    return volumes, shape


@njit(**_COMPILE)
def _log_det(matrix, lower):
    """``log |matrix|`` by a Cholesky factorization; NaN if not positive definite."""
    if not cholesky_lower(matrix, lower):
        return np.nan
    total = 0.0
    for i in range(matrix.shape[0]):
        total += 2.0 * math.log(lower[i, i])
    return total


@njit(**_COMPILE)
def volumes_and_common(scatter, nk, volumes, tol, max_iter):
    """Compiled inner loop of VEE: ``Sigma_k = l_k C`` with ``|C| = 1``.

    Alternates ``C`` proportional to ``sum_k W_k / l_k`` and
    ``l_k = tr(W_k C^-1) / (n_k d)``, as
    :func:`napari_gmm.core.parsimonious._vee`.

    Parameters
    ----------
    scatter : ndarray of shape (n_components, n_features, n_features)
    nk : ndarray of shape (n_components,)
    volumes : ndarray of shape (n_components,)
        Starting volumes (not modified).
    tol : float
    max_iter : int

    Returns
    -------
    volumes : ndarray of shape (n_components,)
    common : ndarray of shape (n_features, n_features)
    ok : bool
        False if a pooled matrix was not positive definite (the numpy
        loop then decides what to do).
    """
    n_components, d = scatter.shape[0], scatter.shape[1]
    scale = max(nk.sum() * d, 1.0)
    volumes = volumes.copy()
    pooled = np.empty((d, d))
    common = np.empty((d, d))
    inverse = np.empty((d, d))
    lower = np.empty((d, d))
    objective = np.inf
    for _ in range(max(max_iter, 1)):
        pooled[:] = 0.0
        for k in range(n_components):
            inverse_volume = 1.0 / volumes[k]
            for i in range(d):
                for j in range(d):
                    pooled[i, j] += inverse_volume * scatter[k, i, j]
        log_det = _log_det(pooled, lower)
        if not math.isfinite(log_det):
            return volumes, common, False
        root = math.exp(log_det / d)
        for i in range(d):
            for j in range(d):
                common[i, j] = 0.5 * (pooled[i, j] + pooled[j, i]) / root
        # U with U U^T = C^-1 (the E-step's precision factor), then C^-1
        factors, ok = precision_factors(common.reshape((1, d, d)), 3)
        if not ok:
            return volumes, common, False
        factor = factors[0]
        for i in range(d):
            for j in range(d):
                total = 0.0
                for m in range(d):
                    total += factor[i, m] * factor[j, m]
                inverse[i, j] = total
        for k in range(n_components):
            trace = 0.0
            for i in range(d):
                for j in range(d):
                    trace += scatter[k, i, j] * inverse[j, i]
            volumes[k] = trace / (nk[k] * d)
        current = _volume_objective(nk, volumes, d)
        done = _converged(objective, current, scale, tol)
        objective = current
        if done:
            break
    return volumes, common, True


@njit(**_COMPILE)
def _projected(scatter, orientation):
    """``P_k = D^T W_k D``, shape (n_components, d, d)."""
    n_components, d = scatter.shape[0], scatter.shape[1]
    half = np.empty((d, d))
    out = np.empty((n_components, d, d))
    for k in range(n_components):
        for j in range(d):
            for m in range(d):
                total = 0.0
                for l in range(d):  # noqa: E741 - the summation index of W D
                    total += scatter[k, j, l] * orientation[l, m]
                half[j, m] = total
        for i in range(d):
            for m in range(d):
                total = 0.0
                for j in range(d):
                    total += orientation[j, i] * half[j, m]
                out[k, i, m] = total
    return out


@njit(**_COMPILE)
def _eigenvalues(projected, nk, vve):
    """The optimal ``lambda_k A_k`` (K, d) given the orientation's ``P_k``."""
    n_components, d = projected.shape[0], projected.shape[1]
    out = np.empty((n_components, d))
    if vve:
        for k in range(n_components):
            for i in range(d):
                out[k, i] = projected[k, i, i] / nk[k]
        return out
    # EVE: as EVI in the basis D
    geometric = np.empty(n_components)
    for k in range(n_components):
        log_mean = 0.0
        for i in range(d):
            log_mean += math.log(projected[k, i, i])
        geometric[k] = math.exp(log_mean / d)
    volume = geometric.sum() / nk.sum()
    for k in range(n_components):
        for i in range(d):
            out[k, i] = volume * projected[k, i, i] / geometric[k]
    return out


@njit(**_COMPILE)
def _objective(projected, nk, eigenvalues):
    """``sum_k [n_k sum_i log e_ki + sum_i P_kii / e_ki]``."""
    n_components, d = eigenvalues.shape
    total = 0.0
    for k in range(n_components):
        logs = 0.0
        for i in range(d):
            logs += math.log(eigenvalues[k, i])
        total += nk[k] * logs
    for k in range(n_components):
        for i in range(d):
            total += projected[k, i, i] / eigenvalues[k, i]
    return total


@njit(**_COMPILE)
def _jacobi_sweep(scatter, orientation, inverse_eigenvalues):
    """Compiled :func:`napari_gmm.core.parsimonious._jacobi_orientation`."""
    n_components, d = inverse_eigenvalues.shape
    orientation = orientation.copy()
    projected = _projected(scatter, orientation)
    for i in range(d - 1):
        for j in range(i + 1, d):
            a = 0.0
            b = 0.0
            for k in range(n_components):
                gap = inverse_eigenvalues[k, i] - inverse_eigenvalues[k, j]
                a += gap * (projected[k, i, i] - projected[k, j, j])
                b += gap * projected[k, i, j]
            a *= 0.5
            if math.hypot(a, b) == 0.0:
                continue
            angle = 0.5 * math.atan2(-b, -a)
            c, s = math.cos(angle), math.sin(angle)
            for row in range(d):
                first, second = orientation[row, i], orientation[row, j]
                orientation[row, i] = c * first + s * second
                orientation[row, j] = -s * first + c * second
            for k in range(n_components):
                for m in range(d):  # rows i and j: R^T P
                    first, second = projected[k, i, m], projected[k, j, m]
                    projected[k, i, m] = c * first + s * second
                    projected[k, j, m] = -s * first + c * second
                for m in range(d):  # columns i and j: P R
                    first, second = projected[k, m, i], projected[k, m, j]
                    projected[k, m, i] = c * first + s * second
                    projected[k, m, j] = -s * first + c * second
    return orientation


@njit(**_COMPILE)
def common_orientation(scatter, nk, starts, vve, tol, max_iter):
    """Compiled Jacobi loop of EVE and VVE (common orientation ``D``).

    As :func:`napari_gmm.core.parsimonious._common_orientation_model` with
    the Jacobi step: the best of ``starts``, then sweeps of plane rotations,
    each followed by the optimal eigenvalues given ``D``, until ``F``
    decreases by less than ``tol`` times ``sum_k n_k d`` (or would
    increase: rounding at the optimum).

    Parameters
    ----------
    scatter : ndarray of shape (n_components, n_features, n_features)
    nk : ndarray of shape (n_components,)
    starts : ndarray of shape (n_starts, n_features, n_features)
        Orthogonal starting orientations.
    vve : bool
        VVE (variable volumes and shapes) if True, else EVE.
    tol : float
    max_iter : int

    Returns
    -------
    orientation : ndarray of shape (n_features, n_features)
    eigenvalues : ndarray of shape (n_components, n_features)
    """
    d = scatter.shape[1]
    scale = max(nk.sum() * d, 1.0)
    best = np.inf
    orientation = starts[0].copy()
    for start in starts:
        projected = _projected(scatter, start)
        value = _objective(projected, nk, _eigenvalues(projected, nk, vve))
        if value < best:
            best = value
            orientation = start.copy()
    eigenvalues = _eigenvalues(_projected(scatter, orientation), nk, vve)
    objective = best
    for _ in range(max(max_iter, 1)):
        candidate = _jacobi_sweep(scatter, orientation, 1.0 / eigenvalues)
        projected = _projected(scatter, candidate)
        candidate_eigenvalues = _eigenvalues(projected, nk, vve)
        value = _objective(projected, nk, candidate_eigenvalues)
        if value > objective:
            break  # rounding at the optimum: keep the better point
        orientation, eigenvalues = candidate, candidate_eigenvalues
        done = _converged(objective, value, scale, tol)
        objective = value
        if done:
            break
    return orientation, eigenvalues


# --------------------------------------------------------------------------
# The whole constrained M-step, for the compiled EM loop


#: The integer :func:`constrained` branches on: a model's index in
#: :data:`napari_gmm.core.parsimonious.MODELS` (mclust's order; the names to
#: codes are ``parsimonious.MODEL_CODES``).
_EII, _VII, _EEI, _VEI, _EVI, _VVI, _EEE, _VEE, _EVE, _VVE, _EEV, _VEV, _EVV, _VVV = (
    range(14)
)


@njit(**_COMPILE)
def _start_volumes(previous, has_previous, scatter, nk):
    """As :func:`napari_gmm.core.parsimonious._previous_volumes`."""
    n_components, d = scatter.shape[0], scatter.shape[1]
    volumes = np.empty(n_components)
    usable = has_previous
    if has_previous:
        lower = np.empty((d, d))
        for k in range(n_components):
            log_det = _log_det(previous[k], lower)
            if not math.isfinite(log_det):
                usable = False
                break
            volumes[k] = math.exp(log_det / d)
    if not usable:
        for k in range(n_components):
            trace = 0.0
            for i in range(d):
                trace += scatter[k, i, i]
            volumes[k] = trace / (nk[k] * d)
    return volumes


@njit(**_COMPILE)
def _from_eigen(vectors, values, k, out):
    """``out[k] = V diag(values[k]) V^T`` (``vectors`` (d, d))."""
    d = vectors.shape[0]
    for i in range(d):
        for j in range(i + 1):
            total = 0.0
            for m in range(d):
                total += vectors[i, m] * values[k, m] * vectors[j, m]
            out[k, i, j] = total
            out[k, j, i] = total


@njit(**_COMPILE)
def _diagonal_of(scatter):
    n_components, d = scatter.shape[0], scatter.shape[1]
    out = np.empty((n_components, d))
    for k in range(n_components):
        for i in range(d):
            out[k, i] = scatter[k, i, i]
    return out


@njit(**_COMPILE)
def symmetric_eigen(matrix, values, vectors):
    """Eigenvalues (ascending) and eigenvectors of a small symmetric matrix.

    Cyclic Jacobi rotations (Golub & Van Loan, section 8.5) until the
    off-diagonal part is below rounding, then sorted as ``numpy.linalg.eigh``
    sorts. Written out rather than numba's ``np.linalg.eigh``, whose
    compilation took seconds each time it appeared (a first sweep pays
    every compilation); for the d <= 20 of these models it is as accurate.

    Parameters
    ----------
    matrix : ndarray of shape (d, d)
        Symmetric (not modified).
    values : ndarray of shape (d,)
        Output.
    vectors : ndarray of shape (d, d)
        Output: orthonormal eigenvectors in its columns.
    """
    d = matrix.shape[0]
    a = matrix.copy()
    for i in range(d):
        for j in range(d):
            vectors[i, j] = 1.0 if i == j else 0.0
    for _ in range(100):
        off = 0.0
        total = 0.0
        for i in range(d):
            for j in range(d):
                total += a[i, j] * a[i, j]
                if i != j:
                    off += a[i, j] * a[i, j]
        if not off > 1e-32 * total:
            break
        for p in range(d - 1):
            for q in range(p + 1, d):
                if a[p, q] == 0.0:
                    continue
                theta = (a[q, q] - a[p, p]) / (2.0 * a[p, q])
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(d):  # A R
                    akp, akq = a[k, p], a[k, q]
                    a[k, p] = c * akp - s * akq
                    a[k, q] = s * akp + c * akq
                for k in range(d):  # R^T A
                    apk, aqk = a[p, k], a[q, k]
                    a[p, k] = c * apk - s * aqk
                    a[q, k] = s * apk + c * aqk
                for k in range(d):
                    vkp, vkq = vectors[k, p], vectors[k, q]
                    vectors[k, p] = c * vkp - s * vkq
                    vectors[k, q] = s * vkp + c * vkq
    for i in range(d):
        values[i] = a[i, i]
    for i in range(d):  # selection sort, ascending, columns alike
        smallest = i
        for j in range(i + 1, d):
            if values[j] < values[smallest]:
                smallest = j
        if smallest != i:
            values[i], values[smallest] = values[smallest], values[i]
            for k in range(d):
                column = vectors[k, i]
                vectors[k, i] = vectors[k, smallest]
                vectors[k, smallest] = column


@njit(**_COMPILE)
def _common_orientation_start(previous, vectors):
    """``vectors``: the eigenvectors shared by the previous covariances (as
    :func:`napari_gmm.core.parsimonious._common_orientation`)."""
    n_components, d = previous.shape[0], previous.shape[1]
    combined = np.zeros((d, d))
    for k in range(n_components):
        coefficient = math.sqrt(2.0 + k)
        for i in range(d):
            for j in range(d):
                combined[i, j] += coefficient * previous[k, i, j]
    symmetric_eigen(combined, np.empty(d), vectors)


@njit(**_COMPILE)
def constrained(scatter, nk, model, previous, has_previous, tol, max_iter):
    """Compiled :func:`napari_gmm.core.parsimonious.constrained_covariances`.

    Parameters
    ----------
    scatter : ndarray of shape (n_components, n_features, n_features)
        ``W_k``, symmetric positive definite.
    nk : ndarray of shape (n_components,)
    model : int
        ``napari_gmm.core.parsimonious.MODEL_CODES``.
    previous : ndarray of shape (n_components, n_features, n_features)
        Warm start of the iterative models (read if ``has_previous``).
    has_previous : bool
    tol, max_iter
        Inner iterations.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
    ok : bool
        False when a matrix that must be positive definite is not.
    """
    n_components, d = scatter.shape[0], scatter.shape[1]
    out = np.zeros((n_components, d, d))
    total = nk.sum()
    lower = np.empty((d, d))
    if model in (_EII, _VII):
        volume = 0.0
        for k in range(n_components):
            trace = 0.0
            for i in range(d):
                trace += scatter[k, i, i]
            if model == _VII:
                for i in range(d):
                    out[k, i, i] = trace / (nk[k] * d)
            volume += trace
        if model == _EII:
            for k in range(n_components):
                for i in range(d):
                    out[k, i, i] = volume / (total * d)
    elif model in (_EEI, _EEE):
        pooled = np.zeros((d, d))
        for k in range(n_components):
            for i in range(d):
                for j in range(d):
                    pooled[i, j] += scatter[k, i, j]
        for k in range(n_components):
            for i in range(d):
                if model == _EEI:
                    out[k, i, i] = pooled[i, i] / total
                else:
                    for j in range(d):
                        out[k, i, j] = pooled[i, j] / total
    elif model in (_VVI, _VVV):
        for k in range(n_components):
            for i in range(d):
                if model == _VVI:
                    out[k, i, i] = scatter[k, i, i] / nk[k]
                else:
                    for j in range(d):
                        out[k, i, j] = scatter[k, i, j] / nk[k]
    elif model == _EVI:
        variances = _diagonal_of(scatter)
        geometric = np.empty(n_components)
        for k in range(n_components):
            log_mean = 0.0
            for i in range(d):
                log_mean += math.log(variances[k, i])
            geometric[k] = math.exp(log_mean / d)
        volume = geometric.sum() / total
        for k in range(n_components):
            for i in range(d):
                out[k, i, i] = volume * variances[k, i] / geometric[k]
    elif model == _VEI:
        volumes = _start_volumes(previous, has_previous, scatter, nk)
        volumes, shape = volumes_and_shape(
            _diagonal_of(scatter), nk, volumes, tol, max_iter
        )
        for k in range(n_components):
            for i in range(d):
                out[k, i, i] = volumes[k] * shape[i]
    elif model == _VEE:
        volumes = _start_volumes(previous, has_previous, scatter, nk)
        volumes, common, ok = volumes_and_common(scatter, nk, volumes, tol, max_iter)
        if not ok:
            return out, False
        for k in range(n_components):
            for i in range(d):
                for j in range(d):
                    out[k, i, j] = volumes[k] * common[i, j]
    elif model in (_EVE, _VVE):
        pooled = np.zeros((d, d))
        for k in range(n_components):
            for i in range(d):
                for j in range(d):
                    pooled[i, j] += scatter[k, i, j]
        starts = np.empty((2 if has_previous else 1, d, d))
        symmetric_eigen(pooled, np.empty(d), starts[0])
        if has_previous:
            _common_orientation_start(previous, starts[1])
        orientation, eigenvalues = common_orientation(
            scatter, nk, starts, model == _VVE, tol, max_iter
        )
        for k in range(n_components):
            _from_eigen(orientation, eigenvalues, k, out)
    elif model in (_EEV, _VEV):
        values = np.empty((n_components, d))
        vectors = np.empty((n_components, d, d))
        for k in range(n_components):
            symmetric_eigen(scatter[k], values[k], vectors[k])
        if model == _EEV:
            pooled = np.zeros(d)
            log_mean = 0.0
            for i in range(d):
                for k in range(n_components):
                    pooled[i] += values[k, i]
                log_mean += math.log(pooled[i])
            root = math.exp(log_mean / d)
            eigenvalues = np.empty((n_components, d))
            for k in range(n_components):
                for i in range(d):
                    eigenvalues[k, i] = (root / total) * (pooled[i] / root)
        else:
            volumes = _start_volumes(previous, has_previous, scatter, nk)
            volumes, shape = volumes_and_shape(values, nk, volumes, tol, max_iter)
            eigenvalues = np.empty((n_components, d))
            for k in range(n_components):
                for i in range(d):
                    eigenvalues[k, i] = volumes[k] * shape[i]
        for k in range(n_components):
            _from_eigen(vectors[k], eigenvalues, k, out)
    elif model == _EVV:
        roots = np.empty(n_components)
        for k in range(n_components):
            log_det = _log_det(scatter[k], lower)
            if not math.isfinite(log_det):
                return out, False
            roots[k] = math.exp(log_det / d)
        volume = roots.sum() / total
        for k in range(n_components):
            for i in range(d):
                for j in range(d):
                    out[k, i, j] = volume * scatter[k, i, j] / roots[k]
    for k in range(n_components):  # symmetric to the last bit
        for i in range(d):
            for j in range(i):
                mean = 0.5 * (out[k, i, j] + out[k, j, i])
                out[k, i, j] = mean
                out[k, j, i] = mean
    return out, True
