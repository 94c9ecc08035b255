"""Qt details of magicgui tables."""

from __future__ import annotations

from qtpy.QtWidgets import QAbstractItemView, QHeaderView


def make_read_only(table) -> None:
    """A magicgui Table the user can select and copy from but not edit."""
    native = table.native
    native.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    native.horizontalHeader().setSectionResizeMode(
        QHeaderView.ResizeMode.ResizeToContents
    )
