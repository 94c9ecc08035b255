"""All 14 covariance models: ParsimoniousGaussianMixture vs R's mclust, same start.

For every data set, K and model (EII ... VVV), both tools run EM from the
same initial partition (scikit-learn's k-means, ``n_init=10``,
``random_state=0``, on the raw data):

* mclust: ``me(X, model, unmap(labels), control = emControl(tol = c(tol_r,
  1e-12)))``: EM from that partition (its first step is the model's M-step
  on the partition), stopping when the log-likelihood's relative change is
  below ``tol_r`` (default 1e-10); no prior (no regularization). BIC is
  ``-2 loglik + nMclustParams(model, d, K) log n`` (our sign: lower is
  better). Time: ``system.time`` around ``me`` (median of the repeats).
* napari-gmm: ``ParsimoniousGaussianMixture(K, covariance_model=model,
  reg_covar=0, stopping="gain", tol=tol)`` (plain EM, as mclust; with
  ``--accelerate`` SQUAREM, whose different path can end at another local
  maximum from the same start, better or worse) started from the
  same partition (``weights_init``, ``means_init``, ``precisions_init`` of
  its full covariances, which the estimator projects into the model: the
  model's M-step on the partition), ``tol`` default 1e-8 (log-likelihood
  units). Time: ``fit`` (median of the repeats).

It prints, per data set, every (model, K): both BICs, their relative
difference, both parameter counts (they must agree), both iteration counts
and times; then the worst relative difference, how many pairs agree within
1e-6, and the time ratio (mclust / ours: above 1 means napari-gmm is
faster), in total and per EM iteration (the stopping rules differ: ours
stops on the log-likelihood still to gain, mclust on its relative change).
Fits one tool could not finish (a singular covariance) are listed as such.
Where the BICs differ by more than 1e-6, one exact EM iteration (ours) from
mclust's final parameters tells whether mclust's end is an EM fixed point
(then the two runs found different local maxima) or not (its M-step stopped
short of the maximum).

Data: R's ``faithful`` and ``iris[, 1:4]`` written to CSV by ``Rscript``
(see ``vs_mclust.py``); ``--datasets blobs20000`` adds 20,000 3-D points
from three Gaussians with random full covariances (seed 0), where the
E-step, not per-iteration overhead, sets the time. Without ``Rscript`` (or
without mclust) the script runs napari-gmm alone on scikit-learn's bundled
iris and says so.

Run: ``python benchmarks/vs_mclust_models.py`` (a minute or two),
``--quick`` (faithful, K = 1..3), ``--datasets faithful,iris``,
``--ks 1:5``, ``--models EVE,VVE``, ``--repeats 3``, ``--tol 1e-8``,
``--r-tol 1e-10``, ``--accelerate``, ``--no-r``, ``--rscript PATH``,
``--out results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from _common import load_line, print_header, rel_diff
from napari_gmm.core.parsimonious import MODELS, n_covariance_parameters
from napari_gmm.core.parsimonious_em import ParsimoniousGaussianMixture
from vs_mclust import dump_datasets, find_rscript, r_versions, read_csv_matrix

#: Relative BIC difference the issue asks for (same start).
GOAL = 1e-6

R_ME = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(mclust))
X <- as.matrix(read.csv(args[1]))
labels <- as.matrix(read.csv(args[2]))
models <- strsplit(args[3], ",", fixed = TRUE)[[1]]
repeats <- as.integer(args[5])
control <- emControl(tol = c(as.numeric(args[6]), 1e-12))
out <- file(args[4], "w")
for (column in colnames(labels)) {
  z <- unmap(labels[, column])
  G <- ncol(z)
  for (model in models) {
    elapsed <- numeric(repeats)
    fit <- NULL
    for (i in seq_len(repeats)) {
      elapsed[i] <- system.time(fit <- tryCatch(
        suppressWarnings(me(X, model, z, control = control)),
        error = function(e) NULL))[["elapsed"]]
    }
    loglik <- if (is.null(fit) || is.null(fit$loglik)) NA else fit$loglik
    iterations <- if (is.null(fit)) NA else as.integer(attr(fit, "info")[1])
    flat <- function(v) paste(sprintf("%.17g", as.vector(v)), collapse = ",")
    parameters <- if (is.na(loglik)) c("NA", "NA", "NA") else c(
      flat(fit$parameters$pro), flat(fit$parameters$mean),
      flat(fit$parameters$variance$sigma))
    writeLines(paste(sprintf("%d\t%s\t%s\t%d\t%s\t%.6f", G, model,
                       if (is.na(loglik)) "NA" else sprintf("%.17g", loglik),
                       nMclustParams(model, ncol(X), G),
                       if (is.na(iterations)) "NA" else sprintf("%d", iterations),
                       median(elapsed)), paste(parameters, collapse = "\t"),
                     sep = "\t"), out)
  }
}
close(out)
"""


def synthetic(name: str, directory: Path) -> tuple[np.ndarray, Path]:
    """``blobs<n>``: n 3-D points from 3 Gaussians with random full
    covariances (seed 0), written to CSV for R."""
    n = int(float(name.removeprefix("blobs")))
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [1.0, 7.0, 2.0]])
    labels = rng.integers(0, 3, size=n)
    factors = rng.standard_normal((3, 3, 3))
    X = centres[labels] + np.einsum(
        "nij,nj->ni", factors[labels], rng.standard_normal((n, 3))
    )
    path = directory / f"{name}.csv"
    np.savetxt(path, X, delimiter=",", header="x,y,z", comments="")
    return X, path


def parse_ks(text: str) -> list[int]:
    if ":" in text:
        low, high = (int(v) for v in text.split(":"))
        return list(range(low, high + 1))
    return [int(v) for v in text.split(",")]


def partitions(X: np.ndarray, ks) -> dict[int, np.ndarray]:
    """k-means labels (0-based) for every K: the common start."""
    return {
        k: KMeans(n_clusters=k, n_init=10, random_state=0).fit(X).labels_ for k in ks
    }


def start_of(X: np.ndarray, labels: np.ndarray, k: int) -> dict:
    """weights_init, means_init and full precisions_init of a partition."""
    counts = np.bincount(labels, minlength=k).astype(float)
    means = np.stack([X[labels == j].mean(axis=0) for j in range(k)])
    covariances = np.stack(
        [np.cov(X[labels == j].T, bias=True).reshape(X.shape[1], -1) for j in range(k)]
    )
    return {
        "weights_init": counts / counts.sum(),
        "means_init": means,
        "precisions_init": np.linalg.inv(covariances),
    }


def run_ours(X, starts, models, tol: float, repeats: int, accelerate: bool) -> dict:
    """``{(k, model): {...}}`` with BIC, parameters, iterations, time."""
    results = {}
    n = len(X)
    # warm-up: the compiled kernels load (or compile) on first use
    ParsimoniousGaussianMixture(1, covariance_model="EEE", max_iter=2).fit(X)
    for k, labels in starts.items():
        start = start_of(X, labels, k)
        for model in models:
            times, fitted, error = [], None, ""
            for _ in range(repeats):
                estimator = ParsimoniousGaussianMixture(
                    k,
                    covariance_model=model,
                    reg_covar=0.0,
                    stopping="gain",
                    tol=tol,
                    accelerate=accelerate,
                    max_iter=100_000,
                    **start,
                )
                begin = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        fitted = estimator.fit(X)
                except (ValueError, np.linalg.LinAlgError) as err:
                    error = str(err)[:60]
                    fitted = None
                times.append(time.perf_counter() - begin)
            if fitted is None:
                results[(k, model)] = {"bic": math.nan, "error": error}
                continue
            results[(k, model)] = {
                "bic": float(fitted.bic(X)),
                "log_likelihood": float(fitted.score(X) * n),
                "n_parameters": int(fitted._n_parameters()),
                "n_iter": int(fitted.n_iter_),
                "time": statistics.median(times),
            }
    return results


def run_mclust(rscript, data_csv: Path, starts, models, repeats, r_tol) -> dict:
    """``{(k, model): {...}}`` from ``me`` in Rscript, BIC in our sign."""
    directory = data_csv.parent
    labels_csv = directory / f"{data_csv.stem}.labels.csv"
    ks = sorted(starts)
    rows = np.column_stack([starts[k] + 1 for k in ks])
    header = ",".join(f"k{k}" for k in ks)
    np.savetxt(labels_csv, rows, fmt="%d", delimiter=",", header=header, comments="")
    script = directory / "me.R"
    script.write_text(R_ME)
    out_path = directory / f"{data_csv.stem}.me.tsv"
    proc = subprocess.run(
        [
            rscript,
            str(script),
            str(data_csv),
            str(labels_csv),
            ",".join(models),
            str(out_path),
            str(repeats),
            repr(r_tol),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-800:])
    n = len(next(iter(starts.values())))
    d = read_csv_matrix(data_csv).shape[1]
    results = {}
    for line in out_path.read_text().splitlines():
        k, model, loglik, n_par, iterations, elapsed, *parameters = line.split("\t")
        value = math.nan if loglik == "NA" else float(loglik)
        k = int(k)
        end = None
        if loglik != "NA":
            pro, mean, sigma = (
                np.array([float(v) for v in p.split(",")]) for p in parameters
            )
            # R's arrays are column-major: mean is d x K, sigma d x d x K
            end = {
                "weights_init": pro,
                "means_init": mean.reshape((d, k), order="F").T,
                "precisions_init": np.linalg.inv(
                    sigma.reshape((d, d, k), order="F").transpose(2, 0, 1)
                ),
            }
        results[(k, model)] = {
            "end": end,
            "bic": -2.0 * value + int(n_par) * math.log(n),
            "log_likelihood": value,
            "n_parameters": int(n_par),
            "n_iter": None if iterations == "NA" else int(iterations),
            "time": float(elapsed),
        }
    return results


def step_from_mclust(X, k, model, other) -> str:
    """Where mclust's end differs from ours: is it an EM fixed point?

    One exact EM iteration (ours) from mclust's final parameters: a gain in
    log-likelihood means mclust's M-step stopped short of the maximum; no
    gain means both ended at different local maxima.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        stepped = ParsimoniousGaussianMixture(
            k, covariance_model=model, reg_covar=0.0, max_iter=1, **other["end"]
        ).fit(X)
    gain = stepped.score(X) * len(X) - other["log_likelihood"]
    verdict = (
        "not an EM fixed point" if gain > 1e-6 else "a fixed point: another maximum"
    )
    return (
        f"   {model} K={k}: one exact EM step from mclust's end changes its "
        f"log-likelihood by {gain:+.2e}: {verdict}"
    )


def compare(name, X, ours, theirs, ks, models) -> dict:
    """Print the per-candidate table; return the summary numbers."""
    n, d = X.shape
    print(f"-- {name}: n = {n}, d = {d}")
    header = (
        f"{'model':>5} {'K':>2} {'BIC ours':>14} {'BIC mclust':>14} {'rel diff':>9} "
        f"{'p':>4} {'p R':>4} {'it':>5} {'it R':>5} {'ms':>8} {'ms R':>8}"
    )
    print(header)
    worst, agree, compared, count_mismatch = 0.0, 0, 0, 0
    time_ours = time_r = 0.0
    iterations_ours = iterations_r = 0
    notes = []
    for model in models:
        for k in ks:
            mine = ours[(k, model)]
            other = theirs.get((k, model)) if theirs is not None else None
            expected_p = n_covariance_parameters(model, k, d) + k * d + k - 1
            if "error" in mine:
                print(f"{model:>5} {k:>2} failed: {mine['error']}")
                continue
            line = f"{model:>5} {k:>2} {mine['bic']:14.6f} "
            if other is None:
                print(line + f"{'':>14} {'':>9} {mine['n_parameters']:>4}")
                continue
            both = math.isfinite(other["bic"])
            diff = rel_diff(mine["bic"], other["bic"]) if both else math.nan
            if both:
                compared += 1
                worst = max(worst, diff)
                agree += diff <= GOAL
                time_ours += mine["time"]
                time_r += other["time"]
                iterations_ours += mine["n_iter"]
                iterations_r += other["n_iter"] or 0
            if other["n_parameters"] != mine["n_parameters"] or (
                mine["n_parameters"] != expected_p
            ):
                count_mismatch += 1
            if both and diff > GOAL and other.get("end") is not None:
                notes.append(step_from_mclust(X, k, model, other))
            print(
                line + f"{other['bic']:14.6f} {diff:9.1e} {mine['n_parameters']:>4} "
                f"{other['n_parameters']:>4} {mine['n_iter']:>5} "
                f"{other['n_iter'] if other['n_iter'] is not None else 'NA':>5} "
                f"{1e3 * mine['time']:8.2f} {1e3 * other['time']:8.2f}"
            )
    for note in notes:
        print(note)
    if theirs is not None:
        print(
            f"   {name}: {agree}/{compared} candidates within {GOAL:g} relative; "
            f"worst {worst:.2e}; parameter-count mismatches: {count_mismatch}; "
            f"time ours {time_ours:.3f} s ({iterations_ours} iterations), mclust "
            f"{time_r:.3f} s ({iterations_r} iterations)"
        )
    print(flush=True)
    return {
        "worst": worst,
        "agree": agree,
        "compared": compared,
        "count_mismatch": count_mismatch,
        "time_ours": time_ours,
        "time_mclust": time_r,
        "iterations_ours": iterations_ours,
        "iterations_mclust": iterations_r,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", default="faithful,iris")
    parser.add_argument("--ks", default="1:5")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--r-tol", type=float, default=1e-10)
    parser.add_argument("--accelerate", action="store_true")
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--rscript", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.ks, args.repeats = "faithful", "1:3", 1
    ks = parse_ks(args.ks)
    models = [m.strip().upper() for m in args.models.split(",")]
    print_header("14 covariance models: ParsimoniousGaussianMixture vs mclust::me")
    rscript = None if args.no_r else find_rscript(args.rscript)
    if rscript:
        print(f"R: {r_versions(rscript)}")
    else:
        print("Rscript with mclust not found: napari-gmm only, on scikit-learn's iris")
    summaries = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if rscript:
            names = [s.strip() for s in args.datasets.split(",")]
            from_r = [name for name in names if not name.startswith("blobs")]
            paths = dump_datasets(rscript, from_r, directory)
            datasets = {}
            for name in names:
                if name in paths:
                    datasets[name] = (read_csv_matrix(paths[name]), paths[name])
                else:
                    datasets[name] = synthetic(name, directory)
        else:
            from sklearn.datasets import load_iris

            datasets = {"iris (sklearn)": (load_iris().data, None)}
        for name, (X, path) in datasets.items():
            starts = partitions(X, ks)
            ours = run_ours(X, starts, models, args.tol, args.repeats, args.accelerate)
            theirs = (
                run_mclust(rscript, path, starts, models, args.repeats, args.r_tol)
                if rscript
                else None
            )
            summaries[name] = compare(name, X, ours, theirs, ks, models)
    print(load_line("at end"))
    compared = sum(s["compared"] for s in summaries.values())
    if rscript and compared:
        worst = max(s["worst"] for s in summaries.values())
        agree = sum(s["agree"] for s in summaries.values())
        ratio = sum(s["time_mclust"] for s in summaries.values()) / max(
            sum(s["time_ours"] for s in summaries.values()), 1e-12
        )
        # per iteration too: the stopping rules differ (ours stops on the
        # log-likelihood left to gain, mclust on the relative change)
        per_iteration = (
            ratio
            * sum(s["iterations_ours"] for s in summaries.values())
            / max(sum(s["iterations_mclust"] for s in summaries.values()), 1)
        )
        print(
            f"RATIO vs_mclust_models: mclust / napari-gmm time = {ratio:.2f}x over "
            f"{compared} fits ({per_iteration:.2f}x per EM iteration); "
            f"{agree}/{compared} BICs within {GOAL:g} relative (worst {worst:.1e})"
        )
    else:
        print("RATIO vs_mclust_models: no mclust to compare with: 0x")
    if args.out:
        Path(args.out).write_text(json.dumps(summaries, indent=2))


if __name__ == "__main__":
    main()
