"""WeightedGaussianMixture: sample-weighted EM equal to scikit-learn's EM."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from napari_gmm import WeightedGaussianMixture, make_seed_example
from napari_gmm.core.criteria import COVARIANCE_TYPES
from napari_gmm.core.em import weighted_criteria, weighted_log_likelihood

RTOL = 1e-8
PARAMETERS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _random_3d():
    rng = np.random.RandomState(3)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [1.0, 5.0, 2.0]])
    labels = rng.randint(0, 3, size=400)
    return centres[labels] + rng.randn(400, 3) * [1.0, 0.7, 1.5]


DATASETS = {"seed_example": make_seed_example(), "random_3d": _random_3d()}


def _fit_quietly(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


def _assert_same_fit(ours, reference, rtol=RTOL):
    """Parameters, lower bound and EM bookkeeping agree; returns the max rel diff."""
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    worst = 0.0
    for name in (*PARAMETERS, "precisions_", "lower_bound_"):
        mine, theirs = getattr(ours, name), getattr(reference, name)
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=0, err_msg=name)
        scale = np.maximum(np.abs(theirs), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(mine - theirs) / scale)))
    return worst


def _rel(a, b):
    return abs(a - b) / abs(b)


# --------------------------------------------------------------------------
# Unit weights reproduce scikit-learn


@pytest.mark.parametrize("data", sorted(DATASETS))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 2, 3, 4])
def test_unit_weights_reproduce_sklearn(data, covariance_type, n_components):
    X = DATASETS[data]
    settings = {
        "n_components": n_components,
        "covariance_type": covariance_type,
        "random_state": 0,
    }
    reference = _fit_quietly(GaussianMixture(**settings), X)
    ours = _fit_quietly(
        WeightedGaussianMixture(**settings), X, sample_weight=np.ones(len(X))
    )
    _assert_same_fit(ours, reference)
    criteria = weighted_criteria(ours, X, np.ones(len(X)))
    assert criteria["bic"] == pytest.approx(reference.bic(X), rel=RTOL)
    assert criteria["aic"] == pytest.approx(reference.aic(X), rel=RTOL)
    assert criteria["n_samples"] == len(X)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_no_weights_is_gaussian_mixture(covariance_type):
    X = DATASETS["random_3d"]
    settings = {"n_components": 3, "covariance_type": covariance_type}
    reference = GaussianMixture(**settings, random_state=5).fit(X)
    ours = WeightedGaussianMixture(**settings, random_state=5).fit(X)
    _assert_same_fit(ours, reference)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_other_initialisations_reproduce_sklearn(init_params, covariance_type):
    X = DATASETS["seed_example"]
    settings = {
        "n_components": 3,
        "covariance_type": covariance_type,
        "init_params": init_params,
        "random_state": 1,
    }
    reference = _fit_quietly(GaussianMixture(**settings), X)
    ours = _fit_quietly(
        WeightedGaussianMixture(**settings), X, sample_weight=np.ones(len(X))
    )
    _assert_same_fit(ours, reference)


def test_restarts_keep_the_best_lower_bound_as_sklearn():
    X = DATASETS["random_3d"]
    settings = {
        "n_components": 4,
        "n_init": 4,
        "random_state": 2,
        "init_params": "random",
    }
    reference = GaussianMixture(**settings).fit(X)
    ours = WeightedGaussianMixture(**settings).fit(X, sample_weight=np.ones(len(X)))
    _assert_same_fit(ours, reference)
    assert ours.lower_bounds_ == pytest.approx(reference.lower_bounds_, rel=RTOL)


def test_non_convergence_is_recorded_and_warned():
    X = DATASETS["seed_example"]
    settings = {"n_components": 4, "max_iter": 2, "random_state": 0}
    with pytest.warns(ConvergenceWarning):
        reference = GaussianMixture(**settings).fit(X)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = WeightedGaussianMixture(**settings).fit(X, sample_weight=np.ones(len(X)))
    assert not ours.converged_ and ours.n_iter_ == 2
    _assert_same_fit(ours, reference)


def test_warm_start_continues_as_sklearn():
    X = DATASETS["random_3d"]
    settings = {"n_components": 3, "max_iter": 1, "warm_start": True, "random_state": 0}
    reference = GaussianMixture(**settings)
    ours = WeightedGaussianMixture(**settings)
    for _ in range(3):
        _fit_quietly(reference, X)
        _fit_quietly(ours, X, sample_weight=np.ones(len(X)))
        _assert_same_fit(ours, reference)


def test_preset_parameters_with_zero_iterations_are_kept():
    # scikit-learn itself fails here (AttributeError: no covariances_, because
    # it never sets them from precisions_init), so compare with the inputs.
    X = DATASETS["seed_example"]
    init = {
        "weights_init": [0.5, 0.5],
        "means_init": [[-6.0, 3.0], [0.0, 0.0]],
        "precisions_init": [[1.0, 1.0], [0.5, 0.5]],
    }
    ours = WeightedGaussianMixture(2, covariance_type="diag", max_iter=0, **init).fit(X)
    np.testing.assert_array_equal(ours.weights_, init["weights_init"])
    np.testing.assert_array_equal(ours.means_, init["means_init"])
    np.testing.assert_allclose(ours.precisions_, init["precisions_init"], rtol=1e-15)
    np.testing.assert_allclose(ours.covariances_, 1 / np.array(init["precisions_init"]))
    assert ours.n_iter_ == 0 and not ours.converged_ and ours.lower_bound_ == -np.inf


# --------------------------------------------------------------------------
# Integer weights are repeated rows


def _distinct_rows_with_counts():
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 6.0]])
    rows = centres[rng.integers(0, 3, 300)] + rng.normal(size=(300, 2))
    rows = np.unique(np.round(rows, 3), axis=0)
    counts = rng.integers(1, 21, size=len(rows))
    return rows, counts


def _histogram_of_three_class_image():
    """Grey values 0..255 and their counts in a synthetic 3-class image."""
    rng = np.random.default_rng(11)
    classes = rng.choice(3, size=(96, 96), p=[0.5, 0.3, 0.2])
    centre, spread = np.array([60.0, 130.0, 200.0]), np.array([9.0, 14.0, 6.0])
    image = np.clip(np.round(rng.normal(centre[classes], spread[classes])), 0, 255)
    values = np.arange(256, dtype=float).reshape(-1, 1)
    counts = np.bincount(image.astype(int).ravel(), minlength=256)
    assert (counts == 0).any()  # zero-weight rows are part of the test
    return values, counts


def _preset(covariance_type, means, spread):
    """Identical initial parameters for both fits (no random initialisation)."""
    n_components, n_features = np.shape(means)
    precision = 1.0 / spread**2
    precisions = {
        "spherical": np.full(n_components, precision),
        "diag": np.full((n_components, n_features), precision),
        "tied": np.eye(n_features) * precision,
        "full": np.stack([np.eye(n_features) * precision] * n_components),
    }[covariance_type]
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": np.asarray(means, dtype=float),
        "precisions_init": precisions,
    }


def _compare_with_repeated(rows, counts, settings):
    repeated = np.repeat(rows, counts, axis=0)
    reference = _fit_quietly(GaussianMixture(**settings), repeated)
    ours = _fit_quietly(WeightedGaussianMixture(**settings), rows, sample_weight=counts)
    worst = _assert_same_fit(ours, reference)
    criteria = weighted_criteria(ours, rows, counts)
    assert criteria["n_samples"] == len(repeated)
    assert criteria["bic"] == pytest.approx(reference.bic(repeated), rel=RTOL)
    assert criteria["aic"] == pytest.approx(reference.aic(repeated), rel=RTOL)
    tau = reference.predict_proba(repeated)
    icl = reference.bic(repeated) - 2 * np.log(tau.max(axis=1)).sum()
    assert criteria["icl"] == pytest.approx(icl, rel=RTOL)
    total = weighted_log_likelihood(ours, rows, counts)
    assert total == pytest.approx(reference.score(repeated) * len(repeated), rel=RTOL)
    return worst


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    rows, counts = _distinct_rows_with_counts()
    settings = {
        "n_components": 3,
        "covariance_type": covariance_type,
        "tol": 1e-6,
        **_preset(covariance_type, [[1.0, 1.0], [4.0, 0.0], [0.0, 5.0]], 2.0),
    }
    _compare_with_repeated(rows, counts, settings)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_grey_value_histogram_equals_every_pixel(covariance_type):
    values, counts = _histogram_of_three_class_image()
    settings = {
        "n_components": 3,
        "covariance_type": covariance_type,
        **_preset(covariance_type, [[50.0], [120.0], [210.0]], 20.0),
    }
    _compare_with_repeated(values, counts, settings)


def test_histogram_with_kmeans_init_finds_the_same_classes():
    # k-means sees the counts as weights but draws different random numbers
    # than on the repeated pixels, so only the solution (not every digit) is
    # compared here; the exact equality is tested above with preset parameters.
    values, counts = _histogram_of_three_class_image()
    ours = WeightedGaussianMixture(3, random_state=0).fit(values, sample_weight=counts)
    reference = GaussianMixture(3, random_state=0).fit(
        np.repeat(values, counts, axis=0)
    )
    np.testing.assert_allclose(
        np.sort(ours.means_.ravel()), np.sort(reference.means_.ravel()), rtol=1e-3
    )


def test_zero_weight_rows_change_nothing():
    X = DATASETS["random_3d"]
    rng = np.random.default_rng(0)
    extra = rng.normal(scale=1e3, size=(50, 3))  # far away: would matter if used
    X_padded = np.vstack([X[:200], extra, X[200:]])
    w = rng.integers(1, 5, size=len(X)).astype(float)
    w_padded = np.concatenate([w[:200], np.zeros(50), w[200:]])
    for init_params in ("kmeans", "random"):
        settings = {"n_components": 3, "random_state": 0, "init_params": init_params}
        plain = WeightedGaussianMixture(**settings).fit(X, sample_weight=w)
        padded = WeightedGaussianMixture(**settings)
        labels = padded.fit_predict(X_padded, sample_weight=w_padded)
        for name in (*PARAMETERS, "lower_bound_", "n_iter_"):
            np.testing.assert_array_equal(getattr(padded, name), getattr(plain, name))
        assert labels.shape == (len(X_padded),)
        np.testing.assert_array_equal(labels, padded.predict(X_padded))
        crit_plain = weighted_criteria(plain, X, w)
        crit_padded = weighted_criteria(padded, X_padded, w_padded)
        assert crit_padded == pytest.approx(crit_plain, rel=1e-12)


# --------------------------------------------------------------------------
# Validation, covariance floor, estimator API


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (-np.ones(6), "must be >= 0, got 6 negative value"),
        (np.r_[1.0, -2.0, 1, 1, 1, 1], r"first at index 1: -2\.0"),
        (np.r_[1.0, np.nan, 1, 1, 1, 1], "NaN or infinite"),
        (np.r_[1.0, 1, 1, 1, 1, np.inf], "first at index 5"),
        (np.ones(5), "5 entries but X has 6 rows"),
        (np.zeros(6), "sums to 0.0"),
        (np.ones((6, 1)), r"must be 1-D.*shape \(6, 1\)"),
        (np.array(["a"] * 6), "numeric"),
        (np.r_[1.0, 1, 0, 0, 0, 0], "at least n_components = 3 samples with positive"),
    ],
)
def test_bad_weights_are_rejected_with_a_clear_message(weights, match):
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match=match):
        WeightedGaussianMixture(3).fit(X, sample_weight=weights)


def test_non_finite_data_is_rejected_with_the_row():
    X = np.arange(12.0).reshape(6, 2)
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"first at row 4: \[8\.0, nan\]"):
        WeightedGaussianMixture(2).fit(X)


def test_weighted_criteria_validate_weights():
    X = DATASETS["seed_example"]
    model = WeightedGaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="same length"):
        weighted_criteria(model, X, np.ones(3))
    with pytest.raises(ValueError, match="negative"):
        weighted_log_likelihood(model, X, -np.ones(len(X)))
    # None means unit weights
    assert weighted_criteria(model, X, None)["bic"] == pytest.approx(model.bic(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_compiled_criteria_equal_weighted_criteria(covariance_type):
    # em.fitted_criteria (the default sweep's, one compiled E-step) against
    # scikit-learn's E-step: far from the origin (the fit's centring), with
    # zero and uneven weights
    from napari_gmm.core.em import fitted_criteria

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3)) * [1.0, 10.0, 100.0] + [0.0, 1e6, 5.0]
    w = rng.integers(0, 4, len(X)).astype(float)
    model = WeightedGaussianMixture(3, covariance_type=covariance_type)
    model.fit(X, sample_weight=w)
    expected = weighted_criteria(model, X, w)
    found = fitted_criteria(model, X, w)
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, rel=1e-12)


def _integer_data_with_a_spike():
    rng = np.random.default_rng(3)
    spike = np.tile([[5.0, 40.0]], (400, 1))  # one repeated integer pair
    blob = np.round(rng.normal([20.0, 10.0], [4.0, 6.0], size=(600, 2)))
    return np.vstack([spike, blob])


def _component_variances(model):
    """Variance of every component along every feature (spherical: one)."""
    covariances = model.covariances_
    if model.covariance_type == "spherical":
        return covariances[:, np.newaxis]
    if model.covariance_type == "tied":
        return np.diag(covariances)[np.newaxis, :]
    if model.covariance_type == "full":
        return np.diagonal(covariances, axis1=1, axis2=2)
    return covariances


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_covariance_floor_bounds_every_variance(covariance_type):
    X = _integer_data_with_a_spike()
    floor = np.array([1.0 / 12, 4.0 / 12])  # steps 1 and 2
    settings = {
        "n_components": 3,
        "covariance_type": covariance_type,
        "random_state": 0,
    }
    unfloored = _fit_quietly(WeightedGaussianMixture(**settings), X)
    floored = _fit_quietly(
        WeightedGaussianMixture(**settings, covariance_floor=floor), X
    )
    bound = floor.mean() if covariance_type == "spherical" else floor
    assert (_component_variances(floored) >= bound).all()
    if covariance_type != "tied":  # the spike is a component with ~zero variance
        assert (_component_variances(unfloored) < bound).any()
    # also at initialisation (no EM iteration at all)
    start = _fit_quietly(
        WeightedGaussianMixture(**settings, covariance_floor=floor, max_iter=0), X
    )
    assert (_component_variances(start) >= bound).all()


def test_zero_covariance_floor_changes_nothing():
    X = DATASETS["random_3d"]
    without = WeightedGaussianMixture(3, random_state=0).fit(X)
    with_zero = WeightedGaussianMixture(3, random_state=0, covariance_floor=0.0).fit(X)
    for name in PARAMETERS:
        np.testing.assert_array_equal(getattr(with_zero, name), getattr(without, name))


@pytest.mark.parametrize(
    ("floor", "error", "match"),
    [
        ([1.0, 2.0, 3.0], ValueError, r"shape \(n_features,\) = \(2,\)"),
        ([1.0, -2.0], ValueError, ">= 0"),
        ([1.0, np.inf], ValueError, "finite"),
        (-1.0, ValueError, "covariance_floor"),
        ("big", ValueError, "covariance_floor"),
    ],
)
def test_bad_covariance_floor_is_rejected(floor, error, match):
    X = DATASETS["seed_example"]
    with pytest.raises(error, match=match):
        WeightedGaussianMixture(2, covariance_floor=floor).fit(X)


def test_is_a_gaussian_mixture_with_working_methods():
    X = DATASETS["seed_example"]
    w = np.random.default_rng(0).integers(1, 4, size=len(X))
    model = WeightedGaussianMixture(2, covariance_type="full", random_state=0)
    labels = model.fit_predict(X, sample_weight=w)
    assert isinstance(model, GaussianMixture)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert model.score_samples(X).shape == (len(X),)
    sample, sample_labels = model.sample(10)
    assert sample.shape == (10, 2) and sample_labels.shape == (10,)
    assert model.lower_bound_ == pytest.approx(
        weighted_log_likelihood(model, X, w) / w.sum(), abs=model.tol
    )


def test_clone_and_params_round_trip():
    floor = np.array([0.1, 0.2])
    model = WeightedGaussianMixture(3, covariance_type="diag", covariance_floor=floor)
    params = model.get_params()
    assert params["covariance_floor"] is floor
    assert params["covariance_type"] == "diag" and params["n_components"] == 3
    copy = clone(model)
    assert type(copy) is WeightedGaussianMixture
    np.testing.assert_array_equal(copy.get_params()["covariance_floor"], floor)
    assert copy.set_params(covariance_floor=0.5).covariance_floor == 0.5
    rebuilt = WeightedGaussianMixture(**copy.get_params())
    assert rebuilt.get_params()["covariance_floor"] == 0.5
    assert "covariance_floor" in repr(WeightedGaussianMixture(covariance_floor=0.5))


def test_kmeans_initialisation_uses_the_weights():
    from sklearn.cluster import KMeans

    # 4 clusters on 2 blobs: where k-means splits them depends on the weights
    X = DATASETS["seed_example"]
    w = np.random.default_rng(1).integers(1, 30, size=len(X)).astype(float)
    start = WeightedGaussianMixture(4, max_iter=0, random_state=0)
    start.fit(X, sample_weight=w)

    def kmeans_labels(**kwargs):
        kmeans = KMeans(4, n_init=1, random_state=np.random.RandomState(0))
        return kmeans.fit(X, **kwargs).labels_

    labels = kmeans_labels(sample_weight=w)
    assert (labels != kmeans_labels()).any()  # the weights do matter here
    onehot = np.eye(4)[labels] * w[:, np.newaxis]
    np.testing.assert_allclose(
        start.means_, (onehot.T @ X) / onehot.sum(axis=0)[:, None], rtol=1e-12
    )
    np.testing.assert_allclose(start.weights_, onehot.sum(axis=0) / w.sum(), rtol=1e-12)


@pytest.mark.parametrize("n_columns", range(1, 14))
def test_row_max_and_row_sum_give_numpys_bits(n_columns):
    # the E-step's row reductions over columns must not move a last digit
    from napari_gmm.core.em import row_max, row_sum

    rng = np.random.default_rng(n_columns)
    scales = 10.0 ** rng.integers(-8, 8, (500, n_columns))
    a = rng.normal(size=(500, n_columns)) * scales
    a[7, -1] = np.nan
    a[8, 0] = -np.inf
    for array in (a, np.asfortranarray(a), a[:, ::-1], a[::3]):
        for ours, numpys in ((row_max, np.max), (row_sum, np.sum)):
            got, want = ours(array), numpys(array, axis=1)
            assert got.tobytes() == want.tobytes() or np.array_equal(
                got, want, equal_nan=True
            )
    # other dtypes follow numpy's own rules (int8 rows sum in int64)
    small = np.full((3, max(n_columns, 2)), 100, dtype=np.int8)
    assert row_sum(small).dtype == small.sum(axis=1).dtype
    np.testing.assert_array_equal(row_sum(small), small.sum(axis=1))


@pytest.mark.parametrize("covariance_type", ["spherical", "tied", "diag", "full"])
def test_squarem_vector_is_unchanged_by_a_change_of_units(covariance_type):
    # SQUAREM's step length comes from norms of parameter differences: in the
    # units of vector_scale they do not depend on the features' units, so
    # the accelerated path is the same on X * c + b
    from napari_gmm.core.em import (
        MixtureParameters,
        params_to_vector,
        precision_cholesky,
        vector_scale,
    )

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3)) * [1.0, 5.0, 0.2]
    w = np.ones(len(X))
    c = np.array([1e3, 1e-2, 7.0]) if covariance_type != "spherical" else 40.0
    b = np.array([-7.0, 1e4, 3.0])
    c_vector = np.broadcast_to(c, 3)
    a = rng.normal(size=(3, 3, 3))
    full = a @ np.swapaxes(a, 1, 2) + np.eye(3)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.array([1.0, 2.0, 0.5]),
    }[covariance_type]
    moved_covariances = {
        "full": full * np.outer(c_vector, c_vector),
        "tied": full[0] * np.outer(c_vector, c_vector),
        "diag": covariances * c_vector**2,
        "spherical": covariances * c**2,
    }[covariance_type]
    weights = np.array([0.2, 0.3, 0.5])
    means = rng.normal(size=(3, 3))

    def vector(data, means, covariances):
        params = MixtureParameters(
            weights,
            means,
            covariances,
            precision_cholesky(covariances, covariance_type),
        )
        scale = vector_scale(data, w, covariance_type)
        return params_to_vector(params, covariance_type, scale)

    original = vector(X, means, covariances)
    moved = vector(X * c + b, means * c + b, moved_covariances)
    means_part = slice(3, 12)
    # weights and covariance factors: equal; means: moved by one constant
    # vector (b in the new units), so differences between iterates are equal
    np.testing.assert_allclose(original[:3], moved[:3], rtol=1e-12)
    np.testing.assert_allclose(original[12:], moved[12:], rtol=1e-9, atol=1e-12)
    shift = (moved[means_part] - original[means_part]).reshape(3, 3)
    np.testing.assert_allclose(shift, np.tile(shift[0], (3, 1)), rtol=1e-9)
