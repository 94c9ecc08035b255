"""Sample data contributed to napari's File > Open Sample menu."""

from __future__ import annotations

from .core.datasets import make_blobs_with_outliers, make_seed_example


def seed_example():
    """The 2 x 500 points of scikit-learn's GMM model-selection example.

    Layer coordinates are the example's ``X`` unchanged (axis 0 = ``X[:, 0]``),
    so a sweep on this layer reproduces the example's numbers exactly.
    """
    points = make_seed_example()
    meta = {
        "name": "seed example",
        "size": 0.08,
        "face_color": "white",
        "border_width": 0,
    }
    return [(points, meta, "points")]


def _skimage_sample(name: str, layer_name: str | None = None, **meta):
    from skimage import data

    image = getattr(data, name)()
    return [(image, {"name": layer_name or name, **meta}, "image")]


def cell_sample():
    """scikit-image's ``cell`` (uint8 fluorescence, 660 x 550): 2-3 classes."""
    return _skimage_sample("cell")


def coins_sample():
    """scikit-image's ``coins`` (uint8, 303 x 384): background and coins."""
    return _skimage_sample("coins")


def immunohistochemistry_sample():
    """scikit-image's ``immunohistochemistry`` (RGB uint8, 512 x 512)."""
    return _skimage_sample("immunohistochemistry", rgb=True, layer_name="IHC")


def spots_with_outliers():
    """Two clusters of spots plus 5 % scattered outliers (try "Noise component")."""
    points, is_outlier = make_blobs_with_outliers()
    meta = {
        "name": "noisy spots",
        "size": 0.15,
        "face_color": "white",
        "border_width": 0,
        "features": {"outlier (truth)": is_outlier},
    }
    return [(points, meta, "points")]
