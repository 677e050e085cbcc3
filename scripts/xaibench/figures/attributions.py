"""Explanations of series and tables, where an image grid does not apply.

* Series (seed 001: Menon and Gunasundari, "Envisioning Deep Learning Networks", Fig. 10 style): one row
  per method, one column per sample; each panel draws the series (its first channel; the others faint) as a
  line coloured by that method's attribution (per panel scaled to its largest |attribution|: diverging
  colours for a signed method, sequential for a non-negative one, decided per method over its samples),
  with the ground-truth span (the motif) shaded where the dataset has one. The top row is the series itself
  with its true and predicted class.
* Tables: one panel per method, a bar per feature: the mean over the explained samples of the attribution
  divided by each sample's largest |attribution| (so every sample weighs alike), with its ±1 s.e. whisker;
  the features the dataset marks as informative (its mask) in a colour of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xaibench.figures.common import (
    DIVERGING_CMAP,
    SEQUENTIAL_CMAP,
    WRONG_COLOUR,
    PathLike,
    is_signed,
    save_figure,
    wrap_text,
)
from xaibench.figures.names import method_labels

__all__ = ["plot_series_attributions", "plot_table_attributions"]

SPAN_COLOUR = "#2ca02c"
INFORMATIVE_COLOUR = "#d62728"
OTHER_COLOUR = "#7f7f7f"


def _scaled(attribution: np.ndarray) -> np.ndarray:
    """``attribution`` divided by its largest absolute value (0 where it is all 0 or not finite)."""
    values = np.nan_to_num(np.asarray(attribution, dtype=np.float64))
    top = np.abs(values).max()
    return values / top if top > 0 else values


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in a 1-D mask."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2], edges[1::2], strict=True))


def plot_series_attributions(
    series: np.ndarray,
    maps: Mapping[str, np.ndarray],
    labels: Sequence[str],
    predictions: Sequence[str],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    masks: np.ndarray | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
    channel_names: Sequence[str] | None = None,
) -> None:
    """``series`` (N, C, 1, L); ``maps`` method -> (N, 1, 1, L) (or (N, C, 1, L): channels summed);
    ``masks`` (N, 1, 1, L) or None. Every method's maps of the N samples are drawn (see module docstring)."""
    methods = list(maps)
    names = method_labels(methods, method_specs)
    n, channels, length = series.shape[0], series.shape[1], series.shape[-1]
    x = np.arange(length)
    figure = Figure(figsize=(3.1 * n + 1.6, 0.8 * (len(methods) + 1) + 1.2))
    grid = figure.add_gridspec(len(methods) + 1, n, hspace=0.35, wspace=0.06)
    # signed or not per method over all its samples (as in the image grid): a row never mixes colour scales
    signs = {method: is_signed(list(maps[method])) for method in methods}
    low, high = float(np.nanmin(series)), float(np.nanmax(series))
    pad = 0.08 * (high - low or 1.0)
    for j in range(n):
        for i, method in enumerate([None, *methods]):
            axes = figure.add_subplot(grid[i, j])
            if masks is not None:
                for start, stop in _spans(masks[j].reshape(-1, length).any(0)):
                    axes.axvspan(start - 0.5, stop - 0.5, color=SPAN_COLOUR, alpha=0.15, lw=0)
            for c in range(1, channels):
                axes.plot(x, series[j, c, 0], color="0.75", lw=0.6)
            line = series[j, 0, 0]
            if method is None:
                axes.plot(x, line, color="black", lw=1.0)
                wrong = labels[j] != predictions[j]
                axes.set_title(
                    wrap_text(f"true {labels[j]} / pred {predictions[j]}", 34),
                    fontsize=7,
                    color=WRONG_COLOUR if wrong else "black",
                )
            elif not np.isfinite(maps[method][j]).any():
                axes.plot(x, line, color="0.8", lw=0.8)
                axes.text(0.5, 0.5, "not applicable", transform=axes.transAxes, ha="center", fontsize=7)
            else:
                attribution = np.asarray(maps[method][j], dtype=np.float64).reshape(-1, length).sum(0)
                axes.plot(x, line, color="0.8", lw=0.8)  # where a diverging colour fades to white
                signed = signs[method]
                value = _scaled(attribution)
                norm = Normalize(-1, 1) if signed else Normalize(0, 1)
                points = np.stack([x, line], axis=1)[:, None]
                segments = np.concatenate([points[:-1], points[1:]], axis=1)
                colours = LineCollection(
                    segments, cmap=DIVERGING_CMAP if signed else SEQUENTIAL_CMAP, norm=norm, lw=2.2
                )
                colours.set_array((value[:-1] + value[1:]) / 2)  # each segment: the mean of its ends
                axes.add_collection(colours)
            axes.set_xlim(-0.5, length - 0.5)
            axes.set_ylim(low - pad, high + pad)
            axes.set_yticks([])
            if i < len(methods):
                axes.set_xticks([])
            else:
                axes.tick_params(labelsize=6)
                axes.set_xlabel("time step", fontsize=7)
            if j == 0:
                axes.set_ylabel(wrap_text("input" if method is None else names[method], 14), fontsize=7)
    legend = (
        "line colour: attribution scaled to its largest |value| (signed methods: blue − / white 0 / red +; "
        "non-negative ones: dark blue 0 → red max)"
    )
    if masks is not None:
        legend += "; green band: ground-truth span"
    if channels > 1:
        channel = channel_names[0] if channel_names else "channel 0"
        legend += f"; coloured: {channel}, grey: the other channels"
    figure.suptitle(wrap_text(title, 100), fontsize=9, fontweight="bold")
    figure.text(0.5, 0.01, wrap_text(legend, 150), ha="center", fontsize=7)
    save_figure(figure, png, pdf)


def plot_table_attributions(
    maps: Mapping[str, np.ndarray],
    feature_names: Sequence[str],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    informative: np.ndarray | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """``maps`` method -> (N, 1, 1, F); ``informative`` (F,) bool (the mask's columns) or None; a panel per
    method (see module docstring)."""
    methods = list(maps)
    names = method_labels(methods, method_specs)
    n_features = len(feature_names)
    n_cols = 2 if len(methods) > 3 else 1
    n_rows = int(np.ceil(len(methods) / n_cols))
    width = max(6.0, min(0.16 * n_features + 1.2, 9.0)) * n_cols
    figure = Figure(figsize=(width, 1.45 * n_rows + 2.2))
    grid = figure.add_gridspec(n_rows, n_cols, hspace=0.45, wspace=0.12)
    colours = (
        [OTHER_COLOUR] * n_features
        if informative is None
        else [INFORMATIVE_COLOUR if flag else OTHER_COLOUR for flag in informative]
    )
    x = np.arange(n_features)
    for k, method in enumerate(methods):
        axes = figure.add_subplot(grid[k // n_cols, k % n_cols])
        values = np.asarray(maps[method], dtype=np.float64).reshape(len(maps[method]), -1)
        if not np.isfinite(values).any():
            axes.text(0.5, 0.5, "not applicable", transform=axes.transAxes, ha="center", fontsize=8)
            values = np.zeros_like(values)
        scaled = np.stack([_scaled(row) for row in values])
        mean = scaled.mean(0)
        error = scaled.std(0, ddof=1) / np.sqrt(len(scaled)) if len(scaled) > 1 else None
        axes.bar(x, mean, color=colours, yerr=error, error_kw={"lw": 0.6}, width=0.8)
        axes.axhline(0, color="black", lw=0.6)
        axes.set_xlim(-0.6, n_features - 0.4)
        axes.set_title(names[method], fontsize=8)
        axes.tick_params(labelsize=6)
        last_row = k // n_cols == n_rows - 1 or k + n_cols >= len(methods)
        if last_row:
            axes.set_xticks(x, [wrap_text(str(f), 18) for f in feature_names], rotation=90, fontsize=5.5)
        else:
            axes.set_xticks(x, [])
        if k % n_cols == 0:
            axes.set_ylabel("mean scaled\nattribution", fontsize=7)
    legend = "bars: mean over the explained samples of attribution / max |attribution| (±1 s.e.)"
    if informative is not None:
        legend += "; red: the informative features (ground truth), grey: the others"
    figure.suptitle(wrap_text(title, 100), fontsize=9, fontweight="bold")
    figure.text(0.5, 0.005, wrap_text(legend, 150), ha="center", fontsize=7)
    save_figure(figure, png, pdf)
