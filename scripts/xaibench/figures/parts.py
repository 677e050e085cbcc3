"""Where on the object the relevance lies (seed 002): per method, the enrichment of each zone of the object
(relevance share / area share; 1 = what area alone predicts) with its 95 % interval, and on counting images
how evenly the relevance covers the objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xaibench.figures.common import PathLike, method_label, save_figure

ZONE_COLOURS = {
    "corner": "#d62728",
    "edge": "#ff7f0e",
    "interior": "#1f77b4",
    "background": "#7f7f7f",
    "object": "#1f77b4",
}
_ROW = 0.26  # inches per method


def _methods(summary: pd.DataFrame) -> list[str]:
    """Methods by their first zone's enrichment, largest first (the controls where they fall)."""
    enrichment = summary[summary["statistic"] == "enrichment"]
    first_zone = enrichment["zone"].iloc[0]
    order = enrichment[enrichment["zone"] == first_zone].sort_values("estimate", ascending=False)
    return list(dict.fromkeys([*order["method"], *enrichment["method"]]))


def _interval_dots(axes, rows: pd.DataFrame, methods: list[str], offset: float, colour: str, label: str):
    position = {m: i for i, m in enumerate(methods)}
    y = np.array([position[m] for m in rows["method"]]) + offset
    estimate = rows["estimate"].to_numpy(float)
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    error = np.vstack([np.clip(estimate - low, 0, None), np.clip(high - estimate, 0, None)])
    axes.errorbar(estimate, y, xerr=np.nan_to_num(error), fmt="o", ms=3.5, lw=1, color=colour, label=label)


def plot_parts(summary: pd.DataFrame, title: str, png: PathLike, pdf: PathLike | None = None) -> None:
    """Left: enrichment per zone and method (log axis, 1 dashed); right (counting sets): evenness of the
    relevance over the objects per method (share of objects receiving at least half an equal split)."""
    methods = _methods(summary)
    objects = summary[summary["statistic"] == "evenness"]
    n_panels = 2 if len(objects) else 1
    height = 1.6 + _ROW * len(methods)
    figure = Figure(figsize=(max(5.0 + 3.2 * (n_panels - 1), height / 1.4), height))  # whole on a screen
    grid = figure.add_gridspec(1, n_panels, width_ratios=[1.6, 1][:n_panels], wspace=0.08)
    axes = figure.add_subplot(grid[0, 0])
    enrichment = summary[summary["statistic"] == "enrichment"]
    zones = list(dict.fromkeys(enrichment["zone"]))
    for k, zone in enumerate(zones):
        rows = enrichment[enrichment["zone"] == zone]
        offset = (k - (len(zones) - 1) / 2) * 0.16
        _interval_dots(axes, rows, methods, offset, ZONE_COLOURS.get(zone, f"C{k}"), zone)
    axes.axvline(1.0, color="black", ls="--", lw=0.8)
    positive = enrichment["ci_low"].to_numpy(float)
    if np.all(positive[np.isfinite(positive)] > 0):
        axes.set_xscale("log")
    axes.set_yticks(range(len(methods)), [method_label(m) for m in methods], fontsize=7)
    axes.set_ylim(len(methods) - 0.5, -0.5)
    axes.set_xlabel("enrichment = relevance share / area share (1: as area predicts)", fontsize=8)
    axes.tick_params(axis="x", labelsize=7)
    axes.grid(axis="x", lw=0.3, alpha=0.5)
    if n_panels == 2:
        right = figure.add_subplot(grid[0, 1], sharey=axes)
        _interval_dots(right, objects, methods, 0.0, "#2ca02c", "evenness")
        right.set_xlim(0, 1.05)
        right.set_xlabel("evenness over the objects (k ≥ 2)", fontsize=8)
        right.tick_params(axis="y", labelleft=False)
        right.tick_params(axis="x", labelsize=7)
        right.grid(axis="x", lw=0.3, alpha=0.5)
    height = figure.get_figheight()
    figure.suptitle(title, fontsize=10, y=1 - 0.12 / height)
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=7, frameon=False,
                  bbox_to_anchor=(0.5, 1 - 0.35 / height))  # fmt: skip
    left = 0.28 if n_panels == 1 else 0.18
    figure.subplots_adjust(left=left, right=0.97, top=1 - 0.75 / height, bottom=0.6 / height)
    save_figure(figure, png, pdf)
