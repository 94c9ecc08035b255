"""Parallel candidates and subsample screening for large point sets."""

import numpy as np
import pandas as pd
import pytest

from napari_gmm import SweepCancelled, sweep
from napari_gmm.core.em import weighted_criteria


@pytest.fixture(scope="module")
def four_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]])
    return np.concatenate([rng.normal(c, [1.0, 1.5], (5000, 2)) for c in centres])


def test_parallel_threads_give_the_serial_table(four_blobs):
    kwargs = {"n_components": range(1, 6), "screen": False}
    serial = sweep(four_blobs, n_jobs=1, **kwargs)
    parallel = sweep(four_blobs, n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(
        serial.table.drop(columns="fit_time_s"),
        parallel.table.drop(columns="fit_time_s"),
    )
    seen = []
    sweep(four_blobs, n_jobs=2, progress=lambda d, t, f: seen.append(d), **kwargs)
    assert seen == list(range(1, 21))  # in sweep order


def test_parallel_cancel(four_blobs):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 6

    with pytest.raises(SweepCancelled):
        sweep(four_blobs, n_jobs=2, screen=False, tol=1e-12, cancel=cancel)


def test_screening_chooses_what_the_full_sweep_chooses(four_blobs):
    full = sweep(four_blobs, screen=False)
    screened = sweep(four_blobs, screen=True, screen_size=3000, refit_top=3)
    assert screened.best_key == full.best_key
    table = screened.table
    # at least refit_top refitted; the refit margin may admit more
    assert table["screened"].sum() <= len(table) - 3
    assert not table.loc[table["selected"], "screened"].iloc[0]
    # refitted rows are exact criteria of models fitted on all points
    for row in table[~table["screened"]].itertuples():
        model = screened.model(row.n_components, row.covariance_type)
        exact = weighted_criteria(model, four_blobs)
        assert row.bic == pytest.approx(exact["bic"], rel=1e-12)
        assert row.bic == pytest.approx(model.bic(four_blobs), rel=1e-9)
    # and as good as the full sweep's fit of the same candidate (same optimum)
    best = full.best_row
    assert screened.best_row.bic == pytest.approx(best.bic, rel=1e-4)
    assert any("screened on a random subsample" in m for m in screened.messages)


def test_screening_is_automatic_only_for_large_unweighted_data(four_blobs):
    from napari_gmm.core.large import SCREEN_THRESHOLD

    small = sweep(four_blobs, n_components=[1, 2])
    assert "screened" not in small.table.columns
    assert len(four_blobs) < SCREEN_THRESHOLD
    with pytest.raises(ValueError, match="screen must be"):
        sweep(four_blobs, screen="sometimes")


def test_sweep_on_a_local_dask_cluster_equals_the_local_sweep(seed_X, seed_result):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_cluster = sweep(seed_X, client=client, preset="sklearn")
        by_address = sweep(
            seed_X,
            n_components=[2],
            covariance_types=["full"],
            client=cluster.scheduler_address,
        )
    pd.testing.assert_frame_equal(
        on_cluster.table.drop(columns="fit_time_s"),
        seed_result.table.drop(columns="fit_time_s"),
    )
    assert on_cluster.best_key == (2, "full")
    assert by_address.best_key == (2, "full")


def test_core_works_without_distributed(seed_X):
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "import napari_gmm\n"
        "r = napari_gmm.sweep(napari_gmm.make_seed_example(), n_components=[2])\n"
        "assert r.best_key[0] == 2\n"
        "try:\n"
        "    napari_gmm.sweep(napari_gmm.make_seed_example(), client='tcp://x:1')\n"
        "except ImportError as e:\n"
        "    assert 'distributed' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
