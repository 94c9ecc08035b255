"""What the compiled EM kernels buy: the same default sweep with and without.

``napari_gmm.core.kernels`` (numba) computes each E-step and M-step in one
compiled pass, and ``napari_gmm.core.compiled_loop`` runs the default fit's
whole EM (SQUAREM + gain rule) as one compiled loop on small data. Setting
``NAPARI_GMM_KERNELS=numpy`` switches both off (numpy array code, as before
they existed). This script runs ``napari_gmm.sweep(X, n_components=range(1,
10))`` with the installed defaults in two fresh processes, one per setting,
on the same data, and prints the CPU time of each (``time.process_time``,
after one warm-up sweep on a small slice so compilation is not timed), the
ratio, and the largest BIC difference between the two (the paths agree to
rounding, so the BICs agree closely; an EM stopping one iteration apart can
move a BIC by more, which the table shows).

Data: scikit-learn's iris (150 x 4) and wine (178 x 13), and 3-D points
from 4 Gaussian blobs (seed 0) at n = 1,000 and 10,000 (``--large``: also
100,000; ``--quick``: iris only, K = 1..3).

Run: ``python benchmarks/kernels.py`` (a few minutes), ``--quick``, ``--large``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from _common import load_line, print_header

_CHILD = r"""
import json, sys, time
import numpy as np
from napari_gmm import sweep
from napari_gmm.core import kernels
X = np.load(sys.argv[1])
ks = range(1, int(sys.argv[2]) + 1)
sweep(X[: min(len(X), 300)], n_components=[1, 2])  # warm-up: compile, import
start = time.process_time()
result = sweep(X, n_components=ks)
seconds = time.process_time() - start
print(json.dumps({
    "seconds": seconds,
    "bic": [float(b) for b in result.table["bic"]],
    "choice": list(map(str, result.best_key)),
    "compiled": bool(kernels.AVAILABLE),
}))
"""


def make_blobs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [4, 0, 1], [0, 5, -1], [3, 4, 3]], float)
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(scale=0.8, size=(n, 3))


def datasets(args):
    from sklearn.datasets import load_iris, load_wine

    yield "iris", load_iris().data
    if args.quick:
        return
    yield "wine", load_wine().data
    yield "blobs 1,000", make_blobs(1_000)
    yield "blobs 10,000", make_blobs(10_000)
    if args.large:
        yield "blobs 100,000", make_blobs(100_000)


def run_child(path: str, k_max: int, kernels: str) -> dict:
    env = {**os.environ, "NAPARI_GMM_KERNELS": kernels}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path, str(k_max)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args(argv)
    print_header("kernels")
    k_max = 3 if args.quick else 9
    print(f"sweep(X, n_components=range(1, {k_max + 1})), default preset; CPU s")
    print(
        f"{'data':<14} {'n':>7} {'d':>3} {'compiled s':>10} {'numpy s':>8} "
        f"{'ratio':>6} {'max |dBIC|':>10}  choice (compiled / numpy)"
    )
    import tempfile

    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for name, X in datasets(args):
            path = os.path.join(folder, "X.npy")
            np.save(path, np.asarray(X, dtype=float))
            compiled = run_child(path, k_max, "numba")
            plain = run_child(path, k_max, "numpy")
            ratio = plain["seconds"] / compiled["seconds"]
            ratios.append(ratio)
            difference = np.nanmax(np.abs(np.subtract(compiled["bic"], plain["bic"])))
            note = "" if compiled["compiled"] else "  (numba missing: both numpy)"
            print(
                f"{name:<14} {len(X):>7,} {X.shape[1]:>3} "
                f"{compiled['seconds']:>10.2f} {plain['seconds']:>8.2f} "
                f"{ratio:>5.1f}x {difference:>10.2g}  "
                f"{','.join(compiled['choice'])} / {','.join(plain['choice'])}{note}",
                flush=True,
            )
    print(load_line("at end"))
    print(
        "RATIO kernels: numpy/compiled CPU time "
        + ", ".join(f"{r:.1f}x" for r in ratios)
        + f" (median {float(np.median(ratios)):.1f}x)"
    )


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"({time.time() - started:.0f} s)")
