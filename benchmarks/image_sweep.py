"""Image model selection: napari-gmm on the histogram vs scikit-learn on all pixels.

A synthetic 2048 x 2048 uint16 image with three classes (background,
cytoplasm, nuclei: smooth blobs, each class with its own mean and Gaussian
noise, rounded to integers) is clustered two ways, in the same run:

* napari-gmm: ``segment_image(image, tol=T, max_iter=M)`` (compression to
  distinct values and counts, the weighted sweep of K = 1..6 x the four
  covariance types, labels of the image), timed end to end. Its default
  quantization floor is active: every candidate gets step**2 / 12 = 1/12
  added to its variances, on top of reg_covar = 1e-6 (the script checks it);
* scikit-learn: ``GaussianMixture(k, covariance_type=t, random_state=0,
  tol=T, max_iter=M, reg_covar=1e-6 + 1/12).fit(X)`` with ``X`` every pixel as
  an ``(N, 1)`` float array, then ``.bic(X)``. For one channel, a floor of
  1/12 on the diagonal is the same as reg_covar raised by 1/12, so both
  sides fit the same model.

Each side starts EM from its own k-means (on the weighted distinct values,
on all pixels), which can end in different optima. So every timed candidate
is also fitted by scikit-learn on all pixels from napari-gmm's own initial
weights, means and precisions (``weights_init``/``means_init``/
``precisions_init``): the BIC difference from identical starts is the one
the 1e-6 target is about; the difference from each library's own start is
printed beside it for information. Where the latter exceeds 1e-6, napari-gmm
is also rerun from scikit-learn's k-means labels (the other way round).

scikit-learn on 4 million pixels takes seconds to minutes per candidate, so by
default only a few candidates are timed on both sides (``--candidates``, plus
the one napari-gmm chose), and scikit-learn's choice is then only known among
those; the whole-sweep scikit-learn time is an EXTRAPOLATION from measured
pieces (its k-means initialisation per K, and its E- and M-step time per
candidate, times napari-gmm's iteration counts), checked against the
candidates that were timed. ``--full`` times all 24 candidates from
scikit-learn's own start (about an hour on 2 cores), so its choice over all 24
is known; the identical-start fits stay on the ``--candidates`` ones unless
``--same-start-all`` (twice as long).

Run: ``python benchmarks/image_sweep.py`` (about 15 minutes on 2 cores),
``--quick`` (a 128 x 128 image, max_iter 20: seconds), ``--full``, ``--tol 1e-8``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from _common import load_line, make_cell_image, print_header, rel_diff, timed
from napari_gmm import WeightedGaussianMixture, segment_image, sweep
from napari_gmm.core.criteria import COVARIANCE_TYPES, n_parameters
from napari_gmm.core.em import weighted_criteria
from napari_gmm.core.sweep import CandidateFit, select_best

#: Relative BIC difference under which both sides count as the same fit.
BIC_TARGET = 1e-6
#: napari-gmm's and scikit-learn's default reg_covar.
REG_COVAR = 1e-6
KS = tuple(range(1, 7))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="128 x 128 image, max_iter 20: a few seconds",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="time scikit-learn on all 24 candidates (no extrapolation)",
    )
    parser.add_argument("--size", type=int, default=None, help="image side (2048)")
    parser.add_argument("--tol", type=float, default=1e-7, help="EM tolerance T")
    parser.add_argument("--max-iter", type=int, default=None, help="EM max_iter (100)")
    parser.add_argument("--seed", type=int, default=0, help="image seed")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="napari-gmm runs, median taken (3; 1 with --quick); "
        "scikit-learn is timed once",
    )
    parser.add_argument(
        "--candidates",
        default="1:spherical,3:spherical,4:tied,6:full",
        help="K:type pairs timed with scikit-learn (napari-gmm's choice is added)",
    )
    parser.add_argument(
        "--same-start-all",
        action="store_true",
        help="with --full, fit every candidate a second time from napari-gmm's "
        "start (doubles the time); default: only the --candidates ones",
    )
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = 128 if args.quick else 2048
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.max_iter is None:
        args.max_iter = 20 if args.quick else 100
    return args


def parse_candidates(text: str) -> list[tuple[int, str]]:
    pairs = []
    for item in text.split(","):
        k, covariance_type = item.strip().split(":")
        if covariance_type not in COVARIANCE_TYPES:
            raise SystemExit(f"unknown covariance type {covariance_type!r}")
        pairs.append((int(k), covariance_type))
    return pairs


def sklearn_model(k, covariance_type, args, floor, **init) -> GaussianMixture:
    """scikit-learn's candidate; ``reg_covar`` raised by napari-gmm's floor (1-D)."""
    return GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        random_state=0,
        tol=args.tol,
        max_iter=args.max_iter,
        reg_covar=REG_COVAR + floor,
        **init,
    )


def fit_sklearn(X, k, covariance_type, args, floor, start=None) -> dict:
    """Fit and score one candidate with scikit-learn on all pixels, timed.

    ``start``: ``weights_init``/``means_init``/``precisions_init`` (None: its
    default k-means start on all pixels).
    """
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with timed(times, "fit"):
            model = sklearn_model(k, covariance_type, args, floor, **(start or {}))
            model.fit(X)
    with timed(times, "bic"):
        bic = float(model.bic(X))
    return {
        "model": model,
        "bic": bic,
        "time": times["fit"] + times["bic"],
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
    }


def time_segment(image, args) -> list:
    """``args.repeats`` timed runs of ``segment_image``: [(seconds, result)]."""
    runs = []
    for _ in range(args.repeats):
        times = {}
        with timed(times, "segment"):
            # the scikit-learn preset: the same EM as GaussianMixture, so the
            # two sides differ only by the histogram (benchmarks/README.md)
            segmentation = segment_image(
                image, tol=args.tol, max_iter=args.max_iter, preset="sklearn"
            )
        runs.append((times["segment"], segmentation))
    return runs


def report_segment_runs(runs, args, when: str) -> None:
    fits = [float(r.sweep.table["fit_time_s"].sum()) for _, r in runs]
    print(
        f"napari-gmm {when}: segment_image(image, tol={args.tol:g}, "
        f"max_iter={args.max_iter}) end to end "
        + ", ".join(f"{t:.3f}" for t, _ in runs)
        + " s; of which EM fits of the 24 candidates "
        + ", ".join(f"{f:.3f}" for f in fits)
        + " s (the rest: compression, labels of the image, overhead)"
    )
    print("  " + load_line("now"), flush=True)


def time_candidate(model, hist, repeats: int) -> float:
    """Median seconds of refitting one napari-gmm candidate and scoring it."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        refit = clone(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            refit.fit(hist.values, sample_weight=hist.counts)
        weighted_criteria(refit, hist.values, hist.counts)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_quantization_floor(result, hist) -> float:
    """The covariance floor napari-gmm's candidates were fitted with (one channel).

    ``segment_image`` adds ``step**2 / 12`` by default; stop if that is not
    what happened, since the scikit-learn side relies on it.
    """
    expected = float(np.ravel(np.asarray(hist.step, dtype=float) ** 2 / 12.0)[0])
    for key, model in result.models.items():
        floor = model.covariance_floor
        if model.reg_covar != REG_COVAR or floor is None:
            raise SystemExit(f"K={key[0]} {key[1]}: unexpected reg_covar/floor")
        if not np.allclose(np.ravel(floor), expected, rtol=1e-15, atol=0):
            raise SystemExit(f"K={key[0]} {key[1]}: floor {floor} != {expected}")
    return expected


def napari_start(model, hist) -> dict:
    """The initial parameters napari-gmm's EM started from for this candidate.

    The candidate's estimator (same settings, same ``random_state``), refitted
    with ``max_iter=0``, keeps its initialisation (k-means on the weighted
    distinct values) as it is, in the image's coordinates.
    """
    start = clone(model).set_params(max_iter=0)
    start.fit(hist.values, sample_weight=hist.counts)
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def napari_replay_bic(model, hist, start) -> float:
    """napari-gmm's BIC refitted from the explicit ``start`` (checks the start)."""
    replay = clone(model).set_params(**start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        replay.fit(hist.values, sample_weight=hist.counts)
    return float(weighted_criteria(replay, hist.values, hist.counts)["bic"])


def choice(fits: dict) -> tuple:
    """The key select_best chooses: ``fits[key] = (bic, model, converged, n_iter)``."""
    best, _ = select_best([as_candidate(key, *fit) for key, fit in fits.items()], "bic")
    return best.key


def as_candidate(key, bic, model, converged, n_iter) -> CandidateFit:
    """A CandidateFit that select_best can judge (only BIC is filled in)."""
    k, covariance_type = key
    nan = float("nan")
    return CandidateFit(
        index=0,
        total=1,
        n_components=k,
        covariance_type=covariance_type,
        model=model,
        log_likelihood=nan,
        n_parameters=n_parameters(k, 1, covariance_type),
        bic=bic,
        aic=nan,
        icl=nan,
        converged=converged,
        n_iter=n_iter,
        fit_time_s=nan,
    )


# --------------------------------------------------------------------------
# Same-start check: napari-gmm's EM from scikit-learn's k-means labels


def kmeans_labels(X, k) -> tuple[np.ndarray, float]:
    """The k-means labels scikit-learn's GaussianMixture starts from, timed."""
    start = time.perf_counter()
    labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X).labels_
    return labels, time.perf_counter() - start


def initial_parameters(values, counts, value_labels, k, covariance_type, reg):
    """scikit-learn's initial weights, means and precisions from hard labels (1-D)."""
    x = values[:, 0]
    resp = np.zeros((x.size, k))
    resp[np.arange(x.size), value_labels] = 1.0
    resp_w = resp * counts[:, None]
    nk = resp_w.sum(axis=0) + 10 * np.finfo(float).eps
    means = (resp_w.T @ x) / nk
    spread = (resp_w * (x[:, None] - means) ** 2).sum(axis=0)
    weights = nk / counts.sum()
    if covariance_type == "tied":
        precisions = np.array([[1.0 / (spread.sum() / nk.sum() + reg)]])
    else:
        variances = spread / nk + reg
        shape = {"spherical": (k,), "diag": (k, 1), "full": (k, 1, 1)}
        precisions = (1.0 / variances).reshape(shape[covariance_type])
    return {
        "weights_init": weights,
        "means_init": means[:, None],
        "precisions_init": precisions,
    }


def same_start_bic(hist, pixel_labels, pixel_rows, key, args) -> float | None:
    """napari-gmm's weighted BIC when EM starts where scikit-learn's did.

    Returns None if the k-means labels are not constant on a distinct value
    (then the histogram cannot represent that start).
    """
    k, covariance_type = key
    value_labels = np.full(hist.n_values, -1)
    value_labels[pixel_rows] = pixel_labels
    if np.any(value_labels[pixel_rows] != pixel_labels) or np.any(value_labels < 0):
        return None
    init = initial_parameters(
        hist.values, hist.counts, value_labels, k, covariance_type, 1e-6 + 1 / 12
    )
    model = WeightedGaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        random_state=0,
        tol=args.tol,
        max_iter=args.max_iter,
        covariance_floor=hist.step**2 / 12,
        **init,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(hist.values, sample_weight=hist.counts)
    return float(weighted_criteria(model, hist.values, hist.counts)["bic"])


# --------------------------------------------------------------------------
# How much early stopping moves the BIC (napari-gmm side, cheap)


def nearest_other(table, best_key) -> tuple:
    """Candidate with another K closest in BIC to the chosen one, and its ΔBIC.

    (In 1-D, spherical, diag and full with the same K are the same model.)
    """
    others = table[table.index.get_level_values(0) != best_key[0]]
    key = others["bic"].idxmin()
    return key, float(others.loc[key, "bic"] - table.loc[best_key, "bic"])


def early_stopping_effect(hist, table, best_key, args) -> float:
    """Largest relative BIC change when EM runs 10x longer and 10x tighter.

    Measured with napari-gmm on the histogram (seconds, not hours): refit the
    24 candidates with tol T / 10 and max_iter x 10 from the same start.
    """
    longer_result = sweep(
        hist.values,
        weights=hist.counts,
        covariance_floor=hist.step**2 / 12,
        n_components=KS,
        covariance_types=COVARIANCE_TYPES,
        tol=args.tol / 10,
        max_iter=10 * args.max_iter,
        preset="sklearn",
    )
    longer = longer_result.table.set_index(["n_components", "covariance_type"])
    diffs = {
        key: rel_diff(float(table.loc[key].bic), float(longer.loc[key].bic))
        for key in table.index
    }
    worst = max(diffs, key=diffs.get)
    still = int((~longer.converged).sum())
    print(
        f"early stopping (napari-gmm, same start): refitting with tol "
        f"{args.tol / 10:g} and max_iter {10 * args.max_iter} changes the BIC by "
        f"up to {diffs[worst]:.1e} relative (K={worst[0]} {worst[1]}, "
        f"{int(longer.loc[worst].n_iter)} iterations); {still} candidate(s) still "
        "not converged"
    )
    key, delta = nearest_other(table, best_key)
    key_long, delta_long = nearest_other(longer, longer_result.best_key)
    print(
        f"  nearest candidate with another K: K={key[0]} {key[1]}, BIC "
        f"+{delta:.1f} above the chosen one (after the longer refit: K={key_long[0]} "
        f"{key_long[1]}, +{delta_long:.1f}; the longer refit chooses "
        f"K={longer_result.best_key[0]} {longer_result.best_key[1]})"
    )
    return diffs[worst]


# --------------------------------------------------------------------------
# Extrapolation of scikit-learn's whole-sweep time


def step_times(X, napari_model, covariance_type, reps: int = 1) -> tuple:
    """Seconds of one scikit-learn E-step and one M-step on all pixels.

    Measured on scikit-learn's own (private) ``_e_step``/``_m_step`` with the
    parameters napari-gmm found for that candidate: the cost of an EM
    iteration does not depend on where EM is.
    """
    k = napari_model.n_components
    model = GaussianMixture(k, covariance_type=covariance_type, reg_covar=1e-6 + 1 / 12)
    model._set_parameters(
        (
            napari_model.weights_,
            napari_model.means_,
            napari_model.covariances_,
            napari_model.precisions_cholesky_,
        )
    )
    e_times, m_times = [], []
    for _ in range(reps):
        start = time.perf_counter()
        _, log_resp = model._e_step(X)
        middle = time.perf_counter()
        model._m_step(X, log_resp)
        e_times.append(middle - start)
        m_times.append(time.perf_counter() - middle)
    return min(e_times), min(m_times)


def predicted_sklearn_time(t_kmeans, t_e, t_m, n_iter) -> float:
    """scikit-learn's fit + bic time from its pieces.

    fit = k-means + one M-step (parameters from the k-means labels)
    + n_iter x (E-step + M-step) + a final E-step; bic = about one E-step.
    """
    return t_kmeans + t_m + n_iter * (t_e + t_m) + 2 * t_e


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    print_header("image_sweep: napari-gmm (histogram) vs scikit-learn (all pixels)")
    image = make_cell_image((args.size, args.size), seed=args.seed)
    n_pixels = image.size
    print(
        f"image: {args.size} x {args.size} uint16, {n_pixels:,} pixels, "
        f"seed {args.seed}; tol T = {args.tol:g}, max_iter = {args.max_iter}, "
        "random_state = 0, n_init = 1"
    )

    # ---- napari-gmm, end to end (repeated: it takes about a second)
    runs = time_segment(image, args)
    segmentation = runs[-1][1]
    hist, result = segmentation.histogram, segmentation.sweep
    table = result.table.set_index(["n_components", "covariance_type"])
    # Per-candidate fit times within the sweep: the median over the runs.
    table["fit_time_s"] = np.median(
        [r.sweep.table["fit_time_s"].to_numpy() for _, r in runs], axis=0
    )
    n_candidates = len(table)
    print(f"compression: {hist.description}")
    report_segment_runs(runs, args, "at the start")

    floor = check_quantization_floor(result, hist)
    print(
        f"quantization floor: ACTIVE (segment_image's default), step "
        f"{float(np.ravel(hist.step)[0]):g} -> covariance_floor = step**2 / 12 = "
        f"{floor:.6g} on top of reg_covar = {REG_COVAR:g}; in 1-D that is the "
        f"same model as scikit-learn with reg_covar = {REG_COVAR:g} + "
        f"{floor:.6g} = {REG_COVAR + floor:.9g}, which the scikit-learn side uses"
    )
    not_converged = [
        f"{k}/{t}" for (k, t), row in table.iterrows() if not row.converged
    ]
    print(
        f"napari-gmm chose K={result.best_key[0]} {result.best_key[1]} over all "
        f"{n_candidates} candidates; not converged within max_iter: "
        + (", ".join(not_converged) if not_converged else "none")
    )

    early = early_stopping_effect(hist, table, result.best_key, args)

    # ---- scikit-learn, on the timed candidates
    times = {}
    with timed(times, "to_float"):
        X = image.reshape(-1, 1).astype(np.float64)
    print(
        f"scikit-learn input: all {n_pixels:,} pixels as an (N, 1) float64 array "
        f"({times['to_float']:.3f} s to convert, not counted)"
    )
    rest_share = float(
        np.median([t - r.sweep.table["fit_time_s"].sum() for t, r in runs])
    ) / max(n_candidates, 1)
    rest_share = max(rest_share, 0.0)
    subset = parse_candidates(args.candidates)
    if result.best_key not in subset:
        subset.append(result.best_key)
    keys = [(k, t) for t in COVARIANCE_TYPES for k in KS] if args.full else subset
    same_keys = keys if args.same_start_all else subset
    print()
    print(
        "per candidate. sweep s = the candidate's fit_time_s in the sweeps above "
        f"(median); napari s = median of {args.repeats} refits of that candidate "
        "on the histogram (fit + criteria), timed right before scikit-learn's, "
        f"+ {rest_share:.4f} s (1/{n_candidates} of compression, labels and "
        "overhead); sklearn s = fit + bic, one run, from scikit-learn's own "
        "k-means start on all pixels (its default). BIC rel diff 'own': each "
        "library from its own default start (k-means on the weighted histogram "
        "vs on all pixels); 'same': scikit-learn on all pixels started from "
        "napari-gmm's initial weights, means and precisions (weights_init, "
        "means_init, precisions_init; same tol, max_iter, reg_covar + floor). "
        "iter and conv: napari / sklearn own / sklearn same."
    )
    print(
        f"{'K':>2} {'type':<9} {'sweep s':>8} {'napari s':>9} {'sklearn s':>10} "
        f"{'ratio':>8} "
        f"{'BIC napari':>16} {'BIC sk own':>16} {'own diff':>9} "
        f"{'BIC sk same':>16} {'same diff':>9} {'iter':>12} {'conv':>6}"
    )
    sk = {}
    same = {}
    rows = {}
    for key in keys:
        # napari-gmm's candidate timed again right before scikit-learn's, so
        # that both see about the same load from other processes.
        napari_fit = time_candidate(result.models[key], hist, args.repeats)
        fit = sk[key] = fit_sklearn(X, *key, args, floor)
        row = table.loc[key]
        napari_time = napari_fit + rest_share
        rows[key] = {
            "napari": napari_time,
            "ratio": fit["time"] / napari_time,
            "diff": rel_diff(float(row.bic), fit["bic"]),
        }
        iters = f"{int(row.n_iter)}/{fit['n_iter']}"
        convs = f"{'y' if row.converged else 'n'}/{'y' if fit['converged'] else 'n'}"
        same_bic, same_diff = "-", "-"
        if key in same_keys:
            start = napari_start(result.models[key], hist)
            fit_same = same[key] = fit_sklearn(X, *key, args, floor, start)
            rows[key]["same_diff"] = rel_diff(float(row.bic), fit_same["bic"])
            rows[key]["replay_diff"] = rel_diff(
                float(row.bic), napari_replay_bic(result.models[key], hist, start)
            )
            same_bic = f"{fit_same['bic']:.6f}"
            same_diff = f"{rows[key]['same_diff']:.1e}"
            iters += f"/{fit_same['n_iter']}"
            convs += "/" + ("y" if fit_same["converged"] else "n")
        print(
            f"{key[0]:>2} {key[1]:<9} {row.fit_time_s:>8.4f} {napari_time:>9.4f} "
            f"{fit['time']:>10.2f} "
            f"{rows[key]['ratio']:>7.0f}x {row.bic:>16.6f} {fit['bic']:>16.6f} "
            f"{rows[key]['diff']:>9.1e} {same_bic:>16} {same_diff:>9} "
            f"{iters:>12} {convs:>6}",
            flush=True,
        )
    replay = max(rows[key]["replay_diff"] for key in same)
    print(
        "  check of the start handed to scikit-learn: napari-gmm refitted from "
        "those explicit initial parameters reproduces its sweep's BIC to "
        f"{replay:.1e} relative (largest over the {len(same)} candidates)"
    )

    # ---- reverse check where the own-start BIC differ
    differing = [key for key in keys if rows[key]["diff"] > BIC_TARGET]
    kmeans_time = {}
    pixel_rows = hist.index_of(image).ravel() if differing else None
    if differing:
        print()
        print(
            f"candidates whose own-start BIC differ by more than {BIC_TARGET:g}: "
            "the other way round, napari-gmm's EM rerun on the histogram from "
            "scikit-learn's own k-means labels of all pixels:"
        )
    for key in differing:
        labels, kmeans_time[key[0]] = kmeans_labels(X, key[0])
        bic = same_start_bic(hist, labels, pixel_rows, key, args)
        napari_bic, sk_bic = float(table.loc[key].bic), sk[key]["bic"]
        better = "scikit-learn" if sk_bic < napari_bic else "napari-gmm"
        if bic is None:
            verdict = "k-means labels not constant per value: no same-start check"
        else:
            verdict = (
                f"same start gives BIC {bic:.6f}, rel diff "
                f"{rel_diff(bic, sk_bic):.1e} to scikit-learn"
            )
        print(
            f"  K={key[0]} {key[1]}: rel diff {rows[key]['diff']:.1e}, lower BIC "
            f"from {better} (different k-means start -> different optimum); "
            f"{verdict}",
            flush=True,
        )

    # ---- choices
    def napari_choice(candidate_keys):
        return choice(
            {
                key: (
                    float(table.loc[key].bic),
                    result.models.get(key),
                    bool(table.loc[key].converged),
                    int(table.loc[key].n_iter),
                )
                for key in candidate_keys
            }
        )

    def sk_choice(fits):
        return choice(
            {
                key: (f["bic"], f["model"], f["converged"], f["n_iter"])
                for key, f in fits.items()
            }
        )

    sk_key, napari_key = sk_choice(sk), napari_choice(keys)
    same_choice = sk_key == napari_key
    same_start_sk_key, same_start_napari_key = sk_choice(same), napari_choice(same)
    same_start_choice = same_start_sk_key == same_start_napari_key
    if args.full:
        scope = f"all {len(keys)} candidates"
    else:
        scope = (
            f"the {len(keys)} timed candidates ONLY (scikit-learn's choice over "
            f"all {n_candidates} is not known without --full)"
        )
    print()
    print(
        f"choice over {scope}, each from its own start: scikit-learn "
        f"K={sk_key[0]} {sk_key[1]}, napari-gmm K={napari_key[0]} {napari_key[1]} "
        f"({'same' if same_choice else 'DIFFERENT'}); napari-gmm over all "
        f"{n_candidates}: K={result.best_key[0]} {result.best_key[1]}"
    )
    print(
        f"choice over the {len(same)} candidates fitted from identical starts: "
        f"scikit-learn K={same_start_sk_key[0]} {same_start_sk_key[1]}, napari-gmm "
        f"K={same_start_napari_key[0]} {same_start_napari_key[1]} "
        f"({'same' if same_start_choice else 'DIFFERENT'})"
    )

    # ---- whole sweep
    end_runs = time_segment(image, args)
    report_segment_runs(end_runs, args, "again at the end")
    all_runs = runs + end_runs
    napari_total = float(np.median([t for t, _ in all_runs]))
    print(
        f"napari-gmm end to end: {napari_total:.3f} s, median of all "
        f"{len(all_runs)} runs (start and end)"
    )
    if args.full:
        sk_total = sum(f["time"] for f in sk.values())
        whole = "measured"
    else:
        sk_total = extrapolate(X, hist, result, table, sk, kmeans_time)
        whole = "EXTRAPOLATED"
    whole_ratio = sk_total / napari_total
    print(
        f"whole sweep ({n_candidates} candidates): napari-gmm {napari_total:.2f} s, "
        f"scikit-learn {sk_total:.1f} s ({whole}), ratio {whole_ratio:.0f}x"
    )

    print(load_line("at end"))
    ratios = [r["ratio"] for r in rows.values()]
    max_own = max(r["diff"] for r in rows.values())
    max_same = max(r["same_diff"] for key, r in rows.items() if key in same)
    worst_own = max(rows, key=lambda key: rows[key]["diff"])
    worst_same = max(same, key=lambda key: rows[key]["same_diff"])
    print()
    print(
        f"RATIO image_sweep: whole sweep {whole_ratio:.0f}x ({whole.lower()}); "
        f"per candidate {min(ratios):.0f}x..{max(ratios):.0f}x over {len(keys)} "
        f"timed; max BIC rel diff from identical starts {max_same:.1e} over "
        f"{len(same)} (K={worst_same[0]} {worst_same[1]}; target {BIC_TARGET:g}: "
        f"{'met' if max_same <= BIC_TARGET else 'MISSED'}); from each library's own "
        f"start {max_own:.1e} (K={worst_own[0]} {worst_own[1]}, informational); "
        f"early stopping alone {early:.1e}; same choice: "
        f"{'yes' if same_choice else 'NO'} "
        + (f"(all {len(keys)})" if args.full else f"(over the {len(keys)} timed only)")
        + f", from identical starts {'yes' if same_start_choice else 'NO'} "
        f"(over {len(same)})"
    )
    return 0


def extrapolate(X, hist, result, table, sk, kmeans_time) -> float:
    """Whole-sweep scikit-learn seconds: measured where timed, else modelled."""
    print()
    print(
        "EXTRAPOLATION of scikit-learn's whole sweep: sklearn time = k-means(K) + "
        "M + n_iter x (E + M) + 2 E, with k-means and the E/M steps timed on all "
        "pixels and n_iter taken from napari-gmm's table (scikit-learn's own "
        "for the timed candidates), scaled to match the timed candidates."
    )
    for k in KS:
        if k not in kmeans_time:
            _, kmeans_time[k] = kmeans_labels(X, k)
    print(
        "  k-means seconds per K: "
        + ", ".join(f"{k}: {kmeans_time[k]:.2f}" for k in KS),
        flush=True,
    )
    measured_total = 0.0
    predictions = {}
    checks = []
    for (k, covariance_type), row in table.iterrows():
        t_e, t_m = step_times(X, result.models[(k, covariance_type)], covariance_type)
        key = (k, covariance_type)
        if key in sk:
            predicted = predicted_sklearn_time(
                kmeans_time[k], t_e, t_m, sk[key]["n_iter"]
            )
            checks.append((key, predicted, sk[key]["time"]))
            measured_total += sk[key]["time"]
        else:
            predictions[key] = predicted_sklearn_time(
                kmeans_time[k], t_e, t_m, int(row.n_iter)
            )
    print("  check of the model on the timed candidates (predicted / measured):")
    for (k, covariance_type), predicted, measured in checks:
        print(
            f"    K={k} {covariance_type}: {predicted:.1f} s / {measured:.1f} s "
            f"= {predicted / measured:.2f}"
        )
    # Anchor the model to scikit-learn's measured fits: the pieces and the
    # timed fits ran at different moments, and other processes may share
    # the CPUs.
    calibration = float(np.median([m / p for _, p, m in checks]))
    raw = measured_total + sum(predictions.values())
    total = measured_total + calibration * sum(predictions.values())
    print(
        f"  predictions x {calibration:.2f} (median measured / predicted over the "
        f"timed candidates); uncalibrated whole sweep {raw:.0f} s"
    )
    print("  scikit-learn seconds per candidate (* measured, others predicted):")
    print("    " + f"{'K':<10}" + "".join(f"{k:>10}" for k in KS))
    for covariance_type in COVARIANCE_TYPES:
        cells = []
        for k in KS:
            key = (k, covariance_type)
            if key in sk:
                cells.append(f"{sk[key]['time']:.3g}*")
            else:
                cells.append(f"{calibration * predictions[key]:.3g}")
        print(f"    {covariance_type:<10}" + "".join(f"{c:>10}" for c in cells))
    return total


if __name__ == "__main__":
    sys.exit(main())
