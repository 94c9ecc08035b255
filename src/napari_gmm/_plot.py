"""Criterion plots with matplotlib (no Qt): used in the dock and the headless demo."""

from __future__ import annotations

import numpy as np

from ._colors import (
    COVARIANCE_TYPE_COLORS,
    MODEL_FAMILY_COLORS,
    component_colors,
    label_colors,
)
from .core import SweepResult, assign
from .core.geometry import ellipse_outline, model_covariances
from .core.parsimonious import MODELS, SKLEARN_TO_MCLUST

#: Criterion differences below this are drawn on a linear scale, larger
#: ones logarithmically (10 is "very strong" evidence for BIC).
DELTA_LINEAR_UP_TO = 10.0
#: Height below zero where every bar starts, as a share of the linear range:
#: the best candidate (difference 0) is a bar that can be seen and clicked.
BASELINE_SHARE = 0.5
#: Share of the height the linear part of the scale keeps (about).
LINEAR_SHARE = 0.4
#: Most covariance types drawn as grouped bars; more (mclust's models) are
#: drawn as one line per model (:func:`plot_criterion_lines`).
MAX_BAR_SERIES = 4
#: Marker of each of mclust's shape-and-orientation pairs (a model's last two
#: letters), shared by the equal- and varying-volume models of the pair.
MODEL_FAMILY_MARKERS = {
    "II": "o",
    "EI": "s",
    "VI": "D",
    "EE": "^",
    "VE": "v",
    "EV": "<",
    "VV": ">",
}


def plot_criterion(ax, result: SweepResult, labels=None, unit: str = "components"):
    """The criterion plot: bars for up to four covariance types, lines for more.

    Returns ``{covariance_type: artist}``: a BarContainer per type from
    :func:`plot_criterion_bars`, a Line2D per model from
    :func:`plot_criterion_lines` (whose legend uses mclust's letters, so
    ``labels`` only applies to the bars).
    """
    if len(result.table["covariance_type"].unique()) > MAX_BAR_SERIES:
        return plot_criterion_lines(ax, result, unit=unit)
    return plot_criterion_bars(ax, result, labels=labels, unit=unit)


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
    types, ks, deltas = _criterion_deltas(result)
    base = BASELINE_SHARE * DELTA_LINEAR_UP_TO
    width = 0.8 / len(types)
    bars = {}
    for i, covariance_type in enumerate(types):
        x = ks + width * (i - (len(types) - 1) / 2)
        bars[covariance_type] = ax.bar(
            x,
            deltas[i] + base,
            bottom=-base,
            width=width,
            color=COVARIANCE_TYPE_COLORS[covariance_type],
            label=(labels or {}).get(covariance_type, covariance_type),
        )
    if "chosen_fraction" in result.table:  # stability over seeds
        _draw_stability(ax, result, types, ks, width, offset=_best_value(result))
    _delta_scale(ax, deltas)
    best_k, best_type = result.best_key
    _star(ax, best_k + width * (types.index(best_type) - (len(types) - 1) / 2))
    _axis_labels(ax, result, ks, unit)
    # above the axes, so that it never hides a bar; mclust's 14 models (when
    # called directly with them) in two rows of 7, not seven rows of 2
    many = len(types) > MAX_BAR_SERIES
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


def plot_criterion_lines(ax, result: SweepResult, unit: str = "components") -> dict:
    """One line with markers per covariance model over K, as mclust's BIC plot.

    For sweeps of mclust's models, where 14 bars per K would be unreadable.
    The vertical axis is the one of :func:`plot_criterion_bars` (difference
    to the best, linear then logarithmic). Models are drawn and listed in
    mclust's order and named by its letters; the two models that differ only
    in volume share a color and a marker (:data:`MODEL_FAMILY_COLORS`), equal
    volume (E..) dashed with open markers, varying volume (V..) solid and
    filled. Failed candidates are gaps (NaN), as they have no bar.

    Returns
    -------
    dict
        ``{covariance_type: Line2D}`` in mclust's order, points in
        n_components order.
    """
    types, ks, deltas = _criterion_deltas(result)
    order = sorted(range(len(types)), key=lambda i: MODELS.index(_letters(types[i])))
    lines = {}
    for i in order:
        (lines[types[i]],) = ax.plot(
            ks, deltas[i], label=_letters(types[i]), **_model_style(types[i])
        )
    if "chosen_fraction" in result.table:  # stability over seeds
        _draw_stability(ax, result, types, ks, 0.0, offset=_best_value(result))
    _delta_scale(ax, deltas)
    _star(ax, result.best_key[0])
    _axis_labels(ax, result, ks, unit)
    ax.set_xlim(ks[0] - 0.4, ks[-1] + 0.4)
    # above the axes, E.. models over their V.. twins: 7 columns of 2
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        fontsize="x-small",
        ncols=int(np.ceil(len(lines) / 2)),
        frameon=False,
        handlelength=2.2,
        handletextpad=0.3,
        columnspacing=0.6,
        borderaxespad=0.2,
    )
    return lines


def _letters(covariance_type: str) -> str:
    """mclust's three letters of a covariance type ('VVV' for 'full')."""
    return SKLEARN_TO_MCLUST.get(covariance_type, covariance_type)


def _model_style(covariance_type: str) -> dict:
    """Line and marker of a model: color and marker by its shape and
    orientation letters, dashed and open when its volume is equal (E)."""
    letters = _letters(covariance_type)
    family = letters[1:]
    color = MODEL_FAMILY_COLORS[family]
    equal = letters[0] == "E"
    return {
        "color": color,
        "marker": MODEL_FAMILY_MARKERS[family],
        "markersize": 5,
        "markerfacecolor": "white" if equal else color,
        "markeredgecolor": color,
        "linestyle": (0, (3, 1.5)) if equal else "-",
        "linewidth": 1.2,
    }


def _criterion_deltas(result: SweepResult):
    """Covariance types (sweep order), the Ks, and each candidate's criterion
    minus the best's, shape (n_types, n_k), NaN for failed candidates."""
    types = list(dict.fromkeys(result.table["covariance_type"]))
    ks = np.array(sorted(result.table["n_components"].unique()))
    deltas = result.criterion_values() - _best_value(result)
    return types, ks, np.where(np.isfinite(deltas), deltas, np.nan)


def _best_value(result: SweepResult) -> float:
    """The chosen candidate's criterion."""
    best_k, best_type = result.best_key
    table = result.table
    row = (table["n_components"] == best_k) & (table["covariance_type"] == best_type)
    return float(table.loc[row, result.criterion].iloc[0])


def _delta_scale(ax, deltas: np.ndarray) -> None:
    """Linear up to :data:`DELTA_LINEAR_UP_TO`, logarithmic above; from a
    little below zero."""
    finite = deltas[np.isfinite(deltas)]
    high = max(float(finite.max()), DELTA_LINEAR_UP_TO)
    # the linear part (differences up to 10, where evidence grades change)
    # keeps about 40 % of the height however many decades the rest spans
    decades = np.log10(high / DELTA_LINEAR_UP_TO)
    linscale = max(1.0, LINEAR_SHARE / (1 - LINEAR_SHARE) * decades * 0.9)
    ax.set_yscale("symlog", linthresh=DELTA_LINEAR_UP_TO, linscale=linscale)
    base = BASELINE_SHARE * DELTA_LINEAR_UP_TO
    ax.set_ylim(-base, high * (1.6 if high > DELTA_LINEAR_UP_TO else 1.15))
    ax.axhline(0.0, color="0.3", lw=0.6)


def _star(ax, x: float) -> None:
    """The '*' just above the chosen candidate (at x, difference 0)."""
    ax.annotate(
        "*",
        (x, 0.0),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=16,
        fontweight="bold",
    )


def _axis_labels(ax, result: SweepResult, ks, unit: str) -> None:
    name = result.criterion.upper()
    # cross-validation is not an information criterion: say what it is
    measure = "CV: −2 × held-out log L" if result.criterion == "cv" else name
    ax.set_xticks(ks)
    ax.set_xlabel(f"Number of {unit}  (* = chosen)")
    ax.set_ylabel(f"Δ{measure} to the best")


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
    plot_criterion(top, result)
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
