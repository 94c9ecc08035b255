"""A sweep's settings: the checks of every input, the limits and the presets.

Each ``_check_*`` function returns the value in its canonical form or raises
a ValueError or TypeError whose message says what to pass instead. Nothing
here fits a model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .candidate import RELATIVE_REG_COVAR
from .criteria import (
    ALL_MODELS,
    COVARIANCE_TYPES,
    CRITERIA,
    MODEL_TYPES,
    candidate_type,
)
from .crossval import CV_FOLDS, check_cv_folds, check_fold_split
from .em import check_covariance_floor, check_finite_rows
from .noise import bounding_box_volume, check_noise_volume
from .parsimonious import MODELS
from .starts import START_METHODS

#: Most distinct numbers of components one sweep tries.
MAX_N_COMPONENTS_VALUES = 1000

#: Largest accepted ``n_init`` and ``max_iter``.
MAX_N_INIT = 1000
MAX_ITER = 1_000_000

#: Largest accepted magnitude of a data value: EM squares the values, and
#: sums of squares beyond ~1e308 overflow float64.
MAX_ABS_VALUE = 1e100

#: Smallest accepted spread (max - min) of a feature that varies: EM squares
#: deviations, and below ~1e-154 their squares leave float64's normal range
#: (measured: data x 1e-156 chose 2 components for one Gaussian, with
#: overflow warnings and failed starts; found by fuzzing).
MIN_SPREAD = 1e-100


def check_data(X) -> np.ndarray:
    """The data of a sweep as a finite 2-D float array, or one clear error.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples,)
        A 1-D array is one feature.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    TypeError
        Complex or non-numeric data.
    ValueError
        Wrong number of dimensions, empty, non-finite or too large values.
    """
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
    check_finite_rows(X, "before fitting")
    if X.shape[0] < 2:
        raise ValueError(
            "X has a single sample; a Gaussian mixture needs at least 2 samples."
        )
    # per feature, one pass each (no |X| copy of a large array)
    high, low = X.max(axis=0), X.min(axis=0)
    largest = float(max(high.max(), -low.min()))
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"X has values as large as {largest:.3g}; beyond {MAX_ABS_VALUE:.0e} "
            "their squares overflow. Rescale the data (e.g. divide by "
            f"{largest:.0e}) before fitting."
        )
    spread = high - low
    tiny = (spread > 0) & (spread < MIN_SPREAD)
    if tiny.any():
        j = int(np.flatnonzero(tiny)[0])
        raise ValueError(
            f"Feature {j} of X varies by only {spread[j]:.3g}; below "
            f"{MIN_SPREAD:.0e} the squares of its deviations underflow float64. "
            f"Rescale the data (e.g. multiply that feature by {1 / spread[j]:.0e}) "
            "before fitting."
        )
    return X


def _check_n_components(n_components) -> tuple[int, ...]:
    if isinstance(n_components, (int, np.integer)) and n_components < 1:
        raise TypeError(
            f"n_components must be a collection of integers >= 1 such as "
            f"range(1, 7), got the single integer {n_components}."
        )
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
    """The candidates' covariance types, canonical (:data:`MODEL_TYPES`) and
    without repeats; ``"all"`` (alone or in the collection) stands for the 14."""
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    if not isinstance(covariance_types, Iterable):
        raise TypeError(
            f"covariance_types must be a selection of {list(COVARIANCE_TYPES)}, "
            f"mclust's model names or {ALL_MODELS!r}, got {covariance_types!r}."
        )
    given = list(covariance_types)
    types, unknown = [], []
    for name in given:
        if str(name).lower() == ALL_MODELS:
            types.extend(MODEL_TYPES)
            continue
        try:
            types.append(candidate_type(name))
        except ValueError:
            unknown.append(name)
    if unknown or not types:
        raise ValueError(
            f"covariance_types must be a non-empty selection of scikit-learn's "
            f"{list(COVARIANCE_TYPES)} and mclust's {list(MODELS)} (any case; "
            f"spherical = VII, diag = VVI, tied = EEE, full = VVV), or "
            f"{ALL_MODELS!r} for all 14; got {given}"
            + (f" ({unknown} unknown)." if unknown and types else ".")
        )
    return tuple(dict.fromkeys(types))


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


#: Above this many points, iter_sweep screens on a subsample by default
#: (:mod:`napari_gmm.core.large`).
SCREEN_THRESHOLD = 100_000
#: Default subsample size for screening.
SCREEN_SIZE = 50_000
#: How many of the best screened candidates are always refitted on all points
#: (more are when the refit margin admits them).
REFIT_TOP = 1

#: Samples from which ``n_jobs=None`` fits candidates in threads on every
#: core (and BLAS may use threads when candidates run one after the other).
PARALLEL_THRESHOLD = 20_000

#: Below PARALLEL_THRESHOLD samples ``n_jobs=None`` runs at most this many
#: threads. Most of a small fit runs in compiled code that releases the GIL
#: (benchmarks/threads.py on 2 cores, default sweep K = 1..9: 1.25x faster
#: on iris, 1.54x on faithful, 1.65-1.89x from 1,000 to 15,000 rows; less,
#: even slower, when other work keeps the cores busy; docs/performance.md);
#: the Python between the kernels holds it, so more threads would contend.
SMALL_DATA_THREADS = 4

#: Below this many samples ``n_jobs=None`` fits the candidates one after the
#: other: each fit is too short to pay for the threads. Best of 5, idle
#: 2-core machine, default sweep K = 1..9, one thread vs two, since the
#: short runs of a candidate are one compiled call: 12 and 20 rows 0.103 vs
#: 0.112 s and 0.108 vs 0.120 s; 31 rows 0.136 vs 0.121 s (mclust's
#: EuroUnemployment 0.148 vs 0.129 s), 50 rows 0.177 vs 0.141 s, 100 rows
#: 0.126 vs 0.095 s. (Before that, 31 rows took 0.203 s in one thread and
#: 0.257 s in threads, and the limit was 100.)
SMALL_DATA_THREADS_MIN_ROWS = 30


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
        "max_iter": 500,  # E-steps, more on few rows (default_max_iter)
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


#: Without a ``max_iter``, the default preset caps a fit at 500 E-steps, and
#: at more on data of few rows (up to MAX_DEFAULT_ITER), so that a fit may
#: take DEFAULT_ITER_WORK rows x E-steps: there an E-step costs microseconds,
#: and overfitted candidates can crawl for thousands of E-steps before the
#: gain rule can say they converged. Images keep 500
#: (segment.IMAGE_MAX_ITER, which says why; docs/model-selection.md).
DEFAULT_ITER_WORK = 2_000_000
MAX_DEFAULT_ITER = 10_000


def default_max_iter(n_rows: int) -> int:
    """The default preset's E-step cap for data of ``n_rows`` rows.

    Parameters
    ----------
    n_rows : int
        Rows EM sees (distinct values for an image's histogram).

    Returns
    -------
    int
        500 from 4,000 rows on, up to :data:`MAX_DEFAULT_ITER` below
        (a multiple of 100).
    """
    budget = DEFAULT_ITER_WORK // max(int(n_rows), 1) // 100 * 100
    return int(min(MAX_DEFAULT_ITER, max(PRESETS["default"]["max_iter"], budget)))


def _resolve_n_jobs(n_jobs, n_samples: int, n_candidates: int) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None:
        if n_samples >= PARALLEL_THRESHOLD:
            n_jobs = -1
        elif n_samples >= SMALL_DATA_THREADS_MIN_ROWS:
            n_jobs = min(SMALL_DATA_THREADS, cores)
        else:
            n_jobs = 1
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number, -1 (all cores) or None.")
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
    # (SweepPlan.floor_for); starts from core/starts.py unless one of
    # scikit-learn's own initializations was asked for
    own_init = init_params in (*START_METHODS, "auto")
    return {
        **params,
        "reg_covar": 0.0,
        "init_params": "kmeans" if own_init else init_params,
        "stopping": "gain",
        "accelerate": True,
    }


@dataclass(frozen=True)
class SweepSettings:
    """Every setting of a sweep, as given; None takes the preset's value.

    What :func:`~napari_gmm.core.sweep.sweep`, ``iter_sweep`` and the image
    entry points are told to do, in one object the widgets, the command line
    and scripts can build, keep and pass on: ``sweep(X, settings)``, with
    keyword arguments overriding single settings (``sweep(X, settings,
    n_init=5)``, or ``sweep(X, n_init=5)`` from the defaults). The fields
    and their meaning are the parameters of
    :func:`~napari_gmm.core.sweep.sweep`. Not settings: the data, its
    ``weights``, the ``progress`` and ``cancel`` callbacks and the cluster
    ``client``, which belong to one run.

    Frozen: :meth:`replace` gives a changed copy. Nothing is checked when
    the object is made; :meth:`checked` checks every setting against the
    data, with the messages a sweep has always given.
    """

    n_components: Iterable[int] = range(1, 7)
    covariance_types: Iterable[str] = COVARIANCE_TYPES
    criterion: str = "bic"
    random_state: int | None = 0
    n_init: int = 1
    tol: float | None = None
    reg_covar: float | None = None
    max_iter: int | None = None
    init_params: str | None = None
    covariance_floor: float | Iterable[float] | None = None
    screen: bool | str = "auto"
    screen_size: int = SCREEN_SIZE
    refit_top: int = REFIT_TOP
    n_jobs: int | None = None
    noise: bool = False
    noise_volume: float | None = None
    cv_folds: int | None = None
    preset: str = "default"
    allow_degenerate: bool | None = None

    @classmethod
    def of(cls, settings=None, **overrides) -> SweepSettings:
        """``settings`` (a SweepSettings, a dict of settings or None for the
        defaults) with ``overrides`` applied.

        Raises
        ------
        TypeError
            If ``settings`` is none of those, or a name is not a setting.
        """
        if settings is None:
            settings = cls()
        elif isinstance(settings, dict):
            settings = cls.from_dict(settings)
        elif not isinstance(settings, cls):
            raise TypeError(
                f"settings must be a SweepSettings, a dict of settings or None, "
                f"got {settings!r}; pass single settings by name, e.g. "
                "sweep(X, n_components=range(1, 7))."
            )
        return settings.replace(**overrides) if overrides else settings

    def replace(self, **overrides) -> SweepSettings:
        """A copy with ``overrides`` (setting names and values) changed."""
        _check_setting_names(overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        """``{name: value}`` of every setting, collections as lists (JSON-ready)."""
        values = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, (range, tuple, list)):
                value = list(value)
            values[item.name] = value
        return values

    @classmethod
    def from_dict(cls, values: dict) -> SweepSettings:
        """The settings in ``values``, defaults for the others.

        ``values`` as :meth:`to_dict` gives them, or a result's
        :attr:`~napari_gmm.core.result.SweepResult.settings` (which repeats
        that run; its :data:`RECORDED_ONLY` keys are ignored).

        Raises
        ------
        TypeError
            If a key is not a setting.
        """
        if not isinstance(values, Mapping):
            raise TypeError(
                f"settings must be a dict of setting names and values, got "
                f"{type(values).__name__}."
            )
        values = {k: v for k, v in values.items() if k not in RECORDED_ONLY}
        _check_setting_names(values)
        return cls(**values)

    def checked(self, X: np.ndarray, sample_weight: np.ndarray | None) -> dict:
        """Check every setting against the (checked) data; resolve the defaults.

        Returns the keyword arguments of the prepared sweep
        (``napari_gmm.core.sweep._prepared_sweep``): the preset's values in
        place of None, canonical candidates, EM settings, the resolved
        ``n_jobs``, and ``settings``, the JSON-ready record of
        :attr:`~napari_gmm.core.result.SweepResult.settings`.

        Raises
        ------
        ValueError, TypeError
            With what to pass instead.
        """
        # the settings as plain names: the checks below read (and can be
        # compared) line by line with those iter_sweep made on its arguments
        (
            n_components,
            covariance_types,
            criterion,
            random_state,
            n_init,
            tol,
            reg_covar,
            max_iter,
            init_params,
            covariance_floor,
            screen,
            screen_size,
            refit_top,
            n_jobs,
            noise,
            noise_volume,
            cv_folds,
            preset,
            allow_degenerate,
        ) = (
            self.n_components,
            self.covariance_types,
            self.criterion,
            self.random_state,
            self.n_init,
            self.tol,
            self.reg_covar,
            self.max_iter,
            self.init_params,
            self.covariance_floor,
            self.screen,
            self.screen_size,
            self.refit_top,
            self.n_jobs,
            self.noise,
            self.noise_volume,
            self.cv_folds,
            self.preset,
            self.allow_degenerate,
        )
        if preset not in PRESETS:
            raise ValueError(
                f"preset must be one of {list(PRESETS)}, got {preset!r}: 'default' "
                "for napari-gmm's careful fits, 'sklearn' for scikit-learn's numbers."
            )
        tol_follows_n = tol is None and preset == "sklearn"
        defaults = PRESETS[preset]
        if tol is None:
            total = len(X) if sample_weight is None else float(sample_weight.sum())
            tol = auto_tol(total) if preset == "sklearn" else defaults["tol"]
        reg_covar = defaults["reg_covar"] if reg_covar is None else reg_covar
        if max_iter is None and preset == "default":
            max_iter = default_max_iter(len(X))
        elif max_iter is None:
            max_iter = defaults["max_iter"]
        init_params = defaults["init_params"] if init_params is None else init_params
        if allow_degenerate is None:
            allow_degenerate = defaults["allow_degenerate"]
        floor = check_covariance_floor(covariance_floor, X.shape[1])
        ks = _check_n_components(n_components)
        types = _check_covariance_types(covariance_types)
        try:
            int(n_init), int(max_iter), float(tol), float(reg_covar)
            # (1.5 E-steps is no count: it was cut to 1 silently)
            whole = float(n_init).is_integer() and float(max_iter).is_integer()
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole or isinstance(n_init, bool) or isinstance(max_iter, bool):
            raise TypeError(
                f"n_init and max_iter must be integers and tol and reg_covar numbers; "
                f"got n_init={n_init!r}, max_iter={max_iter!r}, tol={tol!r}, "
                f"reg_covar={reg_covar!r}."
            ) from None
        if int(n_init) < 1 or int(max_iter) < 1:
            raise ValueError(
                f"n_init and max_iter must be >= 1, got n_init={n_init}, "
                f"max_iter={max_iter}."
            )
        valid_inits = _INIT_PARAMS if preset == "sklearn" else DEFAULT_INIT_PARAMS
        if init_params not in valid_inits:
            raise ValueError(
                f"init_params must be one of {list(valid_inits)} with "
                f"preset={preset!r}, got {init_params!r}."
            )
        if not (0 < float(tol) < np.inf and 0 <= float(reg_covar) < np.inf):
            raise ValueError(
                f"tol must be a finite number > 0 and reg_covar a finite number >= 0, "
                f"got tol={tol!r}, reg_covar={reg_covar!r}."
            )
        if int(n_init) > MAX_N_INIT or int(max_iter) > MAX_ITER:
            raise ValueError(
                f"n_init must be <= {MAX_N_INIT} and max_iter <= {MAX_ITER}, got "
                f"n_init={n_init}, max_iter={max_iter}; more would take hours without "
                "changing the choice."
            )
        if not isinstance(noise, (bool, np.bool_)):
            raise ValueError(f"noise must be True or False, got {noise!r}.")
        if not isinstance(allow_degenerate, (bool, np.bool_)):
            raise ValueError(
                f"allow_degenerate must be True or False, got {allow_degenerate!r}."
            )
        volume = check_noise_volume(noise_volume)
        if noise and volume is None:
            # each fit uses its own data's box (a refit on moved points too);
            # checked here so that a flat box is one error, not 24 failed rows
            bounding_box_volume(X, sample_weight)
        criterion = _check_criterion(criterion)
        folds = check_cv_folds(cv_folds)
        if criterion == "cv" and folds is None:
            folds = CV_FOLDS
        settings = {
            "n_components": list(ks),
            "covariance_types": list(types),
            "criterion": criterion,
            "init_params": init_params,
            "n_init": int(n_init),
            "tol": float(tol),
            "reg_covar": float(reg_covar),
            "max_iter": int(max_iter),
            "noise": bool(noise),
            "noise_volume": volume,
            "cv_folds": folds,
            "preset": preset,
            "allow_degenerate": bool(allow_degenerate),
        }
        if screen not in (True, False, "auto"):
            raise ValueError(f"screen must be True, False or 'auto', got {screen!r}.")
        if int(screen_size) < 1 or int(refit_top) < 1:
            raise ValueError(
                "screen_size and refit_top must be >= 1, got "
                f"{screen_size}, {refit_top}."
            )
        screens = screen is True or (screen == "auto" and len(X) > SCREEN_THRESHOLD)
        if screens and len(X) > int(screen_size) and int(screen_size) <= max(ks):
            # (found by fuzzing: screen_size=1 failed every candidate)
            raise ValueError(
                f"screen_size must exceed the largest number of components "
                f"({max(ks)}) so that the screening subsample can fit every "
                f"candidate, got {screen_size}."
            )
        if folds is not None:
            check_fold_split(len(X), folds, sample_weight)
            if sample_weight is not None:
                positive = int(np.count_nonzero(sample_weight > 0))
                if positive < folds:
                    raise ValueError(
                        f"cv_folds={folds} needs at least {folds} rows with positive "
                        f"weight, got {positive}; lower cv_folds or use another "
                        "criterion."
                    )
        n_jobs = _resolve_n_jobs(n_jobs, len(X), len(ks) * len(types))
        return {
            "ks": ks,
            "types": types,
            "criterion": criterion,
            "random_state": _check_random_state(random_state),
            "gmm_params": _gmm_params(
                preset, init_params, n_init, tol, reg_covar, max_iter
            ),
            "preset": preset,
            "relative_reg": float(reg_covar),
            "allow_degenerate": bool(allow_degenerate),
            "init_params": init_params,
            "floor": floor,
            "noise": bool(noise),
            "volume": volume,
            "folds": folds,
            "settings": settings,
            "tol_follows_n": tol_follows_n,
            "screen": screen,
            "screen_size": int(screen_size),
            "refit_top": int(refit_top),
            "n_jobs": n_jobs,
        }


#: Keys of :attr:`SweepResult.settings` that record what a sweep derived from
#: its data rather than a setting (the covariance floor of quantized data).
RECORDED_ONLY = ("quantization_floor",)


def _check_setting_names(values) -> None:
    """Raise a TypeError naming any key of ``values`` that is not a setting."""
    known = [item.name for item in dataclasses.fields(SweepSettings)]
    unknown = [name for name in values if name not in known]
    if unknown:
        raise TypeError(
            f"Unknown sweep setting(s) {unknown}; the settings are {known}."
        )


@dataclass(frozen=True)
class PixelSettings:
    """How an image's pixels become the values a sweep fits.

    The keywords of :func:`~napari_gmm.core.pixels.compress_image` that an
    image model keeps (the mask is per image, not a setting), and
    ``quantization_floor``: whether integer (or binned) values get the
    ``step**2 / 12`` covariance floor. :meth:`to_dict` is the
    ``preprocessing`` of a model file, so a saved model labels a new image
    the way the fitted one was.
    """

    channel_axis: int | None = None
    smoothing_sigma: float | Sequence[float] = 0.0
    log_transform: bool = False
    exclude_zero: bool = False
    exclude_saturated: bool = False
    n_bins: int = 256
    quantization_floor: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> PixelSettings:
        """The pixel settings among ``values``, defaults for the others.

        ``values`` may hold other keys (e.g. all the keyword arguments of
        :func:`~napari_gmm.core.segment.segment_image`); they are ignored.
        """
        names = [item.name for item in dataclasses.fields(cls)]
        return cls(**{name: values[name] for name in names if name in values})

    def compress_kwargs(self) -> dict:
        """The keyword arguments of :func:`~napari_gmm.core.pixels.compress_image`."""
        values = self.to_dict()
        del values["quantization_floor"]
        return values

    def to_dict(self) -> dict:
        """``{name: value}`` of every setting, JSON-ready (a model file's
        ``preprocessing``)."""
        values = {
            item.name: getattr(self, item.name) for item in dataclasses.fields(self)
        }
        sigma = values["smoothing_sigma"]
        values["smoothing_sigma"] = (
            float(sigma) if np.ndim(sigma) == 0 else [float(s) for s in sigma]
        )
        return values
