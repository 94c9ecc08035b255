"""File dialogs (Qt)."""

from __future__ import annotations

from qtpy.QtWidgets import QFileDialog

JSON_FILTER = "napari-gmm model (*.json)"


def ask_save_path(parent=None, caption="Save", name_filter="CSV files (*.csv)"):
    """Ask the user where to save; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, caption, "", name_filter)
    return path or None


def ask_open_path(parent=None, caption="Open", name_filter=JSON_FILTER):
    """Ask the user for an existing file; None when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, caption, "", name_filter)
    return path or None
