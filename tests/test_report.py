"""Per-component parameters, evidence grades and the stability report."""

import numpy as np
import pytest

from napari_gmm import make_seed_example, sweep
from napari_gmm.core.report import component_table, evidence, stability


def test_component_table_matches_the_model(seed_X, seed_result):
    model = seed_result.best
    table = component_table(model, seed_X, ["x", "y"])
    assert list(table["label"]) == [1, 2]
    np.testing.assert_allclose(table["weight"], model.weights_)
    np.testing.assert_allclose(table[["mean x", "mean y"]], model.means_)
    np.testing.assert_allclose(table["sd x"] ** 2, model.covariances_[:, 0, 0])
    corr = model.covariances_[:, 0, 1] / np.sqrt(
        model.covariances_[:, 0, 0] * model.covariances_[:, 1, 1]
    )
    np.testing.assert_allclose(table["corr x/y"], corr)
    assert list(table["count"]) == [500, 500]
    assert np.all((table["mean_probability"] > 0.5) & (table["mean_probability"] <= 1))


def test_component_table_in_raw_units_and_weighted_counts(seed_X):
    center, scale = seed_X.mean(axis=0), seed_X.std(axis=0)
    Z = (seed_X - center) / scale
    model = sweep(Z, n_components=[2], covariance_types=["full"]).best
    table = component_table(model, Z, ["x", "y"], center=center, scale=scale)
    raw = sweep(seed_X, n_components=[2], covariance_types=["full"]).best
    np.testing.assert_allclose(table[["mean x", "mean y"]], raw.means_, rtol=1e-3)
    weights = np.full(len(Z), 2.0)
    doubled = component_table(model, Z, sample_weight=weights)
    assert list(doubled["count"]) == [1000, 1000]


@pytest.mark.parametrize(
    ("delta", "words"),
    [(0.5, "weak"), (3, "positive"), (7.5, "strong"), (43.9, "very strong")],
)
def test_evidence_grades(delta, words):
    assert evidence(delta) == words


def test_stability_counts_choices_over_seeds():
    X = make_seed_example()
    result = stability(X, seeds=3, n_components=range(1, 4), covariance_types=["full"])
    table = result.table
    assert table.loc[table["selected"], "chosen_fraction"].iloc[0] == 1.0
    assert table["chosen_fraction"].sum() == pytest.approx(1.0)
    assert np.all(table["bic_min"] <= table["bic"] + 1e-9)
    assert np.all(table["bic"] <= table["bic_max"] + 1e-9)
    assert "3 of 3 seeds" in result.messages[-1]
    # each seed's sweep is an ordinary sweep with that seed
    second = sweep(
        X, n_components=range(1, 4), covariance_types=["full"], random_state=1
    )
    assert np.all(table["bic_min"] <= second.table["bic"] + 1e-9)


def test_stability_rejects_bad_seeds():
    with pytest.raises(ValueError, match="seeds must be"):
        stability(make_seed_example(), seeds=0)
