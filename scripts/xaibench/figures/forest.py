"""Forest plots: every method's mean score and 95 % CI, one small panel per metric, for one (dataset, model).

Panels are laid out in a grid (``FOREST_COLUMNS`` columns, fewer when there are fewer metrics), metrics
grouped by category in ``CATEGORY_ORDER`` (order of appearance within a category; the category is named
above a panel where it changes along a row). A panel's title is the metric's display name with its
direction: ↑ higher is better, ↓ lower is better, (↕) neither. Methods are rows, in the same order in every
panel (by family, :data:`xaibench.figures.names.FAMILY_ORDER`, order of appearance within a family, the
controls last below a thin line), named on the left column only. A method's mean is a dot and its 95 % CI
(``ci95_low``..``ci95_high``) a horizontal line; the first control (``random``) is also drawn as a vertical
shaded band of its CI with a dashed line at its mean across the whole panel, so the methods that clear it
stand out; the controls' own rows are grey. A method without a finite mean reads "n/a" in its row, a metric
without any finite mean "no scores".

Only numpy, pandas and matplotlib (Agg, no pyplot) are imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from xaibench.figures.common import PathLike, format_value, new_figure, save_figure, wrap_text
from xaibench.figures.names import (
    DIRECTION_ARROWS,
    FAMILY_ORDER,
    UNDIRECTED_MARK,
    category_rank,
    direction_of,
    method_family,
    method_labels,
    metric_labels,
    registry_method,
)

#: Panels per row of the grid.
FOREST_COLUMNS = 5
#: Font sizes (points): ticks, method labels and notes; panel titles; figure title.
TEXT, PANEL_TITLE, TITLE = 7.0, 7.5, 10.0
#: Layout (inches): height per method row, least panel width, panel title line, gaps.
ROW_H, PANEL_W, TITLE_LINE, TICKS_H, ROW_GAP, COLUMN_GAP = 0.125, 1.3, 0.135, 0.22, 0.12, 0.12
CHAR_W = 0.052  # inches per character of 7 pt DejaVu Sans, a generous average
METHOD_COLOUR = "#1f3f73"
CONTROL_COLOUR = "0.55"
BAND_COLOUR = "#f2c6a0"
REFERENCE_COLOUR = "#c2642a"


def forest_methods(
    methods: Sequence[str],
    specs: Mapping[str, Mapping[str, Any]] | None = None,
    controls: Sequence[str] = ("random", "sobel"),
) -> list[str]:
    """Row order (top to bottom): methods by family (``FAMILY_ORDER``, order of appearance within one),
    then the controls in the order of ``controls``."""
    methods = list(dict.fromkeys(methods))
    rank = {family: k for k, family in enumerate(FAMILY_ORDER)}
    control_rank = {c: k for k, c in enumerate(controls)}
    others = [m for m in methods if registry_method(m, specs) not in control_rank]
    others.sort(key=lambda m: rank.get(method_family(m, specs), len(rank)))  # stable
    kept = [m for m in methods if registry_method(m, specs) in control_rank]
    kept.sort(key=lambda m: control_rank[registry_method(m, specs)])
    return others + kept


def plot_forest(
    summary: pd.DataFrame,
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    *,
    title: str = "",
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    metric_specs: Mapping[str, Mapping[str, Any]] | None = None,
    controls: Sequence[str] = ("random", "sobel"),
) -> None:
    """Forest plot of one (dataset, model): a panel per metric, a row per method (module docstring).

    ``summary``: the run's summary table for ONE (dataset, model) (``method``, ``metric``, ``mean``,
    ``ci95_low``, ``ci95_high``; ``category`` and ``direction`` optional); several (dataset, model) pairs,
    duplicate (method, metric) rows or an empty table raise ``ValueError``. ``controls``: registry names of
    the control methods, the first of which (random) is the reference band. ``method_specs`` /
    ``metric_specs``: the config entries by name, for display names (:mod:`xaibench.figures.names`).

    In every panel row ``k`` (top to bottom; named by the left column's y tick labels) lies at y = k; the CI
    lines are one ``LineCollection`` labelled ``"ci95"``, the means one ``PathCollection`` labelled
    ``"mean"``, the reference band a ``Rectangle`` labelled ``"reference ci95"``.
    """
    missing = {"method", "metric", "mean", "ci95_low", "ci95_high"} - set(summary.columns)
    if missing:
        raise ValueError(f"plot_forest: the summary lacks column(s) {sorted(missing)}")
    if summary.empty:
        raise ValueError("plot_forest: the summary is empty")
    table = summary.copy()
    for column, default in (("dataset", ""), ("model", ""), ("category", "other"), ("direction", "")):
        if column not in table.columns:
            table[column] = default
        table[column] = table[column].fillna(default).astype(str)
    pairs = table[["dataset", "model"]].drop_duplicates()
    if len(pairs) > 1:
        raise ValueError(f"plot_forest draws one (dataset, model); got {len(pairs)}: select one first")
    if table.duplicated(["method", "metric"]).any():
        example = table.loc[table.duplicated(["method", "metric"]), ["method", "metric"]].iloc[0].tolist()
        raise ValueError(f"summary has duplicate rows for (method, metric), e.g. {example}")
    for column in ("mean", "ci95_low", "ci95_high"):
        values = pd.to_numeric(table[column], errors="coerce").astype(float)
        table[column] = values.where(np.isfinite(values))

    first = table.drop_duplicates("metric")[["metric", "category", "direction"]].reset_index(drop=True)
    first = first.iloc[sorted(range(len(first)), key=lambda k: category_rank(first["category"][k]))]
    metrics = first["metric"].tolist()
    category_of = dict(zip(first["metric"], first["category"], strict=True))
    directions = {m: direction_of(d) for m, d in zip(first["metric"], first["direction"], strict=True)}
    methods = forest_methods(table["method"].tolist(), method_specs, controls)
    is_control = [registry_method(m, method_specs) in controls for m in methods]
    band = controls[0] if controls else None  # the first control (random) draws the band
    reference = next((m for m in methods if registry_method(m, method_specs) == band), None)
    method_names = method_labels(methods, method_specs)
    families = [method_family(m, method_specs) for m in methods]
    breaks = [
        k for k in range(1, len(methods)) if families[k] != families[k - 1] and not is_control[k]
    ]  # rows where a family starts
    metric_names = metric_labels(metrics, metric_specs)

    # layout (inches)
    ncols = min(FOREST_COLUMNS, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    label_w = 0.15 + CHAR_W * max(len(method_names[m]) for m in methods)
    panel_h = ROW_H * (len(methods) + 0.6)
    titles = {m: _panel_title(metric_names[m], directions[m], PANEL_W) for m in metrics}
    row_title_h = [
        TITLE_LINE * (max(titles[m].count("\n") + 1 for m in metrics[r * ncols : (r + 1) * ncols]) + 1) + 0.05
        for r in range(nrows)
    ]  # + 1 line: the category
    handles = [
        Line2D([], [], color=METHOD_COLOUR, marker="o", markersize=3.5, linewidth=1.1, label="mean, 95 % CI"),
        Line2D([], [], color=CONTROL_COLOUR, marker="o", markersize=3.5, linewidth=1.1, label="controls"),
    ]
    if reference is not None:
        handles += [
            Patch(facecolor=BAND_COLOUR, edgecolor="none", label=f"{method_names[reference]}: 95 % CI"),
            Line2D(
                [],
                [],
                color=REFERENCE_COLOUR,
                linestyle="--",
                linewidth=0.9,
                label=f"{method_names[reference]}: mean",
            ),
        ]
    notes = "↑ higher is better, ↓ lower is better, (↕) neither. Rows: methods by family, controls last."
    least_w = label_w + ncols * PANEL_W + (ncols - 1) * COLUMN_GAP + 0.1
    entry_w = [(2.0 + 0.8 + 1.5) * TEXT / 72 + CHAR_W * len(h.get_label()) for h in handles]
    legend_cols = next(  # as many columns as fit the narrowest figure
        (
            k
            for k in range(len(handles), 1, -1)
            if (sum(entry_w) if k == len(handles) else k * max(entry_w)) <= least_w - 0.2
        ),
        1,
    )
    legend_rows = math.ceil(len(handles) / legend_cols)
    notes = wrap_text(notes, int((least_w - 0.2) / CHAR_W))
    notes_h = 0.14 * (notes.count("\n") + 1)
    legend_h = 0.12 + 0.17 * legend_rows + notes_h
    top = 0.42 if title else 0.1
    height = top + sum(h + panel_h + TICKS_H + ROW_GAP for h in row_title_h) + legend_h
    # at most 1.5 times as tall as wide, also once saved tightly
    panel_w = max(PANEL_W, (height / 1.45 - label_w - 0.1 - (ncols - 1) * COLUMN_GAP) / ncols)
    width = label_w + ncols * panel_w + (ncols - 1) * COLUMN_GAP + 0.1
    fig = new_figure(width, height)
    fig.set_layout_engine(None)

    y = np.arange(len(methods), dtype=float)
    for k, metric in enumerate(metrics):
        r, c = divmod(k, ncols)
        x0 = label_w + c * (panel_w + COLUMN_GAP)
        y1 = height - top - sum(h + panel_h + TICKS_H + ROW_GAP for h in row_title_h[:r]) - row_title_h[r]
        ax = fig.add_axes((x0 / width, (y1 - panel_h) / height, panel_w / width, panel_h / height))
        part = table[table["metric"] == metric].set_index("method").reindex(methods)
        _draw_panel(
            ax,
            y,
            part["mean"].to_numpy(float),
            part["ci95_low"].to_numpy(float),
            part["ci95_high"].to_numpy(float),
            np.array(is_control),
            methods.index(reference) if reference is not None else None,
            breaks,
        )
        if c == 0:  # method names on the left column only (ticks are slow: none elsewhere)
            ax.set_yticks(y, [method_names[m] for m in methods], fontsize=TEXT)
            ax.tick_params(axis="y", length=0, pad=3)
        else:
            ax.set_yticks([])
        ax.set_title(titles[metric], fontsize=PANEL_TITLE, loc="left", pad=3)
        previous = metrics[k - 1] if c > 0 else None
        if previous is None or category_of[previous] != category_of[metric]:
            category = category_of[metric]
            fig.text(
                x0 / width,
                (y1 + row_title_h[r] - 0.04) / height,
                category[:1].upper() + category[1:],
                ha="left",
                va="top",
                fontsize=TEXT,
                fontweight="bold",
                color="0.3",
            )

    fig.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.1 / width, (0.06 + notes_h) / height),
        ncols=legend_cols,
        fontsize=TEXT,
        frameon=False,
        handlelength=2.0,
        columnspacing=1.5,
        borderaxespad=0.0,
    )
    fig.text(0.1 / width, 0.04 / height, notes, ha="left", va="bottom", fontsize=TEXT, color="0.3")
    if title:
        fig.text(0.5, 1 - 0.1 / height, title, ha="center", va="top", fontsize=TITLE, fontweight="bold")
    save_figure(fig, png_path, pdf_path)


def _panel_title(name: str, direction: str, panel_w: float) -> str:
    """Metric name with its direction arrow, wrapped to the panel width (at most two lines)."""
    arrow = DIRECTION_ARROWS.get(direction, f"({UNDIRECTED_MARK})")
    text = f"{name} {arrow}"
    lines = wrap_text(text, max(8, int(panel_w / (CHAR_W * PANEL_TITLE / TEXT)))).split("\n")
    return "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")


def _draw_panel(
    ax: Axes,
    y: np.ndarray,
    mean: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    control: np.ndarray,
    reference: int | None,
    breaks: Sequence[int] = (),
) -> None:
    """One metric: CI lines and mean dots per row (row ``k`` at y = k), the reference (random) band, lines
    between families (before the rows ``breaks``) and above the controls, the axis limits."""
    ax.set_ylim(len(y) - 0.4, -0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=TEXT, length=2, pad=1)
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    n_control = int(control.sum())
    if 0 < n_control < len(y):
        ax.axhline(len(y) - n_control - 0.5, color="0.6", linewidth=0.6)
    for k in breaks:  # thin lines between method families
        ax.axhline(k - 0.5, color="0.88", linewidth=0.5, zorder=0.5)
    finite = np.isfinite(mean)
    if not finite.any():
        ax.text(
            0.5,
            0.5,
            "no scores",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=TEXT,
            color="0.4",
        )
        ax.set_xticks([])
        return
    if reference is not None and np.isfinite(low[reference]) and np.isfinite(high[reference]):
        band = ax.axvspan(
            low[reference], high[reference], color=BAND_COLOUR, alpha=0.7, linewidth=0, zorder=0
        )
        band.set_label("reference ci95")
    if reference is not None and finite[reference]:
        ax.axvline(mean[reference], color=REFERENCE_COLOUR, linestyle="--", linewidth=0.9, zorder=1)
    colours = np.where(control, CONTROL_COLOUR, METHOD_COLOUR)
    has_ci = np.isfinite(low) & np.isfinite(high)
    segments = [[(low[i], y[i]), (high[i], y[i])] for i in np.flatnonzero(has_ci)]
    ax.hlines(
        y[has_ci],
        low[has_ci],
        high[has_ci],
        colors=list(colours[has_ci]),
        linewidth=1.1,
        zorder=2,
        label="ci95",
    )
    ax.scatter(mean[finite], y[finite], s=9, c=list(colours[finite]), zorder=3, linewidths=0, label="mean")
    for i in np.flatnonzero(~finite):
        ax.text(
            0.01,
            y[i],
            "n/a",
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=TEXT,
            color="0.5",
        )
    values = np.concatenate([mean[finite], [v for s in segments for v in (s[0][0], s[1][0])]])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.06 * (hi - lo) if hi > lo else max(abs(lo) * 0.1, 0.5)
    ax.set_xlim(lo - pad, hi + pad)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v)))
