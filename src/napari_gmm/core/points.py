"""Points (coordinates and feature columns) -> feature matrix; stable colors.

Pure numpy/pandas/scipy: used by the napari widget, the command line and
scripts alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class FeatureMatrix:
    """The matrix a mixture is fitted to, and how it was made.

    Attributes
    ----------
    X : ndarray of shape (n_points, n_features)
        Finite values, standardized if asked.
    names : tuple of str
        One name per column: ``"axis 0"``, ... for coordinates, the column
        name for features.
    coordinate_dims : tuple of int
        Which coordinate axes are columns of ``X`` (first columns, in order).
    center, scale : ndarray of shape (n_features,)
        ``X = (raw - center) / scale`` (0 and 1 when not standardized).
    """

    X: np.ndarray
    names: tuple[str, ...]
    coordinate_dims: tuple[int, ...]
    center: np.ndarray
    scale: np.ndarray

    @property
    def is_coordinate_space(self) -> bool:
        """True when X is exactly (a subset of) the point coordinates, unscaled."""
        return (
            len(self.coordinate_dims) == self.X.shape[1]
            and np.all(self.center == 0)
            and np.all(self.scale == 1)
        )

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """Undo the standardization (means live in X units)."""
        return np.asarray(values) * self.scale + self.center


def numeric_columns(features: pd.DataFrame | None) -> list[str]:
    """Names of the numeric columns of a features table (those we can cluster)."""
    if features is None or len(features.columns) == 0:
        return []
    return [
        str(name)
        for name in features.columns
        if pd.api.types.is_numeric_dtype(features[name])
        and not pd.api.types.is_bool_dtype(features[name])
    ]


def constant_axes(coordinates, keep_one: bool = True) -> tuple[int, ...]:
    """The axes on which every point has the same coordinate.

    Spots clicked or detected on one slice of a 3-D stack all share its z:
    such an axis carries no information, and fitting it makes every tied,
    diag and full candidate collapse onto it (only spherical ones remain,
    with the wrong number of components). ``()`` when none is constant, and,
    with ``keep_one``, when all are (identical points, no feature columns:
    nothing would be left to fit).

    Parameters
    ----------
    coordinates : array-like of shape (n_points, ndim)
    keep_one : bool
        Return ``()`` rather than every axis when all are constant.
    """
    coordinates = np.asarray(coordinates, dtype=float)
    if coordinates.ndim != 2 or len(coordinates) == 0:
        return ()
    flat = np.ptp(coordinates, axis=0) == 0  # (NaN: not flat; reported later)
    if keep_one and flat.all():
        return ()
    return tuple(int(axis) for axis in np.flatnonzero(flat))


def points_feature_matrix(
    coordinates: np.ndarray,
    features: pd.DataFrame | None = None,
    coordinate_dims: Sequence[int] | None = None,
    columns: Sequence[str] = (),
    standardize: bool = False,
) -> FeatureMatrix:
    """Build the matrix to cluster from point coordinates and feature columns.

    Parameters
    ----------
    coordinates : array-like of shape (n_points, ndim)
        Point positions (a napari Points layer's ``data``).
    features : DataFrame, optional
        Per-point measurements (``layer.features``), one row per point.
    coordinate_dims : sequence of int, optional
        Coordinate axes to use; default all of them; ``()`` for none.
    columns : sequence of str
        Feature columns to append.
    standardize : bool
        Scale every column to zero mean and unit variance (constant columns
        are only centered). Needed when columns have different units.

    Returns
    -------
    FeatureMatrix
        Its ``X`` is a view of ``coordinates`` (no copy) when they are
        C-ordered float64 and all axes are used without feature columns or
        standardization: do not edit ``coordinates`` in place while it is
        in use.

    Raises
    ------
    ValueError
        No column chosen, unknown or non-numeric column, mismatched lengths,
        or non-finite values (the message counts them and names the column).
    """
    try:
        coordinates = np.asarray(coordinates, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"Point coordinates must be numbers, of shape (n_points, ndim); "
            f"could not convert them to float: {err}"
        ) from None
    if coordinates.ndim != 2:
        raise ValueError(
            "Point coordinates must have shape (n_points, ndim), got "
            f"{coordinates.shape}."
        )
    n_points, ndim = coordinates.shape
    dims = tuple(range(ndim)) if coordinate_dims is None else tuple(coordinate_dims)
    not_integers = [
        d for d in dims if isinstance(d, bool) or not isinstance(d, (int, np.integer))
    ]
    if not_integers:
        raise TypeError(
            f"Coordinate axes must be integers, got {not_integers}; e.g. (0, 1)."
        )
    bad_dims = [d for d in dims if not -ndim <= d < ndim]
    if bad_dims:
        raise ValueError(f"Coordinate axes {bad_dims} do not exist in {ndim}-D points.")
    dims = tuple(d % ndim for d in dims)
    if dims == tuple(range(ndim)):
        # all axes in order: no copy of C-ordered float data (10^6 points cost
        # tens of ms of page faults to copy; nothing here writes into X);
        # other layouts are copied to C order, which EM's sums assume
        blocks = [np.ascontiguousarray(coordinates)]
    else:
        blocks = [coordinates[:, list(dims)]]
    names = [f"axis {d}" for d in dims]
    if isinstance(columns, str):
        columns = (columns,)
    if columns:
        available = numeric_columns(features)
        # numeric_columns names columns as strings; map back to the table's own
        by_name = {str(name): name for name in features.columns} if available else {}
        missing = [c for c in columns if str(c) not in available]
        if missing:
            raise ValueError(
                f"Feature column(s) {missing} are not numeric columns of the layer; "
                f"numeric columns are {available}."
            )
        if len(features) != n_points:
            raise ValueError(
                f"The features table has {len(features)} rows for {n_points} points."
            )
        table = features[[by_name[str(c)] for c in columns]]
        blocks.append(table.to_numpy(dtype=float, na_value=np.nan))
        names.extend(str(c) for c in columns)
    X = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    if X.shape[1] == 0:
        raise ValueError("Choose at least one coordinate axis or feature column.")
    bad = ~np.isfinite(X)
    if bad.any():
        column = names[int(np.flatnonzero(bad.any(axis=0))[0])]
        raise ValueError(
            f"{int(bad.any(axis=1).sum())} point(s) have NaN or infinite values "
            f"(first in '{column}'); fill or remove them before clustering."
        )
    center = np.zeros(X.shape[1])
    scale = np.ones(X.shape[1])
    if standardize:
        center = _scaled(X, lambda unit: unit.mean(axis=0))
        spread = _scaled(X - center, lambda unit: unit.std(axis=0))
        scale = np.where(spread > 0, spread, 1.0)
        X = (X - center) / scale
    return FeatureMatrix(X, tuple(names), dims, center, scale)


def _scaled(X: np.ndarray, statistic) -> np.ndarray:
    """``statistic(X)`` per column, computed on ``X / max|X|`` and scaled back.

    The mean and standard deviation of values near 1e300 (or 1e-300) would
    overflow (or underflow) when summed or squared; of ``X / max|X|`` they
    cannot, and both statistics scale linearly.
    """
    peak = np.abs(X).max(axis=0) if len(X) else np.ones(X.shape[1])
    peak = np.where(peak > 0, peak, 1.0)
    return statistic(X / peak) * peak


def match_components(
    previous_means: np.ndarray, previous_slots: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """Color slot of each new component, following the previous components.

    A *slot* is a stable identity (and color) of a component across refits.
    New components are matched to previous ones by minimizing the total
    distance between means (Hungarian algorithm) and inherit their slots;
    unmatched new components (when K grew) get fresh slots after the
    largest previous one, in order of their first coordinate.

    Parameters
    ----------
    previous_means : ndarray of shape (K_old, d)
    previous_slots : ndarray of int, shape (K_old,)
    means : ndarray of shape (K_new, d)

    Returns
    -------
    slots : ndarray of int, shape (K_new,)
        Distinct slots, one per new component (in the new model's order).
    """
    previous_means = np.asarray(previous_means, dtype=float)
    previous_slots = np.asarray(previous_slots, dtype=int)
    means = np.asarray(means, dtype=float)
    if previous_means.shape[1:] != means.shape[1:]:
        raise ValueError(
            f"Cannot match components of {previous_means.shape[1]}-D and "
            f"{means.shape[1]}-D models."
        )
    distance = np.linalg.norm(previous_means[:, None, :] - means[None, :, :], axis=2)
    old_index, new_index = linear_sum_assignment(distance)
    slots = np.full(len(means), -1, dtype=int)
    slots[new_index] = previous_slots[old_index]
    unmatched = np.flatnonzero(slots < 0)
    unmatched = unmatched[np.lexsort(means[unmatched].T[::-1])]
    start = previous_slots.max() + 1 if len(previous_slots) else 0
    slots[unmatched] = np.arange(start, start + len(unmatched))
    return slots


#: Feature columns added to points pooled from several layers.
SOURCE_COLUMN, SOURCE_INDEX_COLUMN = "source", "source_index"


@dataclass(frozen=True)
class PooledPoints:
    """Points of several layers stacked into one table, and where each came from.

    Attributes
    ----------
    coordinates : ndarray of shape (n_points, ndim)
        The layers' coordinates, one layer after the other.
    features : DataFrame
        The layers' feature tables stacked (a column missing from a layer is
        NaN for its points); with more than one layer, ``source`` (the
        layer's name) and ``source_index`` (the row in that layer), and a
        layer's own columns of these names become ``source (input)`` and
        ``source_index (input)``.
    size : ndarray of shape (n_points,) or None
    names : tuple of str
        Layer names, in order.
    counts : tuple of int
        Number of points of each layer.
    """

    coordinates: np.ndarray
    features: pd.DataFrame
    size: np.ndarray | None
    names: tuple[str, ...]
    counts: tuple[int, ...]

    @property
    def name(self) -> str:
        """One name for the pool: the layer names joined by " + "."""
        return " + ".join(self.names)

    def split(self, values) -> dict[str, np.ndarray]:
        """Per-point values (e.g. labels) cut back into one array per layer."""
        values = np.asarray(values)
        if len(values) != sum(self.counts):
            raise ValueError(
                f"Got {len(values)} values for {sum(self.counts)} pooled points."
            )
        bounds = np.cumsum((0, *self.counts))
        return {
            name: values[start:stop]
            for name, start, stop in zip(
                self.names, bounds[:-1], bounds[1:], strict=True
            )
        }


def pool_points(
    names: Sequence[str],
    coordinates: Sequence[np.ndarray],
    features: Sequence[pd.DataFrame | None] | None = None,
    sizes: Sequence | None = None,
    columns: Sequence[str] = (),
) -> PooledPoints:
    """Stack the points of several layers so that one mixture is fitted to all.

    Parameters
    ----------
    names : sequence of str
        One distinct name per layer.
    coordinates : sequence of array-like of shape (n_i, ndim)
        Every layer must have the same number of axes.
    features : sequence of DataFrame or None, optional
        Each layer's feature table (one row per point).
    sizes : sequence of scalar or array-like, optional
        Each layer's point size(s).
    columns : sequence of str
        Feature columns that will be clustered: each layer must have them as
        numeric columns.

    Returns
    -------
    PooledPoints

    Raises
    ------
    ValueError
        No layer, repeated names, different numbers of axes, a feature table
        of the wrong length, or a clustered column missing from a layer.
    """
    names = tuple(str(name) for name in names)
    if not names:
        raise ValueError("Choose at least one Points layer.")
    if len(set(names)) != len(names):
        raise ValueError(f"Layer names must be distinct, got {list(names)}.")
    if len(coordinates) != len(names):
        raise ValueError(
            f"Got {len(coordinates)} coordinate arrays for {len(names)} layers."
        )
    arrays = [np.asarray(c, dtype=float) for c in coordinates]
    for name, array in zip(names, arrays, strict=True):
        if array.ndim != 2:
            raise ValueError(
                f"The points of '{name}' must have shape (n_points, ndim), "
                f"got {array.shape}."
            )
    ndims = {name: array.shape[1] for name, array in zip(names, arrays, strict=True)}
    if len(set(ndims.values())) > 1:
        described = ", ".join(f"'{n}' is {d}-D" for n, d in ndims.items())
        raise ValueError(
            f"Only layers with the same number of axes can be clustered together: "
            f"{described}."
        )
    counts = tuple(len(array) for array in arrays)
    tables = []
    features = [None] * len(names) if features is None else list(features)
    for name, table, count in zip(names, features, counts, strict=True):
        table = pd.DataFrame(index=range(count)) if table is None else table
        if len(table) != count:
            raise ValueError(
                f"The features table of '{name}' has {len(table)} rows for "
                f"{count} points."
            )
        numeric = numeric_columns(table)
        missing = [str(c) for c in columns if str(c) not in numeric]
        if missing:
            raise ValueError(
                f"The layer '{name}' has no numeric feature column(s) {missing}; "
                "every pooled layer needs the clustered columns."
            )
        table = table.reset_index(drop=True)
        if len(names) > 1:  # keep a layer's own columns of these names
            table = table.rename(
                columns={
                    name: f"{name} (input)"
                    for name in (SOURCE_COLUMN, SOURCE_INDEX_COLUMN)
                }
            )
        tables.append(table)
    pooled = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(names) > 1:
        pooled[SOURCE_COLUMN] = pd.Categorical(
            np.repeat(names, counts), categories=list(names)
        )
        pooled[SOURCE_INDEX_COLUMN] = np.concatenate(
            [np.arange(count) for count in counts]
        )
    size = None
    if sizes is not None:
        size = np.concatenate(
            [
                np.broadcast_to(np.asarray(s, dtype=float), (count,))
                for s, count in zip(sizes, counts, strict=True)
            ]
        )
    return PooledPoints(
        coordinates=np.concatenate(arrays) if arrays else np.empty((0, 0)),
        features=pooled,
        size=size,
        names=names,
        counts=counts,
    )
