"""Claims at a glance: one row per claim, one column per dataset, each cell coloured by its verdict and
showing the estimate with its 95 % interval (the claims table, ``results/tables/claims.tsv``, drawn)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from xaibench.figures.common import PathLike, save_figure, wrap_text

VERDICT_COLOURS = {
    "supported": "#4daf4a",
    "not supported": "#e41a1c",
    "inconclusive": "#fdd49e",
    "not tested": "#e0e0e0",
}
_ROW_HEIGHT = 0.56  # inches per claim
_TEXT_WIDTH = 48  # characters per line of a claim's label


def _cell_text(row: pd.Series) -> str:
    if row["verdict"] == "not tested" or not math.isfinite(row["estimate"]):
        return "–"
    text = f"{row['estimate']:.2f}"
    if math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"]):
        text += f"\n[{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    if math.isfinite(row["p_value"]):
        text += f"\np={row['p_value']:.2g}"
    return text


def _label(claim: pd.Series) -> str:
    seed = "lit." if claim["seed"] == "literature" else f"seed {claim['seed']}"
    return wrap_text(f"{seed}: {claim['label']}", _TEXT_WIDTH)


def plot_claims(claims: pd.DataFrame, png: PathLike, pdf: PathLike | None = None, title: str = "") -> None:
    """The claims table as a verdict grid (rows: claims in table order, columns: datasets; a claim tested on
    several models of a dataset shows its first model; "–" where not tested)."""
    order = list(dict.fromkeys(claims["claim"]))
    tested = claims[claims["dataset"] != ""]
    datasets = list(dict.fromkeys(tested["dataset"])) or ["(none)"]
    n_rows, n_cols = len(order), len(datasets)
    height = 1.4 + _ROW_HEIGHT * n_rows
    # at least as many column slots as keep the figure no taller than 1.25 x its width before the tight
    # crop (the axes span the empty slots, so the crop keeps them; it trims the labels' margin: ~1.45 after)
    slots = max(n_cols, int(np.ceil((height / 1.25 - 5.2) / 1.25)))
    figure = Figure(figsize=(5.2 + 1.25 * slots, height))
    axes = figure.add_axes((0.42, 0.1, 0.56, 0.8 - 0.4 / max(n_rows, 1)))
    axes.set_xlim(0, slots)
    axes.set_ylim(n_rows, 0)
    axes.set_xticks(np.arange(n_cols) + 0.5, datasets, rotation=30, ha="left", fontsize=8)
    axes.xaxis.tick_top()
    first = claims.drop_duplicates("claim").set_index("claim")
    axes.set_yticks(np.arange(n_rows) + 0.5, [_label(first.loc[c]) for c in order], fontsize=7)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    for i, claim in enumerate(order):
        rows = claims[claims["claim"] == claim]
        for j, dataset in enumerate(datasets):
            cell = rows[rows["dataset"] == dataset]
            verdict = cell.iloc[0]["verdict"] if len(cell) else "not tested"
            if len(cell) == 0 and len(rows) and (rows["dataset"] == "").all():
                verdict = rows.iloc[0]["verdict"]
            axes.add_patch(
                Rectangle((j, i), 1, 1, facecolor=VERDICT_COLOURS[verdict], edgecolor="white", lw=2)
            )
            text = _cell_text(cell.iloc[0]) if len(cell) else "–"
            axes.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6.5)
    handles = [Patch(facecolor=colour, label=verdict) for verdict, colour in VERDICT_COLOURS.items()]
    figure.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.suptitle(title or "Claims at a glance: estimate [95% CI] and p per dataset", fontsize=10)
    save_figure(figure, png, pdf)
