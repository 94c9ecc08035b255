import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from napari_gmm._plot import plot_criterion_bars, selection_figure


def test_grouped_bars_show_every_candidate_and_star_the_winner(seed_result):
    ax = Figure().add_subplot()
    bars = plot_criterion_bars(ax, seed_result)
    assert list(bars) == ["spherical", "tied", "diag", "full"]
    heights = {t: [b.get_height() for b in c] for t, c in bars.items()}
    table = seed_result.table
    for covariance_type, values in heights.items():
        expected = table.loc[table.covariance_type == covariance_type, "bic"]
        np.testing.assert_allclose(values, expected)
    (star,) = [t for t in ax.texts if t.get_text() == "*"]
    winner = bars["full"][1]  # K = 2
    x, y = star.xy
    assert x == winner.get_x() + winner.get_width() / 2
    assert y == winner.get_height()


def test_selection_figure_draws_both_panels(seed_X, seed_result):
    figure = selection_figure(seed_result, seed_X, radius=2.0)
    top, bottom = figure.axes
    assert len(top.patches) == 24
    assert len(bottom.patches) == 2  # one ellipse per component
    assert "full model, 2 components" in bottom.get_title()
