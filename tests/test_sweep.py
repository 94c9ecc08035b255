"""The sweep reproduces scikit-learn's model-selection example exactly."""

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm import SweepCancelled, iter_sweep, sweep
from napari_gmm.core.criteria import COVARIANCE_TYPES
from napari_gmm.core.sweep import TABLE_COLUMNS


def test_seed_example_matches_sklearn_bic_for_all_24_candidates(seed_X, seed_result):
    table = seed_result.table
    assert len(table) == 24
    for row in table.itertuples():
        reference = GaussianMixture(
            n_components=row.n_components,
            covariance_type=row.covariance_type,
            random_state=0,
        ).fit(seed_X)
        expected = reference.bic(seed_X)
        # equal to 1e-9 relative, or a better optimum
        assert row.bic <= expected * (1 + 1e-9) + 1e-12, row
        assert row.bic == pytest.approx(expected, rel=1e-9)
        assert row.aic == pytest.approx(reference.aic(seed_X), rel=1e-9)
        assert row.log_likelihood == pytest.approx(
            reference.score(seed_X) * len(seed_X), rel=1e-9
        )
        assert row.n_parameters == reference._n_parameters()
        assert row.n_iter == reference.n_iter_
        assert row.converged == reference.converged_


def test_seed_example_chooses_full_two_components(seed_result):
    assert seed_result.best_key == (2, "full")
    assert isinstance(seed_result.best, GaussianMixture)
    assert seed_result.best.covariance_type == "full"
    assert seed_result.best.n_components == 2
    row = seed_result.best_row
    assert row.selected and row.delta == 0.0
    assert seed_result.table["selected"].sum() == 1


def test_table_has_documented_columns_and_sweep_order(seed_result):
    table = seed_result.table
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns) == TABLE_COLUMNS
    expected_order = [(t, k) for t in COVARIANCE_TYPES for k in range(1, 7)]
    assert (
        list(zip(table.covariance_type, table.n_components, strict=True))
        == expected_order
    )
    best_bic = seed_result.best_row.bic
    np.testing.assert_allclose(table["delta"], table["bic"] - best_bic)


def test_every_candidate_model_is_reachable(seed_X, seed_result):
    assert len(seed_result.models) == 24
    model = seed_result.model(3, "diag")
    assert model.n_components == 3 and model.covariance_type == "diag"
    row = seed_result.table.query("n_components == 3 and covariance_type == 'diag'")
    assert model.bic(seed_X) == pytest.approx(row.bic.iloc[0], rel=1e-12)
    with pytest.raises(KeyError, match="n_components=9"):
        seed_result.model(9, "full")


def test_icl_is_bic_minus_twice_sum_log_max_responsibility(seed_X, seed_result):
    for (k, covariance_type), model in seed_result.models.items():
        tau = model.predict_proba(seed_X)
        expected = model.bic(seed_X) - 2 * np.log(tau.max(axis=1)).sum()
        table = seed_result.table
        row = table[
            (table.n_components == k) & (table.covariance_type == covariance_type)
        ]
        assert row.icl.iloc[0] == pytest.approx(expected, rel=1e-9)
        assert row.icl.iloc[0] >= row.bic.iloc[0]


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_other_criteria_choose_their_own_minimum(seed_X, criterion):
    result = sweep(seed_X, n_components=range(1, 4), criterion=criterion)
    table = result.table
    assert result.criterion == criterion
    assert result.best_row[criterion] == table[criterion].min()
    np.testing.assert_allclose(
        table["delta"], table[criterion] - table[criterion].min()
    )


def test_components_are_sorted_by_mean_regardless_of_seed(seed_X):
    labels = []
    for seed in (0, 1, 7):
        result = sweep(
            seed_X, n_components=[2], covariance_types=["full"], random_state=seed
        )
        means = result.best.means_
        assert np.all(np.diff(means[:, 0]) >= 0)
        labels.append(result.best.predict(seed_X))
    for other in labels[1:]:
        np.testing.assert_array_equal(labels[0], other)
    # the round blob (x0 near -6) is component 0, the stretched one component 1
    assert np.all(labels[0][500:] == 0)
    assert np.mean(labels[0][:500] == 1) > 0.99


def test_sorting_keeps_scores_and_predictions_consistent(seed_X):
    result = sweep(
        seed_X,
        n_components=[4],
        covariance_types=["spherical", "tied"],
        preset="sklearn",
    )
    for model in result.models.values():
        tau = model.predict_proba(seed_X)
        np.testing.assert_array_equal(tau.argmax(axis=1), model.predict(seed_X))
        reference = GaussianMixture(
            n_components=4, covariance_type=model.covariance_type, random_state=0
        ).fit(seed_X)
        assert model.score(seed_X) == pytest.approx(reference.score(seed_X), rel=1e-12)


def test_progress_reports_every_candidate(seed_X):
    calls = []
    sweep(
        seed_X,
        n_components=range(1, 3),
        covariance_types=["diag", "full"],
        progress=lambda done, total, fit: calls.append((done, total, fit.key)),
    )
    assert calls == [
        (1, 4, (1, "diag")),
        (2, 4, (2, "diag")),
        (3, 4, (1, "full")),
        (4, 4, (2, "full")),
    ]


def test_cancel_stops_before_the_next_candidate(seed_X):
    done = []
    with pytest.raises(SweepCancelled):
        sweep(
            seed_X,
            progress=lambda d, t, f: done.append(d),
            cancel=lambda: len(done) >= 2,
        )
    assert done == [1, 2]


def test_iter_sweep_returns_result_when_drained(seed_X):
    fits = iter_sweep(seed_X, n_components=[1, 2], covariance_types="full")
    yielded = []
    while True:
        try:
            yielded.append(next(fits))
        except StopIteration as stop:
            result = stop.value
            break
    assert [f.key for f in yielded] == [(1, "full"), (2, "full")]
    assert result.best_key == (2, "full")


def test_impossible_candidates_are_skipped_not_fatal(rng):
    X = rng.normal(size=(3, 2))
    result = sweep(X, n_components=range(1, 6), covariance_types=["spherical"])
    table = result.table.set_index("n_components")
    assert np.isinf(table.loc[4, "bic"]) and np.isinf(table.loc[5, "bic"])
    assert "need at least 4 samples" in table.loc[4, "message"]
    assert (4, "spherical") not in result.models
    assert result.best_key[0] <= 3
    assert any("K=5 spherical" in m for m in result.messages)


def test_ties_prefer_the_simpler_model(seed_X):
    # For K = 1, "tied" and "full" are the same model with the same parameter
    # count, so their BIC ties up to rounding (the last bits differ from one
    # machine's BLAS to another's). The documented rule: values within
    # TIE_TOLERANCE (relative) are a tie, and the simpler candidate wins;
    # "tied" is listed before "full", so it is chosen whatever the last bits.
    result = sweep(seed_X, n_components=[1], covariance_types=["full", "tied"])
    table = result.table.set_index("covariance_type")
    assert table.loc["full", "bic"] == pytest.approx(
        table.loc["tied", "bic"], rel=1e-12
    )
    assert result.best_key == (1, "tied")


def test_non_converged_candidates_are_flagged(seed_X):
    result = sweep(seed_X, n_components=[6], covariance_types=["full"], max_iter=1)
    row = result.table.iloc[0]
    assert not row.converged
    assert "did not converge" in row.message
    assert any("No candidate converged" in m for m in result.messages)


def test_random_state_none_is_recorded_and_reproducible(seed_X):
    first = sweep(
        seed_X, n_components=[3], covariance_types=["diag"], random_state=None
    )
    again = sweep(
        seed_X,
        n_components=[3],
        covariance_types=["diag"],
        random_state=first.random_state,
    )
    assert first.table.bic.iloc[0] == again.table.bic.iloc[0]


@pytest.mark.parametrize(
    ("X", "kwargs", "error", "match"),
    [
        (np.empty((0, 2)), {}, ValueError, "X is empty"),
        (np.ones((2, 2, 2)), {}, ValueError, "must be 2-D"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, ValueError, "NaN or infinite"),
        (np.array([["a", "b"]]), {}, TypeError, "numeric array"),
        (np.ones((5, 2)), {"n_components": 6}, TypeError, r"range\(1, 7\)"),
        (np.ones((5, 2)), {"n_components": []}, ValueError, "n_components is empty"),
        (np.ones((5, 2)), {"n_components": [0, 1]}, ValueError, ">= 1"),
        (np.ones((5, 2)), {"covariance_types": ["round"]}, ValueError, "round"),
        (np.ones((5, 2)), {"criterion": "waic"}, ValueError, "criterion"),
        (np.ones((5, 2)), {"random_state": -1}, ValueError, "random_state"),
        (np.ones((5, 2)), {"tol": 0}, ValueError, "tol"),
        # found by fuzzing (session 10): tiny spreads, weights that are not
        # counts
        (np.arange(10.0).reshape(5, 2) * 1e-156, {}, ValueError, "Feature 0 .* by"),
        (
            np.c_[np.arange(5.0), np.arange(5.0) * 1e-160],
            {},
            ValueError,
            "Feature 1 of X varies by only",
        ),
        (np.arange(10.0).reshape(5, 2), {"weights": [0.2] * 5}, ValueError, "total 1"),
        (np.arange(10.0).reshape(5, 2), {"weights": [1e308] * 5}, ValueError, "inf"),
        (np.ones((5, 2)), {"weights": [1 + 1j] * 5}, ValueError, "complex"),
        (np.ones((5, 2)), {"max_iter": 1.5}, TypeError, "must be integers"),
        (np.ones((5, 2)), {"n_init": 1.5}, TypeError, "must be integers"),
        (np.ones((5, 2)), {"allow_degenerate": "x"}, ValueError, "True or False"),
        (np.ones((5, 2)), {"n_components": 0}, TypeError, "integers >= 1"),
        (
            np.arange(40.0).reshape(20, 2),
            {"screen": True, "screen_size": 3},
            ValueError,
            "screen_size must exceed",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(X, kwargs, error, match):
    with pytest.raises(error, match=match):
        sweep(X, **kwargs)


def test_small_scales_down_to_the_limit_keep_the_choice(rng):
    # 1e-90 is above settings.MIN_SPREAD: the same choice, every BIC moved by
    # the Jacobian only
    X = rng.normal(size=(100, 2))
    plain = sweep(X, n_components=range(1, 3)).table["bic"]
    small = sweep(X * 1e-90, n_components=range(1, 3)).table["bic"]
    jacobian = 2 * X.size * np.log(1e-90)
    np.testing.assert_allclose(small - plain, jacobian, rtol=1e-9)


def test_one_dimensional_input_is_one_feature(rng):
    x = np.r_[rng.normal(0, 1, 300), rng.normal(8, 1, 300)]
    result = sweep(x, n_components=range(1, 4), covariance_types=["full"])
    assert result.n_features == 1
    assert result.best_key == (2, "full")


def test_cancel_stops_inside_a_candidate_within_one_em_iteration(rng):
    X = rng.normal(size=(5000, 2))
    calls = []

    def cancel():
        calls.append(len(calls))
        return len(calls) >= 4  # before the candidate, after init, 2 iterations

    fitted = []
    with pytest.raises(SweepCancelled):
        sweep(
            X,
            n_components=[8],
            covariance_types=["full"],
            tol=1e-12,  # would iterate 100 times
            progress=lambda d, t, f: fitted.append(d),
            cancel=cancel,
        )
    assert len(calls) == 4  # stopped at the very check that said so
    assert fitted == []  # the candidate never finished


def test_cancellable_sweep_gives_sklearns_numbers(seed_X, seed_result):
    # with a cancel callback the sweep runs our EM; it must not change a digit
    result = sweep(seed_X, cancel=lambda: False, preset="sklearn")
    pd.testing.assert_frame_equal(
        result.table.drop(columns=["fit_time_s"]),
        seed_result.table.drop(columns=["fit_time_s"]),
        rtol=1e-12,
    )
    assert result.best_key == (2, "full")


def test_default_tolerance_tightens_with_n(rng):
    from napari_gmm.core.sweep import auto_tol

    assert auto_tol(1000) == 1e-3  # scikit-learn's default, the seed example
    assert auto_tol(50_000) == pytest.approx(2e-5)
    X = rng.normal(size=(5000, 2))
    sk = {"preset": "sklearn"}  # auto_tol is the scikit-learn preset's tolerance
    result = sweep(X, n_components=[2], covariance_types=["diag"], **sk)
    assert result.best.tol == pytest.approx(2e-4)
    weighted = sweep(X[:10], n_components=[1], weights=np.full(10, 500.0), **sk)
    assert weighted.best.tol == pytest.approx(2e-4)  # n is the total weight
    assert sweep(X, n_components=[1], tol=0.01, **sk).best.tol == 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_jobs": 0}, "n_jobs must be"),
        ({"cv_folds": 5, "X": np.arange(8.0).reshape(4, 2)}, "needs at least 5"),
        ({"cv_folds": 2, "weights": np.full(100, 0.5)}, "whole numbers"),
        ({"random_state": -1}, "random_state must be"),
        ({"screen": "maybe"}, "screen must be"),
    ],
)
def test_iter_sweep_checks_its_inputs_before_the_first_candidate(kwargs, message):
    # the widget reports these from run() in one sentence; the data-sized
    # preparation is left to the first next() (the worker thread)
    X = kwargs.pop("X", np.random.default_rng(0).normal(size=(100, 2)))
    with pytest.raises(ValueError, match=message):
        iter_sweep(X, n_components=[1, 2], **kwargs)
