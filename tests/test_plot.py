import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from napari_gmm import sweep
from napari_gmm._plot import plot_criterion, plot_criterion_bars, selection_figure
from napari_gmm.core.criteria import COVARIANCE_TYPES, MODEL_TYPES
from napari_gmm.core.parsimonious import MODELS, SKLEARN_TO_MCLUST

#: The dock's order with "+ 10 more shapes": scikit-learn's four, then the ten.
DOCK_ORDER = (*COVARIANCE_TYPES, *(m for m in MODEL_TYPES if m not in COVARIANCE_TYPES))


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


@pytest.fixture(scope="module")
def models_result():
    """All 14 models on two clusters; K = 30 > the 30 points fails for all."""
    rng = np.random.default_rng(1)
    X = np.concatenate(
        [rng.normal([0, 0], [1, 0.3], (15, 2)), rng.normal([6, 3], [0.3, 1], (15, 2))]
    )
    return sweep(X, n_components=[1, 2, 3, 30], covariance_types=DOCK_ORDER)


def test_four_types_stay_bars(seed_result):
    artists = plot_criterion(Figure().add_subplot(), seed_result)
    assert all(isinstance(a, BarContainer) for a in artists.values())
    assert len(artists) == 4


def test_fourteen_models_are_one_line_each_in_mclust_order(models_result):
    ax = Figure().add_subplot()
    lines = plot_criterion(ax, models_result)
    assert [SKLEARN_TO_MCLUST.get(t, t) for t in lines] == list(MODELS)
    assert all(isinstance(line, Line2D) for line in lines.values())
    assert len(ax.patches) == 0  # no bars
    table = models_result.table
    best = table["bic"].min()
    for covariance_type, line in lines.items():
        rows = table[table.covariance_type == covariance_type]
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 30])
        # ΔBIC to the best, NaN (a gap, no marker) where the fit failed
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.isnan(y[3]) and not np.isfinite(rows["bic"].iloc[3])
        np.testing.assert_allclose(y[:3], rows["bic"].iloc[:3] - best, atol=1e-9)
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == list(MODELS)
    assert "ΔBIC" in ax.get_ylabel()
    assert ax.get_yscale() == "symlog"


def test_models_differing_only_in_volume_share_color_and_marker(models_result):
    lines = plot_criterion(Figure().add_subplot(), models_result)
    by_letters = {SKLEARN_TO_MCLUST.get(t, t): line for t, line in lines.items()}
    families = set()
    for letters, line in by_letters.items():
        twin = by_letters[("V" if letters[0] == "E" else "E") + letters[1:]]
        assert line.get_color() == twin.get_color()
        assert line.get_marker() == twin.get_marker()
        # equal volume: dashed, open; varying volume: solid, filled
        assert (line.get_linestyle() == "-") == (letters[0] == "V")
        assert (line.get_markerfacecolor() == "white") == (letters[0] == "E")
        families.add((line.get_color(), line.get_marker()))
    assert len(families) == 7


def test_star_marks_the_chosen_model_on_its_line(models_result):
    ax = Figure().add_subplot()
    lines = plot_criterion(ax, models_result)
    best_k, best_type = models_result.best_key
    (star,) = [t for t in ax.texts if t.get_text() == "*"]
    assert star.xy == (best_k, 0.0)
    line = lines[best_type]
    assert line.get_ydata()[list(line.get_xdata()).index(best_k)] == 0.0
