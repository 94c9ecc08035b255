"""Model files: JSON round trip and refusal of bad files."""

import json

import numpy as np
import pytest

from napari_gmm import sweep
from napari_gmm.core.model_io import (
    ModelFileError,
    load_model,
    model_to_dict,
    save_model,
)


@pytest.fixture(scope="module")
def small_result(seed_X):
    return sweep(seed_X, n_components=range(1, 4))


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag", "full"])
def test_round_trip_predicts_identically(
    tmp_path, seed_X, small_result, covariance_type
):
    model = small_result.model(3, covariance_type)
    path = save_model(
        tmp_path / "m.json", model, feature_names=["x", "y"], result=small_result
    )
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.model.predict(seed_X), model.predict(seed_X))
    # the loaded model recomputes its Cholesky factors: equal to rounding
    np.testing.assert_allclose(
        loaded.model.predict_proba(seed_X),
        model.predict_proba(seed_X),
        rtol=1e-12,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        loaded.model.score_samples(seed_X), model.score_samples(seed_X), rtol=1e-12
    )
    assert loaded.features["names"] == ["x", "y"]
    assert loaded.best_key == small_result.best_key
    assert loaded.criterion == "bic"
    np.testing.assert_array_equal(loaded.table["bic"], small_result.table["bic"])
    assert loaded.model.get_params()["random_state"] == 0


def test_standardization_is_stored(tmp_path, small_result):
    path = save_model(
        tmp_path / "m.json", small_result.best, center=[1.0, 2.0], scale=[3.0, 4.0]
    )
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.transform([[4.0, 6.0]]), [[1.0, 1.0]])


def test_failed_candidates_round_trip_as_infinite(tmp_path, rng):
    X = rng.normal(size=(3, 2))
    result = sweep(X, n_components=range(1, 5), covariance_types=["spherical"])
    path = save_model(tmp_path / "m.json", result.best, result=result)
    assert "Infinity" not in path.read_text()  # strict JSON
    loaded = load_model(path)
    assert np.isinf(loaded.table["bic"].iloc[-1])


def _corrupt(tmp_path, small_result, change):
    document = model_to_dict(small_result.best)
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(format="something else"), "not a napari-gmm model"),
        (lambda d: d.update(schema_version=99), "schema version 99"),
        (
            lambda d: d["model"].update(covariance_type="round"),
            "Unknown covariance_type",
        ),
        (lambda d: d["model"].update(means=[[0.0, 0.0]]), r"means has shape \(1, 2\)"),
        (lambda d: d["model"].update(weights=[0.9, 0.9]), "sum to 1"),
        (
            lambda d: d["model"]["covariances"][0][0].__setitem__(0, 99.0),
            "do not match",
        ),
        (lambda d: d["model"].update(means="hello"), "not an array of numbers"),
        (lambda d: d["features"].update(names=["only one"]), "must list 2 names"),
        (lambda d: d.pop("model"), "no model section"),
    ],
)
def test_corrupted_or_foreign_files_are_refused(tmp_path, small_result, change, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(_corrupt(tmp_path, small_result, change))


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(tmp_path / "x.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="JSON object"):
        load_model(tmp_path / "list.json")


def test_no_pickle_anywhere_in_the_package():
    from pathlib import Path

    import napari_gmm

    source = Path(napari_gmm.__file__).parent
    for path in source.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "joblib.load" not in text, path
