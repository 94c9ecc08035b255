import os
import sys

import numpy as np
import pytest

from napari_gmm import make_seed_example, sweep


@pytest.fixture(scope="session")
def seed_X():
    return make_seed_example()


@pytest.fixture(scope="session")
def seed_result(seed_X):
    # scikit-learn's numbers exactly: the acceptance test of the seed example
    return sweep(seed_X, preset="sklearn")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# Real-viewer fixtures: a napari viewer with one of our widgets docked from
# the manifest, as a user opens it. (make_napari_viewer is napari's fixture;
# it closes the viewer and checks for leaks after the test.)
PLUGIN = "napari-gmm"


def _docked(make_napari_viewer, widget_name: str):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
    return viewer, widget


@pytest.fixture
def points_widget(make_napari_viewer):
    """``(viewer, widget)`` with "Gaussian mixture selection" docked."""
    return _docked(make_napari_viewer, "Gaussian mixture selection")


@pytest.fixture
def image_widget(make_napari_viewer):
    """``(viewer, widget)`` with "Segment image intensities" docked."""
    return _docked(make_napari_viewer, "Segment image intensities")


# GUI modules say `pytestmark = pytest.mark.gui`; a test elsewhere that opens a
# viewer or uses Qt gets the marker too, so that `pytest -m "not gui"` runs
# everything that needs no display.
GUI_FIXTURES = {"make_napari_viewer", "qtbot", "points_widget", "image_widget"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if GUI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


# Under PySide6, the interpreter can abort while collecting garbage at exit
# ("Fatal Python error: none_dealloc", napari/vispy objects released after
# Qt's), after every test has passed; main's code does the same. End the
# process with pytest's own exit status before that shutdown.
_EXIT_STATUS = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["status"] = int(exitstatus)


def pytest_unconfigure(config):
    qtpy = sys.modules.get("qtpy")
    if qtpy is None or getattr(qtpy, "API_NAME", "") != "PySide6":
        return
    if "status" not in _EXIT_STATUS or hasattr(config, "workerinput"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["status"])
