"""The plugin ships one manifest that napari finds, editable or not."""

import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_top_level_manifest_is_the_packaged_one():
    top = ROOT / "napari.yaml"
    packaged = ROOT / "src" / "napari_gmm" / "napari.yaml"
    assert top.is_symlink()
    assert top.resolve() == packaged.resolve()


def test_installed_package_carries_manifest_and_entry_point():
    installed = files("napari_gmm") / "napari.yaml"
    assert installed.is_file()
    assert installed.read_text() == (ROOT / "napari.yaml").read_text()
    (entry,) = [
        e for e in entry_points(group="napari.manifest") if e.name == "napari-gmm"
    ]
    assert entry.value == "napari_gmm:napari.yaml"


def test_npe2_validate_passes():
    out = subprocess.run(
        [str(BIN / "npe2"), "validate", "napari-gmm"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in (out.stdout + out.stderr).lower()


def test_npe2_discovers_widget_and_sample():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest("napari-gmm")
    assert [w.display_name for w in manifest.contributions.widgets] == [
        "Gaussian mixture selection",
        "Segment image intensities",
    ]
    assert [s.key for s in manifest.contributions.sample_data] == [
        "seed_example",
        "spots_with_outliers",
        "cell",
        "coins",
        "immunohistochemistry",
    ]


def test_built_wheel_contains_manifest(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = tmp_path.glob("napari_gmm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "napari_gmm/napari.yaml" in names
        manifest = archive.read("napari_gmm/napari.yaml").decode()
        entry = next(n for n in names if n.endswith("entry_points.txt"))
        assert "napari-gmm = napari_gmm:napari.yaml" in archive.read(entry).decode()
    assert manifest == (ROOT / "napari.yaml").read_text()
