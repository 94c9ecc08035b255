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
        (lambda d: d["model"].update(estimator="os.system"), "model.estimator"),
        (lambda d: d["model"].update(converged="NaN"), "converged must be true"),
    ],
)
def test_corrupted_or_foreign_files_are_refused(tmp_path, small_result, change, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(_corrupt(tmp_path, small_result, change))


def test_an_estimator_name_that_is_not_a_string_is_refused(tmp_path, small_result):
    # found by test_properties: a list is unhashable, and the frozenset lookup
    # raised TypeError instead of ModelFileError
    path = _corrupt(
        tmp_path, small_result, lambda d: d["model"].update(estimator=["a", "b"])
    )
    with pytest.raises(ModelFileError, match=r"model\.estimator must be one of"):
        load_model(path)


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


# -- hostile files (issue #15): limits before allocation, factors checked ------


def _write(tmp_path, text, name="hostile.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(path, match):
    import time

    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match) as caught:
        load_model(path)
    assert time.perf_counter() - start < 2.0  # refused before any big work
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_declared_size_is_capped_before_anything_is_built(tmp_path, small_result):
    document = model_to_dict(small_result.best)
    model = document["model"]
    model.update(
        n_features=8000,
        covariance_type="spherical",
        means=[[0.0] * 8000] * model["n_components"],
    )
    _refused(_write(tmp_path, json.dumps(document)), "n_features is 8000")
    document["model"].update(n_features=2, n_components=10**6)
    _refused(_write(tmp_path, json.dumps(document)), "n_components is 1000000")


def test_deep_nesting_and_long_numbers_are_one_sentence(tmp_path):
    _refused(_write(tmp_path, "[" * 100_000 + "]" * 100_000), "levels deep")
    _refused(_write(tmp_path, "{" * 50 + "}" * 50), "levels deep")
    digits = '{"format": "napari-gmm model", "model": {"n_components": %s}}'
    _refused(_write(tmp_path, digits % ("9" * 5000)), r"model\.n_components .*5000")
    _refused(_write(tmp_path, digits % ("1." + "5" * 5000)), "5002 characters")
    # brackets and escaped quotes inside strings do not count as nesting
    from napari_gmm.core.model_io import _nesting_depth

    assert _nesting_depth('{"a": "[[[\\"[[", "b": [[1]]}') == 3
    assert _nesting_depth('"\\\\"[[') == 2


def test_a_file_beyond_the_size_limit_is_not_read(tmp_path, monkeypatch):
    from napari_gmm.core import model_io

    monkeypatch.setattr(model_io, "MAX_FILE_BYTES", 1000)
    _refused(_write(tmp_path, " " * 2000), "more than the 1,000")
    _refused(tmp_path, "is a folder")


def _with(small_result, covariance_type, change):
    document = model_to_dict(small_result.model(2, covariance_type))
    change(document["model"], document["features"])
    return json.dumps(document)


@pytest.mark.parametrize(
    ("covariance_type", "change", "match"),
    [
        (  # negated factors: log of a negative diagonal is NaN
            "full",
            lambda m, f: m.update(
                precisions_cholesky=(-np.array(m["precisions_cholesky"])).tolist()
            ),
            "positive diagonal",
        ),
        (
            "diag",
            lambda m, f: m.update(
                precisions_cholesky=(-np.array(m["precisions_cholesky"])).tolist()
            ),
            "must be positive",
        ),
        (  # a permutation matrix: P P^T = I, but not a Cholesky factor
            "tied",
            lambda m, f: m.update(
                precisions_cholesky=[[0.0, 1.0], [1.0, 0.0]],
                covariances=[[1.0, 0.0], [0.0, 1.0]],
            ),
            "positive diagonal",
        ),
        (  # lower instead of upper triangular
            "tied",
            lambda m, f: m.update(
                precisions_cholesky=[[1.0, 0.0], [0.5, 1.0]],
                covariances=np.linalg.inv(
                    np.array([[1.0, 0.0], [0.5, 1.0]]) @ [[1.0, 0.5], [0.0, 1.0]]
                ).tolist(),
            ),
            "upper triangular",
        ),
        (
            "spherical",
            lambda m, f: m.update(covariances=[1.0, 1.0]),
            "do not match",
        ),
        ("full", lambda m, f: f.update(scale=[1e-300, 1.0]), r"features\.scale"),
        ("full", lambda m, f: f.update(scale=[1e300, 1.0]), r"features\.scale"),
        ("full", lambda m, f: f.update(center=[1e200, 0.0]), r"features\.center"),
        ("full", lambda m, f: m.update(means=[[1e200, 0], [0, 0]]), r"model\.means"),
        (
            "full",
            lambda m, f: m.update(noise={"weight": 0.0, "volume": 1e-320}),
            r"model\.noise\.volume",
        ),
    ],
)
def test_damaged_factors_and_scales_are_refused(
    tmp_path, small_result, covariance_type, change, match
):
    path = _write(tmp_path, _with(small_result, covariance_type, change))
    _refused(path, match)


def test_apply_refuses_values_the_model_cannot_score(tmp_path, small_result):
    """A valid model on data 1e200 away: one line, exit 2, nothing written."""
    import pandas as pd

    from napari_gmm.cli import main

    model = save_model(
        tmp_path / "m.json",
        small_result.best,
        feature_names=["x", "y"],
        features_extra={"kind": "table"},
    )
    data = tmp_path / "far.csv"
    pd.DataFrame({"x": [1e200, 0.0], "y": [0.0, 1.0]}).to_csv(data, index=False)
    out = tmp_path / "out"
    assert main(["apply", str(model), str(data), "--out", str(out)]) == 2
    assert not out.exists()


def test_saving_replaces_the_file_whole_or_not_at_all(
    tmp_path, small_result, monkeypatch
):
    from napari_gmm.core import model_io

    path = save_model(tmp_path / "m.json", small_result.best)
    before = path.read_text()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, small_result.model(1, "full"))
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
