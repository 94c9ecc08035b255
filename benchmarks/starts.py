"""How many starts the default sweep needs: candidates stuck in worse optima vs time.

EM ends in the local optimum its start leads to. The default sweep
(``init_params="auto"``) runs a short EM from several starts per candidate
and continues the best (``napari_gmm.core.fitting``: ``AUTO_KMEANS_STARTS``
k-means seeds and ``AUTO_RANDOM_STARTS`` random-rows starts besides the three
trees and the one-feature starts, ``SMALL_DATA_SHORT_RUN_MAX_ITER``,
``CONTINUED_STARTS`` (the number continued: here
``CONTINUED_STARTS_SEVERAL_FEATURES`` as well, since every data set has
several features), for data of up to ``SMALL_DATA_ROWS`` rows). This script
runs ``sweep(X, n_components=range(1, 10))`` under several such
configurations on the same data and reports, per configuration, how many
candidates ended more than 0.1 BIC above the best non-degenerate end that
*any* configuration reached for that candidate (a count of fits stuck in a
worse optimum: lower is better), the largest such gap, the CPU time
(``time.process_time``) and the choice.

Data: scikit-learn's iris, wine, breast_cancer (first 10 features) and
diabetes (first 6), and, when ``Rscript`` is available, R's ``faithful``.

Run: ``python benchmarks/starts.py`` (a few minutes), ``--quick`` (iris,
K = 1..4, two configurations).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _common import load_line, print_header
from napari_gmm import sweep

sweep_module = importlib.import_module("napari_gmm.core.fitting")

SETTINGS = (
    "AUTO_KMEANS_STARTS",
    "AUTO_RANDOM_STARTS",
    "SMALL_DATA_SHORT_RUN_MAX_ITER",
    "CONTINUED_STARTS",
)

#: (k-means seeds, random-rows starts, short-run cap, continued short runs)
#: to compare.
CONFIGURATIONS = (
    (1, 0, 100, 1),
    (10, 10, 20, 3),
    (10, 10, 20, 2),
    (10, 10, 10, 2),
    (10, 10, 10, 3),
    (10, 10, 15, 2),
    (5, 10, 20, 2),
    (10, 5, 20, 2),
)


def label(configuration) -> str:
    seeds, random_rows, cap, continued = configuration
    return f"{seeds}+{random_rows} starts, {cap}, top {continued}"


def faithful() -> np.ndarray | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faithful.csv"
        command = f'write.csv(datasets::faithful, "{path}", row.names=FALSE)'
        done = subprocess.run([rscript, "-e", command], capture_output=True)
        if done.returncode != 0:
            return None
        return np.loadtxt(path, delimiter=",", skiprows=1)


def datasets(quick: bool):
    from sklearn import datasets as sk

    yield "iris", sk.load_iris().data
    if quick:
        return
    yield "wine", sk.load_wine().data
    yield "breast_cancer[:10]", sk.load_breast_cancer().data[:, :10]
    yield "diabetes[:6]", sk.load_diabetes().data[:, :6]
    X = faithful()
    if X is not None:
        yield "faithful (R)", X


#: Set with CONTINUED_STARTS (the number continued with several features).
MIRRORED = {"CONTINUED_STARTS": "CONTINUED_STARTS_SEVERAL_FEATURES"}


def run(X, ks, configuration) -> dict:
    names = (*SETTINGS, *MIRRORED.values())
    saved = {name: getattr(sweep_module, name) for name in names}
    try:
        for name, value in zip(SETTINGS, configuration, strict=True):
            setattr(sweep_module, name, value)
            if name in MIRRORED:
                setattr(sweep_module, MIRRORED[name], value)
        start = time.process_time()
        result = sweep(X, n_components=ks)
        seconds = time.process_time() - start
    finally:
        for name, value in saved.items():
            setattr(sweep_module, name, value)
    table = result.table
    bic = np.where(table["degenerate"], np.nan, table["bic"].to_numpy(float))
    return {"bic": bic, "seconds": seconds, "choice": result.best_key}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print_header("starts")
    ks = range(1, 5) if args.quick else range(1, 10)
    configurations = CONFIGURATIONS[3:5] if args.quick else CONFIGURATIONS
    # (every data set here has several features: that count of continued runs)
    default = tuple(
        getattr(sweep_module, MIRRORED.get(name, name)) for name in SETTINGS
    )
    print(
        f"sweep(X, n_components=range(1, {ks[-1] + 1})); 'stuck': candidates more "
        "than 0.1 BIC above the best non-degenerate end of any configuration"
    )
    totals = {label(c): [0, 0.0, 0.0] for c in configurations}
    for name, X in datasets(args.quick):
        sweep(X[:100], n_components=[1, 2])  # warm-up (compilation, imports)
        runs = {label(c): run(X, ks, c) for c in configurations}
        with warnings.catch_warnings():  # candidates degenerate in every run
            warnings.simplefilter("ignore", RuntimeWarning)
            best = np.nanmin(np.stack([r["bic"] for r in runs.values()]), axis=0)
        print(f"{name} (n = {len(X)}, d = {X.shape[1]})")
        for configuration in configurations:
            name_ = label(configuration)
            r = runs[name_]
            gap = r["bic"] - best
            stuck = int(np.sum(gap > 0.1))
            largest = float(np.nanmax(gap)) if np.any(np.isfinite(gap)) else 0.0
            mark = " (default)" if configuration == default else ""
            totals[name_][0] += stuck
            totals[name_][1] += r["seconds"]
            totals[name_][2] = max(totals[name_][2], largest)
            k, covariance_type = r["choice"]
            print(
                f"  {name_:<22} stuck {stuck:>3}  largest {largest:>8.2f}  "
                f"CPU {r['seconds']:>6.2f} s  choice {k} {covariance_type}{mark}",
                flush=True,
            )
    print("all data sets:")
    for name_, (stuck, seconds, largest) in totals.items():
        print(
            f"  {name_:<22} stuck {stuck:>3}  largest {largest:>8.2f}  "
            f"CPU {seconds:>6.2f} s"
        )
    print(load_line("at end"))
    first, *_, last = totals
    ratio = totals[last][1] / max(totals[first][1], 1e-9)
    print(
        f"RATIO starts: {last} / {first} CPU time {ratio:.1f}x, stuck "
        f"{totals[last][0]} vs {totals[first][0]}"
    )


if __name__ == "__main__":
    main()
