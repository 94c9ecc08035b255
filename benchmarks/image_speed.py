"""Default image sweep: this checkout vs another source tree, in one run.

For each image, ``segment_image(image)`` with its defaults (K = 1..6 x the
four covariance types, ICL) is timed (median of 3 runs, or fewer if they
take over 20 s) in a fresh subprocess for each of two
source trees: this checkout's ``src`` and ``--base`` (e.g. a ``git
worktree`` of the commit before a change), alternating, so that both see
the same load. ``skimage.filters.threshold_multiotsu`` (3 classes, on a
256-bin ``np.histogram``, as ``vs_mclust.py --images``) is timed in the same
subprocess as this checkout's sweep.

Printed per image: distinct values, both times and their ratio, both
choices (ICL, the default, and the lowest BIC among converged,
non-degenerate rows), per candidate the BIC difference ``this - base``
(largest and how many are worse by more than 0.1; negative = better), and
the E-steps of the kept fits (the table's ``n_iter`` summed over the rows
actually fitted: the short runs of the other starts are not counted).

Images: ``camera16`` (skimage's camera scaled to uint16 with a seeded
dither, 512 x 512, as in ``vs_mclust.py``), ``camera``, ``coins``,
``cell``, ``ihc_red`` (skimage, 8 bit), ``ihc_rgb`` (the RGB
immunohistochemistry image, ``channel_axis=-1``: minutes with the old
defaults), ``cells512`` (the synthetic 3-class uint16 image of
``image_sweep.py``), and synthetic ground-truth images of
``image_criterion.py``: ``syn_gauss4``, ``syn_gauss8``, ``syn_poisson``
(3 classes, blobs, blur 1, 256 x 256), whose pixel accuracy against the
true classes is printed too.

Run::

    git worktree add /tmp/base <commit>
    OMP_NUM_THREADS=1 python benchmarks/image_speed.py --base /tmp/base/src
    python benchmarks/image_speed.py --images camera16,cell   # this tree only

The last line, ``RATIO image_speed:``, sums up the ratios (base time /
this time with ``--base``, else this time / multi-Otsu's); ``--quick``
times ``cell`` only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

DEFAULT_IMAGES = (
    "camera16",
    "camera",
    "coins",
    "cell",
    "ihc_red",
    "cells512",
    "syn_gauss4",
    "syn_gauss8",
    "syn_poisson",
)

SYNTHETIC = {"syn_gauss4": "gauss4", "syn_gauss8": "gauss8", "syn_poisson": "poisson"}


def load(name: str):
    """(image, channel_axis, (scene, levels) or None)."""
    import numpy as np
    from skimage import data

    sys.path.insert(0, str(HERE))
    if name == "camera16":
        from vs_mclust import make_image

        return make_image(512), None, None
    if name == "cells512":
        from _common import make_cell_image

        return make_cell_image((512, 512)), None, None
    if name in SYNTHETIC:
        from image_criterion import make_synthetic

        image, scene, levels = make_synthetic(3, "blobs", SYNTHETIC[name], 1, 1, 256)
        return image, None, (scene, levels)
    if name == "ihc_rgb":
        return data.immunohistochemistry(), -1, None
    if name == "ihc_red":
        return np.ascontiguousarray(data.immunohistochemistry()[..., 0]), None, None
    return getattr(data, name)(), None, None


def worker(name: str, otsu: bool) -> dict:
    import time
    import warnings

    import numpy as np

    import napari_gmm
    from napari_gmm import segment_image

    warnings.simplefilter("ignore")
    image, channel_axis, truth = load(name)
    segment_image(np.asarray(image)[:32, :32])  # warm-up (imports, numba)
    times = []
    while len(times) < 3 and sum(times) < 20.0:  # median of up to 3 runs
        start = time.perf_counter()
        seg = segment_image(image, channel_axis=channel_axis)
        times.append(time.perf_counter() - start)
    elapsed = float(np.median(times))
    table = seg.table
    # rows copied from an equivalent fit (one channel) cost no E-steps
    fitted = table.fit_time_s > 0
    ok = table[table.converged & ~table.degenerate & np.isfinite(table.bic)]
    bic_row = ok.sort_values(["bic", "n_parameters"]).iloc[0]
    out = {
        "source": str(Path(napari_gmm.__file__).parent),
        "time": elapsed,
        "n_values": int(seg.histogram.n_values),
        "choice": [int(seg.sweep.best_key[0]), seg.sweep.best_key[1]],
        "bic_choice": [int(bic_row.n_components), bic_row.covariance_type],
        "bic": {
            f"{r.n_components} {r.covariance_type}": float(r.bic)
            for r in table.itertuples()
        },
        "n_iter": int(table.n_iter[fitted].sum()),
        "runs": len(times),
    }
    if truth is not None:
        sys.path.insert(0, str(HERE))
        from image_criterion import pixel_accuracy

        out["accuracy"] = pixel_accuracy(image, seg.labels, *truth)
    if otsu and channel_axis is None:
        from skimage.filters import threshold_multiotsu

        times = []
        for _ in range(5):
            start = time.perf_counter()
            counts, edges = np.histogram(image, bins=256)
            threshold_multiotsu(hist=(counts, (edges[:-1] + edges[1:]) / 2), classes=3)
            times.append(time.perf_counter() - start)
        out["otsu"] = float(np.median(times))
    return out


def run(src: Path, name: str, otsu: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", name]
    if otsu:
        command.append("--otsu")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{name} ({src}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def key(pair) -> str:
    return f"{pair[0]} {pair[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=",".join(DEFAULT_IMAGES))
    parser.add_argument("--quick", action="store_true", help="cell only (seconds)")
    parser.add_argument("--base", help="src directory of the tree to compare with")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--otsu", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.otsu)))
        return 0
    sys.path.insert(0, str(HERE))
    from _common import load_line

    print(load_line("start"))
    images = ["cell"] if args.quick else args.images.split(",")
    summary = []
    for name in images:
        base = run(Path(args.base), name, False) if args.base else None
        ours = run(SRC, name, True)
        line = [f"{name}: {ours['n_values']:,} values"]
        if base:
            line.append(
                f"base {base['time']:.2f} s, this {ours['time']:.2f} s "
                f"({base['time'] / ours['time']:.1f}x faster)"
            )
        else:
            line.append(f"this {ours['time']:.2f} s")
        if "otsu" in ours:
            line.append(
                f"multi-Otsu {ours['otsu'] * 1e3:.1f} ms (this / multi-Otsu "
                f"{ours['time'] / ours['otsu']:.0f}x)"
            )
        print("; ".join(line))
        if base:
            summary.append(f"{name} {base['time'] / ours['time']:.1f}x faster")
        elif "otsu" in ours:
            summary.append(f"{name} {ours['time'] / ours['otsu']:.0f}x multi-Otsu")
        choice = f"  ICL choice: this {key(ours['choice'])}"
        choice += f", BIC: this {key(ours['bic_choice'])}"
        if base:
            choice += (
                f" | base ICL {key(base['choice'])}, BIC {key(base['bic_choice'])}"
            )
        print(choice)
        if "accuracy" in ours:
            text = f"  pixel accuracy: this {ours['accuracy']:.4f}"
            if base:
                text += f", base {base['accuracy']:.4f}"
            print(text)
        if base:
            diffs = {k: ours["bic"][k] - base["bic"][k] for k in ours["bic"]}
            worse = {k: round(d, 3) for k, d in diffs.items() if d > 0.1}
            print(
                f"  BIC this - base: largest {max(diffs.values()):+.3g}, smallest "
                f"{min(diffs.values()):+.3g}; worse by > 0.1: {worse or 'none'}; "
                f"E-steps of the kept fits {ours['n_iter']} vs {base['n_iter']}"
            )
        sys.stdout.flush()
    print(load_line("end"))
    print("RATIO image_speed: " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
