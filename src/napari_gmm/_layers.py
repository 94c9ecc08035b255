"""Sweep results -> napari LayerDataTuples.

Pure functions: no napari import, no viewer. The widget adds the tuples to
the viewer; tests check them directly. Colors come in as an (K, 4) RGBA
array (one per component) so that they can stay stable across refits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._colors import component_colors
from .core import Assignment, component_ellipses, model_covariances
from .core.geometry import ellipsoid_mesh, ellipsoid_sections

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

    Returns
    -------
    tuple
        ``(data, meta, "points")``; ``meta["features"]`` has the columns
        ``label`` (1..K), ``probability`` and ``uncertainty``.
    """
    colors = _colors_or_default(model, colors)
    features = pd.DataFrame(
        {
            "label": assignment.labels,
            "probability": assignment.probability,
            "uncertainty": assignment.uncertainty,
        }
    )
    meta = {
        "name": f"{source_name} GMM labels",
        "features": features,
        "face_color": colors[assignment.labels - 1],
        "border_width": 0,
        "metadata": _output_metadata("labels", source_name, model),
    }
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
        Mahalanobis radius, see :func:`napari_gmm.core.ellipse_radius`.
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
        f"{source_name} GMM ellipses",
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
        f"{source_name} GMM ellipses",
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
        "name": f"{source_name} GMM ellipsoids",
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
        "name": f"{source_name} GMM classes",
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
        "name": f"{source_name} GMM uncertainty",
        "colormap": "magma",
        "contrast_limits": (0.0, 1.0),
        "blending": "additive",
        "visible": False,
        "metadata": _output_metadata("uncertainty", source_name, model),
    }
    _place(meta, scale, translate)
    return (uncertainty, meta, "image")
