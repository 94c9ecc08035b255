"""Save, apply and export buttons of a dock (Qt): tables, model files, layers.

:class:`ModelFiles` writes the criterion table, the component table and the
shown model (JSON, never pickle), applies a saved model to the chosen
input, and adds one ordinary layer per component. What to write comes from
the dock (its ``current_table``, ``component_table``, ``model_document``,
``component_layers`` and ``show_saved_model``); this part asks where and
says what it did.
"""

from __future__ import annotations

import napari
from magicgui.widgets import Container, PushButton

from ..core.model_io import ModelFileError, load_model, save_model
from .dialogs import JSON_FILTER, ask_open_path, ask_save_path


def with_json_suffix(path) -> str:
    """``path`` ending in ``.json`` (added when left out), so that the Apply
    dialog, which lists ``*.json`` files, finds the model again."""
    path = str(path)
    return path if path.lower().endswith(".json") else path + ".json"


class ModelFiles:
    """The "Save, apply, export" group of ``dock`` (a SweepDock)."""

    def __init__(self, dock):
        self._dock = dock
        unit = dock.unit
        self.save_button = PushButton(
            text="Save table…",
            enabled=False,
            tooltip="Write the score of every model tried to a CSV file.",
        )
        self.components_button = PushButton(
            text="Save components…",
            enabled=False,
            tooltip=f"Write the shown model's {unit} (weight, mean, spread) to "
            "a CSV file.",
        )
        self.save_model_button = PushButton(
            text="Save model…",
            enabled=False,
            tooltip="Save the shown model (a .json file) to apply it to other "
            "data later without refitting.",
        )
        self.apply_model_button = PushButton(
            text="Apply model…",
            tooltip="Label the chosen layer with a saved model (.json), without "
            "refitting.",
        )
        self.table_button = PushButton(
            text=f"Table of {unit}",
            enabled=False,
            tooltip=f"Open a table of the shown model's {unit} below the canvas.",
        )
        self.export_button = PushButton(
            text=f"One layer per {unit[:-1]}",
            enabled=False,
            tooltip=f"Add one ordinary layer per {unit[:-1]} (inputs unchanged).",
        )
        self.save_button.changed.connect(lambda _: self.save_table())
        self.components_button.changed.connect(lambda _: self.save_components())
        self.save_model_button.changed.connect(lambda _: self.save_model())
        self.apply_model_button.changed.connect(lambda _: self.apply_model())
        self.table_button.changed.connect(lambda _: dock.show_component_dock())
        self.export_button.changed.connect(lambda _: self.export_components())

    def widgets(self) -> list:
        """The buttons, two per row."""
        pairs = [
            (self.save_button, self.components_button),
            (self.save_model_button, self.apply_model_button),
            (self.table_button, self.export_button),
        ]
        return [
            Container(widgets=list(pair), layout="horizontal", labels=False)
            for pair in pairs
        ]

    def set_enabled(self, running: bool) -> None:
        """Enable what the shown result allows (nothing while a fit runs)."""
        dock, idle = self._dock, not running
        shown = dock.display is not None
        self.save_button.enabled = idle and dock.has_result()
        self.save_model_button.enabled = idle and dock.has_model()
        self.components_button.enabled = idle and dock.has_model()
        self.apply_model_button.enabled = idle
        self.table_button.enabled = idle and shown
        self.export_button.enabled = idle and shown

    def save_table(self, path=None):
        """Write the criterion table to a CSV file (asks where when no path)."""
        table = self._dock.current_table()
        if table is None:
            return None
        path = path or ask_save_path(self._dock.native, "Save criterion table")
        if path:
            table.to_csv(path, index=False)
            self._dock.controls.say(f"Saved the criterion table to {path}.")
        return path

    def save_components(self, path=None):
        """Write the shown model's per-component parameters to CSV."""
        if not self._dock.has_model():
            return None
        path = path or ask_save_path(self._dock.native, "Save component parameters")
        if path:
            self._dock.component_table().to_csv(path, index=False)
            self._dock.controls.say(f"Saved the component parameters to {path}.")
        return path

    def save_model(self, path=None):
        """Save the displayed model (JSON, never pickle); asks where if no path."""
        dock = self._dock
        if not dock.has_model():
            return None
        path = path or ask_save_path(dock.native, "Save model", JSON_FILTER)
        if path:
            path = with_json_suffix(path)
            document = dock.model.model_document()
            document["components"] = dock.component_table()
            save_model(path, document.pop("model"), **document)
            dock.controls.say(f"Saved the model to {path}.")
        return path

    def apply_model(self, path=None):
        """Label the chosen input with a saved model (no refit)."""
        dock = self._dock
        if dock.is_running:
            dock.controls.fail("A fit is running; press Cancel first.", error=False)
            return None
        path = path or ask_open_path(dock.native, "Apply a saved model")
        if not path:
            return None
        try:
            saved = load_model(path)
            dock.show_saved_model(saved, path)
        except (ModelFileError, ValueError) as err:
            dock.controls.fail(str(err))
            return None
        return saved

    def export_components(self) -> list:
        """Add one ordinary layer per component (inputs are not changed)."""
        dock = self._dock
        if dock.display is None or dock.is_running:
            return []
        try:
            outputs = dock.model.component_layers()
        except (ValueError, TypeError, MemoryError) as err:
            dock.controls.fail(f"The components could not be exported: {err}")
            return []
        layers = [napari.layers.Layer.create(*output) for output in outputs]
        for layer in layers:
            dock.viewer.layers.append(layer)
        names = ", ".join(f"'{layer.name}'" for layer in layers)
        dock.controls.say(f"Added {len(layers)} layer(s), one per component: {names}")
        return layers
