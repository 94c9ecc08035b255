"""Label throughput: napari-gmm's lookup table vs GaussianMixture.predict.

Once a mixture is chosen, every pixel needs a label. napari-gmm labels each
*distinct* value once and then maps the image through that table
(``label_image``); the direct way evaluates the model on every pixel
(``GaussianMixture.predict``). Both run on the same fitted model (the one
``sweep`` chose on the image's histogram) in the same run:

* numpy: an 8192 x 8192 uint16 synthetic cell image (128 MiB).
  ``label_image(image, hist, value_labels)`` on the whole image;
  ``model.predict(pixels as (N, 1) float64)`` on a 2048 x 2048 crop (it is
  linear in the number of pixels, so its GB/s carries over; the full-image
  time is scaled from the crop and said to be). Throughput is uint16 image
  bytes per second; the labels of both are compared on the crop.
* ``--large``: a lazy dask array of about 4.3 GB (32768 x 65536 uint16,
  4096 x 4096 chunks) generated chunk by chunk with ``map_blocks`` (each
  chunk a rolled copy of one synthetic 4096 x 4096 tile), never
  materialised: ``compress_image`` on it, then ``label_image`` consumed by a
  per-chunk label count. Reports the time, GB/s and the peak resident
  memory (sampled with psutil every 10 ms, and ``ru_maxrss``) against the
  array size. The pure generation cost (the same chunks reduced by a max)
  is timed too, so the lookup's own share can be read off.

Run: ``python benchmarks/label_throughput.py`` (about a minute on 2 cores),
``--large`` (adds the 4.3 GB dask array, about a minute more), ``--quick``
(1024 x 1024 and a 64 MiB dask array: seconds).
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time

import numpy as np

from _common import load_line, make_cell_image, print_header, timed
from napari_gmm import assign, sweep
from napari_gmm.core.pixels import compress_image, label_image

GB = 1e9


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds")
    parser.add_argument(
        "--large", action="store_true", help="add a lazy ~4.3 GB dask array"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.crop = 1024, 256
        args.tile, args.grid = 1024, (4, 8)  # 64 MiB, always run with --quick
    else:
        args.size, args.crop = 8192, 2048
        args.tile, args.grid = 4096, (8, 16)  # 32768 x 65536 = 4.29 GB
    return args


def repeat_times(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------
# Memory


class PeakRSS:
    """Peak resident set size of this process, sampled in a thread.

    Uses psutil when available; ``ru_maxrss`` (the lifetime peak, which can
    only be read, not reset) is reported as well.
    """

    def __init__(self, interval: float = 0.01):
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with napari
            self._process = None
        else:
            self._process = psutil.Process()
        self.interval = interval
        self.start_rss = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        return 0 if self._process is None else self._process.memory_info().rss

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self):
        self.start_rss = self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def available(self) -> bool:
        return self._process is not None


def ru_maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # Linux: KiB


# --------------------------------------------------------------------------
# The lazy dask image


def lazy_image(tile: np.ndarray, grid: tuple):
    """A dask array of ``grid`` chunks, each a rolled copy of ``tile``."""
    import dask.array as da

    n = tile.shape[0]

    def block(block_id=None):
        i, j = block_id
        return np.roll(tile, ((7919 * i + 104729 * j) % n, (15485863 * j) % n), (0, 1))

    return da.map_blocks(
        block,
        dtype=tile.dtype,
        chunks=((n,) * grid[0], (n,) * grid[1]),
        meta=np.empty((0, 0), dtype=tile.dtype),
    )


def _label_counts(block, n_labels):
    return np.bincount(block.ravel(), minlength=n_labels)[None, None, :]


def _block_max(block):
    return np.asarray(block.max(), dtype=block.dtype).reshape(1, 1)


def count_labels(labels, n_labels: int) -> np.ndarray:
    """Pixels per label of a lazy label image, chunk by chunk."""
    counts = labels.map_blocks(
        _label_counts,
        n_labels,
        dtype=np.int64,
        chunks=((1,) * labels.numblocks[0], (1,) * labels.numblocks[1], (n_labels,)),
        new_axis=2,
    )
    return counts.sum(axis=(0, 1)).compute()


def dask_case(args) -> dict:
    tile = make_cell_image((args.tile, args.tile), seed=1)
    image = lazy_image(tile, args.grid)
    size = image.size * image.dtype.itemsize
    print(
        f"dask image: {image.shape[0]} x {image.shape[1]} uint16 = {size / GB:.2f} GB "
        f"in {image.npartitions} chunks of {args.tile} x {args.tile} "
        f"({tile.nbytes / 2**20:.0f} MiB), generated lazily by map_blocks",
        flush=True,
    )
    out = {"size": size}
    with timed(out, "generate"):
        image.map_blocks(_block_max, dtype=image.dtype, chunks=(1, 1)).max().compute()
    with PeakRSS() as compress_rss, timed(out, "compress"):
        hist = compress_image(image)
    with timed(out, "sweep"):
        result = sweep(
            hist.values, weights=hist.counts, covariance_floor=hist.step**2 / 12
        )
    value_labels = assign(result.best, hist.values).labels
    n_labels = int(value_labels.max()) + 1
    expected = np.bincount(value_labels, weights=hist.counts, minlength=n_labels)
    with PeakRSS() as label_rss, timed(out, "label"):
        counts = count_labels(label_image(image, hist, value_labels), n_labels)
    out.update(
        ok=bool(np.array_equal(counts, expected)) and hist.n_pixels == image.size,
        best=result.best_key,
        rss=(compress_rss, label_rss),
    )
    gen = out["generate"]
    print(
        f"  generation only (chunks reduced by a max): {gen:.2f} s "
        f"({size / gen / GB:.2f} GB/s)"
    )
    print(
        f"  compress_image: {out['compress']:.2f} s "
        f"({size / out['compress'] / GB:.2f} GB/s incl. generation), "
        f"{hist.n_values:,} distinct values; sweep {out['sweep']:.2f} s chose "
        f"K={result.best_key[0]} {result.best_key[1]}"
    )
    lookup = out["label"] - gen
    print(
        f"  label_image + per-chunk label count: {out['label']:.2f} s "
        f"({size / out['label'] / GB:.2f} GB/s incl. generation; about "
        f"{lookup:.2f} s / {size / max(lookup, 1e-9) / GB:.2f} GB/s without it)"
    )
    print(
        f"  label counts equal the histogram's counts per label: "
        f"{'yes' if out['ok'] else 'NO'}"
    )
    for what, rss in (("compress_image", compress_rss), ("label_image", label_rss)):
        if rss.available:
            print(
                f"  peak RSS during {what}: {rss.peak / GB:.2f} GB = "
                f"{rss.peak / size:.1%} of the array ({rss.start_rss / GB:.2f} GB "
                f"before, so +{(rss.peak - rss.start_rss) / GB:.2f} GB)"
            )
    print(
        f"  ru_maxrss (process lifetime peak so far): {ru_maxrss_bytes() / GB:.2f} GB "
        f"= {ru_maxrss_bytes() / size:.1%} of the array",
        flush=True,
    )
    out["lookup_gbs"] = size / max(lookup, 1e-9) / GB
    out["peak"] = max(r.peak for r in (compress_rss, label_rss))
    return out


# --------------------------------------------------------------------------


def numpy_case(args) -> dict:
    out = {}
    with timed(out, "generate"):
        image = make_cell_image((args.size, args.size), seed=0)
    print(
        f"numpy image: {args.size} x {args.size} uint16 = {image.nbytes / GB:.3f} GB "
        f"(generated in {out['generate']:.1f} s)",
        flush=True,
    )
    with timed(out, "compress"):
        hist = compress_image(image)
    result = sweep(hist.values, weights=hist.counts, covariance_floor=hist.step**2 / 12)
    model = result.best
    value_labels = assign(model, hist.values).labels
    print(
        f"  compress_image: {out['compress']:.3f} s "
        f"({image.nbytes / out['compress'] / GB:.2f} GB/s), {hist.n_values:,} "
        f"distinct values; sweep chose K={result.best_key[0]} {result.best_key[1]}"
    )

    lut_times = repeat_times(
        lambda: label_image(image, hist, value_labels), args.repeats
    )
    lut = float(np.median(lut_times))
    labels = label_image(image, hist, value_labels)

    crop = image[: args.crop, : args.crop]

    def predict():
        return model.predict(crop.reshape(-1, 1).astype(np.float64))

    sk_times = repeat_times(predict, max(1, args.repeats // 2 + 1))
    sk = float(np.median(sk_times))
    agree = float(np.mean(predict() + 1 == labels[: args.crop, : args.crop].ravel()))
    scale = image.size / crop.size
    out.update(
        lut_gbs=image.nbytes / lut / GB,
        sk_gbs=crop.nbytes / sk / GB,
        agree=agree,
    )
    print(
        f"  label_image (lookup), whole image: median {lut:.3f} s of "
        f"{len(lut_times)} (min {min(lut_times):.3f} s) = {out['lut_gbs']:.3f} GB/s"
    )
    print(
        f"  GaussianMixture.predict on a {args.crop} x {args.crop} crop (uint16 -> "
        f"float64 included): median {sk:.3f} s of {len(sk_times)} = "
        f"{out['sk_gbs']:.4f} GB/s; whole image scaled x{scale:.0f}: "
        f"{sk * scale:.1f} s (scaled, not measured)"
    )
    print(f"  labels equal on the crop: {agree:.6%} of pixels")
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    print_header("label_throughput: label_image lookup vs GaussianMixture.predict")
    # The dask case runs first, so that ru_maxrss reflects it alone.
    lazy = dask_case(args) if (args.large or args.quick) else None
    if lazy is not None:
        print()
    eager = numpy_case(args)
    print(load_line("at end"))
    print()
    ratio = eager["lut_gbs"] / eager["sk_gbs"]
    line = (
        f"RATIO label_throughput: lookup {eager['lut_gbs']:.3f} GB/s vs predict "
        f"{eager['sk_gbs']:.4f} GB/s = {ratio:.0f}x (labels agree on "
        f"{eager['agree']:.4%})"
    )
    if lazy is not None:
        line += (
            f"; dask {lazy['size'] / GB:.2f} GB: label pass {lazy['label']:.1f} s, "
            f"peak RSS {lazy['peak'] / GB:.2f} GB ({lazy['peak'] / lazy['size']:.0%} "
            f"of the array), counts {'ok' if lazy['ok'] else 'WRONG'}"
        )
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
