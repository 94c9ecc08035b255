"""The default sweep's fits: converged, well started, non-degenerate, scale-free.

Issue "A choice you can trust": each candidate's BIC is within 0.1 of EM
continued to a 1e-10 change, never worse than scikit-learn's default fit of
the same candidate, unchanged (up to the Jacobian) by rescaling features,
and degenerate fits are never chosen.
"""

import importlib
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from napari_gmm import make_seed_example, sweep
from napari_gmm.core import compiled_loop, fitting, kernels
from napari_gmm.core.candidate import degeneracy
from napari_gmm.core.convergence import GainRule
from napari_gmm.core.em import WeightedGaussianMixture
from napari_gmm.core.starts import (
    axis_names,
    kmeans_names,
    metric_kmeans_names,
    random_rows_names,
)
from napari_gmm.core.sweep import AUTO_KMEANS_STARTS

TYPES = ("spherical", "tied", "diag", "full")


def three_blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal([0.0, 0.0], [1.0, 3.0], (n // 3, 2)),
            rng.normal([6.0, 1.0], [0.5, 0.5], (n // 3, 2)),
            rng.normal([2.0, 8.0], [2.0, 1.0], (n - 2 * (n // 3), 2)),
        ]
    )


@pytest.fixture(scope="module")
def blobs():
    return three_blobs()


@pytest.fixture(scope="module")
def blobs_result(blobs):
    return sweep(blobs, n_components=range(1, 6))


def continued_log_likelihood(model, X):
    """Plain EM from ``model`` until the mean log-likelihood moves < 1e-10."""
    more = WeightedGaussianMixture(
        **{
            **model.get_params(),
            "stopping": "change",
            "accelerate": False,
            "collapse_variance": None,
            "tol": 1e-10,
            "max_iter": 20000,
            "n_init": 1,
            "weights_init": model.weights_,
            "means_init": model.means_,
            "precisions_init": model.precisions_,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        more.fit(X)
    return more.lower_bound_ * len(X)


def test_every_candidate_is_within_0_1_bic_of_full_convergence(blobs, blobs_result):
    checked = 0
    for row in blobs_result.table.itertuples():
        if row.degenerate:
            continue
        model = blobs_result.model(row.n_components, row.covariance_type)
        gain = continued_log_likelihood(model, blobs) - row.log_likelihood
        assert 2 * gain < 0.1, (row.n_components, row.covariance_type, gain)
        checked += 1
    assert checked >= 15


def test_never_worse_than_scikit_learns_default_fit(blobs, blobs_result):
    for row in blobs_result.table.itertuples():
        reference = GaussianMixture(
            n_components=row.n_components,
            covariance_type=row.covariance_type,
            random_state=0,
        ).fit(blobs)
        if degeneracy(reference, blobs.var(axis=0), len(blobs)):
            continue
        assert row.bic <= reference.bic(blobs) + 1e-6 * abs(row.bic), row


def test_the_seed_example_still_chooses_full_2_and_is_never_worse(seed_X):
    default = sweep(seed_X)
    reference = sweep(seed_X, preset="sklearn")
    assert default.best_key == (2, "full")
    assert reference.best_key == (2, "full")
    gap = default.table["bic"].to_numpy() - reference.table["bic"].to_numpy()
    assert np.all(gap <= 1e-6 * np.abs(reference.table["bic"].to_numpy()))
    assert default.settings["preset"] == "default"
    assert reference.settings["preset"] == "sklearn"


@pytest.mark.parametrize(
    ("scale", "types"),
    [
        (np.array([1e3, 1e-2]), ("tied", "diag", "full")),
        (np.array([250.0, 250.0]), TYPES),
    ],
)
def test_rescaling_features_changes_bic_by_the_jacobian_only(blobs, scale, types):
    ks = range(1, 5)
    original = sweep(blobs, n_components=ks, covariance_types=types)
    rescaled = sweep(
        blobs * scale + np.array([-7.0, 1e4]), n_components=ks, covariance_types=types
    )
    assert rescaled.best_key == original.best_key
    jacobian = 2 * len(blobs) * np.log(scale).sum()
    np.testing.assert_allclose(
        rescaled.table["bic"].to_numpy(),
        original.table["bic"].to_numpy() + jacobian,
        rtol=1e-7,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("scale", "types"),
    [
        # any per-feature scaling maps these models onto themselves: the
        # axis-aligned ones (diagonal covariances stay diagonal, a common
        # shape or equal volumes stay common) and those with one covariance
        # shape (VEE) or free orientations (EVV: determinants scale alike)
        (np.array([1e3, 1e-2]), ("EEI", "VEI", "EVI", "VEE", "EVV")),
        # these constrain orientations or eigenvalues, which a per-feature
        # scaling does not keep (C D A D^T C has other eigenvectors and
        # eigenvalues): only a common scale leaves them unchanged
        (np.array([250.0, 250.0]), ("EII", "EVE", "VVE", "EEV", "VEV")),
    ],
)
def test_rescaling_leaves_mclusts_other_models_unchanged(blobs, scale, types):
    ks = range(1, 4)
    original = sweep(blobs, n_components=ks, covariance_types=types)
    rescaled = sweep(
        blobs * scale + np.array([-7.0, 1e4]), n_components=ks, covariance_types=types
    )
    assert rescaled.best_key == original.best_key
    jacobian = 2 * len(blobs) * np.log(scale).sum()
    np.testing.assert_allclose(
        rescaled.table["bic"].to_numpy(),
        original.table["bic"].to_numpy() + jacobian,
        rtol=1e-7,
        atol=1e-6,
    )


def test_tiny_feature_variances_do_not_bias_the_fit():
    # features of variance ~1e-5: an absolute reg_covar of 1e-6 would add a
    # tenth to every variance; the default regularizes relative to the data
    rng = np.random.default_rng(3)
    X = rng.multivariate_normal([0, 0, 0], np.diag([1.0, 2.0, 0.5]) * 1e-5, 400)
    result = sweep(X, n_components=[1], covariance_types=["full"])
    exact = -2 * _gaussian_log_likelihood(X) + result.table["n_parameters"][0] * np.log(
        len(X)
    )
    assert result.table["bic"][0] == pytest.approx(exact, rel=1e-6)


def _gaussian_log_likelihood(X):
    n, d = X.shape
    covariance = np.cov(X, rowvar=False, bias=True)
    _, logdet = np.linalg.slogdet(covariance)
    return -0.5 * n * (d * np.log(2 * np.pi) + logdet + d)


def test_degenerate_fits_are_marked_and_never_chosen():
    # one feature takes only a few values: diag/full components can sit on a
    # single value with a vanishing variance and an unbounded likelihood
    rng = np.random.default_rng(0)
    # (irregular levels: not a quantization step, which would get a floor)
    levels = rng.choice([0.0, 1.3, 2.9], 300)
    X = np.column_stack([rng.normal(size=300), levels])
    result = sweep(X, n_components=range(1, 6))
    table = result.table
    assert table["degenerate"].any()
    assert not table.loc[table["selected"], "degenerate"].item()
    assert table.loc[table["degenerate"], "message"].str.contains("degenerate").all()
    # a collapsed component has the lowest BIC of all, and is not chosen
    assert (
        table.loc[table["degenerate"], "bic"].min()
        < table["bic"][table["selected"]].item()
    )


def test_allow_degenerate_restores_the_unfiltered_choice():
    rng = np.random.default_rng(0)
    # (irregular levels: not a quantization step, which would get a floor)
    levels = rng.choice([0.0, 1.3, 2.9], 300)
    X = np.column_stack([rng.normal(size=300), levels])
    result = sweep(X, n_components=range(1, 6), allow_degenerate=True)
    table = result.table
    # halted collapses did not converge (never chosen while a converged fit
    # exists); among the converged ones the lowest wins, degenerate or not
    converged = table[table["converged"]]
    assert table.loc[table["selected"], "bic"].item() == converged["bic"].min()


def test_a_choice_at_the_top_of_the_range_says_so(blobs):
    result = sweep(blobs, n_components=[1, 2])
    assert result.best_key[0] == 2
    assert any("largest number of components tried" in m for m in result.messages)
    inside = sweep(blobs, n_components=range(1, 6))
    assert not any("number of components tried" in m for m in inside.messages)


def test_the_start_of_every_fit_is_recorded(blobs_result):
    starts = set(blobs_result.table["start"])
    # "auto" on small data: k-means seeds ("kmeans", "kmeans2", ...), the two
    # trees and random-rows starts ("random_rows", "random_rows2", ...)
    kmeans = set(kmeans_names(AUTO_KMEANS_STARTS))
    kmeans |= set(metric_kmeans_names(fitting.AUTO_METRIC_KMEANS_STARTS))
    random_rows = set(random_rows_names(fitting.AUTO_RANDOM_STARTS))
    axes = set(axis_names(blobs_result.n_features))
    assert starts <= kmeans | random_rows | axes | {"hierarchical", "ward", "vvv"}
    assert len(starts) > 1


def test_one_feature_starts_are_scale_free_and_split_one_axis():
    """The "axes" starts: k-means of each feature alone, the same partitions
    whatever each feature's scale and offset (so tied, diag and full fits
    stay scale invariant); among the default's starts for the non-spherical
    family only, asked for alone for spherical models too."""
    from napari_gmm.core.starts import START_METHODS, start_partitions

    rng = np.random.default_rng(3)
    X = np.column_stack([rng.gamma(2.0, 30.0, 300), rng.integers(0, 22, 300)])
    found = start_partitions(X, None, [2, 3], 0, methods=("axes",))
    names = ("axis1", "axis2")
    assert set(found) == {
        (n, k, f) for n in names for k in (2, 3) for f in ("", "spherical")
    }
    moved = start_partitions(
        X * [1e-3, 250.0] - [5.0, 1e4], None, [2, 3], 0, methods=("axes",)
    )
    for key, labels in found.items():
        np.testing.assert_array_equal(labels, moved[key])
    for k in (2, 3):
        # a partition of feature 1 alone: its clusters are intervals of it
        labels = found[("axis1", k, "")]
        order = np.argsort(X[:, 0], kind="stable")
        assert np.count_nonzero(np.diff(labels[order])) == k - 1
    among_others = start_partitions(X, None, [2], 0, methods=START_METHODS)
    axes = {key for key in among_others if key[0].startswith("axis")}
    assert axes == {(n, 2, "") for n in names}
    # alone, every candidate has starts (spherical included)
    table = sweep(X, n_components=[2, 3], init_params="axes").table
    assert np.all(np.isfinite(table["bic"]))
    assert set(table["start"]) <= set(names)


def test_kmeans_of_other_scalings_are_scale_free_and_for_small_data():
    """The k-means starts on whitened and on robustly scaled data: the same
    partitions whatever each feature's scale, sign and offset (so tied,
    diag and full fits stay scale invariant), for the non-spherical family
    of more than one feature, and in the default sweep on small data only."""
    from napari_gmm.core.starts import robust_scaled, start_partitions

    rng = np.random.default_rng(5)
    X = np.column_stack([rng.gamma(1.5, 40.0, 240), rng.normal(0.0, 3.0, 240)])
    X[:80, 1] += 12.0
    kwargs = {"methods": ("kmeans",), "n_kmeans": 1, "n_metric_kmeans": 2}
    found = start_partitions(X, None, [2, 3], 0, **kwargs)
    names = metric_kmeans_names(2)
    assert names == [
        "kmeans_whitened",
        "kmeans_whitened2",
        "kmeans_robust",
        "kmeans_robust2",
    ]
    assert {key for key in found if key[0] in names} == {
        (n, k, "") for n in names for k in (2, 3)
    }
    moved = start_partitions(X * [1e-3, -250.0] + [5.0, 1e4], None, [2, 3], 0, **kwargs)
    for key, labels in found.items():
        if key[2] == "":  # (spherical models' starts keep the relative scales)
            np.testing.assert_array_equal(labels, moved[key])
    # they differ from the standardized k-means somewhere (else no use)
    assert any(
        not np.array_equal(found[(n, 3, "")], found[("kmeans", 3, "")]) for n in names
    )
    one_feature = start_partitions(X[:, :1], None, [2, 3], 0, **kwargs)
    assert not any(key[0] in names for key in one_feature)

    # robust scaling: weights count as repeated rows; a feature whose
    # median absolute deviation is 0 is divided by its standard deviation
    counts = rng.integers(1, 4, len(X)).astype(float)
    np.testing.assert_allclose(
        np.repeat(robust_scaled(X, counts), counts.astype(int), axis=0),
        robust_scaled(
            np.repeat(X, counts.astype(int), axis=0), np.ones(int(counts.sum()))
        ),
    )
    lattice = np.column_stack([np.r_[np.zeros(30), np.arange(1.0, 11.0)], X[:40, 1]])
    scaled = robust_scaled(lattice, np.ones(40))
    np.testing.assert_allclose(scaled[:, 0], lattice[:, 0] / lattice[:, 0].std())

    # (napari_gmm.core.sweep, the module: its name is also the function's)
    sweep_module = importlib.import_module("napari_gmm.core.sweep")
    seen = []
    original = sweep_module.start_partitions

    def spy(*args, **kw):
        seen.append(kw["n_metric_kmeans"])
        return original(*args, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep_module, "start_partitions", spy)
        small = sweep(X, n_components=[2, 3], covariance_types=["diag"])
        patch.setattr(fitting, "SMALL_DATA_ROWS", 100)
        sweep(X, n_components=[2, 3], covariance_types=["diag"])
        sweep(X[:, :1], n_components=[2, 3], covariance_types=["diag"])
    assert seen == [fitting.AUTO_METRIC_KMEANS_STARTS, 0, 0]
    assert np.all(np.isfinite(small.table["bic"]))


def test_a_cluster_split_along_one_wide_feature_is_found():
    """R's ChickWeight-like data (a long tail in one feature, a lattice in the
    other): scikit-learn's k-means of the raw data splits off the tail, a
    k-means start on standardized data does not, and the one-feature start
    does (on ChickWeight itself the default's tied K = 2 fit was 82 BIC above
    scikit-learn's before the "axes" starts)."""
    rng = np.random.default_rng(4)
    time = np.repeat(np.arange(0, 22, 2), 50).astype(float)
    weight = 40.0 * np.exp(rng.normal(0.08, 0.02, time.size) * time)
    X = np.column_stack([weight + rng.normal(0.0, 3.0, time.size), time])
    theirs = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X).bic(X)

    def tied_two(init_params):
        table = sweep(
            X, n_components=[2], covariance_types=["tied"], init_params=init_params
        ).table
        return table["bic"].iloc[0]

    assert tied_two("kmeans") > theirs + 100.0
    assert tied_two("axes") <= theirs + 0.1
    assert tied_two("auto") <= theirs + 0.1


def test_squarem_reaches_plain_ems_optimum_monotonically(blobs):
    settings = {"n_components": 3, "covariance_type": "full", "random_state": 0}
    plain = WeightedGaussianMixture(tol=1e-12, max_iter=5000, **settings).fit(blobs)
    fast = WeightedGaussianMixture(
        tol=1e-6, max_iter=5000, stopping="gain", accelerate=True, **settings
    ).fit(blobs)
    assert fast.converged_
    assert np.all(np.diff(fast.lower_bounds_) >= -1e-12)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-8)
    assert fast.n_iter_ < plain.n_iter_


def test_gain_rule_waits_for_a_crawl_to_end():
    # increments that shrink, pause, then grow again: a small change alone
    # is no reason to stop
    increments = [10, 5, 2, 1, 0.5, 0.2, 1e-4, 1e-4, 2e-4, 1e-3, 0.1, 1, 0.1, 0.01]
    values = np.cumsum([-100.0, *increments])
    rule = GainRule(tol=0.01)
    stopped = [rule(v) for v in values]
    assert not any(stopped[:10])


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")
def test_compiled_gain_rule_stops_where_the_python_rule_stops():
    rising = np.cumsum([-100.0, 10, 5, 2, 1, 0.5, 0.2])
    sequences = {
        # SQUAREM's values can drift down under a covariance floor (the
        # floored M-step is not an ascent step)
        "drift down": np.concatenate([rising, rising[-1] - 1e-4 * np.arange(1, 121)]),
        "crawl then growth": np.cumsum(
            [-100.0, 10, 5, 2, 1, 0.5, 0.2, 1e-4, 1e-4, 2e-4, 1e-3, 0.1, 1, 0.1]
        ),
        "converging": np.cumsum([-100.0, *(0.5**k for k in range(60))]),
    }
    for name, values in sequences.items():
        python = GainRule(tol=0.01)
        history, state = np.zeros(len(values)), np.zeros(7)
        rule = compiled_loop._rule_constants()
        for i, value in enumerate(values):
            # the compiled rule gets mean values and the total weight
            got = compiled_loop._gain_stop(history, state, value / 4.0, 0.01, 4.0, rule)
            assert got == python(value), (name, i)


def test_sklearn_preset_rejects_the_default_presets_starts(seed_X):
    with pytest.raises(ValueError, match="init_params must be one of"):
        sweep(seed_X, preset="sklearn", init_params="hierarchical")
    with pytest.raises(ValueError, match="preset must be one of"):
        sweep(seed_X, preset="mclust")


@pytest.fixture(scope="module")
def seed_X():
    return make_seed_example()


def test_short_runs_without_estimators_match_the_estimator_path(
    blobs, blobs_result, monkeypatch
):
    """The plain Gaussian short runs (one ``em.run_partitions`` call per
    candidate) end where one estimator per start ends: the same criteria
    and the same starts kept."""
    result = blobs_result
    monkeypatch.setattr(fitting, "_runs_without_estimator", lambda *_: False)
    reference = sweep(blobs, n_components=range(1, 6))
    np.testing.assert_allclose(
        result.table["bic"].to_numpy(float),
        reference.table["bic"].to_numpy(float),
        rtol=1e-8,
    )
    assert list(result.table["start"]) == list(reference.table["start"])


@pytest.mark.parametrize("case", ["weights", "subsample"])
def test_short_runs_without_estimators_on_weights_and_subsamples(case, monkeypatch):
    """As above, with zero-weight rows or a short-run subsample, far from
    the origin (the runs are centred)."""
    rng = np.random.default_rng(3)
    X = three_blobs(600 if case == "weights" else 900, seed=4) + 1e7
    weights = None
    if case == "weights":
        weights = rng.integers(0, 4, len(X)).astype(float)  # zeros included
    else:  # short runs on a 400-row subsample, continued on all rows
        monkeypatch.setattr(fitting, "SHORT_RUN_MAX_ROWS", 400)
    kwargs = {"n_components": range(1, 5), "weights": weights}
    result = sweep(X, **kwargs)
    monkeypatch.setattr(fitting, "_runs_without_estimator", lambda *_: False)
    reference = sweep(X, **kwargs)
    np.testing.assert_allclose(
        result.table["bic"].to_numpy(float),
        reference.table["bic"].to_numpy(float),
        rtol=1e-8,
    )


def test_short_runs_on_a_subsample_settle_there_first(monkeypatch):
    """With short runs on a subsample, the best SUBSAMPLE_SETTLED_STARTS
    that are apart go on to the sweep's tolerance on that subsample before
    the best of them continues on all rows (the settled runs are the ones
    ranked); basins the subsample cannot tell apart are first probed on all
    rows for PROBE_MAX_ITER E-steps, and one continues."""
    X = three_blobs(900, seed=4)
    monkeypatch.setattr(fitting, "SHORT_RUN_MAX_ROWS", 400)
    monkeypatch.setattr(fitting, "SMALL_DATA_ROWS", 400)  # the large-data rules
    calls = []
    original_starts, original_partitions = fitting.run_starts, fitting.run_partitions

    def recording(X_runs, w, starts, **settings):  # settling, probing, continuing
        calls.append(("starts", len(X_runs), len(starts), settings))
        return original_starts(X_runs, w, starts, **settings)

    def recording_partitions(X_start, w_start, partitions, X_runs, *args, **settings):
        calls.append(("short", len(X_runs), len(partitions), settings))
        return original_partitions(
            X_start, w_start, partitions, X_runs, *args, **settings
        )

    monkeypatch.setattr(fitting, "run_starts", recording)
    monkeypatch.setattr(fitting, "run_partitions", recording_partitions)
    # one candidate after the other, so that the calls come in order
    kwargs = {"covariance_types": ["full"], "n_jobs": 1}
    result = sweep(X, n_components=range(2, 6), **kwargs)
    tol = result.settings["tol"]
    firsts = [i for i, call in enumerate(calls) if call[0] == "short"]
    assert len(firsts) == 4  # one per candidate
    n_probed = 0
    for first, after in zip(firsts, [*firsts[1:], len(calls)], strict=True):
        short, settle, *probes, final = calls[first:after]
        assert short[1] == settle[1] == 400  # both on the subsample
        assert short[2] > fitting.SUBSAMPLE_SETTLED_STARTS
        assert 1 <= settle[2] <= fitting.SUBSAMPLE_SETTLED_STARTS
        assert short[3]["tol"] > tol and settle[3]["tol"] == tol
        assert len(probes) <= 1
        n_probed += len(probes)
        for probe in probes:
            assert probe[1] == 900 and 2 <= probe[2] <= 1 + settle[2]
            assert probe[3]["max_iter"] == fitting.PROBE_MAX_ITER
        assert final[1] == 900 and final[2] == 1 and final[3]["tol"] == tol
    assert n_probed  # (K = 5 full on three blobs: undecided basins)
    # the E-steps of every stage are counted
    assert (result.table["n_iter"] > fitting.SMALL_DATA_SHORT_RUN_MAX_ITER).all()


def test_basins_a_subsample_cannot_tell_apart_are_probed_on_all_rows(monkeypatch):
    """Two settled ends whose subsample log-likelihoods differ by less than
    SUBSAMPLE_EVIDENCE_Z standard errors are undecided; the same runner-up
    moved far away (its means shifted by 3 standard deviations) is not
    (fitting._undecided, on the ends of a real sweep); runners-up are
    settled ends only."""
    X = three_blobs(900, seed=4)
    monkeypatch.setattr(fitting, "SHORT_RUN_MAX_ROWS", 400)
    monkeypatch.setattr(fitting, "SMALL_DATA_ROWS", 400)
    seen = []
    original = fitting._undecided

    def recording(plan, covariance_type, best, other):
        undecided = original(plan, covariance_type, best, other)
        assert isinstance(best[3], fitting.SettledRun)
        assert isinstance(other[3], fitting.SettledRun)
        run, shift = other[3]
        far = run._replace(
            params=run.params._replace(means=run.params.means + 3 * X.std(axis=0))
        )
        moved = (*other[:3], fitting.SettledRun(far, shift), other[4])
        seen.append((undecided, original(plan, covariance_type, best, moved)))
        return undecided

    monkeypatch.setattr(fitting, "_undecided", recording)
    # overfitted candidates have several basins of nearly equal likelihood
    sweep(X, n_components=range(4, 8), covariance_types=["full"], n_jobs=1)
    assert any(undecided for undecided, _ in seen)
    assert not any(far_undecided for _, far_undecided in seen)


def test_mclust_start_always_continues_on_small_data(monkeypatch, blobs):
    """mclust's start ("vvv") goes on to the full tolerance whatever the rank
    of its short run: with no other short run continued, every candidate
    that has it ends from it (fitting.REFERENCE_STARTS)."""
    monkeypatch.setattr(fitting, "CONTINUED_STARTS", 0)
    monkeypatch.setattr(fitting, "CONTINUED_STARTS_SEVERAL_FEATURES", 0)
    first_continued = {}
    original = fitting._continue_chosen

    def spy(plan, k, covariance_type, chosen, fit_on, notes):
        first_continued.setdefault((k, covariance_type), [e[2] for e in chosen])
        return original(plan, k, covariance_type, chosen, fit_on, notes)

    monkeypatch.setattr(fitting, "_continue_chosen", spy)
    table = sweep(blobs, n_components=range(2, 7)).table
    # (a candidate whose vvv partition equals an earlier start's has no
    # start left to continue, and fails)
    fitted = table[np.isfinite(table["bic"])]
    assert len(fitted) >= 10
    for row in fitted.itertuples():
        assert first_continued[(row.n_components, row.covariance_type)] == ["vvv"]
    # where vvv's end is not degenerate, it is the fit kept (when it is,
    # the other short runs continue too: test below)
    kept = fitted[~fitted["degenerate"]]
    assert (kept["start"] == "vvv").sum() >= 10


def test_degeneracies_of_many_mixtures_are_each_mixtures_own():
    """candidate.degeneracies (one eigenvalue call for a candidate's short
    runs) gives each mixture its own reason, in every layout."""
    from napari_gmm.core.candidate import degeneracies, mixture_degeneracy

    variance = np.array([1.0, 4.0, 0.25])
    weights = np.array(
        [
            [0.3, 0.3, 0.4],
            [0.98, 0.019, 0.001],  # component 3 on 0.1 samples of 100
            [0.3, 0.3, 0.4],  # collapsed (below)
            [0.5, 0.25, 0.25],
        ]
    )
    layouts = {
        "full": np.stack([np.stack([np.diag(variance)] * 3)] * 4),
        "tied": np.stack([np.diag(variance)] * 4),
        "diag": np.tile(variance, (4, 3, 1)),
        "spherical": np.ones((4, 3)),
    }
    for layout, covariances in layouts.items():
        covariances = covariances.copy()
        covariances[2, ...] *= 1e-9  # every component of mixture 3 collapsed
        reasons = degeneracies(weights, covariances, layout, layout, variance, 100.0)
        assert reasons[0] == reasons[3] == ""
        assert reasons[1].startswith("component 3 rests on 0.1 samples")
        assert reasons[2].startswith("component 1 collapsed")
        # one mixture alone: the same reason
        assert (
            mixture_degeneracy(
                weights[1], covariances[1], layout, layout, variance, 100.0
            )
            == reasons[1]
        )


def test_a_component_on_one_quantized_value_is_not_collapsed():
    """candidate.collapse_limits: in a feature with a covariance floor a
    component resting on one value (variance = the floor) is not collapsed;
    in the other features the limit is unchanged."""
    from napari_gmm.core.candidate import collapse_limits, degeneracies

    variance = np.array([1e6, 4.0])
    floor = np.array([1.0 / 12.0, 0.0])  # feature 1 quantized, steps of 1
    plain = collapse_limits(variance, "diag", 1e-6)
    np.testing.assert_allclose(plain, 2e-6 * variance)
    np.testing.assert_allclose(
        collapse_limits(variance, "diag", 1e-6, floor), [1.0 / 24.0, 8e-6]
    )
    spherical = collapse_limits(variance, "spherical", 1e-6, floor)
    np.testing.assert_allclose(spherical, 1.0 / 48.0)  # the floors' mean, halved
    spike = np.array([[[1.0 + 1.0 / 12.0, 1.0]], [[1e5, 1.0]]])  # (2, K=1, d)
    spike = np.concatenate([spike, spike], axis=1)  # K = 2
    weights = np.full((2, 2), 0.5)
    for floor_given, expected in ((None, "collapsed"), (floor, "")):
        reasons = degeneracies(
            weights, spike, "diag", "diag", variance, 100.0, 1e-6, floor_given
        )
        assert expected in reasons[0] and reasons[1] == ""
    # collapsed across the unfloored feature: still degenerate
    thin = spike.copy()
    thin[0, :, 1] = 1e-9
    reasons = degeneracies(weights, thin, "diag", "diag", variance, 100.0, 1e-6, floor)
    assert "collapsed" in reasons[0]


def test_equal_partitions_are_one_start_named_by_the_first_method():
    from napari_gmm.core.starts import distinct_partitions

    a = np.array([0, 0, 1, 1, 2])
    partitions = {
        ("kmeans", 3, ""): a,
        ("kmeans2", 3, ""): np.array([2, 2, 0, 0, 1]),  # a, relabelled
        ("ward", 3, ""): np.array([0, 1, 1, 1, 2]),
        ("kmeans2", 3, "spherical"): a,  # another family: kept
        ("random_rows", 3, ""): a,
        ("vvv", 2, ""): np.array([0, 0, 1, 1, 1]),
    }
    # methods in the sweep's order: kmeans2 comes first here
    kept = distinct_partitions(partitions, ["kmeans2", "kmeans", "ward", "vvv"])
    assert set(kept) == {
        ("kmeans2", 3, ""),
        ("ward", 3, ""),
        ("kmeans2", 3, "spherical"),
        ("vvv", 2, ""),
    }  # random_rows is not one of the methods: never a start


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_partitions_are_renumbered_by_first_appearance(dtype, monkeypatch):
    from napari_gmm.core import starts

    rng = np.random.default_rng(2)
    for k in (1, 2, 5, 9):
        labels = rng.permutation(np.arange(60) % k).astype(dtype)
        first = [int(np.flatnonzero(labels == c)[0]) for c in range(k)]
        rank = np.argsort(np.argsort(first))
        expected = rank[labels]
        compiled = starts._canonical(labels)
        assert compiled.dtype == np.int64
        np.testing.assert_array_equal(compiled, expected)
        monkeypatch.setattr(kernels, "AVAILABLE", False)
        plain = starts._canonical(labels)
        monkeypatch.undo()
        assert plain.dtype == np.int64
        assert plain.tobytes() == compiled.tobytes()


def test_two_short_runs_at_one_optimum_continue_once():
    from napari_gmm.core.em import EMRun, MixtureParameters

    def end(lower_bound, weights):
        params = MixtureParameters(np.array(weights), None, None, None)
        return (
            False,
            -lower_bound,
            "x",
            (EMRun(params, lower_bound, [], 20, True), None),
            "",
        )

    first = end(-2.5, [0.2, 0.8])
    assert fitting._same_end(first, end(-2.5 * (1 + 1e-11), [0.8, 0.2]))
    assert not fitting._same_end(first, end(-2.5 * (1 + 1e-6), [0.8, 0.2]))
    assert not fitting._same_end(first, end(-2.5, [0.3, 0.7]))


def test_short_runs_in_one_basin_take_one_continued_place(monkeypatch):
    """On small data the continued places go to the best ends of distinct
    basins: R's attenu (tied K = 4) had ten short runs in one basin ahead
    of the one start that ends 29 BIC lower."""
    from types import SimpleNamespace

    from napari_gmm.core.em import EMRun, MixtureParameters

    def end(name, lower_bound, weights):
        params = MixtureParameters(np.array(weights), None, None, None)
        run = EMRun(params, lower_bound, [], 20, True)
        return (False, -lower_bound, name, (run, None), "")

    ends = [
        end("best", -5.0, [0.5, 0.5]),
        end("second", -5.2, [0.3, 0.7]),
        *(end(f"same{i}", -5.2 * (1 + 1e-8 * i), [0.3, 0.7]) for i in range(5)),
        end("third", -5.3, [0.1, 0.9]),
        end("fourth", -5.4, [0.2, 0.8]),
    ]
    plan = SimpleNamespace(small_data=True, X=np.zeros((10, 2)), init_methods=())
    continued = []

    def spy(plan, k, covariance_type, chosen, fit_on, notes):
        continued.extend(e[2] for e in chosen)
        return chosen

    monkeypatch.setattr(fitting, "_continue_chosen", spy)
    monkeypatch.setattr(fitting, "CONTINUED_STARTS", 3)
    fitting._continue_best(plan, 2, "full", ends, {}, [])
    assert continued == ["best", "second", "third"]


def test_a_fit_that_drifted_down_is_not_told_to_iterate_more():
    """A fit stopped by max_iter whose lower bound fell over its last
    fitting.DRIFT_WINDOW E-steps (SQUAREM under a covariance floor) gets a
    note without "increase max_iter"; a crawl, still rising, keeps it."""
    from types import SimpleNamespace

    window = fitting.DRIFT_WINDOW
    rising = -1.0 + 1e-6 * np.arange(3 * window)
    falling = np.concatenate([rising, rising[-1] - 1e-7 * np.arange(1, 2 * window)])

    def note(values):
        model = SimpleNamespace(max_iter=500, tol=0.01, lower_bounds_=list(values))
        return fitting.not_converged_message(model)

    assert note(rising).endswith("; increase max_iter or tol")
    as_array = SimpleNamespace(max_iter=500, tol=0.01, lower_bounds_=falling)
    assert "falling" in fitting.not_converged_message(as_array)  # array or list
    no_history = SimpleNamespace(max_iter=500, tol=0.01)
    assert fitting.not_converged_message(no_history).endswith("max_iter or tol")
    assert note(rising[:window]).endswith("; increase max_iter or tol")  # too short
    drifted = note(falling)
    assert drifted.startswith("did not converge within max_iter=500 iterations")
    assert "falling" in drifted and "increase max_iter" not in drifted


def test_a_lower_criterion_left_out_of_the_choice_is_not_graded():
    # found in QA (session 10): a non-converged K = 6 row with delta -10,693
    # read "very strong"
    from types import SimpleNamespace

    from napari_gmm.core.selection import evidence_against

    def fit(bic, converged=True, degenerate=""):
        return SimpleNamespace(
            ok=True, bic=bic, converged=converged, degenerate=degenerate
        )

    best = fit(100.0)
    assert evidence_against(best, best, "bic", 100.0) == "chosen"
    assert evidence_against(fit(130.0), best, "bic", 100.0) == "very strong"
    lower = fit(90.0, converged=False)
    assert evidence_against(lower, best, "bic", 100.0) == "not eligible (not converged)"
    collapsed = fit(50.0, degenerate="component 1 collapsed")
    assert evidence_against(collapsed, best, "bic", 100.0) == (
        "not eligible (degenerate)"
    )


def test_large_data_kmeans_starts_after_the_first_see_the_subsample(monkeypatch):
    # above SMALL_DATA_ROWS the default has AUTO_KMEANS_STARTS k-means starts
    # too; all but the first (scikit-learn's, on all rows) are k-means of the
    # short runs' subsample, every row joining the nearest mean
    from napari_gmm.core import starts as starts_module

    monkeypatch.setattr(fitting, "SMALL_DATA_ROWS", 100)
    monkeypatch.setattr(fitting, "SHORT_RUN_MAX_ROWS", 150)
    seen = []
    original = starts_module._subsample_kmeans_labels

    def spy(Z, w, ks, seed, rows):
        seen.append(rows)
        return original(Z, w, ks, seed, rows)

    monkeypatch.setattr(starts_module, "_subsample_kmeans_labels", spy)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(200, 2)), rng.normal(5, 1, size=(200, 2))])
    result = sweep(X, n_components=[2, 3], covariance_types=["diag"])
    rows = fitting.short_run_rows(X, None, result.settings["random_state"])
    # one call per later k-means start and family (standardized, common scale)
    assert len(seen) == 2 * (fitting.AUTO_KMEANS_STARTS - 1)
    for drawn in seen:
        np.testing.assert_array_equal(drawn, rows)
    assert result.table["converged"].all()


def _integer_scores(seed):
    # biopsy-like: 5 integer scores 1..10, many equal rows in one group
    rng = np.random.default_rng(seed)
    benign = np.clip(np.round(rng.exponential(0.6, (200, 5))) + 1, 1, 10)
    malign = np.clip(np.round(rng.normal(6, 2.5, (100, 5))), 1, 10)
    return np.r_[benign, malign]


def test_mclusts_start_collapsed_by_acceleration_runs_again_plain(monkeypatch):
    # SQUAREM's longer steps took the start of mclust's tree onto a
    # component of equal rows; plain EM from it, as mclust runs, passes by
    from napari_gmm.core import em

    X = _integer_scores(3)
    calls = []
    original = em._with_plain_runs

    def spy(runs, retry, again, *args):
        calls.append(len(retry))
        return original(runs, retry, again, *args)

    monkeypatch.setattr(em, "_with_plain_runs", spy)
    kwargs = {"n_components": [6], "covariance_types": ["spherical"]}
    retried = sweep(X, **kwargs).table.iloc[0]
    assert calls and all(n == 1 for n in calls)  # only mclust's start
    monkeypatch.setattr(em, "_collapsed_runs", lambda *args: [])
    without = sweep(X, **kwargs).table.iloc[0]
    assert not retried["degenerate"] and not without["degenerate"]
    # measured: 27.5 lower (the fallback to the other short runs does not
    # reach this optimum)
    assert retried["bic"] < without["bic"] - 10
    assert retried["start"] == "vvv"


def test_plain_retry_is_for_mclusts_start_on_small_data_only():
    from napari_gmm.core.plan import SweepPlan

    names = ["kmeans", "vvv", "random_rows"]
    small = SweepPlan.__new__(SweepPlan)
    object.__setattr__(small, "small_data", True)
    assert fitting._plain_retry(small, names) == [False, True, False]
    object.__setattr__(small, "small_data", False)
    assert fitting._plain_retry(small, names) == [False, False, False]


def test_when_every_continued_end_collapses_the_other_short_runs_go_on(monkeypatch):
    # integer scores: the 3 best short ends of diag K = 4 all collapse onto
    # rows of equal values; the other non-degenerate short runs give the
    # candidate a real fit instead of a degenerate row
    X = _integer_scores(3)
    kwargs = {"n_components": [4], "covariance_types": ["diag"]}
    calls = []
    original = fitting._continue_chosen

    def spy(plan, k, covariance_type, chosen, fit_on, notes):
        finals = original(plan, k, covariance_type, chosen, fit_on, notes)
        calls.append([end[0] for end in finals])
        return finals

    monkeypatch.setattr(fitting, "_continue_chosen", spy)
    row = sweep(X, **kwargs).table.iloc[0]
    assert len(calls) == 2 and all(calls[0]) and not all(calls[1])
    assert not row["degenerate"]

    def first_only(plan, k, covariance_type, chosen, fit_on, notes):
        calls.append(None)
        if len(calls) > 1:
            return []
        return original(plan, k, covariance_type, chosen, fit_on, notes)

    calls.clear()
    monkeypatch.setattr(fitting, "_continue_chosen", first_only)
    assert sweep(X, **kwargs).table.iloc[0]["degenerate"]


def test_above_floor_bounds_the_conditional_variance():
    """candidate.above_floor: full and tied covariances are bounded through
    the variance a floored feature keeps once the others are known, not its
    marginal variance; diag per feature, spherical by the floor's mean."""
    from napari_gmm.core.candidate import above_floor

    correlated = np.array([[1.0, 0.9], [0.9, 1.0]])  # conditional variance 0.19
    assert not above_floor(correlated, "tied", np.array([0.0, 0.5]))
    assert above_floor(correlated, "tied", np.array([0.0, 0.1]))
    # Loewner order when every feature is floored: a thin diagonal direction
    assert not above_floor(correlated, "tied", np.array([0.2, 0.2]))
    assert above_floor(correlated, "tied", np.array([0.05, 0.05]))
    full = np.stack([np.eye(2), correlated])
    assert not above_floor(full, "full", np.array([0.0, 0.5]))
    assert above_floor(full, "full", np.array([0.0, 0.1]))
    diag = np.array([[1.0, 0.2], [1.0, 3.0]])
    assert not above_floor(diag, "diag", np.array([0.0, 0.5]))
    assert above_floor(diag, "diag", np.array([0.5, 0.0]))
    assert above_floor(np.array([0.3]), "spherical", np.array([0.0, 0.5]))
    assert not above_floor(np.array([0.2]), "spherical", np.array([0.0, 0.5]))
    assert above_floor(correlated, "tied", np.zeros(2))
    # a singular covariance (no precision) is not in the bounded model
    assert not above_floor(np.zeros((1, 2, 2)), "full", np.array([0.0, 0.5]))


def _coarse_integer_table(rng):
    """Two clusters; feature 1 rounded to integers a few steps wide (it gets
    the automatic quantization floor), far above the floor in each cluster."""
    x = np.r_[rng.normal(0, 1, 150), rng.normal(5, 1, 150)]
    y = np.round(np.r_[rng.normal(0, 1.2, 150), rng.normal(2, 1.2, 150)])
    return np.c_[x, y]


def test_fits_above_the_quantization_floor_are_the_unfloored_maximum(rng):
    """The automatic floor bounds the model (fitting._lift_floor): where the
    fit stays above it, the default reports the maximum likelihood without
    it (mclust's number), not the likelihood of variances with the floor
    added (R's ToothGrowth and discoveries ended up to 22 BIC above
    mclust's fits that way)."""
    from napari_gmm.core.candidate import quantization_floor

    X = _coarse_integer_table(rng)
    floor = quantization_floor(X)
    assert floor is not None and floor[0] == 0 and floor[1] > 0
    ks = (1, 2)
    bounded = sweep(X, n_components=ks)
    assert "quantization_floor" in bounded.settings
    unfloored = sweep(X, n_components=ks, covariance_floor=0.0)
    added = sweep(X, n_components=ks, covariance_floor=floor)
    for key in unfloored.models:
        row = _row(bounded, key)
        assert not row["degenerate"]
        np.testing.assert_allclose(row["bic"], _row(unfloored, key)["bic"], atol=0.05)
        # what the floor added to every variance cost (~0.1 at K = 1, where
        # the variance is ten times the floor; more with two clusters)
        assert _row(added, key)["bic"] > row["bic"] + (0.01 if key[0] == 1 else 1.0)
        # its settings keep the floor: a refit (an edited points layer)
        # searches with it added, as the sweep does
        assert bounded.models[key].covariance_floor[1] >= floor[1]


def _row(result, key):
    table = result.table
    k, covariance_type = key
    match = (table["n_components"] == k) & (table["covariance_type"] == covariance_type)
    return table[match].iloc[0]


def test_many_integer_spots_of_tight_clusters_are_not_split_into_grid_rows():
    """3,000 integer spots in three clusters of std 0.5 px: three
    components. (With the floor made a bound kept by the M-step, tried in
    session 18, the sweep chose 6 spherical here: components on single
    grid rows at the bound's density win BIC once there are enough points;
    the floor added during the search keeps them out, fitting._lift_floor
    only lifts fits that stay above it.)"""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    X = np.round(np.concatenate([rng.normal(c, 0.5, (1000, 2)) for c in centres]))
    result = sweep(X, n_components=range(1, 7))
    assert "quantization_floor" in result.settings
    assert result.best_key[0] == 3


def _spots_of_seed_12():
    """Integer spots (three clusters) on which tied K = 5, continued without
    the floor, thinned a component below its parameters' support."""
    rng = np.random.default_rng(12)
    centres = rng.uniform(0, 8, (3, 2))
    n = rng.integers(8, 40)
    return np.round(
        np.concatenate([rng.normal(c, rng.uniform(0.4, 1.2), (n, 2)) for c in centres])
    )


def test_a_continuation_without_the_floor_that_degenerates_is_not_kept():
    """fitting._lift_floor keeps a continuation only when it is not
    degenerate (found in review: tied K = 5 here was replaced by a fit with
    a component on 3 samples, and the candidate reported degenerate)."""
    from napari_gmm.core.candidate import quantization_floor

    X = _spots_of_seed_12()
    floor = quantization_floor(X)
    assert floor is not None
    bounded = sweep(X, n_components=[5], covariance_types=["tied"])
    added = sweep(
        X, n_components=[5], covariance_types=["tied"], covariance_floor=floor
    )
    row, reference = bounded.table.iloc[0], added.table.iloc[0]
    assert not reference["degenerate"]
    assert not row["degenerate"] and row["converged"]
    assert row["bic"] <= reference["bic"] + 1e-6


def test_a_refit_of_a_lifted_fit_keeps_the_floor():
    """A fit kept without the floor still names the floor in its settings,
    so refitting it (the points dock's live mode, core/refit.py) on spots
    where one cluster's x collapses to one column cannot collapse with it."""
    from napari_gmm.core.candidate import quantization_floor
    from napari_gmm.core.refit import refit_warm

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    X = np.round(np.concatenate([rng.normal(c, 0.5, (60, 2)) for c in centres]))
    floor = quantization_floor(X)
    assert floor is not None
    result = sweep(X, n_components=[3], covariance_types=["diag"])
    model = result.models[(3, "diag")]
    edited = X.copy()
    edited[120:, 0] = 6.0  # the third cluster's points moved onto one column
    refitted = refit_warm(edited, model)
    assert np.asarray(refitted.covariances_).min() >= floor.min() * (1 - 1e-9)


def test_candidates_refitted_after_screening_are_lifted_too(rng):
    """Large data are screened on a subsample and the best candidates refitted
    on all points (core/large.py) with the floor added; those refits then go
    on without it as the sweep's own fits do (lift_floor_of)."""
    X = _coarse_integer_table(rng)
    screened = sweep(X, n_components=(1, 2), screen=True, screen_size=100)
    unfloored = sweep(X, n_components=(1, 2), covariance_floor=0.0)
    refitted = screened.table[screened.table["n_components"] == 2]
    assert (refitted["message"] == "").all()  # refitted on all points
    for covariance_type in refitted["covariance_type"]:
        key = (2, covariance_type)
        np.testing.assert_allclose(
            _row(screened, key)["bic"], _row(unfloored, key)["bic"], atol=0.05
        )


#: R's ``discoveries``: numbers of "great" inventions and scientific
#: discoveries in each year from 1860 to 1959 (The World Almanac and Book of
#: Facts, 1975), as R's datasets package ships them.
DISCOVERIES = [
    5, 3, 0, 2, 0, 3, 2, 3, 6, 1, 2, 1, 2, 1, 3, 3, 3, 5, 2, 4,
    4, 0, 2, 3, 7, 12, 3, 10, 9, 2, 3, 7, 7, 2, 3, 3, 6, 2, 4, 3,
    5, 2, 2, 4, 0, 4, 2, 5, 2, 3, 3, 6, 5, 8, 3, 6, 6, 0, 5, 2,
    2, 2, 6, 3, 4, 4, 2, 2, 4, 7, 5, 3, 3, 0, 2, 2, 2, 1, 3, 4,
    2, 2, 1, 1, 1, 2, 1, 4, 4, 3, 2, 1, 4, 1, 1, 1, 0, 0, 2, 0,
]  # fmt: skip


def test_starts_the_added_floor_sends_elsewhere_run_without_it_too():
    """On counts (the quantization floor bounds the model) every start also
    runs EM without the added floor (fitting._bounded_runs). On discoveries,
    tied K = 6 ended at BIC 476.41 when only ends searched with the floor
    added were continued without it; a start run without it from the start
    converges inside the bounded model at 471.26."""
    from napari_gmm.core.candidate import above_floor, quantization_floor

    X = np.asarray(DISCOVERIES, dtype=float)[:, np.newaxis]
    floor = quantization_floor(X)
    assert floor is not None
    result = sweep(X, n_components=[6], covariance_types=["tied"])
    row = result.table.iloc[0]
    assert row["bic"] < 471.5
    assert row["start"].endswith(", no floor")
    assert row["converged"] and not row["degenerate"]
    model = result.models[(6, "tied")]
    assert above_floor(model.covariances_, "tied", floor)
