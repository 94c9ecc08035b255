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
from .criteria import EVIDENCE_GRADES, evidence, has_noise  # noqa: F401 (re-exported)
from .execution import drive, relay
from .geometry import model_covariances
from .selection import tie_margin
from .sweep import iter_sweep


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
        feature). A noise component (:mod:`.noise`) is a last row with label
        0, its weight, count and mean probability, and no means.
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
        # label 0 (a noise component's samples) goes to the extra last slot
        index = np.where(assignment.labels > 0, assignment.labels - 1, n_components)
        counts = np.bincount(index, weights=w, minlength=n_components + 1)
        total = np.bincount(
            index, weights=w * assignment.probability, minlength=n_components + 1
        )
        noise_count, noise_total = counts[-1], total[-1]
        table["count"], total = counts[:-1], total[:-1]
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
    table = pd.DataFrame(table)
    if has_noise(model):
        # the uniform noise component: label 0, a weight, no mean or spread
        noise = {"label": 0, "weight": model.noise_weight_}
        if X is not None:
            noise["count"] = noise_count
            noise["mean_probability"] = (
                noise_total / noise_count if noise_count else np.nan
            )
        table = pd.concat([table, pd.DataFrame([noise])], ignore_index=True)
    return table


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
        run_total = 0

        def renumbered(fit, offset=offset):
            nonlocal run_total
            run_total = fit.total
            return _shifted(fit, offset, fit.total * seeds)

        results.append((yield from relay(run, renumbered)))
        offset += run_total
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
    return drive(
        iter_stability(X, seeds=seeds, random_state=random_state, **kwargs), progress
    )


def format_component_table(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The component table as text for display: numbers to ``digits`` figures.

    Integer columns (``label``, whole counts) are written without decimals;
    missing values are empty.
    """

    def text(value) -> str:
        if isinstance(value, str):
            return value
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, (int, np.integer)) or (
            isinstance(value, (float, np.floating)) and float(value).is_integer()
        ):
            return str(int(value))
        return f"{float(value):.{digits}g}"

    return table.apply(lambda column: column.map(text)).astype(str)


#: How each criterion is named in sentences.
CRITERION_NAMES = {
    "bic": "BIC",
    "aic": "AIC",
    "icl": "ICL",
    "cv": "CV (-2 x held-out log-likelihood, not BIC)",
}


def _components(n: int) -> str:
    return f"{n} component" if int(n) == 1 else f"{n} components"


def runner_up(result):
    """The next *different* model after the choice, and how much worse it is.

    Candidates tied with the choice (within the sweep's tie tolerance) are
    the same model (e.g. in 1-D spherical, diag and full coincide) and are
    skipped; failed candidates too.

    Returns
    -------
    (row, gap) or None
        The runner-up's table row and its ``delta`` (> 0); None when every
        other candidate is tied or failed.
    """
    table = result.table
    margin = tie_margin(result.best_row[result.criterion])
    others = table.loc[(table["delta"] > margin) & np.isfinite(table["delta"])]
    if others.empty:
        return None
    row = others.loc[others["delta"].idxmin()]
    return row, float(row["delta"])


def close_call(gap: float, name: str) -> str | None:
    """The warning when the runner-up is within 2 of the choice, else None."""
    if gap >= 2:
        return None
    return (
        f"The runner-up is within 2 {name} of the choice: the data hardly "
        "prefer one over the other."
    )


def choice_sentences(result) -> list[str]:
    """The choice of a sweep in plain sentences, direction and evidence included.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    list of str
        What was chosen and that lower is better; the next *different* model
        (candidates tied with the choice are the same model, e.g. in 1-D) with
        its difference and, for BIC and ICL, Kass & Raftery's grade; and a
        warning when that runner-up is within 2.
    """
    from .criteria import GRADED_CRITERIA

    table, criterion = result.table, result.criterion
    name = CRITERION_NAMES.get(criterion, criterion.upper())
    short = name.split(" ")[0]
    best = result.best_row
    value = best[criterion]
    sentences = [
        f"Chosen by {name}, lower is better: {best.covariance_type}, "
        f"{_components(best.n_components)} ({short} = {value:.2f}; "
        f"{len(table)} candidates)."
    ]
    noise = best.get("noise_weight", np.nan)
    if noise > 0.5:
        sentences.append(
            f"The noise component holds {noise:.0%} of the data: most samples "
            "are labelled noise (0); check that the data suit a mixture."
        )
    found = runner_up(result)
    if found is None:
        return sentences
    runner, gap = found
    sentence = (
        f"Next different model: {runner.covariance_type}, "
        f"{_components(runner.n_components)}, Δ{short} = +{gap:.2f}"
    )
    if criterion in GRADED_CRITERIA:
        sentence += f" ({evidence(gap)} evidence for the choice, Kass & Raftery)"
    sentences.append(sentence + ".")
    warning = close_call(gap, short)
    if warning:
        sentences.append(warning)
    return sentences
