"""The method × metric heatmap of normalised scores, one subplot per (dataset, model).

Normalisation (:func:`normalise_scores`): within each (dataset, model, metric) the per-method means are
min-max scaled over methods so that 1 = best and 0 = worst: ``direction == "higher"`` keeps the order,
``"lower"`` flips it, and any other direction (no notion of better) is plain min-max scaled and marked
``(↕)`` in the column label. Non-finite means stay NaN (grey cells); a column with no spread (one finite
value, or all equal) gets 0.5.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from xaibench.figures.common import PathLike, format_value, new_figure, save_figure
from xaibench.figures.names import (
    CONTROL_METHODS,
    DIRECTION_ARROWS,
    UNDIRECTED_MARK,
    category_rank,
    direction_of,
    method_labels,
    metric_labels,
    registry_method,
)

SCORE_CMAP = "viridis"
NAN_COLOUR = "#d0d0d0"


def _order_methods(methods: Sequence[str], specs: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """Keep the given order but move the control methods to the end."""
    methods = list(dict.fromkeys(methods))
    control = [m for m in methods if registry_method(m, specs) in CONTROL_METHODS]
    return [m for m in methods if m not in control] + control


def normalise_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``summary`` with a ``score`` column in [0, 1], 1 = best, per (dataset, model, metric).

    Min-max scaling over methods of ``mean``: ``direction == "higher"`` keeps the order, ``"lower"``
    flips it, anything else is min-max scaled as is (no best). Non-finite means give NaN; a group with
    no spread (a single finite value, or all equal) gives 0.5.
    """
    missing = {"method", "metric", "mean"} - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks column(s) {sorted(missing)}")
    out = summary.copy()
    keys = [c for c in ("dataset", "model", "metric") if c in out.columns]
    mean = pd.to_numeric(out["mean"], errors="coerce").astype(float)
    mean = mean.where(np.isfinite(mean))
    directions = (
        out["direction"].map(direction_of) if "direction" in out.columns else pd.Series("", index=out.index)
    )
    grouped = mean.groupby([out[k] for k in keys], dropna=False, sort=False)
    low = grouped.transform("min")
    high = grouped.transform("max")
    spread = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (mean - low) / spread
    scaled = scaled.where(spread > 0, 0.5)
    scaled = scaled.where(directions != "lower", 1.0 - scaled)
    out["score"] = scaled.where(mean.notna())
    return out


def plot_metric_heatmap(
    summary: pd.DataFrame,
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    title: str = "",
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    metric_specs: Mapping[str, Mapping[str, Any]] | None = None,
    faded: Collection[tuple[str, str, str, str]] = (),
    flagged: Mapping[tuple[str, str, str], str] | None = None,
) -> None:
    """Method × metric heatmap of normalised scores, one subplot per (dataset, model).

    ``faded``: (dataset, model, method, metric) cells drawn washed out -- those not significantly better
    than the random control (results/tables/comparisons.tsv). ``flagged``: (dataset, model, metric) ->
    flags of metrics that carry little information there (results/tables/metric_health.tsv), marked ``†``
    after the metric's name in that panel.

    Colours are :func:`normalise_scores` (1 = best in every column); each cell is annotated with the
    raw mean (``*`` when some samples gave non-finite values). Columns are grouped by ``category``
    (header above, thin separators) in ``CATEGORY_ORDER``, metrics keeping their order of appearance;
    the column label carries the direction: ↑ higher is better, ↓ lower is better, (↕) no direction,
    min-max scaled only. Control methods are listed last below a thin line. NaN cells are grey, "nan".
    Methods and metrics (the summary's entry names) show their display names
    (:mod:`xaibench.figures.names`; ``method_specs``/``metric_specs``: the config entries by name).
    """
    if summary.empty:
        raise ValueError("plot_metric_heatmap: the summary is empty")
    scored = normalise_scores(summary)
    for column, default in (("dataset", ""), ("model", ""), ("category", "other"), ("direction", "")):
        if column not in scored.columns:
            scored[column] = default
        scored[column] = scored[column].fillna(default).astype(str)
    if "n_nonfinite" not in scored.columns:
        scored["n_nonfinite"] = 0
    keys = ["dataset", "model", "method", "metric"]
    duplicated = scored.duplicated(keys)
    if duplicated.any():
        example = scored.loc[duplicated, keys].iloc[0].tolist()
        raise ValueError(f"summary has duplicate rows for (dataset, model, method, metric), e.g. {example}")

    # columns: metrics grouped by category, order of appearance within a category
    first = scored.drop_duplicates("metric")[["metric", "category", "direction"]].reset_index(drop=True)
    first["rank"] = first["category"].map(category_rank)
    first = first.sort_values("rank", kind="stable")
    metrics = first["metric"].tolist()
    category_of = dict(zip(first["metric"], first["category"], strict=True))
    directions = {m: direction_of(d) for m, d in zip(first["metric"], first["direction"], strict=True)}
    methods = _order_methods(scored["method"].tolist(), method_specs)
    n_controls = sum(registry_method(m, method_specs) in CONTROL_METHODS for m in methods)
    method_names = method_labels(methods, method_specs)
    metric_names = {
        m: _metric_label(label, directions[m]) for m, label in metric_labels(metrics, metric_specs).items()
    }
    pairs = list(dict.fromkeys(zip(scored["dataset"], scored["model"], strict=True)))

    col_w, row_h = (0.6 if len(metrics) > 8 else 0.85), 0.3
    label_w = 1.45 if any(len(method_names[m]) > 14 for m in methods) else 1.15
    sub_w = label_w + len(metrics) * col_w
    longest = max(len(metric_names[m]) for m in metrics)
    label_h = 0.25 + longest * 0.049  # rotated (50°) metric labels at 7.5 pt
    sub_h = 0.6 + len(methods) * row_h + label_h  # category header + cells + metric labels
    ncols = 1 if len(metrics) > 8 or len(pairs) == 1 else 2
    nrows = math.ceil(len(pairs) / ncols)
    title_h = 0.35 if title else 0.05
    width = ncols * sub_w + 1.2
    height = nrows * sub_h + title_h
    fig = new_figure(width, height)
    fig.set_layout_engine(None)

    cmap = matplotlib.colormaps[SCORE_CMAP]
    axes = []
    for k, (dataset, model) in enumerate(pairs):
        r, c = divmod(k, ncols)
        x0 = (c * sub_w + label_w) / width
        y0 = (height - title_h - (r + 1) * sub_h + label_h) / height
        ax = fig.add_axes((x0, y0, len(metrics) * col_w / width, len(methods) * row_h / height))
        axes.append(ax)
        part = scored[(scored["dataset"] == dataset) & (scored["model"] == model)]
        values = _table(part, "score", methods, metrics)
        raw = _table(part, "mean", methods, metrics)
        nonfinite = _table(part, "n_nonfinite", methods, metrics) > 0
        annotations = np.array(
            [
                [format_value(raw[i, j], bool(nonfinite[i, j])) for j in range(len(metrics))]
                for i in range(len(methods))
            ]
        )
        fade = np.array([[(dataset, model, i, j) in faded for j in metrics] for i in methods])
        flags = flagged or {}
        _draw_cells(
            ax,
            values,
            annotations,
            cmap,
            [metric_names[m] + (" †" if (dataset, model, m) in flags else "") for m in metrics],
            [method_names[m] for m in methods],
            fade,
        )
        ax.set_xlabel("")
        ax.set_ylabel("")
        if 0 < n_controls < len(methods):
            ax.axhline(len(methods) - n_controls, color="black", linewidth=1.0)
        _category_header(ax, [category_of[m] for m in metrics], col_w)
        heading = " / ".join(str(p) for p in (dataset, model) if str(p) not in ("", "nan"))
        if heading:
            top_y = y0 + (len(methods) * row_h + 0.36) / height
            fig.text(
                (c * sub_w + 0.1) / width,
                top_y,
                heading,
                ha="left",
                va="bottom",
                fontsize=9.5,
                fontweight="bold",
            )

    bar_h = min(2.2, len(methods) * row_h) / height
    cax = fig.add_axes(
        ((ncols * sub_w + 0.25) / width, axes[0].get_position().y1 - bar_h, 0.12 / width, bar_h)
    )
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), cax=cax)
    bar.set_label("normalised score (1 = best)", fontsize=7.5)
    bar.ax.tick_params(labelsize=7)
    bar.outline.set_linewidth(0.4)
    notes = ["cells: raw mean", "↑ higher better", "↓ lower better", "(↕) no direction: min-max"]
    if len(faded):
        notes.append("faded: not significantly\nbetter than random")
    if flagged:
        notes.append("† metric flagged as\nuninformative here")
    if (pd.to_numeric(scored["n_nonfinite"], errors="coerce") > 0).any():
        notes.append("* some samples non-finite")
    cax.text(
        0.0, -0.12, "\n".join(notes), transform=cax.transAxes, ha="left", va="top", fontsize=6.5, color="0.2"
    )
    if title:
        fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", fontsize=11, fontweight="bold")
    save_figure(fig, png_path, pdf_path)


def _draw_cells(
    ax, values: np.ndarray, annotations: np.ndarray, cmap, xlabels, ylabels, fade: np.ndarray | None = None
) -> None:
    """Annotated cells (rows top to bottom) as seaborn's heatmap draws them, without its tick-label overlap
    check, which made a new Agg renderer of the whole figure per subplot and label (45 s for 6 panels).

    Cell text is dark on light cells and white on dark ones (seaborn's luminance rule); NaN cells are grey.
    Cells where ``fade`` is true are covered by a translucent white square (their text stays dark).
    """
    rows, cols = values.shape
    ax.set_facecolor(NAN_COLOUR)
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, edgecolors="white", linewidth=0.5
    )
    colours = mesh.cmap(mesh.norm(np.nan_to_num(values, nan=0.0)))
    luminance = colours[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    fade = np.zeros(values.shape, bool) if fade is None else fade & np.isfinite(values)
    if fade.any():
        ax.pcolormesh(
            np.ma.masked_where(~fade, np.ones(values.shape)),
            cmap=matplotlib.colors.ListedColormap(["white"]),
            alpha=0.6,
            edgecolors="white",
            linewidth=0.5,
        )
    for i in range(rows):
        for j in range(cols):
            finite = np.isfinite(values[i, j])
            light = luminance[i, j] > 0.408 or fade[i, j]
            colour = (".15" if light else "w") if finite else "0.25"
            ax.text(j + 0.5, i + 0.5, annotations[i, j], ha="center", va="center", fontsize=6.5, color=colour)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_xticks(
        np.arange(cols) + 0.5, xlabels, rotation=50, ha="right", rotation_mode="anchor", fontsize=7.5
    )
    ax.set_yticks(np.arange(rows) + 0.5, ylabels, fontsize=7.5)
    ax.tick_params(axis="both", length=0, pad=2)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _table(part: pd.DataFrame, column: str, methods: list[str], metrics: list[str]) -> np.ndarray:
    """(methods × metrics) float array of ``column``; absent cells are NaN."""
    values = pd.to_numeric(part[column], errors="coerce").astype(float)
    frame = pd.DataFrame({"method": part["method"], "metric": part["metric"], "value": values})
    table = frame.pivot(index="method", columns="metric", values="value")
    return table.reindex(index=methods, columns=metrics).to_numpy(dtype=float)


def _metric_label(label: str, direction: str) -> str:
    """A metric's display name with its direction: ↑, ↓ or (↕)."""
    if direction in DIRECTION_ARROWS:
        return f"{label} {DIRECTION_ARROWS[direction]}"
    return f"{label} ({UNDIRECTED_MARK})"


def _category_header(ax, categories: list[str], col_w: float) -> None:
    """Category names centred over their column groups, with separators between groups."""
    spans: list[tuple[str, int, int]] = []
    for j, category in enumerate(categories):
        if spans and spans[-1][0] == category:
            spans[-1] = (category, spans[-1][1], j + 1)
        else:
            spans.append((category, j, j + 1))
    transform = ax.get_xaxis_transform()  # x in data, y in axes
    for k, (category, start, stop) in enumerate(spans):
        if k:
            ax.axvline(start, color="white", linewidth=2.5)
        name, size = _fit_header(category[:1].upper() + category[1:], (stop - start) * col_w)
        ax.text(
            (start + stop) / 2,
            1.02,
            name,
            transform=transform,
            ha="center",
            va="bottom",
            fontsize=size,
            fontweight="bold",
        )
        ax.plot(
            [start + 0.08, stop - 0.08],
            [1.01, 1.01],
            transform=transform,
            color="0.3",
            linewidth=0.8,
            clip_on=False,
        )


def _fit_header(name: str, width_in: float) -> tuple[str, float]:
    """Category header text and font size that fit ``width_in`` inches (shrink, wrap, then abbreviate)."""

    def text_width(text: str, size: float) -> float:  # bold DejaVu Sans: about 0.65 em per character
        return max(len(line) for line in text.split("\n")) * size * 0.65 / 72

    for size in (7.5, 6.5, 6.0):
        if text_width(name, size) <= width_in:
            return name, size
    size = 6.0
    per_line = max(3, int(width_in * 72 / (size * 0.65)))
    if len(name) <= 2 * per_line:
        wrapped = "\n".join(textwrap.wrap(name, per_line, break_long_words=True))
        if wrapped.count("\n") <= 1 and all(len(p) > 2 for p in wrapped.split("\n")):
            return wrapped, size
    return name[: max(2, per_line - 1)] + ".", size
