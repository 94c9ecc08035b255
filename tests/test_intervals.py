"""Intensity intervals of one-channel classes (core, no display)."""

import itertools

import numpy as np
import pytest
from skimage import data

from napari_gmm.core.intervals import (
    class_intervals,
    contiguous_value_labels,
    format_intervals,
    make_contiguous,
    monotone_labels,
)
from napari_gmm.core.segment import segment_image


def _brute_force(scores):
    n_values, n_classes = scores.shape
    best, best_labels = -np.inf, None
    for labels in itertools.combinations_with_replacement(range(n_classes), n_values):
        total = scores[np.arange(n_values), labels].sum()
        if total > best + 1e-12:
            best, best_labels = total, np.array(labels)
    return best, best_labels


@pytest.mark.parametrize("seed", range(20))
def test_monotone_labels_is_the_best_non_decreasing_labelling(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(rng.integers(1, 7), rng.integers(1, 4)))
    labels = monotone_labels(scores)
    assert np.all(np.diff(labels) >= 0)
    best, _ = _brute_force(scores)
    np.testing.assert_allclose(scores[np.arange(len(labels)), labels].sum(), best)


def test_monotone_labels_keeps_an_already_ordered_argmax():
    scores = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 5.0]])
    np.testing.assert_array_equal(monotone_labels(scores), [0, 0, 1])


def test_class_intervals_lists_every_range_of_a_label():
    values = np.array([0, 1, 2, 3, 4, 5, 6], dtype=float)
    labels = np.array([1, 1, 2, 2, 1, 3, 3])
    ranges = class_intervals(values, labels)
    assert ranges == {1: [(0.0, 1.0), (4.0, 4.0)], 2: [(2.0, 3.0)], 3: [(5.0, 6.0)]}
    assert format_intervals(ranges[1]) == "0–1, 4"
    assert format_intervals([]) == "no pixels"
    # log1p features come back in the image's units
    logged = class_intervals(np.log1p(values), labels, log_transform=True)
    np.testing.assert_allclose(logged[3], [(5.0, 6.0)])


@pytest.mark.parametrize("name", ["cell", "coins", "camera"])
def test_contiguous_classes_are_brightness_ordered_intervals(name):
    """On skimage's images the most probable class of an intensity is not
    always an interval (e.g. coins: intensities 1-9 go to class 2, above
    class 1); made contiguous, label order is pixel brightness order and
    only a few per cent of the pixels change."""
    image = getattr(data, name)()
    result = segment_image(image, n_components=range(1, 6))
    shown = make_contiguous(result, result.best, image)
    histogram = shown.histogram
    ranges = class_intervals(histogram.values[:, 0], shown.value_labels)
    assert all(len(spans) == 1 for spans in ranges.values())
    assert np.all(np.diff(shown.value_labels) >= 0)
    assert len(shown.thresholds) == len(ranges) - 1
    labels = np.asarray(shown.labels)
    highs = [image[labels == k].max() for k in sorted(ranges)]
    lows = [image[labels == k].min() for k in sorted(ranges)]
    assert all(high < low for high, low in zip(highs, lows[1:], strict=False))
    changed = np.mean(labels != np.asarray(result.labels))
    assert changed < 0.05


def test_coins_most_probable_classes_are_not_intervals():
    image = data.coins()
    # BIC keeps more classes on coins than ICL (the image default), and with
    # them a class that wins two separate intensity ranges
    result = segment_image(image, n_components=range(1, 6), criterion="bic")
    ranges = class_intervals(result.histogram.values[:, 0], result.value_labels)
    assert any(len(spans) > 1 for spans in ranges.values())


def test_contiguous_value_labels_follow_a_two_class_mixture():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(10, 1, 500), rng.normal(30, 8, 500)].reshape(-1, 1)
    model = GaussianMixture(2, random_state=0).fit(x)
    order = np.argsort(model.means_[:, 0])
    model.means_ = model.means_[order]
    model.covariances_ = model.covariances_[order]
    model.weights_ = model.weights_[order]
    model.precisions_cholesky_ = model.precisions_cholesky_[order]
    values, counts = np.unique(np.round(x[:, 0]), return_counts=True)
    values = values.reshape(-1, 1)
    labels = contiguous_value_labels(model, values, counts)
    assert labels[0] == 1 and labels[-1] == 2
    assert np.all(np.diff(labels) >= 0)
    # without the constraint, the broad class also wins below the narrow one
    assert model.predict(values[:1])[0] == 1
