"""What one Run of the points dock fits: the layers' points and the settings.

No Qt: a :class:`SweepRequest` is read from Points layers (napari's, or
anything with their ``name``, ``data``, ``features``, ``size``, ``scale``
and ``translate``) and a :class:`~napari_gmm.core.settings.SweepSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ._run_model import count_candidates
from .core.points import (
    FeatureMatrix,
    PooledPoints,
    constant_axes,
    points_feature_matrix,
    pool_points,
)
from .core.settings import SweepSettings


def read_points(layers, columns=()) -> PooledPoints:
    """Copy the points, sizes and features of Points layers into one pool."""
    layers = tuple(layers)
    # pool_points stacks (copies) them: the pool does not share memory with
    # the layers, and 10^6 points are copied once on the event loop, not twice
    points = pool_points(
        [layer.name for layer in layers],
        [np.asarray(layer.data, dtype=float) for layer in layers],
        [layer.features.copy() for layer in layers],
        [np.asarray(layer.size) for layer in layers],
        columns=columns,
    )
    placements = {
        (tuple(np.round(layer.scale, 12)), tuple(np.round(layer.translate, 12)))
        for layer in layers
    }
    if len(placements) > 1:
        raise ValueError(
            "The chosen Points layers have different scale or translate; "
            "points clustered together must share one coordinate system."
        )
    return points


@dataclass(frozen=True)
class SweepRequest:
    """Everything one Run needs, copied out of the form and the layer(s)."""

    layers: tuple  # the Points layers whose points are pooled, first = chosen
    points: PooledPoints
    coordinate_dims: tuple[int, ...] | None  # None: all axes
    columns: tuple[str, ...]
    standardize: bool
    settings: SweepSettings = field(default_factory=SweepSettings)
    seeds: int = 1  # > 1: repeat the sweep with that many seeds (stability)
    # with all axes asked for: those on which every point has the same
    # coordinate, left out of coordinate_dims (core.points.constant_axes)
    flat_axes: tuple[int, ...] = ()

    @classmethod
    def of(
        cls,
        layers,
        settings: SweepSettings | None = None,
        *,
        coordinate_dims=None,
        columns=(),
        standardize=False,
        seeds=1,
    ) -> SweepRequest:
        """A request for ``layers`` (the first is the chosen one).

        Raises
        ------
        ValueError
            With one sentence for the user: no layer, no points, or layers
            in different coordinate systems.
        """
        layers = tuple(layers)
        if not layers:
            raise ValueError("Add or choose a Points layer first.")
        if all(len(layer.data) == 0 for layer in layers):
            raise ValueError(f"The layer '{layers[0].name}' has no points to cluster.")
        columns = tuple(columns)
        points = read_points(layers, columns)
        flat = ()
        if coordinate_dims is None:
            # "all axes" means the axes the points spread along: points on
            # one z-slice of a stack are clustered in that plane; with
            # feature columns, even every axis can be left out
            flat = constant_axes(points.coordinates, keep_one=not columns)
            if flat:
                ndim = points.coordinates.shape[1]
                coordinate_dims = [d for d in range(ndim) if d not in flat]
        return cls(
            layers=layers,
            points=points,
            coordinate_dims=None if coordinate_dims is None else tuple(coordinate_dims),
            columns=columns,
            standardize=bool(standardize),
            settings=SweepSettings() if settings is None else settings,
            seeds=int(seeds),
            flat_axes=flat,
        )

    def flat_note(self) -> str:
        """A sentence when axes were left out for having one value (else "")."""
        if not self.flat_axes:
            return ""
        flat = self.flat_axes
        coordinates = self.coordinates
        still = set(flat) <= set(constant_axes(coordinates, keep_one=False))
        axes = f"axis {flat[0]}" if len(flat) == 1 else f"axes {list(flat)}"
        if still:
            # (the layer's data coordinates: the viewer shows them scaled)
            shared = ", ".join(f"{coordinates[0, d]:g}" for d in flat)
            rest = (
                "the feature columns"
                if self.coordinate_dims == ()
                else "the other axes and the feature columns"
                if self.columns
                else "the other axes"
            )
            return (
                f" Every point has the same data coordinate on {axes} ({shared}): "
                f"clustered on {rest}."
            )
        # live mode: points edited off that plane since Run
        return (
            f" {axes.capitalize()} left out of the fit (every point had one "
            "value there when Run was pressed); Run again to include it."
        )

    @property
    def layer(self):
        return self.layers[0]

    @property
    def name(self) -> str:
        """The outputs' name stem: the input layer name(s)."""
        return self.points.name

    @property
    def coordinates(self) -> np.ndarray:
        return self.points.coordinates

    @property
    def size(self) -> np.ndarray | None:
        return self.points.size

    @property
    def features(self) -> pd.DataFrame:
        return self.points.features

    @property
    def total(self) -> int:
        """Candidates the run fits, over all seeds."""
        return count_candidates(self.settings) * self.seeds

    def reread(self) -> SweepRequest:
        """The same request on the layers' current points (live mode)."""
        return replace(self, points=read_points(self.layers, self.columns))

    def feature_matrix(self) -> FeatureMatrix:
        return points_feature_matrix(
            self.coordinates,
            self.features,
            coordinate_dims=self.coordinate_dims,
            columns=self.columns,
            standardize=self.standardize,
        )
