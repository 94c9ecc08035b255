"""Sweep results -> napari LayerDataTuples.

Pure functions: no napari import, no viewer. The widget adds the tuples to
the viewer; tests check them directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._colors import component_colors
from .core import Assignment, component_ellipses

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


def labeled_points_layer(
    coordinates: np.ndarray,
    assignment: Assignment,
    model,
    source_name: str,
    size=None,
) -> tuple:
    """A Points layer of the input points colored by component.

    Parameters
    ----------
    coordinates : ndarray of shape (n_points, ndim)
        Copy of the input layer's data.
    assignment : Assignment
        Output of :func:`napari_gmm.assign` for these points.
    model : GaussianMixture
        The displayed model (for colors and metadata).
    source_name : str
        Name of the input layer.
    size : float or ndarray, optional
        Point size(s), normally the input layer's.

    Returns
    -------
    tuple
        ``(data, meta, "points")``; ``meta["features"]`` has the columns
        ``label`` (1..K), ``probability`` and ``uncertainty``.
    """
    colors = component_colors(model.n_components)[assignment.labels - 1]
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
        "face_color": colors,
        "border_width": 0,
        "metadata": _output_metadata("labels", source_name, model),
    }
    if size is not None:
        meta["size"] = np.array(size, copy=True)
    return (np.array(coordinates, dtype=float, copy=True), meta, "points")


def ellipses_layer(
    model,
    source_name: str,
    radius: float,
    dims: tuple[int, int] = (0, 1),
) -> tuple:
    """A Shapes layer with one ellipse per component, in component colors.

    Parameters
    ----------
    model : GaussianMixture
        Fitted on 2-D coordinates (or drawn over ``dims``).
    source_name : str
    radius : float
        Mahalanobis radius, see :func:`napari_gmm.core.ellipse_radius`.
    dims : tuple of two ints

    Returns
    -------
    tuple
        ``(list of (4, 2) corner arrays, meta, "shapes")``.
    """
    colors = component_colors(model.n_components)
    faces = colors.copy()
    faces[:, 3] = 0.35
    corners = component_ellipses(model, dims=dims, radius=radius)
    # Shapes edge widths are in data units: draw about 0.8 % of the extent.
    extent = np.ptp(np.concatenate(corners), axis=0).max()
    edge_width = 0.008 * extent if extent > 0 else 1.0
    meta = {
        "name": f"{source_name} GMM ellipses",
        "shape_type": "ellipse",
        "edge_color": colors,
        "face_color": faces,
        "edge_width": edge_width,
        "features": pd.DataFrame({"label": np.arange(1, model.n_components + 1)}),
        "metadata": _output_metadata("ellipses", source_name, model),
    }
    return (corners, meta, "shapes")


def find_output_layer(layers, role: str, source: str):
    """Index of our output layer with this role for this source, or None."""
    for index, layer in enumerate(layers):
        tag = layer.metadata.get(METADATA_KEY) if hasattr(layer, "metadata") else None
        if tag and tag.get("role") == role and tag.get("source") == source:
            return index
    return None
