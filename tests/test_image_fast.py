"""Faster image sweeps: one fit per distinct 1-D model, coarse histogram first."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_gmm.core import segment as segment_module
from napari_gmm.core.equivalent import (
    convert_one_feature,
    equivalent_candidates,
)
from napari_gmm.core.noise import warm_start
from napari_gmm.core.pixels import coarsen, compress_image
from napari_gmm.core.segment import iter_segment_image, segment_image
from napari_gmm.core.starts import start_partitions
from napari_gmm.core.sweep import drive, iter_sweep, sweep

TYPES = ("spherical", "tied", "diag", "full")


def _wide_uint16_image(seed=0, shape=(128, 128)):
    """Three smooth classes with wide noise: thousands of distinct values."""
    rng = np.random.default_rng(seed)
    blobs = ndi.gaussian_filter(rng.normal(size=shape), 6)
    classes = (blobs > 0.0).astype(int) + (blobs > 0.04)
    means = np.array([8000.0, 20000.0, 40000.0])[classes]
    sds = np.array([900.0, 1500.0, 2500.0])[classes]
    values = means + sds * rng.normal(size=shape)
    return np.clip(np.rint(values), 0, 65535).astype(np.uint16)


# ------------------------------------------------------------------ coarsen


def test_coarsen_keeps_counts_and_cell_means():
    rng = np.random.default_rng(0)
    values = np.unique(rng.integers(0, 5000, 3000)).astype(float)
    counts = rng.integers(1, 20, len(values)).astype(float)
    coarse = coarsen(values, counts, 1.0, 256)
    assert coarse.n_values <= 256
    width = float(coarse.width[0])
    assert width == 2 ** int(np.log2(width)) and width > 1
    assert coarse.counts.sum() == counts.sum()
    # every cell is the exact count-weighted mean of the values it merges
    cell = np.floor((values - values.min()) / width)
    for c, mean in zip(np.unique(cell), coarse.values[:, 0], strict=True):
        inside = cell == c
        assert mean == pytest.approx(np.average(values[inside], weights=counts[inside]))
    # the weighted mean of the whole histogram is unchanged
    assert np.average(coarse.values[:, 0], weights=coarse.counts) == pytest.approx(
        np.average(values, weights=counts)
    )


def test_coarsen_needs_many_values_and_handles_channels():
    values = np.arange(100.0)[:, None]
    assert coarsen(values, np.ones(100), 1.0, 100) is None  # already small
    rng = np.random.default_rng(1)
    rgb = np.unique(rng.integers(0, 256, (20000, 3)), axis=0).astype(float)
    counts = np.ones(len(rgb))
    coarse = coarsen(rgb, counts, np.ones(3), 512)
    assert coarse.n_values <= 512 and coarse.values.shape[1] == 3
    assert coarse.counts.sum() == len(rgb)
    assert np.all(coarse.width == coarse.width[0])


# ------------------------------------------------------- equivalent models


def test_one_feature_twins_only():
    candidates = [(k, t) for t in TYPES for k in (1, 2)]
    twins = equivalent_candidates(candidates, 1)
    assert twins == {0: 6, 1: 7, 4: 6, 5: 7}  # spherical and diag copy full
    assert equivalent_candidates(candidates, 2) == {}
    without_full = [(k, t) for k, t in candidates if t != "full"]
    assert equivalent_candidates(without_full, 1) == {0: 4, 1: 5}  # diag next


def test_one_feature_sweep_fits_each_model_once():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 2, 200)])[:, None]
    result = sweep(X, n_components=range(1, 4))
    table = result.table.set_index(["n_components", "covariance_type"])
    for k in (1, 2, 3):
        row = table.loc[(k, "full")]
        for twin in ("spherical", "diag"):
            other = table.loc[(k, twin)]
            # the same model: equal criteria, not just equal to rounding
            assert other.bic == row.bic and other.icl == row.icl
            assert other.n_parameters == row.n_parameters
            assert other.message == row.message and other.fit_time_s == 0
            model = result.models[(k, twin)]
            assert model.covariance_type == twin
            shape = (k, 1) if twin == "diag" else (k,)
            assert model.covariances_.shape == shape
            assert model.precisions_cholesky_.shape == shape
            full = result.models[(k, "full")]
            np.testing.assert_allclose(
                model.score_samples(X), full.score_samples(X), rtol=1e-12
            )
            np.testing.assert_array_equal(model.predict(X), full.predict(X))
    # the tie goes to the simplest row
    assert result.best_key[1] in ("spherical", "tied")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_converted_model_equals_a_real_fit():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 1.5, 200)])[:, None]
    result = sweep(X, n_components=[2], covariance_types=["full"])
    full = result.models[(2, "full")]
    for twin in ("spherical", "diag"):
        model = convert_one_feature(full, twin)
        # refitting it warm as a real diag/full model stays where it is
        refit = type(model)(**{**model.get_params(), **warm_start(model)})
        refit.set_params(max_iter=3)
        refit.fit(X)
        np.testing.assert_allclose(refit.means_, model.means_, atol=1e-4)


def test_one_feature_starts_are_shared_between_families():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(0, 1, 150), rng.normal(4, 1, 150)])[:, None]
    partitions = start_partitions(X, None, range(1, 5), 0)
    for (method, k, family), labels in partitions.items():
        other = partitions[(method, k, "spherical" if family == "" else "")]
        np.testing.assert_array_equal(labels, other)


# ------------------------------------------------------- given starts


def test_given_starts_continue_the_given_fits():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 1, 300)])
    X = np.column_stack([X, rng.normal(size=600)])
    first = sweep(X, n_components=range(1, 4))
    starts = {key: warm_start(model) for key, model in first.models.items()}
    again = drive(iter_sweep(X, n_components=range(1, 4), starts=starts))
    t1 = first.table.set_index(["n_components", "covariance_type"])
    t2 = again.table.set_index(["n_components", "covariance_type"])
    assert set(t2.start) == {"given"}
    # continued from converged fits: never worse, and they stay put
    assert np.all(t2.bic <= t1.bic + 0.1)
    assert np.all(t2.n_iter <= t1.n_iter)


# ------------------------------------------------- coarse histogram first


@pytest.fixture(scope="module")
def wide_image():
    return _wide_uint16_image()


def test_coarse_first_is_taken_for_many_values(wide_image, monkeypatch):
    histogram = compress_image(wide_image)
    assert histogram.n_values > 2 * 1024
    monkeypatch.setattr(segment_module, "COARSE_VALUES", 1024)
    fits = []
    generator = iter_segment_image(wide_image, n_components=range(1, 4))
    while True:
        try:
            fits.append(next(generator))
        except StopIteration as stop:
            result = stop.value
            break
    n = 3 * 4
    # progress counts both passes: the coarse one, then the exact one
    assert [f.index for f in fits] == list(range(2 * n))
    assert {f.total for f in fits} == {2 * n}
    assert all(start.endswith(" (coarse)") for start in result.table.start)
    # the table is the exact histogram's: BIC on all pixels
    assert result.sweep.n_samples == wide_image.size
    assert any("coarse cells" in m for m in result.sweep.messages)


def test_coarse_first_is_as_good_as_the_exact_sweep(wide_image, monkeypatch):
    """Every candidate's BIC within 0.1 of (or better than) the exact sweep
    up to the image's 3 classes. The overfitted K = 4 has several basins
    a few BIC apart, and which one either pass reaches depends on its
    starts (the exact sweep, on 9,583 distinct values, ended 3.4 lower once
    basins its 5,000-row subsample cannot rank were probed on all values,
    session 11; before, it was the one 0.6 above): within 10 there."""
    kwargs = {"n_components": range(1, 5)}
    monkeypatch.setattr(segment_module, "COARSE_VALUES", None)
    exact = segment_image(wide_image, **kwargs)
    monkeypatch.setattr(segment_module, "COARSE_VALUES", 1024)
    fast = segment_image(wide_image, **kwargs)
    t_exact = exact.table.set_index(["n_components", "covariance_type"])
    t_fast = fast.table.set_index(["n_components", "covariance_type"])
    up_to_3 = t_exact.index.get_level_values("n_components") <= 3
    assert np.all(t_fast.bic[up_to_3] <= t_exact.bic[up_to_3] + 0.1)
    assert np.all(t_fast.bic[~up_to_3] <= t_exact.bic[~up_to_3] + 10.0)
    assert fast.sweep.best_key == exact.sweep.best_key == (3, "spherical")
    np.testing.assert_array_equal(fast.labels, exact.labels)


def test_coarse_first_not_for_few_values_or_the_sklearn_preset(wide_image):
    small = segment_image(wide_image // 64, n_components=range(1, 3))
    assert not any("coarse" in start for start in small.table.start)
    sk = segment_image(wide_image, n_components=range(1, 3), preset="sklearn")
    assert not any("coarse" in start for start in sk.table.start)


def test_one_feature_rows_come_in_sweep_order():
    """Progress sees every row once, in sweep order (the widget's bar)."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 1, 200)])[:, None]
    generator = iter_sweep(X, n_components=range(1, 4))
    seen = []
    while True:
        try:
            fit = next(generator)
        except StopIteration as stop:
            result = stop.value
            break
        seen.append((fit.index, fit.key))
    keys = [(k, t) for t in TYPES for k in (1, 2, 3)]
    assert seen == list(enumerate(keys))
    table = result.table
    assert list(zip(table.n_components, table.covariance_type, strict=True)) == keys


def test_coarse_first_not_for_colour(monkeypatch):
    rng = np.random.default_rng(6)
    image = rng.integers(0, 4000, size=(40, 40, 2)).astype(np.uint16)
    monkeypatch.setattr(segment_module, "COARSE_VALUES", 256)
    result = segment_image(image, channel_axis=-1, n_components=range(1, 3))
    assert result.histogram.n_values > 2 * 256
    assert not any("coarse" in start for start in result.table.start)
