"""Faithfulness curves as small multiples: one panel per method family, the controls in every panel.

Each panel (:data:`xaibench.figures.names.FAMILY_ORDER`; a method whose registry name is in no family of
:data:`~xaibench.figures.names.METHOD_FAMILIES` goes to the "Other" panel) shows the per-step mean curve of
each of its methods over the images with a shaded 95 % t-interval of that mean, and the same two controls
(registry ``random`` dashed and ``sobel`` dash-dotted, both grey, with their bands) behind them, so that
every family is read against the controls. Panels share the y axis; each has its own small legend on its
right giving a method's display name and its mean over the steps (the normalised area under the curve),
sorted by it, controls last. Methods keep their fixed colour and line style
(:func:`xaibench.figures.common.method_styles`), so a method looks the same in every figure.

Only numpy and matplotlib (Agg, no pyplot) are imported.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from xaibench.figures.common import (
    CONTROL_STYLES,
    PathLike,
    format_value,
    method_styles,
    new_figure,
    save_figure,
    wrap_text,
)
from xaibench.figures.names import (
    CONTROL_METHODS,
    FAMILY_ORDER,
    method_family,
    method_labels,
    registry_method,
)

#: Colours of the controls in the curve panels (their line styles are those of every figure).
CONTROL_GREYS: dict[str, str] = {"random": "0.55", "sobel": "0.35"}
#: Panel of a figure of controls only.
CONTROLS_PANEL = "Controls"
#: Font sizes (points): ticks and legends, axis labels, panel titles, figure title.
TEXT, LABEL, PANEL_TITLE, TITLE = 7.0, 7.5, 8.5, 10.0
#: Layout (inches): panel width and least height, left margin, gap after a legend, per legend row.
PANEL_W, PANEL_H, LEFT, COLUMN_GAP, LEGEND_ROW = 2.1, 1.65, 0.6, 0.45, 0.152
CHAR_W = 0.052  # inches per character of 7 pt DejaVu Sans, a generous average

#: Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (beyond: Cornish-Fisher expansion).
T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t_quantile_975(df: np.ndarray) -> np.ndarray:
    """Student's t 97.5 % quantile for ``df`` degrees of freedom (NaN below 1), to 1e-4 without scipy."""
    df = np.asarray(df, dtype=np.float64)
    z = 1.959963984540054
    g = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        expansion = z + sum(gk / df ** (k + 1) for k, gk in enumerate(g))
    table = np.asarray(T975)[np.clip(df, 1, len(T975)).astype(int) - 1]
    return np.where(df < 1, np.nan, np.where(df <= len(T975), table, expansion))


def _mean_and_ci(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step NaN-aware mean and 95 % t-interval of the mean (NaN where fewer than 2 finite values)."""
    finite = np.isfinite(curves)
    count = finite.sum(axis=0)
    values = np.where(finite, curves, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(axis=0) / count
        squares = np.where(finite, (curves - mean) ** 2, 0.0).sum(axis=0)
        sem = np.sqrt(squares / (count - 1)) / np.sqrt(count)
        half = t_quantile_975(count - 1) * sem
    mean = np.where(count > 0, mean, np.nan)
    half = np.where(count > 1, half, np.nan)
    return mean, mean - half, mean + half


def _as_arrays(curves: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(N, L) float arrays of every method, all of one L (otherwise ``ValueError``)."""
    if not curves:
        raise ValueError("plot_faithfulness_curves: no curves given")
    arrays = {}
    for method, array in curves.items():
        array = np.asarray(array, dtype=np.float64)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2:
            raise ValueError(f"curves[{method!r}] must be (N, L), got shape {array.shape}")
        arrays[method] = array
    lengths = {m: a.shape[1] for m, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"all curves in one figure must have the same length L; got {lengths}")
    return arrays


def family_panels(
    entries: list[str], specs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[str]]:
    """Family -> its method entries (order of ``entries``), families in ``FAMILY_ORDER``; controls are in
    none. Only controls: one panel ``"Controls"`` with no members."""
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        if registry_method(entry, specs) not in CONTROL_METHODS:
            grouped.setdefault(method_family(entry, specs), []).append(entry)
    if not grouped:
        return {CONTROLS_PANEL: []}
    rank = {family: k for k, family in enumerate(FAMILY_ORDER)}
    return dict(sorted(grouped.items(), key=lambda item: rank.get(item[0], len(rank))))


def plot_faithfulness_curves(
    curves: dict[str, np.ndarray],
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    title: str = "",
    xlabel: str = "perturbation step",
    ylabel: str = "model output",
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Small multiples of mean curves with shaded 95 % CI bands (Samek et al. 2017 style), one panel per
    method family, the controls in every panel (module docstring).

    ``curves`` maps a method entry to (N, L) per-sample curves (a 1-D array counts as one sample); all
    methods must share L, otherwise ``ValueError``. NaN/inf entries are ignored per step (mean over the
    finite samples, CI = t(0.975, n−1) · SEM, no band where fewer than two are finite). Display names and
    families come from ``method_specs`` (the config entries by name, see :mod:`xaibench.figures.names`).
    Each method's mean line carries its display name as its label (``Line2D.get_label()``).
    """
    arrays = _as_arrays(curves)
    length = next(iter(arrays.values())).shape[1]
    steps = np.arange(length)
    entries = list(arrays)
    controls = [e for e in entries if registry_method(e, method_specs) in CONTROL_METHODS]
    panels = family_panels(entries, method_specs)
    labels = method_labels(entries, method_specs)
    styles = method_styles(entries, method_specs)
    for entry in controls:  # both controls grey, in their usual line styles
        control = registry_method(entry, method_specs)
        if styles[entry] == CONTROL_STYLES.get(control):
            styles[entry] = (CONTROL_GREYS[control], styles[entry][1])

    stats = {entry: _mean_and_ci(array) for entry, array in arrays.items()}
    area = {e: float(np.nanmean(s[0])) if np.isfinite(s[0]).any() else math.nan for e, s in stats.items()}
    counts = {e: int(np.isfinite(a).any(axis=1).sum()) for e, a in arrays.items()}
    same_n = len(set(counts.values())) == 1

    def legend_text(entry: str) -> str:
        text = f"{labels[entry]}  {format_value(area[entry])}"
        return text if same_n else f"{text} (n={counts[entry]})"

    n_text = f"n = {next(iter(counts.values()))} images" if same_n else "n images per method in the legend"
    note = (
        f"Lines: mean over images; shaded: 95 % t-interval of the mean ({n_text}). "
        "Legend: mean over the steps (normalised area), sorted."
    )
    if controls:
        note += " Grey: the controls, drawn in every panel."

    # layout (inches): columns of [panel | legend], rows as tall as their longest legend
    names = list(panels)
    ncols = 1 if len(names) == 1 else 2
    nrows = math.ceil(len(names) / ncols)
    legend_rows = {family: [*panels[family], *controls] for family in names}
    legend_w = [
        0.45 + CHAR_W * max(len(legend_text(e)) for family in names[c::ncols] for e in legend_rows[family])
        for c in range(ncols)
    ]
    rows_h = [
        max(PANEL_H, 0.25 + LEGEND_ROW * max(len(legend_rows[f]) for f in names[r * ncols : (r + 1) * ncols]))
        for r in range(nrows)
    ]
    top = 0.45 if title else 0.1
    above, below = 0.28, 0.42  # panel title; tick labels and x label
    width = LEFT + sum(PANEL_W + w for w in legend_w) + (ncols - 1) * COLUMN_GAP
    note = wrap_text(note, int((width - LEFT - 0.1) / CHAR_W))
    note_h = 0.1 + 0.14 * (note.count("\n") + 1)
    height = top + sum(above + h + below for h in rows_h) + note_h
    width = max(width, height / 1.45)  # 1.5 at most, once saved tightly
    fig = new_figure(width, height)
    fig.set_layout_engine(None)

    axes = []
    for k, family in enumerate(names):
        r, c = divmod(k, ncols)
        x0 = LEFT + sum(PANEL_W + w + COLUMN_GAP for w in legend_w[:c])
        y_top = height - top - sum(above + h + below for h in rows_h[:r]) - above
        box = (x0 / width, (y_top - rows_h[r]) / height, PANEL_W / width, rows_h[r] / height)
        ax = fig.add_axes(box, sharey=axes[0] if axes else None)
        axes.append(ax)
        members = sorted(
            panels[family], key=lambda e: (math.isnan(area[e]), -area[e] if math.isfinite(area[e]) else 0.0)
        )
        lines = {}
        for entry in [*controls, *members]:  # controls first: drawn below the family
            control = entry in controls
            mean, low, high = stats[entry]
            colour, linestyle = styles[entry]
            ax.fill_between(
                steps,
                low,
                high,
                color=colour,
                alpha=0.14 if control else 0.16,
                linewidth=0,
                zorder=1 if control else 3,
            )
            (lines[entry],) = ax.plot(
                steps,
                mean,
                color=colour,
                linestyle=linestyle,
                linewidth=1.3 if control else 1.5,
                label=labels[entry],
                zorder=2 if control else 4,
            )
        ax.legend(
            [lines[e] for e in [*members, *controls]],
            [legend_text(e) for e in [*members, *controls]],
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=TEXT,
            frameon=False,
            handlelength=2.4,
            borderaxespad=0.0,
            labelspacing=0.35,
        )
        ax.set_title(family, fontsize=PANEL_TITLE, fontweight="bold", loc="left")
        ax.set_xlim(0, max(1, length - 1))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.tick_params(labelsize=TEXT, labelleft=True)
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if c == 0:  # short enough for one panel's height: wrapped to two lines at most
            ax.set_ylabel("\n".join(textwrap.wrap(ylabel, 28)[:2]), fontsize=LABEL)
        if k + ncols >= len(names):  # the lowest panel of its column
            ax.set_xlabel(xlabel, fontsize=LABEL)

    fig.text(LEFT / width, 0.08 / height, note, ha="left", va="bottom", fontsize=TEXT, color="0.25")
    if title:
        fig.text(0.5, 1 - 0.1 / height, title, ha="center", va="top", fontsize=TITLE, fontweight="bold")
    save_figure(fig, png_path, pdf_path)
