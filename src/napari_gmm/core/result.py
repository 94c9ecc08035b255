"""What a sweep produces: a :class:`CandidateFit` per candidate, a :class:`SweepResult`.

The types only; how the table is filled and the choice made is in
:mod:`napari_gmm.core.outcome` and :mod:`napari_gmm.core.selection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture

#: Columns every :attr:`SweepResult.table` has, in order (see
#: :data:`OPTIONAL_COLUMNS` for those only some sweeps add).
TABLE_COLUMNS = (
    "covariance_type",
    "model",
    "n_components",
    "bic",
    "aic",
    "icl",
    "log_likelihood",
    "n_parameters",
    "converged",
    "degenerate",
    "n_iter",
    "fit_time_s",
    "start",
    "delta",
    "evidence",
    "selected",
    "message",
)

#: Columns a sweep adds only when it computed them, each with where it goes:
#: ``cv`` with ``cv_folds`` and ``noise_weight`` with ``noise`` (just before
#: ``converged``), ``screened`` when large-n screening ran (last; True for the
#: rows whose criteria are estimates, see :mod:`napari_gmm.core.large`).
OPTIONAL_COLUMNS = {
    "cv": "converged",
    "noise_weight": "converged",
    "screened": None,
}


def table_columns(
    cv: bool = False, noise_weight: bool = False, screened: bool = False
) -> list[str]:
    """The columns of a sweep's table, in order: :data:`TABLE_COLUMNS` plus
    the :data:`OPTIONAL_COLUMNS` it computed."""
    columns = list(TABLE_COLUMNS)
    wanted = {"cv": cv, "noise_weight": noise_weight, "screened": screened}
    for name, before in OPTIONAL_COLUMNS.items():
        if not wanted[name]:
            continue
        if before is None:
            columns.append(name)
        else:
            # after the optional columns already placed before the same column
            columns.insert(columns.index(before), name)
    return columns


class SweepCancelled(Exception):
    """Raised by :func:`sweep` when its ``cancel`` callback returns True."""


@dataclass
class CandidateFit:
    """One fitted (or failed) candidate of a sweep.

    A failed candidate has ``model=None``, infinite criteria and a
    ``message`` saying why; it never aborts the sweep.
    """

    index: int
    total: int
    n_components: int
    covariance_type: str
    model: GaussianMixture | None
    log_likelihood: float
    n_parameters: int
    bic: float
    aic: float
    icl: float
    converged: bool
    n_iter: int
    fit_time_s: float
    message: str = ""
    #: ``-2 x`` held-out log-likelihood (k-fold), NaN when not computed.
    cv: float = float("nan")
    #: Weight of the uniform noise component, NaN without one.
    noise_weight: float = float("nan")
    #: Why the fit is degenerate ("" if it is not; see core/candidate.py).
    degenerate: str = ""
    #: The start the kept fit came from ("" for scikit-learn's own).
    start: str = ""
    #: How its criteria were estimated when it was not fitted on all points
    #: (large-n screening, core/large.py; "" otherwise). Shown after
    #: ``message`` in the table's message column; the sweep's notes say it
    #: once for all such rows instead of once per row.
    screening: str = ""

    @property
    def table_message(self) -> str:
        """The table's message column: ``message``, then ``screening``."""
        return "; ".join(m for m in (self.message, self.screening) if m)

    @property
    def key(self) -> tuple[int, str]:
        return (self.n_components, self.covariance_type)

    @property
    def ok(self) -> bool:
        return self.model is not None


@dataclass
class SweepResult:
    """Outcome of :func:`sweep`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, in sweep order (covariance type outer,
        number of components inner), with the columns :data:`TABLE_COLUMNS`
        and those of :data:`OPTIONAL_COLUMNS` the sweep computed.
        ``covariance_type`` is scikit-learn's name for its four models and
        mclust's for the ten others; ``model`` is mclust's name of every row
        ("VII" for spherical, "VVI" diag, "EEE" tied, "VVV" full).
        ``delta`` is the criterion minus the chosen candidate's (>= 0 for
        every candidate that could be chosen: lower is better) and
        ``evidence`` grades it (Kass & Raftery for BIC and ICL: "weak" < 2 <=
        "positive" < 6 <= "strong" < 10 <= "very strong" evidence for the
        chosen model; "chosen" on the chosen row, "same model" on rows tied
        with it, "not eligible (degenerate)" or "not eligible (not
        converged)" on rows with a lower criterion left out of the choice).
        ``fit_time_s`` includes the cross-validation fits when ``cv_folds``
        is set.
    models : dict
        ``{(n_components, covariance_type): GaussianMixture}`` for every
        candidate that could be fitted (a
        :class:`~napari_gmm.core.em.WeightedGaussianMixture`, itself a
        GaussianMixture, when the sweep had weights or a covariance floor).
    criterion : str
        ``"bic"``, ``"aic"`` or ``"icl"``.
    best_key : tuple
        ``(n_components, covariance_type)`` of the chosen candidate.
    n_samples : int or float
        Number of rows of the data, or the total weight (float) when the
        sweep had weights; it is the ``n`` of BIC.
    n_features : int
        Number of features of the data.
    random_state : int
        Seed every candidate was fitted with (drawn and recorded when the
        caller passed None, so a run can always be repeated).
    messages : list of str
        Human-readable notes: skipped or failed candidates, non-convergence.
    settings : dict
        The sweep's settings as given (``init_params``, ``n_init``, ``tol``,
        ``reg_covar``, ``max_iter``, ``noise``, ``noise_volume``,
        ``cv_folds``, ...), JSON-ready, so a run can be repeated
        (``sweep(X, result.settings)``) and a saved model says how it was
        chosen.
    """

    table: pd.DataFrame
    models: dict[tuple[int, str], GaussianMixture]
    criterion: str
    best_key: tuple[int, str]
    n_samples: int | float
    n_features: int
    random_state: int
    messages: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def best(self) -> GaussianMixture:
        """The chosen, fitted :class:`sklearn.mixture.GaussianMixture`."""
        return self.models[self.best_key]

    @property
    def best_row(self) -> pd.Series:
        """The table row of the chosen candidate."""
        return self.table.loc[self.table["selected"]].iloc[0]

    def model(self, n_components: int, covariance_type: str) -> GaussianMixture:
        """The fitted model of any candidate.

        Raises
        ------
        KeyError
            If that candidate was not part of the sweep or failed to fit.
        """
        key = (int(n_components), str(covariance_type))
        if key not in self.models:
            fitted = ", ".join(f"{k}/{t}" for k, t in self.models)
            raise KeyError(
                f"No fitted model for n_components={key[0]}, "
                f"covariance_type={key[1]!r}; fitted candidates: {fitted}."
            )
        return self.models[key]

    def criterion_values(self) -> np.ndarray:
        """Criterion values as an array of shape (n_types, n_k), NaN if absent.

        Rows follow the covariance types and columns the numbers of
        components, both in sweep order.
        """
        pivot = self.table.pivot(
            index="covariance_type", columns="n_components", values=self.criterion
        )
        types = list(dict.fromkeys(self.table["covariance_type"]))
        return pivot.loc[types].to_numpy(dtype=float)
