"""Fig. 1 (seed 000): the explanation grid, input | method1 | method2 ... for every sample.

Attribution maps follow the normalisation rules of :mod:`xaibench.figures.common` (per method signed or
non-negative, each map scaled by its own 99.5th percentile of ``|a|``). The heatmap is laid over the
greyscale input with a per-pixel opacity that grows linearly with ``|value|`` (from 0 to 0.75), so
unimportant pixels keep showing the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xaibench.figures.common import (
    DIVERGING_CMAP,
    SEQUENTIAL_CMAP,
    WRONG_COLOUR,
    PathLike,
    is_signed,
    new_figure,
    normalise_map,
    save_figure,
    wrap_text,
)
from xaibench.figures.layout import gapped_rows, inch_margins
from xaibench.figures.names import method_labels

OVERLAY_ALPHA = (0.0, 0.75)  # heatmap opacity at |value| = 0 and |value| = 1
MASK_COLOUR = "#39ff14"


@dataclass
class ExplanationPanel:
    """One row group of :func:`plot_explanation_grid` (e.g. one dataset × model).

    ``images`` is (n, C, H, W) in [0, 1] with C = 1 or 3; ``maps`` maps a method name to (n, 1, H, W)
    attributions of any sign and scale ((n, H, W) and (n, C, H, W) are accepted; channels are summed);
    ``labels``/``predictions`` are class names per sample; ``masks`` is an optional (n, 1, H, W) boolean
    ground truth drawn as a thin contour on the input column.
    """

    title: str
    images: np.ndarray
    maps: dict[str, np.ndarray]
    labels: list[str]
    predictions: list[str]
    masks: np.ndarray | None = None


def _as_nchw(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4:
        raise ValueError(f"{what}: expected (n, C, H, W) or (n, H, W), got shape {array.shape}")
    return array


def _map_2d(maps: np.ndarray, method: str, n: int) -> np.ndarray:
    """(n, H, W) float map: channels summed, non-finite values set to 0."""
    maps = _as_nchw(maps, f"map {method!r}")
    if maps.shape[0] != n:
        raise ValueError(f"map {method!r} has {maps.shape[0]} samples, the images {n}")
    out = maps.astype(np.float64).sum(axis=1)
    return np.where(np.isfinite(out), out, 0.0)


def _overlay_rgba(value: np.ndarray, signed: bool) -> np.ndarray:
    """RGBA image of a normalised map with opacity growing with |value|."""
    if signed:
        rgba = matplotlib.colormaps[DIVERGING_CMAP]((value + 1.0) / 2.0)
    else:
        rgba = matplotlib.colormaps[SEQUENTIAL_CMAP](value)
    low, high = OVERLAY_ALPHA
    rgba[..., 3] = low + (high - low) * np.abs(value)
    return rgba


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W) luminance of a (C, H, W) image in [0, 1]."""
    if image.shape[0] == 3:
        return np.clip(0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2], 0, 1)
    return np.clip(image.mean(axis=0), 0, 1)


def plot_explanation_grid(
    panels: list[ExplanationPanel],
    methods: list[str],
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Input | method1 | method2 ... for every sample, grouped by panel (seed 000, Fig. 1 layout).

    Rows are samples, grouped by panel with the panel title at the left; each row is labelled
    "true / pred" (red when the prediction is wrong). The first column shows the input (in colour for
    RGB) with the ground-truth mask as a thin green contour; the other columns overlay each method's
    normalised map on the greyscale input (rules in the module docstring: diverging colours for signed
    methods, a jet-like sequential map for non-negative ones, scaled per image). A method missing from
    a panel is shown as an empty "n/a" cell. Colour bars at the bottom explain both scales. ``methods`` are
    method entries, headed by their display names (:mod:`xaibench.figures.names`; ``method_specs``: the
    config entries, ``{"method": ..., "params": ...}`` by entry name).
    """
    if not panels:
        raise ValueError("plot_explanation_grid needs at least one panel")
    methods = list(dict.fromkeys(methods))
    labels = method_labels(methods, method_specs)

    prepared = []
    for panel in panels:
        images = _as_nchw(panel.images, f"panel {panel.title!r} images").astype(np.float64)
        n = images.shape[0]
        if len(panel.labels) != n or len(panel.predictions) != n:
            raise ValueError(
                f"panel {panel.title!r}: {n} images but {len(panel.labels)} labels and "
                f"{len(panel.predictions)} predictions"
            )
        masks = None
        if panel.masks is not None:
            masks = _as_nchw(panel.masks, f"panel {panel.title!r} masks").astype(bool).any(axis=1)
            if masks.shape[0] != n:
                raise ValueError(f"panel {panel.title!r}: {masks.shape[0]} masks for {n} images")
        maps = {m: _map_2d(panel.maps[m], m, n) for m in methods if m in panel.maps}
        prepared.append((panel, images, masks, maps))

    signed = {m: is_signed([maps[m] for *_, maps in prepared if m in maps]) for m in methods}

    n_rows = sum(images.shape[0] for _, images, _, _ in prepared)
    n_cols = 1 + len(methods)
    cell, gap = 1.05, 0.22  # inches: one image, space between groups
    left, right, top, bottom = 0.85, 0.1, 0.55, 0.75
    grid_h = n_rows * cell + (len(prepared) - 1) * gap
    width = left + right + n_cols * cell
    height = top + bottom + grid_h
    fig = new_figure(width, height)

    height_ratios = gapped_rows((images.shape[0] for _, images, _, _ in prepared), cell, gap)
    margins = inch_margins(width, height, left=left, right=right, top=top, bottom=bottom)
    grid = fig.add_gridspec(
        len(height_ratios), n_cols, height_ratios=height_ratios, wspace=0.04, hspace=0.04, **margins
    )

    header_size, label_size = 8.5, 7
    grid_row = 0
    for g, (panel, images, masks, maps) in enumerate(prepared):
        if g:
            grid_row += 1  # spacer
        first_row = grid_row
        for i in range(images.shape[0]):
            image = images[i]
            grey = _grey(image)
            for c in range(n_cols):
                ax = fig.add_subplot(grid[grid_row, c])
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_linewidth(0.4)
                    spine.set_color("0.6")
                if c == 0:
                    shown = np.clip(image.transpose(1, 2, 0), 0, 1) if image.shape[0] == 3 else grey
                    ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                    if masks is not None and masks[i].any() and not masks[i].all():
                        ax.contour(masks[i].astype(float), levels=[0.5], colors=MASK_COLOUR, linewidths=0.9)
                    wrong = str(panel.labels[i]) != str(panel.predictions[i])
                    ax.set_ylabel(
                        wrap_text(f"{panel.labels[i]} / {panel.predictions[i]}", 18),
                        fontsize=label_size,
                        color=WRONG_COLOUR if wrong else "black",
                        labelpad=2,
                    )
                    if grid_row == 0:
                        ax.set_title("Input", fontsize=header_size, pad=4)
                else:
                    method = methods[c - 1]
                    if method in maps:
                        ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                        value = normalise_map(maps[method][i], signed[method])
                        extent = (-0.5, grey.shape[1] - 0.5, grey.shape[0] - 0.5, -0.5)
                        ax.imshow(
                            _overlay_rgba(value, signed[method]), interpolation="bilinear", extent=extent
                        )
                    else:  # this panel has no map for the method
                        ax.set_facecolor("0.94")
                        ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=label_size, color="0.4")
                    if grid_row == 0:
                        title = wrap_text(labels[method] + (" (±)" if signed[method] else ""), 14)
                        ax.set_title(title, fontsize=header_size, pad=4)
            grid_row += 1
        # group title at the left, centred on the group's rows
        y_top = grid[first_row, 0].get_position(fig).y1
        y_bottom = grid[grid_row - 1, 0].get_position(fig).y0
        group_inches = (y_top - y_bottom) * height
        fig.text(
            0.4 / width,
            (y_top + y_bottom) / 2,
            wrap_text(panel.title, max(8, int(group_inches * 72 / 6.2))),
            rotation=90,
            ha="center",
            va="center",
            fontsize=8.5,
            fontweight="bold",
        )
        if g:
            line_y = (y_top + grid[first_row - 2, 0].get_position(fig).y0) / 2
            fig.add_artist(Line2D([0.02, 0.995], [line_y, line_y], color="0.7", linewidth=0.6))

    _grid_colourbars(fig, signed, width, height, bottom)
    save_figure(fig, png_path, pdf_path, dpi=200)


def _grid_colourbars(
    fig: Figure, signed: dict[str, bool], width: float, height: float, bottom: float
) -> None:
    """Small horizontal colour bars under the grid for the scales that occur."""
    scales = []
    if not all(signed.values()) or not signed:
        scales.append((SEQUENTIAL_CMAP, Normalize(0, 1), [0, 1], ["0", "max"], "non-negative maps"))
    if any(signed.values()):
        scales.append(
            (DIVERGING_CMAP, Normalize(-1, 1), [-1, 0, 1], ["−max |a|", "0", "+max |a|"], "signed maps (±)")
        )
    bar_w = min(2.2, (width - 1.2) / max(1, len(scales)) - 0.6) / width
    for k, (cmap, norm, ticks, ticklabels, label) in enumerate(scales):
        x0 = (1.0 + k * (bar_w * width + 0.9)) / width
        cax = fig.add_axes((x0, (bottom - 0.42) / height, bar_w, 0.1 / height))
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
        bar.set_ticks(ticks, labels=ticklabels)
        bar.ax.tick_params(labelsize=6.5, length=2, pad=1)
        bar.outline.set_linewidth(0.4)
        cax.set_title(label + " (per image)", fontsize=7, pad=2)
