"""Criterion plots with matplotlib (no Qt): used in the dock and the headless demo."""

from __future__ import annotations

import numpy as np

from ._colors import COVARIANCE_TYPE_COLORS, component_colors, label_colors
from .core import SweepResult, assign
from .core.geometry import ellipse_outline, model_covariances

#: Criterion differences below this are drawn on a linear scale, larger
#: ones logarithmically (10 is "very strong" evidence for BIC).
DELTA_LINEAR_UP_TO = 10.0
#: Height below zero where every bar starts, as a share of the linear range:
#: the best candidate (difference 0) is a bar that can be seen and clicked.
BASELINE_SHARE = 0.5
#: Share of the height the linear part of the scale keeps (about).
LINEAR_SHARE = 0.4


def plot_criterion_bars(
    ax, result: SweepResult, labels=None, unit: str = "components"
) -> dict:
    """Grouped bars of each candidate's criterion minus the best's, star on the choice.

    One group per number of components, one bar per covariance type (as in
    scikit-learn's model-selection example). Bars show the difference to the
    best candidate (ΔBIC, 0 for the best) on a scale that is linear up to
    :data:`DELTA_LINEAR_UP_TO` and logarithmic above, and all start a little
    below zero, so that the best and near-best bars are visible and clickable
    whatever the criterion's values. Failed candidates have no bar.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    result : SweepResult
    labels : dict, optional
        Legend name per covariance type (default: the type's own name).
    unit : str
        What a component is called on the horizontal axis.

    Returns
    -------
    dict
        ``{covariance_type: BarContainer}``, bars in n_components order.
    """
    table = result.table
    types = list(dict.fromkeys(table["covariance_type"]))
    ks = np.array(sorted(table["n_components"].unique()))
    values = result.criterion_values()  # (n_types, n_k)
    best_k, best_type = result.best_key
    best_value = values[types.index(best_type), list(ks).index(best_k)]
    deltas = values - best_value
    base = BASELINE_SHARE * DELTA_LINEAR_UP_TO
    width = 0.8 / len(types)
    bars = {}
    for i, covariance_type in enumerate(types):
        x = ks + width * (i - (len(types) - 1) / 2)
        heights = np.where(np.isfinite(deltas[i]), deltas[i] + base, np.nan)
        bars[covariance_type] = ax.bar(
            x,
            heights,
            bottom=-base,
            width=width,
            color=COVARIANCE_TYPE_COLORS[covariance_type],
            label=(labels or {}).get(covariance_type, covariance_type),
        )
    if "chosen_fraction" in table:  # stability over seeds: spread and choices
        _draw_stability(ax, result, types, ks, width, offset=best_value)
    finite = deltas[np.isfinite(deltas)]
    high = max(float(finite.max()), DELTA_LINEAR_UP_TO)
    # the linear part (differences up to 10, where evidence grades change)
    # keeps about 40 % of the height however many decades the rest spans
    decades = np.log10(high / DELTA_LINEAR_UP_TO)
    linscale = max(1.0, LINEAR_SHARE / (1 - LINEAR_SHARE) * decades * 0.9)
    ax.set_yscale("symlog", linthresh=DELTA_LINEAR_UP_TO, linscale=linscale)
    ax.set_ylim(-base, high * (1.6 if high > DELTA_LINEAR_UP_TO else 1.15))
    ax.axhline(0.0, color="0.3", lw=0.6)
    best_x = best_k + width * (types.index(best_type) - (len(types) - 1) / 2)
    ax.annotate(
        "*",
        (best_x, 0.0),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=16,
        fontweight="bold",
    )
    name = result.criterion.upper()
    # cross-validation is not an information criterion: say what it is
    measure = "CV: −2 × held-out log L" if result.criterion == "cv" else name
    ax.set_xticks(ks)
    ax.set_xlabel(f"Number of {unit}  (* = chosen)")
    ax.set_ylabel(f"Δ{measure} to the best")
    # above the axes, so that it never hides a bar; mclust's 14 models in
    # two rows of 7 (in mclust's order, the table's), not seven rows of 2
    many = len(types) > 4
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        fontsize="x-small" if many else "small",
        ncols=int(np.ceil(len(types) / 2)) if many else 2,
        frameon=False,
        handlelength=1.0 if many else 2.0,
        columnspacing=0.8 if many else 2.0,
    )
    return bars


def _draw_stability(ax, result, types, ks, width, offset=0.0) -> None:
    """Min-max whiskers of the criterion over seeds; % of seeds choosing it."""
    table = result.table
    criterion = result.criterion
    for i, covariance_type in enumerate(types):
        rows = table[table.covariance_type == covariance_type].set_index("n_components")
        rows = rows.reindex(ks)
        x = ks + width * (i - (len(types) - 1) / 2)
        low = rows[criterion] - rows[f"{criterion}_min"]
        high = rows[f"{criterion}_max"] - rows[criterion]
        ax.errorbar(
            x,
            rows[criterion] - offset,
            yerr=np.vstack([low.fillna(0), high.fillna(0)]),
            fmt="none",
            ecolor="black",
            elinewidth=1,
            capsize=2,
        )
        for xi, fraction, value in zip(
            x, rows["chosen_fraction"], rows[f"{criterion}_max"] - offset, strict=True
        ):
            if fraction > 0:
                ax.annotate(
                    f"{fraction:.0%}",
                    (xi, value),
                    xytext=(0, 12),
                    textcoords="offset points",
                    ha="center",
                    fontsize="x-small",
                )


def plot_mixture_2d(
    ax,
    model,
    X: np.ndarray,
    radius: float,
    dims=(0, 1),
    colors=None,
    names=None,
    center=None,
    scale=None,
) -> None:
    """Scatter of ``X`` colored by component with one ellipse per component.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    model : GaussianMixture
        Fitted on ``X``'s columns.
    X : ndarray of shape (n_samples, n_features)
    radius : float
        Mahalanobis radius of the ellipses.
    dims : tuple of two ints
        Columns drawn on the horizontal and vertical axes.
    colors : ndarray of shape (n_components, 4), optional
    names : sequence of str, optional
        Column names for the axis labels.
    center, scale : ndarray of shape (n_features,), optional
        When ``X`` was standardized, ``X * scale + center`` is drawn instead,
        so the axes are in the data's own units (a linear map sends the
        ellipses to ellipses exactly).
    """
    X = np.asarray(X, dtype=float)
    dims = list(dims)
    labels = assign(model, X).labels
    center = np.zeros(X.shape[1]) if center is None else np.asarray(center)[dims]
    scale = np.ones(X.shape[1]) if scale is None else np.asarray(scale)[dims]
    shown = X[:, dims] * scale + center
    colors = component_colors(model.n_components) if colors is None else colors
    ax.scatter(shown[:, 0], shown[:, 1], s=2, c=label_colors(colors, labels))
    for k, covariance in enumerate(model_covariances(model)):
        outline = ellipse_outline(
            model.means_[k, dims], covariance[np.ix_(dims, dims)], radius
        )
        outline = outline * scale + center
        ax.fill(*outline.T, color=colors[k], alpha=0.3, lw=1.5, ec=colors[k])
    if names is None:
        ax.set_aspect("equal", adjustable="datalim")
    names = names or [f"feature {d}" for d in range(X.shape[1])]
    ax.set_xlabel(names[dims[0]])
    ax.set_ylabel(names[dims[1]])
    ax.set_title(
        f"Selected GMM: {model.covariance_type} model, {model.n_components} components"
    )


def selection_figure(
    result: SweepResult,
    X: np.ndarray,
    radius: float,
    names=None,
    center=None,
    scale=None,
):
    """The two panels of the scikit-learn example: criterion bars and the winner.

    ``names``, ``center`` and ``scale`` are passed to :func:`plot_mixture_2d`
    (first two features drawn).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 9), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(1, 1.3))
    plot_criterion_bars(top, result)
    if result.n_features >= 2:
        plot_mixture_2d(
            bottom, result.best, X, radius, names=names, center=center, scale=scale
        )
    else:
        bottom.set_axis_off()
    return figure


def plot_intensity_histogram(ax, histogram, model, colors=None, thresholds=None):
    """One-channel histogram with each fitted component's density, in counts.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    histogram : PixelHistogram
        One channel.
    model : GaussianMixture
        Fitted on ``histogram.values`` (features).
    colors : ndarray of shape (n_components, 4), optional
    thresholds : sequence of float, optional
        Drawn as vertical lines (in feature units).
    """
    values = histogram.values[:, 0]
    counts = histogram.counts
    step = float(histogram.step[0]) or 1.0
    colors = component_colors(model.n_components) if colors is None else colors
    ax.bar(values, counts, width=step, color="0.75", label="pixels")
    sigmas = np.sqrt(model_covariances(model)[:, 0, 0])
    low = min(values.min(), (model.means_[:, 0] - 4 * sigmas).min())
    high = max(values.max(), (model.means_[:, 0] + 4 * sigmas).max())
    grid = np.linspace(low, high, 800)
    total = np.zeros_like(grid)
    scale = counts.sum() * step  # density -> expected count per value
    for k in range(model.n_components):
        density = np.exp(-0.5 * ((grid - model.means_[k, 0]) / sigmas[k]) ** 2) / (
            sigmas[k] * np.sqrt(2 * np.pi)
        )
        expected = scale * model.weights_[k] * density
        total += expected
        ax.plot(grid, expected, color=colors[k], lw=2, label=f"class {k + 1}")
    ax.plot(grid, total, color="black", lw=1, ls="--", label="mixture")
    for threshold in thresholds if thresholds is not None else ():
        ax.axvline(threshold, color="black", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_ylim(0.5, 2.0 * max(counts.max(), total.max()))
    ax.set_xlim(low, high)
    ax.set_xlabel("log1p(intensity)" if histogram.log_transform else "intensity")
    ax.set_ylabel("pixels per value")
    ax.legend(fontsize="small", ncols=2)


def plot_histogram_2d(
    ax, histogram, model, radius: float, colors=None, dims=(0, 1), names=None
):
    """2-D histogram of two channels with each component's ellipse.

    ``names`` are the channels' names (e.g. red, green, blue) for the axes.
    """
    from matplotlib.colors import LogNorm

    dims = list(dims)
    colors = component_colors(model.n_components) if colors is None else colors
    counts, x_edges, y_edges = np.histogram2d(
        histogram.values[:, dims[0]],
        histogram.values[:, dims[1]],
        bins=128,
        weights=histogram.counts,
    )
    ax.pcolormesh(
        x_edges,
        y_edges,
        np.where(counts > 0, counts, np.nan).T,
        cmap="Greys",
        norm=LogNorm(),
    )
    for k, covariance in enumerate(model_covariances(model)):
        outline = ellipse_outline(
            model.means_[k, dims], covariance[np.ix_(dims, dims)], radius
        )
        ax.plot(*np.vstack([outline, outline[:1]]).T, color=colors[k], lw=2)
    if names is None:
        names = [f"channel {c}" for c in range(histogram.values.shape[1])]
    ax.set_xlabel(names[dims[0]])
    ax.set_ylabel(names[dims[1]])
