"""Sweeps over mclust's 14 covariance models (issue #18): names, choice,
table, 1-D twins, screening, threads, model files and the command line."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from napari_gmm import sweep
from napari_gmm.core.candidate import degeneracy, own_covariance_parameters
from napari_gmm.core.criteria import COVARIANCE_TYPES, MODEL_TYPES
from napari_gmm.core.em import WeightedGaussianMixture
from napari_gmm.core.model_io import (
    ModelFileError,
    load_model,
    model_to_dict,
    save_model,
)
from napari_gmm.core.noise import NoisyGaussianMixture
from napari_gmm.core.parsimonious import (
    MODELS,
    SKLEARN_TO_MCLUST,
    n_covariance_parameters,
)
from napari_gmm.core.parsimonious_em import (
    NoisyParsimoniousGaussianMixture,
    ParsimoniousGaussianMixture,
)
from napari_gmm.core.refit import refit_warm
from napari_gmm.core.result import SweepCancelled


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def eev_sample(n_per=150, seed=0):
    """Three clusters of one volume and shape, each turned its own way (EEV)."""
    rng = np.random.default_rng(seed)
    shape = np.diag([3.0, 1.0 / 3.0])  # |A| = 1, volume 1
    centres = 7.0 * np.array([[0.0, 0.0], [1.0, 0.2], [0.4, 1.0]])
    parts = []
    for k, angle in enumerate((0.0, np.pi / 3, 2 * np.pi / 3)):
        D = rotation(angle)
        covariance = D @ shape @ D.T
        parts.append(rng.multivariate_normal(centres[k], covariance, n_per))
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def eev_X():
    return eev_sample()


@pytest.fixture(scope="module")
def all_models_result(eev_X):
    return sweep(eev_X, n_components=range(2, 5), covariance_types="all")


def test_all_fourteen_recover_the_model_and_k_by_bic(all_models_result):
    result = all_models_result
    assert result.best_key == (3, "EEV")
    assert result.best_row["model"] == "EEV"
    assert len(result.table) == 14 * 3
    # one row per model, in mclust's order, under the sweep's names
    assert list(dict.fromkeys(result.table["covariance_type"])) == list(MODEL_TYPES)
    assert list(dict.fromkeys(result.table["model"])) == list(MODELS)
    fitted = result.model(3, "EEV")
    assert isinstance(fitted, ParsimoniousGaussianMixture)
    assert fitted.covariance_model == "EEV"
    # equal volumes and shapes: every covariance has the same eigenvalues
    eigenvalues = np.linalg.eigvalsh(fitted.covariances_)
    np.testing.assert_allclose(
        eigenvalues, np.broadcast_to(eigenvalues[0], eigenvalues.shape), rtol=1e-8
    )
    # the shared four keep scikit-learn's estimator whatever name they had
    assert type(result.model(3, "full")) is WeightedGaussianMixture
    assert result.model(3, "full").covariance_type == "full"


def test_the_table_has_both_names(all_models_result):
    table = all_models_result.table
    for name, model in zip(table["covariance_type"], table["model"], strict=True):
        assert model == SKLEARN_TO_MCLUST.get(name, name)
    assert table.columns[:3].tolist() == ["covariance_type", "model", "n_components"]


def test_names_mix_ignore_case_and_repeat_once(eev_X):
    result = sweep(
        eev_X,
        n_components=[3],
        covariance_types=["vvv", "Full", "eev", "EEV", "spherical", "VII"],
    )
    assert result.table["covariance_type"].tolist() == ["full", "EEV", "spherical"]
    assert result.settings["covariance_types"] == ["full", "EEV", "spherical"]


def test_mclust_names_of_the_shared_four_give_the_default_numbers(eev_X):
    ks = range(1, 4)
    default = sweep(eev_X, n_components=ks)
    explicit = sweep(eev_X, n_components=ks, covariance_types=list(COVARIANCE_TYPES))
    mclust = sweep(
        eev_X, n_components=ks, covariance_types=["VII", "EEE", "VVI", "VVV"]
    )
    assert default.table["covariance_type"].tolist() == (
        explicit.table["covariance_type"].tolist()
    )
    assert mclust.table["covariance_type"].tolist() == (
        default.table["covariance_type"].tolist()
    )
    for other in (explicit, mclust):
        np.testing.assert_allclose(other.table["bic"], default.table["bic"], rtol=1e-12)
        assert other.best_key == default.best_key


def test_unknown_names_are_refused_with_the_valid_ones(eev_X):
    with pytest.raises(ValueError, match="'XXX'") as error:
        sweep(eev_X, covariance_types=["full", "XXX"])
    message = str(error.value)
    for name in (*COVARIANCE_TYPES, *MODELS, "'all'"):
        assert name in message
    with pytest.raises(ValueError, match="for all 14"):
        sweep(eev_X, covariance_types="everything")


def test_the_noise_component_works_with_the_ten_other_models(tmp_path, eev_X):
    rng = np.random.default_rng(5)
    outliers = rng.uniform(eev_X.min(axis=0), eev_X.max(axis=0), (60, 2))
    X = np.concatenate([eev_X, outliers])
    result = sweep(X, n_components=[3], covariance_types=["EEV", "full"], noise=True)
    model = result.model(3, "EEV")
    assert isinstance(model, NoisyParsimoniousGaussianMixture)
    assert model.covariance_model == "EEV" and model.covariance_type == "full"
    # the model's covariance parameters, means, K - 1 weights and the noise's
    expected = n_covariance_parameters("EEV", 3, 2) + 3 * 2 + 3
    assert result.table.set_index("covariance_type").loc["EEV", "n_parameters"] == (
        expected
    )
    assert model._n_parameters() == expected
    eigenvalues = np.linalg.eigvalsh(model.covariances_)
    np.testing.assert_allclose(
        eigenvalues, np.broadcast_to(eigenvalues[0], eigenvalues.shape), rtol=1e-8
    )
    assert 0.05 < model.noise_weight_ < 0.3
    assert np.mean(model.predict(outliers) == -1) > 0.5
    # EM (SQUAREM) on the constrained model never lowers the likelihood
    plain = NoisyParsimoniousGaussianMixture(
        3, covariance_model="VVE", stopping="gain", tol=1e-6, random_state=0
    ).fit(X)
    assert np.diff(plain.lower_bounds_).min() > -1e-12
    path = save_model(tmp_path / "noise.json", model, result=result)
    loaded = load_model(path).model
    assert isinstance(loaded, NoisyParsimoniousGaussianMixture)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(
        loaded.score_samples(X), model.score_samples(X), rtol=1e-12
    )


def test_the_sklearn_preset_fits_the_other_models_with_its_settings(eev_X):
    """Documented: scikit-learn has no EEV; the preset's algorithm and
    settings (k-means start, reg_covar=1e-6, its stopping rule) fit it, and
    the shared four keep scikit-learn's numbers."""
    ks = [2, 3]
    mixed = sweep(
        eev_X, n_components=ks, covariance_types=["EEV", "full"], preset="sklearn"
    )
    alone = sweep(eev_X, n_components=ks, covariance_types=["full"], preset="sklearn")
    model = mixed.model(3, "EEV")
    assert isinstance(model, ParsimoniousGaussianMixture)
    assert model.reg_covar == 1e-6 and model.stopping == "change"
    full = mixed.table[mixed.table["covariance_type"] == "full"]
    np.testing.assert_allclose(full["bic"], alone.table["bic"], rtol=1e-12)
    # the shared Ward tree starts them too (full covariances, projected)
    ward = sweep(
        eev_X,
        n_components=[3],
        covariance_types=["EEV"],
        preset="sklearn",
        init_params="ward",
    )
    assert ward.best_key == (3, "EEV") and np.isfinite(ward.best_row["bic"])


def test_own_covariance_parameters_per_component():
    d = 3
    expected = {"spherical": 1, "tied": 0, "diag": 3, "full": 6}
    expected.update(EII=0, EEI=0, VEI=1, EVI=2, VEE=1, EVE=2, VVE=3)
    expected.update(EEV=3, VEV=4, EVV=5)
    assert {t: own_covariance_parameters(t, d) for t in expected} == expected


def test_a_collapsed_parsimonious_component_is_degenerate(eev_X):
    model = sweep(eev_X, n_components=[3], covariance_types=["VVE"]).model(3, "VVE")
    variance = eev_X.var(axis=0)
    assert degeneracy(model, variance, len(eev_X)) == ""
    squeezed = ParsimoniousGaussianMixture(3, covariance_model="VVE")
    squeezed.means_ = model.means_
    squeezed.weights_ = model.weights_
    squeezed.covariances_ = model.covariances_.copy()
    squeezed.covariances_[1] *= 1e-8
    assert "component 2 collapsed" in degeneracy(squeezed, variance, len(eev_X))


def test_one_feature_models_are_fitted_once_per_volume_group():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 2, 150)])[:, None]
    result = sweep(X, n_components=[2], covariance_types="all")
    table = result.table.set_index("covariance_type")
    variable = ["full", "diag", "spherical", "VEI", "VEE", "VVE", "VEV"]
    equal = ["tied", "EII", "EEI", "EVI", "EVE", "EEV", "EVV"]
    for group in (variable, equal):
        source = table.loc[group[0]]
        assert source.fit_time_s > 0
        for name in group[1:]:
            row = table.loc[name]
            assert row.bic == source.bic and row.fit_time_s == 0
            model = result.model(2, name)
            reference = result.model(2, group[0])
            np.testing.assert_allclose(
                model.score_samples(X), reference.score_samples(X), rtol=1e-12
            )
            if name not in COVARIANCE_TYPES:
                assert model.covariance_model == name
                assert model.covariances_.shape == (2, 1, 1)
    # ties go to the first model in mclust's order
    assert result.best_key[1] in ("EII", "spherical")
    # with a noise component the copies keep it
    noisy = sweep(X, n_components=[2], covariance_types=["full", "VEV"], noise=True)
    assert type(noisy.model(2, "full")) is NoisyGaussianMixture
    copy = noisy.model(2, "VEV")
    assert isinstance(copy, NoisyParsimoniousGaussianMixture)
    assert copy.noise_weight_ == noisy.model(2, "full").noise_weight_
    np.testing.assert_allclose(
        copy.score_samples(X), noisy.model(2, "full").score_samples(X), rtol=1e-12
    )


def test_screening_refits_a_parsimonious_candidate_with_its_model():
    X = np.concatenate([eev_sample(n_per=1000, seed=s) for s in (1, 2)])
    result = sweep(
        X,
        n_components=[3],
        covariance_types=["EEV", "VVE"],
        screen=True,
        screen_size=600,
    )
    assert "screened" in result.table.columns
    refitted = result.table.loc[~result.table["screened"], "covariance_type"]
    assert len(refitted) >= 1
    for name in refitted:
        model = result.model(3, name)
        assert isinstance(model, ParsimoniousGaussianMixture)
        assert model.covariance_model == name


def test_threads_give_the_serial_results_and_cancel_stops(eev_X):
    kwargs = {"n_components": [2, 3], "covariance_types": ["EVE", "VEV"]}
    serial = sweep(eev_X, n_jobs=1, **kwargs)
    threaded = sweep(eev_X, n_jobs=2, **kwargs)
    np.testing.assert_allclose(threaded.table["bic"], serial.table["bic"], rtol=1e-9)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(SweepCancelled):
        sweep(eev_X, cancel=cancel, **kwargs)


def test_live_refit_keeps_the_model(eev_X):
    model = sweep(eev_X, n_components=[3], covariance_types=["EEV"]).model(3, "EEV")
    refitted = refit_warm(eev_X[::2], model)
    assert isinstance(refitted, ParsimoniousGaussianMixture)
    assert refitted.covariance_model == "EEV"


def test_model_file_round_trip_of_a_new_model(tmp_path, eev_X):
    result = sweep(eev_X, n_components=[3], covariance_types=["VVE", "full"])
    model = result.model(3, "VVE")
    path = save_model(tmp_path / "vve.json", model, result=result)
    document = json.loads(path.read_text())
    assert document["schema_version"] == 2
    assert document["model"]["covariance_model"] == "VVE"
    assert document["model"]["covariance_type"] == "full"
    loaded = load_model(path)
    assert isinstance(loaded.model, ParsimoniousGaussianMixture)
    assert loaded.model.covariance_model == "VVE"
    np.testing.assert_array_equal(loaded.model.predict(eev_X), model.predict(eev_X))
    np.testing.assert_allclose(
        loaded.model.score_samples(eev_X), model.score_samples(eev_X), rtol=1e-12
    )
    assert loaded.model.bic(eev_X) == pytest.approx(model.bic(eev_X), rel=1e-12)
    assert loaded.table["model"].tolist() == result.table["model"].tolist()


def test_version_1_files_still_load_and_mismatches_are_refused(tmp_path, eev_X):
    result = sweep(eev_X, n_components=[2], covariance_types=["full", "EEV"])
    old = model_to_dict(result.model(2, "full"))
    old["schema_version"] = 1
    del old["model"]["covariance_model"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_model(tmp_path / "old.json")
    assert loaded.model.covariance_type == "full"
    assert not isinstance(loaded.model, ParsimoniousGaussianMixture)
    bad = model_to_dict(result.model(2, "full"))
    bad["model"]["covariance_model"] = "EEV"
    bad["model"]["covariance_type"] = "full"
    bad["model"]["estimator"] = "WeightedGaussianMixture"
    (tmp_path / "ok.json").write_text(json.dumps(bad))
    # a full covariance is stored for EEV as well: it loads as EEV
    assert load_model(tmp_path / "ok.json").model.covariance_model == "EEV"
    bad["model"]["covariance_model"] = "VII"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ModelFileError, match="does not match"):
        load_model(tmp_path / "bad.json")


def test_cli_sweeps_all_fourteen(tmp_path):
    X = eev_sample(n_per=40, seed=3)
    points = tmp_path / "points.csv"
    pd.DataFrame(X, columns=["x", "y"]).to_csv(points, index=False)
    out = tmp_path / "out"
    cluster = [sys.executable, "-m", "napari_gmm", "cluster", str(points)]
    cluster += ["--out", str(out)]
    run = subprocess.run(
        [*cluster, "--k-max", "3", "--covariance-types", "all", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out / "criterion_table.csv")
    assert list(dict.fromkeys(table["model"])) == list(MODELS)
    assert len(table) == 14 * 3
    assert load_model(out / "model.json").model.n_components >= 1
    bad = subprocess.run(
        [*cluster, "--covariance-types", "full", "XYZ"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert "'XYZ'" in bad.stderr and "EVV" in bad.stderr and "'all'" in bad.stderr
