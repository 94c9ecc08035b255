"""Save and load fitted mixtures as JSON (never pickle).

A model file is one UTF-8 JSON document::

    {
      "format": "napari-gmm model",
      "schema_version": 1,
      "napari_gmm_version": "...",
      "model": {n_components, covariance_type, covariance_model, n_features,
                weights, means, covariances, precisions_cholesky, converged,
                n_iter, lower_bound, shift, noise, params, estimator},
      "features": {names, center, scale, ...},      # how X was built
      "preprocessing": {...},                       # image settings, if any
      "selection": {criterion, best_key, table, settings} | null,
      "components": {label, weight, count, mean ..., sd ..., ...} | null
    }

``covariance_type`` is how the covariances are stored (scikit-learn's
layouts) and ``covariance_model`` mclust's name of the model they follow
(schema version 2; "VVV" for a "full" mixture): the ten models scikit-learn
does not have (:mod:`napari_gmm.core.parsimonious`) are stored "full" and
load as a :class:`~napari_gmm.core.parsimonious_em.ParsimoniousGaussianMixture`.
Files of schema version 1 (no ``covariance_model``) load as before.

``noise`` is null, or ``{weight, volume}`` for a mixture with a uniform noise
component (:mod:`napari_gmm.core.noise`); then the Gaussian ``weights`` and
the noise weight sum to 1. ``settings`` are the sweep's settings
(:attr:`napari_gmm.core.sweep.SweepResult.settings`: initialization, seed,
restarts, noise, cross-validation folds, ...).

Arrays are nested lists of floats written with Python's shortest
round-trip representation, so a loaded model predicts exactly what the saved
one did. Non-finite table values (failed candidates) are written as null.
Loading checks every field's type and shape and the consistency of the
covariances with their stored Cholesky factors, and refuses anything else
with a :class:`ModelFileError` naming the problem.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

from .criteria import COVARIANCE_TYPES, MODEL_TYPES, has_noise
from .em import WeightedGaussianMixture, precisions_from_cholesky
from .noise import NoisyGaussianMixture
from .parsimonious import MODELS, SKLEARN_TO_MCLUST
from .parsimonious_em import (
    NoisyParsimoniousGaussianMixture,
    ParsimoniousGaussianMixture,
)

FORMAT_NAME = "napari-gmm model"
SCHEMA_VERSION = 2
#: Schema versions this napari-gmm reads (1: before ``covariance_model``).
READABLE_SCHEMA_VERSIONS = (1, 2)
#: GaussianMixture constructor parameters stored in the file.
_STORED_PARAMS = (
    "tol",
    "reg_covar",
    "max_iter",
    "n_init",
    "init_params",
    "random_state",
)


#: Largest model file read, in bytes. A full mixture of 50 components in
#: 100 dimensions with its table is about 20 MB.
MAX_FILE_BYTES = 32 * 2**20
#: Deepest nesting of arrays/objects (a model file needs 6).
MAX_DEPTH = 32
#: Longest number literal (a float64 needs at most 24 characters).
MAX_NUMBER_CHARS = 40
#: Largest n_features and n_components a model file may declare.
MAX_FEATURES = 1024
MAX_COMPONENTS = 1000
#: Feature scales and centres must be in this range (as data in sweep):
#: beyond it, standardized values or their squares overflow float64.
MAX_MAGNITUDE = 1e100
MIN_SCALE = 1e-100


#: Estimators a model file may name (``model.estimator``).
_ESTIMATORS = frozenset(
    {
        "GaussianMixture",
        "WeightedGaussianMixture",
        "NoisyGaussianMixture",
        "ParsimoniousGaussianMixture",
        "NoisyParsimoniousGaussianMixture",
    }
)


class ModelFileError(ValueError):
    """A model file that is unreadable, corrupted, foreign or incompatible."""


@dataclass
class SavedModel:
    """A loaded model file.

    Attributes
    ----------
    model : GaussianMixture
        Ready to ``predict``; components in the saved order.
    features : dict
        ``names`` (list of str), ``center`` and ``scale`` (ndarray) and any
        other key the writer stored (e.g. ``columns``, ``coordinate_dims``).
    preprocessing : dict
        Image preprocessing settings, empty for points.
    criterion : str or None
    best_key : tuple or None
    table : DataFrame or None
        The criterion table of the sweep that chose the model.
    settings : dict
        The settings of that sweep (empty for files without them).
    components : DataFrame or None
        The per-component table saved with the model, if any.
    """

    model: GaussianMixture
    features: dict
    preprocessing: dict = field(default_factory=dict)
    criterion: str | None = None
    best_key: tuple[int, str] | None = None
    table: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)
    components: pd.DataFrame | None = None

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Apply the saved standardization to raw feature values."""
        return (np.asarray(raw, dtype=float) - self.features["center"]) / self.features[
            "scale"
        ]


def package_version() -> str:
    """napari-gmm's installed version, read from the package metadata.

    (The core asks the metadata rather than importing the package above it.)
    """
    try:
        return importlib.metadata.version("napari-gmm")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def model_to_dict(
    model: GaussianMixture,
    feature_names=None,
    center=None,
    scale=None,
    features_extra: dict | None = None,
    preprocessing: dict | None = None,
    result=None,
    components: pd.DataFrame | None = None,
) -> dict:
    """The JSON-ready document of a fitted model, see the module docstring.

    ``components`` (a :func:`~napari_gmm.core.report.component_table`) is
    stored as ``{column: [values]}`` for people and other programs reading
    the file (weights, counts, means in the data's units...); loading keeps
    it as a DataFrame but never needs it to predict.
    """
    n_components, n_features = model.means_.shape
    names = (
        list(feature_names)
        if feature_names is not None
        else [f"feature {i}" for i in range(n_features)]
    )
    if len(names) != n_features:
        raise ValueError(f"{len(names)} feature names for {n_features} features.")
    features = {
        "names": names,
        "center": np.zeros(n_features) if center is None else np.asarray(center),
        "scale": np.ones(n_features) if scale is None else np.asarray(scale),
        **(features_extra or {}),
    }
    selection = None
    if result is not None:
        selection = {
            "criterion": result.criterion,
            "best_key": list(result.best_key),
            "table": {c: result.table[c].tolist() for c in result.table.columns},
            "settings": dict(getattr(result, "settings", {}) or {}),
        }
    document = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "napari_gmm_version": package_version(),
        "model": {
            "n_components": int(n_components),
            "covariance_type": model.covariance_type,
            "covariance_model": getattr(model, "model_name_", None)
            or SKLEARN_TO_MCLUST[model.covariance_type],
            "n_features": int(n_features),
            "weights": model.weights_,
            "means": model.means_,
            "covariances": model.covariances_,
            "precisions_cholesky": model.precisions_cholesky_,
            "converged": bool(getattr(model, "converged_", True)),
            "n_iter": int(getattr(model, "n_iter_", 0)),
            "lower_bound": float(getattr(model, "lower_bound_", float("nan"))),
            # the centring of a fit far from the origin (see core.em.centring_shift)
            "shift": getattr(model, "shift_", None),
            "noise": (
                {"weight": model.noise_weight_, "volume": model.noise_volume_}
                if has_noise(model)
                else None
            ),
            "params": {p: getattr(model, p) for p in _STORED_PARAMS},
            # which E-step predicts: the loaded model uses the same one, so it
            # predicts bit for bit what the saved one did
            "estimator": type(model).__name__
            if type(model).__name__ in _ESTIMATORS
            else "GaussianMixture",
        },
        "features": features,
        "preprocessing": preprocessing or {},
        "selection": selection,
        "components": None
        if components is None
        else {str(c): components[c].tolist() for c in components.columns},
    }
    return _jsonable(document)


def save_model(path, model: GaussianMixture, **kwargs) -> Path:
    """Write a fitted model (and how its features were made) to a JSON file.

    Parameters
    ----------
    path : str or Path
        Destination, conventionally ``*.json``.
    model : GaussianMixture
        Fitted.
    **kwargs
        ``feature_names``, ``center``, ``scale``, ``features_extra``,
        ``preprocessing`` and ``result`` (a SweepResult whose table is
        stored), see :func:`model_to_dict`.

    Returns
    -------
    Path
    """
    path = Path(path)
    document = model_to_dict(model, **kwargs)
    text = json.dumps(document, indent=1, allow_nan=False)
    # written next to the destination and moved into place: an interrupted
    # save never leaves half a model file (or destroys the previous one)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ModelFileError(message)


def _array(section: dict, key: str, shape: tuple, where: str) -> np.ndarray:
    _require(key in section, f"{where} has no '{key}'.")
    try:
        value = np.asarray(section[key], dtype=float)
    except (TypeError, ValueError):
        raise ModelFileError(f"{where}.{key} is not an array of numbers.") from None
    _require(
        value.shape == shape,
        f"{where}.{key} has shape {value.shape}, expected {shape}.",
    )
    _require(bool(np.all(np.isfinite(value))), f"{where}.{key} has non-finite values.")
    return value


def _scalar(section: dict, key: str, kind, default, where: str):
    """``kind(section[key])`` (int or float), ``default`` when absent or null."""
    value = section.get(key)
    if value is None:
        return default
    try:
        if isinstance(value, (bool, list, dict)):
            raise TypeError
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelFileError(
            f"{where}.{key} must be a number, got {value!r}."
        ) from None
    if kind is int and number != value:
        raise ModelFileError(f"{where}.{key} must be an integer, got {value!r}.")
    return number


_COVARIANCE_SHAPES = {
    "spherical": lambda k, d: (k,),
    "diag": lambda k, d: (k, d),
    "tied": lambda k, d: (d, d),
    "full": lambda k, d: (k, d, d),
}


def _check_factors(covariances, cholesky, covariance_type: str) -> None:
    """The stored Cholesky factors of the precisions must be usable and invert
    the stored covariances; no array larger than the file's own is built."""
    if covariance_type in ("spherical", "diag"):
        _require(
            bool(np.all(cholesky > 0)),
            "model.precisions_cholesky must be positive (they are 1/standard "
            "deviations); the file is corrupted.",
        )
        _require(
            bool(np.all(covariances > 0)),
            "model.covariances must be positive variances; the file is corrupted.",
        )
        product = covariances * cholesky**2
        _require(
            bool(np.all(np.isfinite(product)))
            and bool(np.allclose(product, 1.0, atol=1e-6)),
            "model.covariances and model.precisions_cholesky do not match; "
            "the file is corrupted.",
        )
        return
    factors = cholesky[None] if covariance_type == "tied" else cholesky
    matrices = covariances[None] if covariance_type == "tied" else covariances
    d = factors.shape[-1]
    diagonals = np.diagonal(factors, axis1=1, axis2=2)
    _require(
        bool(np.all(diagonals > 0)),
        "model.precisions_cholesky must have a positive diagonal (they are "
        "Cholesky factors); the file is corrupted.",
    )
    below = np.tril(np.ones((d, d), dtype=bool), k=-1)
    scale = np.abs(factors).max(axis=(1, 2), keepdims=True)
    _require(
        bool(np.all(np.abs(factors[:, below]) <= 1e-12 * scale[:, :, 0])),
        "model.precisions_cholesky must be upper triangular (Cholesky factors "
        "as scikit-learn stores them); the file is corrupted.",
    )
    _require(
        bool(np.allclose(matrices, np.swapaxes(matrices, 1, 2), rtol=1e-8, atol=0)),
        "model.covariances must be symmetric; the file is corrupted.",
    )
    with np.errstate(all="ignore"):
        # cov @ chol @ chol.T must be the identity
        product = matrices @ factors @ np.swapaxes(factors, 1, 2)
    _require(
        bool(np.all(np.isfinite(product)))
        and bool(np.allclose(product, np.eye(d), atol=1e-6)),
        "model.covariances and model.precisions_cholesky do not match; "
        "the file is corrupted.",
    )


def _short(value) -> str:
    """``repr(value)`` cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _noise_from_section(noise) -> tuple[float, float] | None:
    """``(weight, volume)`` of a saved noise component, or None."""
    if noise is None:
        return None
    _require(isinstance(noise, dict), "model.noise must be null or {weight, volume}.")
    weight = _scalar(noise, "weight", float, None, "model.noise")
    volume = _scalar(noise, "volume", float, None, "model.noise")
    _require(
        weight is not None and 0.0 <= weight <= 1.0,
        f"model.noise.weight must be a number in [0, 1], got {noise.get('weight')!r}.",
    )
    _require(
        volume is not None and math.isfinite(volume) and volume > 0,
        f"model.noise.volume must be a number > 0, got {_short(noise.get('volume'))}.",
    )
    _require(
        1e-300 <= volume <= 1e300,
        f"model.noise.volume must be between 1e-300 and 1e300, got {volume!r}.",
    )
    return weight, volume


def _covariance_model(section: dict, covariance_type: str) -> str:
    """mclust's name of the saved model, checked against its storage layout.

    Files of schema version 1 have none: the model is the layout's.
    """
    own = SKLEARN_TO_MCLUST[covariance_type]
    model = section.get("covariance_model")
    if model is None:
        return own
    _require(
        isinstance(model, str) and model in MODELS,
        f"Unknown covariance_model {_short(model)}; expected one of {list(MODELS)}.",
    )
    shared = model in SKLEARN_TO_MCLUST.values()
    _require(
        model == own if shared else covariance_type == "full",
        f"model.covariance_model {model} does not match model.covariance_type "
        f"{covariance_type!r} (mclust's models other than scikit-learn's four are "
        "stored 'full'); the file is corrupted.",
    )
    return model


def _model_from_section(section: dict) -> GaussianMixture:
    where = "model"
    for key in ("n_components", "covariance_type", "n_features"):
        _require(key in section, f"The model section has no '{key}'.")
    k, d = section["n_components"], section["n_features"]
    _require(
        all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in (k, d)),
        f"model.n_components and model.n_features must be positive integers, "
        f"got {_short(k)}, {_short(d)}.",
    )
    _require(
        d <= MAX_FEATURES,
        f"model.n_features is {d}, more than the {MAX_FEATURES} features "
        "napari-gmm reads from a model file.",
    )
    _require(
        k <= MAX_COMPONENTS,
        f"model.n_components is {k}, more than the {MAX_COMPONENTS} components "
        "napari-gmm reads from a model file.",
    )
    covariance_type = section["covariance_type"]
    _require(
        covariance_type in COVARIANCE_TYPES,
        f"Unknown covariance_type {covariance_type!r}; expected one of "
        f"{list(COVARIANCE_TYPES)}.",
    )
    covariance_model = _covariance_model(section, covariance_type)
    weights = _array(section, "weights", (k,), where)
    noise = _noise_from_section(section.get("noise"))
    stored = section.get("estimator")
    parsimonious = covariance_model not in SKLEARN_TO_MCLUST.values() or stored in (
        "ParsimoniousGaussianMixture",
        "NoisyParsimoniousGaussianMixture",
    )
    noise_weight = 0.0 if noise is None else noise[0]
    _require(
        bool(np.all(weights >= 0)) and abs(weights.sum() + noise_weight - 1.0) < 1e-6,
        f"model.weights (and the noise weight) must be >= 0 and sum to 1, they "
        f"sum to {weights.sum() + noise_weight:.6g}.",
    )
    means = _array(section, "means", (k, d), where)
    shape = _COVARIANCE_SHAPES[covariance_type](k, d)
    covariances = _array(section, "covariances", shape, where)
    _require(
        bool(np.all(np.abs(means) <= MAX_MAGNITUDE)),
        f"model.means has values beyond {MAX_MAGNITUDE:.0e}; the file is corrupted.",
    )
    cholesky = _array(section, "precisions_cholesky", shape, where)
    _check_factors(covariances, cholesky, covariance_type)
    precisions = precisions_from_cholesky(cholesky, covariance_type)
    params = section.get("params") or {}
    _require(isinstance(params, dict), "model.params must be an object.")
    known = {p: params[p] for p in _STORED_PARAMS if p in params}
    shift = None
    if section.get("shift") is not None:
        shift = _array(section, "shift", (d,), where)
    _require(
        stored is None or (isinstance(stored, str) and stored in _ESTIMATORS),
        f"model.estimator must be one of {sorted(_ESTIMATORS)}, got {_short(stored)}.",
    )
    # a centred fit scores on centred data: only WeightedGaussianMixture can
    estimator = GaussianMixture if shift is None else WeightedGaussianMixture
    if stored == "WeightedGaussianMixture":
        estimator = WeightedGaussianMixture
    if noise is not None:
        estimator = NoisyGaussianMixture
    layout = {"covariance_type": covariance_type}
    if parsimonious:
        estimator = (
            ParsimoniousGaussianMixture
            if noise is None
            else NoisyParsimoniousGaussianMixture
        )
        layout = {"covariance_model": covariance_model}
    try:
        model = estimator(n_components=k, **layout, **known)
    except TypeError as err:
        raise ModelFileError(f"model.params are invalid: {err}") from None
    if estimator is not GaussianMixture:
        model.shift_ = shift
    if noise is not None:
        model.noise_weight_, model.noise_volume_ = noise
    model.weights_ = weights
    model.means_ = means
    model.covariances_ = covariances
    model.precisions_cholesky_ = cholesky
    model.precisions_ = precisions
    converged = section.get("converged", True)
    _require(
        isinstance(converged, bool),
        f"model.converged must be true or false, got {_short(converged)}.",
    )
    model.converged_ = converged
    model.n_iter_ = _scalar(section, "n_iter", int, 0, where)
    model.lower_bound_ = _scalar(section, "lower_bound", float, float("nan"), where)
    model.n_features_in_ = d
    return model


def _table_from_section(selection) -> tuple:
    if selection is None:
        return None, None, None
    _require(isinstance(selection, dict), "selection must be an object or null.")
    criterion = selection.get("criterion")
    best_key = selection.get("best_key")
    table = selection.get("table")
    frame = None
    if table is not None:
        _require(
            isinstance(table, dict), "selection.table must be an object of columns."
        )
        try:
            frame = pd.DataFrame(table)
        except ValueError as err:
            raise ModelFileError(f"selection.table is malformed: {err}") from None
        for column in ("bic", "aic", "icl", "log_likelihood", "delta"):
            if column in frame:
                try:
                    values = frame[column].astype(float)
                except (TypeError, ValueError):
                    raise ModelFileError(
                        f"selection.table.{column} must hold numbers or null."
                    ) from None
                frame[column] = values.fillna(float("inf"))
    key = None
    if best_key is not None:
        _require(
            isinstance(best_key, list) and len(best_key) == 2,
            "selection.best_key must be [n_components, covariance_type].",
        )
        n_best = _scalar(
            {"best_key[0]": best_key[0]}, "best_key[0]", int, None, "selection"
        )
        _require(
            n_best is not None and best_key[1] in MODEL_TYPES,
            "selection.best_key must be [n_components, covariance_type].",
        )
        key = (n_best, str(best_key[1]))
    return criterion, key, frame


def _is_number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


#: Image preprocessing settings a model file may hold: (check, what they are).
_PREPROCESSING = {
    "channel_axis": (
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
        "null or an integer",
    ),
    "smoothing_sigma": (
        lambda v: (
            (_is_number(v) and v >= 0)
            or (isinstance(v, list) and all(_is_number(s) and s >= 0 for s in v))
        ),
        "a number >= 0 or a list of them",
    ),
    "log_transform": (lambda v: isinstance(v, bool), "true or false"),
    "exclude_zero": (lambda v: isinstance(v, bool), "true or false"),
    "exclude_saturated": (lambda v: isinstance(v, bool), "true or false"),
    "quantization_floor": (lambda v: isinstance(v, bool), "true or false"),
    "n_bins": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2,
        "an integer >= 2",
    ),
}


def _check_preprocessing(preprocessing: dict) -> None:
    """The image settings a model is applied with must be usable as they are."""
    for key, (valid, what) in _PREPROCESSING.items():
        if key in preprocessing:
            value = preprocessing[key]
            _require(
                valid(value), f"preprocessing.{key} must be {what}, got {value!r}."
            )


def _check_feature_choice(features: dict) -> None:
    """``kind``, ``coordinate_dims`` and ``columns``, as the widgets write them."""
    kind = features.get("kind")
    _require(kind is None or isinstance(kind, str), "features.kind must be a string.")
    dims = features.get("coordinate_dims")
    _require(
        dims is None
        or (
            isinstance(dims, list)
            and all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
        ),
        f"features.coordinate_dims must be null or a list of integers, got {dims!r}.",
    )
    columns = features.get("columns")
    _require(
        columns is None
        or (isinstance(columns, list) and all(isinstance(c, str) for c in columns)),
        f"features.columns must be a list of column names, got {columns!r}.",
    )


def model_from_dict(document) -> SavedModel:
    """Validate a parsed model document and rebuild the model."""
    _require(isinstance(document, dict), "A model file must hold a JSON object.")
    _require(
        document.get("format") == FORMAT_NAME,
        f"This is not a napari-gmm model file (format is {document.get('format')!r}).",
    )
    version = document.get("schema_version")
    _require(
        version in READABLE_SCHEMA_VERSIONS and not isinstance(version, bool),
        f"Model file schema version {version!r} is not supported by this napari-gmm "
        f"(it reads versions {list(READABLE_SCHEMA_VERSIONS)}); update napari-gmm or "
        "re-save the model.",
    )
    _require(isinstance(document.get("model"), dict), "The file has no model section.")
    model = _model_from_section(document["model"])
    d = model.means_.shape[1]
    features = document.get("features") or {}
    _require(isinstance(features, dict), "features must be an object.")
    names = features.get("names", [f"feature {i}" for i in range(d)])
    _require(
        isinstance(names, list) and len(names) == d,
        f"features.names must list {d} names.",
    )
    features = dict(features)
    features["names"] = [str(n) for n in names]
    features["center"] = (
        _array(features, "center", (d,), "features")
        if "center" in features
        else np.zeros(d)
    )
    features["scale"] = (
        _array(features, "scale", (d,), "features")
        if "scale" in features
        else np.ones(d)
    )
    _require(
        bool(np.all(features["scale"] >= MIN_SCALE))
        and bool(np.all(features["scale"] <= MAX_MAGNITUDE)),
        f"features.scale must be between {MIN_SCALE:.0e} and {MAX_MAGNITUDE:.0e} "
        f"(it divides the data), got values down to {features['scale'].min():.3g} "
        f"and up to {features['scale'].max():.3g}.",
    )
    _require(
        bool(np.all(np.abs(features["center"]) <= MAX_MAGNITUDE)),
        f"features.center has values beyond {MAX_MAGNITUDE:.0e}.",
    )
    _check_feature_choice(features)
    preprocessing = document.get("preprocessing") or {}
    _require(isinstance(preprocessing, dict), "preprocessing must be an object.")
    _check_preprocessing(preprocessing)
    criterion, best_key, table = _table_from_section(document.get("selection"))
    settings = (document.get("selection") or {}).get("settings") or {}
    _require(isinstance(settings, dict), "selection.settings must be an object.")
    components = document.get("components")
    if components is not None:
        _require(
            isinstance(components, dict),
            "components must be an object of columns or null.",
        )
        try:
            components = pd.DataFrame(components)
        except ValueError as err:
            raise ModelFileError(f"components is malformed: {err}") from None
    return SavedModel(
        model,
        features,
        preprocessing,
        criterion,
        best_key,
        table,
        dict(settings),
        components,
    )


class _Oversized:
    """A number literal too long to be one a napari-gmm model file holds."""

    def __init__(self, text: str):
        self.text = text


def _number(kind):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            return _Oversized(text)
        return kind(text)

    return parse


def _where_oversized(document, path: str = ""):
    """The dotted path of the first oversized number in ``document``, or None."""
    stack = [(document, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, _Oversized):
            return where or "the document", value
        if isinstance(value, dict):
            stack.extend(
                (v, f"{where}.{k}" if where else str(k)) for k, v in value.items()
            )
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))
    return None


def _nesting_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` outside strings.

    Linear in the text and without recursion (numpy over the bytes), so it
    runs before ``json.loads``, whose C parser recurses once per level.
    """
    codes = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    quotes = np.flatnonzero(codes == ord('"'))
    if quotes.size:
        # a quote preceded by an odd run of backslashes is escaped
        backslashes = np.flatnonzero(codes == ord("\\"))
        escaped = np.zeros(quotes.size, dtype=bool)
        if backslashes.size:
            # start of each run of consecutive backslashes
            new_run = np.ones(backslashes.size, dtype=bool)
            new_run[1:] = np.diff(backslashes) != 1
            run_start = backslashes[
                np.maximum.accumulate(np.where(new_run, np.arange(backslashes.size), 0))
            ]
            at = np.searchsorted(backslashes, quotes - 1)
            at = np.minimum(at, backslashes.size - 1)
            before = backslashes[at] == quotes - 1
            run = np.where(before, quotes - run_start[at], 0)
            escaped = run % 2 == 1
        quotes = quotes[~escaped]
    opening = (codes == ord("[")) | (codes == ord("{"))
    closing = (codes == ord("]")) | (codes == ord("}"))
    positions = np.flatnonzero(opening | closing)
    if not positions.size:
        return 0
    outside = np.searchsorted(quotes, positions) % 2 == 0
    steps = np.where(opening[positions], 1, -1)[outside]
    return int(np.cumsum(steps).max()) if steps.size else 0


def parse_model_text(text: str, path="the model file") -> dict:
    """Parse a model file's text within the limits of this module.

    Raises
    ------
    ModelFileError
        Nested deeper than :data:`MAX_DEPTH`, a number literal longer than
        :data:`MAX_NUMBER_CHARS`, or not JSON.
    """
    depth = _nesting_depth(text)
    if depth > MAX_DEPTH:
        raise ModelFileError(
            f"Model file {path} nests arrays or objects {depth} levels deep "
            f"(a model file needs fewer than {MAX_DEPTH}); it is not a napari-gmm "
            "model file or it is corrupted."
        )
    try:
        document = json.loads(text, parse_int=_number(int), parse_float=_number(float))
    except json.JSONDecodeError as err:
        raise ModelFileError(
            f"Model file {path} is not valid JSON (line {err.lineno}): {err.msg}."
        ) from None
    except (ValueError, RecursionError) as err:  # defensive: limits of json
        raise ModelFileError(
            f"Model file {path} cannot be parsed as JSON: {err}."
        ) from None
    found = _where_oversized(document)
    if found is not None:
        where, value = found
        raise ModelFileError(
            f"Model file {path}: {where} is a number written with "
            f"{len(value.text)} characters (at most {MAX_NUMBER_CHARS}); the file "
            "is corrupted."
        )
    return document


def load_model(path) -> SavedModel:
    """Read and validate a model file written by :func:`save_model`.

    The file is checked before anything is built from it: at most
    :data:`MAX_FILE_BYTES`, nesting depth :data:`MAX_DEPTH`, numbers of at
    most :data:`MAX_NUMBER_CHARS` characters, at most :data:`MAX_FEATURES`
    features and :data:`MAX_COMPONENTS` components; then every field.

    Raises
    ------
    ModelFileError
        Missing, unreadable, too large, not JSON, foreign, another schema
        version, or inconsistent contents; one sentence naming the file and
        the field.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ModelFileError(f"Model file {path} is a folder, not a file.")
        if size > MAX_FILE_BYTES:
            raise ModelFileError(
                f"Model file {path} has {size:,} bytes, more than the "
                f"{MAX_FILE_BYTES:,} a model file may have; it is not a napari-gmm "
                "model file."
            )
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # a growing file stays bounded
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"Model file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise ModelFileError(
            f"Cannot read model file {path}: it is not text (a model file is "
            "UTF-8 JSON written by napari-gmm)."
        ) from None
    except OSError as err:
        raise ModelFileError(
            f"Cannot read model file {path}: {err.strerror or err}."
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ModelFileError(
            f"Model file {path} has more than {MAX_FILE_BYTES:,} bytes; it is not "
            "a napari-gmm model file."
        )
    document = parse_model_text(text, path)
    try:
        return model_from_dict(document)
    except ModelFileError as err:
        raise ModelFileError(f"Model file {path}: {err}") from None
    except (TypeError, ValueError, OverflowError, np.linalg.LinAlgError) as err:
        # a field of an unexpected kind the checks above did not foresee
        raise ModelFileError(
            f"Model file {path} is corrupted: {type(err).__name__}: {err}"
        ) from None
