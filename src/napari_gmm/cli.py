"""``napari-gmm`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_DEMO_DIR = Path("napari-gmm-demo")


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _print_summary(result) -> None:
    row = result.best_row
    print(
        f"Chosen by {result.criterion.upper()}: {row.covariance_type} model, "
        f"{row.n_components} components ({result.criterion.upper()} = "
        f"{row[result.criterion]:.4f}), {len(result.table)} candidates fitted."
    )


def _demo_headless(out_dir: Path, table_path: Path | None) -> int:
    """Fit the seed example and write its results without any Qt or display."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from ._plot import selection_figure
    from .core import assign, ellipse_radius, make_seed_example, sweep

    X = make_seed_example()
    result = sweep(X)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = table_path or out_dir / "criterion_table.csv"
    result.table.to_csv(table_path, index=False)
    assignment = assign(result.best, X)
    points = pd.DataFrame(X, columns=["x0", "x1"]).assign(
        label=assignment.labels,
        probability=assignment.probability,
        uncertainty=assignment.uncertainty,
    )
    points.to_csv(out_dir / "labeled_points.csv", index=False)
    figure = selection_figure(result, X, ellipse_radius())
    figure.savefig(out_dir / "selection.png", dpi=100)
    _print_summary(result)
    print(
        f"No display found, so napari was not opened. Wrote {table_path}, "
        f"{out_dir / 'labeled_points.csv'} and {out_dir / 'selection.png'}."
    )
    return 0


def _demo_viewer(screenshot: Path | None, table_path: Path | None) -> int:
    """Open napari with the seed sample, run the widget, optionally save and quit."""
    import napari
    from qtpy.QtCore import QTimer

    viewer = napari.Viewer(title="napari-gmm demo")
    viewer.window.resize(1500, 900)
    (points,) = viewer.open_sample("napari-gmm", "seed_example")
    # Show axis 0 horizontally and axis 1 upwards, as in the matplotlib example.
    viewer.dims.order = (1, 0)
    viewer.camera.orientation2d = ("up", "right")
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-gmm", "Gaussian mixture selection"
    )
    widget._layer_combo.value = points
    outcome = {"code": 1}

    def finished(result):
        _print_summary(result)
        if table_path is not None:
            result.table.to_csv(table_path, index=False)
            print(f"Wrote {table_path}.")
        outcome["code"] = 0
        if screenshot is not None:
            viewer.reset_view()
            # Let Qt paint the new layers and the plot before grabbing.
            QTimer.singleShot(500, save_and_close)

    def save_and_close():
        viewer.screenshot(str(screenshot), canvas_only=False)
        print(f"Wrote {screenshot}.")
        viewer.close()

    def failed(message):
        print(f"error: {message}", file=sys.stderr)
        if screenshot is not None:
            viewer.close()

    widget.sweep_finished.connect(finished)
    widget.sweep_failed.connect(failed)
    widget.run()
    napari.run()
    return outcome["code"]


def demo(args) -> int:
    headless = args.headless or (args.screenshot is None and not _has_display())
    if headless:
        if args.screenshot is not None:
            print(
                "error: --screenshot and --headless exclude each other.",
                file=sys.stderr,
            )
            return 2
        return _demo_headless(args.out, args.table)
    if not _has_display():
        print(
            "error: --screenshot needs a display; run it under `xvfb-run -a`.",
            file=sys.stderr,
        )
        return 2
    return _demo_viewer(args.screenshot, args.table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-gmm",
        description="Choose the Gaussian mixture model that best explains your data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo",
        help="sweep the scikit-learn GMM selection example and show the result",
        description=(
            "Load the scikit-learn GMM model-selection example (2 x 500 points), "
            "fit K = 1..6 x {spherical, tied, diag, full}, choose by BIC and show "
            "it in napari. Without a display (or with --headless) the results "
            "are written to files instead."
        ),
    )
    demo_parser.add_argument(
        "--screenshot",
        type=Path,
        help="save a PNG of the napari window (with its docks) when done, then exit",
    )
    demo_parser.add_argument(
        "--table", type=Path, help="write the criterion table (CSV) to this file"
    )
    demo_parser.add_argument(
        "--headless",
        action="store_true",
        help="do not open napari; write table, labeled points and a figure",
    )
    demo_parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DEMO_DIR,
        help=f"output folder of the headless demo (default: {DEFAULT_DEMO_DIR})",
    )
    demo_parser.set_defaults(handler=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)
