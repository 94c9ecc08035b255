"""The compiled EM kernels compute what the numpy EM computes."""

import numpy as np
import pytest

from napari_gmm.core import em, kernels

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")

TYPES = ("spherical", "tied", "diag", "full")


def _data(n=300, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 5.0 * rng.integers(0, k, size=(n, 1))
    w = rng.uniform(0.1, 3.0, size=n)
    log_resp = np.log(rng.dirichlet(np.ones(k), size=n))
    return X, w, log_resp


def _numpy_m_step(X, w, log_resp, reg_covar, floor, covariance_type):
    return em.weighted_gaussian_parameters(
        X, w, np.exp(log_resp), reg_covar, floor, covariance_type
    )


# vectorized loops (up to VECTOR_MAX_FEATURES); the full E-step's matrix products
@pytest.mark.parametrize("d", [1, 3, 12, kernels.VECTOR_MAX_FEATURES + 2])
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("with_floor", [False, True])
def test_m_step_matches_numpy(covariance_type, with_floor, d):
    X, w, log_resp = _data(d=d)
    floor = np.linspace(0.003, 0.2, d) if with_floor else None
    expected = _numpy_m_step(X, w, log_resp, 1e-4, floor, covariance_type)
    *got, chol = kernels.m_step(X, w, np.exp(log_resp), 1e-4, floor, covariance_type)
    for name, a, b in zip(("nk", "means", "covariances"), got, expected, strict=True):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12, err_msg=name)
    expected_chol = em.precision_cholesky(expected[2], covariance_type)
    assert chol.shape == expected_chol.shape
    np.testing.assert_allclose(chol, expected_chol, rtol=1e-10, atol=1e-12)


# vectorized loops (up to VECTOR_MAX_FEATURES); the full E-step's matrix products
@pytest.mark.parametrize("d", [1, 3, 12, kernels.VECTOR_MAX_FEATURES + 2])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_e_step_matches_numpy(covariance_type, d):
    X, w, log_resp = _data(d=d, seed=1)
    nk, means, covariances = _numpy_m_step(X, w, log_resp, 1e-6, None, covariance_type)
    chol = em.precision_cholesky(covariances, covariance_type)
    params = em.MixtureParameters(nk / nk.sum(), means, covariances, chol)
    log_prob, expected_resp = em._log_prob_and_responsibilities(
        X, params, covariance_type
    )
    expected_bound = np.sum(w * log_prob) / np.sum(w)
    bound, got_log_resp, got_resp = kernels.e_step(
        X, w, *params[:2], chol, covariance_type
    )
    assert bound == pytest.approx(expected_bound, rel=1e-12)
    np.testing.assert_allclose(got_log_resp, expected_resp, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_resp, np.exp(expected_resp), rtol=1e-12, atol=1e-15)


def test_e_step_with_an_empty_component_and_far_points():
    # a weight of 0 gives log weight -inf: that column is -inf, rows stay finite
    X, w, log_resp = _data(n=50, d=2, k=3, seed=2)
    X[0] = [1e6, -1e6]  # so far that one component dominates completely
    _, means, covariances = _numpy_m_step(X, w, log_resp, 1e-6, None, "full")
    chol = em.precision_cholesky(covariances, "full")
    weights = np.array([0.5, 0.5, 0.0])
    bound, log_resp, resp = kernels.e_step(X, w, weights, means, chol, "full")
    np.testing.assert_allclose(resp, np.exp(log_resp), rtol=1e-12, atol=1e-300)
    assert np.isfinite(bound)
    assert np.all(log_resp[:, 2] == -np.inf)
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)
    params = em.MixtureParameters(weights, means, covariances, chol)
    with np.errstate(divide="ignore"):
        _, expected = em._log_prob_and_responsibilities(X, params, "full")
    np.testing.assert_allclose(log_resp, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_precision_cholesky_matches_numpy_and_refuses_singular(covariance_type):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 5, 5))
    covariances = A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(5)
    if covariance_type == "tied":
        covariances = covariances[0]
    got = kernels.precision_cholesky(covariances, covariance_type)
    inverse = np.linalg.inv(covariances)
    np.testing.assert_allclose(
        got @ np.swapaxes(got, -1, -2), inverse, rtol=1e-9, atol=1e-12
    )
    assert np.allclose(np.tril(got, -1), 0.0)  # upper triangular, as scikit-learn's
    singular = covariances.copy()
    singular[..., 0, :] = singular[..., 1, :]
    singular[..., :, 0] = singular[..., :, 1]
    assert kernels.precision_cholesky(singular, covariance_type) is None
    with pytest.raises(ValueError, match="not positive definite"):
        em.precision_cholesky(singular, covariance_type)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_m_step_refuses_a_collapsed_component(covariance_type):
    X, w, _ = _data(n=40, d=2, k=2, seed=5)
    resp = np.zeros((40, 2))
    resp[:, 0] = 1.0
    resp[0] = [0.0, 1.0]  # component 1 holds one point: zero variance
    X[0] = 0.0  # (exactly: E[x^2] - E[x]^2 of other values rounds to ~1e-16)
    *_, chol = kernels.m_step(X, w, resp, 0.0, None, covariance_type)
    if covariance_type == "tied":  # the pooled covariance stays positive
        assert chol is not None
    else:
        assert chol is None
        with pytest.raises(ValueError, match="not positive definite"):
            em._kernel_m_step(X, w, resp, 0.0, None, covariance_type)


def test_numpy_path_is_used_without_numba(monkeypatch):
    # the switch the NAPARI_GMM_KERNELS=numpy environment variable sets
    X, w, log_resp = _data(n=80, d=2, k=2, seed=4)
    with_kernels = em.m_step(X, w, log_resp, 1e-6, None, "full")
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert not kernels.usable(X)
    without = em.m_step(X, w, log_resp, 1e-6, None, "full")
    for a, b in zip(with_kernels, without, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def _run_both(X, w, covariance_type, k, monkeypatch, init="kmeans", **settings):
    model = em.WeightedGaussianMixture(
        k, covariance_type=covariance_type, random_state=0, max_iter=0, init_params=init
    ).fit(X, sample_weight=w)
    start = model._current_parameters()
    kwargs = {
        "covariance_type": covariance_type,
        "reg_covar": 1e-6,
        "floor": None,
        "tol": 0.01,
        "max_iter": 400,
        "stopping": "gain",
        "accelerate": True,
        "total_weight": float(w.sum()),
        **settings,
    }
    compiled = em._run_em(X, w, start, -np.inf, **kwargs)
    monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
    python = em._run_em(X, w, start, -np.inf, **kwargs)
    monkeypatch.undo()
    return compiled, python


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_compiled_loop_follows_the_python_loop(
    covariance_type, accelerate, monkeypatch
):
    # as many components as clusters: with more, EM ends on a flat ridge,
    # where differences of 1e-15 grow until the two paths part after ~100
    # E-steps (both still monotone and at the same optimum to 1e-8)
    X, w, _ = _data(n=400, d=3, k=4, seed=13)
    seen = []
    compiled, python = _run_both(
        X,
        w,
        covariance_type,
        4,
        monkeypatch,
        tol=1e-9,
        accelerate=accelerate,
        # plain EM stops within 3 E-steps of the k-means start: a start
        # that needs a run
        init="kmeans" if accelerate else "random_from_data",
        on_iteration=lambda n_iter, change: seen.append(n_iter),
    )
    # the same iterations, to rounding: every E-step's lower bound agrees
    n = min(len(compiled.lower_bounds), len(python.lower_bounds))
    assert n >= 5
    np.testing.assert_allclose(
        compiled.lower_bounds[:n], python.lower_bounds[:n], rtol=1e-9
    )
    assert abs(compiled.n_iter - python.n_iter) <= 3
    assert compiled.converged == python.converged
    assert compiled.lower_bound == pytest.approx(python.lower_bound, rel=1e-9)
    for a, b in zip(compiled.params, python.params, strict=True):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    # the callback saw every E-step number of the compiled run, in order
    # (the python run appended its own numbers after them)
    assert seen[: len(compiled.lower_bounds)] == sorted(
        seen[: len(compiled.lower_bounds)]
    )
    assert seen[len(compiled.lower_bounds) - 1] == compiled.n_iter


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_compiled_loop_halts_on_a_collapse_like_the_python_loop(
    covariance_type, accelerate, monkeypatch
):
    X, w, _ = _data(n=300, d=2, k=3, seed=7)
    X[:40] = X[0]  # 40 identical rows: a component can shrink onto them
    collapse = np.full(2, 1e-3)
    compiled, python = _run_both(
        X,
        w,
        covariance_type,
        6,
        monkeypatch,
        collapse_variance=collapse,
        accelerate=accelerate,
    )
    assert compiled.converged == python.converged
    assert compiled.n_iter == pytest.approx(python.n_iter, abs=3)
    # near a collapse the likelihood is steep: rounding differences grow
    # (measured: 3.5e-7 relative for spherical, 1e-15 for the others)
    assert compiled.lower_bound == pytest.approx(python.lower_bound, rel=1e-5)


def test_compiled_loop_cancels_from_the_callback(monkeypatch):
    from napari_gmm.core import compiled_loop

    monkeypatch.setattr(compiled_loop, "CHUNK_ENTRIES", 1)  # return every cycle
    X, w, _ = _data(n=200, d=2, k=3, seed=8)
    calls = []

    def cancel(n_iter, change):
        calls.append(n_iter)
        if n_iter >= 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run_both(X, w, "full", 4, monkeypatch, on_iteration=cancel)
    assert calls[-1] < 12  # stopped within a cycle of the request


def test_kernels_compile_without_a_cache_location():
    # numba cannot cache a function without a source file (as with a
    # read-only install and home folder): it must compile, not fail
    namespace = {}
    exec("def add_one(x):\n    return x + 1\n", namespace)
    compiled = kernels.njit(cache=True, nogil=True)(namespace["add_one"])
    assert compiled(1.5) == 2.5


def test_ctrl_c_while_a_kernel_returns_is_a_keyboard_interrupt():
    # measured with the command line's Ctrl-C test: the interrupt surfaced as
    # "SystemError: CPUDispatcher(...) returned a result with an exception set"
    def returns_during_an_interrupt():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("returned a result with an exception set") from interrupt

    with pytest.raises(KeyboardInterrupt):
        kernels.call(returns_during_an_interrupt)

    def other_error():
        raise SystemError("something else")

    with pytest.raises(SystemError, match="something else"):
        kernels.call(other_error)


def _partition_case(covariance_type, offset=0.0):
    X, w, _ = _data(n=300, d=3, k=4, seed=21)
    X = X + offset
    rng = np.random.default_rng(5)
    # each row joins the nearest of 4 random rows (random labels would start
    # every run at the symmetric saddle, where rounding decides the path)
    partitions = []
    for _ in range(5):
        centres = X[rng.choice(len(X), 4, replace=False)]
        distances = ((X[:, None, :] - centres[None]) ** 2).sum(axis=2)
        partitions.append(distances.argmin(axis=1))
    shift = em.centring_shift(X, w)
    runs_on = X if shift is None else X - shift
    settings = {
        "n_components": 4,
        "covariance_type": covariance_type,
        "reg_covar": 1e-6,
        "floor": np.full(3, 1e-6),
        "tol": 0.01,
        "max_iter": 60,
        "stopping": "gain",
        "accelerate": True,
        "collapse_variance": np.full(3, 1e-8),
    }
    return X, w, partitions, runs_on, shift, settings


@pytest.mark.parametrize("offset", [0.0, 1e7])  # far from the origin: centred
@pytest.mark.parametrize("covariance_type", TYPES)
def test_partition_runs_in_one_call_follow_one_run_per_start(
    covariance_type, offset, monkeypatch
):
    """em.run_partitions' compiled batch ends where each start's own M-step
    and run end (the Python path: start_mixture, then run_starts)."""
    X, w, partitions, runs_on, shift, settings = _partition_case(
        covariance_type, offset
    )
    assert (shift is not None) == bool(offset)
    batch = em.run_partitions(X, w, partitions, runs_on, w, shift, **settings)
    monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
    python = em.run_partitions(X, w, partitions, runs_on, w, shift, **settings)
    assert len(batch) == len(python) == len(partitions)
    for got, expected in zip(batch, python, strict=True):
        assert got.n_iter == pytest.approx(expected.n_iter, abs=3)
        assert got.converged == expected.converged
        assert got.lower_bound == pytest.approx(expected.lower_bound, rel=1e-9)
        n = min(len(got.lower_bounds), len(expected.lower_bounds))
        np.testing.assert_allclose(
            got.lower_bounds[:n], expected.lower_bounds[:n], rtol=1e-9
        )
        for a, b in zip(got.params, expected.params, strict=True):
            assert np.shape(a) == np.shape(b)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_partition_runs_report_a_failing_start_and_go_on(monkeypatch):
    """A partition whose M-step is not positive definite (a cluster of three
    rows for a full 3-D covariance, no floor) is that start's ValueError; the
    other starts still run, in both paths."""
    X, w, partitions, runs_on, shift, settings = _partition_case("full")
    settings["floor"] = None
    bad = np.zeros(len(X), dtype=int)
    bad[:3] = 1  # three rows span a plane: a singular covariance
    bad[3:6] = 2
    bad[6:9] = 3
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
        ends = em.run_partitions(
            X, w, [partitions[0], bad, partitions[1]], runs_on, w, shift, **settings
        )
        assert isinstance(ends[1], ValueError)
        assert "not positive definite" in str(ends[1])
        assert all(isinstance(end, em.EMRun) for end in (ends[0], ends[2]))


@pytest.mark.parametrize("compiled", [True, False])
def test_partition_runs_retry_the_marked_collapsed_start_with_plain_em(
    compiled, monkeypatch
):
    """plain_retry: a marked start whose accelerated run ends collapsed runs
    again with plain EM, that run replaces it (E-steps of both counted);
    indices stay aligned when an earlier partition fails (Python path)."""
    X, w, partitions, runs_on, shift, settings = _partition_case("full")
    settings["floor"] = None
    bad = np.zeros(len(X), dtype=int)
    bad[:3], bad[3:6], bad[6:9] = 1, 2, 3  # singular covariances: fails
    if not compiled:
        monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
    starts = [bad, partitions[0], partitions[1]]
    accelerated = em.run_partitions(X, w, starts, runs_on, w, shift, **settings)
    plain = em.run_partitions(
        X, w, starts, runs_on, w, shift, **{**settings, "accelerate": False}
    )
    # every run taken for collapsed: the marked one (index 1) runs again
    seen = []
    original = em._collapsed_runs

    def all_collapsed(runs, plain_retry, *args):
        seen.append(list(plain_retry) if plain_retry is not None else None)
        if plain_retry is None:
            return original(runs, plain_retry, *args)
        return [
            i
            for i, (run, wanted) in enumerate(zip(runs, plain_retry, strict=True))
            if wanted and not isinstance(run, ValueError)
        ]

    monkeypatch.setattr(em, "_collapsed_runs", all_collapsed)
    ends = em.run_partitions(
        X, w, starts, runs_on, w, shift, plain_retry=[False, True, False], **settings
    )
    assert isinstance(ends[0], ValueError)
    # the Python path passes run_starts only the starts that did not fail
    assert [False, True, False] in seen or [True, False] in seen
    assert ends[1].lower_bound == pytest.approx(plain[1].lower_bound, rel=1e-9)
    assert ends[1].n_iter == plain[1].n_iter + accelerated[1].n_iter
    assert ends[2].lower_bound == pytest.approx(accelerated[2].lower_bound, rel=1e-9)
    assert ends[2].n_iter == accelerated[2].n_iter


def test_partition_runs_check_between_batches(monkeypatch):
    from napari_gmm.core import compiled_loop

    # one start per compiled call
    monkeypatch.setattr(compiled_loop, "CHUNK_ENTRIES", 1)
    X, w, partitions, runs_on, shift, settings = _partition_case("diag")
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        em.run_partitions(X, w, partitions, runs_on, w, shift, check=check, **settings)
    assert len(calls) == 3  # stopped before the third start


def test_partition_runs_with_zero_weights_and_a_subsample(monkeypatch):
    """As in a sweep: the starts' M-steps see all rows with their weights
    (zeros included), EM runs on a subsample of positive-weight rows."""
    X, w, partitions, _, _, settings = _partition_case("full")
    w = w.copy()
    w[::7] = 0.0
    runs_on = np.flatnonzero(w > 0)[::2]
    args = (X, w, partitions, X[runs_on], w[runs_on], None)
    batch = em.run_partitions(*args, **settings)
    monkeypatch.setattr(em, "COMPILED_LOOP_MAX_ENTRIES", 0)
    python = em.run_partitions(*args, **settings)
    for got, expected in zip(batch, python, strict=True):
        assert got.lower_bound == pytest.approx(expected.lower_bound, rel=1e-9)
        np.testing.assert_allclose(got.params.means, expected.params.means, rtol=1e-6)


def test_partition_runs_refuse_labels_they_cannot_index():
    from napari_gmm.core import compiled_loop

    X, w, partitions, _, _, settings = _partition_case("diag")
    kwargs = {
        key: settings[key]
        for key in ("n_components", "covariance_type", "reg_covar", "floor", "tol")
    }
    common = {
        **kwargs,
        "max_iter": 5,
        "total_weight": float(w.sum()),
        "scale": np.ones(3),
    }
    too_large = partitions[0].copy()
    too_large[0] = 4  # 4 components: labels 0..3
    with pytest.raises(ValueError, match=r"0\.\.3"):
        compiled_loop.run_partitions(X, w, [too_large], X, w, None, **common)
    with pytest.raises(ValueError, match="shape"):
        compiled_loop.run_partitions(X, w, [partitions[0][:-1]], X, w, None, **common)


@pytest.mark.parametrize("n_features", [4, kernels.VECTOR_MAX_FEATURES + 3])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_blocks_add_up_to_the_whole(covariance_type, n_features):
    """More rows than kernels.BLOCK_ROWS: the blocks add up to the whole
    (E- and M-step against numpy), with the E-step's vectorized loops and
    with its matrix products (full, above VECTOR_MAX_FEATURES features)."""
    n = 2 * kernels.BLOCK_ROWS + 37
    X, w, log_resp = _data(n=n, d=n_features, seed=9)
    expected = _numpy_m_step(X, w, log_resp, 1e-6, None, covariance_type)
    *got, chol = kernels.m_step(X, w, np.exp(log_resp), 1e-6, None, covariance_type)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    nk, means, covariances = expected
    params = em.MixtureParameters(nk / nk.sum(), means, covariances, chol)
    log_prob, expected_resp = em._log_prob_and_responsibilities(
        X, params, covariance_type
    )
    bound, _, resp = kernels.e_step(X, w, *params[:2], chol, covariance_type)
    assert bound == pytest.approx(np.sum(w * log_prob) / np.sum(w), rel=1e-12)
    np.testing.assert_allclose(resp, np.exp(expected_resp), rtol=1e-10, atol=1e-14)


def test_vectorized_exponential_within_two_ulp_of_libm():
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            -rng.exponential(30.0, size=20_000),
            -rng.uniform(0.0, 1.0, size=20_000),
            [0.0, -0.0, -1e-300, -5e-17, -0.5 * np.log(2.0), -707.9],
        ]
    )
    got = values.copy()
    kernels.exp_nonpositive(got, np.empty(len(got), np.int64))
    expected = np.exp(values)
    np.testing.assert_allclose(got, expected, rtol=4.5e-16, atol=0.0)
    assert got[-6] == got[-5] == 1.0  # exactly 1 at the row maximum
    # below the lowest exponent: 0 (not a subnormal); -inf: 0
    low = np.array([-708.5, -745.0, -1e6, -np.inf])
    kernels.exp_nonpositive(low, np.empty(4, np.int64))
    assert np.all(low == 0.0)


def test_e_step_rows_with_ties_and_nan_take_the_careful_paths():
    """Two equal components (every row has two entries at its maximum) and
    a row of NaN (the scalar path) give what numpy gives."""
    X, w, log_resp = _data(n=kernels.BLOCK_ROWS + 9, d=2, k=3, seed=4)
    _, means, covariances = _numpy_m_step(X, w, log_resp, 1e-6, None, "diag")
    means[1], covariances[1] = means[0], covariances[0]
    chol = em.precision_cholesky(covariances, "diag")
    weights = np.array([0.3, 0.3, 0.4])
    params = em.MixtureParameters(weights, means, covariances, chol)
    log_prob, expected = em._log_prob_and_responsibilities(X, params, "diag")
    bound, got_log, got = kernels.e_step(X, w, weights, means, chol, "diag")
    assert bound == pytest.approx(np.sum(w * log_prob) / np.sum(w), rel=1e-12)
    np.testing.assert_allclose(got_log, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, np.exp(expected), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got[:, 0], got[:, 1])
    X[5] = np.nan
    bound, got_log, got = kernels.e_step(X, w, weights, means, chol, "diag")
    assert np.isnan(bound)
    assert np.all(np.isnan(got[5])) and np.all(np.isnan(got_log[5]))
    rows = np.arange(len(X)) != 5
    np.testing.assert_allclose(
        got[rows], np.exp(expected[rows]), rtol=1e-12, atol=1e-15
    )


def test_vectorized_logarithm_within_one_ulp_of_libm():
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            1.0 + rng.exponential(0.3, size=20_000),
            rng.uniform(1.0, 200.0, size=20_000),
            [1.0, 1.0 + 2.0**-52, np.sqrt(2.0), 2.0, 9.0],
        ]
    )
    got = values.copy()
    kernels.log_at_least_one(got, np.empty(len(got), np.int64), np.empty(len(got)))
    expected = np.log(values)
    assert got[-5] == 0.0
    # 1 ulp measured here; 2 allowed (machines without fused multiply-add)
    np.testing.assert_allclose(got, expected, rtol=4.5e-16, atol=4.5e-16)


def test_e_step_keeps_the_dominant_log_responsibility_and_one_component():
    """A row whose other component is far (rest ~ 1e-13): the dominant
    component's log responsibility, ~ -1e-13, keeps its digits (log1p's
    series, as the numpy path); one component: responsibilities 1 and the
    log density itself, NaN rows NaN."""
    X = np.array([[0.0], [2.0], [3.0], [-2.0]])
    w = np.ones(len(X))
    means = np.array([[0.0], [10.0]])
    covariances = np.array([[[1.0]], [[1.0]]])
    chol = em.precision_cholesky(covariances, "full")
    weights = np.array([0.5, 0.5])
    params = em.MixtureParameters(weights, means, covariances, chol)
    _, expected = em._log_prob_and_responsibilities(X, params, "full")
    _, got, _ = kernels.e_step(X, w, weights, means, chol, "full")
    assert -1e-10 < expected[1, 0] < 0  # the case this test is about
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    one = em.MixtureParameters(np.ones(1), means[:1], covariances[:1], chol[:1])
    log_prob, _ = em._log_prob_and_responsibilities(X, one, "full")
    bound, log_resp, resp = kernels.e_step(X, w, *one[:2], chol[:1], "full")
    assert bound == pytest.approx(log_prob.mean(), rel=1e-14)
    np.testing.assert_array_equal(resp, 1.0)
    np.testing.assert_array_equal(log_resp, 0.0)
    X[2] = np.nan
    bound, log_resp, resp = kernels.e_step(X, w, *one[:2], chol[:1], "full")
    assert np.isnan(bound) and np.isnan(resp[2, 0]) and np.isnan(log_resp[2, 0])
    assert np.all(resp[[0, 1, 3], 0] == 1.0)


def test_needs_compiling_reads_numbas_cache():
    # a new process with an empty cache folder: the loop is neither loaded
    # nor cached (nothing is compiled here: the check only reads the index)
    import os
    import subprocess
    import sys
    import tempfile

    from napari_gmm import sweep
    from napari_gmm.core import compiled_loop

    code = "from napari_gmm.core import compiled_loop as c; print(c.needs_compiling())"
    compiled = str(kernels.AVAILABLE)
    with tempfile.TemporaryDirectory() as folder:
        for kernels_setting, expected in (("", compiled), ("numpy", "False")):
            env = {
                **os.environ,
                "NUMBA_CACHE_DIR": folder,
                "NAPARI_GMM_KERNELS": kernels_setting,
            }
            out = subprocess.run(
                [sys.executable, "-c", code],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            assert out.stdout.strip() == expected, (kernels_setting, out.stderr)
    if kernels.AVAILABLE:
        # after a sweep in this process the loop is loaded, and cached on
        # disk: a new process reads that from the index
        sweep(np.random.default_rng(0).normal(size=(60, 2)), n_components=[1, 2])
        assert compiled_loop.needs_compiling() is False
        env = {k: v for k, v in os.environ.items() if k != "NAPARI_GMM_KERNELS"}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True
        )
        assert out.stdout.strip() == "False", out.stderr
