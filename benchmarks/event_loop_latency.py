"""Event-loop latency of napari while the points widget fits, and Cancel latency.

A QTimer fires every 10 ms on the main thread; the largest gap between two
ticks is how long the viewer was unresponsive. Gaps are reported for the
fit itself (from Run to the last fitted candidate, the worker's time) and
for adding the output layers afterwards (napari/vispy work on the main
thread). Run under a display (xvfb-run on a headless machine):

    xvfb-run -a -s "-screen 0 1920x1080x24" \
        .venv/bin/python benchmarks/event_loop_latency.py [--quick | --large]
"""

from __future__ import annotations

import argparse
import math
import time

import napari
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

TICK_MS = 10


def _points_input(viewer, n_points):
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm", "Gaussian mixture selection"
    )
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20, 20, (5, 2))
    data = np.concatenate([rng.normal(c, 1.5, (n_points // 5, 2)) for c in centres])
    viewer.add_points(data, name="points", size=0.3)
    return widget


def _image_input(viewer, n_pixels):
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm", "Segment image intensities"
    )
    side = math.isqrt(n_pixels)
    rng = np.random.default_rng(0)
    # three intensity classes in blocks, with noise: a 16-bit microscopy-like image
    classes = np.array([300.0, 1200.0, 4000.0])[
        (np.arange(side)[:, None] // 128 + np.arange(side)[None, :] // 128) % 3
    ]
    image = rng.normal(classes, 0.1 * classes).clip(0, 65535).astype(np.uint16)
    viewer.add_image(image, name="image")
    widget.choose_layers(viewer.layers["image"])
    return widget


INPUTS = {"points": _points_input, "image": _image_input}


def measure(kind: str, n: int, k_max: int, cancel_after: float | None):
    viewer = napari.Viewer(show=True)
    widget = INPUTS[kind](viewer, n)
    widget.form.k_max.value = k_max
    app = QApplication.instance()
    # let the viewer paint the input layer first: the first software-GL frame
    # of 10^5 points takes seconds under Xvfb and is not the fit's doing
    settle_until = time.perf_counter() + (3.0 if n <= 100_000 else 15.0)
    while time.perf_counter() < settle_until:
        app.processEvents()
        time.sleep(0.01)
    ticks = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    yields = []
    start = time.perf_counter()
    worker = widget.run()
    worker.yielded.connect(lambda _: yields.append(time.perf_counter()))
    cancelled_at = None
    while widget.is_running:
        app.processEvents()
        time.sleep(0.001)
        late = time.perf_counter() - start > (cancel_after or np.inf)
        if late and cancelled_at is None:
            cancelled_at = time.perf_counter()
            widget.cancel()
    end = time.perf_counter()
    timer.stop()
    fit_end = yields[-1] if yields and cancelled_at is None else end
    during = np.diff([start, *[t for t in ticks if t <= fit_end], fit_end]) * 1000.0
    viewer.close()
    return {
        "what": f"{n} {kind}" if kind == "points" else f"{kind} of {n} pixels",
        "fit_seconds": fit_end - start,
        "max_gap_ms": float(during.max()),
        "p99_gap_ms": float(np.percentile(during, 99)),
        "render_ms": (end - fit_end) * 1000.0,
        "cancel_ms": None if cancelled_at is None else (end - cancelled_at) * 1000.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--large",
        action="store_true",
        help="also 10^6 points (screened sweep) and a 2048 x 2048 uint16 image",
    )
    args = parser.parse_args()
    if args.quick:
        runs = [("points", 10_000, 4, None)]
    else:
        runs = [("points", 100_000, 6, None), ("points", 100_000, 10, 3.0)]
    if args.large:
        runs += [("points", 1_000_000, 6, None), ("image", 2048 * 2048, 6, None)]
    for kind, n, k_max, cancel_after in runs:
        r = measure(kind, n, k_max, cancel_after)
        if r["cancel_ms"] is None:
            after = f"then adding the layers took {r['render_ms']:.0f} ms"
        else:
            after = f"Cancel took {r['cancel_ms']:.0f} ms"
        print(
            f"{r['what']}, K=1..{k_max}: during the fit "
            f"({r['fit_seconds']:.1f} s) the event loop's max gap was "
            f"{r['max_gap_ms']:.0f} ms (99th percentile {r['p99_gap_ms']:.0f} ms); "
            f"{after}"
        )


if __name__ == "__main__":
    main()
