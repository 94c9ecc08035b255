"""Property-based tests of the core: odd inputs never crash, results hold up.

Every test draws random shapes, dtypes, scales (1e-6..1e6), huge offsets
(1e9), duplicates and weights, and checks that the core either returns a
sound result or raises one of its documented errors (ValueError/TypeError
with a message), and that it never modifies its inputs. Bounded
(``max_examples`` 25-50, no deadline) so the whole file takes well under a
minute.
"""

import contextlib
import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import napari_gmm
from napari_gmm import WeightedGaussianMixture, points_feature_matrix, segment_image
from napari_gmm.core.criteria import COVARIANCE_TYPES
from napari_gmm.core.geometry import full_covariances
from napari_gmm.core.model_io import ModelFileError, model_from_dict, model_to_dict
from napari_gmm.core.pixels import compress_image

# (derandomized for every test by the profile tests/conftest.py loads)
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCALES = (1e-6, 1e-3, 1.0, 1e3, 1e6)
OFFSETS = (0.0, 1e3, -1e6, 1e9, -1e9)


def _documented(err: Exception) -> None:
    """The core's errors are ValueError/TypeError with a real message."""
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    message = str(err)
    assert len(message) > 15, message
    assert "Traceback" not in message


@contextlib.contextmanager
def _quiet():
    """Silence the numerical warnings scikit-learn emits on odd data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# --------------------------------------------------------------------------
# sweep


@st.composite
def point_sets(draw):
    """(X, weights) with random shape, dtype, scale, offset and duplicates."""
    n_distinct = draw(st.integers(1, 30))
    n_features = draw(st.integers(1, 3))
    scale = draw(st.sampled_from(SCALES))
    offset = draw(st.sampled_from(OFFSETS))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(draw(st.integers(1, 3)), n_features)) * 5
    rows = centres[rng.integers(0, len(centres), n_distinct)]
    rows = rows + rng.normal(size=rows.shape)
    repeats = draw(st.integers(1, 4))  # duplicates: every row `repeats` times
    X = np.repeat(rows, repeats, axis=0) * scale + offset
    if draw(st.booleans()):  # all points identical
        X = np.repeat(X[:1], len(X), axis=0)
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool"]))
    if dtype == "bool":
        X = np.greater(X, np.median(X))
    elif dtype == "int64":
        X = np.round(X).astype(np.int64)
    else:
        X = X.astype(dtype)
    weights = None
    if draw(st.booleans()):
        weights = rng.integers(0, 5, len(X)).astype(float)
        if not weights.any():
            weights[0] = 1.0
    return X, weights


@FAST
@given(
    data=point_sets(),
    k_max=st.integers(1, 4),
    types=st.lists(st.sampled_from(COVARIANCE_TYPES), min_size=1, unique=True),
    cancellable=st.booleans(),
)
# found by this test: scikit-learn's variances vanish 1e12 spreads from 0
@example(
    data=(1e-6 * np.arange(18.0).reshape(-1, 1) - 1e6, None),
    k_max=1,
    types=["spherical"],
    cancellable=False,
)
def test_sweep_returns_a_finite_choice_or_a_documented_error(
    data, k_max, types, cancellable
):
    X, weights = data
    X_before = X.copy()
    weights_before = None if weights is None else weights.copy()
    with _quiet():
        try:
            result = napari_gmm.sweep(
                X,
                n_components=range(1, k_max + 1),
                covariance_types=types,
                weights=weights,
                cancel=(lambda: False) if cancellable else None,
            )
        except (ValueError, TypeError) as err:
            _documented(err)
            # valid data (>= 2 rows) within 1e-6..1e9 must always be fitted
            assert len(X) < 2, err
            return
        finally:
            np.testing.assert_array_equal(X, X_before)  # input untouched
            if weights is not None:
                np.testing.assert_array_equal(weights, weights_before)
    table = result.table
    best = result.best_row
    assert np.isfinite(best[result.criterion])
    assert best.converged or any("converged" in m for m in result.messages)
    fitted = table[np.isfinite(table["bic"])]
    assert set(zip(fitted.n_components, fitted.covariance_type, strict=True)) <= set(
        result.models
    )
    # every candidate is fitted with a finite BIC or says why not
    for row in table.itertuples():
        assert np.isfinite(row.bic) or row.message, row
    # the choice has the lowest criterion, up to the tie tolerance, among the
    # candidates it may be chosen from: not degenerate (by default) unless
    # every one is, then converged unless none is (the documented rule)
    value = best[result.criterion]
    eligible = table[np.isfinite(table[result.criterion])]
    if (~eligible["degenerate"]).any():
        eligible = eligible[~eligible["degenerate"]]
    if eligible["converged"].any():
        eligible = eligible[eligible["converged"]]
    assert eligible["delta"].min() >= -1e-9 * max(abs(value), 1.0)
    labels = napari_gmm.assign(result.best, X.astype(float)).labels
    assert labels.min() >= 1 and labels.max() <= result.best_key[0]


@FAST
@given(
    offset=st.sampled_from([1e4, 1e6, -1e8, 1e9]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    seed=st.integers(0, 1000),
)
def test_a_huge_offset_changes_nothing(offset, covariance_type, seed):
    # translation invariance: the same model, moved, whatever the offset
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(6, 0.5, (40, 2))]
    settings = {
        "n_components": 2,
        "covariance_type": covariance_type,
        "random_state": 0,
        "tol": 1e-8,
    }
    with _quiet():
        near = WeightedGaussianMixture(**settings).fit(X)
        far = WeightedGaussianMixture(**settings).fit(X + offset)
    np.testing.assert_allclose(far.means_ - offset, near.means_, atol=1e-5)
    # an entry near zero (a small correlation) carries the rounding of the
    # offset's square, so entries compare at the covariances' own scale
    scale = np.abs(near.covariances_).max()
    np.testing.assert_allclose(
        far.covariances_, near.covariances_, rtol=1e-4, atol=1e-6 * scale
    )
    np.testing.assert_array_equal(far.predict(X + offset), near.predict(X))
    np.testing.assert_allclose(
        far.score_samples(X + offset), near.score_samples(X), atol=1e-5
    )


# --------------------------------------------------------------------------
# weighted EM = EM on the repeated rows


def _preset(covariance_type, means, variance):
    n_components, n_features = means.shape
    precision = 1.0 / variance
    precisions = {
        "spherical": np.full(n_components, precision),
        "diag": np.full((n_components, n_features), precision),
        "tied": np.eye(n_features) * precision,
        "full": np.stack([np.eye(n_features) * precision] * n_components),
    }[covariance_type]
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": means,
        "precisions_init": precisions,
    }


@FAST
@given(
    seed=st.integers(0, 2**16),
    n_rows=st.integers(8, 40),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 3),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    max_count=st.integers(1, 6),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
# found by this test: one iteration apart (see below)
@example(
    seed=15,
    n_rows=8,
    n_features=3,
    n_components=3,
    covariance_type="spherical",
    max_count=6,
    scale=1000.0,
)
# found by this test in CI: a component collapsed onto reg_covar
@example(
    seed=8,
    n_rows=8,
    n_features=3,
    n_components=2,
    covariance_type="full",
    max_count=2,
    scale=1000.0,
)
def test_weighted_em_equals_em_on_repeated_rows(
    seed, n_rows, n_features, n_components, covariance_type, max_count, scale
):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_components, n_features)) * 4
    rows = centres[rng.integers(0, n_components, n_rows)]
    rows = np.unique((rows + rng.normal(size=rows.shape)) * scale, axis=0)
    counts = rng.integers(1, max_count + 1, len(rows))
    repeated = np.repeat(rows, counts, axis=0)
    # the same start for both: K rows of the data as means, the data's spread
    start = rows[rng.choice(len(rows), n_components, replace=False)]
    settings = {
        "n_components": n_components,
        "covariance_type": covariance_type,
        "max_iter": 30,
        **_preset(covariance_type, start, repeated.var() + scale**2 * 1e-3),
    }
    with _quiet():
        reference = GaussianMixture(**settings).fit(repeated)
        ours = WeightedGaussianMixture(**settings).fit(rows, sample_weight=counts)
    # the stopping rule is a threshold on the change of the lower bound: when
    # that change falls within rounding of tol, two exact implementations
    # stop one iteration apart (e.g. seed=15, 8 rows, 3-D, K=3 spherical,
    # scale 1e3: 12 vs 11). Then compare after the same number of iterations.
    assert abs(ours.n_iter_ - reference.n_iter_) <= 1
    if ours.n_iter_ == reference.n_iter_:
        assert ours.converged_ == reference.converged_
    else:
        same_steps = {**settings, "max_iter": reference.n_iter_, "tol": 0.0}
        with _quiet():
            ours = WeightedGaussianMixture(**same_steps).fit(rows, sample_weight=counts)
        assert ours.n_iter_ == reference.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        mine, theirs = getattr(ours, name), getattr(reference, name)
        size = np.abs(theirs).max()
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-9 * size)
    criteria = napari_gmm.core.em.weighted_criteria(ours, rows, counts)
    assert np.isfinite(criteria["bic"])
    # the weighting itself: counts score exactly like the repeated rows
    assert criteria["bic"] == pytest.approx(ours.bic(repeated), rel=1e-10)
    # against scikit-learn's BIC, unless a component collapsed onto reg_covar
    # in some direction (variance < 1e-9 of the data's): its log-density then
    # hangs on variances of ~1e-6 that rounding moves (e.g. seed=8, 8 rows,
    # 3-D, K=2 full, scale 1e3: parameters equal to 1e-16, BIC 5e-6 apart)
    smallest = min(
        np.linalg.eigvalsh(c).min()
        for c in full_covariances(
            reference.covariances_, covariance_type, n_components, rows.shape[1]
        )
    )
    if smallest > 1e-9 * repeated.var():
        assert criteria["bic"] == pytest.approx(reference.bic(repeated), rel=1e-6)


# --------------------------------------------------------------------------
# points -> feature matrix


@st.composite
def point_layers(draw):
    n_points = draw(st.integers(0, 12))
    ndim = draw(st.integers(1, 4))
    elements = st.floats(allow_nan=True, allow_infinity=True, width=64)
    finite = draw(st.booleans())
    if finite:
        elements = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
    coordinates = draw(hnp.arrays(np.float64, (n_points, ndim), elements=elements))
    columns = {
        "area": draw(
            hnp.arrays(
                np.float64,
                n_points,
                elements=st.floats(-1e6, 1e6) if finite else elements,
            )
        ),
        "count": np.arange(n_points, dtype=np.int32),
        "kind": ["cell"] * n_points,
        "flag": np.zeros(n_points, dtype=bool),
    }
    features = pd.DataFrame(columns)
    if draw(st.booleans()):
        features = features.iloc[: max(n_points - 1, 0)]  # wrong length
    return coordinates, features


@FAST
@given(
    layer=point_layers(),
    dims=st.one_of(
        st.none(),
        st.lists(st.integers(-5, 5), max_size=3, unique=True),
        st.just([0.5]),
    ),
    columns=st.lists(
        st.sampled_from(["area", "count", "kind", "flag", "missing"]),
        max_size=2,
        unique=True,
    ),
    standardize=st.booleans(),
)
def test_points_feature_matrix_is_finite_or_says_why(layer, dims, columns, standardize):
    coordinates, features = layer
    coordinates_before = coordinates.copy()
    features_before = features.copy()
    try:
        matrix = points_feature_matrix(
            coordinates,
            features,
            coordinate_dims=dims,
            columns=columns,
            standardize=standardize,
        )
    except (ValueError, TypeError) as err:
        _documented(err)
        return
    finally:
        np.testing.assert_array_equal(coordinates, coordinates_before)
        pd.testing.assert_frame_equal(features, features_before)
    assert matrix.X.shape[0] == len(coordinates)
    assert matrix.X.shape[1] == len(matrix.names) >= 1
    assert np.isfinite(matrix.X).all()
    assert np.all(matrix.scale > 0) and np.isfinite(matrix.scale).all()
    if standardize and len(coordinates) > 1:
        assert np.all(np.abs(matrix.X.mean(axis=0)) < 1e-6)
        std = matrix.X.std(axis=0)
        assert np.all((np.abs(std - 1) < 1e-6) | (std < 1e-6))


# --------------------------------------------------------------------------
# images: compression and segmentation


@st.composite
def images(draw):
    """(image, channel_axis, mask) of random shape, dtype, scale and oddities."""
    ndim = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    kind = draw(
        st.sampled_from(
            ["bool", "uint8", "int16", "uint16", "int64", "float32", "float64"]
        )
    )
    n_levels = draw(st.sampled_from([1, 2, 3, 50]))  # few distinct values too
    levels = rng.normal(size=n_levels) * 40
    image = levels[rng.integers(0, n_levels, shape)] + rng.normal(size=shape)
    if kind == "bool":
        image = image > 0
    elif kind.startswith(("int", "uint")):
        info = np.iinfo(kind)
        image = np.clip(np.round(image), info.min, info.max).astype(kind)
        if kind == "int64" and draw(st.booleans()):
            image = image + 10**12  # huge offset
    else:
        image = image * draw(st.sampled_from(SCALES)) + draw(st.sampled_from(OFFSETS))
        image = image.astype(kind)
        if draw(st.booleans()):
            special = rng.random(shape) < 0.2
            image[special] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    channel_axis = None
    if draw(st.booleans()) and ndim >= 3 and shape[-1] <= 4:
        channel_axis = -1  # RGB(A)-like
    mask = None
    mask_kind = draw(st.sampled_from(["none", "random", "empty", "wrong shape"]))
    spatial = shape[:-1] if channel_axis is not None else shape
    if mask_kind == "random":
        mask = rng.random(spatial) < 0.7
    elif mask_kind == "empty":
        mask = np.zeros(spatial, dtype=np.uint8)
    elif mask_kind == "wrong shape":
        mask = np.ones((*spatial[:-1], spatial[-1] + 1), dtype=bool)
    return image, channel_axis, mask


@FAST
@given(
    case=images(),
    log=st.booleans(),
    exclude_zero=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.0, 1.0]),
)
def test_compress_image_counts_every_pixel_or_says_why(
    case, log, exclude_zero, smoothing
):
    image, channel_axis, mask = case
    image_before = image.copy()
    mask_before = None if mask is None else mask.copy()
    try:
        histogram = compress_image(
            image,
            channel_axis=channel_axis,
            mask=mask,
            log_transform=log,
            exclude_zero=exclude_zero,
            smoothing_sigma=smoothing,
        )
    except (ValueError, TypeError) as err:
        _documented(err)
        return
    finally:
        np.testing.assert_array_equal(image, image_before)
        if mask is not None:
            np.testing.assert_array_equal(mask, mask_before)
    n_total = image.size // (1 if channel_axis is None else image.shape[-1])
    assert histogram.n_pixels + histogram.n_excluded == n_total
    assert histogram.counts.sum() == histogram.n_pixels >= 1
    assert np.all(histogram.counts > 0)
    assert np.isfinite(histogram.values).all()
    assert histogram.values.shape == (histogram.n_values, histogram.n_channels)
    # distinct, sorted lexicographically
    order = np.lexsort(histogram.values.T[::-1])
    np.testing.assert_array_equal(order, np.arange(histogram.n_values))
    assert histogram.description.endswith(".")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=images(), k_max=st.integers(1, 4))
def test_segment_labels_are_0_to_k_and_ordered_by_intensity(case, k_max):
    image, channel_axis, mask = case
    image_before = image.copy()
    with _quiet():
        try:
            result = segment_image(
                image,
                channel_axis=channel_axis,
                mask=mask,
                n_components=range(1, k_max + 1),
                covariance_types=("spherical", "full"),
            )
        except (ValueError, TypeError) as err:
            _documented(err)
            return
        finally:
            np.testing.assert_array_equal(image, image_before)
    labels = np.asarray(result.labels)
    k = result.n_classes
    spatial = image.shape[:-1] if channel_axis is not None else image.shape
    assert labels.shape == spatial
    assert labels.min() >= 0 and labels.max() <= k
    assert np.isfinite(result.sweep.best_row[result.sweep.criterion])
    # components, and so labels, go from the dimmest to the brightest
    means = result.best.means_
    assert np.all(np.diff(means[:, 0]) >= 0)
    # excluded pixels (outside the mask, NaN/inf) are 0, the others are not
    counted = np.ones(spatial, dtype=bool)
    if mask is not None:
        counted &= np.asarray(mask) != 0
    values = image.astype(float)
    finite = np.isfinite(values)
    counted &= finite if channel_axis is None else finite.all(axis=-1)
    assert np.all(labels[~counted] == 0)
    assert np.all(labels[counted] >= 1)
    if channel_axis is None:
        # the mean intensity of each label's pixels rises with the label
        present = [c for c in range(1, k + 1) if np.any(labels == c)]
        pixel_means = [values[labels == c].mean() for c in present]
        span = max(np.ptp(values[counted]), 1e-300)
        assert np.all(np.diff(pixel_means) >= -1e-9 * span), pixel_means


# --------------------------------------------------------------------------
# model files


@pytest.fixture(scope="module")
def saved_documents():
    X = napari_gmm.make_seed_example()
    result = napari_gmm.sweep(X, n_components=[1, 2], covariance_types=["diag"])
    return [model_to_dict(result.best, result=result)]


def _paths(document, prefix=()):
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list) and 0 < len(document) <= 4:
        for index, value in enumerate(document):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from(["full", "diag", "tied", "spherical"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
    max_leaves=6,
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), delete=st.booleans())
def test_a_damaged_model_file_loads_or_raises_model_file_error(
    saved_documents, data, delete
):
    document = copy.deepcopy(saved_documents[0])
    paths = list(_paths(document))
    path = data.draw(st.sampled_from(paths))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        assume(isinstance(parent, dict))
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    document = json.loads(json.dumps(document))  # what a file can hold
    try:
        saved = model_from_dict(document)
    except ModelFileError as err:
        assert str(err)
        return
    # whatever loaded must be a usable model
    X = napari_gmm.make_seed_example()[:20]
    assert np.isfinite(saved.model.score_samples(saved.transform(X))).all()


def test_every_candidate_degenerate_the_converged_one_is_chosen():
    # found by hypothesis: 3 points, both candidates degenerate and K=2 not
    # converged (EM stopped on its collapsing component); the rule prefers
    # the converged K=1 though K=2's BIC is lower
    X = np.array(
        [
            [7.33551223e-07, -1.19619369e-06, 3.56370831e-06],
            [1.93265115e-06, 2.86556647e-07, 2.49837802e-06],
            [-6.36770366e-07, -1.28379878e-06, 3.24343923e-06],
        ]
    )
    result = napari_gmm.sweep(
        X, n_components=range(1, 3), covariance_types=["spherical"]
    )
    assert result.table["degenerate"].all()
    converged = result.table[result.table["converged"]]
    assert result.best_key == (int(converged.n_components.iloc[0]), "spherical")
    assert any("degenerate" in message for message in result.messages)
