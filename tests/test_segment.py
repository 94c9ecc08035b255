"""Image segmentation by the histogram-compressed sweep."""

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data

from napari_gmm.core.segment import segment_image


def _three_class_image(means, sds, seed=0, shape=(256, 256)):
    """Smooth class regions with Gaussian noise, quantized to uint8."""
    rng = np.random.default_rng(seed)
    blobs = ndi.gaussian_filter(rng.normal(size=shape), 10)
    classes = (blobs > 0.01).astype(int) + (blobs > 0.03)
    values = np.asarray(means)[classes] + np.asarray(sds)[classes] * rng.normal(
        size=shape
    )
    return np.clip(np.round(values), 0, 255).astype(np.uint8), classes


@pytest.fixture(scope="module")
def narrow_image():
    # the dim class spans only ~3 integer values: the spike trap
    return _three_class_image([3.0, 30.0, 80.0], [0.7, 4.0, 6.0])


def test_quantization_floor_prevents_spike_components(narrow_image):
    image, classes = narrow_image
    # the trap is BIC's (the image default, ICL, also penalizes the spikes'
    # overlap); the floor must protect whichever criterion is asked for
    kwargs = {"n_components": range(1, 9), "criterion": "bic"}
    naive = segment_image(image, quantization_floor=False, preset="sklearn", **kwargs)
    # the pitfall is real: without the floor BIC rewards zero-variance spikes
    assert np.ravel(naive.best.covariances_).min() < 0.01
    assert naive.n_classes > 3
    # the default preset marks such spikes degenerate and does not choose them
    unfloored = segment_image(image, quantization_floor=False, **kwargs)
    table = unfloored.table
    assert not table.loc[table["selected"], "degenerate"].item()
    aware = segment_image(image, **kwargs)
    assert aware.n_classes == 3
    assert np.ravel(aware.best.covariances_).min() >= 1 / 12
    # and the classes are found
    agreement = np.mean(aware.labels - 1 == classes)
    assert agreement > 0.99


@pytest.mark.parametrize("dtype", [np.uint16, np.float64])
def test_classes_of_one_grey_level_far_apart_are_found(dtype):
    # a class of one value is a component at the quantization floor: the
    # floor bounds its likelihood, so it is not "collapsed", however far
    # apart the levels (found by fuzzing: levels 1,000 apart gave 1 class)
    image = np.zeros((64, 64), dtype)
    image[:, 32:] = 1000
    seg = segment_image(image, n_components=range(1, 4))
    assert seg.sweep.best_key[0] == 2
    np.testing.assert_array_equal(seg.labels, (image > 0) + 1)
    # and a saturated area beside a noisy 12-bit class: 2 classes
    rng = np.random.default_rng(0)
    image = rng.normal(2000, 200, (128, 128)).astype(np.uint16)
    image[:, :40] = 4095
    seg = segment_image(image, n_components=range(1, 5))
    assert seg.sweep.best_key[0] == 2
    assert (seg.labels[:, :40] == 2).all()
    table = seg.sweep.table
    assert not table.loc[table["n_components"] == 2, "degenerate"].any()


def test_many_zero_pixels_suggest_excluding_them():
    # found in QA (session 10): a background clipped at 0 made its own class
    # without a word
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(10, 15, (64, 64)), 0, None).astype(np.uint16)
    image[20:40, 20:40] += 200
    notes = segment_image(image).sweep.messages
    assert any("of the pixels are exactly 0" in note for note in notes)
    excluded = segment_image(image, exclude_zero=True).sweep.messages
    assert not any("exactly 0" in note for note in excluded)


def test_labels_are_ordered_from_dimmest_to_brightest(narrow_image):
    image, _ = narrow_image
    result = segment_image(image, n_components=range(1, 6))
    labels = result.labels
    assert labels.dtype == np.uint8
    means = [image[labels == k].mean() for k in range(1, result.n_classes + 1)]
    assert np.all(np.diff(means) > 0)
    assert labels.min() == 1  # nothing excluded
    # thresholds separate the classes, in the image's units
    assert len(result.thresholds) == result.n_classes - 1
    for k, threshold in enumerate(result.thresholds, start=1):
        assert image[labels == k].max() < threshold < image[labels == k + 1].min()


def test_histogram_weights_count_every_pixel(narrow_image):
    image, _ = narrow_image
    result = segment_image(image, n_components=[2, 3], covariance_types=["full"])
    assert result.sweep.n_samples == image.size
    assert result.histogram.exact
    assert "exactly" in result.histogram.description


def test_dask_image_gives_identical_lazy_labels(narrow_image):
    image, _ = narrow_image
    expected = segment_image(image, n_components=range(1, 5), probability=True)
    lazy = da.from_array(image, chunks=(100, 70))
    result = segment_image(lazy, n_components=range(1, 5), probability=True)
    assert isinstance(result.labels, da.Array)
    assert result.labels.chunks == lazy.chunks
    np.testing.assert_array_equal(result.labels.compute(), expected.labels)
    np.testing.assert_array_equal(result.table["bic"], expected.table["bic"])
    np.testing.assert_allclose(result.uncertainty.compute(), expected.uncertainty)


def test_mask_excludes_pixels_and_labels_them_zero(narrow_image):
    image, _ = narrow_image
    mask = np.zeros(image.shape, bool)
    mask[:128] = True
    result = segment_image(image, mask=mask, n_components=range(1, 5), probability=True)
    assert np.all(result.labels[~mask] == 0)
    assert np.all(result.labels[mask] >= 1)
    assert np.all(np.isnan(result.probability[~mask]))
    assert result.sweep.n_samples == mask.sum()


def test_probability_and_uncertainty_maps(narrow_image):
    image, _ = narrow_image
    result = segment_image(image, n_components=[3], probability=True)
    np.testing.assert_allclose(result.probability + result.uncertainty, 1.0)
    assert result.probability.min() >= 1 / 3 - 1e-12


def test_constant_image_is_a_clear_error():
    with pytest.raises(ValueError, match="single distinct value"):
        segment_image(np.full((32, 32), 7, np.uint16))


def test_real_samples_segment(tmp_path):
    cell = data.cell()
    result = segment_image(cell, n_components=range(1, 5))
    assert 2 <= result.n_classes <= 4
    rgb = data.immunohistochemistry()[::4, ::4]
    colour = segment_image(rgb, channel_axis=-1, n_components=range(1, 4))
    assert colour.labels.shape == rgb.shape[:2]
    assert colour.thresholds is None  # several channels: no 1-D thresholds
    assert colour.best.means_.shape[1] == 3


def test_cancel_and_progress_pass_through(narrow_image):
    from napari_gmm import SweepCancelled

    image, _ = narrow_image
    seen = []
    with pytest.raises(SweepCancelled):
        segment_image(
            image,
            progress=lambda d, t, f: seen.append(d),
            cancel=lambda: len(seen) >= 2,
        )
    assert seen == [1, 2]


def test_one_model_per_frame(narrow_image):
    from napari_gmm.core.segment import segment_frames

    image, _ = narrow_image
    dim = (image // 2).astype(np.uint8)  # a second frame, half as bright
    stack = np.stack([image, dim])
    seen = []
    result = segment_frames(
        stack, n_components=range(1, 5), progress=lambda d, t, f: seen.append(d)
    )
    assert len(result.frames) == 2 and result.labels.shape == stack.shape
    for t in range(2):
        single = segment_image(stack[t], n_components=range(1, 5))
        np.testing.assert_array_equal(result.labels[t], single.labels)
    assert seen == list(range(1, 33))
    # one model for the whole stack is the default elsewhere: it differs here
    pooled = segment_image(stack, n_components=range(1, 5))
    assert pooled.labels.shape == stack.shape


def _blurred_three_class_image(seed=0, size=128):
    """Nested regions (50/30/20 %), blurred by a 1-px PSF, sd-6 noise, uint8.

    The neighbouring levels are 8 sd apart: the classes are clear, but the
    blurred edges put pixels between them, which BIC models as extra classes
    (benchmarks/image_criterion.py, "3cls blobs gauss8 blur1").
    """
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.standard_normal((size, size)), size / 20)
    classes = np.searchsorted(np.quantile(field, [0.5, 0.8]), field)
    levels = np.array([80.0, 128.0, 176.0])
    image = ndi.gaussian_filter(levels[classes], 1.0)
    image += 6.0 * rng.standard_normal(classes.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), classes


def test_image_default_criterion_is_icl_and_finds_the_true_classes():
    image, classes = _blurred_three_class_image()
    result = segment_image(image, n_components=range(1, 7))
    assert result.sweep.criterion == "icl"
    assert result.n_classes == 3
    assert np.mean(result.labels - 1 == classes) > 0.95
    # the same fits chosen by BIC over-count (why the image default is ICL)
    table = result.table[result.table.converged & ~result.table.degenerate]
    assert table.loc[table["bic"].idxmin(), "n_components"] > 3
