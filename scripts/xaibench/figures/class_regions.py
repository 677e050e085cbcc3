"""Class discrimination on two-class composites (seed 003 Fig. 3-4): each composite's map for each class
present, with the explained class's object outlined, and every method's discrimination with its interval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xaibench.figures.common import SEQUENTIAL_CMAP, PathLike, method_label, save_figure, wrap_text

_CELL = 1.15  # inches per image
_OUTLINES = ("#00e5ff", "#ff4fd8")  # cyan, magenta: the two objects in the composite column


def _positive(attribution: np.ndarray) -> np.ndarray:
    """The positive part of a map, scaled to its maximum (0 where it has none)."""
    positive = np.clip(np.nan_to_num(attribution), 0, None)
    top = positive.max()
    return positive / top if top > 0 else positive


def plot_class_regions(
    composite: Any,
    maps: Mapping[str, np.ndarray],
    intervals: pd.DataFrame,
    summary: pd.DataFrame,
    class_names: list[str],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    n_show: int = 3,
) -> None:
    """``composite``: a :class:`~xaibench.claims.class_regions.Composite`; ``maps`` method -> (N, 2, H, W)
    (the map of ``classes[:, j]`` at j); ``summary`` per (method, composite) ``discrimination``;
    ``intervals`` per method ``mean``, ``ci_low``, ``ci_high``."""
    methods = list(maps)
    n_show = min(n_show, len(composite.images))
    n_cols = 1 + 2 * len(methods)
    width = _CELL * n_cols + 3.4
    height = _CELL * n_show + 1.5
    figure = Figure(figsize=(width, height))
    grid = figure.add_gridspec(
        n_show, n_cols + 1, width_ratios=[1] * n_cols + [2.6], wspace=0.08, hspace=0.25,
        left=0.02, right=0.98, top=1 - 0.85 / height, bottom=0.45 / height,
    )  # fmt: skip
    for i in range(n_show):
        image, regions, classes = composite.images[i], composite.regions[i], composite.classes[i]
        axes = figure.add_subplot(grid[i, 0])
        axes.imshow(image.mean(0), cmap="gray", vmin=0, vmax=1)
        for j in range(2):
            axes.contour(regions[j], levels=[0.5], colors=_OUTLINES[j], linewidths=0.8)
        axes.set_xticks([])
        axes.set_yticks([])
        if i == 0:
            names = [class_names[int(c)] for c in classes]
            legend = f"outlines: {names[0]} cyan, {names[1]} magenta"
            axes.set_title("composite\n" + wrap_text(legend, 22), fontsize=7)
        for m, method in enumerate(methods):
            for j in range(2):
                axes = figure.add_subplot(grid[i, 1 + 2 * m + j])
                axes.imshow(_positive(maps[method][i, j]), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1)
                axes.contour(regions[j], levels=[0.5], colors="white", linewidths=0.8)
                axes.set_xticks([])
                axes.set_yticks([])
                if i == 0:
                    label = f"{method_label(method)}\nfor {class_names[int(classes[j])]}"
                    axes.set_title(wrap_text(label, 18), fontsize=7)
    axes = figure.add_subplot(grid[:, -1])
    position = {method: k for k, method in enumerate(methods)}
    rng = np.random.default_rng(0)  # jitter of the dots only
    for method, group in summary.groupby("method", sort=False):
        if method not in position:
            continue
        values = group["discrimination"].to_numpy(float)
        y = position[method] + rng.uniform(-0.18, 0.18, len(values))
        axes.scatter(values, y, s=7, color="0.55", alpha=0.7, lw=0)
    for row in intervals.itertuples():
        if row.method in position and np.isfinite(row.mean):
            error = [[row.mean - row.ci_low], [row.ci_high - row.mean]]
            axes.errorbar(row.mean, position[row.method], xerr=error, fmt="o", color="black", ms=4, lw=1.2)
    axes.axvline(0, color="black", ls="--", lw=0.8)
    axes.set_xlim(-1.02, 1.02)
    axes.set_yticks(range(len(methods)), [method_label(m) for m in methods], fontsize=7)
    axes.yaxis.tick_right()
    axes.set_ylim(len(methods) - 0.5, -0.5)
    label = "discrimination: share on own object − on other\n(mean ± 95% CI; dots: composites)"
    axes.set_xlabel(label, fontsize=7)
    axes.tick_params(labelsize=7)
    figure.suptitle(wrap_text(title, 110), fontsize=9, fontweight="bold")
    save_figure(figure, png, pdf)
