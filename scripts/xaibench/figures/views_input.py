"""Figures of the views of inputs: occlusion sweep, activation maps, max/min activating images and the guided
Grad-CAM composite (one figure per dataset x model, PNG + PDF through
:func:`xaibench.figures.common.save_figure`).

Like the other figure modules, this one only needs numpy, pandas and matplotlib (no torch), draws on
:class:`matplotlib.figure.Figure` objects (no pyplot state) and takes the arrays the view functions return.
Colour rules: probability drops use one fixed diverging scale for the whole figure (-1..1, red = the
true-class probability falls), so window sizes compare in absolute terms; activations use one sequential scale
per row (layer), shared by its channels; attribution maps follow :mod:`xaibench.figures.common` (per image,
signed maps diverging, non-negative maps sequential).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from xaibench.figures.common import (
    DIVERGING_CMAP,
    LABEL,
    SEQUENTIAL_CMAP,
    SMALL,
    WRONG_COLOUR,
    PathLike,
    is_signed,
    normalise_map,
    save_figure,
    wrap_text,
)
from xaibench.figures.layout import block_grid, inch_margins
from xaibench.figures.names import method_label

__all__ = [
    "plot_activation_maps",
    "plot_guided_gradcam_composite",
    "plot_max_activating",
    "plot_occlusion_sweep",
]

HEADER = 8.5  # font size of column headers
ACTIVATION_CMAP = "viridis"


def _bare(ax: Axes) -> Axes:
    """An image panel: no axis machinery (ticks, spines and axis labels cost most of the drawing time of a
    many-panel figure), a thin grey frame, and labels through :func:`_text`."""
    ax.set_axis_off()
    ax.add_patch(
        Rectangle(
            (0, 0), 1, 1, transform=ax.transAxes, fill=False, linewidth=0.4, edgecolor="0.6", clip_on=False
        )
    )
    return ax


def _text(ax: Axes, where: str, text: str, size: float, colour: str = "black", pad: float = 2.0) -> None:
    """A label at the ``top``, ``bottom`` or ``left`` (rotated) of a bare panel, ``pad`` points away."""
    xy, offset, kwargs = {
        "top": ((0.5, 1.0), (0, pad), {"ha": "center", "va": "bottom"}),
        "bottom": ((0.5, 0.0), (0, -pad), {"ha": "center", "va": "top"}),
        "left": ((0.0, 0.5), (-pad, 0), {"ha": "right", "va": "center", "rotation": 90}),
    }[where]
    ax.annotate(
        text,
        xy=xy,
        xycoords="axes fraction",
        xytext=offset,
        textcoords="offset points",
        fontsize=size,
        color=colour,
        multialignment="center",
        **kwargs,
    )


def _show_image(ax: Axes, image: np.ndarray) -> None:
    """(C, H, W) image in [0, 1]: RGB as is, otherwise the channel mean in grey."""
    shown = image.transpose(1, 2, 0) if image.shape[0] == 3 else image.mean(axis=0)
    ax.imshow(np.clip(shown, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def _sample_label(
    class_names: Sequence[str], label: int, prediction: int, extra: str = ""
) -> tuple[str, str]:
    text = f"true {class_names[label]}\npred {class_names[prediction]}" + (f"\n{extra}" if extra else "")
    return text, (WRONG_COLOUR if label != prediction else "black")


def _not_applicable(ax: Axes, reason: str) -> None:
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor="0.93", edgecolor="none"))
    ax.text(
        0.5,
        0.5,
        wrap_text("not applicable: " + reason, 24),
        ha="center",
        va="center",
        fontsize=5,
        color="0.25",
        transform=ax.transAxes,
    )


def _colourbar(
    fig: Figure,
    rect: tuple[float, float, float, float],
    cmap: str,
    norm: Normalize,
    label: str,
    orientation: str = "horizontal",
) -> None:
    cax = fig.add_axes(rect)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation=orientation)
    bar.ax.tick_params(labelsize=SMALL, length=2, pad=1)
    bar.outline.set_linewidth(0.4)
    bar.set_label(label, fontsize=SMALL + 0.5, labelpad=2)


# --------------------------------------------------------------------------------------------------
# occlusion sweep


def plot_occlusion_sweep(
    result: dict[str, np.ndarray], title: str, png: PathLike, pdf: PathLike | None
) -> None:
    """Rows: samples x strides (the first ``n_show`` samples of the result); columns: input | one occlusion
    map per window size | the two-window map; below, the largest and the mean probability drop of every
    setting over all samples (bars: mean over samples; dots: samples)."""
    windows = list(dict.fromkeys(int(w) for w in result["window_px"]))
    strides = list(dict.fromkeys(int(s) for s in result["stride_px"]))
    setting = {
        (int(w), int(s)): i
        for i, (w, s) in enumerate(zip(result["window_px"], result["stride_px"], strict=True))
    }
    images, names = result["images"], [str(c) for c in result["class_names"]]
    n = min(len(images), int(result.get("n_show", len(images))))
    win_a, win_b = (int(v) for v in result["two_window_px"])
    stride_2 = int(result["two_window_stride_px"])

    cell, gap, left, right, top = 1.05, 0.18, 1.0, 0.15, 0.75
    widths = [cell, 0.42] + [cell] * len(windows) + [0.2, cell]
    n_settings = len(result["setting"])
    fig_w = max(left + right + sum(widths), 1.6 + 0.95 * n_settings)
    grid_h = n * len(strides) * cell + (n - 1) * gap
    cbar_h, bars_h = 0.7, 2.3
    fig_h = top + grid_h + cbar_h + bars_h + 0.1
    fig = Figure(figsize=(fig_w, fig_h))
    grid_w = sum(widths)
    x0 = (fig_w - grid_w + left - right) / 2
    grid, starts = block_grid(
        fig,
        [len(strides)] * n,
        widths,
        cell=cell,
        gap=gap,
        left=x0 / fig_w,
        right=(x0 + grid_w) / fig_w,
        top=top,
        height=grid_h,
        hspace=0.05,
    )
    norm = Normalize(-1, 1)
    for i, row0 in enumerate(starts):
        rows = slice(row0, row0 + len(strides))
        ax = _bare(fig.add_subplot(grid[rows, 0]))
        _show_image(ax, images[i])
        text, colour = _sample_label(
            names,
            int(result["labels"][i]),
            int(result["predictions"][i]),
            f"p(true) {result['p_true'][i]:.2f}",
        )
        _text(ax, "left", text, LABEL, colour, pad=4)
        if i == 0:
            _text(ax, "top", "input", HEADER, pad=4)
        for r, stride in enumerate(strides):
            for c, window in enumerate(windows):
                ax = _bare(fig.add_subplot(grid[row0 + r, 2 + c]))
                s = setting.get((window, stride))
                if s is None:
                    continue
                ax.imshow(result["maps"][s, i], cmap=DIVERGING_CMAP, norm=norm, interpolation="nearest")
                if i == 0 and r == 0:
                    _text(ax, "top", f"window {window} px", HEADER, pad=4)
                if c == 0:
                    _text(ax, "left", f"stride {stride} px", LABEL, pad=3)
        ax = _bare(fig.add_subplot(grid[rows, len(widths) - 1]))
        ax.imshow(result["two_window_map"][i], cmap=DIVERGING_CMAP, norm=norm, interpolation="nearest")
        if i == 0:
            text = f"two windows\n{win_a} + {win_b} px, stride {stride_2}\n(A here, B anywhere:\nmean drop)"
            _text(ax, "top", text, SMALL + 0.5, pad=4)

    bar_w = min(4.0, grid_w - 0.5)
    _colourbar(
        fig,
        ((x0 + (grid_w - bar_w) / 2) / fig_w, 1 - (top + grid_h + 0.3) / fig_h, bar_w / fig_w, 0.1 / fig_h),
        DIVERGING_CMAP,
        norm,
        "drop of the true-class probability (at each pixel: mean over the window positions covering it)",
    )

    ax = fig.add_axes((0.75 / fig_w, 0.55 / fig_h, 1 - 0.9 / fig_w, (bars_h - 0.95) / fig_h))
    labels = [f"w {w}\ns {s}" for w, s in zip(result["window_px"], result["stride_px"], strict=True)]
    labels.append(f"2 windows\n{win_a}+{win_b}, s {stride_2}")
    x = np.arange(len(labels))
    series = [("max_drop", "largest drop (worst position)", "#c0392b"), ("mean_drop", "mean drop", "#2e86c1")]
    for k, (key, name, colour) in enumerate(series):
        values = np.asarray(result[key])  # (settings, samples)
        offset = (k - 0.5) * 0.38
        ax.bar(x + offset, values.mean(axis=1), width=0.36, color=colour, alpha=0.75, label=name)
        for j in range(values.shape[1]):
            ax.plot(x + offset, values[:, j], "o", color="black", markersize=2.2, linestyle="none")
    ax.axhline(0, color="0.3", linewidth=0.5)
    ax.set_xticks(x, labels, fontsize=SMALL)
    ax.set_xlabel("window (w) and stride (s) in px", fontsize=SMALL + 0.5, labelpad=2)
    ax.set_ylabel("probability drop", fontsize=LABEL)
    ax.set_ylim(min(-0.05, float(np.min(result["mean_drop"])) - 0.05), 1.25)
    ax.tick_params(axis="y", labelsize=SMALL)
    ax.legend(fontsize=SMALL, loc="upper left", frameon=False, ncols=2)
    ax.set_title(
        "drop over all window positions (bars: mean over samples; dots: single samples)", fontsize=LABEL
    )
    fig.suptitle(
        wrap_text(f"Occlusion sweep — {title}", 60), fontsize=HEADER + 1, y=1 - 0.12 / fig_h, va="top"
    )
    save_figure(fig, png, pdf, dpi=200)


# --------------------------------------------------------------------------------------------------
# activation maps


def _activation_norm(values: np.ndarray) -> Normalize:
    finite = values[np.isfinite(values)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    return Normalize(low, high if high > low else low + 1.0)


def _activation_bar(fig: Figure, cax: Axes, norm: Normalize) -> None:
    """The colour bar of one activation scale, drawn into ``cax``."""
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=ACTIVATION_CMAP), cax=cax)
    bar.ax.tick_params(labelsize=SMALL - 1, length=1.5, pad=1)
    bar.outline.set_linewidth(0.4)


def plot_activation_maps(
    result: dict[str, np.ndarray], title: str, png: PathLike, pdf: PathLike | None
) -> None:
    """Top: for every sample and layer, the feature maps of the chosen channels (one colour scale per row);
    bottom: per layer, the mean activation of every channel per class (classes x channels heatmaps)."""
    layers = [str(name) for name in result["layers"]]
    shapes = np.asarray(result["layer_shapes"])
    images, names = result["images"], [str(c) for c in result["class_names"]]
    n, n_layers = len(images), len(layers)
    k = max(result[f"maps_{i}"].shape[1] for i in range(n_layers))

    cell, gap, left, right, top = 0.85, 0.2, 0.95, 0.2, 0.7
    widths = [cell, 0.85] + [cell] * k + [0.08, 0.12]
    fig_w = left + right + sum(widths) + 0.5
    maps_h = n * n_layers * cell + (n - 1) * gap
    summary_h = [max(0.55, 0.16 * len(names) + 0.25) for _ in layers]
    fig_h = top + maps_h + 0.9 + sum(summary_h) + 0.55 * n_layers + 0.3
    fig = Figure(figsize=(fig_w, fig_h))
    grid, starts = block_grid(
        fig,
        [n_layers] * n,
        widths,
        cell=cell,
        gap=gap,
        left=left / fig_w,
        right=1 - (right + 0.5) / fig_w,
        top=top,
        height=maps_h,
        hspace=0.28,
    )
    for i, row0 in enumerate(starts):
        ax = _bare(fig.add_subplot(grid[row0 : row0 + n_layers, 0]))
        _show_image(ax, images[i])
        text, colour = _sample_label(names, int(result["labels"][i]), int(result["predictions"][i]))
        _text(ax, "left", text, LABEL, colour, pad=4)
        if i == 0:
            _text(ax, "top", "input", HEADER, pad=4)
        for layer in range(n_layers):
            maps, channels = result[f"maps_{layer}"][i], result[f"channels_{layer}"]
            norm = _activation_norm(maps)
            for c in range(k):
                ax = _bare(fig.add_subplot(grid[row0 + layer, 2 + c]))
                if c >= len(channels):
                    ax.set_axis_off()
                    continue
                ax.imshow(maps[c], cmap=ACTIVATION_CMAP, norm=norm, interpolation="nearest")
                _text(ax, "top", f"ch {int(channels[c])}", SMALL, pad=1.5)
                if c == 0:
                    shape = "×".join(str(int(v)) for v in shapes[layer])
                    _text(ax, "left", wrap_text(f"{layers[layer]}\n{shape}", 16), SMALL, pad=3)
            _activation_bar(fig, fig.add_subplot(grid[row0 + layer, len(widths) - 1]), norm)

    y = top + maps_h + 0.9
    for above, text in (
        (top, "feature maps of the most variable channels (colour scale per row)"),
        (y, "mean activation per class and channel (test images)"),
    ):
        fig.text(left / fig_w, 1 - (above - 0.3) / fig_h, text, fontsize=LABEL, va="bottom")
    width = 1 - (left + right + 0.5) / fig_w
    for layer in range(n_layers):
        means = np.asarray(result[f"class_mean_{layer}"])
        bottom, height = 1 - (y + summary_h[layer]) / fig_h, summary_h[layer] / fig_h
        ax = fig.add_axes((left / fig_w, bottom, width, height))
        norm = _activation_norm(means)
        ax.imshow(means, cmap=ACTIVATION_CMAP, norm=norm, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(names)), names, fontsize=SMALL)
        ax.tick_params(axis="x", labelsize=SMALL, length=2, pad=1)
        ax.set_ylabel(
            wrap_text(layers[layer], 14), fontsize=SMALL, rotation=0, ha="right", va="center", labelpad=4
        )
        chosen = result[f"channels_{layer}"]
        ax.plot(chosen, np.full(len(chosen), -0.5), "v", color="black", markersize=3, clip_on=False)
        _activation_bar(fig, fig.add_axes(((left + 0.1) / fig_w + width, bottom, 0.1 / fig_w, height)), norm)
        if layer == n_layers - 1:
            ax.set_xlabel("channel (▼ shown above)", fontsize=SMALL + 0.5, labelpad=2)
        y += summary_h[layer] + 0.55
    fig.suptitle(
        wrap_text(f"Activation maps — {title}", 60), fontsize=HEADER + 1, y=1 - 0.1 / fig_h, va="top"
    )
    save_figure(fig, png, pdf, dpi=200)


# --------------------------------------------------------------------------------------------------
# maximally / minimally activating images


def plot_max_activating(
    table: pd.DataFrame, images: np.ndarray, info: dict, title: str, png: PathLike, pdf: PathLike | None
) -> None:
    """One row per unit (class logits, then channels): its ``k`` highest-scoring test images, then its ``k``
    lowest. ``images`` is the whole dataset (N, C, H, W), indexed by ``table['index']``. Each thumbnail shows
    the unit's value above and the true label below (red when the model's prediction differs). Many units
    are set in side-by-side blocks, so that the figure stays within 1.45 times its width."""
    units = list(dict.fromkeys(zip(table["unit_kind"], table["unit"], strict=True)))
    k = int(table["rank"].max())
    cell, left, right, top = 0.78, 1.45, 0.15, 0.95
    block = [cell] * k + [0.3] + [cell] * k
    for n_blocks in range(1, len(units) + 1):
        per_block = math.ceil(len(units) / n_blocks)
        fig_w = left + right + n_blocks * sum(block) + (n_blocks - 1) * left
        fig_h = top + per_block * (cell + 0.42) + 0.2
        if fig_h <= 1.45 * fig_w:
            break
    widths = block + [left, *block] * (n_blocks - 1)  # a label column before every further block
    fig = Figure(figsize=(fig_w, fig_h))
    grid = fig.add_gridspec(
        per_block,
        len(widths),
        width_ratios=widths,
        left=left / fig_w,
        right=1 - right / fig_w,
        top=1 - top / fig_h,
        bottom=0.2 / fig_h,
        wspace=0.06,
        hspace=0.62,
    )
    reduce = info.get("reduce", "mean")
    for index, (kind, unit) in enumerate(units):
        u, offset = index % per_block, (index // per_block) * (len(block) + 1)
        rows = table[(table["unit_kind"] == kind) & (table["unit"] == unit)]
        for extreme, first_col in (("top", offset), ("bottom", offset + k + 1)):
            part = rows[rows["extreme"] == extreme].sort_values("rank")
            for c in range(k):
                ax = _bare(fig.add_subplot(grid[u, first_col + c]))
                if c >= len(part):
                    ax.set_axis_off()
                    continue
                row = part.iloc[c]
                _show_image(ax, images[int(row["index"])])
                # images beyond the k shown that share the last value: the cut-off falls inside a tie
                hidden = int(row.get("n_at_value", 1)) - int((part["value"] == row["value"]).sum())
                note = f" (+{hidden} tied)" if hidden > 0 and c == len(part) - 1 else ""
                _text(ax, "top", f"{row['value']:.2f}{note}", SMALL, pad=1.5)
                wrong = row["label"] != row["prediction"]
                _text(
                    ax,
                    "bottom",
                    wrap_text(str(row["label"]), 12),
                    SMALL - 0.5,
                    WRONG_COLOUR if wrong else "0.2",
                    1.5,
                )
                if c == 0 and extreme == "top":
                    label = (
                        f"class {unit}\n(logit)"
                        if kind == "class"
                        else f"{rows['layer'].iloc[0]}\nch {unit} ({reduce})"
                    )
                    _text(ax, "left", wrap_text(label, 18), LABEL, pad=5)
    for b in range(n_blocks):
        offset = b * (len(block) + 1)
        for text, col in (
            (f"top {k}: highest values →", offset),
            (f"bottom {k}: lowest values →", offset + k + 1),
        ):
            x = grid[0, col].get_position(fig).x0
            fig.text(x, 1 - (top - 0.3) / fig_h, text, fontsize=HEADER, va="bottom", ha="left")
    subtitle = f"{info.get('n_images', '?')} test images ranked; value above each image, true label below"
    fig.suptitle(
        wrap_text(f"Maximally / minimally activating images — {title}", 70) + f"\n{subtitle}",
        fontsize=HEADER,
        y=1 - 0.08 / fig_h,
        va="top",
    )
    save_figure(fig, png, pdf, dpi=200)


# --------------------------------------------------------------------------------------------------
# guided Grad-CAM composite


def _attribution(ax: Axes, value: np.ndarray, signed: bool, image: np.ndarray | None) -> None:
    """A map normalised per image (:mod:`xaibench.figures.common` rules), over the greyscale input when
    ``image`` is given."""
    if image is not None:
        _show_image(ax, image)
        rgba = matplotlib.colormaps[SEQUENTIAL_CMAP](value)
        rgba[..., 3] = 0.75 * value  # opacity grows with the value: unimportant pixels keep showing the input
        ax.imshow(rgba, interpolation="nearest")
    else:
        cmap = DIVERGING_CMAP if signed else SEQUENTIAL_CMAP
        ax.imshow(value, cmap=cmap, vmin=-1 if signed else 0, vmax=1, interpolation="nearest")


def plot_guided_gradcam_composite(
    result: dict[str, np.ndarray], title: str, png: PathLike, pdf: PathLike | None
) -> None:
    """Rows: samples; columns: input | Grad-CAM (over the input) | Guided Backprop | Guided Grad-CAM = their
    product. Each map is scaled by its own 99.5th percentile; a method the architecture does not allow shows
    the reason instead of a map."""
    methods = ["gradcam", "guided_backprop", "guided_gradcam"]
    images, names = result["images"], [str(c) for c in result["class_names"]]
    n = len(images)
    notes = {m: str(result.get(f"note_{m}", "")) for m in methods}
    maps = {m: np.asarray(result[m], dtype=np.float64).sum(axis=1) for m in methods}
    signed = {m: bool(not notes[m] and is_signed(list(maps[m]))) for m in methods}

    cell, left, right, top, bottom = 1.2, 1.15, 0.15, 0.72, 0.75
    fig_w = left + right + 4 * cell + 0.3
    fig_h = top + n * cell + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    margins = inch_margins(fig_w, fig_h, left=left, right=right, top=top, bottom=bottom)
    grid = fig.add_gridspec(
        n, 5, width_ratios=[cell, 0.3, cell, cell, cell], wspace=0.05, hspace=0.08, **margins
    )
    headers = {
        "gradcam": method_label("gradcam") + "\n(class-discriminative)",
        "guided_backprop": method_label("guided_backprop") + "\n(high resolution)",
        "guided_gradcam": method_label("guided_gradcam") + "\n= product",
    }
    for i in range(n):
        ax = _bare(fig.add_subplot(grid[i, 0]))
        _show_image(ax, images[i])
        target = names[int(result["targets"][i])]
        text, colour = _sample_label(
            names,
            int(result["labels"][i]),
            int(result["predictions"][i]),
            f"for {target}: p {result['probability'][i]:.2f}",
        )
        _text(ax, "left", text, SMALL + 0.5, colour, pad=4)
        if i == 0:
            _text(ax, "top", "input", HEADER, pad=4)
        for c, method in enumerate(methods):
            ax = _bare(fig.add_subplot(grid[i, 2 + c]))
            if i == 0:
                sign = " (±)" if signed[method] else ""
                _text(ax, "top", headers[method] + sign, SMALL + 1, pad=4)
            if notes[method]:
                _not_applicable(ax, notes[method].split(": ", 1)[-1])
                continue
            value = normalise_map(maps[method][i], signed[method])
            _attribution(ax, value, signed[method], images[i] if method == "gradcam" else None)
    width = (fig_w - left - right - 0.3) / 2 - 0.4
    scales = [(SEQUENTIAL_CMAP, Normalize(0, 1), "non-negative maps: 0 … max (per image)")]
    if any(signed.values()):
        scales.append((DIVERGING_CMAP, Normalize(-1, 1), "signed maps (±): −max|a| … +max|a|"))
    for k, (cmap, norm, label) in enumerate(scales):
        x = (left + k * (width + 0.7)) / fig_w
        _colourbar(fig, (x, 0.45 / fig_h, width / fig_w, 0.09 / fig_h), cmap, norm, label)
    fig.suptitle(
        wrap_text(f"Guided Grad-CAM composite — {title}", 70),
        fontsize=HEADER + 0.5,
        y=1 - 0.08 / fig_h,
        va="top",
    )
    save_figure(fig, png, pdf, dpi=200)
