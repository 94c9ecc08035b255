"""The 14 parsimonious covariance models: M-steps, parameter counts and EM."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.special
import scipy.stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from napari_gmm.core import parsimonious
from napari_gmm.core.criteria import model_n_parameters, n_parameters
from napari_gmm.core.em import m_step as em_m_step
from napari_gmm.core.geometry import full_covariances
from napari_gmm.core.parsimonious import (
    FLOOR_SCALE,
    MCLUST_TO_SKLEARN,
    MODELS,
    SKLEARN_TO_MCLUST,
    canonical_model,
    expected_log_likelihood,
    m_step,
    n_covariance_parameters,
    project,
)
from napari_gmm.core.parsimonious_em import ParsimoniousGaussianMixture

# --------------------------------------------------------------------------
# A brute-force parametrisation of every model, independent of the M-steps:
# log volumes, log shapes with a zero sum (|A| = 1) and orientations as the
# exponential of a skew-symmetric matrix.


def _skew(values, d):
    matrix = np.zeros((d, d))
    matrix[np.triu_indices(d, 1)] = values
    return matrix - matrix.T


def _n_free(model, n_components, n_features):
    """Length of the brute-force parameter vector of a model."""
    volume, shape, orientation = model
    k, d = n_components, n_features
    count = {"E": 1, "V": k}[volume]
    count += {"I": 0, "E": 1, "V": k}[shape] * (d - 1)
    count += {"I": 0, "E": 1, "V": k}[orientation] * (d * (d - 1) // 2)
    return count


def _covariances(theta, model, n_components, n_features):
    """The model's covariances at an unconstrained parameter vector."""
    volume, shape, orientation = model
    k, d = n_components, n_features
    rotation = d * (d - 1) // 2
    position = 0

    def take(size):
        nonlocal position
        chunk = theta[position : position + size]
        position += size
        return chunk

    log_volumes = np.broadcast_to(take(1 if volume == "E" else k), (k,))
    if shape == "I":
        log_shapes = np.zeros((k, d))
    else:
        count = 1 if shape == "E" else k
        free = take(count * (d - 1)).reshape(count, d - 1)
        log_shapes = np.hstack([free, -free.sum(axis=1, keepdims=True)])
        log_shapes = np.broadcast_to(log_shapes, (k, d))
    if orientation == "I":
        rotations = np.broadcast_to(np.eye(d), (k, d, d))
    else:
        count = 1 if orientation == "E" else k
        rotations = np.stack(
            [scipy.linalg.expm(_skew(take(rotation), d)) for _ in range(count)]
        )
        rotations = np.broadcast_to(rotations, (k, d, d))
    assert position == len(theta)
    return np.stack(
        [
            np.exp(log_volumes[j])
            * (rotations[j] * np.exp(log_shapes[j]))
            @ rotations[j].T
            for j in range(k)
        ]
    )


def _small_problem(n_features, n_components, seed):
    """Correlated data and random weighted responsibilities."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, n_features)) @ rng.standard_normal(
        (n_features, n_features)
    )
    resp = rng.dirichlet(np.ones(n_components), size=len(X))
    sample_weight = rng.uniform(0.5, 2.0, size=(len(X), 1))
    return X, resp * sample_weight


# --------------------------------------------------------------------------
# Parameter counts

#: Covariance parameters for d = 2, K = 3, counted by hand: volume (1 or 3),
#: shape (0, 1 or 3 free log ratios), orientation (0, 1 or 3 angles).
HAND_COUNTS_D2_K3 = {
    "EII": 1,
    "VII": 3,
    "EEI": 1 + 1,
    "VEI": 3 + 1,
    "EVI": 1 + 3,
    "VVI": 3 + 3,
    "EEE": 1 + 1 + 1,
    "VEE": 3 + 1 + 1,
    "EVE": 1 + 3 + 1,
    "VVE": 3 + 3 + 1,
    "EEV": 1 + 1 + 3,
    "VEV": 3 + 1 + 3,
    "EVV": 1 + 3 + 3,
    "VVV": 3 + 3 + 3,
}


def test_parameter_counts_for_two_features_and_three_components():
    counts = {model: n_covariance_parameters(model, 3, 2) for model in MODELS}
    assert counts == HAND_COUNTS_D2_K3


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("n_features", "n_components"), [(1, 4), (3, 2), (5, 3)])
def test_parameter_count_is_the_brute_force_parametrisation_size(
    model, n_features, n_components
):
    expected = _n_free(model, n_components, n_features)
    assert n_covariance_parameters(model, n_components, n_features) == expected
    theta = np.zeros(expected)  # the right length: _covariances asserts it
    assert _covariances(theta, model, n_components, n_features).shape == (
        n_components,
        n_features,
        n_features,
    )


@pytest.mark.parametrize(("name", "model"), sorted(SKLEARN_TO_MCLUST.items()))
def test_scikit_learn_names_count_as_before(name, model):
    for k, d in [(1, 1), (3, 2), (4, 5)]:
        assert n_covariance_parameters(model, k, d) == n_parameters(k, d, name) - (
            k * d + k - 1
        )
        assert n_parameters(k, d, model) == n_parameters(k, d, name)


def test_names():
    assert canonical_model("full") == "VVV"
    assert canonical_model("eev") == "EEV"
    assert {MCLUST_TO_SKLEARN[SKLEARN_TO_MCLUST[n]] for n in SKLEARN_TO_MCLUST} == set(
        SKLEARN_TO_MCLUST
    )
    with pytest.raises(ValueError, match="Unknown covariance model"):
        canonical_model("XYZ")
    assert set(FLOOR_SCALE) == set(MODELS)


# --------------------------------------------------------------------------
# The M-step maximises the expected complete-data log-likelihood


@pytest.mark.parametrize(
    ("model", "orientation_step"),
    [(model, "jacobi") for model in MODELS] + [("EVE", "mm"), ("VVE", "mm")],
)
def test_m_step_beats_numerical_maximisation_and_random_parameters(
    model, orientation_step, monkeypatch
):
    monkeypatch.setattr(parsimonious, "ORIENTATION_STEP", orientation_step)
    n_features, n_components = 3, 3
    X, weighted_resp = _small_problem(n_features, n_components, seed=1)
    weights, means, covariances = m_step(
        X, weighted_resp, model, tol=1e-14, max_iter=5000
    )
    ours = expected_log_likelihood(X, weighted_resp, weights, means, covariances)
    # the optimal weights and means do not depend on the covariances: only
    # the covariance parameters are searched
    n_free = _n_free(model, n_components, n_features)

    def negative(theta):
        return -expected_log_likelihood(
            X,
            weighted_resp,
            weights,
            means,
            _covariances(theta, model, n_components, n_features),
        )

    rng = np.random.default_rng(2)
    for _ in range(2):
        found = scipy.optimize.minimize(
            negative, rng.normal(scale=0.5, size=n_free), method="BFGS"
        )
        assert ours >= -found.fun - 1e-6
    for _ in range(20):
        assert ours >= -negative(rng.normal(size=n_free))
    # and the constraint holds: projecting into the model changes nothing
    nk = weighted_resp.sum(axis=0)
    np.testing.assert_allclose(
        project(covariances, nk, model, tol=1e-14, max_iter=5000),
        covariances,
        rtol=1e-6,
        atol=1e-9,
    )


@pytest.mark.parametrize("step", sorted(parsimonious.ORIENTATION_STEPS))
def test_orientation_steps_descend_to_the_common_minimum(step):
    """Both D-steps never increase sum_k tr(W_k D B_k D^T) and, repeated,
    reach the minimum a numerical search over rotations finds."""
    rng = np.random.default_rng(3)
    d, k = 3, 3
    factors = rng.standard_normal((k, d, d))
    scatter = factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(d)
    inverse_eigenvalues = rng.uniform(0.2, 3.0, size=(k, d))
    largest = np.linalg.eigvalsh(scatter)[:, -1]

    def value(orientation):
        return float(
            np.einsum(
                "kij,jm,km,im->", scatter, orientation, inverse_eigenvalues, orientation
            )
        )

    orientation = scipy.linalg.expm(_skew(rng.standard_normal(3), d))
    values = [value(orientation)]
    for _ in range(300):
        orientation = parsimonious.ORIENTATION_STEPS[step](
            scatter, orientation, inverse_eigenvalues, largest
        )
        values.append(value(orientation))
    assert np.all(np.diff(values) <= 1e-12 * values[0])
    np.testing.assert_allclose(orientation.T @ orientation, np.eye(d), atol=1e-12)
    best = min(
        scipy.optimize.minimize(
            lambda a: value(scipy.linalg.expm(_skew(a, d))),
            rng.standard_normal(3),
            method="BFGS",
        ).fun
        for _ in range(4)
    )
    assert values[-1] <= best + 1e-6


def test_projection_leaves_a_different_model_for_its_own():
    X, weighted_resp = _small_problem(3, 3, seed=4)
    _, _, unconstrained = m_step(X, weighted_resp, "VVV")
    nk = weighted_resp.sum(axis=0)
    for model in ("EEV", "VVE", "EVI"):
        projected = project(unconstrained, nk, model)
        assert not np.allclose(projected, unconstrained, rtol=1e-3)


# --------------------------------------------------------------------------
# Models that coincide

K1_GROUPS = (
    ("EII", "VII"),
    ("EEI", "VEI", "EVI", "VVI"),
    ("EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"),
)
D1_GROUPS = (
    ("EII", "EEI", "EVI", "EEE", "EVE", "EEV", "EVV"),
    ("VII", "VEI", "VVI", "VEE", "VVE", "VEV", "VVV"),
)


@pytest.mark.parametrize(
    ("n_features", "n_components", "groups"),
    [(3, 1, K1_GROUPS), (1, 3, D1_GROUPS)],
    ids=["one component", "one feature"],
)
def test_coinciding_models_give_the_same_m_step(n_features, n_components, groups):
    X, weighted_resp = _small_problem(n_features, n_components, seed=5)
    for group in groups:
        results = [m_step(X, weighted_resp, m, tol=1e-14) for m in group]
        for model, result in zip(group[1:], results[1:], strict=True):
            for ours, reference in zip(result, results[0], strict=True):
                np.testing.assert_allclose(
                    ours, reference, rtol=1e-8, atol=1e-12, err_msg=model
                )
    # and the groups differ from each other
    firsts = [m_step(X, weighted_resp, group[0])[2] for group in groups]
    assert not np.allclose(firsts[0], firsts[1], rtol=1e-3)


@pytest.mark.parametrize(("name", "model"), sorted(SKLEARN_TO_MCLUST.items()))
def test_scikit_learn_models_equal_the_existing_m_steps(name, model):
    X, weighted_resp = _small_problem(3, 3, seed=6)
    w = weighted_resp.sum(axis=1)
    log_resp = np.log(weighted_resp / w[:, np.newaxis])
    floor = np.array([0.01, 0.02, 0.005])
    existing = em_m_step(X, w, log_resp, 1e-3, floor, name)
    weights, means, covariances = m_step(
        X, weighted_resp, model, reg_covar=1e-3, floor=floor
    )
    np.testing.assert_allclose(weights, existing.weights, rtol=1e-10)
    np.testing.assert_allclose(means, existing.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        covariances, full_covariances(existing.covariances, name, 3, 3), rtol=1e-10
    )


def _quietly(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kwargs)


def _three_clusters(seed=7, n=300):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, -2.0], [1.0, 6.0, 2.0]])
    return centres[labels] + rng.standard_normal((n, 3)) * [1.0, 0.7, 1.5], labels


def _start(X, labels, n_components, w=None):
    """weights_init, means_init and full precisions_init of a partition."""
    w = np.ones(len(X)) if w is None else w
    resp = np.eye(n_components)[labels]
    with np.errstate(divide="ignore"):
        params = em_m_step(X, w, np.log(resp), 0.0, None, "full")
    return {
        "weights_init": params.weights,
        "means_init": params.means,
        "precisions_init": np.linalg.inv(params.covariances),
    }


@pytest.mark.parametrize(("name", "model"), sorted(SKLEARN_TO_MCLUST.items()))
def test_scikit_learn_models_fit_as_gaussian_mixture(name, model):
    X, labels = _three_clusters()
    start = _start(X, labels, 3)
    # scikit-learn's start: the same partition's estimate in its own type
    with np.errstate(divide="ignore"):
        log_resp = np.log(np.eye(3)[labels])
    reference_start = em_m_step(X, np.ones(len(X)), log_resp, 0.0, None, name)
    settings = {"n_components": 3, "tol": 0.0, "max_iter": 15, "reg_covar": 1e-4}
    reference = _quietly(
        GaussianMixture(
            covariance_type=name,
            weights_init=start["weights_init"],
            means_init=start["means_init"],
            precisions_init=1.0 / reference_start.covariances
            if name in ("spherical", "diag")
            else np.linalg.inv(reference_start.covariances),
            **settings,
        ),
        X,
    )
    ours = _quietly(
        ParsimoniousGaussianMixture(covariance_model=model, **start, **settings), X
    )
    assert ours.n_iter_ == reference.n_iter_ == 15
    np.testing.assert_allclose(ours.weights_, reference.weights_, rtol=1e-8)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=1e-8)
    np.testing.assert_allclose(
        ours.covariances_,
        full_covariances(reference.covariances_, name, 3, 3),
        rtol=1e-8,
        atol=1e-12,
    )
    np.testing.assert_allclose(ours.bic(X), reference.bic(X), rtol=1e-10)


# --------------------------------------------------------------------------
# Regularization


@pytest.mark.parametrize("model", MODELS)
def test_floor_keeps_a_collapsed_component_invertible(model):
    rng = np.random.default_rng(8)
    X = np.vstack([rng.standard_normal((30, 3)) * [1.0, 2.0, 0.5], np.ones((10, 3))])
    labels = np.r_[rng.integers(0, 2, size=30), np.full(10, 2)]
    floor = np.array([1e-4, 4e-4, 2.5e-5])
    _, _, covariances = m_step(X, np.eye(3)[labels], model, floor=floor)
    smallest = np.linalg.eigvalsh(covariances).min()
    assert smallest >= 0.5 * floor.min()
    np.linalg.cholesky(covariances)
    if model[0] == "V":  # without it the third component is singular
        _, _, bare = m_step(X, np.eye(3)[labels], model)
        assert np.linalg.eigvalsh(bare).min() < 1e-8


@pytest.mark.parametrize("model", MODELS)
def test_floor_scale_follows_the_models_invariance(model):
    """Models marked "diag" commute with rescaling each feature (with the
    floor rescaled too); the others only with a common rescaling."""
    X, weighted_resp = _small_problem(3, 2, seed=9)
    floor = np.array([0.1, 0.2, 0.3])
    _, _, covariances = m_step(X, weighted_resp, model, floor=floor, tol=1e-13)
    for scale in (np.array([2.0, 2.0, 2.0]), np.array([10.0, 0.5, 3.0])):
        _, _, scaled = m_step(
            X * scale, weighted_resp, model, floor=floor * scale**2, tol=1e-13
        )
        expected = covariances * np.outer(scale, scale)
        common = np.all(scale == scale[0])
        if common or FLOOR_SCALE[model] == "diag":
            np.testing.assert_allclose(scaled, expected, rtol=1e-7, atol=1e-10)
        else:
            assert not np.allclose(scaled, expected, rtol=1e-3)


# --------------------------------------------------------------------------
# EM


def test_estimator_parameters_and_counts():
    estimator = ParsimoniousGaussianMixture(3, covariance_model="EVE")
    assert clone(estimator).get_params()["covariance_model"] == "EVE"
    assert "covariance_type" not in estimator.get_params()
    with pytest.raises(ValueError, match="covariance_model"):
        estimator.covariance_type = "tied"
    X, _ = _three_clusters()
    fitted = _quietly(estimator, X)
    assert fitted.covariance_type == "full"
    assert fitted.covariances_.shape == (3, 3, 3)
    expected = n_covariance_parameters("EVE", 3, 3) + 3 * 3 + 2
    assert fitted._n_parameters() == model_n_parameters(fitted) == expected
    log_likelihood = fitted.score(X) * len(X)
    assert fitted.bic(X) == pytest.approx(
        -2 * log_likelihood + expected * np.log(len(X)), rel=1e-12
    )
    with pytest.raises(ValueError):
        ParsimoniousGaussianMixture(2, covariance_model="XYZ").fit(X)


@pytest.mark.parametrize("model", MODELS)
def test_log_likelihood_never_decreases(model):
    X, _ = _three_clusters(seed=10, n=200)
    # a poor start (slices along the first feature): EM has a way to go
    slices = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))
    start = _start(X, slices, 3)
    finals = []
    for accelerate in (False, True):
        fitted = ParsimoniousGaussianMixture(
            3,
            covariance_model=model,
            reg_covar=0.0,
            tol=1e-8,
            stopping="gain",
            accelerate=accelerate,
            max_iter=500,
            **start,
        ).fit(X)
        bounds = np.asarray(fitted.lower_bounds_)
        assert len(bounds) > 3
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
        # the stored parameters satisfy the model
        np.testing.assert_allclose(
            project(fitted.covariances_, fitted.weights_, model),
            fitted.covariances_,
            rtol=1e-6,
        )
        finals.append(fitted.score(X))
    # SQUAREM changes the path, not the fixed point
    assert finals[1] == pytest.approx(finals[0], rel=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_weights_are_repeated_rows(model):
    rng = np.random.default_rng(11)
    X, labels = _three_clusters(seed=11, n=120)
    counts = rng.integers(1, 4, size=len(X))
    start = _start(X, labels, 3, w=counts.astype(float))
    settings = {"tol": 0.0, "max_iter": 20, "reg_covar": 1e-6, **start}
    weighted = _quietly(
        ParsimoniousGaussianMixture(3, covariance_model=model, **settings),
        X,
        sample_weight=counts,
    )
    repeated = _quietly(
        ParsimoniousGaussianMixture(3, covariance_model=model, **settings),
        np.repeat(X, counts, axis=0),
    )
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(weighted, name), getattr(repeated, name), rtol=1e-6, atol=1e-9
        )


def test_iteration_callback_cancels():
    X, _ = _three_clusters()
    calls = []

    def cancel():
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ParsimoniousGaussianMixture(
            3, covariance_model="VVE", tol=0.0, max_iter=100
        ).fit(X, iteration_callback=cancel)
    assert len(calls) == 4


# --------------------------------------------------------------------------
# BIC recovers the model the data came from


def _rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def _generated(model, seed=12, n=600):
    """Three components of ``model``, as in Celeux & Govaert's simulations."""
    rng = np.random.default_rng(seed)
    if model == "EEV":
        means = np.array([[0.0, 0.0], [9.0, 0.0], [4.0, 8.0]])
        shape = np.diag([4.0, 0.25])
        covariances = [
            _rotation(a) @ shape @ _rotation(a).T
            for a in (0.0, np.pi / 3, 2 * np.pi / 3)
        ]
    elif model == "EVI":
        means = np.array([[0.0, 0.0], [7.0, 0.0], [3.0, 7.0]])
        covariances = [np.diag(v) for v in ([4.0, 0.25], [0.25, 4.0], [2.0, 0.5])]
    else:  # VVE in three dimensions, one random orientation
        orientation = np.linalg.qr(rng.standard_normal((3, 3)))[0]
        means = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 3.0]])
        eigenvalues = ([3.0, 1.0, 0.2], [0.2, 2.0, 0.5], [1.0, 0.1, 4.0])
        covariances = [orientation @ np.diag(v) @ orientation.T for v in eigenvalues]
    labels = rng.integers(0, 3, size=n)
    X = np.vstack(
        [
            rng.multivariate_normal(means[k], covariances[k], size=np.sum(labels == k))
            for k in range(3)
        ]
    )
    return X, np.sort(labels)


@pytest.mark.parametrize("model", ["EEV", "EVI", "VVE"])
def test_bic_recovers_the_generating_model(model):
    X, labels = _generated(model)
    start = _start(X, labels, 3)
    bics = {}
    for candidate in MODELS:
        fitted = ParsimoniousGaussianMixture(
            3, covariance_model=candidate, stopping="gain", tol=1e-4, **start
        ).fit(X)
        bics[candidate] = fitted.bic(X)
    assert min(bics, key=bics.get) == model, bics


# --------------------------------------------------------------------------
# scikit-learn's estimator checks (as tests/test_estimator_checks.py runs
# them for WeightedGaussianMixture)


def _expected_failed_checks(estimator) -> dict:
    if estimator.n_components == 1:
        return {}
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "The random initialisation of two or more components sees n weighted "
            "rows, not sum(w) repeated rows (from the same start the fits agree: "
            "test_weights_are_repeated_rows)."
        ),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        ParsimoniousGaussianMixture(
            covariance_model="EVE", max_iter=20, random_state=0
        ),
        ParsimoniousGaussianMixture(
            n_components=2, covariance_model="VEV", max_iter=20, random_state=0
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("model", MODELS)
def test_em_equals_a_plain_numpy_em(model):
    """The estimator (compiled kernels, layouts, warm starts) against EM
    written out with scipy's densities and :func:`m_step`."""
    X, labels = _three_clusters(seed=13, n=150)
    start = _start(X, labels, 3)
    floor = np.array([0.01, 0.02, 0.03])
    fitted = _quietly(
        ParsimoniousGaussianMixture(
            3,
            covariance_model=model,
            tol=0.0,
            max_iter=8,
            reg_covar=1e-3,
            covariance_floor=floor,
            **start,
        ),
        X,
    )
    weights = start["weights_init"]
    means = start["means_init"]
    covariances = project(
        np.linalg.inv(start["precisions_init"]), weights * len(X), model
    )
    for _ in range(8):
        joint = np.column_stack(
            [
                np.log(weights[k])
                + scipy.stats.multivariate_normal(means[k], covariances[k]).logpdf(X)
                for k in range(3)
            ]
        )
        resp = np.exp(joint - scipy.special.logsumexp(joint, axis=1, keepdims=True))
        weights, means, covariances = m_step(
            X, resp, model, reg_covar=1e-3, floor=floor, previous=covariances
        )
    np.testing.assert_allclose(fitted.weights_, weights, rtol=1e-7)
    np.testing.assert_allclose(fitted.means_, means, rtol=1e-7)
    np.testing.assert_allclose(fitted.covariances_, covariances, rtol=1e-6, atol=1e-12)
