"""``napari-gmm`` command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

DEFAULT_DEMO_DIR = Path("napari-gmm-demo")

#: Longest wait for an X server to accept the demo's connection.
DISPLAY_PROBE_SECONDS = 5.0

#: Exit code after Ctrl-C (128 + SIGINT), as shells use.
EXIT_INTERRUPTED = 130


def _x_display_reachable(name: str) -> bool:
    """Whether an X server accepts a connection on ``name`` (libX11, no Qt).

    Qt aborts the process (SIGABRT) when it cannot connect, so the demo asks
    first; without libX11, Qt's xcb platform could not run either.
    """
    import ctypes
    import ctypes.util

    library = ctypes.util.find_library("X11")
    if library is None:
        return False
    try:
        xlib = ctypes.cdll.LoadLibrary(library)
    except OSError:
        return False
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    outcome = []

    def probe():
        handle = xlib.XOpenDisplay(name.encode())
        if handle:
            xlib.XCloseDisplay(handle)
        outcome.append(bool(handle))

    # libX11 prints why it failed ("Authorization required..."): not ours to
    # show; and a remote display that does not answer must not hang the demo
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            thread = threading.Thread(target=probe, daemon=True)
            thread.start()
            thread.join(DISPLAY_PROBE_SECONDS)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return bool(outcome and outcome[0])


def _wayland_reachable(name: str) -> bool:
    path = Path(name)
    if not path.is_absolute():
        path = Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / name
    return path.exists()


def _has_display() -> bool:
    """A display napari can open: not only named in the environment, reachable."""
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal"):
        return True
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland and _wayland_reachable(wayland):
        return True
    x_display = os.environ.get("DISPLAY")
    return bool(x_display) and _x_display_reachable(x_display)


class _Outputs:
    """Output files written all at once or not at all.

    Every planned output is written into a hidden temporary folder next to
    its destination (same file system), and moved into place by
    :meth:`commit` only when all of them were written: an error or Ctrl-C
    leaves the destination as it was. Planning refuses, before any work, two
    outputs with the same name, an output that would replace an input file,
    and a destination that is a folder.
    """

    def __init__(self, destinations: dict, inputs=()):
        self._final = {key: Path(path) for key, path in destinations.items()}
        self._staged = {}
        self._temporary = []
        inputs = [Path(p) for p in inputs]
        seen = {}
        for key, path in self._final.items():
            resolved = path.resolve()
            if resolved in seen:
                raise ValueError(
                    f"Two outputs would be written to {path}; give the inputs "
                    "different names or write them to different --out folders."
                )
            seen[resolved] = key
            for source in inputs:
                if source.exists() and resolved == source.resolve():
                    raise ValueError(
                        f"Writing {path} would overwrite the input {source}; "
                        "choose another output folder."
                    )
            if path.is_dir():
                raise ValueError(
                    f"Cannot write {path}: a folder of that name is in the way."
                )
            for parent in path.parents:
                if parent.exists() and not parent.is_dir():
                    raise ValueError(
                        f"Cannot write {path}: {parent} is a file, not a folder."
                    )

    def __enter__(self):
        return self

    def path(self, key) -> Path:
        """Where to write the output ``key`` now (a temporary path)."""
        if key not in self._staged:
            final = self._final[key]
            folder = final.parent
            while not folder.exists():
                folder = folder.parent
            staging = Path(tempfile.mkdtemp(prefix=".napari-gmm-", dir=folder))
            self._temporary.append(staging)
            self._staged[key] = staging / final.name
        return self._staged[key]

    def commit(self) -> None:
        """Move every written output into place (Ctrl-C waits until done)."""
        missing = [key for key in self._final if key not in self._staged]
        if missing:
            raise RuntimeError(f"outputs {missing} were planned but not written")
        with _no_interrupt():
            for key, final in self._final.items():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._staged[key], final)
            self._cleanup()

    def _cleanup(self) -> None:
        for folder in self._temporary:
            shutil.rmtree(folder, ignore_errors=True)
        self._temporary = []

    def __exit__(self, *exc_info):
        self._cleanup()
        return False


@contextlib.contextmanager
def _no_interrupt():
    """Defer Ctrl-C until the block is done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _print_summary(result) -> None:
    from .core.report import choice_sentences

    for sentence in choice_sentences(result):
        print(sentence)


def _demo_headless(out_dir: Path, table_path: Path | None, why: str) -> int:
    """Fit the seed example and write its results without any Qt or display."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from ._plot import selection_figure
    from .core import assign, sweep
    from .core.datasets import make_seed_example
    from .core.geometry import ellipse_radius

    table_path = table_path or out_dir / "criterion_table.csv"
    outputs = _Outputs(
        {
            "table": table_path,
            "points": out_dir / "labeled_points.csv",
            "figure": out_dir / "selection.png",
        }
    )
    X = make_seed_example()
    _say_if_compiling()
    result = sweep(X)
    with outputs:
        result.table.to_csv(outputs.path("table"), index=False)
        assignment = assign(result.best, X)
        points = pd.DataFrame(X, columns=["x0", "x1"]).assign(
            label=assignment.labels,
            probability=assignment.probability,
            uncertainty=assignment.uncertainty,
        )
        points.to_csv(outputs.path("points"), index=False)
        figure = selection_figure(result, X, ellipse_radius())
        figure.savefig(outputs.path("figure"), dpi=100)
        outputs.commit()
    _print_summary(result)
    print(
        f"{why} Wrote {table_path}, "
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
    widget.choose_layers(points)
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
    if args.headless and args.screenshot is not None:
        raise ValueError("--screenshot and --headless exclude each other.")
    if args.headless:
        return _demo_headless(args.out, args.table, "napari was not opened.")
    display = _has_display()
    if args.screenshot is not None and not display:
        raise ValueError(
            "--screenshot needs a display that can be opened (DISPLAY="
            f"{os.environ.get('DISPLAY', '')!r}); run it under `xvfb-run -a`."
        )
    if not display:
        return _demo_headless(
            args.out,
            args.table,
            "No display could be opened, so napari was not opened.",
        )
    return _demo_viewer(args.screenshot, args.table)


def _say_if_compiling() -> None:
    """One line on stderr when the next fit compiles the EM code (else the
    command would seem to hang for half a minute)."""
    from .core.compiled_loop import FIRST_COMPILE_NOTE, needs_compiling

    if needs_compiling():
        print(FIRST_COMPILE_NOTE, file=sys.stderr, flush=True)


def _progress_printer(quiet: bool):
    if not quiet:
        _say_if_compiling()

    def report(done, total, fit):
        if not quiet:
            print(
                f"  fitted {done}/{total}: {fit.covariance_type}, K={fit.n_components}",
                file=sys.stderr,
                flush=True,
            )

    return report


def _read_table(path: Path):
    import pandas as pd

    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file.")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable CSV file: {err}") from None


def _choose_columns(table, columns, path: Path) -> list[str]:
    from .core.points import numeric_columns

    available = numeric_columns(table)
    if not columns:
        for note in _almost_numeric_notes(table, available):
            print(note, file=sys.stderr)
        if not available:
            raise ValueError(f"{path} has no numeric column to cluster.")
        return _varying_columns(table, available)
    repeated = sorted({c for c in columns if list(columns).count(c) > 1})
    if repeated:
        raise ValueError(f"--columns lists {repeated} more than once; list each once.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; its columns are {list(table.columns)}."
        )
    return list(columns)


def _varying_columns(table, available: list[str]) -> list[str]:
    """``available`` without the columns that hold one value in every row
    (a z of spots from one slice: fitted, it makes every tied, diag and full
    candidate collapse; as the points dock does with its axes), each with a
    note; all of them when every column is constant."""
    by_name = {str(name): name for name in table.columns}
    constant = [
        name for name in available if table[by_name[name]].nunique(dropna=False) == 1
    ]
    if not constant or len(constant) == len(available):
        return available
    for name in constant:
        value = table[by_name[name]].iloc[0]
        what = "it is empty" if value != value else f"it has one value ({value:g})"
        print(
            f"Note: column {name!r} is left out: {what} in every row; choose the "
            "columns with --columns to keep it.",
            file=sys.stderr,
        )
    return [name for name in available if name not in constant]


def _almost_numeric_notes(table, available: list[str]) -> list[str]:
    """A note for each column left out although nearly all its cells are
    numbers (a typo such as "1.2.3", or integers too big for int64, made
    pandas read it as text; found by fuzzing: it was dropped silently)."""
    import pandas as pd

    notes = []
    for name in table.columns:
        if str(name) in available or pd.api.types.is_bool_dtype(table[name]):
            continue
        cells = table[name].dropna()
        parsed = pd.to_numeric(cells.astype(str), errors="coerce")
        if len(cells) and parsed.notna().mean() >= 0.9:
            bad = cells[parsed.isna()]
            # every cell a number, yet read as text: integers beyond int64
            where = " (read as text: integers too large for int64?)"
            if len(bad):
                where = f" (data row {bad.index[0] + 1}: {str(bad.iloc[0])!r})"
            notes.append(
                f"Note: column {str(name)!r} is left out: it is not numeric{where}; "
                "fix it, or choose the columns with --columns."
            )
    return notes


def _feature_matrix(table, columns, standardize: bool):
    import numpy as np

    from .core.points import points_feature_matrix

    return points_feature_matrix(
        np.empty((len(table), 0)),
        table,
        coordinate_dims=(),
        columns=columns,
        standardize=standardize,
    )


def _write_labeled(table, model, X, path: Path, source: Path | None = None) -> None:
    """The input rows plus label, probability, uncertainty (and is_noise)."""
    import numpy as np

    from .core import assign
    from .core.criteria import has_noise

    with np.errstate(all="ignore"):
        assignment = assign(model, X)
    if not np.isfinite(assignment.probability).all():
        bad = int(np.count_nonzero(~np.isfinite(assignment.probability)))
        where = f" of {source}" if source is not None else ""
        raise ValueError(
            f"The model gives no valid probability for {bad} row(s){where} (their "
            "values are too far from the model's components for float64); check "
            "that the model was fitted on data like these, in the same units."
        )
    columns = {
        "label": assignment.labels,
        "probability": assignment.probability,
        "uncertainty": assignment.uncertainty,
    }
    if has_noise(model):
        columns["is_noise"] = assignment.labels == 0
    table.assign(**columns).to_csv(path, index=False)


def cluster(args) -> int:
    """Sweep K x covariance types on CSV columns; write labels, table, plot, model."""
    import matplotlib

    matplotlib.use("Agg")
    from ._plot import selection_figure
    from .core import sweep
    from .core.geometry import ellipse_radius
    from .core.model_io import save_model
    from .core.report import component_table, stability

    _check_sweep_arguments(args)
    out = args.out
    labeled = out / f"{args.points.stem}_labeled.csv"
    names = ("criterion_table.csv", "components.csv", "criterion.png", "model.json")
    outputs = _Outputs(
        {"labeled": labeled, **{name: out / name for name in names}},
        inputs=[args.points],
    )
    table = _read_table(args.points)
    columns = _choose_columns(table, args.columns, args.points)
    matrix = _feature_matrix(table, columns, args.standardize)
    print(
        f"Clustering {len(table)} rows of {args.points} on {columns}.", file=sys.stderr
    )
    sweep_kwargs = {**_sweep_kwargs(args), "progress": _progress_printer(args.quiet)}
    if args.stability > 1:
        result = stability(matrix.X, seeds=args.stability, **sweep_kwargs)
    else:
        result = sweep(matrix.X, **sweep_kwargs)
    with outputs:
        _write_labeled(table, result.best, matrix.X, outputs.path("labeled"))
        result.table.to_csv(outputs.path("criterion_table.csv"), index=False)
        components = component_table(
            result.best,
            matrix.X,
            list(columns),
            center=matrix.center,
            scale=matrix.scale,
        )
        components.to_csv(outputs.path("components.csv"), index=False)
        figure = selection_figure(
            result,
            matrix.X,
            ellipse_radius(),
            list(columns),
            matrix.center,
            matrix.scale,
        )
        figure.savefig(outputs.path("criterion.png"), dpi=100)
        save_model(
            outputs.path("model.json"),
            result.best,
            feature_names=columns,
            center=matrix.center,
            scale=matrix.scale,
            features_extra={"kind": "table", "standardize": bool(args.standardize)},
            result=result,
            components=components,
        )
        outputs.commit()
    _print_summary(result)
    for message in result.messages:
        print(f"note: {_cli_note(message)}", file=sys.stderr)
    print(
        f"Wrote {labeled}, criterion_table.csv, components.csv, criterion.png and "
        f"model.json in {out}."
    )
    return 0


def _expand_paths(paths) -> list[Path]:
    """Paths as given, with quoted globs ("img/*.tif") expanded, sorted."""
    import glob

    expanded = []
    for path in paths:
        text = str(path)
        if any(c in text for c in "*?[") and not Path(text).exists():
            matches = sorted(glob.glob(text))
            if not matches:
                raise ValueError(f"No file matches {text}.")
            expanded.extend(Path(m) for m in matches)
        else:
            expanded.append(Path(text))
    return expanded


def _read_image(path: Path):
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file.")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(path)
        import imageio.v3 as iio

        return iio.imread(path)
    except Exception as err:  # any reader failure is one line for the user
        raise ValueError(f"Cannot read image {path}: {err}") from None


def _write_labels(labels, path: Path) -> None:
    import numpy as np
    import tifffile

    tifffile.imwrite(path, np.asarray(labels))


def _pixel_settings(args):
    """The pixel settings of `segment` from its arguments."""
    from .core.settings import PixelSettings

    return PixelSettings(
        channel_axis=args.channel_axis,
        smoothing_sigma=args.smoothing,
        log_transform=args.log,
        exclude_zero=args.exclude_zero,
        exclude_saturated=args.exclude_saturated,
        n_bins=args.n_bins,
    )


def _save_image_model(path: Path, result, pixels, components=None) -> None:
    from .core.model_io import save_model

    n_channels = result.best.means_.shape[1]
    save_model(
        path,
        result.best,
        feature_names=[f"channel {c}" for c in range(n_channels)],
        features_extra={"kind": "image"},
        preprocessing=pixels.to_dict(),
        result=result,
        components=components,
    )


def _component_csv(results, path: Path):
    """Write per-component parameters (pixel counts summed over pooled images)
    to ``path``; return the table."""
    import numpy as np

    from .core.report import component_table

    results = results if isinstance(results, list) else [results]
    model = results[0].best
    values = np.concatenate([r.histogram.values for r in results])
    counts = np.concatenate([r.histogram.counts for r in results])
    names = [f"channel {c}" for c in range(values.shape[1])]
    table = component_table(model, values, names, sample_weight=counts)
    table.to_csv(path, index=False)
    return table


def segment(args) -> int:
    """Segment image files into intensity classes; write labels, tables, models."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd
    from matplotlib.figure import Figure

    from ._plot import plot_criterion
    from .core.segment import segment_images

    _check_sweep_arguments(args)
    paths = _expand_paths(args.images)
    pooled = not args.per_image
    out = args.out
    planned = {("summary",): out / "summary.csv"}
    for i, path in enumerate(paths):
        planned[("labels", i)] = out / f"{path.stem}_labels.tif"
        if not pooled:
            for what in ("criterion_table.csv", "components.csv", "model.json"):
                planned[(what, i)] = out / f"{path.stem}_{what}"
    if pooled:
        for what in ("criterion_table.csv", "components.csv", "model.json"):
            planned[(what,)] = out / what
        planned[("criterion.png",)] = out / "criterion.png"
    _refuse_same_names(paths, "_labels.tif")
    outputs = _Outputs(planned, inputs=paths)
    images = [_read_image(path) for path in paths]
    pixels = _pixel_settings(args)
    kwargs = {**pixels.to_dict(), **_sweep_kwargs(args)}
    how = "one model for all" if pooled else "one model per image"
    print(f"Segmenting {len(paths)} image(s), {how}.", file=sys.stderr)
    results = segment_images(
        images, pooled=pooled, progress=_progress_printer(args.quiet), **kwargs
    )
    rows = []
    with outputs:
        for i, (path, result) in enumerate(zip(paths, results, strict=True)):
            _write_labels(result.labels, outputs.path(("labels", i)))
            if not pooled:
                result.table.to_csv(
                    outputs.path(("criterion_table.csv", i)), index=False
                )
                components = _component_csv(result, outputs.path(("components.csv", i)))
                _save_image_model(
                    outputs.path(("model.json", i)), result.sweep, pixels, components
                )
            thresholds = result.thresholds
            rows.append(
                {
                    "image": str(path),
                    "pixels": result.histogram.n_pixels,
                    "n_classes": result.n_classes,
                    "covariance_type": result.best.covariance_type,
                    "thresholds": ""
                    if thresholds is None
                    else " ".join(f"{t:.6g}" for t in thresholds),
                    "compression": result.histogram.description,
                }
            )
        pd.DataFrame(rows).to_csv(outputs.path(("summary",)), index=False)
        if pooled:
            components = _component_csv(results, outputs.path(("components.csv",)))
            result = results[0].sweep
            result.table.to_csv(outputs.path(("criterion_table.csv",)), index=False)
            _save_image_model(outputs.path(("model.json",)), result, pixels, components)
            figure = Figure(figsize=(7, 4), layout="constrained")
            plot_criterion(figure.add_subplot(), result)
            figure.savefig(outputs.path(("criterion.png",)), dpi=100)
        outputs.commit()
    if pooled:
        _print_summary(results[0].sweep)
    print(f"Wrote {len(paths)} label image(s) and summary.csv in {out}.")
    return 0


def _refuse_same_names(paths, suffix: str) -> None:
    """Inputs whose outputs would have the same name (same stem) are refused."""
    first = {}
    for path in paths:
        if path.stem in first and first[path.stem].resolve() == path.resolve():
            raise ValueError(f"{path} is given twice; give each input once.")
        if path.stem in first:
            raise ValueError(
                f"{first[path.stem]} and {path} would both be written as "
                f"{path.stem}{suffix}; rename one of them or run them separately "
                "with different --out folders."
            )
        first.setdefault(path.stem, path)


def apply(args) -> int:
    """Label CSV rows or images with a saved model, without refitting."""
    from .core.model_io import load_model
    from .core.segment import apply_to_image

    saved = load_model(args.model)
    names = saved.features["names"]
    kind = saved.features.get("kind", "table")
    paths = _expand_paths(args.inputs)
    suffix = "_labels.tif" if kind == "image" else "_labeled.csv"
    for path in paths:
        is_table = path.suffix.lower() == ".csv"
        if is_table != (kind != "image"):
            wanted = "image files" if kind == "image" else "CSV files"
            raise ValueError(f"{args.model} is a model for {wanted}; got {path}.")
    _refuse_same_names(paths, suffix)
    outputs = _Outputs(
        {i: args.out / f"{path.stem}{suffix}" for i, path in enumerate(paths)},
        inputs=[*paths, args.model],
    )
    with outputs:
        for i, path in enumerate(paths):
            if kind == "image":
                result = apply_to_image(
                    saved.model, _read_image(path), saved.preprocessing
                )
                _write_labels(result.labels, outputs.path(i))
                continue
            table = _read_table(path)
            columns = _choose_columns(table, args.columns or names, path)
            if len(columns) != len(names):
                raise ValueError(
                    f"The model needs {len(names)} columns ({names}); got {columns}."
                )
            matrix = _feature_matrix(table, columns, standardize=False)
            X = _transformed(saved, matrix.X, path)
            _write_labeled(table, saved.model, X, outputs.path(i), path)
        outputs.commit()
    for i in range(len(paths)):
        print(f"Wrote {args.out / (paths[i].stem + suffix)}.")
    return 0


def _transformed(saved, raw, path: Path):
    """The saved standardization applied to ``raw``, refused if it overflows."""
    import numpy as np

    from .core.settings import MAX_ABS_VALUE

    with np.errstate(all="ignore"):
        X = saved.transform(raw)
    finite = np.isfinite(X)
    if not finite.all() or (X.size and np.abs(X).max() > MAX_ABS_VALUE):
        raise ValueError(
            f"The values of {path}, standardized as the model says (center, scale), "
            f"reach {np.nanmax(np.abs(np.where(finite, X, np.inf))):.3g}, beyond "
            f"{MAX_ABS_VALUE:.0e}; they are not data the model can label."
        )
    return X


#: Most seeds of ``--stability`` (each is a whole sweep).
MAX_STABILITY_SEEDS = 100


def _check_sweep_arguments(args) -> None:
    """The sweep options, checked with their command-line names before any work."""
    from .core.settings import MAX_N_COMPONENTS_VALUES, MAX_N_INIT

    if args.k_min < 1:
        raise ValueError(f"--k-min must be >= 1, got {args.k_min}.")
    if args.k_max < args.k_min:
        raise ValueError(
            f"--k-max ({args.k_max}) is smaller than --k-min ({args.k_min}); "
            "give a range such as --k-min 1 --k-max 6."
        )
    if args.k_max - args.k_min + 1 > MAX_N_COMPONENTS_VALUES:
        raise ValueError(
            f"--k-min {args.k_min} --k-max {args.k_max} is "
            f"{args.k_max - args.k_min + 1} numbers of components; at most "
            f"{MAX_N_COMPONENTS_VALUES} are tried in one run."
        )
    if not 1 <= args.n_init <= MAX_N_INIT:
        raise ValueError(f"--n-init must be in 1..{MAX_N_INIT}, got {args.n_init}.")
    seeds = getattr(args, "stability", 1)
    if not 1 <= seeds <= MAX_STABILITY_SEEDS:
        raise ValueError(
            f"--stability must be in 1..{MAX_STABILITY_SEEDS} seeds, got {seeds}."
        )
    if not 0 <= args.seed <= 2**32 - seeds:
        raise ValueError(
            f"--seed must be in 0..{2**32 - seeds} (a 32-bit seed"
            f"{', one per stability run' if seeds > 1 else ''}), got {args.seed}."
        )
    floor = getattr(args, "covariance_floor", None)
    if floor is not None and not 0 <= floor < float("inf"):
        raise ValueError(
            f"--covariance-floor must be a finite number >= 0, got {floor}."
        )


#: Advice in the core's notes that names Python-only settings, and what a
#: command-line user can do instead.
CLI_ADVICE = (
    ("Set covariance_floor (", "Pass --covariance-floor 0.0833 ("),
    ("increase max_iter or tol", "try --n-init 5 or fewer components"),
    ("Increase max_iter or tol.", "Try --n-init 5 or fewer components."),
    (
        "Use fewer components, increase reg_covar, set covariance_floor (e.g. "
        "step**2 / 12 per feature for integer data), or rescale the data.",
        "Use fewer components (--k-max), pass --covariance-floor (e.g. 0.0833 "
        "for integer data), or rescale the data.",
    ),
    (
        "rescale (e.g. standardize) the data or lower reg_covar.",
        "pass --standardize (or rescale the data).",
    ),
    (", pass noise_volume,", ","),
    ("rescale the data or pass noise_volume.", "rescale the data."),
)


def _cli_note(message: str) -> str:
    for api, cli in CLI_ADVICE:
        message = message.replace(api, cli)
    return message


def _sweep_kwargs(args) -> dict:
    """The sweep settings of `cluster` and `segment` from their arguments."""
    _check_sweep_arguments(args)
    return {
        "n_components": range(args.k_min, args.k_max + 1),
        "covariance_types": args.covariance_types,
        "criterion": args.criterion,
        "random_state": args.seed,
        "n_init": args.n_init,
        "init_params": args.init,
        "preset": args.preset,
        "cv_folds": args.cv_folds,
        "noise": args.noise,
        **(
            {"covariance_floor": args.covariance_floor}
            if getattr(args, "covariance_floor", None) is not None
            else {}
        ),
    }


def _covariance_type(text: str) -> str:
    """One value of --covariance-types, checked (argparse's ``type``)."""
    from .core.criteria import ALL_MODELS, candidate_type

    if text.lower() == ALL_MODELS:
        return ALL_MODELS
    try:
        return candidate_type(text)
    except ValueError as err:
        message = f"{err} Or '{ALL_MODELS}' for all 14."
        raise argparse.ArgumentTypeError(message) from None


def _add_sweep_arguments(parser, k_max: int, criterion: str = "bic") -> None:
    """The sweep settings (and --quiet) shared by `cluster` and `segment`."""
    from .core.criteria import ALL_MODELS, COVARIANCE_TYPES
    from .core.parsimonious import MODELS
    from .core.settings import INIT_METHODS, SELECTION_CRITERIA

    parser.add_argument("--k-min", type=int, default=1, help="fewest components")
    parser.add_argument(
        "--k-max", type=int, default=k_max, help=f"most components (default {k_max})"
    )
    parser.add_argument(
        "--covariance-types",
        nargs="+",
        default=list(COVARIANCE_TYPES),
        type=_covariance_type,
        metavar="TYPE",
        help=f"covariance models to try (default: {' '.join(COVARIANCE_TYPES)}): "
        "scikit-learn's names and/or mclust's three-letter ones (volume, shape, "
        "orientation: E equal, V variable, I identity): "
        f"{' '.join(MODELS)}; spherical = VII, diag = VVI, tied = EEE, full = VVV; "
        f"'{ALL_MODELS}' for all 14",
    )
    parser.add_argument(
        "--criterion",
        default=criterion,
        choices=list(SELECTION_CRITERIA),
        help=f"default {criterion}; lower is better for all; cv = -2 x held-out "
        "log-likelihood by k-fold cross-validation (not BIC; see --cv-folds)",
    )
    parser.add_argument(
        "--noise",
        action="store_true",
        help="add a uniform noise component over the data's range: scattered "
        "outliers get label 0 (is_noise in CSV output) instead of extra Gaussians",
    )
    parser.add_argument(
        "--cv-folds",
        type=int,
        default=None,
        metavar="K",
        help="also compute the cv column by K-fold cross-validation (2K extra "
        "fits per candidate; default off, 5 with --criterion cv)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--n-init", type=int, default=1, help="EM starts per candidate")
    parser.add_argument(
        "--init",
        default=None,
        choices=["auto", "hierarchical", "vvv", "axes", *INIT_METHODS],
        help="initialization of every candidate (default: with --preset default, "
        "'auto' = the best of k-means, random, hierarchical, Ward, mclust's VVV "
        "tree and one-feature k-means (axes) starts; with --preset sklearn, "
        "kmeans)",
    )
    parser.add_argument(
        "--preset",
        default="default",
        choices=["default", "sklearn"],
        help="'default': several starts, EM run to convergence, degenerate fits "
        "never chosen; 'sklearn': scikit-learn's GaussianMixture numbers",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


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

    cluster_parser = commands.add_parser(
        "cluster",
        help="choose a mixture for the rows of a CSV file and label them",
        description=(
            "Fit K = k-min..k-max x covariance types to the chosen numeric columns "
            "of a CSV file, choose by the criterion, and write to OUT: "
            "<name>_labeled.csv (the input plus label, probability, uncertainty), "
            "criterion_table.csv, components.csv (weight, means, standard "
            "deviations, correlations per component), criterion.png and model.json."
        ),
    )
    cluster_parser.add_argument("points", type=Path, help="CSV file, one row per point")
    cluster_parser.add_argument(
        "--columns",
        nargs="+",
        help="columns to cluster (default: all numeric ones, except those with "
        "one value in every row)",
    )
    cluster_parser.add_argument("--out", type=Path, required=True, help="output folder")
    _add_sweep_arguments(cluster_parser, k_max=6)
    cluster_parser.add_argument(
        "--stability",
        type=int,
        default=1,
        metavar="SEEDS",
        help="repeat the sweep with SEEDS seeds; the table gets chosen_fraction "
        "and the spread of the criterion (default 1 = off)",
    )
    cluster_parser.add_argument(
        "--covariance-floor",
        type=float,
        default=None,
        metavar="VARIANCE",
        help="variance added to every component's covariance diagonal, in the "
        "units of the clustered columns (standardized ones with --standardize): "
        "1/12 = 0.0833 stops components collapsing onto integer coordinates "
        "(default none)",
    )
    cluster_parser.add_argument(
        "--standardize",
        action="store_true",
        help="scale each column to zero mean, unit variance first",
    )
    cluster_parser.set_defaults(handler=cluster)

    segment_parser = commands.add_parser(
        "segment",
        help="segment images into intensity classes",
        description=(
            "Choose a Gaussian mixture for the pixel intensities of one or more "
            "images (TIFF or any format imageio reads; quoted globs such as "
            "'data/*.tif' are expanded) and write to OUT: <name>_labels.tif "
            "(1 = dimmest class, 0 = excluded), summary.csv, and either one "
            "model for all images (criterion_table.csv, criterion.png, model.json) "
            "or, with --per-image, <name>_criterion_table.csv and <name>_model.json."
        ),
    )
    segment_parser.add_argument("images", nargs="+", help="image file(s) or globs")
    segment_parser.add_argument("--out", type=Path, required=True, help="output folder")
    segment_parser.add_argument(
        "--per-image", action="store_true", help="one model per image"
    )
    segment_parser.add_argument(
        "--channel-axis", type=int, default=None, help="channel axis (RGB: -1)"
    )
    segment_parser.add_argument(
        "--smoothing", type=float, default=0.0, help="Gaussian smoothing sigma"
    )
    segment_parser.add_argument("--log", action="store_true", help="fit log1p(value)")
    segment_parser.add_argument("--exclude-zero", action="store_true")
    segment_parser.add_argument("--exclude-saturated", action="store_true")
    segment_parser.add_argument(
        "--n-bins", type=int, default=256, help="bins per channel for float images"
    )
    # images choose by ICL, as segment_image does (docs/images.md, section 6)
    _add_sweep_arguments(segment_parser, k_max=5, criterion="icl")
    segment_parser.set_defaults(handler=segment)

    apply_parser = commands.add_parser(
        "apply",
        help="label CSV rows or images with a saved model (no refit)",
        description=(
            "Load MODEL (a model.json written by `cluster`, `segment` or a widget). "
            "For a points model write OUT/<name>_labeled.csv for every CSV input, "
            "using the model's columns (or --columns, in the model's order) and its "
            "standardization; for an image model write OUT/<name>_labels.tif, "
            "using the model's preprocessing."
        ),
    )
    apply_parser.add_argument("model", type=Path, help="model .json file")
    apply_parser.add_argument(
        "inputs", type=Path, nargs="+", help="CSV or image file(s), or globs"
    )
    apply_parser.add_argument("--columns", nargs="+", help="columns, in model order")
    apply_parser.add_argument("--out", type=Path, required=True, help="output folder")
    apply_parser.set_defaults(handler=apply)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # while the libraries are imported
        print("napari-gmm: Interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        return args.handler(args)
    except Exception as err:
        if not _interrupted(err):
            return _report_error(args.command, err)
    except KeyboardInterrupt:
        pass
    # outputs are staged (see _Outputs): nothing reached its destination
    print(
        f"napari-gmm {args.command}: Interrupted; nothing was written.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def _interrupted(err: BaseException) -> bool:
    """Whether ``err`` was caused by Ctrl-C: some libraries turn a
    KeyboardInterrupt that reaches them into an error of their own."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _report_error(command: str, err: Exception) -> int:
    """One line for an error; the exit code."""
    if isinstance(err, (ValueError, TypeError, OSError, MemoryError, OverflowError)):
        # one clear line for bad input (ModelFileError is a ValueError)
        message = _cli_note(" ".join((str(err) or type(err).__name__).split()))
        if isinstance(err, MemoryError):
            message = "not enough memory for this input and these settings"
        print(f"napari-gmm {command}: error: {message}", file=sys.stderr)
        return 2
    if os.environ.get("NAPARI_GMM_DEBUG"):  # a bug: the traceback, on request
        raise err
    print(
        f"napari-gmm {command}: internal error ({type(err).__name__}: "
        f"{err}); nothing was written. Please report it with the command line.",
        file=sys.stderr,
    )
    return 1
