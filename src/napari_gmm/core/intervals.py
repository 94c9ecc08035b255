"""Intensity intervals of one-channel classes.

A one-channel mixture labels each distinct intensity by its most probable
class. A broad class (e.g. a wide background) can then win on both sides of
a narrow one, so one class covers two separate intensity ranges and "label 1
is the dimmest" holds for the class means but not for every pixel.

:func:`class_intervals` says which intensity ranges each label covers;
:func:`contiguous_value_labels` relabels the distinct values so that every
class is one interval and labels increase with intensity (the most likely
such labelling, by dynamic programming); :func:`make_contiguous` applies it
to a :class:`~napari_gmm.core.segment.SegmentationResult`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .criteria import has_noise
from .pixels import label_image, value_map_image


def monotone_labels(scores: np.ndarray) -> np.ndarray:
    """Non-decreasing labels maximizing the summed score.

    Parameters
    ----------
    scores : ndarray of shape (n_values, n_classes)
        Score of giving value ``v`` (in increasing order) class ``k``,
        e.g. its count times its log joint density under class ``k``.

    Returns
    -------
    ndarray of int, shape (n_values,)
        Class index (0-based) per value, non-decreasing, maximizing
        ``scores[v, labels[v]].sum()``; ties go to the lower class.
    """
    scores = np.asarray(scores, dtype=float)
    n_values, n_classes = scores.shape
    if n_values == 0:
        return np.zeros(0, dtype=int)
    best = np.empty_like(scores)  # best total of values 0..v ending in class k
    came_from = np.zeros((n_values, n_classes), dtype=int)
    best[0] = scores[0]
    for v in range(1, n_values):
        previous = best[v - 1]
        # running maximum over classes j <= k, with its argmax (first wins)
        arg = np.zeros(n_classes, dtype=int)
        run = previous.copy()
        for k in range(1, n_classes):
            if run[k - 1] >= previous[k]:
                run[k], arg[k] = run[k - 1], arg[k - 1]
            else:
                arg[k] = k
        best[v] = scores[v] + run
        came_from[v] = arg
    labels = np.empty(n_values, dtype=int)
    labels[-1] = int(np.argmax(best[-1]))
    for v in range(n_values - 1, 0, -1):
        labels[v - 1] = came_from[v, labels[v]]
    return labels


def contiguous_value_labels(model, values: np.ndarray, counts: np.ndarray):
    """Labels 1..K of sorted distinct 1-channel ``values``, one interval each.

    The most likely labelling (sum of count × log joint density) among those
    where labels never decrease as the value increases. Components must be
    ordered by mean (as the core orders them).
    """
    values = np.asarray(values, dtype=float).reshape(-1, 1)
    order = np.argsort(values[:, 0], kind="stable")
    ordered = values[order]
    # log(weight_k × density_k) = log posterior + log mixture density
    posterior = model.predict_proba(ordered)[:, : model.n_components]
    log_joint = (
        np.log(np.maximum(posterior, 1e-300)) + model.score_samples(ordered)[:, None]
    )
    scores = np.asarray(counts, dtype=float)[order, None] * log_joint
    labels = np.empty(len(values), dtype=int)
    labels[order] = monotone_labels(scores) + 1
    return labels


def class_intervals(
    values: np.ndarray, value_labels: np.ndarray, log_transform: bool = False
) -> dict[int, list[tuple[float, float]]]:
    """Intensity ranges (lowest, highest distinct value) each label covers.

    ``values`` are one channel's sorted distinct values (features; with
    ``log_transform`` they are log1p intensities and are converted back).
    Returns ``{label: [(low, high), ...]}`` in increasing order.
    """
    values = np.asarray(values, dtype=float).ravel()
    value_labels = np.asarray(value_labels).ravel()
    if log_transform:
        values = np.expm1(values)
    intervals: dict[int, list[tuple[float, float]]] = {}
    if len(values) == 0:
        return intervals
    starts = np.flatnonzero(np.r_[True, np.diff(value_labels) != 0])
    ends = np.r_[starts[1:], len(values)] - 1
    for start, end in zip(starts, ends, strict=True):
        label = int(value_labels[start])
        intervals.setdefault(label, []).append(
            (float(values[start]), float(values[end]))
        )
    return dict(sorted(intervals.items()))


def format_intervals(ranges: list[tuple[float, float]]) -> str:
    """'10–52' or '0–9, 120–255' (one class over one or more ranges)."""
    if not ranges:
        return "no pixels"
    return ", ".join(
        f"{low:.4g}" if low == high else f"{low:.4g}–{high:.4g}" for low, high in ranges
    )


def make_contiguous(segmentation, model, image, *, mask=None, probability=False):
    """The same segmentation with every class one intensity interval.

    Returns ``segmentation`` unchanged for several channels or a model with a
    noise component; else labels, thresholds (and probability maps, when
    asked) follow :func:`contiguous_value_labels`.
    """
    from .segment import class_thresholds  # segment imports pixels too

    histogram = segmentation.histogram
    if histogram.values.shape[1] != 1 or has_noise(model):
        return segmentation
    value_labels = contiguous_value_labels(model, histogram.values, histogram.counts)
    labels = label_image(image, histogram, value_labels, mask=mask)
    prob = unc = None
    if probability:
        proba = model.predict_proba(histogram.values)
        chosen = proba[np.arange(len(value_labels)), value_labels - 1]
        prob = value_map_image(image, histogram, chosen, mask=mask)
        unc = value_map_image(image, histogram, 1.0 - chosen, mask=mask)
    return replace(
        segmentation,
        value_labels=value_labels,
        labels=labels,
        probability=prob,
        uncertainty=unc,
        thresholds=class_thresholds(histogram, value_labels),
    )
