"""The `napari-gmm demo` command, headless and with a real viewer."""

import os
import subprocess
import sys

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
    assert "full model, 2 components" in out.stdout
    table = pd.read_csv(tmp_path / "demo" / "criterion_table.csv")
    pd.testing.assert_series_equal(table["bic"], seed_result.table["bic"])
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
    pd.testing.assert_series_equal(table["bic"], seed_result.table["bic"])
    from PIL import Image

    with Image.open(shot) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colors = len(np.unique(pixels, axis=0))
    assert width >= 1000 and height >= 600  # whole window, docks included
    assert colors > 50  # a rendered viewer, not a blank frame


def test_every_subcommand_has_help():
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["demo", "--help"])
    assert exit_info.value.code == 0
