"""Figures of the cascading randomisation view (Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS
2018): the maps of one image as the layers are re-initialised from the top down, and the similarity to the
original explanation per cascade step.

Like the other figure modules, only numpy, pandas and matplotlib are used; figures are
:class:`matplotlib.figure.Figure` objects written through :func:`xaibench.figures.common.save_figure`. Maps
are drawn as ``|a| / max |a|`` per panel (turbo, 0..1), the scaling the SSIM of the view sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xaibench.figures.common import (
    LABEL,
    SEQUENTIAL_CMAP,
    SMALL,
    PathLike,
    method_styles,
    save_figure,
    wrap_text,
)
from xaibench.figures.layout import inch_margins
from xaibench.figures.names import method_labels

__all__ = ["plot_randomisation_curves", "plot_randomisation_maps", "shown_steps"]

HEADER = 9  # font size of the title
MAX_COLUMNS = 16  # cascade steps drawn in the maps figure at most (evenly spaced, first and last kept)
MAX_TICKS = 40  # layer names on the x axis of the curves at most


def shown_steps(n_steps: int, limit: int = MAX_COLUMNS) -> list[int]:
    """The steps ``0 .. n_steps - 1`` drawn: all of them, or ``limit`` evenly spaced ones (0 and the last)."""
    if n_steps <= limit:
        return list(range(n_steps))
    return sorted({round(float(s)) for s in np.linspace(0, n_steps - 1, limit)})


def layer_label(name: str, width: int = 14) -> str:
    """A module name broken after its dots into lines of at most ``width`` characters."""
    return wrap_text(name.replace(".", ". "), width).replace(". ", ".")


def _bare(ax: Axes) -> Axes:
    ax.set_box_aspect(1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.4)
        spine.set_color("0.6")
    return ax


def _show_image(ax: Axes, image: np.ndarray, value_range: tuple[float, float]) -> None:
    lo, hi = value_range
    if image.shape[0] == 3:
        ax.imshow(np.clip((image.transpose(1, 2, 0) - lo) / max(hi - lo, 1e-12), 0, 1))
    else:
        ax.imshow(image.mean(0), cmap="gray", vmin=lo, vmax=hi)


def plot_randomisation_maps(
    image: np.ndarray,
    maps: np.ndarray,
    methods: Sequence[str],
    layers: Sequence[str],
    caption: str,
    value_range: tuple[float, float],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    scores: np.ndarray | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    layer_types: Sequence[str] | None = None,
) -> None:
    """Rows: methods; columns: the input (``image``, (C, H, W), labelled ``caption``), then the explanation
    on the original model and after each cascade step (``maps``: methods x steps x H x W; ``layers``: the
    layer last re-initialised at each step, ``"original"`` first; ``layer_types``: their class names).
    ``scores`` (methods x steps): the Spearman ρ of the absolute maps written under each panel. Beyond
    :data:`MAX_COLUMNS` steps, evenly spaced ones."""
    n_methods, n_steps = maps.shape[:2]
    steps = shown_steps(n_steps)
    labels = method_labels(methods, method_specs)
    cell, gap, left, right, top, bottom = 0.85, 0.4, 0.15, 0.15, 0.95, 0.9
    grid_w = cell + gap + len(steps) * cell
    grid_h = n_methods * cell * 1.22
    fig_w = left + grid_w + right
    fig_h = top + grid_h + bottom
    spread = 1.0
    if fig_h > 1.4 * fig_w:  # few steps, many methods: wider columns (square panels centred in them)
        spread = (fig_h / 1.4 - left - right - cell) / (grid_w - cell)  # half a column is cropped each side
        grid_w *= spread
        fig_w = left + grid_w + right
    fig = Figure(figsize=(fig_w, fig_h))
    margins = inch_margins(fig_w, fig_h, left=left, right=right, top=top, bottom=bottom)
    widths = [spread * w for w in (cell, gap, *[cell] * len(steps))]
    grid = fig.add_gridspec(
        n_methods, len(steps) + 2, width_ratios=widths, wspace=0.06, hspace=0.22, **margins
    )
    ax = _bare(fig.add_subplot(grid[(n_methods - 1) // 2, 0]))  # the middle row
    _show_image(ax, image, value_range)
    ax.set_title(caption, fontsize=LABEL)
    map_axes = []
    for m, method in enumerate(methods):
        for c, step in enumerate(steps):
            ax = _bare(fig.add_subplot(grid[m, c + 2]))
            a = np.abs(np.asarray(maps[m, step], dtype=np.float64))
            if np.isfinite(a).all() and a.max() > 0:
                ax.imshow(a / a.max(), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1)
            else:
                why = (
                    "not applicable"
                    if np.isnan(a).all()
                    else "constant"
                    if np.isfinite(a).all()
                    else "non-finite"
                )
                ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=SMALL, transform=ax.transAxes)
            if scores is not None and np.isfinite(scores[m, step]):
                ax.set_xlabel(f"ρ {scores[m, step]:.2f}", fontsize=SMALL, labelpad=1.5)
            if c == 0:
                ax.set_ylabel(wrap_text(labels[method], 14), fontsize=LABEL, labelpad=3)
            if m == 0:
                name = "original" if step == 0 else f"{step}: {layer_label(str(layers[step]))}"
                if step and layer_types is not None:
                    name += f"\n{layer_types[step]}"
                ax.set_title(name, fontsize=SMALL, pad=3)
            map_axes.append(ax)
    shown = "" if len(steps) == n_steps else f" ({len(steps)} of {n_steps - 1} steps shown)"
    x0 = (left + spread * (cell + gap)) / fig_w
    bar = fig.add_axes((x0, 0.3 / fig_h, min(3.0, len(steps) * cell) / fig_w, 0.08 / fig_h))
    colourbar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), SEQUENTIAL_CMAP), cax=bar, orientation="horizontal"
    )
    colourbar.set_label("|attribution| / max, per panel", fontsize=SMALL)
    colourbar.ax.tick_params(labelsize=SMALL)
    text = (
        f"{title}: cascading randomisation (Adebayo et al. 2018). Explanations as the layers are"
        f" re-initialised from the top (logits) down{shown}; ρ = Spearman of |a| with the original."
    )
    fig.suptitle(wrap_text(text, max(60, int(fig_w * 13))), fontsize=HEADER, y=1 - 0.08 / fig_h, va="top")
    save_figure(fig, png, pdf, dpi=200)


def plot_randomisation_curves(
    summary: pd.DataFrame,
    layers: Sequence[str],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    layer_types: Sequence[str] | None = None,
    score: str = "spearman_abs",
    score_label: str = "Spearman ρ of |a| with the original",
) -> None:
    """Mean ``score`` with its 95 % confidence interval over the images (columns ``<score>_mean``,
    ``<score>_ci_low``, ``<score>_ci_high`` of ``summary``, one row per method and ``step``) against the
    cascade step, one line per method, the intervals as bars set slightly apart per method; the x axis names
    the layer re-initialised at each step (``layers``, ``"original"`` first; ``layer_types``: their class
    names), from the top down. The y axis runs from -0.2 to 1, lower only if a mean falls below -0.2."""
    methods = list(dict.fromkeys(summary["method"]))
    labels = method_labels(methods, method_specs)
    styles = method_styles(methods, method_specs)
    n_steps = len(layers)
    width = min(16.0, max(6.5, 0.36 * n_steps + 3.4))
    fig = Figure(figsize=(width, 4.8))
    ax = fig.add_subplot()
    handles = []
    dodge = np.linspace(-0.25, 0.25, len(methods)) if len(methods) > 1 else np.zeros(1)
    for method, shift in zip(methods, dodge, strict=True):
        part = summary[summary["method"] == method].sort_values("step")
        colour, line = styles[method]
        x = part["step"].to_numpy(dtype=float) + shift
        mean = part[f"{score}_mean"].to_numpy(dtype=float)
        low, high = (
            part[f"{score}_ci_low"].to_numpy(dtype=float),
            part[f"{score}_ci_high"].to_numpy(dtype=float),
        )
        ax.vlines(x, low, high, color=colour, linewidth=0.9, alpha=0.55)
        ax.plot(x, mean, color=colour, linestyle=line, marker="o", markersize=3.2, linewidth=1.4)
        label = labels[method] if np.isfinite(mean).any() else f"{labels[method]} (no scores)"
        handles.append(Line2D([], [], color=colour, linestyle=line, marker="o", markersize=3.2, label=label))
    ax.axhline(0, color="0.3", linestyle="--", linewidth=0.8)
    lowest = np.nanmin(summary[f"{score}_mean"].to_numpy(dtype=float), initial=0.0)
    ax.set_ylim(min(-0.2, np.floor((lowest - 0.05) * 10) / 10), 1.02)
    ax.set_xlim(-0.5, n_steps - 0.5)
    every = int(np.ceil(n_steps / MAX_TICKS))
    ticks = list(range(0, n_steps, every))
    names = [
        str(layers[s]) + (f" · {layer_types[s]}" if layer_types is not None and s else "") for s in ticks
    ]
    ax.set_xticks(ticks, names, rotation=60, ha="right", rotation_mode="anchor", fontsize=SMALL)
    ax.tick_params(axis="y", labelsize=SMALL + 1)
    ax.set_ylabel(f"{score_label}\n(mean, 95 % CI over images)", fontsize=LABEL + 0.5)
    ax.set_xlabel("layer re-initialised last (cumulative, from the logits down) →", fontsize=LABEL + 0.5)
    ax.grid(True, color="0.92", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=LABEL, frameon=False)
    text = f"{title}: cascading randomisation (Adebayo et al. 2018), similarity to the original explanation"
    fig.suptitle(wrap_text(text, int(width * 12)), fontsize=HEADER)
    fig.tight_layout()
    save_figure(fig, png, pdf)
