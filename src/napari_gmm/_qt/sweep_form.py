"""The sweep settings both docks share: the range of K, shapes, criterion, starts.

:meth:`SweepForm.settings` reads the boxes into a frozen
:class:`~napari_gmm.core.settings.SweepSettings`; the rows are laid out by
the docks (the K range in the short form, the rest under "Advanced").
"""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox, Container, SpinBox

from .._terms import COVARIANCE_NAMES, COVARIANCE_TOOLTIPS
from ..core.criteria import COVARIANCE_TYPES, MODEL_TYPES
from ..core.settings import DEFAULT_INIT_PARAMS, SELECTION_CRITERIA, SweepSettings

#: mclust's ten models beyond scikit-learn's four, in mclust's order.
MORE_MODELS = tuple(name for name in MODEL_TYPES if name not in COVARIANCE_TYPES)

#: Tooltip of the "+ 10 more shapes" box.
MORE_MODELS_TOOLTIP = (
    "Also compare mclust's ten other covariance models ("
    + ", ".join(MORE_MODELS)
    + "): volume, shape and orientation each equal (E) or varying (V) "
    "across clusters, or round / along the axes (I). About 3-4x slower "
    "(the first time also ~20 s to compile them); the plot draws one line "
    "per model and the table names them by their three letters."
)

#: How the criteria are listed in the form.
CRITERION_LABELS = {
    "bic": "BIC (default)",
    "aic": "AIC",
    "icl": "ICL",
    "cv": "CV (held-out data)",
}


class SweepForm:
    """The boxes of a sweep's settings; ``unit`` names a component
    ("clusters", "classes") in labels and tooltips."""

    def __init__(self, unit: str, k_max: int = 6, criterion: str = "bic"):
        self.unit = unit
        self.k_min = SpinBox(
            label="from",
            value=1,
            min=1,
            max=100,
            tooltip=f"Fewest {unit} to try. Keep 1 unless you know there are "
            "at least this many.",
        )
        self.k_max = SpinBox(
            label="to",
            value=k_max,
            min=1,
            max=100,
            tooltip=f"Most {unit} to try. Raise it when the result says the "
            "largest number tried was chosen.",
        )
        self.type_boxes = {
            name: CheckBox(
                text=COVARIANCE_NAMES[name],
                value=True,
                tooltip=COVARIANCE_TOOLTIPS[name],
            )
            for name in COVARIANCE_TYPES
        }
        self.more_models = CheckBox(
            text="+ 10 more shapes (mclust)",
            value=False,
            tooltip=MORE_MODELS_TOOLTIP,
        )
        self._more_models_wanted = False  # the box's value while disabled
        self.criterion = ComboBox(
            label="Choose by",
            choices=[
                (
                    CRITERION_LABELS[name].replace(" (default)", "")
                    + (" (default)" if name == criterion else ""),
                    name,
                )
                for name in SELECTION_CRITERIA
            ],
            value=criterion,
            tooltip="How the best model is chosen; lower is better for all. BIC "
            "balances fit and number of parameters; AIC prefers more "
            f"{unit}; ICL prefers well-separated {unit}; CV scores held-out "
            f"data by cross-validation (slower). Default here: "
            f"{criterion.upper()}.",
        )
        self.noise = CheckBox(
            text="Allow noise (outliers)",
            value=False,
            tooltip="Add a flat background component over the data's range: "
            "scattered outliers get label 0 (grey, is_noise) instead of extra "
            f"{unit}. Turn on when there are stray points or pixels.",
        )
        self.cv_folds = SpinBox(
            label="Cross-validation folds",
            value=0,
            min=0,
            max=20,
            tooltip="Also score each model on held-out data by k-fold "
            "cross-validation (0 = off; 5 when choosing by CV). Each fold adds "
            "two fits per model: slower.",
        )
        self.n_init = SpinBox(
            label="Starts per model",
            value=1,
            min=1,
            max=50,
            tooltip="Fit each model from this many starting points and keep the "
            "best (scikit-learn: n_init). Raise it if results change between "
            "runs or seeds.",
        )
        self.seed = SpinBox(
            label="Random seed",
            value=0,
            min=0,
            max=2**31 - 1,
            tooltip="Seed of the random starting points: the same seed gives "
            "the same result. Change it to check that the choice is stable.",
        )
        self.init = ComboBox(
            label="Starting points",
            choices=[
                ("automatic (several)", "auto"),
                *((name, name) for name in DEFAULT_INIT_PARAMS if name != "auto"),
            ],
            value="auto",
            tooltip="How the starting centres are picked (scikit-learn: "
            "init_params). 'automatic' (the default, as in the Python API) "
            "tries k-means, random, hierarchical, Ward, mclust-style (vvv) and "
            "one-feature k-means (axes) starts and keeps the "
            "best fit; a single one is faster but can end in a worse fit.",
        )
        self.seeds = SpinBox(
            label="Repeat with seeds",
            value=1,
            min=1,
            max=50,
            tooltip="Repeat the whole comparison with this many random seeds and "
            "show how often each model wins (1 = off). Slower; use it to check "
            "that the choice is stable.",
        )

    # -- layout ---------------------------------------------------------------
    def k_range_widget(self) -> Container:
        """'<Unit> to try: from [1] to [6]' on one row."""
        return Container(
            widgets=[self.k_min, self.k_max],
            layout="horizontal",
            labels=True,
            label=f"{self.unit.capitalize()} to try",
            tooltip=f"The numbers of {self.unit} compared; the best is chosen.",
        )

    def types_widget(self) -> Container:
        """The covariance types as check boxes, two per row."""
        boxes = [*self.type_boxes.values(), self.more_models]
        rows = [
            Container(widgets=boxes[i : i + 2], layout="horizontal", labels=False)
            for i in range(0, len(boxes), 2)
        ]
        for row in rows:
            row.margins = (0, 0, 0, 0)
        shapes = Container(
            widgets=rows,
            labels=False,
            label="Shapes",
            tooltip="Which cluster shapes to compare (hover each for its "
            "scikit-learn name). Untick shapes you know do not apply.",
        )
        shapes.margins = (0, 0, 0, 0)
        return shapes

    def model_setting_widgets(self) -> list:
        """Models to compare (advanced): shapes, criterion, starts, seeds."""
        return [
            self.types_widget(),
            self.criterion,
            self.cv_folds,
            self.init,
            self.n_init,
            self.seed,
        ]

    def allow_more_models(self, allowed: bool, reason: str = "") -> None:
        """Enable the "+ 10 more shapes" box, or disable and untick it with
        ``reason`` as its tooltip; its value comes back when enabled again."""
        box = self.more_models
        if allowed and not box.enabled:
            box.value = self._more_models_wanted
        elif not allowed and box.enabled:
            self._more_models_wanted = box.value
            box.value = False
        box.enabled = allowed
        box.tooltip = MORE_MODELS_TOOLTIP if allowed else reason

    # -- reading --------------------------------------------------------------
    def settings(self) -> SweepSettings:
        """The settings in the boxes; ValueError with a sentence if invalid."""
        types = tuple(name for name, box in self.type_boxes.items() if box.value)
        if self.more_models.value:
            types = (*types, *MORE_MODELS)
        if not types:
            raise ValueError(
                "Tick at least one cluster shape (Advanced settings → Shapes)."
            )
        k_min, k_max = self.k_min.value, self.k_max.value
        if k_min > k_max:
            raise ValueError(
                f"{self.unit.capitalize()} to try: 'from' ({k_min}) is larger "
                f"than 'to' ({k_max})."
            )
        return SweepSettings(
            n_components=range(k_min, k_max + 1),
            covariance_types=types,
            criterion=self.criterion.value,
            random_state=int(self.seed.value),
            n_init=int(self.n_init.value),
            init_params=self.init.value,
            noise=bool(self.noise.value),
            cv_folds=int(self.cv_folds.value) or None,
        )
