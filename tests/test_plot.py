import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from napari_gmm._plot import plot_criterion_bars, selection_figure


def test_grouped_bars_show_every_candidate_and_star_the_winner(seed_result):
    ax = Figure().add_subplot()
    bars = plot_criterion_bars(ax, seed_result)
    assert list(bars) == ["spherical", "tied", "diag", "full"]
    # bars show ΔBIC to the best and all start at one baseline below 0
    tops = {t: [b.get_y() + b.get_height() for b in c] for t, c in bars.items()}
    table = seed_result.table
    best = table["bic"].min()
    for covariance_type, values in tops.items():
        expected = table.loc[table.covariance_type == covariance_type, "bic"] - best
        np.testing.assert_allclose(values, expected, atol=1e-6)
    (star,) = [t for t in ax.texts if t.get_text() == "*"]
    winner = bars["full"][1]  # K = 2
    x, y = star.xy
    assert x == winner.get_x() + winner.get_width() / 2
    assert y == 0.0
    assert "ΔBIC" in ax.get_ylabel()


def test_the_best_bar_is_visible_whatever_the_values(seed_result):
    """Huge criterion values with tiny differences: the best bar is still tall
    enough to see and click (was a sliver above an axis starting near it)."""
    ax = Figure(figsize=(4, 3), dpi=100).add_subplot()
    bars = plot_criterion_bars(ax, seed_result)
    ax.figure.canvas.draw()
    winner = bars["full"][1]
    extent = winner.get_window_extent()
    axes_height = ax.get_window_extent().height
    assert extent.height >= 0.1 * axes_height
    assert ax.get_ylim()[0] <= winner.get_y()


def test_selection_figure_draws_both_panels(seed_X, seed_result):
    figure = selection_figure(seed_result, seed_X, radius=2.0)
    top, bottom = figure.axes
    assert len(top.patches) == 24
    assert len(bottom.patches) == 2  # one ellipse per component
    assert "full model, 2 components" in bottom.get_title()
