"""Every benchmark script still runs (``--quick``) and prints its ratio line.

No timing is asserted: these only keep the scripts from rotting.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = (
    "image_sweep.py",
    "image_speed.py",
    "points_sweep.py",
    "label_throughput.py",
    "convergence.py",
    "vs_mclust.py",
    "vs_mclust_models.py",
    "kernels.py",
    "starts.py",
    "threads.py",
    "first_sweep.py",
)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick(script):
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    name = script.removesuffix(".py")
    ratio_lines = [
        line for line in out.stdout.splitlines() if line.startswith(f"RATIO {name}:")
    ]
    assert len(ratio_lines) == 1, out.stdout[-2000:]
    assert "x" in ratio_lines[0]
    # label_throughput checks its label counts against the histogram's.
    assert "WRONG" not in out.stdout


#: Scripts that measure choices, not speed: their last line is a RESULT line.
RESULT_SCRIPTS = ("image_criterion.py",)


@pytest.mark.parametrize("script", RESULT_SCRIPTS)
def test_result_benchmark_runs_quick(script):
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    name = script.removesuffix(".py")
    assert out.stdout.splitlines()[-1].startswith(f"RESULT {name}:"), out.stdout[-2000:]


#: Needs a display (a real napari viewer); prints its own result line.
VIEWER_SCRIPTS = ("event_loop_latency.py",)


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (Xvfb)")
@pytest.mark.parametrize("script", VIEWER_SCRIPTS)
def test_viewer_benchmark_runs_quick(script):
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "the event loop's max gap was" in out.stdout


def test_every_script_is_tested():
    scripts = {p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SCRIPTS) | set(RESULT_SCRIPTS) | set(VIEWER_SCRIPTS)


@pytest.mark.parametrize("extra", [[], ["--widths"]])
def test_kernel_step_benchmark_runs_quick(extra):
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "kernels.py"), "--steps", "--quick", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    ratio_lines = [
        line for line in out.stdout.splitlines() if line.startswith("RATIO kernels:")
    ]
    assert len(ratio_lines) == 1 and "per step" in ratio_lines[0], out.stdout[-2000:]
