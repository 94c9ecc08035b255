"""Sweep results -> napari LayerDataTuples.

Pure functions: no napari import, no viewer. The widget adds the tuples to
the viewer; tests check them directly. Colors come in as an (K, 4) RGBA
array (one per component) so that they can stay stable across refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from ._colors import COMPONENT_PALETTE, component_colors, label_colors
from ._terms import short_name
from .core import Assignment
from .core.criteria import has_noise
from .core.geometry import (
    component_ellipses,
    ellipsoid_mesh,
    ellipsoid_sections,
    model_covariances,
)

#: Key under ``layer.metadata`` that marks a layer as one of our outputs.
METADATA_KEY = "napari_gmm"


def _output_metadata(role: str, source: str, model) -> dict:
    return {
        METADATA_KEY: {
            "role": role,
            "source": source,
            "n_components": int(model.n_components),
            "covariance_type": str(model.covariance_type),
        }
    }


def _colors_or_default(model, colors) -> np.ndarray:
    if colors is None:
        return component_colors(model.n_components)
    colors = np.asarray(colors, dtype=float)
    if colors.shape != (model.n_components, 4):
        raise ValueError(
            f"Expected {model.n_components} RGBA colors, got shape {colors.shape}."
        )
    return colors


#: The "Color by" choice that colors points by their component (the default).
COLOR_BY_COMPONENT = "component"
#: Columns we add to the output points; input columns of these names are renamed.
OUTPUT_COLUMNS = ("label", "probability", "uncertainty", "is_noise")
#: Integer columns with at most this many distinct values are colored as categories.
MAX_INTEGER_CATEGORIES = 12
#: Outline of noise points (label 0): relative width, color.
NOISE_BORDER_WIDTH = 0.2
NOISE_BORDER_COLOR = "#404040"
#: Color of points whose feature value is missing.
MISSING_COLOR = (0.6, 0.6, 0.6, 1.0)


def output_features(
    assignment: Assignment, features: pd.DataFrame | None = None, noise: bool = False
) -> pd.DataFrame:
    """The features of the output points: ours, then a copy of the input's.

    ``label`` (1..K, 0 for noise), ``probability`` (of that component),
    ``uncertainty`` and, for a model with a noise component, ``is_noise``
    come first; the input's columns follow, those with one of our names
    suffixed `` (input)``.
    """
    ours = pd.DataFrame(
        {
            "label": assignment.labels,
            "probability": assignment.probability,
            "uncertainty": assignment.uncertainty,
        }
    )
    if noise:
        ours["is_noise"] = assignment.labels == 0
    if features is None or len(features.columns) == 0:
        return ours
    if len(features) != len(ours):
        raise ValueError(
            f"The features table has {len(features)} rows for {len(ours)} points."
        )
    theirs = features.reset_index(drop=True).rename(
        columns={name: f"{name} (input)" for name in OUTPUT_COLUMNS}
    )
    return pd.concat([ours, theirs], axis=1)


def color_by_choices(features: pd.DataFrame | None) -> list[str]:
    """What the output points can be colored by: the component, or a column."""
    # is_noise exists only for noise models; "component" shows noise in grey
    columns = [name for name in OUTPUT_COLUMNS if name != "is_noise"]
    if features is not None:
        columns += [
            f"{name} (input)" if name in OUTPUT_COLUMNS else str(name)
            for name in features.columns
        ]
    return [COLOR_BY_COMPONENT, *columns]


def is_categorical(values: pd.Series) -> bool:
    """Colored as categories (a color cycle) rather than on a colormap?

    Text, boolean and categorical columns are categories; so are integer
    columns with at most :data:`MAX_INTEGER_CATEGORIES` distinct values (a
    label or a class number); other numbers get a colormap.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):
        return True
    if pd.api.types.is_integer_dtype(dtype):
        return values.nunique(dropna=True) <= MAX_INTEGER_CATEGORIES
    return False


@dataclass(frozen=True)
class FeatureColors:
    """Point colors for one feature column, and how to read them.

    ``categories`` (value -> RGBA) for a categorical column; ``limits``
    (the values at the two ends of ``colormap``) for a numeric one.
    """

    colors: np.ndarray
    categories: dict | None = None
    colormap: str | None = None
    limits: tuple[float, float] | None = None

    def describe(self, column: str) -> str:
        """One sentence for the status line."""
        if self.categories is not None:
            return f"Colored by '{column}': {len(self.categories)} categories."
        low, high = self.limits
        return f"Colored by '{column}': {self.colormap}, {low:.4g} to {high:.4g}."


def feature_colors(
    values, colormap: str = "viridis", palette=COMPONENT_PALETTE
) -> FeatureColors:
    """RGBA colors (n, 4) for the values of one feature column.

    Categorical columns (see :func:`is_categorical`) cycle through
    ``palette`` in sorted order of their values; numeric columns are mapped
    linearly from their minimum to their maximum onto ``colormap``. Missing
    values are grey.
    """
    values = pd.Series(values).reset_index(drop=True)
    colors = np.tile(np.asarray(MISSING_COLOR), (len(values), 1))
    present = values.notna().to_numpy()
    if is_categorical(values):
        if isinstance(values.dtype, pd.CategoricalDtype):
            order = list(values.cat.categories)
        else:
            order = _sorted_values(values[present].unique())
        cycle = np.array(
            [to_rgba(palette[i % len(palette)]) for i in range(len(order))]
        )
        codes = pd.Categorical(values, categories=order).codes
        colors[codes >= 0] = cycle[codes[codes >= 0]]
        lookup = {value: tuple(map(float, cycle[i])) for i, value in enumerate(order)}
        return FeatureColors(colors=colors, categories=lookup)
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(numbers)
    if not finite.any():
        return FeatureColors(colors=colors, colormap=colormap, limits=(np.nan, np.nan))
    low, high = float(numbers[finite].min()), float(numbers[finite].max())
    scaled = (numbers[finite] - low) / (high - low) if high > low else 0.5
    colors[finite] = matplotlib.colormaps[colormap](scaled)
    return FeatureColors(colors=colors, colormap=colormap, limits=(low, high))


def _sorted_values(values) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types: by their text
        return sorted(values, key=str)


def _edge_width(shapes: list[np.ndarray], fraction: float = 0.008) -> float:
    """Shapes edge widths are in data units: about 0.8 % of the drawn extent."""
    if not shapes:
        return 1.0
    extent = np.ptp(np.concatenate(shapes), axis=0).max()
    return fraction * extent if extent > 0 else 1.0


def labeled_points_layer(
    coordinates: np.ndarray,
    assignment: Assignment,
    model,
    source_name: str,
    size=None,
    colors=None,
    features: pd.DataFrame | None = None,
    color_by: str | None = None,
) -> tuple:
    """A Points layer of the input points colored by component.

    Parameters
    ----------
    coordinates : ndarray of shape (n_points, ndim)
        Copy of the input layer's data.
    assignment : Assignment
        Output of :func:`napari_gmm.assign` for these points.
    model : GaussianMixture
        The displayed model (for metadata).
    source_name : str
        Name of the input layer.
    size : float or ndarray, optional
        Point size(s), normally the input layer's.
    colors : ndarray of shape (n_components, 4), optional
        Component colors; default the palette in component order.
    features : DataFrame, optional
        The input points' own features (one row per point), carried over
        after ours (see :func:`output_features`).
    color_by : str, optional
        Color the points by this column of the output features (see
        :func:`feature_colors`) instead of by component.

    Returns
    -------
    tuple
        ``(data, meta, "points")``; ``meta["features"]`` has the columns
        ``label`` (1..K), ``probability`` and ``uncertainty``, then the
        input's features.
    """
    colors = _colors_or_default(model, colors)
    features = output_features(assignment, features, noise=has_noise(model))
    if color_by is None or color_by == COLOR_BY_COMPONENT:
        face_color = label_colors(colors, assignment.labels)
    else:
        if color_by not in features.columns:
            raise ValueError(
                f"Cannot color by '{color_by}': the points have no such feature; "
                f"features are {list(features.columns)}."
            )
        face_color = feature_colors(features[color_by]).colors
    meta = {
        "name": f"{short_name(source_name)} labels",
        "features": features,
        "face_color": face_color,
        "border_width": 0,
        "metadata": _output_metadata("labels", source_name, model),
    }
    noise = np.asarray(assignment.labels) == 0
    if noise.any():
        # pale translucent grey alone looks white over the (white) input
        # points: outline noise points so that they read as noise
        meta["border_width"] = np.where(noise, NOISE_BORDER_WIDTH, 0.0)
        meta["border_color"] = NOISE_BORDER_COLOR
    if size is not None:
        meta["size"] = np.array(size, copy=True)
    return (np.array(coordinates, dtype=float, copy=True), meta, "points")


def _shapes_meta(name, role, source_name, model, colors, component, shapes) -> dict:
    faces = colors[component].copy()
    faces[:, 3] = 0.35
    return {
        "name": name,
        "shape_type": "ellipse",
        "edge_color": colors[component],
        "face_color": faces,
        "edge_width": _edge_width(shapes),
        "features": pd.DataFrame({"label": component + 1}),
        "metadata": _output_metadata(role, source_name, model),
    }


def ellipses_layer(
    model,
    source_name: str,
    radius: float,
    dims: tuple[int, int] = (0, 1),
    colors=None,
) -> tuple:
    """A Shapes layer with one 2-D ellipse per component, in component colors.

    Parameters
    ----------
    model : GaussianMixture
        Fitted on 2-D coordinates (or drawn over ``dims``).
    source_name : str
    radius : float
        Mahalanobis radius, see :func:`napari_gmm.core.geometry.ellipse_radius`.
    dims : tuple of two ints
    colors : ndarray of shape (n_components, 4), optional

    Returns
    -------
    tuple
        ``(list of (4, 2) corner arrays, meta, "shapes")``.
    """
    colors = _colors_or_default(model, colors)
    shapes = component_ellipses(model, dims=dims, radius=radius)
    component = np.arange(model.n_components)
    meta = _shapes_meta(
        f"{short_name(source_name)} ellipses",
        "ellipses",
        source_name,
        model,
        colors,
        component,
        shapes,
    )
    return (shapes, meta, "shapes")


def section_ellipses_layer(
    model, source_name: str, radius: float, origin: float, colors=None
) -> tuple:
    """Ellipses where each slice plane (axis 0) cuts each 3-D ellipsoid.

    In 2-D slicing of 3-D points, napari shows the points of one plane; these
    ellipses are the exact sections of the component ellipsoids with the
    planes ``origin + n`` (the slider positions of a layer whose axis-0
    coordinates start at ``origin``).
    """
    colors = _colors_or_default(model, colors)
    shapes, component = [], []
    for k, covariance in enumerate(model_covariances(model)):
        cut = ellipsoid_sections(model.means_[k], covariance, radius, 0, origin)
        shapes.extend(cut)
        component.extend([k] * len(cut))
    component = np.asarray(component, dtype=int)
    meta = _shapes_meta(
        f"{short_name(source_name)} ellipses",
        "ellipses",
        source_name,
        model,
        colors,
        component,
        shapes,
    )
    meta["ndim"] = 3
    return (shapes, meta, "shapes")


def ellipsoids_layer(model, source_name: str, radius: float, colors=None) -> tuple:
    """A Surface layer with one shaded ellipsoid per component (3-D points)."""
    colors = _colors_or_default(model, colors)
    vertices, faces, vertex_colors = [], [], []
    offset = 0
    for k, covariance in enumerate(model_covariances(model)):
        v, f = ellipsoid_mesh(model.means_[k], covariance, radius)
        vertices.append(v)
        faces.append(f + offset)
        vertex_colors.append(np.repeat(colors[k][None], len(v), axis=0))
        offset += len(v)
    meta = {
        "name": f"{short_name(source_name)} ellipsoids",
        "vertex_colors": np.concatenate(vertex_colors),
        "shading": "smooth",
        "opacity": 0.6,
        "metadata": _output_metadata("ellipsoids", source_name, model),
    }
    return ((np.concatenate(vertices), np.concatenate(faces)), meta, "surface")


def find_output_layer(layers, role: str, source: str):
    """Index of our output layer with this role for this source, or None."""
    for index, layer in enumerate(layers):
        tag = layer.metadata.get(METADATA_KEY) if hasattr(layer, "metadata") else None
        if tag and tag.get("role") == role and tag.get("source") == source:
            return index
    return None


def _place(meta: dict, scale, translate) -> None:
    """Put an output where its input image is (scale/translate copied)."""
    if scale is not None:
        meta["scale"] = tuple(scale)
    if translate is not None:
        meta["translate"] = tuple(translate)


def class_labels_layer(
    labels, model, source_name: str, scale=None, translate=None, colors=None
) -> tuple:
    """A Labels layer of intensity classes 1..K, colored like the components.

    ``labels`` may be a numpy or (lazy) dask array; it is passed through.
    ``colors`` (one RGBA row per label 1, 2, ...) may list more classes than
    ``model`` has, e.g. for per-frame models with different K.
    """
    colors = (
        component_colors(model.n_components) if colors is None else np.asarray(colors)
    )
    colormap = {0: "transparent", None: "transparent"}
    colormap.update({k + 1: tuple(colors[k]) for k in range(len(colors))})
    meta = {
        "name": f"{short_name(source_name)} classes",
        "colormap": colormap,
        "opacity": 0.6,
        "metadata": _output_metadata("classes", source_name, model),
    }
    _place(meta, scale, translate)
    return (labels, meta, "labels")


def uncertainty_layer(
    uncertainty, model, source_name: str, scale=None, translate=None
) -> tuple:
    """An Image layer of per-pixel uncertainty (1 - max posterior), 0..1."""
    meta = {
        "name": f"{short_name(source_name)} uncertainty",
        "colormap": "magma",
        "contrast_limits": (0.0, 1.0),
        "blending": "additive",
        "visible": False,
        "metadata": _output_metadata("uncertainty", source_name, model),
    }
    _place(meta, scale, translate)
    return (uncertainty, meta, "image")


#: Key under ``layer.metadata`` of layers made by "Export components".
EXPORT_KEY = "napari_gmm_export"


def _export_metadata(source: str, model, label: int) -> dict:
    return {
        EXPORT_KEY: {
            "source": source,
            "label": int(label),
            "n_components": int(model.n_components),
            "covariance_type": str(model.covariance_type),
        }
    }


def component_points_layers(
    coordinates: np.ndarray,
    assignment: Assignment,
    model,
    source_name: str,
    size=None,
    colors=None,
    features: pd.DataFrame | None = None,
) -> list[tuple]:
    """One Points layer per component with its points and their features.

    Each layer holds copies of the points assigned to one component, with
    the input's features and ``label``, ``probability``, ``uncertainty``
    (as in :func:`labeled_points_layer`), in the component's color. These
    are ordinary layers (not outputs the widget replaces): they can be
    edited, saved or clustered again. Components without points get no
    layer; the points of a noise component (label 0) get a last layer,
    ``<source> noise``.

    Returns
    -------
    list of ``(data, meta, "points")``, in label order.
    """
    colors = _colors_or_default(model, colors)
    coordinates = np.asarray(coordinates, dtype=float)
    table = output_features(assignment, features, noise=has_noise(model))
    sizes = None if size is None else np.broadcast_to(size, (len(coordinates),))
    layers = []
    # label 0: the points a noise component claims, as a last layer
    for label in (*range(1, model.n_components + 1), 0):
        members = np.flatnonzero(assignment.labels == label)
        if len(members) == 0:
            continue
        meta = {
            "name": f"{short_name(source_name)} component {label}"
            if label
            else f"{short_name(source_name)} noise",
            "features": table.iloc[members].reset_index(drop=True),
            "face_color": label_colors(colors, [label])[0],
            "border_width": 0,
            "metadata": _export_metadata(source_name, model, label),
        }
        if sizes is not None:
            meta["size"] = np.array(sizes[members], copy=True)
        layers.append((coordinates[members].copy(), meta, "points"))
    return layers


def class_mask_layers(
    labels,
    model,
    source_name: str,
    scale=None,
    translate=None,
    colors=None,
    n_classes: int | None = None,
) -> list[tuple]:
    """One Labels layer per class: 1 where the pixel is in the class, else 0.

    ``labels`` (1..K, 0 = not classified) may be a numpy or lazy dask
    array; the masks stay lazy for dask. Each mask is drawn in its class's
    color and placed where the image is. ``n_classes`` (default the model's
    K) may be larger, e.g. for per-frame models with different K.

    Returns
    -------
    list of ``(data, meta, "labels")``, one per class 1..n_classes.
    """
    n_classes = int(model.n_components if n_classes is None else n_classes)
    colors = component_colors(n_classes) if colors is None else np.asarray(colors)
    layers = []
    for label in range(1, n_classes + 1):
        mask = (labels == label).astype(np.uint8)
        meta = {
            "name": f"{short_name(source_name)} class {label}",
            "colormap": {
                0: "transparent",
                None: "transparent",
                1: tuple(colors[label - 1]),
            },
            "opacity": 0.6,
            "metadata": _export_metadata(source_name, model, label),
        }
        _place(meta, scale, translate)
        layers.append((mask, meta, "labels"))
    return layers
