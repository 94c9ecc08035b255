"""The screened sweep's refit rule (napari_gmm.core.large)."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from napari_gmm import sweep
from napari_gmm.core import large
from napari_gmm.core.criteria import n_parameters


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [5, 0], [0, 5]])
    return np.concatenate([rng.normal(c, [1.0, 0.7], (4000, 2)) for c in centres])


KS = (1, 2, 3, 4)
TYPES = ("spherical", "diag", "full")


@pytest.fixture(scope="module")
def full_sweep(blobs):
    return sweep(blobs, n_components=KS, covariance_types=TYPES, screen=False)


@pytest.fixture(scope="module")
def screened_sweep(blobs):
    return sweep(
        blobs,
        n_components=KS,
        covariance_types=TYPES,
        screen=True,
        screen_size=2000,
        refit_top=1,
    )


def test_score_on_all_is_score_samples_and_predict_proba(blobs):
    model = GaussianMixture(3, covariance_type="full", random_state=0).fit(blobs)
    log_likelihood, log_max = large.score_on_all(model, blobs)
    assert log_likelihood == pytest.approx(model.score_samples(blobs).sum(), rel=1e-12)
    expected = np.log(model.predict_proba(blobs).max(axis=1)).sum()
    assert log_max == pytest.approx(expected, rel=1e-10)


def test_refit_margin():
    assert large.refit_margin(10, 1000, 1000) == 0.0
    assert large.refit_margin(10, 10_000, 1000, level=None) == 0.0
    one = large.refit_margin(10, 10_000, 1000)
    # (n/m - 1) x a chi-squared quantile above its mean p
    assert one > 9 * 10
    assert large.refit_margin(10, 19_000, 1000) == pytest.approx(2 * one)
    assert large.refit_margin(10, 10_000, 1000, dof_scale=2) > one
    assert large.refit_margin(20, 10_000, 1000) > one


def test_screening_levels():
    assert large.screening_levels(50_000, 1_000_000) == [200_000]
    assert large.screening_levels(50_000, 150_000) == []
    assert large.screening_levels(1000, 100_000) == [4000, 16_000]


def test_no_unrefitted_candidate_can_win_under_the_margin(
    blobs, full_sweep, screened_sweep
):
    """Every candidate left screened is outside its refit margin of the choice."""
    table = screened_sweep.table
    chosen = table.loc[table["selected"]].iloc[0]
    assert not chosen["screened"]
    assert screened_sweep.best_key == full_sweep.best_key
    n = len(blobs)
    for row in table[table["screened"]].itertuples():
        # 2000-point screen, 12000 points: no intermediate level
        margin = large.refit_margin(row.n_parameters, n, 2000)
        assert row.bic - margin >= chosen["bic"]
        # and fitted on all points from k-means it does not win either
        exact = full_sweep.table.set_index(["n_components", "covariance_type"])
        assert exact.loc[(row.n_components, row.covariance_type), "bic"] > chosen["bic"]
    # a screened estimate is an upper bound: EM from it only lowers the BIC
    for row in table[~table["screened"]].itertuples():
        p = n_parameters(row.n_components, 2, row.covariance_type)
        assert row.n_parameters == p


def test_without_margin_only_refit_top_are_refitted(blobs, monkeypatch, full_sweep):
    monkeypatch.setattr(large, "REFIT_LEVEL", None)
    result = sweep(
        blobs,
        n_components=KS,
        covariance_types=TYPES,
        screen=True,
        screen_size=2000,
        refit_top=2,
    )
    assert (~result.table["screened"]).sum() == 2
    assert "no refit margin" in result.messages[-1]
    assert result.best_key == full_sweep.best_key


def test_intermediate_level_and_refit_all(blobs, full_sweep):
    # 500 -> 2000 points (an intermediate level) -> all 12000
    result = sweep(
        blobs,
        n_components=KS,
        covariance_types=TYPES,
        screen=True,
        screen_size=500,
        refit_top=1,
    )
    assert result.best_key == full_sweep.best_key
    assert not result.best_row["screened"]
    assert "then" in result.messages[-1]  # the intermediate level is reported
    # every candidate refitted: the table has the exact values of all of them
    everything = sweep(
        blobs,
        n_components=KS,
        covariance_types=TYPES,
        screen=True,
        screen_size=2000,
        refit_top=12,
    )
    table = everything.table
    assert not table["screened"].any()
    assert everything.best_key == full_sweep.best_key
    # exact: each row's BIC is its model's on all points
    for row in table.itertuples():
        model = everything.model(row.n_components, row.covariance_type)
        assert row.bic == pytest.approx(model.bic(blobs), rel=1e-9)
    # and near the unscreened sweep's: a refit is warm-started from one
    # subsample fit, while the unscreened sweep runs every start and probes
    # the basins its subsample cannot rank on all points, so a refit can end
    # in another local optimum (measured here: full K = 4, 11 BIC above,
    # diag K = 4, 1.2; spherical K = 2, 89 above since the probe, session
    # 11; the module's docstring)
    np.testing.assert_allclose(table["bic"], full_sweep.table["bic"], rtol=1e-3)
    matching = np.isclose(table["bic"], full_sweep.table["bic"], rtol=1e-6)
    assert matching.sum() >= len(table) - 3


def test_progress_counts_every_step(blobs):
    seen = []
    sweep(
        blobs,
        n_components=(1, 2, 3),
        covariance_types=("full",),
        screen=True,
        screen_size=2000,
        progress=lambda done, total, fit: seen.append((done, total, fit.index)),
    )
    assert [d for d, _, _ in seen] == list(range(1, len(seen) + 1))
    assert [i for _, _, i in seen] == list(range(len(seen)))
    assert seen[-1][1] == len(seen)
    assert all(total >= done for done, total, _ in seen)


def test_cancel_while_screening_or_refitting(blobs):
    from napari_gmm import SweepCancelled

    n_candidates = len(KS) * len(TYPES)
    # stop after the 3rd subsample fit, or after the first refit on all points
    for stop_after in (3, n_candidates + 1):
        state = {"stop": False}

        def progress(done, total, fit, stop_after=stop_after, state=state):
            state["stop"] = done >= stop_after

        with pytest.raises(SweepCancelled):
            sweep(
                blobs,
                n_components=KS,
                covariance_types=TYPES,
                screen=True,
                screen_size=2000,
                refit_top=3,
                n_jobs=2,
                cancel=lambda state=state: state["stop"],
                progress=progress,
            )


def test_subsample_fits_use_the_tolerance_of_their_size(blobs, screened_sweep):
    # default preset: the gain rule's tolerance is log-likelihood left to
    # gain, the same at every size
    from napari_gmm.core.sweep import GAIN_TOL

    n, m = len(blobs), 2000
    for row in screened_sweep.table.itertuples():
        model = screened_sweep.model(row.n_components, row.covariance_type)
        assert model.tol == GAIN_TOL
    # scikit-learn preset, default tol: auto_tol of the points a fit saw
    # (1/m), so the subsample fits stop as precisely as the default stops on
    # all points
    sk = sweep(
        blobs,
        n_components=KS,
        covariance_types=TYPES,
        screen=True,
        screen_size=m,
        preset="sklearn",
    )
    for row in sk.table.itertuples():
        model = sk.model(row.n_components, row.covariance_type)
        if row.screened:
            assert model.tol == pytest.approx(1.0 / m)
        else:  # refitted on all points: the sweep's own tolerance
            assert model.tol == pytest.approx(1.0 / n)
    # an explicit tol applies to every fit
    explicit = sweep(
        blobs,
        n_components=(1, 2),
        covariance_types=("full",),
        screen=True,
        screen_size=m,
        tol=1e-5,
        preset="sklearn",
    )
    assert {explicit.model(k, "full").tol for k in (1, 2)} == {1e-5}


def test_margin_allows_for_where_em_stopped():
    from napari_gmm.core.plan import SweepPlan

    X = np.zeros((1_000_000, 2))
    params = {"tol": 1e-6, "n_init": 1, "reg_covar": 1e-6, "max_iter": 100}
    plan = SweepPlan(X, (), "bic", 0, params, tol_follows_n=True)
    assert large.subsample_params(plan, 50_000)["tol"] == pytest.approx(2e-5)
    assert large.subsample_params(plan, len(X))["tol"] == 1e-6
    # 2 n tol: 40 for a fit that stopped at tol = 1/50,000, 2 on all points
    assert large.convergence_allowance(plan, 50_000) == pytest.approx(40.0)
    assert large.convergence_allowance(plan, len(X)) == pytest.approx(2.0)
    fixed = SweepPlan(X, (), "bic", 0, params, tol_follows_n=False)
    assert large.subsample_params(fixed, 50_000)["tol"] == 1e-6


def test_a_failing_refit_is_one_failed_row_not_an_aborted_sweep(blobs, monkeypatch):
    class FailsForThree(large.WeightedGaussianMixture):
        def fit(self, X, *args, **kwargs):
            if self.n_components == 3:
                raise np.linalg.LinAlgError("singular covariance (simulated)")
            return super().fit(X, *args, **kwargs)

    # only the refits use large.WeightedGaussianMixture: K=3 screens fine,
    # is the best screened candidate, and its refit fails
    monkeypatch.setattr(large, "WeightedGaussianMixture", FailsForThree)
    result = sweep(
        blobs,
        n_components=(2, 3, 4),
        covariance_types=("full",),
        screen=True,
        screen_size=2000,
    )
    row = result.table.set_index("n_components").loc[3]
    assert np.isinf(row["bic"])
    assert "failed when refitted on 12000 points" in row["message"]
    assert "simulated" in row["message"]
    assert result.best_key in {(2, "full"), (4, "full")}
    assert np.isfinite(result.table["bic"]).sum() == 2


def test_a_refit_failing_on_a_larger_subsample_leaves_the_others(blobs, monkeypatch):
    # 12,000 points screened on 1,000: the admitted candidates go to a
    # 4,000-point level first; there every refit fails here
    class FailsOnTheLevel(large.WeightedGaussianMixture):
        def fit(self, X, *args, **kwargs):
            if len(X) == 4000:
                raise np.linalg.LinAlgError("simulated at the level")
            return super().fit(X, *args, **kwargs)

    monkeypatch.setattr(large, "WeightedGaussianMixture", FailsOnTheLevel)
    result = sweep(
        blobs,
        n_components=(1, 2, 3, 4),
        covariance_types=("full", "diag"),
        screen=True,
        screen_size=1000,
    )
    table = result.table
    failed = table[np.isinf(table["bic"])]
    assert len(failed) >= 1
    assert failed["message"].str.contains("failed when refitted on 4000 points").all()
    best = table.set_index(["n_components", "covariance_type"]).loc[result.best_key]
    assert np.isfinite(best["bic"]) and result.model(*result.best_key) is not None
    # when every candidate that reached the level failed, the sweep says so
    # in one sentence (it used to refit a failed fit: AttributeError)
    with pytest.raises(ValueError, match="No candidate could be fitted") as error:
        sweep(
            blobs,
            n_components=(3, 4),
            covariance_types=("full", "diag"),
            screen=True,
            screen_size=1000,
        )
    assert "failed when refitted on 4000 points" in str(error.value)
