"""What the docks say about a result, in the words of their forms (no Qt).

The result line of a sweep, the hint when the choice sits at an end of the
range tried, and the core's advice rewritten for a widget user (who sets
"Starts per model", not ``n_init``).
"""

from __future__ import annotations

import numpy as np

from ._terms import model_name
from .core.criteria import GRADED_CRITERIA, range_edge_note
from .core.report import close_call, evidence, runner_up

#: Advice in the core's notes that names API-only settings, and what a
#: widget user can do instead.
GUI_ADVICE = (
    (
        "Set covariance_floor (1/12 for integer coordinates), or add jitter, "
        "and run again.",
        "Try fewer clusters (the 'to' box), or add a little jitter to the "
        "coordinates, and run again.",
    ),
    ("increase max_iter or tol", "try more Starts per model or fewer clusters"),
    ("Increase max_iter or tol.", "Try more Starts per model or fewer clusters."),
    (
        "Use fewer components, increase reg_covar, set covariance_floor (e.g. "
        "step**2 / 12 per feature for integer data), or rescale the data.",
        "Try fewer clusters (the 'to' box), or rescale the data.",
    ),
    (", pass noise_volume,", ","),
    ("rescale the data or pass noise_volume.", "rescale the data."),
    (
        "rescale (e.g. standardize) the data or lower reg_covar.",
        "tick Standardize features (or rescale the data).",
    ),
)


def gui_note(message: str) -> str:
    """``message`` with advice the user can follow in a widget."""
    for api, gui in GUI_ADVICE:
        message = message.replace(api, gui)
    return message


def notes_sentence(messages) -> str:
    """A result's notes as one text (never one pop-up per note); "" if none."""
    notes = [gui_note(m) for m in messages]
    return " ".join(n if n.endswith(".") else n + "." for n in notes)


def notices(result) -> list[str]:
    """The sweep's messages worth a notification: not the core's note that
    the choice is at an edge of the range (the result line says it, with a
    button)."""
    ks = result.table["n_components"].unique()
    edge = range_edge_note(int(result.best_key[0]), ks)
    return [message for message in result.messages if message != edge]


def edge_note(result, unit: str) -> str:
    """A hint when the chosen K is at an end of the range tried (else "")."""
    ks = sorted(int(k) for k in result.table["n_components"].unique())
    k = int(result.best_key[0])
    if len(ks) < 2:
        return ""  # one K tried: nothing was chosen among numbers
    if k == ks[-1]:
        return f"{k} is the most {unit} tried: more may fit better."
    if k == ks[0] and k > 1:
        return f"{k} is the fewest {unit} tried: try from 1."
    return ""


def summary(result, key, unit: str) -> str:
    """One or two short sentences on the displayed candidate ``key`` of a sweep."""
    table = result.table
    row = table[
        (table.n_components == key[0]) & (table.covariance_type == key[1])
    ].iloc[0]
    name = result.criterion.upper()
    value = row[result.criterion]
    shown = model_name(key[0], key[1], unit)
    if tuple(key) != tuple(result.best_key):
        return (
            f"Showing {shown}: {name} {row.delta:.1f} above the best (lower is better)."
        )
    found = runner_up(result)
    if found is None:
        text = f"Chosen: {shown} ({name} {value:.2f}, lower is better)."
    elif result.criterion in GRADED_CRITERIA:
        text = (
            f"Chosen: {shown}, {evidence(found[1])} evidence "
            f"(next best {name} +{found[1]:.1f}, lower is better)."
        )
    else:
        text = f"Chosen: {shown} (next best {name} +{found[1]:.1f}, lower is better)."
    extra = []
    noise = row.get("noise_weight", np.nan)
    if np.isfinite(noise):
        extra.append(f"{noise:.1%} of the data are noise")
    if "chosen_fraction" in table:
        fraction = table.loc[table["selected"], "chosen_fraction"].iloc[0]
        extra.append(f"chosen by {fraction:.0%} of the stability seeds")
    if extra:
        text += " " + "; ".join(extra).capitalize() + "."
    warning = close_call(found[1], name) if found is not None else None
    edge = edge_note(result, unit)
    return " ".join(part for part in (text, warning, edge) if part)
