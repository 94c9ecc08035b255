"""sweep(weights=...) on distinct values with counts equals sweep on every value."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm import WeightedGaussianMixture, sweep
from napari_gmm.core.em import weighted_criteria


@pytest.fixture(scope="module")
def quantized():
    """A quantized 3-class 1-D sample: every value, and (distinct value, count)."""
    rng = np.random.default_rng(2024)
    x = np.r_[
        rng.normal(40, 6, 3000), rng.normal(110, 10, 5000), rng.normal(190, 7, 2000)
    ]
    x = np.clip(np.round(x), 0, 255)
    values, counts = np.unique(x, return_counts=True)
    return x, values, counts


@pytest.fixture(scope="module")
def both_sweeps(quantized):
    x, values, counts = quantized
    # the sklearn preset: scikit-learn's algorithm and settings
    return sweep(x, preset="sklearn"), sweep(values, weights=counts, preset="sklearn")


def test_weighted_sweep_makes_the_same_choice(both_sweeps, quantized):
    full, weighted = both_sweeps
    x, values, _ = quantized
    assert weighted.best_key[0] == full.best_key[0] == 3
    # In 1-D, spherical, diag and full are the same model, so their BICs tie up
    # to rounding and rounding may pick any of them: the same choice means the
    # same K and a type whose BIC ties with the other sweep's choice.
    if weighted.best_key != full.best_key:
        table = weighted.table.set_index(["n_components", "covariance_type"])
        assert table.loc[full.best_key, "bic"] == pytest.approx(
            weighted.best_row.bic, rel=1e-12
        )
    assert weighted.n_samples == float(len(x))
    assert isinstance(weighted.n_samples, float)
    assert full.n_samples == len(x)
    assert len(values) < len(x) / 50  # the point of weighting
    # one EM engine for every sweep, weighted or not
    for result in (weighted, full):
        assert all(
            isinstance(m, WeightedGaussianMixture) for m in result.models.values()
        )


def test_weighted_sweep_scores_like_the_repeated_data(both_sweeps):
    # The k-means initialisation sees the counts as weights but draws its random
    # numbers differently from k-means on the repeated values, so in general
    # only the choice can be compared. With K = 1 the initialisation is the same
    # by construction (one cluster), and with K = 3 on these well separated
    # classes k-means finds the same partition either way; there the whole EM
    # path is the same, and the scores agree to rounding.
    full, weighted = both_sweeps
    a = full.table.set_index(["covariance_type", "n_components"])
    b = weighted.table.set_index(["covariance_type", "n_components"])
    same_start = a.index.get_level_values("n_components").isin([1, 3])
    for column in ("bic", "aic", "icl", "log_likelihood"):
        np.testing.assert_allclose(
            b.loc[same_start, column], a.loc[same_start, column], rtol=1e-6
        )
    np.testing.assert_array_equal(
        b.loc[same_start, "n_iter"], a.loc[same_start, "n_iter"]
    )
    # elsewhere EM stops at slightly different points of the same solutions
    np.testing.assert_allclose(b["bic"], a["bic"], rtol=1e-3)


def test_weighted_table_uses_weighted_criteria(both_sweeps, quantized):
    _, values, counts = quantized
    _, weighted = both_sweeps
    row = weighted.table.iloc[7]
    model = weighted.model(row.n_components, row.covariance_type)
    expected = weighted_criteria(model, values.reshape(-1, 1), counts)
    for name in ("bic", "aic", "icl", "log_likelihood"):
        assert row[name] == pytest.approx(expected[name], rel=1e-12)


def test_weighted_models_are_sorted_by_mean(both_sweeps, quantized):
    _, values, _ = quantized
    _, weighted = both_sweeps
    for (k, _), model in weighted.models.items():
        assert np.all(np.diff(model.means_[:, 0]) >= 0)
        tau = model.predict_proba(values.reshape(-1, 1))
        np.testing.assert_array_equal(
            tau.argmax(axis=1), model.predict(values.reshape(-1, 1))
        )
        assert tau.shape == (len(values), k)


def test_unit_weights_give_the_plain_sweep(quantized):
    x, _, _ = quantized
    kwargs = {"n_components": range(1, 4), "covariance_types": ["diag", "full"]}
    plain = sweep(x, **kwargs)
    unit = sweep(x, weights=np.ones(len(x)), **kwargs)
    for column in ("bic", "aic", "icl", "log_likelihood", "n_iter"):
        np.testing.assert_allclose(unit.table[column], plain.table[column], rtol=1e-10)
    assert unit.best_key == plain.best_key


def test_skip_counts_rows_with_positive_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2))
    weights = np.array([3.0, 0, 2, 0, 0, 5])
    result = sweep(
        X, n_components=range(1, 5), covariance_types="spherical", weights=weights
    )
    table = result.table.set_index("n_components")
    assert np.isinf(table.loc[4, "bic"])
    assert (
        "need at least 4 samples with positive weight, got 3" in table.loc[4, "message"]
    )
    assert np.isfinite(table.loc[3, "bic"])
    assert result.n_samples == 10.0


def test_covariance_floor_stops_spikes_in_the_sweep():
    # Integer data with one very frequent value: without a floor a component
    # shrinks onto that single value (variance = reg_covar) and wins on BIC.
    rng = np.random.default_rng(5)
    x = np.r_[np.round(rng.normal(100, 15, 5000)), np.full(3000, 100.0)]
    values, counts = np.unique(x, return_counts=True)
    kwargs = {
        "n_components": range(1, 4),
        "covariance_types": ["full"],
        "preset": "sklearn",  # an absolute reg_covar, spikes allowed
    }
    spiky = sweep(values, weights=counts, **kwargs)
    floored = sweep(values, weights=counts, covariance_floor=1 / 12, **kwargs)
    assert spiky.best.covariances_.min() < 1 / 12
    assert floored.best.covariances_.min() >= 1 / 12
    assert all(m.covariance_floor == 1 / 12 for m in floored.models.values())


def test_covariance_floor_without_weights_uses_the_weighted_estimator(quantized):
    x, _, _ = quantized
    result = sweep(
        x,
        n_components=[2],
        covariance_types=["diag"],
        covariance_floor=0.0,
        tol=1e-3,
        preset="sklearn",
    )  # scikit-learn's default tolerance on both sides
    model = result.best
    assert isinstance(model, WeightedGaussianMixture)
    reference = GaussianMixture(2, covariance_type="diag", random_state=0).fit(
        x.reshape(-1, 1)
    )
    assert result.best_row.bic == pytest.approx(
        reference.bic(x.reshape(-1, 1)), rel=1e-10
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": np.ones(4)}, "4 entries but X has 5 rows"),
        ({"weights": -np.ones(5)}, "must be >= 0"),
        ({"weights": np.r_[1.0, np.nan, 1, 1, 1]}, "NaN or infinite"),
        ({"weights": np.zeros(5)}, "at least one weight must be positive"),
        ({"weights": np.ones((5, 1))}, "must be 1-D"),
        ({"covariance_floor": [1.0, 2.0, 3.0]}, r"shape \(n_features,\) = \(2,\)"),
        ({"covariance_floor": -1.0}, ">= 0"),
    ],
)
def test_bad_weights_or_floor_are_rejected_before_fitting(kwargs, match):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(ValueError, match=match):
        sweep(X, **kwargs)
