"""One settings object for a sweep: SweepSettings (napari_gmm.core.settings)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from napari_gmm import make_seed_example
from napari_gmm.core import sweep
from napari_gmm.core.settings import SweepSettings

SMALL = {"n_components": [1, 2, 3], "covariance_types": ["full", "diag"]}


@pytest.fixture(scope="module")
def X():
    return make_seed_example()


@pytest.fixture(scope="module")
def by_keywords(X):
    return sweep(X, **SMALL)


def _same_table(a, b):
    columns = [c for c in a.table.columns if c != "fit_time_s"]
    pd.testing.assert_frame_equal(a.table[columns], b.table[columns])


def test_a_settings_object_sweeps_like_the_same_keywords(X, by_keywords):
    result = sweep(X, SweepSettings(**SMALL))
    _same_table(result, by_keywords)
    assert result.settings == by_keywords.settings


def test_keywords_override_the_settings_object(X, by_keywords):
    base = SweepSettings(n_components=[1, 2, 3], covariance_types=["spherical"])
    result = sweep(X, base, covariance_types=["full", "diag"])
    _same_table(result, by_keywords)
    assert base.covariance_types == ["spherical"]  # frozen: unchanged


def test_a_result_settings_dict_repeats_the_run(X, by_keywords):
    again = sweep(X, by_keywords.settings)
    _same_table(again, by_keywords)
    assert again.best_key == by_keywords.best_key


def test_to_dict_and_from_dict_round_trip():
    settings = SweepSettings(
        n_components=range(2, 5), covariance_floor=np.array([0.5, 0.25]), n_init=3
    )
    values = settings.to_dict()
    assert values["n_components"] == [2, 3, 4]
    assert values["covariance_floor"] == [0.5, 0.25]
    assert values["covariance_types"] == ["spherical", "tied", "diag", "full"]
    assert set(values) == {f.name for f in dataclasses.fields(SweepSettings)}
    assert SweepSettings.from_dict(values).to_dict() == values


def test_settings_are_frozen_and_replace_makes_a_copy():
    settings = SweepSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.n_init = 5
    assert settings.replace(n_init=5).n_init == 5 and settings.n_init == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda X: sweep(X, n_component=[1, 2]),
        lambda X: SweepSettings().replace(n_component=[1, 2]),
        lambda X: SweepSettings.from_dict({"n_component": [1, 2]}),
    ],
)
def test_a_misspelled_setting_is_named(X, call):
    with pytest.raises(TypeError, match="n_component"):
        call(X)


def test_a_positional_k_range_says_to_name_it(X):
    with pytest.raises(TypeError, match=r"n_components=range"):
        sweep(X, range(1, 4))


def test_checks_keep_their_messages(X):
    # the checks moved into SweepSettings.checked with their messages
    with pytest.raises(ValueError, match="n_components must all be >= 1"):
        sweep(X, SweepSettings(n_components=[0, 1]))
    with pytest.raises(ValueError, match="preset must be one of"):
        sweep(X, preset="fast")


def test_pixel_settings_are_a_model_files_preprocessing():
    from napari_gmm.core.settings import PixelSettings

    kwargs = {"smoothing_sigma": 1, "n_bins": 64, "criterion": "bic", "mask": None}
    pixels = PixelSettings.from_dict(kwargs)  # sweep settings and the mask ignored
    assert pixels.to_dict() == {
        "channel_axis": None,
        "smoothing_sigma": 1.0,
        "log_transform": False,
        "exclude_zero": False,
        "exclude_saturated": False,
        "n_bins": 64,
        "quantization_floor": True,
    }
    assert "quantization_floor" not in pixels.compress_kwargs()
    assert PixelSettings.from_dict(pixels.to_dict()) == pixels
    per_axis = PixelSettings(smoothing_sigma=(1, 2)).to_dict()["smoothing_sigma"]
    assert per_axis == [1.0, 2.0]


def test_default_threads_follow_the_data_size():
    import os

    from napari_gmm.core.settings import (
        PARALLEL_THRESHOLD,
        SMALL_DATA_THREADS,
        SMALL_DATA_THREADS_MIN_ROWS,
        _resolve_n_jobs,
    )

    cores = os.cpu_count() or 1
    # a few dozen rows: one thread (each fit is too short for threads)
    assert _resolve_n_jobs(None, SMALL_DATA_THREADS_MIN_ROWS - 1, 36) == 1
    small = _resolve_n_jobs(None, SMALL_DATA_THREADS_MIN_ROWS, 36)
    assert small == min(SMALL_DATA_THREADS, cores)
    assert _resolve_n_jobs(None, PARALLEL_THRESHOLD, 36) == min(cores, 36)
    # never more threads than candidates; an explicit value wins
    assert _resolve_n_jobs(None, SMALL_DATA_THREADS_MIN_ROWS, 1) == 1
    assert _resolve_n_jobs(3, 10, 36) == 3


def test_the_default_cap_on_e_steps_grows_on_few_rows(X):
    from napari_gmm.core.settings import MAX_DEFAULT_ITER, default_max_iter

    # 500 on thousands of rows; more (a multiple of 100) on few rows, where
    # an E-step costs microseconds; never above MAX_DEFAULT_ITER
    assert default_max_iter(4_000) == default_max_iter(10**6) == 500
    assert default_max_iter(256) == 7_800
    assert default_max_iter(2) == MAX_DEFAULT_ITER
    assert default_max_iter(0) == MAX_DEFAULT_ITER
    resolved = sweep(X, n_components=[1]).settings["max_iter"]
    assert resolved == default_max_iter(len(X))
    # what the caller gives, and the sklearn preset's 100, are kept
    assert sweep(X, n_components=[1], max_iter=40).settings["max_iter"] == 40
    assert sweep(X, n_components=[1], preset="sklearn").settings["max_iter"] == 100


def test_images_keep_500_e_steps_by_default():
    """Images do not get the larger cap of few rows: past 500 E-steps,
    components on single grey values converge and BIC would choose them
    (segment.IMAGE_MAX_ITER; tests/test_segment.py has the image)."""
    from skimage import data

    from napari_gmm.core import segment_image
    from napari_gmm.core.segment import IMAGE_MAX_ITER

    assert IMAGE_MAX_ITER == 500
    result = segment_image(data.cell(), n_components=range(1, 3))
    assert result.sweep.settings["max_iter"] == IMAGE_MAX_ITER
    chosen = segment_image(data.cell(), n_components=[2], max_iter=40)
    assert chosen.sweep.settings["max_iter"] == 40


@pytest.mark.parametrize("values", [None, [1], "tol=1"])
def test_settings_from_something_else_than_a_dict_is_one_sentence(values):
    with pytest.raises(TypeError, match="settings must be a dict"):
        SweepSettings.from_dict(values)
