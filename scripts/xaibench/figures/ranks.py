"""Rank figures: critical-difference (CD) diagrams and metric-agreement (Kendall τ) matrices.

Critical-difference diagram (Demšar 2006), :func:`draw_critical_difference` on one Axes and
:func:`plot_critical_differences` for a figure of stacked panels (one per metric category of a
(dataset, model)): a horizontal rank axis from 1 (best, **left**) to k, one marker per method at its mean
rank, the better half of the methods labelled on the left and the worse half on the right (elbow lines that
never cross), and thick bars below the axis joining the methods that are *not* significantly different
(every pair in the group has p ≥ α in the given post-hoc p-value matrix; only maximal groups are drawn, each
as a contiguous run in rank order). Without a p-value matrix, or with only NaN p-values, no bar is drawn and
the panel says "not tested". Control methods (random, sobel) are grey and italic; other methods' markers
take their fixed colour (:func:`xaibench.figures.common.method_styles`). Drawn by hand rather than by
``scikit_posthocs.critical_difference_diagram``, which stacks all labels on both sides without elbows' order
and gives no control over the control methods' look or the panel height.

Metric agreement, :func:`plot_metric_agreement`: one metrics × metrics Kendall τ heatmap per dataset (grid
of two columns), a shared diverging colour bar from -1 to 1 (:data:`xaibench.figures.common.DIVERGING_CMAP`),
metric labels on the outer panels only (every panel has the same metrics in the same order), category
separators when the categories are given; NaN (a metric missing for a dataset) is grey, the diagonal white.

Only numpy, pandas and matplotlib (Agg, no pyplot) are imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from xaibench.figures.common import DIVERGING_CMAP, PathLike, method_styles, new_figure, save_figure
from xaibench.figures.names import (
    CONTROL_METHODS,
    category_rank,
    method_labels,
    metric_labels,
    registry_method,
)

#: Font sizes (points): labels and ticks, panel titles, figure title.
TEXT, PANEL_TITLE, TITLE = 7.0, 8.5, 10.0
#: Vertical layout of a CD panel (inches): tick labels above the axis, one bar row, one label row.
TICK_ZONE, BAR_PITCH, ROW_PITCH, BOTTOM_PAD = 0.26, 0.06, 0.125, 0.06
CHAR_WIDTH = 0.056  # inches per character of 7 pt DejaVu Sans, a generous average
CONTROL_COLOUR = "0.5"
NAN_COLOUR = "#d0d0d0"


@dataclass(frozen=True)
class RankPanel:
    """One CD diagram: ``ranks`` method -> mean rank (1 = best); ``p_values`` methods × methods post-hoc
    p-values (``None``: not tested, no bars)."""

    title: str
    ranks: Mapping[str, float]
    p_values: pd.DataFrame | None = None


def _as_panel(panel: RankPanel | Sequence[Any]) -> RankPanel:
    if isinstance(panel, RankPanel):
        return panel
    return RankPanel(*panel)


def _sorted_ranks(ranks: Mapping[str, float]) -> list[tuple[str, float]]:
    items = [(str(m), float(r)) for m, r in ranks.items() if np.isfinite(float(r))]
    return sorted(items, key=lambda item: item[1])


def not_different_groups(
    ranks: Mapping[str, float], p_values: pd.DataFrame | None, alpha: float = 0.05
) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of methods in rank order (indices into the methods sorted by rank)
    whose every pair has a finite p-value ≥ ``alpha``; runs of a single method are left out."""
    methods = [m for m, _ in _sorted_ranks(ranks)]
    if p_values is None or len(methods) < 2:
        return []
    p = p_values.copy()
    p.index, p.columns = p.index.astype(str), p.columns.astype(str)
    joined = p.reindex(index=methods, columns=methods).to_numpy(dtype=float) >= alpha  # NaN -> False
    groups: list[tuple[int, int]] = []
    reach = 0
    for i in range(len(methods)):
        j = i
        while j + 1 < len(methods) and joined[i : j + 1, j + 1].all():
            j += 1
        if j > i and j > reach:
            groups.append((i, j))
        reach = max(reach, j)
    return groups


def _bar_rows(groups: list[tuple[int, int]], positions: list[float], gap: float) -> list[int]:
    """Row of each group: the first row whose last bar ends more than ``gap`` (rank units) before it."""
    ends: list[float] = []
    rows = []
    for first, last in groups:
        start = positions[first]
        for row, end in enumerate(ends):
            if start - end > gap:
                ends[row] = positions[last]
                rows.append(row)
                break
        else:
            ends.append(positions[last])
            rows.append(len(ends) - 1)
    return rows


def _label_width(labels: Iterable[str]) -> float:
    """Inches taken by the longest label (with its rank) plus the elbow stub."""
    return max((len(label) for label in labels), default=4) * CHAR_WIDTH + 0.45


def critical_difference_height(panel: RankPanel | Sequence[Any], alpha: float = 0.05) -> float:
    """Height in inches that :func:`draw_critical_difference` needs for ``panel`` (title excluded)."""
    panel = _as_panel(panel)
    ranked = _sorted_ranks(panel.ranks)
    groups = not_different_groups(panel.ranks, panel.p_values, alpha)
    n_bar_rows = max(_bar_rows(groups, [r for _, r in ranked], 0.3), default=-1) + 1
    return (
        TICK_ZONE + 0.1 + max(n_bar_rows, 1) * BAR_PITCH + math.ceil(len(ranked) / 2) * ROW_PITCH + BOTTOM_PAD
    )


def draw_critical_difference(
    ax: Axes,
    ranks: Mapping[str, float],
    p_values: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
    labels: Mapping[str, str] | None = None,
    controls: Iterable[str] | None = None,
    colours: Mapping[str, Any] | None = None,
    n_methods: int | None = None,
) -> None:
    """Draw one CD diagram on ``ax`` (module docstring); data x = rank, data y = inches below the axis line.

    ``labels``: method -> display name (default: the method); ``controls``: methods drawn grey and italic
    (default: those named ``random``/``sobel``); ``colours``: method -> marker colour; ``n_methods``: right
    end of the axis (default: the number of ranked methods). The axis limits are set from the Axes' size so
    that labels fit left and right.
    """
    ranked = _sorted_ranks(ranks)
    if not ranked:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no ranks", transform=ax.transAxes, ha="center", va="center", fontsize=TEXT)
        return
    labels = labels or {}
    controls = set(CONTROL_METHODS if controls is None else controls)
    colours = colours or {}
    k = len(ranked)
    low, high = 1.0, float(max(n_methods or k, math.ceil(ranked[-1][1]), 2))
    positions = [r for _, r in ranked]
    n_left = math.ceil(k / 2)
    texts = [
        f"{labels.get(m, m)} ({r:.1f})" if i < n_left else f"({r:.1f}) {labels.get(m, m)}"
        for i, (m, r) in enumerate(ranked)
    ]
    groups = not_different_groups(ranks, p_values, alpha)
    bar_rows = _bar_rows(groups, positions, gap=0.3)
    n_bar_rows = max(bar_rows, default=-1) + 1
    tested = p_values is not None and bool(np.isfinite(p_values.to_numpy(dtype=float)).any())

    # geometry: x in rank units with room for the labels, y in inches below the axis line
    fig = ax.get_figure()
    box = ax.get_position()
    width_in = box.width * fig.get_figwidth()
    side = min(_label_width(texts), 0.42 * width_in)
    per_inch = (high - low) / max(width_in - 2 * side, 0.5)
    xmin, xmax = low - side * per_inch, high + side * per_inch
    first_row = 0.1 + max(n_bar_rows, 1) * BAR_PITCH + ROW_PITCH * 0.6
    bottom = first_row + (n_left - 1) * ROW_PITCH + ROW_PITCH * 0.5 + BOTTOM_PAD
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(bottom, -TICK_ZONE)
    ax.set_axis_off()

    # rank axis with integer ticks above it
    ax.plot([low, high], [0, 0], color="black", linewidth=0.9, solid_capstyle="butt")
    step = 1 if high - low <= 25 else 2
    major = np.arange(low, high + 0.5, step)
    minor = np.arange(low + 0.5 * step, high, step)
    ticks = [[(t, 0), (t, -0.05)] for t in major] + [[(t, 0), (t, -0.025)] for t in minor]
    widths = [0.7] * len(major) + [0.5] * len(minor)
    ax.add_collection(LineCollection(ticks, colors="black", linewidths=widths))
    for tick in major:
        ax.text(tick, -0.07, f"{tick:g}", ha="center", va="bottom", fontsize=TEXT)

    # bars joining methods that are not significantly different
    stub = 0.08 * per_inch
    for (first, last), row in zip(groups, bar_rows, strict=True):
        y = 0.1 + row * BAR_PITCH
        ax.plot(
            [positions[first] - stub, positions[last] + stub],
            [y, y],
            color="black",
            linewidth=2.2,
            solid_capstyle="round",
            zorder=3,
        )
    if not tested:
        ax.text(
            (low + high) / 2,
            0.1,
            "not tested",
            ha="center",
            va="top",
            fontsize=TEXT,
            color="0.35",
            style="italic",
        )

    # elbows and labels: best on the left (top row = leftmost), worst on the right (top row = rightmost)
    elbows, elbow_colours = [], []
    for i, (method, rank) in enumerate(ranked):
        left = i < n_left
        row = i if left else k - 1 - i
        y = first_row + row * ROW_PITCH
        x_end = low - 0.12 * per_inch if left else high + 0.12 * per_inch
        control = method in controls
        elbows.append([(rank, 0), (rank, y), (x_end, y)])
        elbow_colours.append(CONTROL_COLOUR if control else "0.3")
        ax.plot(
            [rank],
            [0],
            marker="o",
            markersize=3.6,
            color=CONTROL_COLOUR if control else colours.get(method, "black"),
            markeredgecolor="black" if not control else CONTROL_COLOUR,
            markeredgewidth=0.4,
            linestyle="none",
            zorder=4,
            label=method,
        )
        ax.text(
            x_end - 0.04 * per_inch if left else x_end + 0.04 * per_inch,
            y,
            texts[i],
            ha="right" if left else "left",
            va="center",
            fontsize=TEXT,
            color=CONTROL_COLOUR if control else "black",
            style="italic" if control else "normal",
            gid=method,
        )
    ax.add_collection(LineCollection(elbows, colors=elbow_colours, linewidths=0.6, zorder=1))


def plot_critical_differences(
    panels: Sequence[RankPanel | Sequence[Any]],
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    *,
    title: str = "",
    alpha: float = 0.05,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    width: float = 7.5,
) -> None:
    """One figure of stacked CD diagrams (≤ 6 panels, e.g. one per metric category of a (dataset, model)).

    ``panels``: :class:`RankPanel` or ``(title, ranks, p_values)`` tuples; methods are entry names, shown
    with their display names (``method_specs``: the config method entries). The figure is widened when
    needed so that it is never taller than 1.5 × its width.
    """
    panels = [_as_panel(p) for p in panels]
    if not panels:
        raise ValueError("plot_critical_differences: no panels")
    if len(panels) > 6:
        raise ValueError(f"plot_critical_differences: at most 6 panels, got {len(panels)}")
    methods = list(dict.fromkeys(str(m) for p in panels for m in p.ranks.keys()))
    labels = method_labels(methods, method_specs)
    controls = {m for m in methods if registry_method(m, method_specs) in CONTROL_METHODS}
    colours = {m: style[0] for m, style in method_styles(methods, method_specs).items()}
    n_methods = max(len(_sorted_ranks(p.ranks)) for p in panels)

    title_h = 0.4 if title else 0.1
    panel_title_h, gap, note_h = 0.24, 0.14, 0.22
    heights = [critical_difference_height(p, alpha) for p in panels]
    height = title_h + sum(panel_title_h + h + gap for h in heights) + note_h
    width = max(width, height / 1.45)
    fig = new_figure(width, height)
    fig.set_layout_engine(None)
    top = height - title_h
    margin = 0.1
    for panel, h in zip(panels, heights, strict=True):
        fig.text(
            margin / width,
            (top - 0.02) / height,
            panel.title,
            ha="left",
            va="top",
            fontsize=PANEL_TITLE,
            fontweight="bold",
        )
        top -= panel_title_h
        ax = fig.add_axes((margin / width, (top - h) / height, 1 - 2 * margin / width, h / height))
        draw_critical_difference(
            ax,
            panel.ranks,
            panel.p_values,
            alpha=alpha,
            labels=labels,
            controls=controls,
            colours=colours,
            n_methods=n_methods,
        )
        top -= h + gap
    note = (
        "Mean rank, 1 = best (left). Bars join methods not significantly different "
        f"(post-hoc p ≥ {alpha:g}); grey italic: controls."
    )
    fig.text(margin / width, 0.05 / height, note, ha="left", va="bottom", fontsize=TEXT, color="0.25")
    if title:
        fig.text(0.5, 1 - 0.1 / height, title, ha="center", va="top", fontsize=TITLE, fontweight="bold")
    save_figure(fig, png_path, pdf_path)


def _tau_text(tau: float) -> str:
    """τ with one decimal and a true minus sign; no "−0.0"."""
    text = f"{tau:.1f}"
    return "0.0" if text == "-0.0" else text.replace("-", "−")


def _metric_order(matrices: Iterable[pd.DataFrame], categories: Mapping[str, str] | None) -> list[str]:
    """Every metric of the matrices, grouped by category in the order every figure uses (names.CATEGORY_ORDER,
    as the heatmap and the forest plots), order of appearance within a category."""
    metrics = list(dict.fromkeys(str(m) for matrix in matrices for m in matrix.index))
    if categories:
        metrics.sort(key=lambda m: category_rank(str(categories.get(m, ""))))
    return metrics


def plot_metric_agreement(
    tau_matrix_by_dataset: Mapping[str, pd.DataFrame],
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    *,
    title: str = "",
    categories: Mapping[str, str] | None = None,
    metric_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Kendall τ matrices (metrics × metrics, e.g. :func:`xaibench.stats.agreement.agreement_matrix`), one
    heatmap per dataset (≤ 16; key = panel title), in a grid of up to four columns (two up to four panels,
    three up to nine) with a shared colour bar.

    ``categories``: metric -> category, to group the metrics and draw separators between the groups;
    ``metric_specs``: the config metric entries, for display names.
    """
    if not tau_matrix_by_dataset:
        raise ValueError("plot_metric_agreement: no matrices")
    if len(tau_matrix_by_dataset) > 16:
        raise ValueError(f"plot_metric_agreement: at most 16 datasets, got {len(tau_matrix_by_dataset)}")
    matrices = {str(k): v.rename(index=str, columns=str) for k, v in tau_matrix_by_dataset.items()}
    metrics = _metric_order(matrices.values(), categories)
    names = metric_labels(metrics, metric_specs)
    m = len(metrics)
    n = len(matrices)
    ncols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
    nrows = math.ceil(n / ncols)
    cell = min(0.4, max(0.16, 3.4 / max(m, 1)))
    side = cell * m
    label_w = max(len(names[x]) for x in metrics) * CHAR_WIDTH + 0.12
    panel_title_h, col_gap, row_gap, bar_w = 0.26, 0.2, 0.12, 0.95
    title_h = 0.4 if title else 0.08
    width = label_w + ncols * side + (ncols - 1) * col_gap + bar_w
    height = title_h + nrows * (panel_title_h + side) + (nrows - 1) * row_gap + label_w
    fig = new_figure(width, height)
    fig.set_layout_engine(None)
    cmap = matplotlib.colormaps[DIVERGING_CMAP]
    boundaries = []
    if categories:
        groups = [str(categories.get(x, "")) for x in metrics]
        boundaries = [j for j in range(1, m) if groups[j] != groups[j - 1]]
    annotate = cell >= 0.3
    keys = list(matrices)
    for index, key in enumerate(keys):
        r, c = divmod(index, ncols)
        x0 = label_w + c * (side + col_gap)
        y_top = height - title_h - r * (panel_title_h + side + row_gap) - panel_title_h
        ax = fig.add_axes((x0 / width, (y_top - side) / height, side / width, side / height))
        values = matrices[key].reindex(index=metrics, columns=metrics).to_numpy(dtype=float)
        ax.set_facecolor(NAN_COLOUR)
        ax.pcolormesh(
            np.ma.masked_invalid(values), cmap=cmap, vmin=-1, vmax=1, edgecolors="white", linewidth=0.3
        )
        for j in range(m):
            ax.add_patch(Rectangle((j, j), 1, 1, facecolor="white", edgecolor="none", zorder=2))
        if annotate:
            for i in range(m):
                for j in range(m):
                    if i != j and np.isfinite(values[i, j]):
                        colour = "white" if abs(values[i, j]) > 0.6 else "0.15"
                        ax.text(
                            j + 0.5,
                            i + 0.5,
                            _tau_text(values[i, j]),
                            ha="center",
                            va="center",
                            fontsize=TEXT,
                            color=colour,
                        )
        for b in boundaries:
            ax.axhline(b, color="0.15", linewidth=0.8, zorder=3)
            ax.axvline(b, color="0.15", linewidth=0.8, zorder=3)
        ax.set_xlim(0, m)
        ax.set_ylim(m, 0)
        first_column = c == 0
        bottom_of_column = index + ncols >= n
        ticks, tick_labels = (
            np.arange(m) + 0.5,
            [names[x] for x in metrics],
        )  # no ticks inside the grid: faster
        ax.set_xticks(ticks if bottom_of_column else [], tick_labels if bottom_of_column else [])
        ax.set_yticks(ticks if first_column else [], tick_labels if first_column else [])
        ax.tick_params(axis="x", labelrotation=90, labelsize=TEXT, length=0, pad=2)
        ax.tick_params(axis="y", labelsize=TEXT, length=0, pad=2)
        for spine in ax.spines.values():
            spine.set_linewidth(0.5)
        ax.set_title(key, fontsize=PANEL_TITLE, fontweight="bold", pad=4)

    bar_h = min(2.4, side)
    y_bar = height - title_h - panel_title_h - bar_h
    cax = fig.add_axes(((width - bar_w + 0.2) / width, y_bar / height, 0.13 / width, bar_h / height))
    bar = fig.colorbar(ScalarMappable(norm=Normalize(-1, 1), cmap=cmap), cax=cax, ticks=[-1, -0.5, 0, 0.5, 1])
    bar.set_label("Kendall τ", fontsize=TEXT)
    bar.ax.tick_params(labelsize=TEXT)
    bar.outline.set_linewidth(0.4)
    cax.text(
        0.0, -0.05, "grey: missing", transform=cax.transAxes, ha="left", va="top", fontsize=TEXT, color="0.25"
    )
    if title:
        fig.text(0.5, 1 - 0.1 / height, title, ha="center", va="top", fontsize=TITLE, fontweight="bold")
    save_figure(fig, png_path, pdf_path)


__all__ = [
    "RankPanel",
    "critical_difference_height",
    "draw_critical_difference",
    "not_different_groups",
    "plot_critical_differences",
    "plot_metric_agreement",
]
