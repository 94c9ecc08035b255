"""Segment images into intensity classes by a histogram-compressed sweep.

:func:`segment_image` compresses the pixels to (distinct value, count) pairs
(:func:`~napari_gmm.core.pixels.compress_image`), runs the weighted sweep
(:func:`~napari_gmm.core.sweep.sweep` with the counts as weights, which is
the same as fitting every pixel), and maps the chosen model's per-value
labels back onto the image by table lookup. Labels are ``1..K`` from the
dimmest class to the brightest (components are sorted by mean, first channel
first) and 0 for masked or excluded pixels.

Quantization
    Integer pixels have no spread inside one quantization step, so a mixture
    with many components can put one component on a single value with a
    near-zero variance and an enormous likelihood, and BIC then rewards it.
    By default every covariance diagonal gets ``step**2 / 12`` added (the
    variance of a value spread uniformly over its step), per channel, with
    ``step`` from :attr:`PixelHistogram.step` (1 for raw integers, the bin
    width for binned floats). See ``quantization_floor``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass

import numpy as np

from .components import assign
from .criteria import COVARIANCE_TYPES
from .execution import drive
from .noise import warm_start
from .pixels import (
    PixelHistogram,
    coarsen,
    compress_image,
    label_image,
    value_map_image,
)
from .result import CandidateFit, SweepResult
from .settings import PixelSettings
from .sweep import iter_sweep

#: E-steps per fit for images, in both presets (points on few rows get more,
#: settings.default_max_iter). On 8-bit histograms overfitted candidates
#: crawl past it and end "not converged", and that is what keeps a
#: converged fit with components on single grey values out of the choice:
#: with 7,800 E-steps BIC chose 8 such classes on the narrow-class image of
#: tests/test_segment.py, the step**2 / 12 floor still leaving them 0.32
#: nats per pixel, and a floor of step**2 / (2 pi), which leaves none,
#: blurred two adjacent grey levels so that ICL merged binary images into one
#: class (measured 2026-11-30; docs/images.md).
IMAGE_MAX_ITER = 500

#: EM tolerance for images. EM on a histogram is cheap, and with millions of
#: pixels scikit-learn's default (1e-3 on the mean log-likelihood) leaves
#: BIC differences of order n * 1e-3 between candidates to chance.
IMAGE_TOL = 1e-6

#: Criterion that chooses the number of classes of an image (points keep
#: BIC): blurred edges make BIC give the in-between pixels classes of their
#: own; ICL asks for separated classes. benchmarks/image_criterion.py: true K
#: on 32 of 48 synthetic images with clear classes (BIC 16), cell 3 (BIC 5 to
#: 9), coins 2 (BIC 9); but ICL merges classes only 2-3 sd apart (0 of 32, BIC
#: 21) unless smoothed first. See docs/images.md, "Which criterion for images".
IMAGE_CRITERION = "icl"

#: Most cells of the coarse histogram the default preset fits first when a
#: one-channel image has more than twice as many distinct values (see
#: ``_histogram_sweep``; None: always fit the exact histogram only). Colour
#: images fit the exact histogram only: on the RGB immunohistochemistry
#: image a coarse pass (cells 4 levels wide) was 3.2x faster but left three
#: candidates in worse optima (up to 9,859 BIC) and changed the lowest-BIC
#: choice (docs/performance.md).
COARSE_VALUES = 2048


@dataclass
class SegmentationResult:
    """Outcome of :func:`segment_image`.

    Attributes
    ----------
    sweep : SweepResult
        Criterion table and every candidate's model (fitted on the histogram).
    histogram : PixelHistogram
        The compressed pixels; ``histogram.description`` says what was done.
    value_labels : ndarray of int, shape (n_values,)
        Label (1..K) of each distinct value of the histogram.
    labels : ndarray or dask array of uint8/uint16
        The label image (spatial shape of the input), 0 where excluded.
    probability, uncertainty : ndarray or dask array of float, or None
        Posterior probability of the assigned class and ``1 -`` it, per
        pixel (NaN where excluded), when asked for.
    thresholds : ndarray or None
        One channel only: the intensity (in the image's units) at which the
        label changes, between consecutive distinct values, in increasing
        order. ``K - 1`` values when classes are intensity intervals.
    """

    sweep: SweepResult
    histogram: PixelHistogram
    value_labels: np.ndarray
    labels: object
    probability: object = None
    uncertainty: object = None
    thresholds: np.ndarray | None = None

    @property
    def table(self):
        """The criterion table (see :attr:`SweepResult.table`)."""
        return self.sweep.table

    @property
    def best(self):
        """The chosen mixture, fitted on the (weighted) pixel features."""
        return self.sweep.best

    @property
    def n_classes(self) -> int:
        return int(self.sweep.best.n_components)


def class_thresholds(
    histogram: PixelHistogram, value_labels: np.ndarray
) -> np.ndarray | None:
    """Intensities where the label changes (one channel only, else None).

    Midpoints between consecutive distinct values with different labels, in
    the image's units, see :attr:`SegmentationResult.thresholds`.
    """
    if histogram.values.shape[1] != 1:
        return None
    values = histogram.values[:, 0]
    changes = np.flatnonzero(np.diff(value_labels) != 0)
    midpoints = (values[changes] + values[changes + 1]) / 2.0
    if histogram.log_transform:
        midpoints = np.expm1(midpoints)  # back to the image's units
    return midpoints


def labels_for_model(
    image, histogram: PixelHistogram, model, *, mask=None, probability=False
):
    """Label image (and optional probability maps) of any fitted model.

    Returns
    -------
    value_labels, labels, probability, uncertainty
        ``probability``/``uncertainty`` are None unless asked for.
    """
    with np.errstate(all="ignore"):
        assignment = assign(model, histogram.values)
    if not np.isfinite(assignment.probability).all():
        # e.g. a loaded model far from these pixels: no label would mean anything
        bad = int(np.count_nonzero(~np.isfinite(assignment.probability)))
        raise ValueError(
            f"The model gives no valid probability for {bad} of the image's "
            f"{len(assignment.probability)} distinct values (they are too far from "
            "its components for float64); check that it was fitted on images like "
            "this one."
        )
    labels = label_image(image, histogram, assignment.labels, mask=mask)
    prob = unc = None
    if probability:
        prob = value_map_image(image, histogram, assignment.probability, mask=mask)
        unc = value_map_image(image, histogram, assignment.uncertainty, mask=mask)
    return assignment.labels, labels, prob, unc


def _quantized_noise_volume(sweep_kwargs: dict, values, step) -> None:
    """Set the noise volume of quantized values: each value stands for a bin.

    n levels ``step`` apart cover ``(n - 1) * step`` from first to last value
    but ``n * step`` as bins; with the bounding box alone a two-level image
    would get a volume of one step, and the noise would swallow it.
    """
    if sweep_kwargs.get("noise") and sweep_kwargs.get("noise_volume") is None:
        extent = np.ptp(np.asarray(values, dtype=float), axis=0)
        step = np.broadcast_to(np.asarray(step, dtype=float), extent.shape)
        sweep_kwargs["noise_volume"] = float(np.prod(extent + step))


def _coarse_limit(sweep_kwargs: dict, values) -> int | None:
    """Cells of the coarse first pass, or None to fit the exact histogram only."""
    if (
        COARSE_VALUES is None
        or sweep_kwargs.get("preset", "default") != "default"
        or sweep_kwargs.get("noise")
        or sweep_kwargs.get("cv_folds") is not None
    ):
        return None
    if np.shape(values)[1] != 1:
        return None
    return COARSE_VALUES if len(values) > 2 * COARSE_VALUES else None


def _passes(fits: Generator, first: bool):
    """Generator: ``fits`` renumbered as one of two passes; returns their result.

    Progress then counts both passes: the first pass's candidates are
    ``0..n-1`` of ``2 n``, the second's ``n..2n-1``.
    """
    while True:
        try:
            fit = next(fits)
        except StopIteration as stop:
            return stop.value
        offset = 0 if first else fit.total
        yield dataclasses.replace(fit, index=fit.index + offset, total=2 * fit.total)


def _histogram_sweep(values, counts, step, floor, sweep_kwargs):
    """Generator: the sweep of the weighted distinct values, coarse first if many.

    With one channel, more than ``2 * COARSE_VALUES`` distinct values (a
    16-bit image) and the default preset, the candidates are first fitted
    on the values merged into at most :data:`COARSE_VALUES` cells
    (:func:`~napari_gmm.core.pixels.coarsen`; quantization floor of the cell
    width), from all the default starts; each candidate's fit then continues
    on the exact histogram from there (``iter_sweep(starts=...)``) to the
    sweep's tolerance, and the table, the criteria and the choice are those
    of the exact fits. Progress counts both passes.
    """
    coarse = None
    limit = _coarse_limit(sweep_kwargs, values)
    if limit is not None:
        coarse = coarsen(values, counts, step, limit)
    if coarse is None:
        return (
            yield from iter_sweep(
                values, weights=counts, covariance_floor=floor, **sweep_kwargs
            )
        )
    first = iter_sweep(
        coarse.values,
        weights=coarse.counts,
        covariance_floor=coarse.width**2 / 12.0,  # the cells' quantization
        **sweep_kwargs,
    )
    coarse_result = yield from _passes(first, first=True)
    starts = {key: warm_start(model) for key, model in coarse_result.models.items()}
    exact = iter_sweep(
        values, weights=counts, covariance_floor=floor, starts=starts, **sweep_kwargs
    )
    result = yield from _passes(exact, first=False)
    # the start column names the start each candidate's coarse fit came from
    coarse_start = {
        (row.n_components, row.covariance_type): row.start
        for row in coarse_result.table.itertuples()
    }
    result.table["start"] = [
        f"{coarse_start.get((row.n_components, row.covariance_type), '')} (coarse)"
        for row in result.table.itertuples()
    ]
    widths = ", ".join(f"{w:g}" for w in coarse.width)
    result.messages.append(
        f"Each candidate was first fitted on {coarse.n_values:,} coarse cells "
        f"(distinct values merged {widths} wide) and then continued on the "
        f"{len(values):,} exact distinct values; the criteria are the exact ones."
    )
    return result


def _segment_generator(image, pixel_kwargs, sweep_kwargs, probability):
    histogram = compress_image(image, **pixel_kwargs)
    if histogram.n_values < 2:
        raise ValueError(
            f"The image has a single distinct value over the {histogram.n_pixels} "
            "pixels used (constant image, or the mask/exclusions leave one "
            "value): there is nothing to segment."
        )
    floor = None
    if sweep_kwargs.pop("quantization_floor"):
        floor = np.asarray(histogram.step, dtype=float) ** 2 / 12.0
    _quantized_noise_volume(sweep_kwargs, histogram.values, histogram.step)
    result = yield from _histogram_sweep(
        histogram.values, histogram.counts, histogram.step, floor, sweep_kwargs
    )
    zeros = _zero_pixels_note(histogram, pixel_kwargs["exclude_zero"])
    if zeros:
        result.messages.append(zeros)
    return segmentation_for(
        image,
        histogram,
        result.best,
        sweep=result,
        mask=pixel_kwargs["mask"],
        probability=probability,
    )


#: Share of the pixels at exactly 0 from which the result suggests
#: ``exclude_zero`` (padding, or a background clipped at 0 after a
#: subtraction: one class of one value takes them; found in QA, session 10).
ZERO_PIXELS_NOTE = 0.05


def _zero_pixels_note(histogram, exclude_zero: bool) -> str:
    """A sentence when many pixels are exactly 0 and not excluded, or ""."""
    if exclude_zero:
        return ""
    zero_rows = np.all(histogram.values == 0, axis=1)
    share = float(histogram.counts[zero_rows].sum()) / max(histogram.n_pixels, 1)
    if share < ZERO_PIXELS_NOTE:
        return ""
    return (
        f"{share:.0%} of the pixels are exactly 0 (padding, or a background "
        "clipped at 0?): one class can take that single value; if they are not "
        "part of the sample, leave them out (exclude_zero=True, the widget's "
        '"Ignore zero pixels").'
    )


def iter_segment_image(
    image,
    *,
    channel_axis: int | None = None,
    mask=None,
    smoothing_sigma=0.0,
    log_transform: bool = False,
    exclude_zero: bool = False,
    exclude_saturated: bool = False,
    n_bins: int = 256,
    n_components: Iterable[int] = range(1, 7),
    covariance_types: Iterable[str] = COVARIANCE_TYPES,
    criterion: str = IMAGE_CRITERION,
    random_state: int | None = 0,
    n_init: int = 1,
    init_params: str | None = None,
    tol: float | None = None,
    max_iter: int | None = None,
    quantization_floor: bool = True,
    probability: bool = False,
    cancel: Callable[[], bool] | None = None,
    noise: bool = False,
    cv_folds: int | None = None,
    preset: str = "default",
    allow_degenerate: bool | None = None,
) -> Generator[CandidateFit, None, SegmentationResult]:
    """:func:`segment_image` as a generator: yields each fitted candidate.

    The generator *returns* the :class:`SegmentationResult`
    (``StopIteration.value``); the napari widget drives it in a thread worker.
    Same parameters as :func:`segment_image` (no ``progress``).
    """
    pixel_kwargs = {
        "channel_axis": channel_axis,
        "mask": mask,
        "smoothing_sigma": smoothing_sigma,
        "log_transform": log_transform,
        "exclude_zero": exclude_zero,
        "exclude_saturated": exclude_saturated,
        "n_bins": n_bins,
    }
    if preset == "sklearn":
        # scikit-learn's EM with the image defaults this module always had
        init_params = "kmeans" if init_params is None else init_params
        tol = IMAGE_TOL if tol is None else tol
    max_iter = IMAGE_MAX_ITER if max_iter is None else max_iter
    sweep_kwargs = {
        "preset": preset,
        "allow_degenerate": allow_degenerate,
        "n_components": n_components,
        "covariance_types": covariance_types,
        "criterion": criterion,
        "random_state": random_state,
        "n_init": n_init,
        "init_params": init_params,
        "tol": tol,
        "max_iter": max_iter,
        "quantization_floor": quantization_floor,
        "cancel": cancel,
        "noise": noise,
        "cv_folds": cv_folds,
    }
    return _segment_generator(image, pixel_kwargs, sweep_kwargs, probability)


def segmentation_for(
    image, histogram: PixelHistogram, model, *, sweep=None, mask=None, probability=False
) -> SegmentationResult:
    """The :class:`SegmentationResult` of ``model`` on an already compressed image.

    Used for the chosen model, for any other candidate of a sweep (``sweep``
    given) and for a loaded model (``sweep=None``).
    """
    value_labels, labels, prob, unc = labels_for_model(
        image, histogram, model, mask=mask, probability=probability
    )
    return SegmentationResult(
        sweep=sweep,
        histogram=histogram,
        value_labels=value_labels,
        labels=labels,
        probability=prob,
        uncertainty=unc,
        thresholds=class_thresholds(histogram, value_labels),
    )


def segment_image(image, *, progress: Callable | None = None, **kwargs):
    """Choose the Gaussian mixture that best explains an image's pixels.

    Parameters
    ----------
    image : array-like, dask array, or list of same-shape arrays
        2-D, 3-D or time-lapse; see :func:`~napari_gmm.core.pixels.compress_image`
        for channels (``channel_axis``, or a list of single-channel arrays).
    channel_axis, mask, smoothing_sigma, log_transform, exclude_zero, \
exclude_saturated, n_bins
        Pixel features, see :func:`~napari_gmm.core.pixels.compress_image`.
    n_components, covariance_types, criterion, random_state, n_init, init_params, \
tol, max_iter
        The sweep, see :func:`~napari_gmm.core.sweep.sweep`; None takes the
        preset's value. ``criterion`` defaults to :data:`IMAGE_CRITERION`
        (``"icl"``, not the sweep's BIC: see docs/images.md). With
        ``preset="sklearn"`` ``tol`` defaults to :data:`IMAGE_TOL` (tighter
        than scikit-learn's, see there) and ``init_params`` to "kmeans";
        ``max_iter`` defaults to :data:`IMAGE_MAX_ITER` in both presets.
    preset, allow_degenerate
        See :func:`~napari_gmm.core.sweep.sweep`: "default" fits each
        candidate from several starts to a gain-based stopping rule and does
        not choose degenerate fits; "sklearn" is scikit-learn's EM.
    quantization_floor : bool, default True
        Add ``step**2 / 12`` per channel to every covariance diagonal, so that
        no component can collapse onto one quantized value (module docstring).
    probability : bool, default False
        Also return per-pixel probability and uncertainty images.
    progress, cancel : callable, optional
        As in :func:`~napari_gmm.core.sweep.sweep`.
    noise : bool, default False
        Add a uniform noise component over the range of the pixel features
        (:mod:`napari_gmm.core.noise`); its pixels get label 0, like
        excluded ones.
    cv_folds : int, optional
        Cross-validation column ``cv`` (pixel counts split among the folds),
        see :func:`~napari_gmm.core.sweep.sweep`.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    ValueError
        Invalid image or settings, a constant image, or nothing to fit.
    """
    return drive(iter_segment_image(image, **kwargs), progress)


@dataclass
class FramesResult:
    """Outcome of :func:`segment_frames`: one model per frame.

    Attributes
    ----------
    frames : list of SegmentationResult
        One per frame, in order.
    labels : ndarray
        The frames' label images stacked along the frame axis (0).
    """

    frames: list
    labels: np.ndarray

    @property
    def n_classes(self) -> list[int]:
        return [frame.n_classes for frame in self.frames]


def _frame(array, index: int):
    return array[index] if array is not None else None


def iter_segment_frames(image, *, mask=None, **kwargs):
    """Segment each frame (first axis) with its own sweep; a generator.

    Yields every fitted candidate of every frame (``CandidateFit.index``
    counts within the frame) and returns a :class:`FramesResult`. ``image``
    is one array (frames on axis 0, channels on ``channel_axis`` counted in
    the full array) or a list of same-shape arrays; ``mask``, if given, has
    the full spatial shape (frames first).
    """
    channel_axis = kwargs.pop("channel_axis", None)
    if isinstance(image, (list, tuple)):
        n_frames = image[0].shape[0]
        frames = [[channel[t] for channel in image] for t in range(n_frames)]
    else:
        n_frames = image.shape[0]
        if channel_axis is not None:
            axis = channel_axis % image.ndim
            if axis == 0:
                raise ValueError("The frame axis (0) cannot be the channel axis.")
            channel_axis = axis - 1
        frames = [image[t] for t in range(n_frames)]
    results = []
    for t, frame in enumerate(frames):
        result = yield from iter_segment_image(
            frame, mask=_frame(mask, t), channel_axis=channel_axis, **kwargs
        )
        results.append(result)
    labels = np.stack([np.asarray(r.labels) for r in results])
    return FramesResult(results, labels)


def segment_frames(image, *, progress: Callable | None = None, **kwargs):
    """One model per frame along the first axis, see :func:`iter_segment_frames`.

    Returns
    -------
    FramesResult
    """
    return drive(iter_segment_frames(image, **kwargs), progress)


#: The keyword arguments of the image entry points that are pixel settings
#: (:class:`PixelSettings`), the others being sweep settings.
PIXEL_SETTINGS = tuple(item.name for item in dataclasses.fields(PixelSettings))


def pixel_settings(**kwargs) -> dict:
    """The preprocessing part of segmentation keyword arguments: the
    :func:`compress_image` keywords of :class:`PixelSettings`."""
    return PixelSettings.from_dict(kwargs).compress_kwargs()


def apply_to_image(model, image, settings: dict, *, mask=None, probability=False):
    """Label an image with a fitted (e.g. loaded) model, without refitting.

    The image is compressed with the same preprocessing ``settings`` (see
    :func:`pixel_settings`) and every distinct value gets the model's label.

    Returns
    -------
    SegmentationResult
        ``sweep`` is None (nothing was fitted).
    """
    kwargs = PixelSettings.from_dict(settings).compress_kwargs()
    histogram = compress_image(image, mask=mask, **kwargs)
    n_features = model.means_.shape[1]
    if histogram.values.shape[1] != n_features:
        raise ValueError(
            f"The model was fitted on {n_features} channel(s) but the image has "
            f"{histogram.values.shape[1]}; check the channel axis."
        )
    return segmentation_for(image, histogram, model, mask=mask, probability=probability)


def _merge_histograms(histograms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.concatenate([h.values for h in histograms])
    counts = np.concatenate([h.counts for h in histograms])
    unique, inverse = np.unique(values, axis=0, return_inverse=True)
    merged = np.bincount(inverse.ravel(), weights=counts, minlength=len(unique))
    step = np.max([h.step for h in histograms], axis=0)
    return unique, merged, step


def segment_images(
    images,
    *,
    pooled: bool = True,
    progress: Callable | None = None,
    **kwargs,
) -> list[SegmentationResult]:
    """Segment several images: one model for all (``pooled``) or one each.

    With ``pooled=True`` the images' histograms are added up and one sweep
    chooses one model, which then labels every image (so class k means the
    same intensities in every image). Otherwise each image gets its own
    :func:`segment_image`.

    Returns
    -------
    list of SegmentationResult
        One per image; with ``pooled`` they share the same ``sweep``.
    """
    if not pooled:
        return [segment_image(image, progress=progress, **kwargs) for image in images]
    if not images:
        raise ValueError("No image to segment.")
    probability = kwargs.pop("probability", False)
    mask = kwargs.pop("mask", None)
    if mask is not None:
        raise ValueError("Masks are per image; segment pooled images without a mask.")
    pixels = PixelSettings.from_dict(kwargs)
    settings = pixels.compress_kwargs()
    quantization_floor = pixels.quantization_floor
    sweep_kwargs = {k: v for k, v in kwargs.items() if k not in PIXEL_SETTINGS}
    sweep_kwargs.setdefault("criterion", IMAGE_CRITERION)
    if sweep_kwargs.get("preset", "default") == "sklearn":
        sweep_kwargs.setdefault("tol", IMAGE_TOL)
    if sweep_kwargs.get("max_iter") is None:
        sweep_kwargs["max_iter"] = IMAGE_MAX_ITER
    histograms = [compress_image(image, **settings) for image in images]
    values, counts, step = _merge_histograms(histograms)
    if len(values) < 2:
        raise ValueError("The images have a single distinct value: nothing to segment.")
    floor = step**2 / 12.0 if quantization_floor else None
    _quantized_noise_volume(sweep_kwargs, values, step)
    result = drive(
        _histogram_sweep(values, counts, step, floor, sweep_kwargs), progress
    )
    segmentations = []
    for image, histogram in zip(images, histograms, strict=True):
        segmentations.append(
            segmentation_for(
                image, histogram, result.best, sweep=result, probability=probability
            )
        )
    return segmentations
