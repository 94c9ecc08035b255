"""Shared helpers of the benchmark scripts: synthetic data, timing, environment.

The scripts import this module as ``_common`` (they run as
``python benchmarks/<name>.py``, so this directory is on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import contextmanager

import numpy as np
from scipy import ndimage

#: Mean intensity and noise standard deviation of each class of the synthetic
#: cell image: background, cytoplasm, nuclei.
CELL_CLASSES = (
    ("background", 300.0, 20.0),
    ("cytoplasm", 900.0, 35.0),
    ("nuclei", 2000.0, 60.0),
)


def _smooth_field(shape, rng, scale: int, sigma: float) -> np.ndarray:
    """Blurred white noise on a grid ``scale`` times coarser, upsampled.

    Blurring at low resolution and zooming (linear interpolation) gives the
    same kind of smooth random field as blurring at full resolution, much
    faster for large images.
    """
    coarse_shape = tuple(max(2, -(-n // scale)) for n in shape)
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), sigma)
    zoom = [n / c for n, c in zip(shape, coarse_shape, strict=True)]
    field = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")
    return field[tuple(slice(0, n) for n in shape)]


def cell_classes(shape, seed: int = 0) -> np.ndarray:
    """Class map (0 background, 1 cytoplasm, 2 nuclei) made of smooth blobs.

    About 45 % background, 35 % cytoplasm and 20 % nuclei; the regions
    have smooth outlines (thresholded blurred noise) and sharp edges, so the
    pixel intensities are a true 3-component mixture.
    """
    rng = np.random.default_rng(seed)
    cells = _smooth_field(shape, rng, scale=8, sigma=4.0)
    nuclei = _smooth_field(shape, rng, scale=8, sigma=2.0)
    classes = np.zeros(shape, dtype=np.uint8)
    in_cell = cells > np.quantile(cells[::7, ::7], 0.45)
    classes[in_cell] = 1
    nucleus_level = np.quantile(nuclei[::7, ::7][in_cell[::7, ::7]], 1 - 0.2 / 0.55)
    classes[in_cell & (nuclei > nucleus_level)] = 2
    return classes


def make_cell_image(shape=(2048, 2048), seed: int = 0) -> np.ndarray:
    """Synthetic 3-class uint16 fluorescence-like image (fixed seed).

    Each class (:data:`CELL_CLASSES`) has its own mean intensity; every pixel
    gets independent Gaussian noise with that class's standard deviation and
    is rounded to an integer. Integer-valued, so it compresses exactly.
    """
    classes = cell_classes(shape, seed)
    means = np.array([mean for _, mean, _ in CELL_CLASSES])
    stds = np.array([std for _, _, std in CELL_CLASSES])
    rng = np.random.default_rng(seed + 1)
    noise = rng.standard_normal(shape, dtype=np.float32)
    image = means[classes] + stds[classes] * noise
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16)


@contextmanager
def timed(results: dict, key: str):
    """Store the wall-clock seconds of the ``with`` block in ``results[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        results[key] = time.perf_counter() - start


def environment_lines() -> list[str]:
    """Machine, library versions and what threadpoolctl reports (BLAS, OpenMP)."""
    import sklearn

    import napari_gmm

    lines = [
        f"napari-gmm commit {_git_commit()}",
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} logical CPUs ({_cpu_model()}), {_memory()} RAM",
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"napari-gmm {napari_gmm.__version__}",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}",
    ]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with sklearn
        lines.append("threadpoolctl not installed")
        return lines
    for pool in threadpool_info():
        arch = pool.get("architecture")
        lines.append(
            f"threadpoolctl: {pool.get('internal_api')} {pool.get('version')} "
            f"({pool.get('user_api')}"
            + (f", {arch}" if arch else "")
            + f"), {pool.get('num_threads')} threads, "
            + os.path.basename(pool.get("filepath", ""))
        )
    return lines


def _git_commit() -> str:
    """Short commit of the checkout, with "+changes" if files differ from it."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" +uncommitted changes" if dirty else "")


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_header(title: str, argv=None) -> None:
    """Title, the command that was run, and the environment."""
    argv = sys.argv if argv is None else argv
    print(f"== {title}")
    print("command: python " + " ".join(argv))
    for line in environment_lines():
        print("  " + line)
    print("  " + load_line("at start"))
    print(flush=True)


def load_line(when: str) -> str:
    """The machine's load average: other processes share the CPUs."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return f"load average {when}: unavailable"
    return (
        f"load average {when} (1/5/15 min): {one:.2f} {five:.2f} {fifteen:.2f} "
        f"on {os.cpu_count()} CPUs"
    )


def rel_diff(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)`` (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale
