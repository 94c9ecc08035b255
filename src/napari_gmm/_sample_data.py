"""Sample data contributed to napari's File > Open Sample menu."""

from __future__ import annotations

from .core import make_seed_example


def seed_example():
    """The 2 x 500 points of scikit-learn's GMM model-selection example.

    Layer coordinates are the example's ``X`` unchanged (axis 0 = ``X[:, 0]``),
    so a sweep on this layer reproduces the example's numbers exactly.
    """
    points = make_seed_example()
    meta = {
        "name": "GMM selection example",
        "size": 0.08,
        "face_color": "white",
        "border_width": 0,
    }
    return [(points, meta, "points")]
