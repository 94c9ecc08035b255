"""The throttled progress bar: one repaint per interval, the latest value kept."""

import pytest
from magicgui.widgets import ProgressBar

from napari_gmm._qt.progress import PROGRESS_INTERVAL_MS, ThrottledProgress

pytestmark = pytest.mark.gui


def test_rapid_updates_are_merged_and_the_latest_is_shown(qtbot):
    bar = ProgressBar(value=0, min=0, max=1)
    qtbot.addWidget(bar.native)
    shown = ThrottledProgress(bar)
    shown.reset(10)
    assert (bar.native.value(), bar.native.maximum()) == (0, 10)

    values = []
    bar.native.valueChanged.connect(values.append)
    # without the event loop running, the interval cannot end: only the
    # first of these updates reaches the bar
    for done in range(1, 8):
        shown.update(done, 12, f"K={done}")
    assert values == [1]
    assert bar.native.maximum() == 12
    assert bar.native.text() == "1/12 · K=1"

    # when the interval ends, the latest waiting update is shown
    qtbot.waitUntil(lambda: bar.native.value() == 7, timeout=20 * PROGRESS_INTERVAL_MS)
    assert values == [1, 7]
    assert bar.native.text() == "7/12 · K=7"


def test_finish_shows_the_last_update_at_once(qtbot):
    bar = ProgressBar(value=0, min=0, max=1)
    qtbot.addWidget(bar.native)
    shown = ThrottledProgress(bar)
    shown.reset(3)
    for done in (1, 2, 3):
        shown.update(done, 3, "full, K=3")
    shown.finish()
    assert bar.native.value() == 3
    assert bar.native.text() == "3/3 fitted"
    # nothing waits any more: a later interval end changes nothing
    qtbot.wait(2 * PROGRESS_INTERVAL_MS)
    assert bar.native.text() == "3/3 fitted"
