"""Histogram compression of image pixels and label lookup, checked pixel by pixel."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from napari_gmm.core.pixels import (
    PixelHistogram,
    compress_image,
    label_image,
    value_map_image,
)

da = pytest.importorskip("dask.array")
skdata = pytest.importorskip("skimage.data")


# --------------------------------------------------------------------------
# Helpers: the answers, computed the slow and obvious way


def _channels_last(image, channel_axis):
    """Pixels as an (N, C) float array, from an array or a list of channels."""
    if isinstance(image, list):
        return np.stack([np.asarray(c).ravel() for c in image], axis=1).astype(float)
    image = np.asarray(image)
    if channel_axis is None:
        return image.reshape(-1, 1).astype(float)
    moved = np.moveaxis(image, channel_axis, -1)
    return moved.reshape(-1, moved.shape[-1]).astype(float)


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])]


def _expanded(histogram):
    """Every counted pixel's value, from the histogram."""
    counts = histogram.counts.astype(np.int64)
    assert np.array_equal(counts, histogram.counts)  # whole numbers
    return np.repeat(histogram.values, counts, axis=0)


def _assert_histograms_equal(a, b):
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.step, b.step)
    assert (a.n_pixels, a.n_excluded, a.exact) == (b.n_pixels, b.n_excluded, b.exact)
    assert a.excluded == b.excluded
    assert a.description == b.description


def _uint16_image(shape=(96, 80), seed=0):
    """Three intensity classes with camera-like noise, uint16."""
    rng = np.random.default_rng(seed)
    regions = ndimage.gaussian_filter(rng.random(shape), 4)
    classes = np.digitize(regions, np.quantile(regions, [0.5, 0.8]))
    means = np.array([400.0, 1500.0, 3000.0])
    return np.clip(rng.normal(means[classes], 120.0), 0, 65535).astype(np.uint16)


def _exact_cases():
    rng = np.random.default_rng(1)
    coins = skdata.coins()
    return {
        "uint8 coins": (coins, None),
        "uint16": (_uint16_image(), None),
        "bool": (skdata.coins() > 100, None),
        "int16 with negatives": (
            rng.integers(-300, 200, size=(40, 50)).astype(np.int16),
            None,
        ),
        "int32 wide range": (
            rng.integers(-(2**30), 2**30, size=(30, 20)).astype(np.int32),
            None,
        ),
        "uint64 large values": (
            np.uint64(2**40) + rng.integers(0, 50, size=(20, 20)).astype(np.uint64),
            None,
        ),
        "RGB channel_axis=-1": (skdata.immunohistochemistry(), -1),
        "(C, Y, X) channel_axis=0": (
            np.stack([_uint16_image(seed=2), _uint16_image(seed=3)]),
            0,
        ),
        "time stack (T, Z, Y, X)": (
            rng.integers(0, 4096, size=(3, 4, 30, 25)).astype(np.uint16),
            None,
        ),
        "list of channels": ([coins, coins // 3 + 7, (coins > 90)], None),
    }


EXACT = _exact_cases()


# --------------------------------------------------------------------------
# Exactness


@pytest.mark.parametrize("case", list(EXACT))
def test_exact_compression_repeats_to_every_pixel(case):
    image, channel_axis = EXACT[case]
    histogram = compress_image(image, channel_axis=channel_axis)
    pixels = _channels_last(image, channel_axis)
    assert histogram.exact
    np.testing.assert_array_equal(_expanded(histogram), _sorted_rows(pixels))
    assert histogram.n_pixels == len(pixels) == histogram.counts.sum()
    assert histogram.n_excluded == 0
    np.testing.assert_array_equal(histogram.step, np.ones(pixels.shape[1]))
    # rows are distinct and sorted lexicographically, keys strictly increasing
    assert len(np.unique(histogram.values, axis=0)) == histogram.n_values
    np.testing.assert_array_equal(
        np.lexsort(histogram.values.T[::-1]), np.arange(histogram.n_values)
    )
    assert np.all(np.diff(histogram.keys) > 0)
    assert "compressed exactly" in histogram.description


def test_realistic_images_compress_a_lot():
    cell = compress_image(skdata.cell())
    coins = compress_image(skdata.coins())
    ihc = compress_image(skdata.immunohistochemistry(), channel_axis=-1)
    assert cell.n_pixels == 660 * 550 and cell.n_values <= 256
    assert coins.n_pixels == 303 * 384 and coins.n_values <= 256
    assert ihc.n_pixels == 512 * 512 and ihc.values.shape[1] == 3
    assert ihc.compression_ratio > 4
    assert cell.description.startswith(f"363,000 pixels compressed exactly to {256}")


def test_float_image_with_few_values_is_exact():
    image = skdata.cell().astype(np.float32) / 4
    histogram = compress_image(image)
    assert histogram.exact
    np.testing.assert_array_equal(
        _expanded(histogram)[:, 0], np.sort(image.ravel().astype(float))
    )
    assert histogram.step[0] == pytest.approx(0.25)  # smallest gap of the values
    assert histogram.codings[0].kind == "exact"


def test_float_binning_counts_every_pixel_within_half_a_bin():
    rng = np.random.default_rng(3)
    image = skdata.cell().astype(np.float64) + rng.random(skdata.cell().shape)
    histogram = compress_image(image, n_bins=100)
    low, high = image.min(), image.max()
    width = (high - low) / 100
    assert not histogram.exact
    assert histogram.step[0] == pytest.approx(width)
    assert histogram.counts.sum() == histogram.n_pixels == image.size
    expected, _ = np.histogram(image, bins=100, range=(low, high))
    np.testing.assert_array_equal(histogram.counts, expected[expected > 0])
    rows = histogram.index_of(image)
    assert rows.min() >= 0
    distance = np.abs(histogram.values[rows, 0] - image)
    assert distance.max() <= width / 2 * (1 + 1e-9)
    assert "100 equal bins" in histogram.description
    assert f"bin width {width:.2g}" in histogram.description


def test_multichannel_float_bins_each_channel():
    rng = np.random.default_rng(4)
    rgb = skdata.immunohistochemistry().astype(np.float32) / 255
    rgb[..., 1] += rng.random(rgb.shape[:2], dtype=np.float32) * 0.5
    histogram = compress_image(rgb, channel_axis=-1, n_bins=256)
    kinds = [coding.kind for coding in histogram.codings]
    assert kinds == ["exact", "bins", "exact"]
    assert not histogram.exact
    assert histogram.n_pixels == 512 * 512
    rows = histogram.index_of(rgb)
    assert rows.min() >= 0
    np.testing.assert_array_equal(
        np.bincount(rows.ravel(), minlength=histogram.n_values), histogram.counts
    )
    error = np.abs(histogram.values[rows] - rgb.astype(float))
    assert error[..., [0, 2]].max() == 0
    assert error[..., 1].max() <= histogram.step[1] / 2 * (1 + 1e-6)


# --------------------------------------------------------------------------
# Transform and smoothing


def test_log_transform_of_integers_is_exact():
    image = _uint16_image()
    histogram = compress_image(image, log_transform=True)
    assert histogram.exact
    np.testing.assert_array_equal(
        _expanded(histogram)[:, 0], np.log1p(np.sort(image.ravel()).astype(float))
    )
    distinct = np.log1p(np.unique(image).astype(float))
    assert histogram.step[0] == pytest.approx(np.diff(distinct).min())
    assert "log1p" in histogram.description


def test_log_transform_of_floats_bins_in_log_space():
    rng = np.random.default_rng(5)
    image = rng.lognormal(3.0, 1.0, size=(60, 70))
    histogram = compress_image(image, log_transform=True, n_bins=50)
    features = np.log1p(image)
    width = (features.max() - features.min()) / 50
    assert histogram.step[0] == pytest.approx(width)
    expected, _ = np.histogram(
        features, bins=50, range=(features.min(), features.max())
    )
    np.testing.assert_array_equal(histogram.counts, expected[expected > 0])


def test_negative_values_with_log_transform_are_an_error():
    image = np.array([[3, -2], [5, 7]], dtype=np.int16)
    with pytest.raises(ValueError, match=r"log_transform needs.*down to -2"):
        compress_image(image, log_transform=True)
    with pytest.raises(ValueError, match=r"down to -0\.5"):
        compress_image(image.astype(float) / 4, log_transform=True)
    # masked-out negatives do not count
    histogram = compress_image(image, log_transform=True, mask=image >= 0)
    assert histogram.n_pixels == 3


def test_smoothing_equals_gaussian_filter_then_binning():
    image = skdata.coins()
    histogram = compress_image(image, smoothing_sigma=1.5)
    smoothed = ndimage.gaussian_filter(image.astype(np.float64), 1.5)
    reference = compress_image(smoothed)
    np.testing.assert_array_equal(histogram.values, reference.values)
    np.testing.assert_array_equal(histogram.counts, reference.counts)
    expected, _ = np.histogram(
        smoothed, bins=256, range=(smoothed.min(), smoothed.max())
    )
    np.testing.assert_array_equal(histogram.counts, expected[expected > 0])
    assert "sigma 1.5" in histogram.description


def test_smoothing_per_axis_spares_time():
    stack = np.stack([_uint16_image(seed=s) for s in range(4)])  # (T, Y, X)
    histogram = compress_image(stack, smoothing_sigma=(0, 2, 2), n_bins=128)
    smoothed = ndimage.gaussian_filter(stack.astype(np.float64), (0, 2, 2))
    expected, _ = np.histogram(
        smoothed, bins=128, range=(smoothed.min(), smoothed.max())
    )
    np.testing.assert_array_equal(histogram.counts, expected[expected > 0])
    with pytest.raises(ValueError, match="one number or 3 numbers"):
        compress_image(stack, smoothing_sigma=(1, 1))


# --------------------------------------------------------------------------
# Mask and exclusions


def test_mask_counts_only_pixels_inside():
    image = skdata.immunohistochemistry()
    mask = np.zeros(image.shape[:2], dtype=np.int32)
    mask[100:300, 50:400] = 3  # integer labels: nonzero keeps
    histogram = compress_image(image, channel_axis=-1, mask=mask)
    inside = image[mask != 0].astype(float)
    np.testing.assert_array_equal(_expanded(histogram), _sorted_rows(inside))
    assert histogram.excluded["outside mask"] == image.shape[0] * image.shape[1] - len(
        inside
    )
    assert histogram.n_excluded == histogram.excluded["outside mask"]
    assert "outside the mask" in histogram.description


def test_zero_and_saturated_pixels_are_dropped_if_any_channel_is():
    rgb = skdata.immunohistochemistry().copy()
    rgb[:10, :, 1] = 0
    rgb[-5:, :, 2] = 255
    histogram = compress_image(
        rgb, channel_axis=-1, exclude_zero=True, exclude_saturated=True
    )
    pixels = rgb.reshape(-1, 3)
    zero = (pixels == 0).any(axis=1)
    saturated = (pixels == 255).any(axis=1) & ~zero
    kept = pixels[~zero & ~saturated].astype(float)
    np.testing.assert_array_equal(_expanded(histogram), _sorted_rows(kept))
    assert histogram.excluded["zero"] == zero.sum()
    assert histogram.excluded["saturated"] == saturated.sum()
    assert histogram.saturation == (255.0, 255.0, 255.0)
    assert not (histogram.values == 0).any() and not (histogram.values == 255).any()


def test_float_saturation_is_the_image_maximum():
    image = np.linspace(0.0, 1.0, 400).reshape(20, 20)
    image[3, 3] = image[4, 4] = 2.0
    histogram = compress_image(image, exclude_saturated=True)
    assert histogram.excluded["saturated"] == 2
    assert histogram.n_pixels == 398


def test_nan_pixels_are_excluded_and_reported():
    image = skdata.cell().astype(np.float32)
    image[:2, :3] = np.nan
    image[5, 5] = np.inf
    histogram = compress_image(image)
    assert histogram.excluded["non-finite"] == 7
    assert histogram.n_excluded == 7
    assert histogram.n_pixels == image.size - 7
    assert "7 NaN/inf pixels excluded" in histogram.description
    finite = np.sort(image[np.isfinite(image)].astype(float))
    np.testing.assert_array_equal(_expanded(histogram)[:, 0], finite)


def test_constant_image_is_allowed():
    histogram = compress_image(np.full((8, 9), 42, dtype=np.uint16))
    assert histogram.n_values == 1 and histogram.counts[0] == 72
    floats = compress_image(np.full((8, 9), 0.5))
    assert floats.exact and floats.step[0] == 0.0


# --------------------------------------------------------------------------
# Dask


DASK_CASES = {
    "uint16": (_uint16_image((130, 110)), None, {}),
    "RGB": (skdata.immunohistochemistry()[:200, :150], -1, {}),
    "float with NaN, mask": (None, None, {"mask": True}),
    "smoothed, log": (skdata.coins()[:150, :170], None, {"smoothing_sigma": 3.0}),
    "wide int, zero excluded": (
        np.random.default_rng(7).integers(0, 2**20, (90, 70)).astype(np.int32),
        None,
        {"exclude_zero": True},
    ),
}


def _dask_case(name):
    image, channel_axis, kwargs = DASK_CASES[name]
    kwargs = dict(kwargs)
    if image is None:
        rng = np.random.default_rng(8)
        image = rng.normal(size=(120, 100)).astype(np.float32)
        image[rng.random(image.shape) < 0.01] = np.nan
        kwargs["mask"] = np.abs(rng.normal(size=image.shape)) < 1.5
    if name == "smoothed, log":
        kwargs["log_transform"] = True
    chunks = (23, 31) if channel_axis is None else (23, 31, 3)
    return image, da.from_array(image, chunks=chunks), channel_axis, kwargs


@pytest.mark.parametrize("name", list(DASK_CASES))
def test_dask_gives_the_same_histogram_as_numpy(name):
    image, lazy, channel_axis, kwargs = _dask_case(name)
    expected = compress_image(image, channel_axis=channel_axis, **kwargs)
    got = compress_image(lazy, channel_axis=channel_axis, **kwargs)
    _assert_histograms_equal(got, expected)
    mask = kwargs.get("mask")
    if mask is not None:  # a dask mask works too
        lazy_mask = da.from_array(mask, chunks=(40, 40))
        kwargs = {**kwargs, "mask": lazy_mask}
        got = compress_image(lazy, channel_axis=channel_axis, **kwargs)
        _assert_histograms_equal(got, expected)


@pytest.mark.parametrize("name", list(DASK_CASES))
def test_dask_label_image_is_lazy_and_equals_numpy(name):
    image, lazy, channel_axis, kwargs = _dask_case(name)
    histogram = compress_image(image, channel_axis=channel_axis, **kwargs)
    value_labels = np.arange(histogram.n_values) % 4 + 1
    mask = kwargs.get("mask")
    expected = label_image(image, histogram, value_labels, mask=mask)
    labels = label_image(lazy, histogram, value_labels, mask=mask)
    assert isinstance(labels, da.Array)
    spatial_chunks = lazy.chunks if channel_axis is None else lazy.chunks[:-1]
    assert labels.chunks == spatial_chunks
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels.compute(), expected)


def test_dask_label_image_does_not_compute_until_asked():
    image = _uint16_image()
    histogram = compress_image(image)
    calls = []

    def load(block):
        calls.append(block.shape)
        return block

    lazy = da.from_array(image, chunks=(32, 32)).map_blocks(
        load, dtype=image.dtype, meta=np.empty((0, 0), image.dtype)
    )
    labels = label_image(lazy, histogram, np.ones(histogram.n_values, dtype=int))
    assert calls == []
    assert labels.compute().all()
    assert len(calls) == 9  # 3 x 3 chunks, each read once


def test_dask_smoothing_with_chunks_thinner_than_the_kernel():
    image = skdata.coins()[:100, :90]
    lazy = da.from_array(image, chunks=(7, 9))
    expected = compress_image(image, smoothing_sigma=4.0)
    _assert_histograms_equal(compress_image(lazy, smoothing_sigma=4.0), expected)
    labels = label_image(lazy, expected, np.arange(expected.n_values) + 1)
    assert labels.chunks == lazy.chunks
    np.testing.assert_array_equal(
        labels.compute(), label_image(image, expected, np.arange(expected.n_values) + 1)
    )


def test_list_of_dask_and_numpy_channels():
    coins = skdata.coins()
    channels = [da.from_array(coins, chunks=(50, 60)), coins // 2]
    histogram = compress_image(channels)
    _assert_histograms_equal(histogram, compress_image([coins, coins // 2]))


# --------------------------------------------------------------------------
# Lookup


def _spatial_shape(image, channel_axis):
    if isinstance(image, list):
        return np.shape(image[0])
    if channel_axis is None:
        return np.shape(image)
    return tuple(np.delete(np.shape(image), channel_axis))


def _brute_force_labels(image, channel_axis, histogram, value_labels, mask):
    """One dictionary look-up per pixel."""
    table = {
        tuple(row): label
        for row, label in zip(histogram.values, value_labels, strict=True)
    }
    pixels = _channels_last(image, channel_axis)
    labels = np.array([table.get(tuple(p), 0) for p in pixels])
    labels = labels.reshape(_spatial_shape(image, channel_axis))
    if mask is not None:
        labels[mask == 0] = 0
    return labels


@pytest.mark.parametrize("case", list(EXACT))
def test_label_image_maps_each_pixel_to_the_label_of_its_value(case):
    image, channel_axis = EXACT[case]
    histogram = compress_image(image, channel_axis=channel_axis)
    rng = np.random.default_rng(9)
    value_labels = rng.integers(1, 6, size=histogram.n_values)
    mask = rng.random(_spatial_shape(image, channel_axis)) < 0.7
    labels = label_image(image, histogram, value_labels, mask=mask)
    expected = _brute_force_labels(image, channel_axis, histogram, value_labels, mask)
    assert labels.dtype == np.uint8 and labels.shape == mask.shape
    np.testing.assert_array_equal(labels, expected)
    assert (labels[~mask] == 0).all()


def test_label_image_of_binned_floats_uses_the_bin_of_each_pixel():
    rng = np.random.default_rng(10)
    image = rng.normal(size=(70, 60))
    histogram = compress_image(image, n_bins=32)
    value_labels = np.arange(1, histogram.n_values + 1)
    labels = label_image(image, histogram, value_labels)
    edges = histogram.codings[0].bin_edges
    bins = np.clip(np.searchsorted(edges, image, side="right") - 1, 0, 31)
    centres = (edges[bins] + edges[bins + 1]) / 2
    distance = np.abs(centres.reshape(-1, 1) - histogram.values[:, 0])
    assert distance.min(axis=1).max() < 1e-12  # each centre is a row of values
    expected = value_labels[distance.argmin(axis=1)].reshape(image.shape)
    np.testing.assert_array_equal(labels, expected)


def test_excluded_and_unknown_pixels_get_label_zero():
    rng = np.random.default_rng(11)
    image = rng.random((50, 50))
    image[0, :4] = 0.0  # zero pixels share the first bin with nonzero ones
    image[1, 1] = np.nan
    image[2, 2] = image[3, 3] = 1.0  # saturated (the maximum), in the last bin
    histogram = compress_image(
        image, exclude_zero=True, exclude_saturated=True, n_bins=16
    )
    assert histogram.excluded == {
        "outside mask": 0,
        "non-finite": 1,
        "zero": 4,
        "saturated": 2,
    }
    assert histogram.counts[0] > 0 and histogram.counts[-1] > 0  # bins shared
    labels = label_image(image, histogram, np.ones(histogram.n_values, dtype=int))
    excluded = (image == 0) | np.isnan(image) | (image == 1.0)
    np.testing.assert_array_equal(labels, ~excluded)
    other = image + 1000.0  # another image, outside the histogram's range
    assert not label_image(other, histogram, np.ones(histogram.n_values, int)).any()


def test_exclusions_are_judged_on_raw_pixels_when_smoothing():
    image = skdata.coins().copy()
    image[100:110, 100:110] = 0
    image[200, 50:60] = 255
    histogram = compress_image(
        image, smoothing_sigma=1.0, exclude_zero=True, exclude_saturated=True
    )
    raw_excluded = (image == 0) | (image == 255)
    assert histogram.n_excluded == raw_excluded.sum()
    labels = label_image(image, histogram, np.ones(histogram.n_values, dtype=int))
    np.testing.assert_array_equal(labels, ~raw_excluded)


def test_label_dtype_follows_the_largest_label():
    image = skdata.coins()
    histogram = compress_image(image)
    labels = np.arange(histogram.n_values) + 1
    assert label_image(image, histogram, labels).dtype == np.uint8
    assert label_image(image, histogram, labels + 300).dtype == np.uint16
    np.testing.assert_array_equal(
        label_image(image, histogram, labels + 300).astype(int) - 300,
        label_image(image, histogram, labels),
    )


def test_value_map_image_gives_nan_outside():
    image = skdata.cell()
    histogram = compress_image(image, mask=image > 20)
    per_value = histogram.values[:, 0] / 1000
    mask = image > 40
    mapped = value_map_image(image, histogram, per_value, mask=mask)
    assert mapped.dtype == np.float64
    np.testing.assert_allclose(mapped[mask], image[mask] / 1000)
    assert np.isnan(mapped[~mask]).all()
    lazy = value_map_image(
        da.from_array(image, chunks=100), histogram, per_value.astype(np.float32)
    )
    assert lazy.dtype == np.float32
    # no mask given: pixels <= 20 are not in the table, so NaN
    result = lazy.compute()
    assert np.isnan(result[image <= 20]).all()
    np.testing.assert_allclose(result[image > 20], image[image > 20] / 1000, rtol=1e-6)


def test_index_of_finds_every_row_and_rejects_strangers():
    image = skdata.immunohistochemistry()
    histogram = compress_image(image, channel_axis=-1)
    np.testing.assert_array_equal(
        histogram.index_of(histogram.values), np.arange(histogram.n_values)
    )
    assert histogram.index_of(np.array([[0.5, 1, 2]]))[0] == -1
    single = compress_image(skdata.coins())
    assert single.index_of(np.array([1000, -1, np.nan])).tolist() == [-1, -1, -1]
    value = single.values[3, 0]
    assert single.index_of(value) == 3
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        histogram.index_of(np.zeros((4, 2)))


# --------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.zeros((4, 5)), {"mask": np.ones((5, 4), bool)}, ValueError, r"\(5, 4\)"),
        (np.zeros((4, 5)), {"mask": np.zeros((4, 5), bool)}, ValueError, "no pixel"),
        (np.zeros((4, 5)), {"mask": np.ones((4, 5))}, TypeError, "float64"),
        (np.zeros((4, 5), np.uint8), {"exclude_zero": True}, ValueError, "20 are zero"),
        (np.full((4, 5), np.nan), {}, ValueError, "no finite value"),
        (np.zeros((4, 5, 3)), {"channel_axis": 3}, ValueError, "channel_axis=3"),
        (np.zeros((4, 5, 3)), {"channel_axis": 1.0}, TypeError, "channel_axis"),
        (np.zeros((3, 5)), {"channel_axis": 0}, ValueError, "two spatial axes"),
        (np.float64(3.0), {}, ValueError, "two spatial axes"),
        (np.arange(10), {}, ValueError, r"shape \(10,\)"),
        (np.zeros((0, 5)), {}, ValueError, "no pixel"),
        (np.zeros((4, 5), complex), {}, TypeError, "complex128"),
        ([np.zeros((4, 5)), np.zeros((5, 4))], {}, ValueError, "same shape"),
        ([np.zeros((4, 5))], {"channel_axis": 0}, ValueError, "list"),
        (np.zeros((4, 5)), {"n_bins": 1}, ValueError, "n_bins"),
        (np.zeros((4, 5)), {"smoothing_sigma": -1}, ValueError, ">= 0"),
    ],
)
def test_clear_errors(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        compress_image(image, **kwargs)


def test_too_wide_channels_are_a_clear_error():
    image = np.zeros((4, 5, 3), np.int64)
    image[0, 0] = [-(2**40), -(2**40), -(2**40)]
    image[1, 1] = [2**40, 2**40, 2**40]
    with pytest.raises(ValueError, match="too wide to encode"):
        compress_image(image, channel_axis=-1)


def test_float_channels_too_wide_say_to_lower_n_bins():
    image = np.random.default_rng(0).random((64, 64, 8))
    advice = r"lower n_bins \(with 8 channels, at most 215\)"
    with pytest.raises(ValueError, match=advice):
        compress_image(image, channel_axis=-1)
    assert compress_image(image, channel_axis=-1, n_bins=215).n_values > 0


def test_a_float_image_of_a_tiny_spread_is_a_clear_error():
    image = np.zeros((8, 8))
    image[:, 4:] = 1e-300
    with pytest.raises(ValueError, match=r"span only 1e-300.*multiply by 1e"):
        compress_image(image)


def test_lookup_errors():
    image = skdata.immunohistochemistry()
    histogram = compress_image(image, channel_axis=-1)
    labels = np.ones(histogram.n_values, dtype=int)
    with pytest.raises(ValueError, match=rf"shape \({histogram.n_values},\)"):
        label_image(image, histogram, labels[:-1])
    with pytest.raises(ValueError, match=">= 0"):
        label_image(image, histogram, labels - 2)
    with pytest.raises(TypeError, match="integers"):
        label_image(image, histogram, labels + 0.5)
    with pytest.raises(ValueError, match=r"2 channel.*made from 3"):
        label_image(image[..., :2], histogram, labels)
    with pytest.raises(TypeError, match="PixelHistogram"):
        label_image(image, {"values": 1}, labels)


def test_histogram_is_frozen():
    histogram = compress_image(skdata.coins())
    assert isinstance(histogram, PixelHistogram)
    with pytest.raises(AttributeError):
        histogram.n_pixels = 3


def test_importing_the_module_does_not_import_dask():
    code = (
        "import sys, napari_gmm.core.pixels\n"
        "print(sorted(m for m in ('dask', 'napari', 'skimage') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
