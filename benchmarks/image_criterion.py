"""Which information criterion should choose the number of classes of an image?

Runs :func:`napari_gmm.segment_image` (K = 1..9, all covariance types, the
default fitting preset) on scikit-image's bundled ``cell``, ``coins``,
``camera`` and ``immunohistochemistry`` (RGB as 3 channels with
``channel_axis=-1``, and its red channel alone), and on synthetic images
with a known number of intensity classes, and prints the number of classes
that BIC, ICL and AIC choose.

The synthetic images are generated here with fixed seeds (never stored):
2-D piecewise-constant scenes with 2, 3, 4 or 5 classes of unequal sizes
(``blobs``: nested regions of a thresholded smooth random field, like
background / cytoplasm / nucleus; ``shapes``: random ellipses and
rectangles on a background, so any class may touch any other), blurred by a
Gaussian point-spread function (sigma 1 or 2 px), then either Gaussian noise
(uint8, sd 6 grey levels, neighbouring levels 4 or 8 sd apart, no
clipping) or
Poisson noise (uint16, photon counts doubling from class to class, plus an
offset of 100). For those the table also says whether the chosen K is the
true one and the pixel accuracy of the labels against the (unblurred) class
map: each chosen class is matched, by the mean intensity of its pixels, to
the class whose noise-free level is nearest (so labels are matched by
intensity order; a split class can still be right, a merged one is not).
``acc@K`` is the accuracy of the sweep's own K = true-K model (its best
covariance type by BIC), i.e. what a correct choice of K would give.

One sweep per image: the candidates do not depend on the criterion (it only
chooses among them), so the ICL and AIC choices are made from the same fits
with the sweep's own selection rule (:func:`select_best`, degenerate fits
excluded as in the sweep). ``--check`` also runs ``segment_image`` once per
criterion and verifies that it chooses the same candidate.

A script, not a test: nothing is asserted except with ``--check``. The last
line starts with ``RESULT image_criterion:``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import ndimage

from _common import load_line, print_header

CRITERIA = ("bic", "icl", "aic")

#: Fractions of the image taken by each class (background first), per
#: number of classes: unequal on purpose.
FRACTIONS = {
    2: (0.7, 0.3),
    3: (0.5, 0.3, 0.2),
    4: (0.45, 0.25, 0.18, 0.12),
    5: (0.4, 0.24, 0.16, 0.12, 0.08),
}


# ---------------------------------------------------------------- synthetic


def blobs_scene(n_classes: int, shape, rng) -> np.ndarray:
    """Nested classes: a smooth random field cut at quantiles (0 = background)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), min(shape) / 20)
    cuts = np.quantile(field, np.cumsum(FRACTIONS[n_classes])[:-1])
    return np.searchsorted(cuts, field).astype(np.int64)


def shapes_scene(n_classes: int, shape, rng) -> np.ndarray:
    """Random ellipses and rectangles of classes 1.. on a background (class 0).

    Objects are drawn until each class covers about its fraction; later
    objects may cover earlier ones, so any class can touch any other.
    """
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    scene = np.zeros(shape, dtype=np.int64)
    targets = np.array(FRACTIONS[n_classes]) * scene.size
    for _ in range(500):
        covered = np.bincount(scene.ravel(), minlength=n_classes)
        missing = targets[1:] - covered[1:]
        if missing.max() <= 0.02 * scene.size:
            break
        cls = 1 + int(np.argmax(missing))
        radius = rng.uniform(0.04, 0.12) * min(shape)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = radius * rng.uniform(0.6, 1.4, size=2)
        if rng.random() < 0.5:
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        scene[inside] = cls
    return scene


def make_synthetic(n_classes, layout, noise, blur, seed, size):
    """(image, class map, noise-free level of each class) of one scene."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    scene = (blobs_scene if layout == "blobs" else shapes_scene)(n_classes, shape, rng)
    if noise == "poisson":
        # photon counts doubling from class to class, camera offset 100
        rates = 100.0 * 2.0 ** np.arange(n_classes)
        offset = 100.0
        expected = ndimage.gaussian_filter(rates[scene], blur)
        image = rng.poisson(expected) + offset
        levels = rates + offset
        image = np.clip(image, 0, 65535).astype(np.uint16)
    else:
        # noise sd 6 grey levels, neighbouring levels `cnr` sd apart, centred
        # on 128: no clipping at 0 or 255 (at most 5 classes, cnr 8)
        cnr = float(noise.removeprefix("gauss"))
        sigma = 6.0
        levels = 128.0 + cnr * sigma * (np.arange(n_classes) - (n_classes - 1) / 2)
        expected = ndimage.gaussian_filter(levels[scene], blur)
        image = expected + sigma * rng.standard_normal(shape)
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image, scene, levels


def synthetic_cases(args):
    seed = args.seed
    for n_classes in args.classes:
        for layout in ("blobs", "shapes"):
            for noise in args.noises:
                for blur in args.blurs:
                    seed += 1
                    name = f"{n_classes}cls {layout} {noise} blur{blur:g}"
                    yield name, n_classes, layout, noise, blur, seed


def pixel_accuracy(image, labels, scene, levels) -> float:
    """Share of pixels whose class, matched by intensity, is the true one."""
    labels = np.asarray(labels)
    flat = image.astype(float).ravel()
    counts = np.bincount(labels.ravel())
    sums = np.bincount(labels.ravel(), weights=flat)
    means = sums / np.maximum(counts, 1)
    match = np.argmin(np.abs(means[:, None] - levels[None, :]), axis=1)
    return float(np.mean(match[labels] == scene))


# ---------------------------------------------------------------- running


def real_cases(quick: bool, rgb: bool = True):
    from skimage import data

    cases = [("cell", lambda: data.cell(), None)]
    if quick:
        return cases
    ihc = data.immunohistochemistry
    cases += [
        ("coins", lambda: data.coins(), None),
        ("camera", lambda: data.camera(), None),
        ("ihc RGB", lambda: ihc(), -1),
        ("ihc red", lambda: np.ascontiguousarray(ihc()[..., 0]), None),
    ]
    # 45,100 distinct RGB tuples: minutes per sweep (445 s at load 6 on 2 cores)
    return cases if rgb else [case for case in cases if case[0] != "ihc RGB"]


def run_one(image, channel_axis, args):
    """Sweep once; each criterion's choice from the same fits."""
    from napari_gmm.core.segment import iter_segment_image, segmentation_for
    from napari_gmm.core.sweep import select_best

    fits = []
    start = time.perf_counter()
    generator = iter_segment_image(
        image,
        channel_axis=channel_axis,
        n_components=range(1, args.k_max + 1),
        criterion="bic",
        smoothing_sigma=args.smoothing,
    )
    while True:
        try:
            fits.append(next(generator))
        except StopIteration as finished:
            seg = finished.value
            break
    seconds = time.perf_counter() - start
    allow = seg.sweep.settings.get("allow_degenerate", True)
    choices = {}
    for criterion in CRITERIA:
        best, _ = select_best(fits, criterion, allow)
        if best.key == seg.sweep.best_key:
            labels = seg.labels
        else:
            labels = segmentation_for(
                image, seg.histogram, best.model, mask=None
            ).labels
        choices[criterion] = (best.key, labels)
    return seg, seconds, choices


def check_separate_runs(image, channel_axis, choices, args) -> list[str]:
    """segment_image(criterion=c) must choose what the re-selection chose."""
    from napari_gmm import segment_image

    problems = []
    for criterion in CRITERIA:
        seg = segment_image(
            image,
            channel_axis=channel_axis,
            n_components=range(1, args.k_max + 1),
            criterion=criterion,
            smoothing_sigma=args.smoothing,
        )
        if seg.sweep.best_key != choices[criterion][0]:
            problems.append(
                f"{criterion}: segment_image chose {seg.sweep.best_key}, "
                f"re-selection {choices[criterion][0]}"
            )
    return problems


def key_text(key) -> str:
    return f"{key[0]} {key[1][:4]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few small cases")
    parser.add_argument("--only", choices=("real", "synthetic"), default=None)
    parser.add_argument("--k-max", type=int, default=9, help="K = 1..k_max")
    parser.add_argument("--size", type=int, default=256, help="synthetic side, px")
    parser.add_argument("--seed", type=int, default=0, help="first synthetic seed")
    parser.add_argument("--check", action="store_true", help="see module docstring")
    parser.add_argument(
        "--no-rgb", action="store_true", help="skip ihc RGB (minutes per sweep)"
    )
    parser.add_argument("--out", help="also write the table as CSV here")
    parser.add_argument(
        "--noises",
        nargs="+",
        default=["gauss4", "gauss8", "poisson"],
        help="synthetic noises: gaussC (C = sd between neighbouring levels) "
        "and/or poisson",
    )
    parser.add_argument(
        "--blurs", nargs="+", type=float, default=[1.0, 2.0], help="PSF sigmas, px"
    )
    parser.add_argument(
        "--smoothing",
        type=float,
        default=0.0,
        help="segment_image's smoothing_sigma (default 0: none)",
    )
    args = parser.parse_args(argv)
    args.classes = (2, 3, 4, 5)
    if args.quick:
        args.k_max, args.size = min(args.k_max, 5), 96
        args.classes, args.noises, args.blurs = (2, 3), ("gauss8", "poisson"), (1.0,)
    print_header("image_criterion: BIC vs ICL vs AIC on images", argv)
    print(
        f"segment_image, K = 1..{args.k_max}, all covariance types, smoothing_sigma "
        f"{args.smoothing:g}, other settings default; one sweep per image, each "
        "criterion's choice from its fits"
    )
    header = (
        f"{'image':<28} {'dtype':>6} {'values':>7} {'true':>4} {'time s':>7} "
        + " ".join(f"{c.upper():>10} {'ok':>2} {'acc':>6}" for c in CRITERIA)
        + f" {'acc@K':>6}"
    )
    print(header)
    print("-" * len(header))
    rows, problems = [], []

    def report(name, image, seg, seconds, choices, truth=None):
        row = {
            "image": name,
            "kind": "synthetic" if truth else "real",
            "dtype": str(image.dtype),
            "n_values": seg.histogram.n_values,
            "true_k": truth[0] if truth else None,
            "time_s": round(seconds, 3),
        }
        cells = []
        for criterion in CRITERIA:
            key, labels = choices[criterion]
            row[f"{criterion}_k"] = key[0]
            row[f"{criterion}_type"] = key[1]
            if truth:
                n_true, scene, levels = truth
                row[f"{criterion}_correct"] = key[0] == n_true
                row[f"{criterion}_acc"] = pixel_accuracy(image, labels, scene, levels)
                cells.append(
                    f"{key_text(key):>10} {'y' if key[0] == n_true else '-':>2} "
                    f"{row[f'{criterion}_acc']:>6.3f}"
                )
            else:
                cells.append(f"{key_text(key):>10} {'':>2} {'':>6}")
        at_k = ""
        if truth:
            from napari_gmm.core.segment import segmentation_for

            table = seg.sweep.table
            same_k = table[(table.n_components == truth[0]) & ~table.degenerate]
            if len(same_k):
                best_row = same_k.loc[same_k.bic.idxmin()]
                model = seg.sweep.models[(truth[0], best_row.covariance_type)]
                labels = segmentation_for(image, seg.histogram, model).labels
                row["acc_at_true_k"] = pixel_accuracy(image, labels, *truth[1:])
                at_k = f"{row['acc_at_true_k']:.3f}"
        print(
            f"{name:<28} {row['dtype']:>6} {row['n_values']:>7} "
            f"{truth[0] if truth else '':>4} {seconds:>7.2f} "
            + " ".join(cells)
            + f" {at_k:>6}",
            flush=True,
        )
        rows.append(row)

    if args.only != "synthetic":
        for name, load, channel_axis in real_cases(args.quick, not args.no_rgb):
            image = load()
            seg, seconds, choices = run_one(image, channel_axis, args)
            report(name, image, seg, seconds, choices)
            if args.check:
                problems += [
                    f"{name}: {p}"
                    for p in check_separate_runs(image, channel_axis, choices, args)
                ]
    if args.only != "real":
        for name, n_classes, layout, noise, blur, seed in synthetic_cases(args):
            image, scene, levels = make_synthetic(
                n_classes, layout, noise, blur, seed, args.size
            )
            seg, seconds, choices = run_one(image, None, args)
            report(name, image, seg, seconds, choices, (n_classes, scene, levels))
            if args.check:
                problems += [
                    f"{name}: {p}"
                    for p in check_separate_runs(image, None, choices, args)
                ]

    summarize(rows)
    print(load_line("at end"))
    if args.out:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.check:
        print(
            "check (segment_image run once per criterion chooses the same): "
            + ("; ".join(problems) if problems else "all same")
        )
    synthetic = [r for r in rows if r["kind"] == "synthetic"]
    parts = []
    for criterion in CRITERIA:
        correct = sum(r[f"{criterion}_correct"] for r in synthetic)
        parts.append(f"{criterion.upper()} {correct}/{len(synthetic)}")
    real = [r for r in rows if r["kind"] == "real"]
    real_ks = {c: "/".join(str(r[f"{c}_k"]) for r in real) for c in CRITERIA}
    print()
    print(
        "RESULT image_criterion: true K found on synthetic images: "
        + ", ".join(parts)
        + "; K on the real images ("
        + "/".join(r["image"] for r in real)
        + "): "
        + ", ".join(f"{c.upper()} {real_ks[c]}" for c in CRITERIA)
    )
    return 1 if problems else 0


def summarize(rows) -> None:
    synthetic = [r for r in rows if r["kind"] == "synthetic"]
    if not synthetic:
        return
    print()
    print(
        "synthetic summary: true K found (of n), mean |K - true K|, "
        "over-/under-counts, mean pixel accuracy (acc@K: at the true K)"
    )
    groups = [("all", synthetic)]
    for true_k in sorted({r["true_k"] for r in synthetic}):
        groups.append(
            (f"true K = {true_k}", [r for r in synthetic if r["true_k"] == true_k])
        )
    for noise in sorted({r["image"].split()[2] for r in synthetic}):
        groups.append((noise, [r for r in synthetic if f" {noise} " in r["image"]]))
    for layout in ("blobs", "shapes"):
        groups.append((layout, [r for r in synthetic if f" {layout} " in r["image"]]))
    for blur in ("blur1", "blur2"):
        groups.append((blur, [r for r in synthetic if r["image"].endswith(blur)]))
    print(
        f"{'group':<14} {'n':>3} "
        + " ".join(
            f"{c.upper() + ' ok':>7} {'|dK|':>5} {'+/-':>5} {'acc':>6}"
            for c in CRITERIA
        )
        + f" {'acc@K':>6}"
    )
    for label, group in groups:
        if not group:
            continue
        cells = []
        for c in CRITERIA:
            dk = np.array([r[f"{c}_k"] - r["true_k"] for r in group])
            cells.append(
                f"{sum(r[f'{c}_correct'] for r in group):>7} "
                f"{np.mean(np.abs(dk)):>5.2f} "
                f"{f'{int((dk > 0).sum())}/{int((dk < 0).sum())}':>5} "
                f"{np.mean([r[f'{c}_acc'] for r in group]):>6.3f}"
            )
        at_k = np.mean([r.get("acc_at_true_k", np.nan) for r in group])
        print(f"{label:<14} {len(group):>3} " + " ".join(cells) + f" {at_k:>6.3f}")


if __name__ == "__main__":
    sys.exit(main())
