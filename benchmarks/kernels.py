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

``--steps`` times single steps instead, in this process: one E-step
(log-densities, responsibilities and lower bound) and one M-step of the
compiled kernels against scikit-learn's own functions for the same step
(``_estimate_log_gaussian_prob`` + ``logsumexp``, and
``_estimate_gaussian_parameters`` + ``_compute_precision_cholesky``), on
random data of the sizes the sweeps meet (10^5 points with 9 components,
the 1-D histogram of a 16-bit image, a few hundred points); best of
``--repeats`` (default 20) per step. Run it with ``OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1`` to compare one thread with one thread.
``--steps --widths`` times the same steps across feature widths instead
(20,000 rows, 5 components, tied and full, 2 to 30 features): the
kernels' loops up to ``kernels.VECTOR_MAX_FEATURES`` features and the
full E-step's matrix products above.
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


#: ``--steps`` cases: (label, rows, components, features, covariance type).
STEP_CASES = (
    ("points", 100_000, 9, 3, "full"),
    ("points", 100_000, 9, 3, "diag"),
    ("histogram", 1_000, 6, 1, "full"),
    ("histogram", 100_000, 9, 1, "spherical"),
    ("table", 300, 5, 4, "full"),
)

#: ``--steps --widths`` cases: the same across feature widths.
WIDTH_CASES = tuple(
    ("width", 20_000, 5, d, covariance_type)
    for d in (2, 4, 8, 12, 16, 30)
    for covariance_type in ("tied", "full")
)


def _best_time(function, repeats: int) -> float:
    function()  # warm-up (compilation, caches)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def step_times(rows, n_components, n_features, covariance_type, repeats) -> dict:
    """Seconds per E-step and M-step: compiled kernels and scikit-learn."""
    from scipy.special import logsumexp
    from sklearn.mixture import _gaussian_mixture as skl

    from napari_gmm.core import em, kernels

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, n_features)) * 3.0
    w = rng.uniform(0.5, 2.0, rows)
    resp = rng.dirichlet(np.ones(n_components), size=rows)
    nk, means, covariances = em.weighted_gaussian_parameters(
        X, w, resp, 1e-6, None, covariance_type
    )
    weights = nk / nk.sum()
    chol = em.precision_cholesky(covariances, covariance_type)

    def ours_e():
        kernels.e_step(X, w, weights, means, chol, covariance_type, want_log=False)

    def sklearn_e():
        log = skl._estimate_log_gaussian_prob(X, means, chol, covariance_type)
        log += np.log(weights)
        log_norm = logsumexp(log, axis=1)
        np.exp(log - log_norm[:, None])
        return float(w @ log_norm) / w.sum()

    weighted = resp * w[:, None]  # scikit-learn's M-step has no sample weights

    def ours_m():
        kernels.m_step(X, w, resp, 1e-6, None, covariance_type)

    def sklearn_m():
        _, _, cov = skl._estimate_gaussian_parameters(
            X, weighted, 1e-6, covariance_type
        )
        skl._compute_precision_cholesky(cov, covariance_type)

    return {
        "e_ours": _best_time(ours_e, repeats),
        "e_sklearn": _best_time(sklearn_e, repeats),
        "m_ours": _best_time(ours_m, repeats),
        "m_sklearn": _best_time(sklearn_m, repeats),
    }


def print_ratios(what: str, ratios: list) -> None:
    """The load line and the script's one ``RATIO kernels:`` line."""
    print(load_line("at end"))
    print(
        f"RATIO kernels: {what} "
        + ", ".join(f"{r:.1f}x" for r in ratios)
        + f" (median {float(np.median(ratios)):.1f}x)"
    )


def steps_main(args) -> None:
    repeats = 3 if args.quick else args.repeats
    print(
        "one E-step and one M-step: compiled kernels vs scikit-learn, best of "
        f"{repeats}; ms"
    )
    print(
        f"{'case':<10} {'n':>8} {'K':>2} {'d':>2} {'type':<9} {'E ours':>8} "
        f"{'E sklearn':>9} {'ratio':>6} {'M ours':>8} {'M sklearn':>9} {'ratio':>6}"
    )
    ratios = []
    cases = WIDTH_CASES if args.widths else STEP_CASES
    if args.quick:
        cases = cases[-1:] if args.widths else cases[2:3]
    for label, rows, k, d, covariance_type in cases:
        t = step_times(rows, k, d, covariance_type, repeats)
        e_ratio = t["e_sklearn"] / t["e_ours"]
        m_ratio = t["m_sklearn"] / t["m_ours"]
        ratios += [e_ratio, m_ratio]
        print(
            f"{label:<10} {rows:>8,} {k:>2} {d:>2} {covariance_type:<9} "
            f"{t['e_ours'] * 1e3:>8.3f} {t['e_sklearn'] * 1e3:>9.3f} {e_ratio:>5.1f}x "
            f"{t['m_ours'] * 1e3:>8.3f} {t['m_sklearn'] * 1e3:>9.3f} {m_ratio:>5.1f}x",
            flush=True,
        )
    print_ratios("scikit-learn/compiled per step", ratios)


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
    parser.add_argument("--steps", action="store_true", help="time single steps")
    parser.add_argument(
        "--widths",
        action="store_true",
        help="with --steps: across feature widths (2 to 30 features)",
    )
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print_header("kernels")
    if args.steps:
        steps_main(args)
        return
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
    print_ratios("numpy/compiled CPU time", ratios)


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"({time.time() - started:.0f} s)")
