"""Every bad input gets one clear sentence, and inputs are never touched.

The GUI cases run real napari viewers (PyQt6 under Xvfb): the widgets emit
``sweep_failed(str)`` and show a napari notification; the API raises a
ValueError/TypeError with a message. docs/reliability.md lists every case
with the test that proves it.
"""

import dataclasses
import functools
import json

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from napari.utils.notifications import notification_manager

import napari_gmm
from napari_gmm import make_seed_example, points_feature_matrix, segment_image, sweep
from napari_gmm.core.model_io import (
    ModelFileError,
    load_model,
    model_to_dict,
    save_model,
)
from napari_gmm.core.pixels import compress_image
from napari_gmm.core.sweep import CandidateFit, select_best

PLUGIN = "napari-gmm"
POINTS_WIDGET = "Gaussian mixture selection"
IMAGE_WIDGET = "Segment image intensities"


# --------------------------------------------------------------------------
# helpers


@pytest.fixture
def notes():
    """Messages of the napari notifications shown during the test."""
    shown = []

    def record(event):
        shown.append(str(getattr(event, "message", event)))

    notification_manager.notification_ready.connect(record)
    yield shown
    notification_manager.notification_ready.disconnect(record)


def _failures(widget):
    failures = []
    widget.sweep_failed.connect(failures.append)
    return failures


def _outputs(viewer):
    return [layer for layer in viewer.layers if layer.metadata.get("napari_gmm")]


def _wait(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def _run(qtbot, widget, timeout=120_000):
    worker = widget.run()
    _wait(qtbot, widget, timeout)
    return worker


def _one_sentence(message: str) -> None:
    """A message for a person: one line, ends like a sentence, no traceback."""
    assert message and "\n" not in message and "Traceback" not in message
    assert message.rstrip().endswith((".", ")")), message


def _slow_points(n=200_000, seed=0):
    """Points on which a 10-component full sweep takes many seconds."""
    return np.random.default_rng(seed).normal(size=(n, 2))


# --------------------------------------------------------------------------
# Python API: one clear error, or a result that says what happened


@pytest.mark.parametrize(
    ("X", "kwargs", "error", "match"),
    [
        (np.ones((1, 2)), {}, ValueError, "single sample"),
        (np.array([[1 + 2j, 0], [3, 4]]), {}, TypeError, "complex"),
        (np.array([[1e200, 0.0], [0.0, 1.0]]), {}, ValueError, "Rescale"),
        (np.ones((5, 2)), {"n_components": None}, TypeError, "range"),
        (np.ones((5, 2)), {"n_components": "123"}, TypeError, "range"),
        (np.ones((5, 2)), {"n_components": [1.5]}, TypeError, "whole numbers"),
        (np.ones((5, 2)), {"covariance_types": None}, TypeError, "selection"),
        (np.ones((5, 2)), {"n_init": "two"}, TypeError, "integers"),
        (np.ones((5, 2)), {"init_params": "bogus"}, ValueError, "init_params"),
        (np.array([[np.inf, 0.0], [1.0, 2.0]]), {}, ValueError, "NaN or infinite"),
    ],
)
def test_sweep_refuses_bad_input_in_one_sentence(X, kwargs, error, match):
    before = X.copy()
    with pytest.raises(error, match=match) as caught:
        sweep(X, **kwargs)
    _one_sentence(str(caught.value))
    np.testing.assert_array_equal(X, before)


def test_fewer_points_than_components_are_skipped_and_said(rng):
    X = rng.normal(size=(4, 2))
    result = sweep(X, n_components=range(1, 7), covariance_types=["full", "diag"])
    table = result.table
    # K >= n: one sample per component leaves no spread to estimate (#15)
    skipped = table[table.n_components >= 4]
    assert len(skipped) == 6
    assert np.isinf(skipped.bic).all()
    assert skipped.message.str.contains("skipped: .* need at least").all()
    assert result.best_key[0] <= 3
    said = [m for m in result.messages if "skipped" in m]
    assert said == [
        "6 of 12 candidates (K=4 full, K=5 full, K=6 full, K=4 diag, K=5 diag, "
        "K=6 diag): skipped: as many components as samples or more (4 samples) "
        "(6\u00d7)."
    ]


@pytest.mark.parametrize("n_points", [2, 3, 4])
def test_a_few_points_never_choose_one_component_per_point(rng, n_points):
    X = rng.normal(size=(n_points, 2))
    result = sweep(X)  # K = 1..6
    assert result.best_key[0] < n_points
    assert sum("skipped" in m for m in result.messages) == 1


def test_identical_points_give_one_component_and_a_note():
    X = np.full((30, 2), 7.5)
    result = sweep(X, n_components=range(1, 4))
    assert result.best_key[0] == 1
    assert any("are identical" in m for m in result.messages)
    assert (napari_gmm.assign(result.best, X).labels == 1).all()


def test_duplicated_points_count_like_weights(rng):
    # a point repeated r times is one observation with weight r: same table
    distinct = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))]
    repeated = np.repeat(distinct, 3, axis=0)
    kwargs = {"n_components": range(1, 4), "covariance_types": ["full"]}
    plain = sweep(repeated, **kwargs)
    weighted = sweep(distinct, weights=np.full(len(distinct), 3.0), **kwargs)
    assert plain.best_key == weighted.best_key
    np.testing.assert_allclose(plain.table.bic, weighted.table.bic, rtol=1e-3)


def test_quantized_points_warn_about_collapsed_components(rng):
    # integer coordinates (e.g. from a spot detector): components collapse on
    # single grid points and BIC rewards the spikes; the sweep says so, and the
    # suggested covariance floor finds the two clusters
    X = np.round(np.r_[rng.normal(0, 0.5, (50, 2)), rng.normal(4, 0.5, (50, 2))])
    result = sweep(X, n_components=range(1, 7), preset="sklearn")
    assert any("collapsed onto a single value" in m for m in result.messages)
    floored = sweep(
        X, n_components=range(1, 7), covariance_floor=1 / 12, preset="sklearn"
    )
    assert floored.best_key[0] == 2
    assert not any("collapsed" in m for m in floored.messages)
    # the default preset marks such fits degenerate and chooses among the
    # others (up to K = 6 its starts find non-degenerate ends for every
    # candidate; with ~17 distinct points, K = 7..9 cannot all avoid a
    # collapse)
    default = sweep(X, n_components=range(1, 10))
    table = default.table
    assert table["degenerate"].any()
    assert not table.loc[table["selected"], "degenerate"].item()
    assert any("degenerate: component" in m for m in default.messages)


def test_a_constant_coordinate_is_reported(rng):
    # 3-D points that all lie in one z-plane: z carries no information
    X = np.column_stack([np.full(200, 4.0), rng.normal(size=(200, 2))])
    result = sweep(X, n_components=range(1, 3))
    assert any("[0] have the same value in every sample" in m for m in result.messages)


def test_linearly_dependent_features_are_reported(rng):
    # found in QA (session 10): an area in pixels and in square micrometres
    area = np.r_[rng.normal(100, 10, 100), rng.normal(200, 10, 100)]
    intensity = np.r_[rng.normal(5, 1, 100), rng.normal(8, 1, 100)]
    X = np.column_stack([area, area * 0.0425, intensity])
    result = sweep(X, n_components=range(1, 4))
    assert any("Features [0, 1] are linearly dependent" in m for m in result.messages)
    independent = sweep(X[:, [0, 2]], n_components=range(1, 4))
    assert not any("linearly dependent" in m for m in independent.messages)


def test_tiny_scale_data_warn_about_reg_covar(rng):
    X = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))] * 1e-6
    result = sweep(X, n_components=range(1, 4), preset="sklearn")
    # scikit-learn's absolute reg_covar (1e-6) dwarfs the data's variance: one
    # component, and it says so
    assert result.best_key[0] == 1
    assert any("reg_covar" in m and "standardize" in m for m in result.messages)
    standardized = points_feature_matrix(X, standardize=True).X
    sk = {"preset": "sklearn"}
    assert sweep(standardized, n_components=range(1, 4), **sk).best_key[0] == 2
    # the default preset regularizes relative to the data's scale
    assert sweep(X, n_components=range(1, 4)).best_key[0] == 2


def test_a_huge_offset_gives_the_same_choice_and_labels(seed_X, seed_result):
    # 1e9 from the origin, scikit-learn's variances vanish in rounding; the
    # sweep centres such data and finds the same model (found by
    # test_properties.py::test_sweep_returns_a_finite_choice_or_a_documented_error)
    far = sweep(seed_X + 1e9, n_components=range(1, 7))
    near = sweep(seed_X, n_components=range(1, 7))
    assert far.best_key == near.best_key == seed_result.best_key
    assert np.isfinite(far.table.bic).all()
    # (the offset costs the data themselves ~1e-7 of absolute precision; an
    # overfitted candidate on a flat ridge of the likelihood may then end
    # elsewhere along it, so all candidates agree to 1e-3, the choice to 1e-6)
    np.testing.assert_allclose(far.table.bic, near.table.bic, rtol=1e-3)
    assert far.best_row.bic == pytest.approx(near.best_row.bic, rel=1e-6)
    np.testing.assert_array_equal(
        napari_gmm.assign(far.best, seed_X + 1e9).labels,
        napari_gmm.assign(near.best, seed_X).labels,
    )


def test_a_non_converged_candidate_is_flagged_not_silently_chosen(seed_X):
    result = sweep(
        seed_X,
        n_components=[2, 6],
        covariance_types=["full"],
        max_iter=3,
        tol=1e-4,
        preset="sklearn",  # scikit-learn's EM: K=2 converges in 3 iterations
    )
    table = result.table.set_index("n_components")
    assert not table.loc[6, "converged"]
    assert "did not converge" in table.loc[6, "message"]
    assert table.loc[2, "converged"]
    assert result.best_key == (2, "full")  # the converged one


def _fit(k, bic, converged):
    return CandidateFit(
        index=0,
        total=2,
        n_components=k,
        covariance_type="full",
        model=object(),
        log_likelihood=0.0,
        n_parameters=k,
        bic=bic,
        aic=bic,
        icl=bic,
        converged=converged,
        n_iter=3,
        fit_time_s=0.0,
    )


def test_a_lower_but_non_converged_candidate_loses():
    converged, lower = _fit(2, 100.0, True), _fit(3, 50.0, False)
    best, notes = select_best([converged, lower], "bic")
    assert best is converged and notes == []
    best, notes = select_best([lower], "bic")
    assert best is lower and "No candidate converged" in notes[0]


def test_points_feature_matrix_refuses_bad_axes_and_text():
    with pytest.raises(TypeError, match="Coordinate axes must be integers"):
        points_feature_matrix(np.zeros((4, 2)), coordinate_dims=[0.5])
    with pytest.raises(TypeError, match="must be numbers"):
        points_feature_matrix(np.array([["a", "b"], ["c", "d"]]))


def test_standardizing_huge_values_does_not_overflow(rng):
    raw = rng.normal(size=(500, 2)) * 1e300
    matrix = points_feature_matrix(raw, standardize=True)
    assert np.isfinite(matrix.X).all() and np.isfinite(matrix.scale).all()
    np.testing.assert_allclose(matrix.X.std(axis=0), 1.0)
    np.testing.assert_allclose(matrix.to_raw(matrix.X), raw, rtol=1e-9)


def test_integer_column_names_can_be_chosen():
    features = pd.DataFrame({0: [1.0, 2.0, 3.0], "size": [4.0, 5.0, 6.0]})
    matrix = points_feature_matrix(
        np.zeros((3, 2)), features, coordinate_dims=(), columns=[0, "size"]
    )
    np.testing.assert_array_equal(matrix.X, [[1, 4], [2, 5], [3, 6]])
    assert matrix.names == ("0", "size")


# images


def _two_class_image(seed=0, shape=(40, 40)):
    rng = np.random.default_rng(seed)
    image = np.where(rng.random(shape) > 0.5, 100, 20) + rng.integers(0, 5, shape)
    return image.astype(np.uint8)


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.full((20, 20), 5, np.uint8), {}, ValueError, "single distinct value"),
        (np.full((20, 20), np.nan), {}, ValueError, "no finite value"),
        (
            _two_class_image(),
            {"mask": np.zeros((40, 40), bool)},
            ValueError,
            "no pixel",
        ),
        (_two_class_image(), {"mask": np.ones((10, 10), bool)}, ValueError, "shape"),
        (_two_class_image(), {"mask": np.ones((40, 40))}, TypeError, "mask > 0.5"),
        (np.arange(10), {}, ValueError, "two spatial axes"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "not supported"),
        (
            np.where(_two_class_image() > 50, 1e200, 0.0),
            {},
            ValueError,
            "Rescale",
        ),
    ],
)
def test_segment_image_refuses_bad_input_in_one_sentence(image, kwargs, error, match):
    before = image.copy()
    with pytest.raises(error, match=match) as caught:
        segment_image(image, n_components=range(1, 4), **kwargs)
    _one_sentence(str(caught.value))
    np.testing.assert_array_equal(image, before)


def test_odd_image_dtypes_segment_in_the_same_classes():
    base = _two_class_image()
    # K up to 2: each class is uniform over 5 levels, so a third component
    # splits one of them somewhere on a flat likelihood, which rounding of the
    # variants may move; the two classes themselves are unambiguous
    reference = segment_image(base, n_components=range(1, 3)).labels
    for variant in (
        base.astype(np.float32),
        base.astype(np.float64) - 1000.0,  # negative
        base.astype(np.float64) + 1e9,  # huge offset
        base.astype(np.int64) + 10**12,
        base.astype(np.uint16),
    ):
        labels = segment_image(variant, n_components=range(1, 3)).labels
        np.testing.assert_array_equal(labels, reference)
    bool_labels = segment_image(base > 50, n_components=range(1, 3)).labels
    np.testing.assert_array_equal(bool_labels, (base > 50) + 1)


def test_few_distinct_values_skip_impossible_candidates():
    image = np.random.default_rng(0).choice([10, 50, 200], size=(30, 30))
    result = segment_image(image.astype(np.uint8), n_components=range(1, 6))
    assert result.n_classes == 3
    assert any(
        "skipped: more components than the 3 rows with positive weight" in m
        for m in result.sweep.messages
    )


def test_nan_pixels_are_label_zero_and_counted_as_excluded():
    image = _two_class_image().astype(float)
    image[:5] = np.nan
    result = segment_image(image, n_components=range(1, 4))
    assert (result.labels[:5] == 0).all() and (result.labels[5:] > 0).all()
    assert "200 NaN/inf pixels excluded" in result.histogram.description


def test_four_d_and_time_series_images_keep_their_shape():
    frames = np.stack([_two_class_image(seed) for seed in range(6)])
    stack = frames.reshape(2, 3, 40, 40)
    result = segment_image(stack, n_components=range(1, 4))
    assert result.labels.shape == stack.shape
    lazy = segment_image(
        da.from_array(stack, chunks=(1, 1, 20, 20)), n_components=range(1, 4)
    )
    assert isinstance(lazy.labels, da.Array)
    np.testing.assert_array_equal(np.asarray(lazy.labels), result.labels)


def test_compress_image_leaves_the_image_and_mask_alone():
    image = _two_class_image().astype(float)
    image[0, 0] = np.nan
    mask = np.ones(image.shape, dtype=bool)
    mask[:3] = False
    image_before, mask_before = image.copy(), mask.copy()
    compress_image(image, mask=mask, smoothing_sigma=1.0, log_transform=True)
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(mask, mask_before)


# model files


@pytest.fixture(scope="module")
def small_fit():
    X = make_seed_example()
    return X, sweep(X, n_components=[1, 2], covariance_types=["diag"])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not valid JSON"),
        (b'{"format": "napari-gmm model", "schema_version": 1, "mod', "not valid JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "Cannot read model file"),
        (b'{"format": "sklearn pickle"}', "not a napari-gmm model"),
        (b"null", "JSON object"),
    ],
)
def test_corrupted_or_foreign_bytes_are_refused(tmp_path, content, match):
    path = tmp_path / "model.json"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match) as caught:
        load_model(path)
    _one_sentence(str(caught.value))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["model"].update(n_iter="many"), "n_iter must be a number"),
        (lambda d: d["model"].update(lower_bound=[1]), "lower_bound must be a number"),
        (lambda d: d["model"].update(n_components=True), "positive integers"),
        (lambda d: d["selection"].update(best_key=["x", "full"]), r"best_key\[0\]"),
        (lambda d: d["selection"].update(best_key=[2, "round"]), "best_key"),
        (lambda d: d["selection"]["table"].update(bic=[[1], [2]]), "table.bic"),
        (lambda d: d["model"].update(shift=[1.0]), r"shift has shape \(1,\)"),
    ],
)
def test_damaged_fields_are_refused_with_the_field_name(
    tmp_path, small_fit, change, match
):
    _, result = small_fit
    document = model_to_dict(result.best, result=result)
    change(document)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_a_model_fitted_far_from_the_origin_round_trips(tmp_path, seed_X):
    far = seed_X + 1e9
    result = sweep(far, n_components=[2], covariance_types=["diag"])
    assert result.best.shift_ is not None
    path = save_model(tmp_path / "far.json", result.best)
    loaded = load_model(path).model
    np.testing.assert_array_equal(loaded.predict(far), result.best.predict(far))
    np.testing.assert_allclose(
        loaded.score_samples(far), result.best.score_samples(far), rtol=1e-12
    )


# --------------------------------------------------------------------------
# Points widget in a real viewer


def test_gui_one_point_is_one_sentence_and_no_worker(points_widget, notes):
    viewer, widget = points_widget
    layer = viewer.add_points([[3.0, 4.0]], name="lonely")
    failures = _failures(widget)
    assert widget.run() is None and not widget.is_running
    assert failures == [
        "X has a single sample; a Gaussian mixture needs at least 2 samples."
    ]
    assert failures[0] in notes
    assert _outputs(viewer) == []
    np.testing.assert_array_equal(layer.data, [[3.0, 4.0]])


def test_gui_nan_coordinates_are_one_sentence(points_widget, notes):
    # (napari itself cannot draw infinite coordinates; the API refuses them,
    # see test_sweep_refuses_bad_input_in_one_sentence)
    viewer, widget = points_widget
    data = make_seed_example()[:50].copy()
    data[7, 1] = np.nan
    layer = viewer.add_points(data, name="holes")
    failures = _failures(widget)
    assert widget.run() is None
    assert len(failures) == 1 and "NaN or infinite" in failures[0]
    assert "axis 1" in failures[0]
    _one_sentence(failures[0])
    assert failures[0] in notes
    assert _outputs(viewer) == []
    np.testing.assert_array_equal(layer.data, data)


def test_gui_fewer_points_than_k_skips_and_says_so(points_widget, qtbot, notes):
    viewer, widget = points_widget
    viewer.add_points([[0.0, 0.0], [0.0, 5.0], [5.0, 0.0], [5.0, 5.1]], name="few")
    widget.form.k_max.value = 6
    _run(qtbot, widget)
    table = widget.last_result.table
    skipped = table[table.n_components >= 4]
    assert len(skipped) == 12 and skipped.message.str.startswith("skipped").all()
    assert widget.last_result.best_key[0] <= 3
    # one notification, not one per candidate (#15)
    assert len(notes) == 1 and "12 of 24 candidates" in notes[0]
    assert widget.controls.progress.native.format() == "12 fitted, 12 skipped of %m"
    assert len(viewer.layers["few labels"].data) == 4


def test_gui_identical_points_give_one_component_and_a_note(
    points_widget, qtbot, notes
):
    viewer, widget = points_widget
    viewer.add_points(np.full((25, 2), 3.0), name="stack")
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    assert widget.last_result.best_key[0] == 1
    assert set(viewer.layers["stack labels"].features["label"]) == {1}
    assert any("All 25 samples are identical" in note for note in notes)
    assert "1 cluster," in widget.controls.status.value


def test_gui_huge_offset_points_cluster_like_the_originals(points_widget, qtbot):
    viewer, widget = points_widget
    X = make_seed_example()
    viewer.add_points(X, name="near")
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    near = viewer.layers["near labels"].features["label"].to_numpy()
    # (napari's own dims slider overflows beyond 2**31, so 1e7 here; the API
    # is tested at 1e9 in test_a_huge_offset_gives_the_same_choice_and_labels)
    viewer.add_points(X + 1e7, name="far")
    widget.inputs.layer.value = viewer.layers["far"]
    _run(qtbot, widget)
    far = viewer.layers["far labels"].features["label"].to_numpy()
    np.testing.assert_array_equal(far, near)
    assert widget.last_result.best_key == (2, "full")


def test_gui_tiny_scale_points_get_a_note(points_widget, qtbot, notes):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example() * 1e-6, name="tiny")
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    # the default preset regularizes relative to the data's scale: the two
    # clusters are found, and nothing needs saying about reg_covar
    assert not any("reg_covar" in note for note in notes)
    labels = next(lr for lr in viewer.layers if lr.name.startswith("tiny "))
    assert sorted(labels.features["label"].value_counts()) == [500, 500]


def test_gui_integer_points_warn_about_collapsed_components(
    points_widget, qtbot, notes
):
    viewer, widget = points_widget
    rng = np.random.default_rng(0)
    spots = np.round(np.r_[rng.normal(0, 0.5, (50, 2)), rng.normal(4, 0.5, (50, 2))])
    viewer.add_points(spots, name="spots")
    _run(qtbot, widget)
    # integer coordinates get the quantization floor (step**2 / (2 pi)): no
    # collapsed components, no split into grid rows, the two clusters are
    # found
    assert not any("collapsed onto a single value" in note for note in notes)
    labels = next(lr for lr in viewer.layers if lr.name.startswith("spots "))
    assert sorted(labels.features["label"].value_counts()) == [50, 50]


def test_gui_four_d_points_cluster_without_ellipses(points_widget, qtbot):
    viewer, widget = points_widget
    rng = np.random.default_rng(1)
    data = np.r_[rng.normal(0, 1, (100, 4)), rng.normal(6, 1, (100, 4))]
    data[:, 0] = np.round(data[:, 0] * 0)  # time axis: all in frame 0
    data[:, 0] = rng.integers(0, 3, 200)  # three frames of a time series
    viewer.add_points(data, name="tzyx")
    widget.form.k_max.value = 3
    _run(qtbot, widget)
    labels = viewer.layers["tzyx labels"]
    assert labels.ndim == 4 and len(labels.data) == 200
    assert sorted(labels.features["label"].value_counts()) == [100, 100]
    assert "tzyx ellipses" not in viewer.layers
    assert "No ellipses" in widget.controls.status.value


def test_gui_run_while_running_is_refused(points_widget, qtbot, notes):
    viewer, widget = points_widget
    viewer.add_points(_slow_points(), name="many")
    widget.form.k_max.value = 10
    failures = _failures(widget)
    first = widget.run()
    assert first is not None and widget.is_running
    assert widget.run() is None  # pressed again while fitting
    assert failures == ["A fit is already running; press Cancel first."]
    assert failures[0] in notes
    widget.cancel()
    _wait(qtbot, widget, timeout=30_000)
    assert _outputs(viewer) == []


def _explode_after_one(real, error):
    """A core generator that yields one candidate, then raises ``error``."""

    def exploding(*args, **kwargs):
        fits = real(*args, **kwargs)
        yield next(fits)
        raise error

    return exploding


def test_gui_worker_error_leaves_no_half_made_layer(
    points_widget, qtbot, notes, monkeypatch
):
    viewer, widget = points_widget
    X = make_seed_example()
    layer = viewer.add_points(X, name="spots")
    import napari_gmm._points_model as points_module

    monkeypatch.setattr(
        points_module,
        "iter_sweep",
        _explode_after_one(points_module.iter_sweep, MemoryError("out of memory")),
    )
    failures = _failures(widget)
    _run(qtbot, widget)
    assert failures == ["The fit failed: out of memory"]
    assert failures[0] in notes
    assert _outputs(viewer) == [] and len(viewer.layers) == 1
    np.testing.assert_array_equal(layer.data, X)
    controls = widget.controls
    assert controls.run_button.enabled and not controls.cancel_button.enabled


def test_gui_non_converged_candidates_are_flagged(
    points_widget, qtbot, notes, monkeypatch
):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    import napari_gmm._points_model as points_module

    # the form has no max_iter: give the core 3 iterations so that some fail
    monkeypatch.setattr(
        points_module,
        "iter_sweep",
        functools.partial(points_module.iter_sweep, max_iter=3, tol=1e-4),
    )
    _run(qtbot, widget)
    result = widget.last_result
    table = result.table
    assert not table.converged.all() and table.converged.any()
    assert result.best_row.converged  # never a non-converged one when others are
    flagged = table[~table.converged]
    assert flagged.message.str.contains("did not converge").all()
    # one notification counting them, with advice the form can follow (#15)
    assert len(notes) == 1
    assert f"{len(flagged)} of 24 candidates" in notes[0]
    assert "did not converge" in notes[0] and "max_iter or tol" not in notes[0]


def test_gui_runtime_error_in_the_worker_ends_the_run(
    points_widget, qtbot, monkeypatch
):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    import napari_gmm._points_model as points_module

    monkeypatch.setattr(
        points_module,
        "iter_sweep",
        _explode_after_one(points_module.iter_sweep, RuntimeError("joblib broke")),
    )
    failures = _failures(widget)
    widget.run()
    _wait(qtbot, widget, timeout=10_000)
    assert failures == ["The fit failed: joblib broke"]
    assert _outputs(viewer) == []


@pytest.mark.parametrize("kind", ["points", "image"])
def test_gui_viewer_closed_during_fit_does_not_crash(make_napari_viewer, qtbot, kind):
    viewer = make_napari_viewer()
    if kind == "points":
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, POINTS_WIDGET)
        viewer.add_points(_slow_points(), name="many")
        widget.form.k_max.value = 10
    else:
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, IMAGE_WIDGET)
        viewer.add_image(_slow_rgb(), name="noise", rgb=True)
        widget.form.k_max.value = 8
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.controls.progress.value >= 1, timeout=60_000)
    viewer.close()
    try:
        # closing the viewer must stop the fit (within one EM iteration) and
        # deliver the worker's last signals without touching deleted widgets
        qtbot.waitUntil(lambda: not worker.is_running, timeout=20_000)
        qtbot.wait(300)
    finally:  # hygiene while the bug is there: stop the thread in this test
        widget.model.stop()
        qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
        qtbot.wait(300)


def test_gui_corrupted_model_file_is_one_sentence(points_widget, tmp_path, notes):
    viewer, widget = points_widget
    layer = viewer.add_points(make_seed_example(), name="spots")
    failures = _failures(widget)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "napari-gmm model", "schema_ver')
    assert widget.apply_model(path=str(broken)) is None
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"format": "ilastik project"}))
    assert widget.apply_model(path=str(foreign)) is None
    assert "not valid JSON" in failures[0]
    assert "not a napari-gmm model file" in failures[1]
    for failure in failures:
        _one_sentence(failure)
        assert failure in notes
    assert _outputs(viewer) == [] and len(viewer.layers) == 1
    assert "napari_gmm" not in layer.metadata


def test_gui_model_file_with_bad_axes_is_refused(points_widget, tmp_path, small_fit):
    viewer, widget = points_widget
    X, result = small_fit
    viewer.add_points(X, name="spots")
    path = save_model(
        tmp_path / "axes.json",
        result.best,
        features_extra={
            "kind": "points",
            "coordinate_dims": ["x", 0.5],
            "columns": [],
        },
    )
    failures = _failures(widget)
    assert widget.apply_model(path=str(path)) is None
    assert len(failures) == 1 and "coordinate_dims" in failures[0]
    assert _outputs(viewer) == []


# --------------------------------------------------------------------------
# Image widget in a real viewer


def _slow_rgb(seed=0):
    """An RGB float image with ~360,000 distinct colours: a slow sweep."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(600, 600, 3)).astype(np.float32)


def _run_image(qtbot, widget, timeout=120_000):
    worker = widget.run()
    assert worker is not None
    _wait(qtbot, widget, timeout)


def test_gui_image_bool_negative_float_and_nan_pixels(image_widget, qtbot):
    viewer, widget = image_widget
    base = _two_class_image()
    holes = base.astype(np.float64)
    holes[:5] = np.nan
    widget.form.k_max.value = 2  # see test_odd_image_dtypes_segment_in_the_same_classes
    cases = {
        "mask-like": base > 50,  # bool layer
        "negative": base.astype(np.float64) - 1000.0,
        "with holes": holes,
    }
    for name, data in cases.items():
        layer = viewer.add_image(data, name=name)
        before = layer.data.copy()
        widget.inputs.images.value = [layer]
        _run_image(qtbot, widget)
        labels = np.asarray(viewer.layers[f"{name} classes"].data)
        # what the API gives, pixel for pixel
        expected = segment_image(data, n_components=range(1, 3)).labels
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(layer.data, before)  # input untouched
    np.testing.assert_array_equal(
        viewer.layers["mask-like classes"].data, (base > 50) + 1
    )
    holes_labels = np.asarray(viewer.layers["with holes classes"].data)
    assert (holes_labels[:5] == 0).all() and (holes_labels[5:] > 0).all()


def test_gui_image_four_d_and_few_distinct_values(image_widget, qtbot, notes):
    viewer, widget = image_widget
    rng = np.random.default_rng(0)
    data = rng.choice([10, 50, 200], size=(2, 3, 30, 30)).astype(np.uint16)
    viewer.add_image(data, name="tczyx")
    widget.form.k_max.value = 5
    _run_image(qtbot, widget)
    labels = np.asarray(viewer.layers["tczyx classes"].data)
    assert labels.shape == data.shape
    assert widget.last_result.n_classes == 3
    np.testing.assert_array_equal(labels, np.searchsorted([10, 50, 200], data) + 1)
    skipped = widget.last_result.table.message.str.startswith("skipped")
    assert skipped.sum() == 8  # K = 4, 5 for the four covariance types
    assert len(notes) == 1 and "8 of 20 candidates" in notes[0]


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros((40, 40), np.uint8), "mask selects no pixel"),
        (np.ones((20, 20), np.uint8), "mask has shape (20, 20)"),
        ("no shapes", "has no shapes"),
    ],
)
def test_gui_image_bad_masks_are_one_sentence(
    image_widget, qtbot, notes, mask, message
):
    viewer, widget = image_widget
    image = viewer.add_image(_two_class_image(), name="img")
    if isinstance(mask, str):
        viewer.add_shapes(name="roi")
    else:
        viewer.add_labels(mask, name="roi")
    widget.inputs.images.value = [image]
    widget.inputs.mask.value = viewer.layers["roi"]
    failures = _failures(widget)
    if widget.run() is not None:  # the core finds out in the worker
        _wait(qtbot, widget)
    assert len(failures) == 1 and message in failures[0]
    assert failures[0] in notes
    assert _outputs(viewer) == []


def test_gui_image_run_while_running_and_cancel(image_widget, qtbot, notes):
    viewer, widget = image_widget
    layer = viewer.add_image(_slow_rgb(), name="noise", rgb=True)
    before = layer.data.copy()
    widget.form.k_max.value = 8
    failures = _failures(widget)
    assert widget.run() is not None
    assert widget.run() is None
    assert failures == ["A fit is already running; press Cancel first."]
    qtbot.waitUntil(lambda: widget.controls.progress.value >= 1, timeout=60_000)
    widget.controls.cancel_button.native.click()
    _wait(qtbot, widget, timeout=30_000)
    assert failures[-1] == "Cancelled; no layer was changed."
    assert widget.controls.status.value == failures[-1]
    # the user pressed Cancel: the status line says it, no pop-up over the
    # canvas (which would make it redraw)
    assert failures[-1] not in notes
    assert _outputs(viewer) == []
    np.testing.assert_array_equal(layer.data, before)
    controls = widget.controls
    assert controls.run_button.enabled and not controls.cancel_button.enabled


def test_gui_image_layer_deleted_during_fit(image_widget, qtbot):
    viewer, widget = image_widget
    viewer.add_image(_two_class_image(), name="img")
    widget.form.k_max.value = 3
    failures = _failures(widget)
    assert widget.run() is not None
    viewer.layers.remove("img")
    _wait(qtbot, widget)
    assert failures and "was removed during the fit" in failures[0]
    assert len(viewer.layers) == 0


def test_gui_image_worker_error_leaves_no_half_made_layer(
    image_widget, qtbot, notes, monkeypatch
):
    viewer, widget = image_widget
    layer = viewer.add_image(_two_class_image(), name="img")
    before = layer.data.copy()
    import napari_gmm._image_model as image_module

    monkeypatch.setattr(
        image_module,
        "iter_segment_image",
        _explode_after_one(
            image_module.iter_segment_image, MemoryError("out of memory")
        ),
    )
    failures = _failures(widget)
    _run_image(qtbot, widget)
    assert failures == ["The fit failed: out of memory"]
    assert failures[0] in notes
    assert _outputs(viewer) == [] and len(viewer.layers) == 1
    np.testing.assert_array_equal(layer.data, before)


def test_gui_image_model_for_points_is_refused(image_widget, tmp_path, small_fit):
    viewer, widget = image_widget
    _, result = small_fit
    viewer.add_image(_two_class_image(), name="img")
    path = save_model(
        tmp_path / "points.json", result.best, features_extra={"kind": "points"}
    )
    failures = _failures(widget)
    assert widget.apply_model(path=str(path)) is None
    assert len(failures) == 1 and "for points, not for images" in failures[0]
    assert _outputs(viewer) == []


@pytest.mark.parametrize(
    ("preprocessing", "message"),
    [
        ({}, "fitted on 2 channel(s) but the image has 1"),
        ({"smoothing_sigma": "lots"}, "preprocessing.smoothing_sigma must be"),
        ({"log_transform": "yes"}, "preprocessing.log_transform must be"),
        ({"n_bins": -3}, "preprocessing.n_bins must be"),
    ],
)
def test_gui_image_model_that_does_not_fit_the_image_is_refused(
    image_widget, tmp_path, small_fit, notes, preprocessing, message
):
    viewer, widget = image_widget
    _, result = small_fit  # a 2-feature model
    layer = viewer.add_image(_two_class_image(), name="img")
    path = save_model(
        tmp_path / "image.json",
        result.best,
        features_extra={"kind": "image"},
        preprocessing=preprocessing,
    )
    failures = _failures(widget)
    assert widget.apply_model(path=str(path)) is None
    assert len(failures) == 1 and message in failures[0]
    _one_sentence(failures[0])
    assert failures[0] in notes
    assert _outputs(viewer) == []
    assert "napari_gmm" not in layer.metadata


def test_gui_error_while_drawing_the_result_is_one_sentence(
    points_widget, qtbot, monkeypatch
):
    viewer, widget = points_widget
    viewer.add_points(make_seed_example(), name="spots")
    widget.form.k_max.value = 2
    import napari_gmm._qt.points_outputs as points_module

    def cannot_draw(*args, **kwargs):
        raise ValueError("cannot draw the ellipses")

    monkeypatch.setattr(points_module, "ellipses_layer", cannot_draw)
    failures = _failures(widget)
    _run(qtbot, widget)
    assert len(failures) == 1 and "cannot draw the ellipses" in failures[0]
    assert _outputs(viewer) == []  # no labels layer without its ellipses


# --------------------------------------------------------------------------
# docs/reliability.md points to tests that exist


def test_reliability_doc_names_real_tests():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "reliability.md").read_text(encoding="utf-8")
    references = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len({name for _, name in references}) >= 20
    for path, name in references:
        source = (root / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), (path, name)
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and "`tests/" in line
    ]
    assert len(rows) >= 20


# -- second round (#15): hostile settings, collapsed messages, few points ------


def test_gui_two_points_are_one_note_with_advice_the_widget_can_follow(
    points_widget, qtbot, notes
):
    viewer, widget = points_widget
    viewer.add_points([[0.0, 0.0], [3.0, 4.0]], name="two")
    widget.form.k_max.value = 6
    _run(qtbot, widget)
    assert widget.last_result.best_key[0] == 1
    assert len(notes) == 1  # was 17 pop-ups
    assert "20 of 24 candidates" in notes[0]
    # advice (not the description of what happened) names only the form
    for api_only in ("covariance_floor", "reg_covar,", "lower reg_covar"):
        assert api_only not in notes[0]
    assert "increase max_iter" not in notes[0].lower()
    assert widget.controls.progress.native.format() == "4 fitted, 20 skipped of %m"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reg_covar": np.inf}, "reg_covar a finite number"),
        ({"tol": np.inf}, "tol must be a finite number"),
        ({"tol": -1.0}, "tol must be a finite number"),
        ({"reg_covar": np.nan}, "reg_covar a finite number"),
        ({"n_init": 10**9}, "n_init must be <= 1000"),
        ({"max_iter": 10**12}, "max_iter <= 1000000"),
    ],
)
def test_unbounded_sweep_settings_are_one_sentence(rng, kwargs, match):
    X = rng.normal(size=(50, 2))
    with pytest.raises(ValueError, match=match) as caught:
        sweep(X, **kwargs)
    _one_sentence(str(caught.value))
    assert len(str(caught.value)) < 300


def test_cv_with_zero_weights_is_refused_up_front(rng):
    X = rng.normal(size=(6, 2))
    weights = np.array([0, 0, 0, 0, 5, 3])
    with pytest.raises(ValueError, match="at least 5 rows with positive weight"):
        sweep(X, weights=weights, criterion="cv")
    # enough positive rows, but a fold may be empty by chance: no error
    weights = np.array([1, 1, 1, 1, 1, 1])
    result = sweep(X, weights=weights, criterion="cv", n_components=[1], cv_folds=5)
    assert result.best_key[0] == 1


def test_when_every_candidate_fails_the_reasons_are_counted_once():
    from napari_gmm.core.sweep import select_best

    result = sweep(np.random.default_rng(0).normal(size=(20, 2)))
    fits = []
    for key in result.table.itertuples():
        fits.append(
            dataclasses.replace(
                _fake_fit(key.n_components, key.covariance_type),
                message="failed: the same thing went wrong",
            )
        )
    with pytest.raises(ValueError) as caught:
        select_best(fits, "bic")
    assert str(caught.value) == (
        "No candidate could be fitted; all 24 candidates failed: the same thing "
        "went wrong (24\u00d7)."
    )


def _fake_fit(k, covariance_type):
    from napari_gmm.core.sweep import CandidateFit

    return CandidateFit(
        index=0,
        total=24,
        n_components=k,
        covariance_type=covariance_type,
        model=None,
        log_likelihood=float("nan"),
        n_parameters=1,
        bic=float("inf"),
        aic=float("inf"),
        icl=float("inf"),
        converged=False,
        n_iter=0,
        fit_time_s=0.0,
    )


@pytest.mark.parametrize("sigma", [1e12, 1e5, 33.0, [1.0, 1e9]])
def test_smoothing_wider_than_the_image_is_refused_at_once(sigma):
    import time

    image = np.random.default_rng(0).normal(size=(64, 64))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="larger than half the image") as caught:
        segment_image(image, smoothing_sigma=sigma, n_components=range(1, 3))
    assert time.perf_counter() - start < 1.0
    _one_sentence(str(caught.value))


def test_float_image_spanning_the_float_range_is_one_sentence():
    image = np.full((32, 32), -1e308)
    image[:, 16:] = 1e308
    with pytest.raises(ValueError, match="Rescale the image") as caught:
        segment_image(image)
    _one_sentence(str(caught.value))


def test_the_automatic_floor_is_for_coordinates_not_wide_tables(rng):
    # integer spots in 2-D get the floor (recorded in the settings); a table
    # of more than FLOOR_MAX_FEATURES integer scores is fitted as continuous
    # data, as mclust and scikit-learn fit it
    from napari_gmm.core.candidate import FLOOR_MAX_FEATURES, quantization_floor

    spots = np.round(np.r_[rng.normal(0, 0.5, (50, 2)), rng.normal(4, 0.5, (50, 2))])
    floor = quantization_floor(spots)
    np.testing.assert_allclose(floor, [1 / (2 * np.pi)] * 2)
    result = sweep(spots, n_components=range(1, 4))
    np.testing.assert_allclose(result.settings["quantization_floor"], floor)
    scores = np.clip(np.round(rng.normal(4, 2, (300, FLOOR_MAX_FEATURES + 1))), 1, 10)
    assert quantization_floor(scores[:, :FLOOR_MAX_FEATURES]) is not None
    assert quantization_floor(scores) is None
    unfloored = sweep(scores, n_components=range(1, 3))
    assert "quantization_floor" not in unfloored.settings
