"""The points dock's model, without Qt: the run and what is shown.

:class:`PointsSweepModel` turns a
:class:`~napari_gmm._points_request.SweepRequest` (the Points layers, which
features, a :class:`~napari_gmm.core.settings.SweepSettings`) into a sweep
or a live refit, started through its runner, and keeps the
:class:`Display`: the result and the candidate shown. The widget
(:mod:`napari_gmm._widget`) only reads its form into a request and draws
the display; tests drive this model directly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from ._colors import label_colors, slot_colors
from ._layers import component_points_layers
from ._points_request import SweepRequest, read_points
from ._run_model import RunCallbacks, SweepRunModel, form_kwargs
from .core import assign, iter_sweep
from .core.points import FeatureMatrix
from .core.refit import follow_slots, refit_same, refit_warm
from .core.report import component_table, iter_stability
from .core.settings import SweepSettings


@dataclass
class Display:
    """What is shown now: the data, the sweep, and the displayed model."""

    request: SweepRequest
    matrix: FeatureMatrix
    result: object  # SweepResult, or None for a loaded model
    key: tuple[int, str]
    model: object  # GaussianMixture
    slots: np.ndarray  # color slot of each component (stable across refits)


@dataclass(frozen=True)
class Fitted:
    """What a run returned, with the request and matrix it was fitted on."""

    request: SweepRequest
    matrix: FeatureMatrix
    value: object  # SweepResult (a sweep) or GaussianMixture (a live refit)

    @property
    def is_sweep(self) -> bool:
        """The run was a sweep (``value`` is a SweepResult), not one refit."""
        return hasattr(self.value, "best_key")


class PointsSweepModel(SweepRunModel):
    """Run sweeps and live refits on Points layers; keep the :class:`Display`.

    Parameters
    ----------
    runner : callable, optional
        How runs are started (see :class:`~napari_gmm._run_model.SweepRunModel`);
        default: in the calling thread.
    """

    def run(self, request: SweepRequest, callbacks: RunCallbacks | None = None):
        """Start a sweep; ``callbacks.result`` gets a :class:`Fitted`.

        Raises
        ------
        ValueError, TypeError
            Before anything starts, when the request cannot be fitted.
        """
        callbacks = callbacks or RunCallbacks()
        matrix = request.feature_matrix()
        kwargs = form_kwargs(request.settings)
        cancel = self.cancel_check()
        if request.seeds > 1:
            body = iter_stability(
                matrix.X, seeds=request.seeds, cancel=cancel, **kwargs
            )
        else:
            body = iter_sweep(matrix.X, cancel=cancel, **kwargs)
        return self._start(request, matrix, body, callbacks)

    def refit(
        self,
        mode: str,
        callbacks: RunCallbacks | None = None,
        request: SweepRequest | None = None,
    ):
        """Refit the shown model on the layers' current points (live mode).

        ``mode`` is one of :data:`~napari_gmm.core.refit.REFIT_MODES`;
        "new sweep" gives ``callbacks.result`` a :class:`Fitted` with a
        SweepResult, the others one with a refitted GaussianMixture.
        ``request``: the shown request re-read (default: re-read now).

        Raises
        ------
        ValueError
            Before anything starts, when the edited points cannot be fitted.
        """
        callbacks = callbacks or RunCallbacks()
        request = self.display.request.reread() if request is None else request
        matrix = request.feature_matrix()
        if mode == "new sweep":
            kwargs = form_kwargs(request.settings)
            body = iter_sweep(matrix.X, cancel=self.cancel_check(), **kwargs)
        else:
            refit = refit_warm if mode == "warm start" else refit_same
            shown = self.display.model
            body = lambda: refit(matrix.X, shown)  # noqa: E731 - a worker body
        return self._start(request, matrix, body, callbacks)

    def _start(self, request, matrix, body, callbacks: RunCallbacks):
        def result(value):
            callbacks.result(Fitted(request, matrix, value))

        return self.start(body, replace(callbacks, result=result))

    # -- what is shown --------------------------------------------------------
    def show_sweep(self, fitted: Fitted) -> Display:
        """Show the chosen candidate of a sweep's result."""
        result = fitted.value
        model = copy.deepcopy(result.best)
        self.display = Display(
            request=fitted.request,
            matrix=fitted.matrix,
            result=result,
            key=tuple(result.best_key),
            model=model,
            slots=np.arange(model.n_components),
        )
        return self.display

    def show_refit(self, fitted: Fitted) -> Display:
        """Show a live refit, its colors following the shown components."""
        display = self.display
        if fitted.is_sweep:
            result = fitted.value
            model, key = copy.deepcopy(result.best), tuple(result.best_key)
        else:
            model, key, result = fitted.value, display.key, display.result
        slots = follow_slots(model, display.model, display.slots)
        self.display = Display(fitted.request, fitted.matrix, result, key, model, slots)
        return self.display

    def show_candidate(self, key) -> Display:
        """Show another candidate of the shown sweep (KeyError if not fitted)."""
        display = self.display
        model = copy.deepcopy(display.result.model(*key))
        slots = follow_slots(model, display.model, display.slots)
        self.display = replace(display, key=tuple(key), model=model, slots=slots)
        return self.display

    def show_saved(self, saved, layers, path, settings=None) -> Display:
        """Show a loaded model (:func:`~napari_gmm.core.model_io.load_model`)
        on the points of ``layers``, without refitting.

        ``settings`` are kept in the request (what a live "new sweep" uses).

        Raises
        ------
        ValueError
            If the model is for images, no layer is given, or the model's
            features do not match the layers'.
        """
        features = saved.features
        if features.get("kind", "points") not in ("points", "table"):
            raise ValueError(f"{path} is a model for images, not for points.")
        if not layers:
            raise ValueError("Add or choose a Points layer to apply the model to.")
        dims = features.get("coordinate_dims")
        columns = tuple(features.get("columns") or ())
        if "columns" not in features:  # written by `napari-gmm cluster`: columns only
            dims, columns = (), tuple(features["names"])
        layers = tuple(layers)
        request = SweepRequest(
            layers=layers,
            points=read_points(layers, columns),
            coordinate_dims=None if dims is None else tuple(dims),
            columns=columns,
            standardize=False,
            settings=SweepSettings() if settings is None else settings,
        )
        raw = request.feature_matrix()
        if raw.X.shape[1] != len(features["names"]):
            raise ValueError(
                f"The model uses {len(features['names'])} features "
                f"({features['names']}); the layer gives {raw.X.shape[1]}."
            )
        matrix = replace(
            raw,
            X=saved.transform(raw.X),
            center=features["center"],
            scale=features["scale"],
        )
        model = saved.model
        self.display = Display(
            request=request,
            matrix=matrix,
            result=None,
            key=(model.n_components, model.covariance_type),
            model=model,
            slots=np.arange(model.n_components),
        )
        return self.display

    # -- tables and files -----------------------------------------------------
    def component_table(self) -> pd.DataFrame:
        """One row per component of the shown model, with its color."""
        display = self.display
        matrix = display.matrix
        table = component_table(
            display.model,
            matrix.X,
            list(matrix.names),
            center=matrix.center,
            scale=matrix.scale,
        )
        # label k -> its slot's color; a noise row (label 0) is grey
        colors = label_colors(slot_colors(display.slots), table["label"])
        table["color"] = [to_hex(rgba) for rgba in colors]
        return table

    def component_layers(self) -> list[tuple]:
        """One Points layer-data tuple per component, with the points' features."""
        display = self.display
        request = display.request
        return component_points_layers(
            request.coordinates,
            assign(display.model, display.matrix.X),
            display.model,
            request.name,
            request.size,
            slot_colors(display.slots),
            features=request.features,
        )

    def model_document(self) -> dict:
        """Keyword arguments of :func:`~napari_gmm.core.model_io.save_model`."""
        display = self.display
        matrix, request = display.matrix, display.request
        dims = request.coordinate_dims
        return {
            "model": display.model,
            "feature_names": list(matrix.names),
            "center": matrix.center,
            "scale": matrix.scale,
            "features_extra": {
                "kind": "points",
                "coordinate_dims": None
                if dims is None
                else list(matrix.coordinate_dims),
                "columns": list(request.columns),
                "standardize": request.standardize,
            },
            "result": display.result,
        }
