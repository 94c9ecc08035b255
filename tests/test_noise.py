"""The uniform noise component: EM against a plain reference, sweep, files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from napari_gmm import sweep
from napari_gmm.core.components import assign
from napari_gmm.core.criteria import n_parameters
from napari_gmm.core.datasets import make_blobs_with_outliers
from napari_gmm.core.em import weighted_criteria
from napari_gmm.core.model_io import load_model, model_from_dict, save_model
from napari_gmm.core.noise import NoisyGaussianMixture, bounding_box_volume
from napari_gmm.core.report import component_table

# fixed-iteration comparisons stop before convergence on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def reference_noise_em(X, w, weights, means, covariances, noise, volume, n_iter, reg):
    """Textbook EM for Gaussians + uniform noise, full covariances, loops."""
    k = len(weights)
    for _ in range(n_iter):
        dens = np.column_stack(
            [
                weights[j] * multivariate_normal(means[j], covariances[j]).pdf(X)
                for j in range(k)
            ]
            + [np.full(len(X), noise / volume)]
        )
        tau = dens / dens.sum(axis=1, keepdims=True)
        r = tau * w[:, None]
        nk = r.sum(axis=0)
        total = nk.sum()
        means = np.array([r[:, j] @ X / nk[j] for j in range(k)])
        covariances = np.array(
            [
                ((X - means[j]).T * r[:, j]) @ (X - means[j]) / nk[j] + reg * np.eye(2)
                for j in range(k)
            ]
        )
        weights, noise = nk[:k] / total, nk[k] / total
    return weights, means, covariances, noise


def _reduce(covariances, nk, covariance_type):
    """Full per-component covariances -> the given type's parameters."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "diag":
        return np.einsum("kii->ki", covariances)
    if covariance_type == "spherical":
        return np.einsum("kii->ki", covariances).mean(axis=1)
    return np.einsum("k,kij->ij", nk, covariances) / nk.sum()


def test_noise_em_matches_textbook_reference_full():
    X, _ = make_blobs_with_outliers(n_per_blob=100)
    w = np.ones(len(X))
    start_means = np.array([[0.5, 0.5], [7.0, 2.0]])
    start_cov = np.array([np.eye(2) * 2.0, np.eye(2) * 3.0])
    model = NoisyGaussianMixture(
        2,
        covariance_type="full",
        weights_init=[0.5, 0.5],
        means_init=start_means,
        precisions_init=np.linalg.inv(start_cov),
        tol=0.0,
        max_iter=7,
        reg_covar=1e-6,
    ).fit(X)
    volume = bounding_box_volume(X)
    ref = reference_noise_em(
        X, w, np.array([0.45, 0.45]), start_means, start_cov, 0.1, volume, 7, 1e-6
    )
    np.testing.assert_allclose(model.weights_, ref[0], rtol=1e-10)
    np.testing.assert_allclose(model.means_, ref[1], rtol=1e-10)
    np.testing.assert_allclose(model.covariances_, ref[2], rtol=1e-10)
    assert model.noise_weight_ == pytest.approx(ref[3], rel=1e-10)
    assert model.weights_.sum() + model.noise_weight_ == pytest.approx(1.0)
    assert model.noise_volume_ == volume


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag"])
def test_noise_m_step_reduces_like_the_full_one(covariance_type):
    """One EM step from the same start: every type's covariance is the
    reduction (diagonal, mean of the diagonal, weighted average) of the
    full-covariance step's, and means/weights/noise are identical."""
    X, _ = make_blobs_with_outliers(n_per_blob=80, random_state=3)
    start = {
        "weights_init": [0.5, 0.5],
        "means_init": np.array([[0.0, 0.0], [8.0, 3.0]]),
        "tol": 0.0,
        "max_iter": 1,
        "reg_covar": 0.0,
    }
    # spherical unit-variance start, expressed in each type's precision shape
    precisions = {
        "full": np.array([np.eye(2), np.eye(2)]),
        "tied": np.eye(2),
        "diag": np.ones((2, 2)),
        "spherical": np.ones(2),
    }
    full = NoisyGaussianMixture(
        2, covariance_type="full", precisions_init=precisions["full"], **start
    ).fit(X)
    other = NoisyGaussianMixture(
        2,
        covariance_type=covariance_type,
        precisions_init=precisions[covariance_type],
        **start,
    ).fit(X)
    nk = full.weights_ * len(X)
    np.testing.assert_allclose(other.means_, full.means_, rtol=1e-12)
    np.testing.assert_allclose(other.weights_, full.weights_, rtol=1e-12)
    assert other.noise_weight_ == pytest.approx(full.noise_weight_, rel=1e-12)
    expected = _reduce(full.covariances_, nk, covariance_type)
    np.testing.assert_allclose(other.covariances_, expected, rtol=1e-9)


def test_noise_counts_equal_repeated_rows():
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(0, 3, (300, 1)) * 2) / 2
    values = np.vstack([values, rng.uniform(-30, 30, (20, 1)).round()])
    distinct, counts = np.unique(values, axis=0, return_counts=True)
    settings = {
        "weights_init": [0.5, 0.5],
        "means_init": [[-2.0], [2.0]],
        "precisions_init": [[[0.2]], [[0.2]]],
        "tol": 1e-10,
        "max_iter": 300,
    }
    on_counts = NoisyGaussianMixture(2, **settings).fit(distinct, sample_weight=counts)
    on_rows = NoisyGaussianMixture(2, **settings).fit(values)
    np.testing.assert_allclose(on_counts.means_, on_rows.means_, rtol=1e-8)
    np.testing.assert_allclose(on_counts.covariances_, on_rows.covariances_, rtol=1e-8)
    assert on_counts.noise_weight_ == pytest.approx(on_rows.noise_weight_, rel=1e-8)
    a = weighted_criteria(on_counts, distinct, counts)
    b = weighted_criteria(on_rows, values)
    assert a["bic"] == pytest.approx(b["bic"], rel=1e-8)


def test_noise_lower_bound_never_decreases():
    X, _ = make_blobs_with_outliers()
    for covariance_type in ("spherical", "tied", "diag", "full"):
        model = NoisyGaussianMixture(
            3, covariance_type=covariance_type, random_state=0, tol=1e-8, max_iter=300
        ).fit(X)
        bounds = np.asarray(model.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:])), covariance_type


def test_predictions_scores_and_parameter_count():
    X, _ = make_blobs_with_outliers()
    model = NoisyGaussianMixture(2, random_state=0).fit(X)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = model.predict(X)
    assert set(np.unique(labels)) == {-1, 0, 1}
    np.testing.assert_array_equal(labels == -1, proba.argmax(axis=1) == 2)
    # score_samples is log(sum of the Gaussian densities + noise / volume)
    gauss = sum(
        wk * multivariate_normal(m, c).pdf(X)
        for wk, m, c in zip(
            model.weights_, model.means_, model.covariances_, strict=True
        )
    )
    expected = np.log(gauss + model.noise_weight_ / model.noise_volume_)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-10)
    scores = weighted_criteria(model, X)
    p = n_parameters(2, 2, "full", noise=True)
    assert p == n_parameters(2, 2, "full") + 1
    assert scores["bic"] == pytest.approx(
        -2 * expected.sum() + p * np.log(len(X)), rel=1e-12
    )
    # fit_predict agrees with predict, and assign gives the noise label 0
    assert np.array_equal(
        NoisyGaussianMixture(2, random_state=0).fit_predict(X), labels
    )
    assignment = assign(model, X)
    np.testing.assert_array_equal(assignment.labels == 0, labels == -1)


def test_two_blobs_with_outliers_acceptance():
    """Issue #9: with the noise component the choice has 2 Gaussians and at
    least 90 % of the outliers are labelled noise."""
    X, is_outlier = make_blobs_with_outliers()
    assert is_outlier.mean() == pytest.approx(0.05, abs=0.002)
    result = sweep(X, noise=True)
    assert result.best_key[0] == 2
    assert "noise_weight" in result.table.columns
    labels = assign(result.best, X).labels
    assert (labels[is_outlier] == 0).mean() >= 0.9
    assert (labels[~is_outlier] == 0).mean() < 0.02
    assert result.best.noise_weight_ == pytest.approx(0.06, abs=0.02)
    # Without it BIC explains the outliers with a third, broad Gaussian
    # (3 diagonal components on this data): what the noise component avoids.
    plain = sweep(X)
    assert plain.best_key == (3, "diag")
    broad = plain.best.covariances_.max(axis=1).argmax()
    assert plain.best.covariances_[broad].min() > 5.0


def test_noise_counted_in_table_and_failed_candidates():
    X, _ = make_blobs_with_outliers(n_per_blob=50)
    result = sweep(X[:4], n_components=[1, 5], noise=True, covariance_types=["full"])
    row = result.table.set_index("n_components").loc[5]
    assert not np.isfinite(row["bic"]) and "skipped" in row["message"]
    assert row["n_parameters"] == n_parameters(5, 2, "full", noise=True)
    assert result.settings["noise"] is True
    assert result.settings["noise_volume"] is None  # as given: each fit's box
    assert result.best.noise_volume_ == pytest.approx(bounding_box_volume(X[:4]))


def test_noise_input_errors():
    X = np.column_stack([np.arange(10.0), np.zeros(10)])
    with pytest.raises(ValueError, match="feature 1 is constant"):
        sweep(X, noise=True)
    good = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="noise_volume must be a finite number > 0"):
        sweep(good, noise=True, noise_volume=-1)
    with pytest.raises(ValueError, match="noise must be True or False"):
        sweep(good, noise="yes")
    # a given volume is used as is
    result = sweep(good, noise=True, noise_volume=123.0, n_components=[1])
    assert result.best.noise_volume_ == 123.0


def test_component_table_has_a_noise_row():
    X, _ = make_blobs_with_outliers()
    model = sweep(X, noise=True, n_components=[2], covariance_types=["full"]).best
    table = component_table(model, X, feature_names=["x", "y"])
    assert list(table["label"]) == [1, 2, 0]
    assert table["count"].sum() == len(X)
    assert table["weight"].sum() == pytest.approx(1.0)
    assert np.isnan(table.iloc[-1]["mean x"])


def test_noise_model_file_round_trip(tmp_path):
    X, _ = make_blobs_with_outliers()
    result = sweep(X, noise=True, n_components=[1, 2, 3], init_params="ward", n_init=1)
    path = save_model(tmp_path / "noisy.json", result.best, result=result)
    saved = load_model(path)
    assert isinstance(saved.model, NoisyGaussianMixture)
    assert saved.model.noise_weight_ == result.best.noise_weight_
    assert saved.model.noise_volume_ == result.best.noise_volume_
    np.testing.assert_array_equal(saved.model.predict(X), result.best.predict(X))
    np.testing.assert_array_equal(
        saved.model.score_samples(X), result.best.score_samples(X)
    )
    for key in ("noise", "noise_volume", "init_params", "n_init", "random_state"):
        assert saved.settings[key] == result.settings[key], key
    assert saved.settings["init_params"] == "ward"
    # a corrupted noise section is refused with a sentence
    import json

    document = json.loads(path.read_text())
    document["model"]["noise"]["volume"] = -3
    with pytest.raises(ValueError, match=r"model\.noise\.volume must be a number > 0"):
        model_from_dict(document)
    document["model"]["noise"] = None  # weights no longer sum to 1
    with pytest.raises(ValueError, match="sum to 1"):
        model_from_dict(document)


def test_live_refits_keep_the_noise_component():
    from napari_gmm.core.refit import refit_same, refit_warm

    X, is_outlier = make_blobs_with_outliers()
    model = sweep(X, noise=True, n_components=[2], covariance_types=["diag"]).best
    shift = np.array([0.5, 0.0])
    moved = X + shift  # the user dragged every point a little
    for refit in (refit_warm, refit_same):
        new = refit(moved, model)
        assert isinstance(new, NoisyGaussianMixture), refit.__name__
        assert new.noise_volume_ == model.noise_volume_  # a shift keeps the box
        assert new.weights_.sum() + new.noise_weight_ == pytest.approx(1.0)
        np.testing.assert_allclose(new.means_, model.means_ + shift, atol=0.05)
        labels = assign(new, moved).labels
        assert (labels[is_outlier] == 0).mean() >= 0.9


def test_refit_on_spread_points_uses_their_own_box():
    """Review finding: a refit must not keep the old, smaller box."""
    from napari_gmm.core.refit import refit_warm

    X, _ = make_blobs_with_outliers()
    model = sweep(X, noise=True, n_components=[2], covariance_types=["diag"]).best
    spread = 3 * X
    new = refit_warm(spread, model)
    assert new.noise_volume_ == pytest.approx(bounding_box_volume(spread))
    assert new.noise_volume_ == pytest.approx(9 * model.noise_volume_)


def test_bic_aic_methods_count_the_noise_weight():
    X, _ = make_blobs_with_outliers()
    model = sweep(X, noise=True, n_components=[2], covariance_types=["full"]).best
    table = weighted_criteria(model, X)
    assert model.bic(X) == pytest.approx(table["bic"], rel=1e-12)
    assert model.aic(X) == pytest.approx(table["aic"], rel=1e-12)
    with pytest.raises(NotImplementedError, match="noise volume"):
        model.sample(10)


def test_two_level_image_is_not_swallowed_by_the_noise():
    """Review finding: quantized levels cover n * step, not (n - 1) * step."""
    from napari_gmm import segment_image

    image = np.r_[np.zeros(50), np.ones(50)].reshape(10, 10).astype(np.uint8)
    result = segment_image(
        image, noise=True, n_components=[2], covariance_types=["full"]
    )
    assert result.best.noise_volume_ == 2.0
    assert result.best.noise_weight_ < 0.01
    assert sorted(np.bincount(np.asarray(result.labels).ravel())) == [0, 50, 50]


def test_a_noise_heavy_choice_is_said():
    from napari_gmm.core.report import choice_sentences

    X = np.random.default_rng(0).uniform(size=(400, 2))  # nothing but noise
    result = sweep(X, noise=True, n_components=[1], covariance_types=["spherical"])
    assert result.best.noise_weight_ > 0.5
    assert any("The noise component holds" in s for s in choice_sentences(result))
