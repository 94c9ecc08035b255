"""What fitting candidates in threads buys: one thread vs ``n_jobs=None``.

``napari_gmm.sweep`` fits its candidates in threads when ``n_jobs`` allows
(``n_jobs=None``: up to ``settings.SMALL_DATA_THREADS`` threads below
``settings.PARALLEL_THRESHOLD`` rows, every core from there). The compiled
EM releases the GIL, so threads help even on small data; the Python between
the kernels holds it. This script runs ``sweep(X, n_components=range(1,
10))`` with ``n_jobs=1`` and with the default on the same data, alternately,
and prints the best wall-clock time of each (after one warm-up sweep), the
ratio, and whether the two tables' BICs agree (they must: how candidates
are run never changes them).

Data: scikit-learn's iris (150 x 4), R's ``faithful`` when ``Rscript`` is
available, and 3-D points from 4 Gaussian blobs (seed 0) at n = 1,000,
5,000 and 15,000 (``--quick``: iris only, K = 1..3, one repeat).

Run: ``OMP_NUM_THREADS=1 python benchmarks/threads.py`` (a few minutes),
``--quick``, ``--repeats N`` (default 2).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import load_line, print_header
from napari_gmm import sweep
from napari_gmm.core import settings
from starts import faithful
from vs_mclust import make_blobs


def datasets(quick: bool):
    from sklearn import datasets as sk

    yield "iris", sk.load_iris().data
    if quick:
        return
    X = faithful()
    if X is not None:
        yield "faithful (R)", X
    for n in (1_000, 5_000, 15_000):
        yield f"3-D blobs {n:,}", make_blobs(n)


def best_time(X, ks, n_jobs, repeats) -> tuple[float, np.ndarray]:
    times, bic = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = sweep(X, n_components=ks, n_jobs=n_jobs)
        times.append(time.perf_counter() - start)
        bic = result.table["bic"].to_numpy(float)
    return min(times), bic


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    print_header("threads")
    ks = range(1, 4) if args.quick else range(1, 10)
    repeats = 1 if args.quick else args.repeats
    print(
        f"sweep(X, n_components=range(1, {ks[-1] + 1})): n_jobs=1 vs n_jobs=None "
        f"(up to {settings.SMALL_DATA_THREADS} threads below "
        f"{settings.PARALLEL_THRESHOLD:,} rows); best of {repeats}, wall clock"
    )
    ratios = []
    for name, X in datasets(args.quick):
        sweep(X[:300], n_components=[1, 2], n_jobs=None)  # warm-up (compilation)
        one, bic_one = best_time(X, ks, 1, repeats)
        default, bic_default = best_time(X, ks, None, repeats)
        same = np.allclose(bic_one, bic_default, rtol=1e-12, equal_nan=True)
        ratios.append(one / default)
        print(
            f"  {name:<18} n = {len(X):>6,}  1 thread {one:7.2f} s  default "
            f"{default:7.2f} s  {one / default:5.2f}x  same BICs: {same}",
            flush=True,
        )
    print(load_line("at end"))
    print(
        f"RATIO threads: one thread / default, median {np.median(ratios):.2f}x "
        f"(range {min(ratios):.2f}x-{max(ratios):.2f}x)"
    )


if __name__ == "__main__":
    main()
