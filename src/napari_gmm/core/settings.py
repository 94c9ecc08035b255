"""A sweep's settings: the checks of every input, the limits and the presets.

Each ``_check_*`` function returns the value in its canonical form or raises
a ValueError or TypeError whose message says what to pass instead. Nothing
here fits a model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from .candidate import RELATIVE_REG_COVAR
from .criteria import COVARIANCE_TYPES, CRITERIA
from .starts import START_METHODS

#: Most distinct numbers of components one sweep tries.
MAX_N_COMPONENTS_VALUES = 1000

#: Largest accepted ``n_init`` and ``max_iter``.
MAX_N_INIT = 1000
MAX_ITER = 1_000_000

#: Largest accepted magnitude of a data value: EM squares the values, and
#: sums of squares beyond ~1e308 overflow float64.
MAX_ABS_VALUE = 1e100


def _check_data(X) -> np.ndarray:
    if np.iscomplexobj(X):
        raise TypeError(
            "X must be real numbers; got complex values. Fit e.g. "
            "np.column_stack([X.real, X.imag]) or np.abs(X) instead."
        )
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"X must be a numeric array of shape (n_samples, n_features); "
            f"could not convert it to float: {err}"
        ) from None
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got an array of shape "
            f"{X.shape}. Reshape it, e.g. X.reshape(-1, X.shape[-1])."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X is empty (shape {X.shape}); a mixture needs at least one sample "
            "with at least one feature."
        )
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(
            f"X contains {int(bad_rows.sum())} row(s) with NaN or infinite values "
            f"(first at row {first}); drop or impute them before fitting."
        )
    if X.shape[0] < 2:
        raise ValueError(
            "X has a single sample; a Gaussian mixture needs at least 2 samples."
        )
    largest = float(max(X.max(), -X.min()))  # no |X| copy of a large array
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"X has values as large as {largest:.3g}; beyond {MAX_ABS_VALUE:.0e} "
            "their squares overflow. Rescale the data (e.g. divide by "
            f"{largest:.0e}) before fitting."
        )
    return X


def _check_n_components(n_components) -> tuple[int, ...]:
    if isinstance(n_components, (int, np.integer)):
        raise TypeError(
            f"n_components must be a collection of integers, got the single "
            f"integer {n_components}; pass range(1, {n_components + 1}) for "
            f"K = 1..{n_components} or [{n_components}] for K = {n_components} only."
        )
    if isinstance(n_components, str) or not isinstance(n_components, Iterable):
        raise TypeError(
            f"n_components must be a collection of integers such as range(1, 7), "
            f"got {n_components!r}."
        )
    n_components = list(n_components)
    not_integers = [
        k
        for k in n_components
        if isinstance(k, (bool, np.bool_))
        or not isinstance(k, (int, np.integer, float, np.floating))
        or not float(k).is_integer()
    ]
    if not_integers:
        raise TypeError(
            f"n_components must be whole numbers, got {not_integers}; "
            "pass e.g. range(1, 7)."
        )
    values = sorted({int(k) for k in n_components})
    if not values:
        raise ValueError("n_components is empty; pass e.g. range(1, 7).")
    if values[0] < 1:
        raise ValueError(f"n_components must all be >= 1, got {values}.")
    if len(values) > MAX_N_COMPONENTS_VALUES:
        raise ValueError(
            f"n_components has {len(values)} values (from {values[0]} to "
            f"{values[-1]}); a sweep tries at most {MAX_N_COMPONENTS_VALUES}, pass "
            "e.g. range(1, 21)."
        )
    return tuple(values)


def _check_covariance_types(covariance_types) -> tuple[str, ...]:
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    if not isinstance(covariance_types, Iterable):
        raise TypeError(
            f"covariance_types must be a selection of {list(COVARIANCE_TYPES)}, "
            f"got {covariance_types!r}."
        )
    types = tuple(dict.fromkeys(str(t).lower() for t in covariance_types))
    unknown = [t for t in types if t not in COVARIANCE_TYPES]
    if unknown or not types:
        raise ValueError(
            f"covariance_types must be a non-empty selection of "
            f"{list(COVARIANCE_TYPES)}, got {list(covariance_types)}."
        )
    return types


#: Criteria a sweep can choose by: the information criteria and "cv"
#: (``-2 x`` held-out log-likelihood, see :mod:`napari_gmm.core.crossval`).
SELECTION_CRITERIA = (*CRITERIA, "cv")


def _check_criterion(criterion: str) -> str:
    name = str(criterion).lower()
    if name not in SELECTION_CRITERIA:
        raise ValueError(
            f"criterion must be one of {list(SELECTION_CRITERIA)}, got {criterion!r}."
        )
    return name


def _check_random_state(random_state) -> int:
    if random_state is None:
        # Draw a seed and record it, so the run can be repeated exactly.
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    if isinstance(random_state, (int, np.integer)) and 0 <= random_state < 2**32:
        return int(random_state)
    raise ValueError(
        f"random_state must be None or an integer in [0, 2**32), got {random_state!r}."
    )


#: Initializations: scikit-learn's four, and one Ward tree shared by all
#: candidates (:mod:`napari_gmm.core.initialization`).
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "ward")


def auto_tol(n_samples: float) -> float:
    """Default EM tolerance: scikit-learn's 1e-3, tightened to 1/n for large n.

    EM stops when the *mean* log-likelihood changes by less than ``tol``, so
    stopping early can leave up to about ``2 n tol`` in BIC. With
    ``tol = min(1e-3, 1/n)`` that is about 2 whatever n, below the
    difference of 6-10 usually read as strong evidence, so the choice does
    not depend on where EM stopped. Up to 1,000 samples it is exactly
    scikit-learn's default.
    """
    return float(min(1e-3, 1.0 / max(float(n_samples), 1.0)))


#: Samples from which ``n_jobs=None`` fits candidates in parallel threads.
PARALLEL_THRESHOLD = 20_000


#: GaussianMixture's initialisations.
_INIT_PARAMS = INIT_METHODS

#: Initializations of the default preset: all of :mod:`napari_gmm.core.starts`
#: ("auto"), one of them, or one of scikit-learn's.
DEFAULT_INIT_PARAMS = (
    "auto",
    *START_METHODS,
    "k-means++",
    "random",
    "random_from_data",
)

#: Largest log-likelihood the default stopping rule may leave to gain (BIC
#: at most about twice that; measured in docs/model-selection.md).
GAIN_TOL = 0.01

#: Settings each preset fills in where the caller gave None.
PRESETS = {
    "default": {
        "tol": GAIN_TOL,
        "reg_covar": RELATIVE_REG_COVAR,
        "max_iter": 500,  # E-steps; overfitted candidates can crawl for longer
        "init_params": "auto",
        "allow_degenerate": False,
    },
    "sklearn": {
        "tol": None,  # auto_tol(n)
        "reg_covar": 1e-6,
        "max_iter": 100,
        "init_params": "kmeans",
        "allow_degenerate": True,
    },
}


def _resolve_n_jobs(n_jobs, n_samples: int, n_candidates: int) -> int:
    if n_jobs is None:
        # threads only pay off when each candidate has real work to do
        n_jobs = -1 if n_samples >= PARALLEL_THRESHOLD else 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number, -1 (all cores) or None.")
    cores = os.cpu_count() or 1
    resolved = cores + 1 + n_jobs if n_jobs < 0 else n_jobs
    return max(1, min(resolved, n_candidates))


def _gmm_params(preset, init_params, n_init, tol, reg_covar, max_iter) -> dict:
    """Estimator settings shared by every candidate of a sweep."""
    params = {
        "n_init": int(n_init),
        "tol": float(tol),
        "reg_covar": float(reg_covar),
        "max_iter": int(max_iter),
        "init_params": init_params,
    }
    if preset == "sklearn":
        return params
    # the default preset: our EM to the gain rule, accelerated; reg_covar
    # becomes a covariance floor relative to each feature's variance
    # (_SweepPlan.floor_for); starts from core/starts.py unless one of
    # scikit-learn's own initializations was asked for
    own_init = init_params in (*START_METHODS, "auto")
    return {
        **params,
        "reg_covar": 0.0,
        "init_params": "kmeans" if own_init else init_params,
        "stopping": "gain",
        "accelerate": True,
    }
