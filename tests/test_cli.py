"""The `napari-gmm demo` command, headless and with a real viewer."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_gmm.cli import build_parser


def _run(args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "napari_gmm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _env_without_display():
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def test_demo_without_display_writes_results(tmp_path, seed_result):
    out = _run(["demo", "--out", str(tmp_path / "demo")], env=_env_without_display())
    assert out.returncode == 0, out.stderr
    assert "Chosen by BIC, lower is better: full, 2 components" in out.stdout
    # the runner-up with its ΔBIC (the table's) and Kass-Raftery grade (issue
    # #9). The value follows the starts: full K=3 ends 24.05 above with 10
    # k-means + 10 random-rows starts and two trees, 29.52 without the
    # random rows, 36.94 from 3 starts; scikit-learn's fit 43.95 above
    table = pd.read_csv(tmp_path / "demo" / "criterion_table.csv")
    runner_up = table[(table.n_components == 3) & (table.covariance_type == "full")]
    delta = float(runner_up["bic"].iloc[0] - table["bic"].min())
    assert 10 < delta < 43.95  # very strong, and below scikit-learn's fit
    assert f"Next different model: full, 3 components, ΔBIC = +{delta:.2f}" in (
        out.stdout
    )
    assert "(very strong evidence for the choice" in out.stdout
    # never worse than scikit-learn's fits of the same candidates (up to the
    # regularization: 1e-6 of each variance here, 1e-6 absolute there)
    assert np.all(table["bic"] <= seed_result.table["bic"] * (1 + 1e-6))
    assert table.loc[table["selected"], "evidence"].item() == "chosen"
    assert set(table["evidence"]) <= {
        "chosen",
        "weak",
        "positive",
        "strong",
        "very strong",
    }
    points = pd.read_csv(tmp_path / "demo" / "labeled_points.csv")
    assert sorted(points["label"].value_counts()) == [500, 500]
    assert (tmp_path / "demo" / "selection.png").stat().st_size > 10_000


def test_screenshot_without_display_is_a_clear_error(tmp_path):
    out = _run(
        ["demo", "--screenshot", str(tmp_path / "x.png")], env=_env_without_display()
    )
    assert out.returncode == 2
    assert "xvfb-run" in out.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (Xvfb)")
def test_demo_screenshot_and_table_with_real_viewer(tmp_path, seed_result):
    shot, table_path = tmp_path / "out.png", tmp_path / "bic.csv"
    out = _run(["demo", "--screenshot", str(shot), "--table", str(table_path)])
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(table_path)
    assert len(table) == 24
    # the widget's defaults are the API's: the same table as sweep(X)
    from napari_gmm import make_seed_example, sweep

    expected = sweep(make_seed_example())
    np.testing.assert_allclose(table["bic"], expected.table["bic"], rtol=1e-9)
    assert np.all(table["bic"] <= seed_result.table["bic"] * (1 + 1e-6))
    from PIL import Image

    with Image.open(shot) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colors = len(np.unique(pixels, axis=0))
    assert width >= 1000 and height >= 600  # whole window, docks included
    assert colors > 50  # a rendered viewer, not a blank frame


def test_parser_help_exits_cleanly():
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["demo", "--help"])
    assert exit_info.value.code == 0


@pytest.fixture
def seed_csv(tmp_path, seed_X):
    path = tmp_path / "spots.csv"
    pd.DataFrame({"x": seed_X[:, 0], "y": seed_X[:, 1], "kind": "spot"}).to_csv(
        path, index=False
    )
    return path


def test_cluster_writes_labels_table_plot_and_model(tmp_path, seed_csv, seed_X):
    from napari_gmm import assign, sweep

    out = tmp_path / "out"
    run = _run(["cluster", str(seed_csv), "--columns", "x", "y", "--out", str(out)])
    assert run.returncode == 0, run.stderr
    assert "fitted 24/24" in run.stderr
    labeled = pd.read_csv(out / "spots_labeled.csv")
    assert list(labeled.columns) == [
        "x",
        "y",
        "kind",
        "label",
        "probability",
        "uncertainty",
    ]
    expected = sweep(seed_X)
    np.testing.assert_array_equal(
        labeled["label"], assign(expected.best, seed_X).labels
    )
    table = pd.read_csv(out / "criterion_table.csv")
    np.testing.assert_allclose(table["bic"], expected.table["bic"], rtol=1e-12)
    assert (out / "criterion.png").stat().st_size > 10_000
    assert (out / "model.json").is_file()
    components = pd.read_csv(out / "components.csv")
    assert list(components["count"]) == [500, 500]
    np.testing.assert_allclose(components[["mean x", "mean y"]], expected.best.means_)

    # apply the saved model: identical labels, no refit
    applied = tmp_path / "applied"
    run = _run(["apply", str(out / "model.json"), str(seed_csv), "--out", str(applied)])
    assert run.returncode == 0, run.stderr
    again = pd.read_csv(applied / "spots_labeled.csv")
    np.testing.assert_array_equal(again["label"], labeled["label"])
    np.testing.assert_allclose(again["probability"], labeled["probability"], rtol=1e-12)


def test_a_column_left_out_for_one_bad_cell_is_named(tmp_path, seed_X):
    # found by fuzzing (session 10): a typo made pandas read "y" as text,
    # and the sweep ran on "x" alone without a word
    table = pd.DataFrame({"x": seed_X[:, 0], "y": seed_X[:, 1].astype(object)})
    table["name"] = "spot"
    table.loc[5, "y"] = "1.2.3"
    path = tmp_path / "typo.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    run = _run(["cluster", str(path), "--k-max", "2", "--out", str(out)])
    assert run.returncode == 0, run.stderr
    assert "column 'y' is left out: it is not numeric (data row 6: '1.2.3')" in (
        run.stderr
    )
    assert "'name'" not in run.stderr  # a text column is not a typo
    # every cell a number, but beyond int64: pandas reads the column as text
    table["y"] = seed_X[:, 1]
    table["big"] = [str(10**30)] + [str(i) for i in range(1, len(table))]
    table.to_csv(path, index=False)
    run = _run(["cluster", str(path), "--k-max", "2", "--out", str(tmp_path / "o2")])
    assert run.returncode == 0, run.stderr
    assert "column 'big' is left out: it is not numeric (read as text" in run.stderr


def test_cluster_standardize_round_trips_through_apply(tmp_path, seed_csv):
    out = tmp_path / "out"
    run = _run(
        [
            "cluster",
            str(seed_csv),
            "--out",
            str(out),
            "--standardize",
            "--k-max",
            "3",
            "--stability",
            "2",
            "--init",
            "k-means++",
        ]
    )
    assert run.returncode == 0, run.stderr
    assert "['x', 'y']" in run.stderr  # default: all numeric columns
    assert "2 of 2 seeds" in run.stderr
    table = pd.read_csv(out / "criterion_table.csv")
    assert "chosen_fraction" in table.columns
    run = _run(["apply", str(out / "model.json"), str(seed_csv), "--out", str(out)])
    assert run.returncode == 0, run.stderr
    labeled = pd.read_csv(out / "spots_labeled.csv")
    assert labeled["label"].nunique() >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cluster", "missing.csv", "--out", "o"], "does not exist"),
        (
            ["cluster", "{csv}", "--columns", "x", "z", "--out", "o"],
            "no column(s) ['z']",
        ),
        (["cluster", "{csv}", "--columns", "kind", "--out", "o"], "not numeric"),
        (["apply", "missing.json", "{csv}", "--out", "o"], "does not exist"),
        (["apply", "{csv}", "{csv}", "--out", "o"], "not valid JSON"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(tmp_path, seed_csv, args, message):
    args = [a.replace("{csv}", str(seed_csv)) for a in args]
    run = _run(args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("command", ["demo", "cluster", "segment", "apply"])
def test_every_subcommand_documents_itself(command):
    run = _run([command, "--help"])
    assert run.returncode == 0
    assert "usage: napari-gmm " + command in run.stdout


@pytest.fixture
def tiff_folder(tmp_path):
    import tifffile
    from skimage import data

    folder = tmp_path / "images"
    folder.mkdir()
    cell = data.cell()
    tifffile.imwrite(folder / "cell.tif", cell)
    tifffile.imwrite(folder / "cell_bright.tif", (cell.astype(np.uint16) * 3))
    tifffile.imwrite(folder / "coins.tif", data.coins())
    return folder


def test_segment_batch_one_model_then_apply_gives_identical_labels(
    tmp_path, tiff_folder
):
    import tifffile

    from napari_gmm.core.segment import segment_images

    out = tmp_path / "seg"
    run = _run(
        ["segment", str(tiff_folder / "*.tif"), "--out", str(out), "--k-max", "4"]
    )
    assert run.returncode == 0, run.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 3 and summary["n_classes"].nunique() == 1  # one model
    for name in ("cell", "cell_bright", "coins"):
        assert (out / f"{name}_labels.tif").is_file()
    assert (out / "model.json").is_file() and (out / "criterion.png").is_file()
    components = pd.read_csv(out / "components.csv")
    assert components["count"].sum() == summary["pixels"].sum()
    # the same numbers as the Python API
    images = [tifffile.imread(p) for p in sorted(tiff_folder.glob("*.tif"))]
    # both choose by ICL by default for images
    api = segment_images(images, n_components=range(1, 5))
    np.testing.assert_array_equal(
        tifffile.imread(out / "cell_labels.tif"), np.asarray(api[0].labels)
    )
    table = pd.read_csv(out / "criterion_table.csv")
    np.testing.assert_allclose(table["bic"], api[0].table["bic"], rtol=1e-12)
    # round trip: apply the saved model, no refit, identical labels
    applied = tmp_path / "applied"
    run = _run(
        [
            "apply",
            str(out / "model.json"),
            str(tiff_folder / "*.tif"),
            "--out",
            str(applied),
        ]
    )
    assert run.returncode == 0, run.stderr
    for name in ("cell", "cell_bright", "coins"):
        np.testing.assert_array_equal(
            tifffile.imread(applied / f"{name}_labels.tif"),
            tifffile.imread(out / f"{name}_labels.tif"),
        )


def test_segment_per_image_writes_a_model_each(tmp_path, tiff_folder):
    out = tmp_path / "seg"
    run = _run(
        [
            "segment",
            str(tiff_folder / "cell.tif"),
            str(tiff_folder / "coins.tif"),
            "--out",
            str(out),
            "--per-image",
            "--k-max",
            "3",
            "--quiet",
        ]
    )
    assert run.returncode == 0, run.stderr
    assert "fitted" not in run.stderr
    for name in ("cell", "coins"):
        assert (out / f"{name}_model.json").is_file()
        assert (out / f"{name}_criterion_table.csv").is_file()


def test_model_kind_mismatch_is_one_line(tmp_path, tiff_folder, seed_csv):
    out = tmp_path / "seg"
    assert (
        _run(["segment", str(tiff_folder / "coins.tif"), "--out", str(out)]).returncode
        == 0
    )
    run = _run(["apply", str(out / "model.json"), str(seed_csv), "--out", str(out)])
    assert run.returncode == 2
    assert "model for image files" in run.stderr.strip().splitlines()[-1]
    run = _run(["segment", str(tmp_path / "nothing*.tif"), "--out", str(out)])
    assert run.returncode == 2 and "No file matches" in run.stderr


def test_cluster_with_noise_and_cross_validation(tmp_path):
    from napari_gmm.core.datasets import make_blobs_with_outliers
    from napari_gmm.core.model_io import load_model

    X, is_outlier = make_blobs_with_outliers()
    path = tmp_path / "spots.csv"
    pd.DataFrame({"x": X[:, 0], "y": X[:, 1]}).to_csv(path, index=False)
    out = tmp_path / "out"
    args = ["cluster", str(path), "--out", str(out), "--k-max", "3"]
    run = _run([*args, "--noise", "--cv-folds", "3", "--covariance-types", "diag"])
    assert run.returncode == 0, run.stderr
    assert "diag, 2 components" in run.stdout
    labeled = pd.read_csv(out / "spots_labeled.csv")
    assert labeled["is_noise"].dtype == bool
    assert labeled["is_noise"][is_outlier].mean() >= 0.9
    table = pd.read_csv(out / "criterion_table.csv")
    assert {"cv", "noise_weight", "evidence"} <= set(table.columns)
    components = pd.read_csv(out / "components.csv")
    assert list(components["label"]) == [1, 2, 0]
    saved = load_model(out / "model.json")
    assert saved.settings["noise"] is True and saved.settings["cv_folds"] == 3
    # the model file carries the component table too (issue #9: CSV and JSON)
    pd.testing.assert_frame_equal(saved.components, components, check_dtype=False)
    # a wrong setting is one sentence on stderr, exit code 2, nothing written
    bad = _run(
        ["cluster", str(path), "--out", str(tmp_path / "bad"), "--cv-folds", "1"]
    )
    assert bad.returncode != 0
    assert "cv_folds must be >= 2" in bad.stderr
    assert "Traceback" not in bad.stderr


# -- outputs are all-or-nothing and never replace an input (#15) --------------


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _one_line_error(run, message):
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert message in run.stderr.strip().splitlines()[-1]


def test_a_blocked_output_name_writes_nothing(tmp_path, seed_csv):
    out = tmp_path / "out"
    (out / "criterion.png").mkdir(parents=True)
    run = _run(["cluster", str(seed_csv), "--out", str(out), "--k-max", "2"])
    _one_line_error(run, "a folder of that name is in the way")
    assert _listing(out) == ["criterion.png"]
    assert not any(p.name.startswith(".napari-gmm-") for p in tmp_path.rglob("*"))


def test_cluster_never_overwrites_its_input(tmp_path, seed_X):
    table = pd.DataFrame(seed_X, columns=["x", "y"])
    path = tmp_path / "components.csv"
    table.to_csv(path, index=False)
    before = path.read_bytes()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_gmm",
            "cluster",
            "components.csv",
            "--out",
            ".",
            "--k-max",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    _one_line_error(run, "would overwrite the input components.csv")
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["components.csv"]


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, seed_csv):
    run = _run(["cluster", str(seed_csv), "--out", str(seed_csv), "--k-max", "2"])
    _one_line_error(run, "is a file, not a folder")


@pytest.fixture
def fitted_model(tmp_path_factory, seed_csv):
    out = tmp_path_factory.mktemp("fitted")
    run = _run(["cluster", str(seed_csv), "--out", str(out), "--k-max", "2"])
    assert run.returncode == 0, run.stderr
    return out / "model.json"


def test_apply_with_a_bad_second_input_writes_nothing(tmp_path, seed_csv, fitted_model):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,oops\n")
    out = tmp_path / "applied"
    run = _run(["apply", str(fitted_model), str(seed_csv), str(bad), "--out", str(out)])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert not out.exists()


def test_inputs_with_the_same_name_are_refused(tmp_path, seed_csv, fitted_model):
    import shutil

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(seed_csv, tmp_path / folder / "s.csv")
    out = tmp_path / "o"
    run = _run(
        [
            "apply",
            str(fitted_model),
            str(tmp_path / "a" / "s.csv"),
            str(tmp_path / "b" / "s.csv"),
            "--out",
            str(out),
        ]
    )
    _one_line_error(run, "would both be written as s_labeled.csv")
    assert not out.exists()


def test_segment_images_with_the_same_stem_are_refused(tmp_path):
    import tifffile

    image = np.random.default_rng(0).integers(0, 255, (32, 32)).astype(np.uint8)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "img.tif", image)
    out = tmp_path / "o"
    run = _run(
        [
            "segment",
            str(tmp_path / "a" / "img.tif"),
            str(tmp_path / "b" / "img.tif"),
            "--out",
            str(out),
        ]
    )
    _one_line_error(run, "would both be written as img_labels.tif")
    assert not out.exists()


@pytest.mark.parametrize(
    ("smoothing", "message"),
    [("1e12", "larger than half the image"), ("nan", "finite")],
)
def test_segment_with_unbounded_smoothing_is_one_line(tmp_path, smoothing, message):
    import tifffile

    image = np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "img.tif", image)
    out = tmp_path / "o"
    run = _run(
        [
            "segment",
            str(tmp_path / "img.tif"),
            "--out",
            str(out),
            "--smoothing",
            smoothing,
        ]
    )
    _one_line_error(run, message)
    assert not out.exists()


def test_a_model_file_with_huge_smoothing_is_one_line(tmp_path, tiff_folder):
    import json

    out = tmp_path / "seg"
    image = tiff_folder / "coins.tif"
    assert (
        _run(["segment", str(image), "--out", str(out), "--k-max", "2"]).returncode == 0
    )
    document = json.loads((out / "model.json").read_text())
    document["preprocessing"]["smoothing_sigma"] = 1e12
    (out / "model.json").write_text(json.dumps(document))
    applied = tmp_path / "applied"
    run = _run(["apply", str(out / "model.json"), str(image), "--out", str(applied)])
    _one_line_error(run, "larger than half the image")
    assert not applied.exists()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"format": "napari-gmm model", "schema_version": 1, "model": '
        '{"n_components": ' + "7" * 5000 + "}}",
    ],
)
def test_apply_with_a_hostile_model_file_is_one_line(tmp_path, seed_csv, text):
    model = tmp_path / "evil.json"
    model.write_text(text)
    out = tmp_path / "o"
    run = _run(["apply", str(model), str(seed_csv), "--out", str(out)])
    _one_line_error(run, str(model))
    assert not out.exists()


def test_apply_never_writes_nan_probabilities(tmp_path, seed_csv, fitted_model):
    """A model whose factors are negated loaded before #15 and gave NaN."""
    import json

    document = json.loads(fitted_model.read_text())
    document["model"]["precisions_cholesky"] = (
        -np.array(document["model"]["precisions_cholesky"])
    ).tolist()
    bad = tmp_path / "negated.json"
    bad.write_text(json.dumps(document))
    out = tmp_path / "o"
    run = _run(["apply", str(bad), str(seed_csv), "--out", str(out)])
    _one_line_error(run, "precisions_cholesky")
    assert not out.exists()


def _interrupt_after_first_candidate(args, cwd):
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "napari_gmm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "fitted 1/" in line:
            break
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    return process.returncode, "".join(lines) + rest


@pytest.mark.slow
def test_ctrl_c_during_cluster_writes_nothing(tmp_path, seed_X):
    rng = np.random.default_rng(0)
    # large enough that the rest of the sweep cannot finish between the
    # first progress line and the signal, even when the first candidate
    # finishes last (threads) on a loaded machine
    big = np.concatenate([seed_X + rng.normal(0, 0.01, seed_X.shape)] * 60)
    pd.DataFrame(big, columns=["x", "y"]).to_csv(tmp_path / "big.csv", index=False)
    code, stderr = _interrupt_after_first_candidate(
        ["cluster", "big.csv", "--out", "o", "--n-init", "3", "--k-max", "8"],
        tmp_path,
    )
    assert code == 130, stderr
    assert stderr.strip().splitlines()[-1].endswith("Interrupted; nothing was written.")
    assert "Traceback" not in stderr
    assert _listing(tmp_path) == ["big.csv"]


@pytest.mark.slow
def test_ctrl_c_during_segment_writes_nothing(tmp_path):
    import tifffile
    from skimage import data

    # 16 bits with a dithered low byte: thousands of distinct values, so the
    # sweep cannot finish between the first progress line and the signal
    dither = np.random.default_rng(0).integers(0, 256, data.camera().shape)
    image = (data.camera().astype(np.uint16) << 8) + dither.astype(np.uint16)
    tifffile.imwrite(tmp_path / "cell.tif", image)
    code, stderr = _interrupt_after_first_candidate(
        ["segment", "cell.tif", "--out", "o", "--k-max", "8", "--n-init", "3"],
        tmp_path,
    )
    assert code == 130, stderr
    assert "Interrupted; nothing was written." in stderr and "Traceback" not in stderr
    assert _listing(tmp_path) == ["cell.tif"]


def test_demo_with_an_unreachable_display_writes_files(tmp_path):
    env = _env_without_display()
    env["DISPLAY"] = ":987"  # no X server there
    out = tmp_path / "demo"
    run = _run(["demo", "--out", str(out)], env=env)
    assert run.returncode == 0, run.stderr
    assert "No display could be opened" in run.stdout
    assert _listing(out) == [
        "criterion_table.csv",
        "labeled_points.csv",
        "selection.png",
    ]
    shot = _run(["demo", "--screenshot", str(tmp_path / "x.png")], env=env)
    _one_line_error(shot, "xvfb-run")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--k-min", "5", "--k-max", "2"], "--k-max (2) is smaller than --k-min (5)"),
        (["--k-min", "0"], "--k-min must be >= 1"),
        (["--k-max", "100000"], "at most 1000 are tried"),
        (["--n-init", "0"], "--n-init must be in 1..1000"),
        (["--stability", "1000000000"], "--stability must be in 1..100"),
        (["--seed", "-1"], "--seed must be in"),
        (["--stability", "3", "--seed", "4294967295"], "--seed must be in"),
        (["--covariance-floor", "nan"], "--covariance-floor must be a finite"),
    ],
)
def test_bad_sweep_options_are_one_line_naming_the_option(
    tmp_path, seed_csv, capsys, options, message
):
    from napari_gmm.cli import main

    out = tmp_path / "o"
    assert main(["cluster", str(seed_csv), "--out", str(out), *options]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists()


def test_cli_notes_name_options_not_python_parameters(
    tmp_path, seed_csv, capsys, monkeypatch
):
    import napari_gmm.core as core
    from napari_gmm.cli import main

    calls = []
    original = core.sweep

    def sweep_with_a_collapse_note(X, **kwargs):
        calls.append(kwargs)
        result = original(X, **kwargs)
        result.messages.append(
            "The chosen model (K=6 diag) has 4 component(s) collapsed onto a single "
            "value (variance at reg_covar=1e-06), which BIC over-rewards: the data "
            "look quantized (e.g. integer coordinates) or repeated. Set "
            "covariance_floor (1/12 for integer coordinates), or add jitter, and "
            "run again."
        )
        return result

    monkeypatch.setattr(core, "sweep", sweep_with_a_collapse_note)
    args = ["cluster", str(seed_csv), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--k-max", "2", "--covariance-floor", "0.0833"]) == 0
    err = capsys.readouterr().err
    assert "Pass --covariance-floor 0.0833 (1/12 for integer coordinates)" in err
    assert "Set covariance_floor" not in err
    assert calls[0]["covariance_floor"] == 0.0833


def test_advice_tables_only_name_reachable_settings():
    """Each Python-only phrase the core uses has a translation (#15)."""
    import importlib

    from napari_gmm._result_text import GUI_ADVICE
    from napari_gmm.cli import CLI_ADVICE

    em = importlib.import_module("napari_gmm.core.em")
    selection = importlib.import_module("napari_gmm.core.selection")
    core = Path(selection.__file__).read_text() + Path(em.__file__).read_text()
    for table in (GUI_ADVICE, CLI_ADVICE):
        for api, reachable in table:
            for name in ("covariance_floor", "reg_covar", "max_iter", "noise_volume"):
                assert name not in reachable, (api, reachable)
    gui = [api for api, _ in GUI_ADVICE]
    assert any(api in em._ILL_DEFINED for api in gui)
    assert "Increase max_iter or tol." in gui and "Increase max_iter or tol." in core


def test_an_interrupt_wrapped_by_a_library_still_exits_130(monkeypatch, capsys):
    # some libraries turn a KeyboardInterrupt reaching them into an error of
    # their own: the command line still says "Interrupted" and exits 130
    from napari_gmm import cli

    def interrupted_inside_a_library(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("compilation failed") from interrupt

    monkeypatch.setattr(cli, "demo", interrupted_inside_a_library)
    assert cli.main(["demo"]) == cli.EXIT_INTERRUPTED
    assert "Interrupted; nothing was written." in capsys.readouterr().err

    def plain_bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "demo", plain_bug)
    assert cli.main(["demo"]) == 1
    assert "internal error (RuntimeError: a bug)" in capsys.readouterr().err


def test_cli_says_when_the_first_fit_compiles(tmp_path, seed_csv, capsys, monkeypatch):
    from napari_gmm.cli import main
    from napari_gmm.core import compiled_loop

    def cluster(out):
        return main(["cluster", str(seed_csv), "--out", str(out), "--k-max", "2"])

    monkeypatch.setattr(compiled_loop, "needs_compiling", lambda: True)
    assert cluster(tmp_path / "first") == 0
    assert compiled_loop.FIRST_COMPILE_NOTE in capsys.readouterr().err
    monkeypatch.setattr(compiled_loop, "needs_compiling", lambda: False)
    assert cluster(tmp_path / "next") == 0
    assert compiled_loop.FIRST_COMPILE_NOTE not in capsys.readouterr().err


def test_cluster_leaves_out_a_column_with_one_value(tmp_path, seed_X, capsys):
    # spots exported from one z-slice: z is the same in every row
    from napari_gmm.cli import main

    path = tmp_path / "slice.csv"
    table = pd.DataFrame({"z": 7, "y": seed_X[:, 0], "x": seed_X[:, 1]})
    table.assign(note=np.nan).to_csv(path, index=False)  # and an empty column
    out = tmp_path / "out"
    assert main(["cluster", str(path), "--out", str(out), "--k-max", "3"]) == 0
    err = capsys.readouterr().err
    assert "column 'z' is left out: it has one value (7) in every row" in err
    assert "column 'note' is left out: it is empty in every row" in err
    assert "Clustering 1000 rows" in err and "['y', 'x']" in err
    # named explicitly, it is kept (and the sweep's own note says why it hurts)
    out2 = tmp_path / "out2"
    args = ["cluster", str(path), "--out", str(out2), "--k-max", "2"]
    assert main([*args, "--columns", "z", "y", "x"]) == 0
    assert "is left out" not in capsys.readouterr().err
