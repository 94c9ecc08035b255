"""The core and the top-level API import without napari, Qt or magicgui."""

import subprocess
import sys

import pytest

FORBIDDEN = ("napari", "qtpy", "PyQt6", "PyQt5", "PySide6", "magicgui", "vispy")


@pytest.mark.parametrize(
    "module",
    ["napari_gmm", "napari_gmm.core", "napari_gmm._layers", "napari_gmm._plot"],
)
def test_module_does_not_import_gui_packages(module):
    code = (
        f"import sys, {module}\n"
        f"loaded = sorted(m for m in {FORBIDDEN!r} if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"


def test_top_level_api_runs_the_sweep_headless():
    code = (
        "import napari_gmm, sys\n"
        "r = napari_gmm.sweep(napari_gmm.make_seed_example(), n_components=[1, 2],"
        " covariance_types=['full'])\n"
        "assert r.best_key == (2, 'full')\n"
        "assert 'napari' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_modules_only_import_within_the_core():
    # layering: the core is the bottom layer; nothing in it reaches up to the
    # napari adapters, the command line or the package top
    import ast
    from pathlib import Path

    import napari_gmm.core

    core = Path(napari_gmm.core.__file__).parent
    offenders = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level >= 2 or (
                    node.level == 0
                    and (node.module or "").startswith("napari_gmm")
                    and not (node.module or "").startswith("napari_gmm.core")
                ):
                    offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name
                    if name.startswith("napari_gmm") and not name.startswith(
                        "napari_gmm.core"
                    ):
                        offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"core modules import from outside the core: {offenders}"
