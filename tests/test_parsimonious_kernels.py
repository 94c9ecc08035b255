"""The compiled parsimonious M-steps and EM loop against the numpy reference."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_gmm.core import compiled_loop, em, parsimonious, parsimonious_kernels
from napari_gmm.core.parsimonious import MODELS, covariance_objective
from napari_gmm.core.parsimonious_em import ParsimoniousGaussianMixture

pytestmark = pytest.mark.skipif(
    not parsimonious_kernels.AVAILABLE, reason="numba is not available"
)


def _scatter_problem(seed, n_components, n_features):
    """Scatter matrices of very different scales per feature, weights, and
    previous covariances (a warm start that does not satisfy the model)."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.1, 10.0, size=(1, n_features, 1))
    factors = rng.normal(size=(n_components, n_features, n_features + 3)) * scales
    scatter = factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(n_features)
    nk = rng.uniform(1.0, 50.0, n_components)
    other = rng.normal(size=(n_components, n_features, n_features + 2))
    previous = other @ np.swapaxes(other, 1, 2) / (n_features + 2)
    return scatter, nk, previous + 0.1 * np.eye(n_features)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("n_components", "n_features"), [(1, 1), (1, 3), (3, 1), (3, 2), (5, 4)]
)
@pytest.mark.parametrize("warm", [False, True])
def test_compiled_m_steps_equal_the_numpy_ones(
    model, n_components, n_features, warm, monkeypatch
):
    scatter, nk, previous = _scatter_problem(7, n_components, n_features)
    previous = previous if warm else None
    monkeypatch.setattr(parsimonious, "USE_COMPILED", False)
    reference = parsimonious.constrained_covariances(scatter, nk, model, previous)
    monkeypatch.setattr(parsimonious, "USE_COMPILED", True)
    through_module = parsimonious.constrained_covariances(scatter, nk, model, previous)
    whole, ok = parsimonious_kernels.constrained(
        scatter,
        nk,
        parsimonious.MODEL_CODES[model],
        np.empty((0, 0, 0)) if previous is None else previous,
        previous is not None,
        parsimonious.INNER_TOL,
        parsimonious.INNER_MAX_ITER,
    )
    assert ok
    best = covariance_objective(scatter, nk, reference)
    for covariances in (through_module, whole):
        # the same minimum of F, the same covariances (the iterative models
        # stop within INNER_TOL of it, along paths rounded differently)
        assert covariance_objective(scatter, nk, covariances) == pytest.approx(
            best, rel=1e-11
        )
        np.testing.assert_allclose(
            covariances, reference, rtol=0, atol=1e-7 * np.abs(reference).max()
        )
        np.testing.assert_array_equal(covariances, np.swapaxes(covariances, 1, 2))


@pytest.mark.parametrize(
    "values",
    [
        [3.0],
        [1.0, 2.0, 3.0],
        [2.0, 2.0, 5.0, 5.0],  # repeated eigenvalues
        [1e-9, 1.0, 1e6],  # a wide range
        [-1.0, 0.0, 4.0],  # not positive definite
    ],
)
def test_symmetric_eigen_is_an_eigendecomposition(values):
    rng = np.random.default_rng(len(values))
    d = len(values)
    rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
    matrix = (rotation * values) @ rotation.T
    matrix = 0.5 * (matrix + matrix.T)
    found = np.empty(d)
    vectors = np.empty((d, d))
    parsimonious_kernels.symmetric_eigen(matrix, found, vectors)
    scale = np.abs(values).max()
    np.testing.assert_allclose(found, np.sort(values), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(d), atol=1e-13)
    np.testing.assert_allclose(
        matrix @ vectors, vectors * found, rtol=0, atol=1e-12 * scale
    )


def _three_clusters(seed=3, n=300):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-2.0, 7.0, 3.0]])
    shapes = [np.diag([1.0, 0.3, 0.5]), np.diag([0.4, 1.5, 0.7]), np.eye(3)]
    parts = [
        rng.multivariate_normal(centre, shape @ shape.T, size=n // 3)
        for centre, shape in zip(centres, shapes, strict=True)
    ]
    return np.vstack(parts)


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize("model", [m for m in MODELS if m not in ("VVV", "EEE")])
def test_compiled_em_follows_the_python_em(model, accelerate, monkeypatch):
    """EM with the gain rule (SQUAREM, the default, or plain) of a
    parsimonious model runs as the compiled loop; it takes the Python loop's
    path, to rounding."""
    X = _three_clusters()
    settings = {
        "covariance_model": model,
        "stopping": "gain",
        "accelerate": accelerate,
        "tol": 1e-8,
        "max_iter": 500,
        "random_state": 0,
    }
    compiled = ParsimoniousGaussianMixture(3, **settings).fit(X)
    # it did run there: the loop was compiled for a model's integer code
    assert any(
        str(signature[-2]) == "int64"
        for signature in compiled_loop._squarem_chunk.signatures
    )
    monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
    python = ParsimoniousGaussianMixture(3, **settings).fit(X)
    assert compiled.lower_bound_ == pytest.approx(python.lower_bound_, rel=1e-10)
    assert abs(compiled.n_iter_ - python.n_iter_) <= 3
    assert compiled.converged_ == python.converged_
    np.testing.assert_allclose(compiled.weights_, python.weights_, rtol=1e-6)
    np.testing.assert_allclose(compiled.means_, python.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        compiled.covariances_, python.covariances_, rtol=1e-5, atol=1e-8
    )


def test_the_default_fit_does_not_compile_the_parsimonious_code():
    """A sweep of scikit-learn's four types never compiles the parsimonious
    M-step (numba prunes the branch): a first sweep does not pay for it."""
    script = textwrap.dedent(
        """
        import numpy as np
        from napari_gmm.core import compiled_loop, parsimonious_kernels, sweep

        X = np.random.default_rng(0).normal(size=(200, 2))
        sweep(X, n_components=range(1, 3), n_jobs=1)
        used = compiled_loop._squarem_chunk.signatures
        # (a callee's own signatures would stay empty when the loop comes
        # from numba's cache: the loop's tell what was compiled or loaded)
        print(len(used), len(parsimonious_kernels.constrained.signatures))
        print(all(str(signature[-2]) == "none" for signature in used))
        sweep(X, n_components=range(1, 3), covariance_types=["EEV"], n_jobs=1)
        used = compiled_loop._squarem_chunk.signatures
        print(sum(str(signature[-2]) == "int64" for signature in used))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    n_chunks, n_parsimonious, all_plain, n_after = output
    assert int(n_chunks) >= 1
    assert n_parsimonious == "0"
    assert all_plain == "True"
    assert n_after == "1"  # a parsimonious model compiles its own variant
