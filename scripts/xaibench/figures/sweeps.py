"""Difficulty sweeps: accuracy and each metric's per-method mean against the swept dataset parameter.

The top panel is the model's test accuracy per level; below it one panel per metric (in category order,
:data:`xaibench.figures.names.CATEGORY_ORDER`, 2 or 3 columns) shows every method's mean over the images
with its 95 % bootstrap interval as a band, one line per method in its fixed style
(:func:`xaibench.figures.common.method_styles`; controls grey), the metric's direction in the panel title
(↑ higher is better, ↓ lower, ↕ neither) and the methods in one legend for the whole figure. The x axis is
the level's value when every value is a number, else the level index with the values as tick labels.
Input: the table of :func:`xaibench.sweeps.summarise_sweep` and the per-level accuracy table.

Only numpy, pandas and matplotlib (Agg, no pyplot) are imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from xaibench.figures.common import PathLike, method_styles, new_figure, save_figure, wrap_text
from xaibench.figures.names import (
    CONTROL_METHODS,
    DIRECTION_ARROWS,
    UNDIRECTED_MARK,
    category_rank,
    method_labels,
    metric_labels,
    registry_method,
)

#: Font sizes (points): ticks and legend, axis labels, panel titles, figure title.
TEXT, LABEL, PANEL_TITLE, TITLE = 7.0, 7.5, 8.0, 10.0
#: Inches: width and height of a metric panel, height of the accuracy panel, of a legend row.
PANEL_W, PANEL_H, ACCURACY_H, LEGEND_ROW = 2.35, 1.75, 1.35, 0.2


def _x(frame: pd.DataFrame) -> tuple[pd.Series, dict[float, str]]:
    """The x of every row (value, or level where values are not all numbers) and the tick labels."""
    numeric = pd.to_numeric(frame["value"], errors="coerce")
    if numeric.notna().all():
        x = numeric.astype(float)
        return x, {v: f"{v:g}" for v in sorted(set(x))}
    x = frame["level"].astype(float)
    return x, dict(zip(x, frame["value"].astype(str), strict=True))


def plot_sweep(
    summary: pd.DataFrame,
    accuracy: pd.DataFrame,
    param: str,
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    *,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    metric_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Accuracy, then one panel per metric of mean ± 95 % CI per method against ``param`` (module
    docstring). ``summary`` has the columns of :data:`xaibench.sweeps.SUMMARY_COLUMNS` (at least level,
    value, method, metric, category, direction, mean, ci95_low, ci95_high, n), ``accuracy`` level, value and
    accuracy; display names come from ``method_specs`` / ``metric_specs`` (config entries by name)."""
    if summary.empty:
        raise ValueError("plot_sweep: empty summary")
    for name, frame in (("summary", summary), ("accuracy", accuracy)):
        if "sweep" in frame.columns and frame["sweep"].nunique() > 1:
            raise ValueError(f"plot_sweep: {name} holds several sweeps {sorted(frame['sweep'].unique())}")
    summary = summary.assign(x=_x(summary)[0])
    accuracy = accuracy.drop_duplicates("level").sort_values("level")
    acc_x, _ = _x(accuracy)
    _, ticks = _x(pd.concat([summary[["level", "value"]], accuracy[["level", "value"]]]))

    methods = list(dict.fromkeys(summary["method"]))
    methods.sort(key=lambda m: registry_method(m, method_specs) in CONTROL_METHODS)  # controls last
    firsts = summary.drop_duplicates("metric")
    order = sorted(range(len(firsts)), key=lambda k: (category_rank(firsts["category"].iloc[k]), k))
    metrics = [firsts["metric"].iloc[k] for k in order]
    directions = dict(zip(firsts["metric"], firsts["direction"], strict=True))
    mlabels, qlabels = method_labels(methods, method_specs), metric_labels(metrics, metric_specs)
    styles = method_styles(methods, method_specs)

    ncols = min(len(metrics), 2 if len(metrics) <= 4 else 3)
    nrows = math.ceil(len(metrics) / ncols)
    legend_cols = max(1, min(len(methods), 2 * ncols))
    legend_h = 0.15 + LEGEND_ROW * math.ceil(len(methods) / legend_cols)
    width = 0.55 + ncols * PANEL_W + (ncols - 1) * 0.35
    height = 0.55 + ACCURACY_H + nrows * (PANEL_H + 0.55) + legend_h
    fig = new_figure(max(width, height / 1.45, 4.6), height)
    fig.set_layout_engine("constrained", h_pad=0.04, w_pad=0.04)
    grid = fig.add_gridspec(1 + nrows, ncols, height_ratios=[ACCURACY_H] + [PANEL_H] * nrows)

    ax = fig.add_subplot(grid[0, :])
    ax.plot(acc_x, accuracy["accuracy"], color="0.15", marker="o", markersize=3.5, linewidth=1.4)
    low = float(np.nanmin(accuracy["accuracy"])) if len(accuracy) else 0.0
    ax.set_ylim(max(0.0, min(0.5, low - 0.05)), 1.02)
    ax.set_title("Test accuracy ↑", fontsize=PANEL_TITLE, fontweight="bold", loc="left")
    ax.set_ylabel("accuracy", fontsize=LABEL)
    _style(ax, ticks, param)

    handles = {}
    for k, metric in enumerate(metrics):
        r, c = divmod(k, ncols)
        ax = fig.add_subplot(grid[1 + r, c])
        part = summary[summary["metric"] == metric]
        for method in methods:
            rows = part[part["method"] == method].sort_values("x")
            if rows.empty:
                continue
            colour, linestyle = styles[method]
            ax.fill_between(rows["x"], rows["ci95_low"], rows["ci95_high"], color=colour, alpha=0.11, lw=0)
            (handles[method],) = ax.plot(
                rows["x"],
                rows["mean"],
                color=colour,
                linestyle=linestyle,
                marker="o",
                markersize=3,
                linewidth=1.4,
                label=mlabels[method],
            )
        arrow = DIRECTION_ARROWS.get(str(directions[metric]), UNDIRECTED_MARK)
        ax.set_title(wrap_text(f"{qlabels[metric]} {arrow}", 34), fontsize=PANEL_TITLE, loc="left")
        _style(ax, ticks, param if k + ncols >= len(metrics) else "")  # lowest panel of its column
    for k in range(len(metrics), nrows * ncols):  # an empty cell of the last row stays blank
        fig.add_subplot(grid[1 + k // ncols, k % ncols]).set_visible(False)

    counts = sorted(set(summary["n"].astype(int))) if "n" in summary.columns else []
    n_text = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}" if counts else ""
    note = f"Mean over {n_text} images per level; bands: 95 % bootstrap CI." if counts else ""
    fig.legend(
        [handles[m] for m in methods if m in handles],
        [mlabels[m] for m in methods if m in handles],
        loc="outside lower center",
        ncols=legend_cols,
        fontsize=TEXT,
        frameon=False,
        handlelength=2.4,
        title=note or None,
        title_fontsize=TEXT,
    )
    if title:
        fig.suptitle(title, fontsize=TITLE, fontweight="bold")
    save_figure(fig, png, pdf)


def _style(ax: Any, ticks: dict[float, str], xlabel: str) -> None:
    ax.set_xticks(list(ticks), list(ticks.values()))
    ax.set_xlabel(xlabel, fontsize=LABEL)
    ax.tick_params(labelsize=TEXT)
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
