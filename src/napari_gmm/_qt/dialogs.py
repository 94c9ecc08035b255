"""File dialogs (Qt)."""

from __future__ import annotations

from qtpy.QtWidgets import QFileDialog


def ask_save_path(parent=None, caption="Save", name_filter="CSV files (*.csv)"):
    """Ask the user where to save; None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, caption, "", name_filter)
    return path or None
