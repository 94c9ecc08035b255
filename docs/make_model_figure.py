"""Draw docs/images/models.png: what each of mclust's 14 covariance models allows.

One panel per model (EII ... VVV), three components in 2-D, each drawn as
its 2-standard-deviation ellipse. A component's covariance is
``lambda_k D_k A_k D_k^T``: the volume ``lambda_k`` (area), the shape
``A_k`` (how elongated) and the orientation ``D_k`` (which way it points)
are each Equal across components, Variable, or the Identity (round, or
along the axes), in that order in the name.

Run: ``python docs/make_model_figure.py`` (matplotlib only).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from napari_gmm.core.parsimonious import MCLUST_TO_SKLEARN, MODELS

OUT = Path(__file__).parent / "images" / "models.png"

#: Where the three components sit.
CENTRES = np.array([[0.0, 0.0], [5.0, 0.5], [2.0, 4.6]])
#: Volumes (areas, up to a constant) when they vary; the first when equal.
VOLUMES = (1.0, 0.4, 1.9)
#: Axis ratios (long / short) when the shape varies; the first when equal.
RATIOS = (3.0, 1.5, 6.0)
#: Angles in degrees when the orientation varies; the first when equal.
ANGLES = (30.0, -45.0, 95.0)

WORDS = {"E": "equal", "V": "varies", "I": "I"}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c")


def component_axes(model: str, k: int) -> tuple[float, float, float]:
    """(width, height, angle) of component ``k``'s 1.5-sd ellipse under ``model``."""
    volume, shape, orientation = model
    area = VOLUMES[k] if volume == "V" else VOLUMES[0]
    ratio = {"I": 1.0, "E": RATIOS[0], "V": RATIOS[k]}[shape]
    angle = {"I": 0.0, "E": ANGLES[0], "V": ANGLES[k]}[orientation]
    # semi-axes a, b with a * b = area and a / b = ratio
    long = np.sqrt(area * ratio)
    short = np.sqrt(area / ratio)
    return 2 * 1.5 * long, 2 * 1.5 * short, angle  # full widths


def main() -> Path:
    fig, axes = plt.subplots(2, 7, figsize=(14, 5.4))
    for ax, model in zip(axes.ravel(), MODELS, strict=True):
        for k, colour in enumerate(COLOURS):
            width, height, angle = component_axes(model, k)
            ax.add_patch(
                Ellipse(
                    CENTRES[k],
                    width,
                    height,
                    angle=angle,
                    facecolor=colour,
                    alpha=0.35,
                    edgecolor=colour,
                    linewidth=1.5,
                )
            )
            ax.plot(*CENTRES[k], "+", color=colour)
        title = model
        if model in MCLUST_TO_SKLEARN:
            title += f" ({MCLUST_TO_SKLEARN[model]})"
        ax.set_title(title, fontsize=11, fontweight="bold")
        volume, shape, orientation = (WORDS[letter] for letter in model)
        if shape == "I":
            shape, orientation = "round", "none"
        elif orientation == "I":
            orientation = "axes"
        ax.set_xlabel(
            f"volume {volume}, shape {shape},\norientation {orientation}",
            fontsize=8,
        )
        ax.set_xlim(-3.5, 9.0)
        ax.set_ylim(-3.0, 8.6)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "mclust's 14 covariance models, three components each: volume, shape and "
        "orientation are equal (E), vary (V) or are the identity (I: round, or "
        "along the axes)",
        fontsize=12,
    )
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=90)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
