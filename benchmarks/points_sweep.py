"""Points model selection: napari_gmm.sweep vs a plain scikit-learn loop.

2-D points are drawn from a known 3-component mixture (fixed seed) at
n = 10,000 and 100,000 (and 1,000,000 with ``--large``). Three timings of
the full sweep, K = 1..6 x {spherical, tied, diag, full}, all with
random_state=0, reg_covar=1e-6, max_iter=100, n_init=1, k-means
initialisation and tol = min(1e-3, 1/n):

(All napari-gmm calls use ``preset="sklearn"``: this script measures the
engine against scikit-learn at the same settings; the default preset's
several starts and tighter stopping are measured by ``convergence.py`` and
``vs_mclust.py``.)

* ``napari_gmm.sweep(X, preset="sklearn")``: napari-gmm's EM with
  scikit-learn's algorithm and settings (it also computes the AIC
  and the ICL and sorts the components), fitted in parallel threads from
  20,000 points on, and above 100,000 points screened on a 50,000-point
  subsample (candidates within their refit margin of the best also on a
  200,000-point one), the best and every candidate still within its margin
  refitted on all points (``napari_gmm.core.large``);
* a plain loop ``GaussianMixture(...).fit(X)`` + ``.bic(X)``, one candidate
  after the other, with the same settings (the sweep's default tolerance
  ``min(1e-3, 1/n)``): the baseline;
* ``napari_gmm.sweep(X, cancel=lambda: False)``: the same with a cancel
  callback, as the widget runs it (Cancel acts within one EM iteration);
  since every sweep runs napari-gmm's EM (#17), this measures what the
  callback costs.

BIC differences are computed over the candidates the sweep fitted on all
points (screened rows hold estimates and are left out; the script says how
many).

For each n it prints the times, the ratios (baseline time / napari-gmm
time: above 1 means napari-gmm is faster), the largest relative BIC
difference to the baseline and whether all three choose the same model.

Run: ``python benchmarks/points_sweep.py`` (a few minutes on 2 cores),
``--quick`` (n = 1,000, K = 1..3, one run: seconds), ``--repeats``,
``--large`` (adds n = 1,000,000), ``--loop-threads N`` (limit the
scikit-learn loop's BLAS/OpenMP threads, as napari-gmm does for its own: it
separates the gain from the thread configuration from the rest).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from _common import load_line, print_header, rel_diff
from napari_gmm import sweep
from napari_gmm.core.criteria import COVARIANCE_TYPES, n_parameters
from napari_gmm.core.sweep import CandidateFit, auto_tol, select_best

KS = tuple(range(1, 7))
#: Candidates of ``--quick``: enough to exercise every code path.
QUICK_KS = (1, 2, 3)

#: The known mixture: weights, means and covariances of three 2-D components.
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [4.0, 4.0], [-3.0, 5.0]])
TRUE_COVARIANCES = np.array(
    [
        [[1.0, 0.3], [0.3, 0.5]],
        [[0.8, -0.4], [-0.4, 1.2]],
        [[0.4, 0.0], [0.0, 0.4]],
    ]
)


def make_points(n: int, seed: int = 0) -> np.ndarray:
    """``n`` points from the known mixture, shape (n, 2)."""
    rng = np.random.default_rng(seed)
    component = rng.choice(len(TRUE_WEIGHTS), size=n, p=TRUE_WEIGHTS)
    points = np.empty((n, 2))
    for k, (mean, covariance) in enumerate(
        zip(TRUE_MEANS, TRUE_COVARIANCES, strict=True)
    ):
        rows = component == k
        points[rows] = rng.multivariate_normal(mean, covariance, size=rows.sum())
    return points


def sklearn_loop(X, ks, tol) -> dict:
    """The baseline: fit and score every candidate with GaussianMixture."""
    fits = []
    bics = {}
    n_iters = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for covariance_type in COVARIANCE_TYPES:
            for k in ks:
                model = GaussianMixture(
                    n_components=k,
                    covariance_type=covariance_type,
                    random_state=0,
                    tol=tol,
                ).fit(X)
                bic = float(model.bic(X))
                bics[(k, covariance_type)] = bic
                n_iters[(k, covariance_type)] = int(model.n_iter_)
                fits.append(
                    CandidateFit(
                        index=len(fits),
                        total=len(ks) * len(COVARIANCE_TYPES),
                        n_components=k,
                        covariance_type=covariance_type,
                        model=model,
                        log_likelihood=float("nan"),
                        n_parameters=n_parameters(k, X.shape[1], covariance_type),
                        bic=bic,
                        aic=float("nan"),
                        icl=float("nan"),
                        converged=bool(model.converged_),
                        n_iter=int(model.n_iter_),
                        fit_time_s=float("nan"),
                    )
                )
    best, _ = select_best(fits, "bic")
    return {"bic": bics, "n_iter": n_iters, "choice": best.key}


def summary_of(result) -> dict:
    """BIC and iterations per candidate, and the choice, of a SweepResult.

    Rows screened on a subsample (estimates) are left out.
    """
    table = result.table
    if "screened" in table:
        table = table[~table["screened"].astype(bool)]
    rows = list(table.itertuples())
    screening = [m for m in result.messages if "were screened" in m]
    return {
        "bic": {(int(r.n_components), r.covariance_type): float(r.bic) for r in rows},
        "n_iter": {(int(r.n_components), r.covariance_type): r.n_iter for r in rows},
        "choice": result.best_key,
        "screening": screening[0] if screening else "",
    }


def worst_diff(a: dict, b: dict) -> tuple[float, tuple]:
    """Largest relative BIC difference between two summaries, and where.

    Over the candidates both have (``a`` may lack screened ones).
    """
    key = max(a["bic"], key=lambda k: rel_diff(a["bic"][k], b["bic"][k]))
    return rel_diff(a["bic"][key], b["bic"][key]), key


def screened_rows(sweep_summary: dict, loop: dict) -> str:
    """How far the candidates the sweep did not refit are from its choice.

    Uses the loop's exact BICs: the smallest ``BIC - chosen BIC`` over the
    candidates left screened (positive: none of them would have won).
    """
    left = [key for key in loop["bic"] if key not in sweep_summary["bic"]]
    if not left:
        return "no candidate left screened"
    chosen = loop["bic"][sweep_summary["choice"]]
    key = min(left, key=lambda k: loop["bic"][k])
    gap = loop["bic"][key] - chosen
    return (
        f"closest candidate left screened, by the loop's exact BIC: K={key[0]} "
        f"{key[1]}, {gap:+.1f} above the choice ({'would not' if gap > 0 else 'WOULD'}"
        " have won)"
    )


def spread(summaries: list) -> float:
    """Largest relative BIC change of one path across its repeats."""
    return max(worst_diff(summaries[0], other)[0] for other in summaries)


def limited(threads: int | None, function, *args):
    """``function(*args)`` with BLAS/OpenMP limited to ``threads`` (None: as is)."""
    with threadpool_limits(limits=threads):
        return function(*args)


def run(n: int, ks, repeats: int, loop_threads: int | None = None) -> dict:
    """Time the three paths ``repeats`` times, in rotating order; keep the min."""
    X = make_points(n)
    tol = auto_tol(n)
    paths = {
        "napari": lambda: summary_of(sweep(X, n_components=ks, preset="sklearn")),
        "sklearn": lambda: limited(loop_threads, sklearn_loop, X, ks, tol),
        "own_em": lambda: summary_of(
            sweep(X, n_components=ks, cancel=lambda: False, preset="sklearn")
        ),
    }
    names = list(paths)
    times = {name: [] for name in names}
    outputs = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % 3 :] + names[: repeat % 3]:
            start = time.perf_counter()
            outputs[name].append(paths[name]())
            times[name].append(time.perf_counter() - start)
    plain, sk, own = (outputs[name][0] for name in names)
    out = {"n": n, "times": times, "tol": tol}
    out["exact"] = (len(plain["bic"]), len(sk["bic"]))
    out.update({name: min(values) for name, values in times.items()})
    out["diff_plain"], out["worst_plain"] = worst_diff(plain, sk)
    out["diff_own"], out["worst_own"] = worst_diff(own, sk)
    out["n_iter"] = {
        key: tuple(path["n_iter"].get(key, "-") for path in (plain, sk, own))
        for key in (out["worst_plain"], out["worst_own"])
    }
    out["spread"] = {name: spread(outputs[name]) for name in names}
    out["choices"] = (plain["choice"], sk["choice"], own["choice"])
    out["same"] = plain["choice"] == sk["choice"] == own["choice"]
    out["screening"] = plain["screening"]
    # the screened rows' estimates against the loop's exact values
    out["screened_rows"] = screened_rows(plain, sk)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="n = 1,000 and K = 1..3 only"
    )
    parser.add_argument("--large", action="store_true", help="add n = 1,000,000")
    parser.add_argument(
        "--loop-threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads of the scikit-learn loop (default: the "
        "libraries' own; the sweep uses one per candidate thread)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per path, min kept (3)"
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    sizes = [1_000] if args.quick else [10_000, 100_000]
    ks = QUICK_KS if args.quick else KS
    if args.large and not args.quick:
        sizes.append(1_000_000)

    print_header("points_sweep: napari_gmm.sweep vs a scikit-learn loop")
    print(
        "data: 2-D points from a known 3-component full-covariance mixture "
        f"(weights 0.5/0.3/0.2), seed 0; sweep K = {ks[0]}..{ks[-1]} x 4 types = "
        f"{4 * len(ks)} candidates; random_state=0, max_iter=100, "
        "tol = min(1e-3, 1/n) on both sides"
    )
    print(
        "ratio = scikit-learn loop time / napari-gmm time (> 1: napari-gmm faster); "
        f"each time is the minimum of {args.repeats} runs (order rotated; one run "
        "from n = 1,000,000), all runs listed below the table"
    )
    print(
        "threads: the scikit-learn loop with "
        + (
            f"BLAS/OpenMP limited to {args.loop_threads}"
            if args.loop_threads
            else "the libraries' default BLAS/OpenMP threads"
        )
        + "; napari-gmm with one BLAS/OpenMP thread per candidate thread"
    )
    print()
    print(
        f"{'n':>9} {'tol':>7} {'sklearn s':>10} {'sweep s':>9} {'ratio':>6} "
        f"{'own EM s':>9} {'ratio':>6} {'BIC diff':>9} {'own diff':>9}  "
        "choice (sweep/sklearn/own)"
    )
    # Warm up (imports, thread pools) so that the first timing is not penalised.
    sweep(make_points(200), n_components=[2], covariance_types=["full"])
    results = []
    for n in sizes:
        r = run(n, ks, args.repeats if n < 1_000_000 else 1, args.loop_threads)
        results.append(r)
        choices = " / ".join(f"{k} {t}" for k, t in r["choices"])
        print(
            f"{n:>9,} {r['tol']:>7.0e} {r['sklearn']:>10.2f} {r['napari']:>9.2f} "
            f"{r['sklearn'] / r['napari']:>6.2f} {r['own_em']:>9.2f} "
            f"{r['sklearn'] / r['own_em']:>6.2f} {r['diff_plain']:>9.1e} "
            f"{r['diff_own']:>9.1e}  {choices} "
            f"({'same' if r['same'] else 'DIFFERENT'})",
            flush=True,
        )
    print("BIC diff: largest relative difference to the scikit-learn loop (first run)")
    for r in results:
        print(
            f"n={r['n']:,}: runs (s) "
            + "; ".join(
                f"{name} " + ", ".join(f"{t:.2f}" for t in values)
                for name, values in r["times"].items()
            )
        )
        for label, key in (("sweep", r["worst_plain"]), ("own EM", r["worst_own"])):
            iters = r["n_iter"][key]
            print(
                f"  {label}: largest BIC diff at K={key[0]} {key[1]}, EM iterations "
                f"sweep/sklearn/own {iters[0]}/{iters[1]}/{iters[2]}"
            )
        if r["exact"][0] < r["exact"][1]:
            print(
                f"  the sweep screened on a subsample: BIC compared on the "
                f"{r['exact'][0]} of {r['exact'][1]} candidates refitted on all points"
            )
            print(f"  {r['screening']}")
            print(f"  {r['screened_rows']}")
        print(
            "  BIC change across repeats of the same path: "
            + ", ".join(f"{name} {v:.1e}" for name, v in r["spread"].items())
        )
    print(load_line("at end"))
    print()
    summary = "; ".join(
        f"n={r['n']:,}: sweep {r['sklearn'] / r['napari']:.2f}x, own EM "
        f"{r['sklearn'] / r['own_em']:.2f}x, same choice "
        f"{'yes' if r['same'] else 'NO'}"
        for r in results
    )
    print(f"RATIO points_sweep: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
