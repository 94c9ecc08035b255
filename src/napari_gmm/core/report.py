"""What a user needs to trust and reuse a choice: per-component parameters,
the strength of the evidence, and the stability of the choice over seeds.

Sign convention: napari-gmm reports criteria as scikit-learn does, *lower is
better* (BIC = -2 log L + p ln n). Some tools (R's mclust) report
2 log L - p ln n, where higher is better; there ``ΔBIC`` has the opposite
sign. Here ``delta = criterion - criterion of the chosen model >= 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .components import assign
from .geometry import model_covariances

#: Kass & Raftery (1995) grades of evidence for a BIC difference, on the
#: 2 ln(Bayes factor) scale that ΔBIC approximates: (upper bound, words).
EVIDENCE_GRADES = (
    (2.0, "weak"),
    (6.0, "positive"),
    (10.0, "strong"),
    (np.inf, "very strong"),
)


def evidence(delta: float) -> str:
    """Words for a criterion difference (Kass & Raftery, 1995).

    ``delta`` is how much higher (worse) the alternative's criterion is:
    below 2 "weak", 2-6 "positive", 6-10 "strong", above 10 "very strong".
    """
    delta = float(delta)
    if not np.isfinite(delta):
        return "very strong" if delta > 0 else "undefined"
    for bound, words in EVIDENCE_GRADES:
        if abs(delta) < bound:
            return words
    return "very strong"  # pragma: no cover - the last bound is infinite


def component_table(
    model,
    X: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    sample_weight: np.ndarray | None = None,
    center: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per component: weight, mean, standard deviations, correlations.

    Parameters
    ----------
    model : GaussianMixture
        Fitted; components in label order (label = row + 1).
    X : ndarray of shape (n_samples, n_features), optional
        The fitted data; adds ``count`` (samples assigned, weighted when
        ``sample_weight`` is given) and ``mean_probability``.
    feature_names : sequence of str, optional
        Column-name stems; default ``feature 0``, ``feature 1``, ...
    center, scale : ndarray of shape (n_features,), optional
        Report means and standard deviations in raw units when the data were
        standardized (``raw = X * scale + center``).

    Returns
    -------
    DataFrame
        Columns ``label, weight, [count, mean_probability,] mean <name>...,
        sd <name>..., corr <a>/<b>...`` (correlations only for more than one
        feature).
    """
    means = np.asarray(model.means_, dtype=float)
    n_components, n_features = means.shape
    names = list(feature_names or [f"feature {i}" for i in range(n_features)])
    center = np.zeros(n_features) if center is None else np.asarray(center, float)
    scale = np.ones(n_features) if scale is None else np.asarray(scale, float)
    covariances = model_covariances(model)
    sds = np.sqrt(np.einsum("kii->ki", covariances))
    table = {"label": np.arange(1, n_components + 1), "weight": model.weights_}
    if X is not None:
        assignment = assign(model, X)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight)
        index = assignment.labels - 1
        table["count"] = np.bincount(index, weights=w, minlength=n_components)
        total = np.bincount(
            index, weights=w * assignment.probability, minlength=n_components
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            table["mean_probability"] = total / table["count"]
    for j, name in enumerate(names):
        table[f"mean {name}"] = means[:, j] * scale[j] + center[j]
    for j, name in enumerate(names):
        table[f"sd {name}"] = sds[:, j] * scale[j]
    for a in range(n_features):
        for b in range(a + 1, n_features):
            table[f"corr {names[a]}/{names[b]}"] = covariances[:, a, b] / (
                sds[:, a] * sds[:, b]
            )
    return pd.DataFrame(table)


def _stability_columns(result, tables: list[pd.DataFrame]) -> pd.DataFrame:
    criterion = result.criterion
    stacked = pd.concat(tables, ignore_index=True)
    finite = stacked[criterion].replace([np.inf, -np.inf], np.nan)
    stacked = stacked.assign(_value=finite)
    grouped = stacked.groupby(["covariance_type", "n_components"], sort=False)
    summary = pd.DataFrame(
        {
            "chosen_fraction": grouped["selected"].mean(),
            f"{criterion}_sd": grouped["_value"].std(ddof=0),
            f"{criterion}_min": grouped["_value"].min(),
            f"{criterion}_max": grouped["_value"].max(),
        }
    ).reset_index()
    return result.table.merge(
        summary, on=["covariance_type", "n_components"], how="left"
    )


def iter_stability(X, seeds: int = 5, random_state: int = 0, **sweep_kwargs):
    """Run the sweep with ``seeds`` consecutive seeds; a generator.

    Yields every fitted candidate of every run (``index``/``total`` count
    over all runs) and returns the :class:`SweepResult` of the first seed
    (``random_state``) whose table has four more columns: ``chosen_fraction``
    (how often each candidate was chosen over the seeds) and the standard
    deviation, minimum and maximum of its criterion. A choice made by every
    seed is not a matter of luck; one made by 2 of 5 is.
    """
    from .sweep import iter_sweep

    seeds = int(seeds)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}.")
    if random_state is None:
        raise ValueError("A stability report needs an integer random_state.")
    runs = [
        iter_sweep(X, random_state=int(random_state) + s, **sweep_kwargs)
        for s in range(seeds)
    ]
    results = []
    offset = 0
    for run in runs:
        while True:
            try:
                fit = next(run)
            except StopIteration as finished:
                results.append(finished.value)
                offset += fit.total
                break
            yield_total = fit.total * seeds
            yield _shifted(fit, offset, yield_total)
    first = results[0]
    first.table = _stability_columns(first, [r.table for r in results])
    agreeing = sum(r.best_key == first.best_key for r in results)
    first.messages.append(
        f"Stability: {agreeing} of {seeds} seeds chose {first.best_key[1]}, "
        f"{first.best_key[0]} components."
    )
    return first


def _shifted(fit, offset: int, total: int):
    import dataclasses

    return dataclasses.replace(fit, index=fit.index + offset, total=total)


def stability(X, seeds: int = 5, random_state: int = 0, progress=None, **kwargs):
    """:func:`iter_stability` run to the end (``progress`` as in ``sweep``)."""
    from .sweep import drive

    return drive(
        iter_stability(X, seeds=seeds, random_state=random_state, **kwargs), progress
    )
