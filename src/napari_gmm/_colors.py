"""Component colors shared by the napari layers and the matplotlib plots."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba_array

#: Qualitative palette (matplotlib's "tab10" values), cycled for K > 10.
COMPONENT_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

#: One color per covariance type in the criterion plot (those of the
#: scikit-learn example).
COVARIANCE_TYPE_COLORS = {
    "spherical": "navy",
    "tied": "turquoise",
    "diag": "cornflowerblue",
    "full": "darkorange",
    # mclust's ten other models (core/parsimonious.py), so that a sweep of
    # all 14 can be drawn; equal-volume models in greens and greys,
    # variable-volume ones in reds and purples
    "EII": "darkgreen",
    "EEI": "yellowgreen",
    "VEI": "firebrick",
    "EVI": "olive",
    "VEE": "orchid",
    "EVE": "seagreen",
    "VVE": "rebeccapurple",
    "EEV": "dimgray",
    "VEV": "crimson",
    "EVV": "darkkhaki",
}


#: In the line view of mclust's 14 models (_plot.plot_criterion_lines): one
#: color per shape-and-orientation pair (a model's last two letters), shared
#: by its equal- and varying-volume models. The pairs of scikit-learn's four
#: keep their colors above (II spherical, VI diag, EE tied, VV full).
MODEL_FAMILY_COLORS = {
    "II": COVARIANCE_TYPE_COLORS["spherical"],
    "EI": "forestgreen",
    "VI": COVARIANCE_TYPE_COLORS["diag"],
    "EE": COVARIANCE_TYPE_COLORS["tied"],
    "VE": "darkviolet",
    "EV": "crimson",
    "VV": COVARIANCE_TYPE_COLORS["full"],
}


def slot_colors(slots) -> np.ndarray:
    """RGBA colors of color slots (stable component identities), shape (n, 4)."""
    indices = np.asarray(slots, dtype=int) % len(COMPONENT_PALETTE)
    return to_rgba_array([COMPONENT_PALETTE[i] for i in indices])


def component_colors(n_components: int) -> np.ndarray:
    """RGBA colors of components ``1..n_components``, shape (n_components, 4)."""
    return slot_colors(np.arange(n_components))


#: Color of label 0: samples a noise component claims. Light and translucent,
#: so it cannot be mistaken for the palette's grey component.
NOISE_COLOR = np.array([0.75, 0.75, 0.75, 0.6])


def label_colors(colors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGBA color per sample: ``colors[label - 1]``, :data:`NOISE_COLOR` for 0.

    Parameters
    ----------
    colors : ndarray of shape (n_components, 4)
    labels : ndarray of int, shape (n_samples,)
        1..K, or 0 for noise.

    Returns
    -------
    ndarray of shape (n_samples, 4)
    """
    return np.vstack([NOISE_COLOR, colors])[np.asarray(labels, dtype=int)]
