"""How much BIC the default sweep leaves on the table, and scikit-learn's.

For every candidate of ``napari_gmm.sweep(X, n_components=range(1, 10))``
(the default preset) that is not degenerate, plain EM is continued from the
fitted model until the mean log-likelihood changes by less than 1e-10 (at
most 20,000 iterations); twice the log-likelihood it still gains is the BIC
the default stopping rule left. The same is done for the scikit-learn
preset (``preset="sklearn"``: scikit-learn's rule, one k-means start).

Data: scikit-learn's bundled ``iris``, ``wine``, ``breast_cancer`` (first
10 features), ``digits`` (8 central pixels) and ``diabetes`` (first 6
features), and synthetic 2-D blobs of 100 to 10^5 rows (10^6 with
``--large``), each standardized. Prints one line per data set and a final
``RATIO convergence:`` line.

    python benchmarks/convergence.py [--quick] [--large] [--max-rows N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning

from napari_gmm import sweep
from napari_gmm.core.em import WeightedGaussianMixture

#: The continuation that stands for "converged".
REFERENCE_TOL = 1e-10
REFERENCE_MAX_ITER = 20_000


def blobs(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = (n * 3 // 10, n * 2 // 10, n - n * 3 // 10 - n * 2 // 10)
    return np.concatenate(
        [
            rng.normal([0, 0], [1, 3], (sizes[0], 2)),
            rng.normal([6, 1], [0.5, 0.5], (sizes[1], 2)),
            rng.normal([2, 8], [2, 1], (sizes[2], 2)),
        ]
    )


def data_sets(quick: bool, large: bool, max_rows: int | None = None) -> dict:
    sets = {
        "iris": datasets.load_iris().data,
        "wine": datasets.load_wine().data,
        "breast_cancer[:10]": datasets.load_breast_cancer().data[:, :10],
        "digits[8 px]": datasets.load_digits().data[
            :, [18, 19, 20, 21, 26, 27, 28, 29]
        ],
        "diabetes[:6]": datasets.load_diabetes().data[:, :6],
    }
    sizes = (100, 1_000, 10_000, 100_000) + ((1_000_000,) if large else ())
    if max_rows is not None:
        sizes = tuple(n for n in sizes if n <= max_rows)
    for n in sizes:
        sets[f"blobs n={n}"] = blobs(n)
    if quick:
        sets = {"iris": sets["iris"], "blobs n=100": sets["blobs n=100"]}
    return {
        name: (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
        for name, X in sets.items()
    }


def left_to_gain(model, X: np.ndarray) -> float:
    """2 x the log-likelihood plain EM still gains from ``model``."""
    more = WeightedGaussianMixture(
        n_components=model.n_components,
        covariance_type=model.covariance_type,
        tol=REFERENCE_TOL,
        max_iter=REFERENCE_MAX_ITER,
        reg_covar=model.reg_covar,
        covariance_floor=getattr(model, "covariance_floor", None),
        weights_init=model.weights_,
        means_init=model.means_,
        precisions_init=model.precisions_,
    )
    more.fit(X)
    return 2.0 * len(X) * (more.lower_bound_ - model.score(X))


def measure(X: np.ndarray, ks, **settings) -> tuple[float, int, int, float]:
    start = time.perf_counter()
    result = sweep(X, n_components=ks, **settings)
    elapsed = time.perf_counter() - start
    worst, over, checked = 0.0, 0, 0
    for row in result.table.itertuples():
        if row.degenerate or not np.isfinite(row.bic):
            continue
        gap = left_to_gain(result.model(row.n_components, row.covariance_type), X)
        checked += 1
        worst = max(worst, gap)
        over += gap > 0.1
    return worst, over, checked, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small data sets")
    parser.add_argument("--large", action="store_true", help="also 10^6 rows")
    parser.add_argument(
        "--max-rows", type=int, default=None, help="skip blobs with more rows"
    )
    args = parser.parse_args()
    ks = range(1, 4) if args.quick else range(1, 10)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"{'data':<20} {'n':>8} {'d':>3}   "
        f"{'default: max ΔBIC left  >0.1  time':>36}   "
        f"{'sklearn: max ΔBIC left  >0.1  time':>36}"
    )
    worst_default, worst_sklearn = 0.0, 0.0
    for name, X in data_sets(args.quick, args.large, args.max_rows).items():
        ours = measure(X, ks)
        theirs = measure(X, ks, preset="sklearn")
        worst_default = max(worst_default, ours[0])
        worst_sklearn = max(worst_sklearn, theirs[0])
        print(
            f"{name:<20} {len(X):>8} {X.shape[1]:>3}   "
            f"{ours[0]:>16.3g} {ours[1]:>3}/{ours[2]:<3} {ours[3]:>7.1f}s   "
            f"{theirs[0]:>16.3g} {theirs[1]:>3}/{theirs[2]:<3} {theirs[3]:>7.1f}s",
            flush=True,
        )
    print(
        f"RATIO convergence: largest BIC left by the default {worst_default:.3g}, "
        f"by scikit-learn's rule {worst_sklearn:.3g} (x = candidates over 0.1)"
    )


if __name__ == "__main__":
    main()
