"""Qt-only pieces (imported by the napari widget, never by the core)."""
