"""Words the widgets show: plain names for covariance types, short layer names.

No Qt and no napari here; the plot, the layers and the widgets share them.
"""

from __future__ import annotations

#: What each covariance type means for the shape of a cluster, in the order
#: the form lists them (scikit-learn's names are the keys).
COVARIANCE_NAMES = {
    "spherical": "round",
    "diag": "axis-aligned",
    "tied": "same shape for all",
    "full": "any shape",
}

#: Tooltips of the covariance-type check boxes.
COVARIANCE_TOOLTIPS = {
    "spherical": "Round clusters, each with its own size "
    "(scikit-learn: covariance_type='spherical'). Fewest parameters.",
    "diag": "Elliptical clusters stretched along the image/feature axes only, "
    "never tilted (scikit-learn: 'diag').",
    "tied": "All clusters share one shape and tilt, only their centres differ "
    "(scikit-learn: 'tied').",
    "full": "Every cluster has its own size, shape and tilt "
    "(scikit-learn: 'full'). Most flexible, most parameters.",
}

#: Longest input-layer name kept whole in output layer names.
SHORT_NAME_LENGTH = 16


def covariance_name(covariance_type: str) -> str:
    """'any shape' for 'full', 'same size and shape, orientations vary' for
    mclust's 'EEV', etc.; unknown names are returned unchanged."""
    if covariance_type in COVARIANCE_NAMES:
        return COVARIANCE_NAMES[covariance_type]
    if len(covariance_type) != 3 or set(covariance_type) - set("EVI"):
        return covariance_type
    return _mclust_words(covariance_type)


def _mclust_words(model: str) -> str:
    """Plain words for mclust's volume, shape and orientation letters."""
    volume, shape, orientation = model
    prefix = ""
    if shape == "I":
        prefix = "round"
    elif orientation == "I":
        prefix = "axis-aligned"
    aspects = (("size", volume), ("shape", shape), ("orientation", orientation))
    equal = [name for name, letter in aspects if letter == "E"]
    varying = [name + "s" for name, letter in aspects if letter == "V"]
    parts = [prefix] if prefix else []
    if equal:
        parts.append("same " + " and ".join(equal))
    if varying:
        parts.append(" and ".join(varying) + " vary")
    return ", ".join(parts)


def model_name(n_components: int, covariance_type: str, unit="components") -> str:
    """'2 components, any shape (full)'."""
    plain = covariance_name(covariance_type)
    if int(n_components) == 1:
        unit = unit[:-2] if unit.endswith("sses") else unit[:-1]
    return f"{n_components} {unit}, {plain} ({covariance_type})"


def short_name(name: str, length: int = SHORT_NAME_LENGTH) -> str:
    """A layer name cut to ``length`` characters (with '…') for output names."""
    name = str(name)
    return name if len(name) <= length else name[: length - 1].rstrip() + "…"
