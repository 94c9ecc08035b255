"""The public API is small and pinned: entry points, result types, settings,
estimators and errors; everything else lives in its documented submodule."""

import importlib
import importlib.metadata
import json

import numpy as np

import napari_gmm
import napari_gmm.core

#: The names ``from napari_gmm import *`` gives. Changing this set changes
#: the public API: update docs/api.md with it.
PUBLIC = {
    # entry points
    "sweep",
    "iter_sweep",
    "segment_image",
    "assign",
    "save_model",
    "load_model",
    "points_feature_matrix",
    # result types
    "SweepResult",
    "CandidateFit",
    "SegmentationResult",
    "Assignment",
    "FeatureMatrix",
    "SavedModel",
    # settings
    "SweepSettings",
    "PixelSettings",
    # estimators
    "WeightedGaussianMixture",
    "NoisyGaussianMixture",
    # errors
    "SweepCancelled",
    "ModelFileError",
}


def test_package_all_is_the_pinned_public_api():
    assert len(napari_gmm.__all__) == len(set(napari_gmm.__all__))
    assert set(napari_gmm.__all__) == PUBLIC | {"__version__"}
    assert set(napari_gmm.core.__all__) == PUBLIC
    for name in PUBLIC:
        # the top level and the core hand out the same objects
        assert getattr(napari_gmm, name) is getattr(napari_gmm.core, name)


def test_star_import_gives_exactly_the_public_api():
    namespace = {}
    exec("from napari_gmm import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC | {"__version__"}


def test_names_outside_the_api_are_in_their_documented_submodules():
    homes = {
        "napari_gmm.core.datasets": ("make_seed_example", "make_blobs_with_outliers"),
        "napari_gmm.core.criteria": ("COVARIANCE_TYPES", "CRITERIA", "n_parameters"),
        "napari_gmm.core.em": ("weighted_criteria", "weighted_log_likelihood"),
        "napari_gmm.core.geometry": ("component_ellipses", "ellipse_outline"),
        "napari_gmm.core.pixels": ("compress_image", "label_image"),
        "napari_gmm.core.report": ("choice_sentences", "stability"),
        "napari_gmm.core.result": ("TABLE_COLUMNS",),
    }
    for module, names in homes.items():
        loaded = importlib.import_module(module)
        for name in names:
            assert hasattr(loaded, name), f"{module}.{name}"
    # gone from the top level: nothing documented imports them from there
    for name in ("weighted_criteria", "component_ellipses", "CRITERIA"):
        assert not hasattr(napari_gmm, name), name


def test_version_comes_from_the_package_metadata(tmp_path):
    assert napari_gmm.__version__ == importlib.metadata.version("napari-gmm")
    X = napari_gmm.make_seed_example()
    result = napari_gmm.sweep(X, n_components=[2], covariance_types=["full"])
    path = tmp_path / "model.json"
    napari_gmm.save_model(path, result.best, result=result)
    saved = json.loads(path.read_text())
    assert saved["napari_gmm_version"] == napari_gmm.__version__
    assert np.isfinite(result.best_row.bic)
