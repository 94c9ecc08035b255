"""Qt details of magicgui tables."""

from __future__ import annotations

from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QStyledItemDelegate

#: Rows a component table shows without scrolling (header included).
VISIBLE_ROWS = 3


def make_read_only(table) -> None:
    """A magicgui Table the user can select and copy from but not edit.

    Cells show their text as given (magicgui would rewrite numbers with four
    decimals, e.g. a count of 300100 as 3.001e+05); columns fit their
    contents, and the table is tall enough for a few components even in a
    short bottom dock.
    """
    native = table.native
    native.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    native.setItemDelegate(QStyledItemDelegate(native))
    native.horizontalHeader().setSectionResizeMode(
        QHeaderView.ResizeMode.ResizeToContents
    )
    native.verticalHeader().setVisible(False)  # the label column numbers rows
    native.setMinimumHeight(VISIBLE_ROWS * native.verticalHeader().defaultSectionSize())
