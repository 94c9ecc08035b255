"""Exact histogram compression of image pixels, and label lookup.

A microscopy image has far fewer distinct values (or distinct channel tuples)
than pixels: a 2048 x 2048 uint16 image has 4 million pixels but at most
65,536 distinct values, usually a few thousand. A Gaussian mixture fitted to
the ``(distinct value, count)`` pairs, with the counts as sample weights, is
mathematically the same as one fitted to every pixel, at a fraction of the
cost. This module builds those pairs (:func:`compress_image` ->
:class:`PixelHistogram`) and turns a per-value result (a label, a
probability) back into an image by table lookup (:func:`label_image`,
:func:`value_map_image`), without evaluating the model per pixel.

Channels
    ``channel_axis=None`` is a single-channel image; an int names the channel
    axis of one array (``-1`` for RGB, ``0`` for a ``(C, Y, X)`` stack); a
    list (or tuple) of same-shape arrays is one channel per array (e.g.
    several napari Image layers). Every other axis is "spatial": 2-D, 3-D
    and time-lapse images are all just pixels.

How values are coded
    Each channel maps a pixel value to an integer code, see
    :class:`ChannelCoding`. Boolean and integer channels are coded exactly
    (``code = value - offset``). A float channel with at most ``n_bins``
    distinct values is coded exactly through its table of distinct values;
    otherwise it is cut into ``n_bins`` equal bins between its minimum and
    maximum and a pixel stands for its bin centre (the description says so
    and gives the bin width). Several channels combine their codes into one
    int64 key (mixed radix, channel 0 most significant), so sorted keys are
    lexicographically sorted values.

Features
    The values the mixture sees. With ``log_transform`` they are
    ``log1p(value)`` (pixel values must then be >= 0): integer channels are
    counted on the raw integers and transformed afterwards, which stays
    exact; float channels are transformed first, so their bins are equal in
    log space. With ``smoothing_sigma > 0`` every channel is first smoothed
    by :func:`scipy.ndimage.gaussian_filter` (``mode="reflect"``,
    ``truncate=4``) in float64 over the non-channel axes, so it is a float
    channel.

Excluded pixels
    Pixels outside the mask, pixels whose features are NaN or infinite (a
    NaN spreads to its neighbours under smoothing), and, on request, pixels
    where any channel is 0 or saturated are not counted; how many for each
    reason is in :attr:`PixelHistogram.excluded`. Zero and saturation are
    judged on the *raw* pixels (before smoothing): saturated means the dtype
    maximum for integer and boolean channels, and the channel's maximum
    (over the finite pixels inside the mask) for float channels.

Large images
    Numpy images are processed in slabs of about 4 million pixels; dask
    images chunk by chunk (one pass for integer images of 16 bits or less,
    a first min/max pass otherwise), with per-chunk counts merged in a tree,
    so memory stays around a few chunks. :func:`label_image` and
    :func:`value_map_image` return a lazy dask array for a dask input.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
from scipy import ndimage

__all__ = [
    "ChannelCoding",
    "CoarseHistogram",
    "PixelHistogram",
    "coarsen",
    "compress_image",
    "label_image",
    "value_map_image",
]

#: Key spaces up to this size may be counted with a dense ``np.bincount``.
_DENSE_COUNT_LIMIT = 1 << 20
#: Key spaces up to this size are looked up through a dense table.
_DENSE_LOOKUP_LIMIT = 1 << 22
#: Pixels per slab when a numpy image is processed piecewise.
_SLAB_PIXELS = 1 << 22
#: Largest key space; keys are int64 and are multiplied without overflow.
_MAX_KEY_SPACE = 1 << 62
#: Largest accepted ``n_bins``.
_MAX_BINS = 1 << 20
#: ``truncate`` of the Gaussian smoothing, in standard deviations.
_TRUNCATE = 4.0
#: Fan-in of the tree that merges per-chunk counts of a dask image.
_FAN_IN = 8
#: Reasons a pixel is not counted, in the order they are checked.
_REASONS = ("outside mask", "non-finite", "zero", "saturated")


# --------------------------------------------------------------------------
# Public data classes


@dataclass(frozen=True, eq=False)
class ChannelCoding:
    """How one channel's pixel values become integer codes ``0..size - 1``.

    Attributes
    ----------
    kind : {"integer", "exact", "bins"}
        ``"integer"``: ``code = raw value - offset`` (boolean and integer
        channels). ``"exact"``: ``code`` is the position of the feature value
        in ``table``. ``"bins"``: ``code = floor((feature - low) / width)``,
        the last bin closed on the right.
    size : int
        Number of codes.
    offset : int
        Raw value of code 0 (``"integer"`` only).
    table : ndarray of float64, shape (size,) or None
        Sorted distinct feature values (``"exact"`` only).
    low, high : float
        Feature range covered (``"bins"`` and ``"exact"``).
    width : float
        Bin width in feature units (``"bins"`` only, else 0).
    """

    kind: str
    size: int
    offset: int = 0
    table: np.ndarray | None = None
    low: float = 0.0
    high: float = 0.0
    width: float = 0.0

    @property
    def bin_edges(self) -> np.ndarray:
        """Edges of the bins, shape (size + 1,) (``"bins"`` only)."""
        if self.kind != "bins":
            raise AttributeError(f"a {self.kind!r} coding has no bins")
        return self.low + self.width * np.arange(self.size + 1)


@dataclass(frozen=True, eq=False)
class PixelHistogram:
    """Distinct pixel feature values of an image and how many pixels hold each.

    Fitting a mixture to ``values`` with ``counts`` as sample weights is the
    same as fitting it to every counted pixel (exactly so when ``exact``;
    for binned channels each pixel is replaced by its bin centre).

    Attributes
    ----------
    values : ndarray of float64, shape (M, C)
        Distinct feature values (after ``log1p`` if ``log_transform``; bin
        centres for binned channels), sorted lexicographically.
    counts : ndarray of float64, shape (M,)
        Pixels holding each value; sums to ``n_pixels``.
    step : ndarray of float64, shape (C,)
        Quantization step per channel in feature units: 1 for raw integers,
        the bin width for binned channels, the smallest positive gap between
        the channel's distinct values otherwise (exact floats, log
        transform), 0 if the channel holds a single value.
    n_pixels : int
        Pixels counted.
    n_excluded : int
        Pixels not counted (outside the mask, non-finite, zero, saturated).
    exact : bool
        True when no channel was binned.
    description : str
        One sentence for a user: what was compressed into what, bin widths,
        transform, smoothing and exclusions.
    excluded : dict of str to int
        Pixels not counted, per reason: ``"outside mask"``, ``"non-finite"``,
        ``"zero"``, ``"saturated"`` (each pixel counted once, for the first
        reason in that order).
    keys : ndarray of int64, shape (M,)
        Encoded key of each row (mixed radix of the channel codes), sorted.
    codings : tuple of ChannelCoding, length C
        How each channel's values are coded.
    channel_axis : int or None
        As given to :func:`compress_image` (None for one channel or a list).
    n_channels : int
        ``C``.
    log_transform : bool
        Features are ``log1p(value)``.
    smoothing_sigma : tuple of float or None
        Gaussian sigma per non-channel axis, None without smoothing.
    exclude_zero : bool
        Pixels where any raw channel is 0 were dropped.
    saturation : tuple of float or None
        Raw value per channel at which a pixel counts as saturated, None when
        saturated pixels were kept.
    """

    values: np.ndarray
    counts: np.ndarray
    step: np.ndarray
    n_pixels: int
    n_excluded: int
    exact: bool
    description: str
    excluded: dict
    keys: np.ndarray
    codings: tuple
    channel_axis: int | None
    n_channels: int
    log_transform: bool
    smoothing_sigma: tuple | None
    exclude_zero: bool
    saturation: tuple | None

    @property
    def n_values(self) -> int:
        """Number of distinct values ``M``."""
        return int(self.counts.shape[0])

    @property
    def compression_ratio(self) -> float:
        """Counted pixels per distinct value."""
        return self.n_pixels / max(self.n_values, 1)

    @cached_property
    def _strides(self) -> tuple[int, ...]:
        return _strides([coding.size for coding in self.codings])

    @cached_property
    def _key_space(self) -> int:
        return math.prod(coding.size for coding in self.codings)

    @cached_property
    def _row_lut(self) -> np.ndarray | None:
        """Dense key -> row table, or None when the key space is too large."""
        if self._key_space > _DENSE_LOOKUP_LIMIT:
            return None
        lut = np.full(self._key_space, -1, dtype=np.int64)
        lut[self.keys] = np.arange(self.n_values)
        return lut

    def index_of(self, pixels) -> np.ndarray:
        """Row of ``values`` each pixel belongs to, -1 if none.

        Parameters
        ----------
        pixels : array-like of shape (..., C), or (...) for one channel
            Pixel values in the raw image's units (before ``log1p``), after
            the same smoothing as the compressed image. Zero and saturated
            pixels give -1 only when there was no smoothing (those rules
            apply to raw pixels; :func:`label_image` applies them itself).

        Returns
        -------
        rows : ndarray of int64, shape (...)
            Index into ``values``/``counts``, -1 where the pixel's value is
            not in the table (never counted, excluded, or non-finite).
        """
        array = np.asarray(pixels)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"pixels must be numeric, got dtype {array.dtype}; pass the "
                "image's pixel values."
            )
        channels = _pixel_channels(array, self.n_channels)
        raw = channels if self.smoothing_sigma is None else None
        return _rows(self, channels, raw)


# --------------------------------------------------------------------------
# Entry points


def compress_image(
    image,
    *,
    channel_axis: int | None = None,
    mask=None,
    smoothing_sigma: float | Sequence[float] = 0.0,
    log_transform: bool = False,
    exclude_zero: bool = False,
    exclude_saturated: bool = False,
    n_bins: int = 256,
) -> PixelHistogram:
    """Count the distinct pixel values (or channel tuples) of an image.

    Parameters
    ----------
    image : ndarray, dask array, or list of them
        Pixels with at least two non-channel axes (2-D, 3-D, time...).
        A list or tuple of same-shape arrays is one channel per array.
        Boolean, integer or float dtype.
    channel_axis : int or None
        Axis of ``image`` holding the channels (e.g. -1 for RGB, 0 for a
        ``(C, Y, X)`` stack); None for a single channel or a list.
    mask : array-like of bool or int, optional
        Same shape as the image without its channel axis; pixels where it is
        0/False are not counted (a napari Labels layer works: nonzero keeps).
    smoothing_sigma : float or sequence of float, default 0
        Gaussian sigma (pixels) per non-channel axis, or one for all; 0 means
        no smoothing. Use e.g. ``(0, 2, 2)`` not to smooth across time.
    log_transform : bool, default False
        Features are ``log1p(value)``; pixel values must be >= 0.
    exclude_zero : bool, default False
        Do not count pixels where any channel is 0 (e.g. padding).
    exclude_saturated : bool, default False
        Do not count pixels where any channel is saturated (dtype maximum for
        integers, the channel's maximum for floats).
    n_bins : int, default 256
        Bins per float channel holding more than ``n_bins`` distinct values.

    Returns
    -------
    PixelHistogram

    Raises
    ------
    ValueError
        Bad shapes or settings, a mask of the wrong shape or selecting
        nothing, negative values with ``log_transform``, no pixel left after
        the mask and exclusions, or channel ranges too wide to encode.
    TypeError
        Unsupported dtypes or argument types.

    Examples
    --------
    >>> import numpy as np
    >>> histogram = compress_image(np.array([[1, 1], [2, 7]], dtype=np.uint8))
    >>> histogram.values[:, 0], histogram.counts
    (array([1., 2., 7.]), array([2., 1., 1.]))
    """
    n_bins = _check_n_bins(n_bins)
    log_transform = _check_flag(log_transform, "log_transform")
    exclude_zero = _check_flag(exclude_zero, "exclude_zero")
    exclude_saturated = _check_flag(exclude_saturated, "exclude_saturated")
    img = _prepare(image, channel_axis, mask, smoothing_sigma)
    surveys = _survey(img, n_bins, exclude_saturated)
    _check_surveys(surveys, img, log_transform)
    codings = tuple(
        _make_coding(feature.dtype, survey, n_bins, log_transform)
        for feature, survey in zip(img.features, surveys, strict=True)
    )
    plan = _CountPlan(
        codings=codings,
        strides=_strides([coding.size for coding in codings]),
        key_space=_check_key_space(codings),
        log=log_transform,
        exclude_zero=exclude_zero,
        saturation=(
            _saturation_levels(img.raw, surveys) if exclude_saturated else None
        ),
    )
    tally = _map_reduce(img, partial(_count_block, plan=plan), _merge_tallies)
    excluded = dict(zip(_REASONS, (int(n) for n in tally.dropped), strict=True))
    keys, counts = tally.keys, tally.counts
    if keys.size == 0:
        raise ValueError(_nothing_left_message(tally.n_total, excluded))
    values = _decode_keys(keys, plan)
    n_pixels = int(counts.sum())
    return PixelHistogram(
        values=values,
        counts=counts.astype(np.float64),
        step=_steps(values, codings, log_transform),
        n_pixels=n_pixels,
        n_excluded=int(tally.n_total - n_pixels),
        exact=all(coding.kind != "bins" for coding in codings),
        description=_describe(
            n_pixels, len(keys), codings, log_transform, img.sigma, excluded
        ),
        excluded=excluded,
        keys=keys.astype(np.int64),
        codings=codings,
        channel_axis=None if channel_axis is None else int(channel_axis),
        n_channels=len(codings),
        log_transform=log_transform,
        smoothing_sigma=img.sigma,
        exclude_zero=exclude_zero,
        saturation=plan.saturation,
    )


@dataclass(frozen=True)
class CoarseHistogram:
    """A histogram merged into coarser cells, for a first, cheaper fit.

    Attributes
    ----------
    values : ndarray of float64, shape (M', C)
        Per occupied cell, the count-weighted mean of the distinct values it
        merges (so each cell keeps its pixels' exact mean).
    counts : ndarray of float64, shape (M',)
        Pixels per cell (the sums of the merged counts).
    width : ndarray of float64, shape (C,)
        Cell width per channel: the channel's step times a power of two.
    """

    values: np.ndarray
    counts: np.ndarray
    width: np.ndarray

    @property
    def n_values(self) -> int:
        return int(self.counts.shape[0])


def coarsen(values, counts, step, max_values: int) -> CoarseHistogram | None:
    """Merge distinct values into cells of ``step * 2**j`` until at most ``max_values``.

    The same power ``j`` for every channel, the smallest that leaves at most
    ``max_values`` occupied cells; cells start at each channel's minimum.
    Returns None when the histogram already has at most ``max_values``
    values or a channel has no step (a single value).

    Used by :func:`~napari_gmm.core.segment.segment_image` to find the
    candidates' optima on the coarse cells first; the final fit and every
    criterion are on the exact histogram (docs/images.md).
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    step = np.broadcast_to(np.asarray(step, dtype=float), values.shape[1:])
    if len(values) <= max_values or not np.all(step > 0):
        return None
    low = values.min(axis=0)
    # lattice positions of the values (integers up to rounding)
    position = np.rint((values - low) / step).astype(np.int64)
    extent = position.max(axis=0) + 1
    for j in range(1, 63):
        code = position >> j
        cells = [int(e - 1 >> j) + 1 for e in extent]
        if math.prod(cells) < _MAX_KEY_SPACE:  # one int64 key per cell
            key = code @ np.asarray(_strides(cells), dtype=np.int64)
            unique, inverse = np.unique(key, return_inverse=True)
        else:
            unique, inverse = np.unique(code, axis=0, return_inverse=True)
        if len(unique) <= max_values or max(cells) == 1:
            break
    inverse = inverse.ravel()
    total = np.bincount(inverse, weights=counts, minlength=len(unique))
    means = (
        np.stack(
            [
                np.bincount(
                    inverse, weights=counts * values[:, c], minlength=len(unique)
                )
                for c in range(values.shape[1])
            ],
            axis=1,
        )
        / total[:, None]
    )
    return CoarseHistogram(values=means, counts=total, width=step * float(1 << j))


def label_image(image, histogram: PixelHistogram, value_labels, *, mask=None):
    """Label every pixel with the label of its distinct value.

    A table lookup: the pixel's value is coded as in :func:`compress_image`
    (a dense table indexed by ``value - offset`` for small integer ranges,
    else a search in the sorted keys), no model is evaluated per pixel.

    Parameters
    ----------
    image : ndarray, dask array, or list of them
        Same layout (channel axis or list, number of channels) as the image
        the histogram was made from; it may be another image of that kind
        (e.g. another time point). Smoothing is applied again.
    histogram : PixelHistogram
    value_labels : array-like of int, shape (M,)
        Label of each row of ``histogram.values`` (e.g. 1..K), >= 0.
    mask : array-like of bool or int, optional
        Pixels where it is 0 get label 0. Without it every pixel whose value
        is in the table is labelled, also outside the mask the histogram was
        made with (fit on a region, label everything).

    Returns
    -------
    labels : ndarray or dask array, shape = spatial shape of ``image``
        uint8 when the largest label is < 256, else uint16 (uint32 above
        65535); 0 for masked, excluded (zero, saturated, non-finite) and
        unknown pixels. A lazy dask array with the image's spatial chunks
        for a dask input.
    """
    table = _label_table(value_labels, _check_histogram(histogram))
    return _lookup_image(image, histogram, table, mask)


def value_map_image(image, histogram: PixelHistogram, per_value, *, mask=None):
    """Map every pixel to a float quantity of its distinct value.

    Same mechanics and arguments as :func:`label_image`, for e.g. the
    posterior probability or the uncertainty of each distinct value.

    Parameters
    ----------
    image : ndarray, dask array, or list of them
    histogram : PixelHistogram
    per_value : array-like of float, shape (M,)
        One number per row of ``histogram.values``.
    mask : array-like of bool or int, optional

    Returns
    -------
    ndarray or dask array, shape = spatial shape of ``image``
        float32 if ``per_value`` is float32, else float64; NaN for masked,
        excluded and unknown pixels.
    """
    table = _value_table(per_value, _check_histogram(histogram))
    return _lookup_image(image, histogram, table, mask)


# --------------------------------------------------------------------------
# Validation of the inputs


@dataclass(frozen=True)
class _Image:
    """An image split into channels, ready to be processed piecewise."""

    raw: tuple  # one spatial array per channel, as given
    features: tuple  # what is coded: smoothed float64 arrays, or ``raw``
    mask: object  # bool/int array aligned with the channels, or None
    shape: tuple
    lazy: bool
    sigma: tuple | None


def _prepare(image, channel_axis, mask, smoothing_sigma) -> _Image:
    channels = _split_channels(image, channel_axis)
    lazy = any(_is_dask(channel) for channel in channels)
    if lazy:
        channels = _align_chunks(channels)
    shape = tuple(channels[0].shape)
    chunks = channels[0].chunks if lazy else None
    sigma = _check_sigma(smoothing_sigma, len(shape), shape)
    features = (
        channels
        if sigma is None
        else tuple(_smooth(channel, sigma, lazy) for channel in channels)
    )
    return _Image(
        raw=channels,
        features=features,
        mask=_check_mask(mask, shape, chunks),
        shape=shape,
        lazy=lazy,
        sigma=sigma,
    )


def _is_dask(array) -> bool:
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(array, dask_array.Array)


def _is_channel_list(image) -> bool:
    return isinstance(image, (list, tuple)) and all(
        hasattr(item, "shape") and hasattr(item, "dtype") for item in image
    )


def _as_array(array):
    return array if _is_dask(array) else np.asarray(array)


def _split_channels(image, channel_axis) -> tuple:
    if isinstance(image, (list, tuple)) and len(image) == 0:
        raise ValueError("image is an empty list; give at least one channel array.")
    if _is_channel_list(image):
        if channel_axis is not None:
            raise ValueError(
                f"channel_axis={channel_axis!r} was given with a list of "
                f"{len(image)} arrays; a list already is one channel per "
                "array, so pass channel_axis=None."
            )
        channels = tuple(_as_array(item) for item in image)
        shapes = [tuple(channel.shape) for channel in channels]
        if len(set(shapes)) > 1:
            raise ValueError(
                f"The channel arrays must all have the same shape; got {shapes}."
            )
        what = f"channels of shape {shapes[0]}"
    else:
        array = _as_array(image)
        if channel_axis is None:
            channels = (array,)
            what = f"an image of shape {array.shape}"
        else:
            axis = _check_channel_axis(channel_axis, array.shape)
            if array.shape[axis] == 0:
                raise ValueError(
                    f"channel_axis={channel_axis} of an image of shape "
                    f"{array.shape} has length 0: there is no channel."
                )
            before = (slice(None),) * axis
            channels = tuple(array[(*before, i)] for i in range(array.shape[axis]))
            what = (
                f"an image of shape {array.shape} with channel_axis="
                f"{channel_axis} ({array.shape[axis]} channel(s) of shape "
                f"{channels[0].shape})"
            )
    for channel in channels:
        _check_channel(channel, what)
    return channels


def _check_channel_axis(channel_axis, shape) -> int:
    if isinstance(channel_axis, bool) or not isinstance(
        channel_axis, (int, np.integer)
    ):
        raise TypeError(f"channel_axis must be an int or None, got {channel_axis!r}.")
    ndim = len(shape)
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            f"channel_axis={channel_axis} is out of range for an image of shape "
            f"{shape} ({ndim} axes); use an axis in {-ndim}..{ndim - 1}, or "
            "None for a single-channel image."
        )
    return int(channel_axis) % ndim


def _check_channel(channel, what: str) -> None:
    if channel.dtype.kind not in "biuf":
        raise TypeError(
            f"Pixels of dtype {channel.dtype} are not supported ({what}); "
            "use bool, integer or float pixels."
        )
    if channel.ndim < 2:
        raise ValueError(
            f"An image needs at least two spatial axes (Y, X) besides the "
            f"channel axis; got {what}. For a plain list of values, fit them "
            "directly (e.g. with sweep)."
        )
    if math.prod(channel.shape) == 0:
        raise ValueError(f"The image has no pixel: {what}.")


def _align_chunks(channels: tuple) -> tuple:
    import dask.array as da

    reference = next(channel for channel in channels if _is_dask(channel))
    return tuple(
        channel.rechunk(reference.chunks)
        if _is_dask(channel)
        else da.from_array(channel, chunks=reference.chunks)
        for channel in channels
    )


def _check_mask(mask, shape: tuple, chunks):
    if mask is None:
        return None
    mask = _as_array(mask)
    if tuple(mask.shape) != shape:
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but the image's pixels have "
            f"shape {shape} (channel axis removed); give one mask value per "
            "pixel, e.g. a Labels layer drawn on this image."
        )
    if mask.dtype.kind not in "biu":
        raise TypeError(
            f"mask must be boolean or integer labels (nonzero = keep), got "
            f"dtype {mask.dtype}; convert it, e.g. mask > 0.5."
        )
    if chunks is not None:
        if _is_dask(mask):
            return mask.rechunk(chunks)
        import dask.array as da

        return da.from_array(mask, chunks=chunks)
    if _is_dask(mask):
        mask = np.asarray(mask.compute())
    if not mask.any():
        raise ValueError(
            f"mask selects no pixel (all {mask.size:,} entries are 0/False); "
            "draw the region to keep, or pass mask=None."
        )
    return mask


#: Largest smoothing sigma, as a fraction of the axis length: beyond it the
#: smoothed image is nearly flat, and the kernel (8 sigma + 1 taps) costs
#: time and memory in proportion to sigma.
MAX_SIGMA_FRACTION = 0.5


def _check_sigma(smoothing_sigma, ndim: int, shape=None) -> tuple | None:
    if smoothing_sigma is None:
        return None
    try:
        sigma = np.asarray(smoothing_sigma, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"smoothing_sigma must be a number or one number per spatial axis, "
            f"got {smoothing_sigma!r}."
        ) from None
    if sigma.ndim > 1 or (sigma.ndim == 1 and sigma.size not in (1, ndim)):
        raise ValueError(
            f"smoothing_sigma={smoothing_sigma!r} must be one number or {ndim} "
            f"numbers (one per spatial axis of the {ndim}-D image)."
        )
    if not (np.all(np.isfinite(sigma)) and np.all(sigma >= 0)):
        raise ValueError(
            f"smoothing_sigma must be >= 0 and finite, got {smoothing_sigma!r}; "
            "use 0 for no smoothing."
        )
    sigma = np.broadcast_to(sigma.reshape(-1), (ndim,))
    if shape is not None:
        limits = np.maximum(np.asarray(shape, dtype=float) * MAX_SIGMA_FRACTION, 1.0)
        too_wide = np.flatnonzero(sigma > limits)
        if too_wide.size:
            axis = int(too_wide[0])
            raise ValueError(
                f"smoothing_sigma={float(sigma[axis]):g} is larger than half the "
                f"image along axis {axis} ({shape[axis]} pixels), which would "
                f"smooth it flat; use at most {float(limits[axis]):g} (typically "
                "1-3 pixels)."
            )
    return None if not sigma.any() else tuple(float(s) for s in sigma)


def _check_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"n_bins must be an int, got {n_bins!r}.")
    if not 2 <= n_bins <= _MAX_BINS:
        raise ValueError(f"n_bins must be in 2..{_MAX_BINS}, got {n_bins}.")
    return int(n_bins)


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


# --------------------------------------------------------------------------
# Smoothing


def _radius(sigma: float) -> int:
    """Half-width of scipy's Gaussian kernel (its own rounding rule)."""
    return int(_TRUNCATE * sigma + 0.5)


def _smooth_block(block, sigma):
    return ndimage.gaussian_filter(
        np.asarray(block, dtype=np.float64), sigma, mode="reflect", truncate=_TRUNCATE
    )


def _smooth(channel, sigma: tuple, lazy: bool):
    if not lazy:
        return _smooth_block(channel, sigma)
    depth = {axis: _radius(s) for axis, s in enumerate(sigma)}
    # boundary="none": at the image border each block's own "reflect" mode
    # applies, which is exactly what gaussian_filter does on the whole image.
    smoothed = channel.map_overlap(
        _smooth_block,
        depth=depth,
        boundary="none",
        dtype=np.float64,
        meta=np.empty((0,) * channel.ndim, dtype=np.float64),
        sigma=sigma,
    )
    if smoothed.chunks != channel.chunks:  # dask grew chunks thinner than depth
        smoothed = smoothed.rechunk(channel.chunks)
    return smoothed


# --------------------------------------------------------------------------
# Piecewise processing: numpy slabs or dask chunks, merged


def _slabs(shape: tuple):
    """Slices along axis 0 holding about ``_SLAB_PIXELS`` pixels each."""
    rows = max(1, _SLAB_PIXELS // max(1, math.prod(shape[1:])))
    for start in range(0, shape[0], rows):
        yield (slice(start, start + rows),)


def _map_reduce(img: _Image, block_fn: Callable, merge_fn: Callable):
    """``merge_fn([block_fn(raw, features, mask) for every piece])``."""
    if not img.lazy:
        result = None
        for piece in _slabs(img.shape):
            part = block_fn(
                [channel[piece] for channel in img.raw],
                [channel[piece] for channel in img.features],
                None if img.mask is None else img.mask[piece],
            )
            result = part if result is None else merge_fn([result, part])
        return result
    import dask

    raw = [channel.to_delayed(optimize_graph=False).ravel() for channel in img.raw]
    features = [
        channel.to_delayed(optimize_graph=False).ravel() for channel in img.features
    ]
    mask = (
        None if img.mask is None else img.mask.to_delayed(optimize_graph=False).ravel()
    )
    block = dask.delayed(block_fn)
    parts = [
        block(
            [blocks[i] for blocks in raw],
            [blocks[i] for blocks in features],
            None if mask is None else mask[i],
        )
        for i in range(len(raw[0]))
    ]
    merge = dask.delayed(merge_fn)
    while len(parts) > 1:
        parts = [merge(parts[i : i + _FAN_IN]) for i in range(0, len(parts), _FAN_IN)]
    (result,) = dask.compute(parts[0])
    return result


def _keep_from(mask) -> np.ndarray | None:
    return None if mask is None else np.asarray(mask) != 0


def _selected(array, keep) -> np.ndarray:
    """The kept pixels of one channel block, as a 1-D array."""
    array = np.asarray(array)
    return array.ravel() if keep is None else array[keep]


# --------------------------------------------------------------------------
# First pass: ranges and distinct values of the channels that need them


@dataclass(frozen=True)
class _Want:
    range: bool  # min/max of the features (float and wide integer channels)
    distinct: bool  # distinct values up to n_bins (float channels)
    raw_max: bool  # maximum of the raw pixels (saturation of float channels)

    @property
    def anything(self) -> bool:
        return self.range or self.distinct or self.raw_max


@dataclass(frozen=True)
class _ChannelSurvey:
    n: int = 0  # finite feature values inside the mask
    low: float | int | None = None
    high: float | int | None = None
    raw_max: float | None = None
    distinct: np.ndarray | None = None  # None: more than the limit


def _is_small_integer(dtype) -> bool:
    return dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2)


def _wants(img: _Image, exclude_saturated: bool) -> tuple:
    wants = []
    for raw, feature in zip(img.raw, img.features, strict=True):
        is_float = feature.dtype.kind == "f"
        wants.append(
            _Want(
                range=not _is_small_integer(feature.dtype),
                distinct=is_float,
                raw_max=exclude_saturated and raw.dtype.kind == "f",
            )
        )
    return tuple(wants)


def _survey(img: _Image, n_bins: int, exclude_saturated: bool) -> tuple:
    wants = _wants(img, exclude_saturated)
    if not any(want.anything for want in wants):
        return tuple(None for _ in wants)
    block_fn = partial(_survey_block, wants=wants, limit=n_bins)
    merged = _map_reduce(img, block_fn, partial(_merge_surveys, limit=n_bins))
    return tuple(
        survey if want.anything else None
        for survey, want in zip(merged, wants, strict=True)
    )


def _survey_block(raw, features, mask, *, wants, limit) -> tuple:
    keep = _keep_from(mask)
    return tuple(
        _survey_channel(r, f, keep, want, limit) if want.anything else None
        for r, f, want in zip(raw, features, wants, strict=True)
    )


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def _survey_channel(raw, feature, keep, want: _Want, limit: int) -> _ChannelSurvey:
    values = _finite(_selected(feature, keep))
    low = high = raw_max = None
    if values.size:
        low, high = values.min().item(), values.max().item()
    if want.raw_max:
        raw_values = _finite(_selected(raw, keep))
        raw_max = float(raw_values.max()) if raw_values.size else None
    return _ChannelSurvey(
        n=int(values.size),
        low=low,
        high=high,
        raw_max=raw_max,
        distinct=_distinct_upto(values, limit) if want.distinct else None,
    )


def _distinct_upto(values: np.ndarray, limit: int) -> np.ndarray | None:
    """Sorted distinct values, or None if there are more than ``limit``."""
    if values.size > 16 * limit:
        # A strided sample with too many values settles it without a sort.
        probe = values[:: values.size // (8 * limit)]
        if np.unique(probe).size > limit:
            return None
    distinct = np.unique(values)
    return distinct if distinct.size <= limit else None


def _merge_surveys(parts: list, limit: int) -> tuple:
    return tuple(
        None if column[0] is None else _merge_channel_surveys(column, limit)
        for column in zip(*parts, strict=True)
    )


def _extreme(values, pick):
    present = [value for value in values if value is not None]
    return pick(present) if present else None


def _merge_channel_surveys(surveys, limit: int) -> _ChannelSurvey:
    distinct = None
    if all(survey.distinct is not None for survey in surveys):
        distinct = np.unique(np.concatenate([s.distinct for s in surveys]))
        if distinct.size > limit:
            distinct = None
    return _ChannelSurvey(
        n=sum(survey.n for survey in surveys),
        low=_extreme([s.low for s in surveys], min),
        high=_extreme([s.high for s in surveys], max),
        raw_max=_extreme([s.raw_max for s in surveys], max),
        distinct=distinct,
    )


def _check_surveys(surveys: tuple, img: _Image, log_transform: bool) -> None:
    for channel, survey in enumerate(surveys):
        if survey is None:
            continue
        if survey.n == 0:
            where = "inside the mask" if img.mask is not None else "in the image"
            raise ValueError(
                f"No pixel is left to compress: channel {channel} has no finite "
                f"value {where} (all {math.prod(img.shape):,} pixels are "
                "NaN/inf or masked out)."
            )
        if log_transform and survey.low < 0:
            raise ValueError(_negative_log_message(channel, survey.low))


def _negative_log_message(channel: int, low) -> str:
    return (
        f"log_transform needs pixel values >= 0, but channel {channel} has "
        f"values down to {low:g}; subtract the background (or the minimum) "
        "first, or turn log_transform off."
    )


# --------------------------------------------------------------------------
# Coding of channel values


#: Largest accepted magnitude of a float pixel (as core.sweep.MAX_ABS_VALUE):
#: the bin width and the EM's squares would overflow float64 beyond it.
_MAX_FLOAT_VALUE = 1e100

#: Smallest accepted spread of a float channel's values (as
#: core.settings.MIN_SPREAD): their squared deviations would underflow.
_MIN_FLOAT_SPREAD = 1e-100


def _make_coding(dtype, survey, n_bins: int, log: bool) -> ChannelCoding:
    if dtype.kind == "b":
        return ChannelCoding(kind="integer", size=2, offset=0)
    if dtype.kind in "iu":
        if survey is None:  # 8/16 bits: the dtype's whole range, no pass needed
            info = np.iinfo(dtype)
            return ChannelCoding(
                kind="integer",
                size=int(info.max) - int(info.min) + 1,
                offset=int(info.min),
            )
        low, high = int(survey.low), int(survey.high)
        return ChannelCoding(kind="integer", size=high - low + 1, offset=low)
    largest = max(abs(float(survey.low)), abs(float(survey.high)))
    if largest > _MAX_FLOAT_VALUE:
        raise ValueError(
            f"The image has values as large as {largest:.3g}; beyond "
            f"{_MAX_FLOAT_VALUE:.0e} their squares overflow. Rescale the image "
            f"(e.g. divide by {largest:.0e}) before segmenting."
        )
    spread = float(survey.high) - float(survey.low)
    if not log and 0 < spread < _MIN_FLOAT_SPREAD:  # (log: fitted on logs)
        raise ValueError(
            f"The image's values span only {spread:.3g}; below "
            f"{_MIN_FLOAT_SPREAD:.0e} the squares of their deviations underflow. "
            f"Rescale the image (e.g. multiply by {1 / spread:.0e}) before "
            "segmenting."
        )
    if survey.distinct is not None:
        table = np.unique(_float_features(survey.distinct, log))
        return ChannelCoding(
            kind="exact",
            size=int(table.size),
            table=table,
            low=float(table[0]),
            high=float(table[-1]),
        )
    low, high = _float_features(np.array([survey.low, survey.high]), log)
    return ChannelCoding(
        kind="bins",
        size=n_bins,
        low=float(low),
        high=float(high),
        width=float((high - low) / n_bins),
    )


def _strides(sizes: Sequence[int]) -> tuple[int, ...]:
    """Mixed-radix place values, channel 0 most significant."""
    return tuple(math.prod(sizes[c + 1 :]) for c in range(len(sizes)))


def _check_key_space(codings: tuple) -> int:
    sizes = [coding.size for coding in codings]
    space = math.prod(sizes)
    if space > _MAX_KEY_SPACE:
        # what to do depends on the channels: integer ranges are exact (a
        # float image is binned), float channels have up to n_bins values each
        advice = []
        if any(coding.kind == "integer" for coding in codings):
            advice.append("convert the image to float so wide channels are binned")
        if any(coding.kind != "integer" for coding in codings):
            most = int(2 ** (62 / len(codings)))
            advice.append(
                f"lower n_bins (with {len(codings)} channels, at most {most})"
            )
        raise ValueError(
            f"The channels' value ranges (sizes {sizes}) are too wide to encode "
            f"every channel tuple exactly in one int64 key ({space:.3g} > 2**62); "
            f"{', or '.join(advice)}, or use fewer channels."
        )
    return space


def _float_features(values, log: bool) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not log:
        return values
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log1p(values)


def _subtract_offset(values: np.ndarray, offset: int) -> np.ndarray:
    """``values - offset`` without overflow (int64, or small unsigned as is)."""
    if values.dtype.kind == "b":
        return values.view(np.uint8)
    if offset == 0 and values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        return values
    if values.dtype == np.uint64:
        return (values - np.uint64(offset)).view(np.int64)
    return values.astype(np.int64) - offset


def _encode_integer(coding: ChannelCoding, values, check: bool):
    values = np.asarray(values)
    if values.dtype.kind in "biu":
        codes = _subtract_offset(values, coding.offset)
        if not check:
            return codes, None
        ok = (codes >= 0) & (codes < coding.size)
        return np.where(ok, codes, 0), ok
    # Float pixels looked up in an integer table: only integral values match.
    shifted = values.astype(np.float64) - coding.offset
    with np.errstate(invalid="ignore"):
        ok = (shifted == np.floor(shifted)) & (shifted >= 0) & (shifted < coding.size)
    return np.where(ok, shifted, 0).astype(np.int64), ok


def _encode_exact(coding: ChannelCoding, features: np.ndarray):
    codes = np.minimum(np.searchsorted(coding.table, features), coding.size - 1)
    ok = coding.table[codes] == features
    return np.where(ok, codes, 0), ok


def _encode_bins(coding: ChannelCoding, features: np.ndarray):
    with np.errstate(invalid="ignore"):
        ok = (features >= coding.low) & (features <= coding.high)
        scaled = np.where(ok, (features - coding.low) / coding.width, 0.0)
    codes = np.minimum(np.floor(scaled).astype(np.int64), coding.size - 1)
    return codes, ok


def _encode(coding: ChannelCoding, values, log: bool, check: bool = True):
    """Codes of one channel's pixel values and which pixels have one.

    Returns
    -------
    codes : ndarray of int, same shape as ``values``
        0 where the pixel has no code.
    ok : ndarray of bool or None
        None when ``check`` is False for integer codings (the caller knows
        every value is in range).
    """
    if coding.kind == "integer":
        return _encode_integer(coding, values, check)
    features = _float_features(values, log)
    if coding.kind == "exact":
        return _encode_exact(coding, features)
    return _encode_bins(coding, features)


def _decode(coding: ChannelCoding, codes: np.ndarray, log: bool) -> np.ndarray:
    """Feature values of codes (raw integers before the log for "integer")."""
    if coding.kind == "integer":
        return codes.astype(np.float64) + coding.offset
    if coding.kind == "exact":
        return coding.table[codes]
    return coding.low + (codes + 0.5) * coding.width


def _combine(codes: list, strides: tuple) -> np.ndarray:
    """One key per pixel from the per-channel codes (mixed radix)."""
    if len(codes) == 1:
        return codes[0]
    key = codes[0].astype(np.int64) * strides[0]
    for channel_codes, stride in zip(codes[1:], strides[1:], strict=True):
        key += channel_codes.astype(np.int64) * stride
    return key


def _saturation_levels(raw: tuple, surveys: tuple) -> tuple:
    levels = []
    for channel, survey in zip(raw, surveys, strict=True):
        if channel.dtype.kind == "b":
            levels.append(1.0)
        elif channel.dtype.kind in "iu":
            levels.append(float(np.iinfo(channel.dtype).max))
        else:
            levels.append(survey.raw_max)
    return tuple(levels)


# --------------------------------------------------------------------------
# Second pass: counting


@dataclass(frozen=True, eq=False)
class _CountPlan:
    codings: tuple
    strides: tuple
    key_space: int
    log: bool
    exclude_zero: bool
    saturation: tuple | None


@dataclass(frozen=True, eq=False)
class _Tally:
    """Counts of one piece of the image (or of several, merged)."""

    n_total: int  # pixels in the piece(s)
    dropped: np.ndarray  # (4,) pixels not counted per reason, see _REASONS
    keys: np.ndarray  # sorted distinct keys, int64
    counts: np.ndarray  # pixels per key, int64


def _drop(keep, bad) -> tuple:
    """Remove ``bad`` pixels from ``keep`` (None: all); also how many went."""
    if bad is None:
        return keep, 0
    if keep is None:
        return ~bad, int(np.count_nonzero(bad))
    newly = keep & bad
    return keep & ~bad, int(np.count_nonzero(newly))


def _any_of(masks: list) -> np.ndarray | None:
    masks = [mask for mask in masks if mask is not None]
    if not masks:
        return None
    result = masks[0].copy()
    for mask in masks[1:]:
        result |= mask
    return result


def _nonfinite(features) -> np.ndarray | None:
    return _any_of(
        [
            ~np.isfinite(np.asarray(feature))
            for feature in features
            if feature.dtype.kind == "f"
        ]
    )


def _equal_to(raw, levels) -> np.ndarray | None:
    return _any_of(
        [
            np.asarray(channel) == level
            for channel, level in zip(raw, levels, strict=True)
        ]
    )


def _excluded_pixels(raw, features, mask, plan: _CountPlan) -> tuple:
    """Pixels to count (None: all) and how many were dropped, per reason."""
    keep = _keep_from(mask)
    dropped = np.zeros(len(_REASONS), dtype=np.int64)
    if keep is not None:
        dropped[0] = keep.size - np.count_nonzero(keep)
    keep, dropped[1] = _drop(keep, _nonfinite(features))
    if plan.exclude_zero:
        keep, dropped[2] = _drop(keep, _equal_to(raw, [0] * len(raw)))
    if plan.saturation is not None:
        keep, dropped[3] = _drop(keep, _equal_to(raw, plan.saturation))
    return keep, dropped


def _count_keys(keys: np.ndarray, key_space: int) -> tuple:
    """Sorted distinct keys and their counts, both int64."""
    if key_space <= _DENSE_COUNT_LIMIT and key_space <= 8 * keys.size:
        counts = np.bincount(keys, minlength=key_space)
        present = np.flatnonzero(counts)
        return present.astype(np.int64), counts[present].astype(np.int64)
    distinct, counts = np.unique(keys, return_counts=True)
    return distinct.astype(np.int64), counts.astype(np.int64)


def _count_block(raw, features, mask, *, plan: _CountPlan) -> _Tally:
    keep, dropped = _excluded_pixels(raw, features, mask, plan)
    codes = [
        _encode(coding, _selected(feature, keep), plan.log, check=False)[0]
        for coding, feature in zip(plan.codings, features, strict=True)
    ]
    keys, counts = _count_keys(_combine(codes, plan.strides), plan.key_space)
    return _Tally(
        n_total=math.prod(np.shape(raw[0])),
        dropped=dropped,
        keys=keys,
        counts=counts,
    )


def _merge_tallies(parts: list) -> _Tally:
    keys = np.concatenate([part.keys for part in parts])
    counts = np.concatenate([part.counts for part in parts])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    if keys.size:
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        keys, counts = keys[starts], np.add.reduceat(counts, starts)
    return _Tally(
        n_total=sum(part.n_total for part in parts),
        dropped=np.sum([part.dropped for part in parts], axis=0),
        keys=keys,
        counts=counts,
    )


def _nothing_left_message(n_total: int, excluded: dict) -> str:
    phrases = {
        "outside mask": "outside the mask",
        "non-finite": "NaN/inf",
        "zero": "zero",
        "saturated": "saturated",
    }
    reasons = ", ".join(
        f"{n:,} {'is' if n == 1 else 'are'} {phrases[reason]}"
        for reason, n in excluded.items()
        if n
    )
    return (
        f"No pixel is left to compress: of {_pixels(n_total)}, {reasons}. "
        "Enlarge the mask or turn off exclude_zero / exclude_saturated."
    )


# --------------------------------------------------------------------------
# Building the histogram


def _decode_keys(keys: np.ndarray, plan: _CountPlan) -> np.ndarray:
    values = np.empty((keys.size, len(plan.codings)), dtype=np.float64)
    for channel, (coding, stride) in enumerate(
        zip(plan.codings, plan.strides, strict=True)
    ):
        codes = (keys // stride) % coding.size
        column = _decode(coding, codes, plan.log)
        if coding.kind == "integer" and plan.log:
            if column.min() < 0:
                raise ValueError(_negative_log_message(channel, column.min()))
            column = np.log1p(column)
        values[:, channel] = column
    return values


def _smallest_gap(column: np.ndarray) -> float:
    gaps = np.diff(np.unique(column))
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else 0.0


def _steps(values: np.ndarray, codings: tuple, log: bool) -> np.ndarray:
    steps = []
    for channel, coding in enumerate(codings):
        if coding.kind == "integer" and not log:
            steps.append(1.0)
        elif coding.kind == "bins":
            steps.append(coding.width)
        else:
            steps.append(_smallest_gap(values[:, channel]))
    return np.array(steps, dtype=np.float64)


def _pixels(n: int, adjective: str = "") -> str:
    """``"1 zero pixel"``, ``"1,024 pixels"``."""
    words = [f"{n:,}", adjective, "pixel" if n == 1 else "pixels"]
    return " ".join(word for word in words if word)


def _describe(n_pixels, n_rows, codings, log, sigma, excluded) -> str:
    n_channels = len(codings)
    noun = "value" if n_rows == 1 else "values"
    what = (
        f"distinct {noun}"
        if n_channels == 1
        else f"distinct {n_channels}-channel {noun}"
    )
    binned = [coding for coding in codings if coding.kind == "bins"]
    if not binned:
        parts = [f"{_pixels(n_pixels)} compressed exactly to {n_rows:,} {what}"]
    elif n_channels == 1:
        parts = [
            f"{_pixels(n_pixels)} binned to {n_rows:,} {what} ({binned[0].size} "
            f"equal bins, bin width {binned[0].width:.2g})"
        ]
    else:
        per_channel = "; ".join(
            f"channel {c}: "
            + (
                f"{coding.size} bins of width {coding.width:.2g}"
                if coding.kind == "bins"
                else "exact"
            )
            for c, coding in enumerate(codings)
        )
        parts = [f"{_pixels(n_pixels)} binned to {n_rows:,} {what} ({per_channel})"]
    if log:
        parts.append("features are log1p(value)")
    if sigma is not None:
        shown = sigma[0] if len(set(sigma)) == 1 else sigma
        parts.append(f"after Gaussian smoothing with sigma {shown}")
    n_outside = excluded["outside mask"]
    if n_outside:
        parts.append(f"{_pixels(n_outside)} outside the mask")
    dropped = [
        _pixels(excluded[reason], adjective)
        for reason, adjective in (
            ("non-finite", "NaN/inf"),
            ("zero", "zero"),
            ("saturated", "saturated"),
        )
        if excluded[reason]
    ]
    if dropped:
        parts.append(", ".join(dropped) + " excluded")
    return "; ".join(parts) + "."


# --------------------------------------------------------------------------
# Lookup: per-value tables -> images


def _pixel_channels(array: np.ndarray, n_channels: int) -> list:
    if n_channels == 1 and not (array.ndim >= 1 and array.shape[-1] == 1):
        return [array]
    if array.ndim < 1 or array.shape[-1] != n_channels:
        raise ValueError(
            f"pixels must have shape (..., {n_channels}) for this "
            f"{n_channels}-channel histogram, got shape {array.shape}."
        )
    return [array[..., c] for c in range(n_channels)]


def _valid_codes(histogram: PixelHistogram, features, raw) -> tuple:
    """Per-pixel key and whether the pixel can be in the table."""
    codes, ok = [], None
    for coding, feature in zip(histogram.codings, features, strict=True):
        channel_codes, channel_ok = _encode(coding, feature, histogram.log_transform)
        codes.append(channel_codes)
        ok = channel_ok if ok is None else ok & channel_ok
    if raw is not None:
        bad = _any_of(
            [
                _equal_to(raw, [0] * len(raw)) if histogram.exclude_zero else None,
                None
                if histogram.saturation is None
                else _equal_to(raw, histogram.saturation),
            ]
        )
        if bad is not None:
            ok &= ~bad
    return _combine(codes, histogram._strides), ok


def _rows(histogram: PixelHistogram, features, raw) -> np.ndarray:
    keys, ok = _valid_codes(histogram, features, raw)
    lut = histogram._row_lut
    if lut is not None:
        rows = lut[keys]
    else:
        position = np.minimum(
            np.searchsorted(histogram.keys, keys), histogram.n_values - 1
        )
        rows = np.where(histogram.keys[position] == keys, position, -1)
    return np.where(ok, rows, -1)


@dataclass(frozen=True, eq=False)
class _Lookup:
    """Maps pixel blocks to ``table[row + 1]`` (``table[0]``: no row)."""

    histogram: PixelHistogram
    table: np.ndarray

    @cached_property
    def _key_lut(self) -> np.ndarray | None:
        lut = self.histogram._row_lut
        return None if lut is None else self.table[lut + 1]

    def __call__(self, raw, features, mask) -> np.ndarray:
        if self._key_lut is not None:
            keys, ok = _valid_codes(self.histogram, features, raw)
            out = self._key_lut[keys]
            out[~ok] = self.table[0]
        else:
            out = self.table[_rows(self.histogram, features, raw) + 1]
        if mask is not None:
            out[np.asarray(mask) == 0] = self.table[0]
        return out


def _check_histogram(histogram) -> PixelHistogram:
    if not isinstance(histogram, PixelHistogram):
        raise TypeError(
            f"histogram must be a PixelHistogram from compress_image, got "
            f"{type(histogram).__name__}."
        )
    return histogram


def _label_table(value_labels, histogram: PixelHistogram) -> np.ndarray:
    labels = np.asarray(value_labels)
    if labels.shape != (histogram.n_values,):
        raise ValueError(
            f"value_labels must hold one label per distinct value, shape "
            f"({histogram.n_values},), got shape {labels.shape}."
        )
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "biu":
        raise TypeError(
            f"value_labels must be integers (e.g. 1..K), got dtype {labels.dtype}."
        )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"value_labels must be >= 0 (0 = no label), got {labels.min()}."
        )
    top = int(labels.max()) if labels.size else 0
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
    table = np.zeros(histogram.n_values + 1, dtype=dtype)
    table[1:] = labels
    return table


def _value_table(per_value, histogram: PixelHistogram) -> np.ndarray:
    values = np.asarray(per_value)
    if values.shape != (histogram.n_values,):
        raise ValueError(
            f"per_value must hold one number per distinct value, shape "
            f"({histogram.n_values},), got shape {values.shape}."
        )
    if values.dtype.kind not in "biuf":
        raise TypeError(f"per_value must be numeric, got dtype {values.dtype}.")
    dtype = np.float32 if values.dtype == np.float32 else np.float64
    table = np.full(histogram.n_values + 1, np.nan, dtype=dtype)
    table[1:] = values
    return table


def _check_layout(img: _Image, histogram: PixelHistogram) -> None:
    if len(img.raw) != histogram.n_channels:
        raise ValueError(
            f"The image has {len(img.raw)} channel(s) but the histogram was made "
            f"from {histogram.n_channels}; give an image with the same channels "
            f"(channel_axis={histogram.channel_axis})."
        )


def _lookup_blocks(*blocks, n_channels: int, smoothed: bool, lookup: _Lookup):
    raw = blocks[:n_channels]
    features = blocks[n_channels : 2 * n_channels] if smoothed else raw
    rest = blocks[2 * n_channels :] if smoothed else blocks[n_channels:]
    return lookup(raw, features, rest[0] if rest else None)


def _lookup_image(image, histogram: PixelHistogram, table: np.ndarray, mask):
    img = _prepare(image, histogram.channel_axis, mask, histogram.smoothing_sigma)
    _check_layout(img, histogram)
    lookup = _Lookup(histogram, table)
    if not img.lazy:
        out = np.empty(img.shape, dtype=table.dtype)
        for piece in _slabs(img.shape):
            out[piece] = lookup(
                [channel[piece] for channel in img.raw],
                [channel[piece] for channel in img.features],
                None if img.mask is None else img.mask[piece],
            )
        return out
    import dask.array as da

    smoothed = img.sigma is not None
    arrays = [
        *img.raw,
        *(img.features if smoothed else ()),
        *(() if img.mask is None else (img.mask,)),
    ]
    return da.map_blocks(
        _lookup_blocks,
        *arrays,
        dtype=table.dtype,
        meta=np.empty((0,) * len(img.shape), dtype=table.dtype),
        n_channels=len(img.raw),
        smoothed=smoothed,
        lookup=lookup,
    )
