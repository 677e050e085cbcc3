"""Paper figures: explanation grids, metric heatmaps, faithfulness curves and training curves.

Only numpy, pandas, matplotlib and seaborn are imported here (seaborn lazily, by the heatmap) so that
figure jobs start fast; this module never imports torch, captum or quantus. Figures are built as
:class:`matplotlib.figure.Figure` objects drawn by the Agg canvas, so no GUI backend is ever touched and
no pyplot state is kept. Every figure goes through :func:`save_figure`, which writes PNG (and optionally
PDF) atomically and closes the figure.

Normalisation rules (stated once, used everywhere):

* Attribution maps (:func:`plot_explanation_grid`, :func:`normalise_map`). Channels are summed to one
  map. A *method* is called signed when, over all its maps in the figure, the negative attribution mass
  is more than 1 % of the total absolute mass; the decision is per method (per column), so a column
  never mixes colour scales. Each map is then divided by its own robust scale, the 99.5th percentile of
  ``|a|`` (falling back to ``max |a|``), and clipped: signed maps to [-1, 1] drawn with a symmetric
  diverging colormap (blue < 0 < red, white at 0), non-negative maps to [0, 1] (their few negative
  values clipped to 0) drawn with a jet-like sequential colormap (turbo). Signed columns carry "(±)".
  The heatmap is laid over the greyscale input with a per-pixel opacity that grows linearly with
  ``|value|`` (from 0 to 0.75), so unimportant pixels keep showing the input.
  Magnitudes are therefore comparable within an image, not across images or methods.
* Metric scores (:func:`normalise_scores`, :func:`plot_metric_heatmap`). Within each (dataset, model,
  metric) the per-method means are min-max scaled over methods so that 1 = best and 0 = worst:
  ``direction == "higher"`` keeps the order, ``"lower"`` flips it, and any other direction (no notion of
  better) is plain min-max scaled and marked ``(↕)`` in the column label. Non-finite means stay NaN
  (grey cells); a column with no spread (one finite value, or all equal) gets 0.5.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from xaibench.io import atomic_path

PathLike = str | os.PathLike[str]

#: Methods treated as baselines: drawn dashed grey/black in curves and listed last in heatmaps.
CONTROL_METHODS: tuple[str, ...] = ("random", "sobel")

#: Display names for known methods; others fall back to the identifier with spaces for underscores.
METHOD_LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "guided_gradcam": "Guided Grad-CAM",
    "guided_backprop": "Guided Backprop",
    "lime": "LIME",
    "kernel_shap": "Kernel SHAP",
    "gradient_shap": "Gradient SHAP",
    "deeplift": "DeepLIFT",
    "deeplift_shap": "DeepLIFT SHAP",
    "occlusion": "Occlusion",
    "saliency": "Saliency",
    "input_x_gradient": "Input × Gradient",
    "integrated_gradients": "Integrated Gradients",
    "smoothgrad": "SmoothGrad",
    "noise_tunnel": "Noise Tunnel",
    "feature_ablation": "Feature Ablation",
    "deconvolution": "Deconvolution",
    "lrp": "LRP",
    "lrp_epsilon": "LRP-ε",
    "lrp_alpha_beta": "LRP-αβ",
    "random": "Random (control)",
    "sobel": "Sobel (control)",
}

#: Column order of metric categories in the heatmap; unknown categories follow alphabetically.
CATEGORY_ORDER: tuple[str, ...] = (
    "faithfulness",
    "robustness",
    "localisation",
    "localization",
    "complexity",
    "randomisation",
    "randomization",
    "axiomatic",
)

DIRECTION_ARROWS = {"higher": "↑", "lower": "↓"}
UNDIRECTED_MARK = "↕"

SIGNED_MASS_FRACTION = 0.01  # a method is "signed" above this share of negative attribution mass
MAP_PERCENTILE = 99.5  # robust per-image scale of an attribution map
OVERLAY_ALPHA = (0.0, 0.75)  # heatmap opacity at |value| = 0 and |value| = 1
SEQUENTIAL_CMAP = "turbo"
DIVERGING_CMAP = "bwr"
SCORE_CMAP = "viridis"
NAN_COLOUR = "#d0d0d0"
MASK_COLOUR = "#39ff14"


# --------------------------------------------------------------------------------------------------
# saving and labels


def save_figure(fig: Figure, png_path: PathLike, pdf_path: PathLike | None = None, dpi: int = 150) -> None:
    """Write ``fig`` as PNG (and PDF when ``pdf_path`` is given) atomically, then close it.

    Metadata that changes between runs (creation date, software version) is left out so that reruns
    give identical PDFs for identical inputs.
    """
    try:
        targets: list[tuple[PathLike, str, dict[str, object]]] = [(png_path, "png", {"Software": None})]
        if pdf_path is not None:
            targets.append((pdf_path, "pdf", {"CreationDate": None, "Creator": None, "Producer": None}))
        for path, fmt, metadata in targets:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.05, metadata=metadata)
    finally:
        _close(fig)


def _close(fig: Figure) -> None:
    """Release a figure made through pyplot; our own :class:`Figure` objects need no more than dropping."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def method_label(method: str) -> str:
    """Display name of an attribution method (``METHOD_LABELS`` or the identifier, underscores as spaces)."""
    return METHOD_LABELS.get(method, method.replace("_", " "))


#: Colour of labels of misclassified samples, in every figure.
WRONG_COLOUR = "#c00000"


def wrap_text(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (long words too), for panel labels."""
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False)) or text


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height))


def _order_methods(methods: Sequence[str]) -> list[str]:
    """Keep the given order but move the control methods to the end."""
    methods = list(dict.fromkeys(methods))
    return [m for m in methods if m not in CONTROL_METHODS] + [m for m in methods if m in CONTROL_METHODS]


def method_colours(methods: Sequence[str]) -> dict[str, tuple[float, ...] | str]:
    """Distinct colours for methods in the given order; controls: random grey, sobel black."""
    tab20 = matplotlib.colormaps["tab20"]
    # dark shades first, then light ones; tab20 14/15 are greys, kept for the controls
    palette = [tab20(i) for i in (0, 2, 4, 6, 8, 10, 12, 16, 18, 1, 3, 5, 7, 9, 11, 13, 17, 19)]
    colours: dict[str, tuple[float, ...] | str] = {}
    k = 0
    for method in dict.fromkeys(methods):
        if method == "random":
            colours[method] = "0.55"
        elif method == "sobel":
            colours[method] = "0.0"
        else:
            colours[method] = palette[k % len(palette)]
            k += 1
    return colours


# --------------------------------------------------------------------------------------------------
# explanation grid


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


def is_signed(maps: Sequence[np.ndarray]) -> bool:
    """True when the negative attribution mass exceeds ``SIGNED_MASS_FRACTION`` of the absolute mass."""
    negative = total = 0.0
    for m in maps:
        m = np.nan_to_num(np.asarray(m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        negative += float(-m[m < 0].sum())
        total += float(np.abs(m).sum())
    return total > 0 and negative > SIGNED_MASS_FRACTION * total


def normalise_map(attribution: np.ndarray, signed: bool) -> np.ndarray:
    """Scale one 2-D map by its 99.5th percentile of ``|a|``; clip to [-1, 1] (signed) or [0, 1]."""
    a = np.nan_to_num(np.asarray(attribution, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    magnitude = np.abs(a) if signed else np.clip(a, 0.0, None)
    scale = float(np.percentile(magnitude, MAP_PERCENTILE)) if magnitude.size else 0.0
    if scale <= 0:
        scale = float(magnitude.max()) if magnitude.size else 0.0
    if scale <= 0:
        return np.zeros_like(a)
    return np.clip(a / scale, -1.0 if signed else 0.0, 1.0)


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
) -> None:
    """Input | method1 | method2 ... for every sample, grouped by panel (seed 000, Fig. 1 layout).

    Rows are samples, grouped by panel with the panel title at the left; each row is labelled
    "true / pred" (red when the prediction is wrong). The first column shows the input (in colour for
    RGB) with the ground-truth mask as a thin green contour; the other columns overlay each method's
    normalised map on the greyscale input (rules in the module docstring: diverging colours for signed
    methods, a jet-like sequential map for non-negative ones, scaled per image). A method missing from
    a panel is shown as an empty "n/a" cell. Colour bars at the bottom explain both scales.
    """
    if not panels:
        raise ValueError("plot_explanation_grid needs at least one panel")
    methods = list(dict.fromkeys(methods))

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
    fig = _new_figure(width, height)

    height_ratios: list[float] = []
    for i, (_, images, _, _) in enumerate(prepared):
        if i:
            height_ratios.append(gap)
        height_ratios.extend([cell] * images.shape[0])
    grid = fig.add_gridspec(
        len(height_ratios),
        n_cols,
        height_ratios=height_ratios,
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=0.04,
        hspace=0.04,
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
                        title = wrap_text(method_label(method) + (" (±)" if signed[method] else ""), 14)
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


# --------------------------------------------------------------------------------------------------
# metric heatmap


def _direction(value: object) -> str:
    """'higher', 'lower' or '' (no notion of better) from a free-text direction."""
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text.startswith("high"):
        return "higher"
    if text.startswith("low"):
        return "lower"
    return ""


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
        out["direction"].map(_direction) if "direction" in out.columns else pd.Series("", index=out.index)
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


def _format_value(value: float, nonfinite: bool = False) -> str:
    """Compact cell annotation: 3 significant digits, short scientific notation at the extremes."""
    if not np.isfinite(value):
        text = "nan" if np.isnan(value) else ("inf" if value > 0 else "−inf")
    elif value == 0:
        text = "0"
    elif 0.01 <= abs(value) < 1000:
        text = f"{value:.3g}"
    else:
        mantissa, exponent = f"{value:.1e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    text = text.replace("-", "−")
    return text + ("*" if nonfinite else "")


def _category_rank(category: str) -> tuple[int, str]:
    key = category.strip().lower()
    return (CATEGORY_ORDER.index(key), key) if key in CATEGORY_ORDER else (len(CATEGORY_ORDER), key)


def plot_metric_heatmap(
    summary: pd.DataFrame, png_path: PathLike, pdf_path: PathLike | None = None, title: str = ""
) -> None:
    """Method × metric heatmap of normalised scores, one subplot per (dataset, model).

    Colours are :func:`normalise_scores` (1 = best in every column); each cell is annotated with the
    raw mean (``*`` when some samples gave non-finite values). Columns are grouped by ``category``
    (header above, thin separators) in ``CATEGORY_ORDER``, metrics keeping their order of appearance;
    the column label carries the direction: ↑ higher is better, ↓ lower is better, (↕) no direction,
    min-max scaled only. Control methods are listed last below a thin line. NaN cells are grey, "nan".
    """
    import seaborn as sns

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
    first["rank"] = first["category"].map(_category_rank)
    first = first.sort_values("rank", kind="stable")
    metrics = first["metric"].tolist()
    category_of = dict(zip(first["metric"], first["category"], strict=True))
    direction_of = {m: _direction(d) for m, d in zip(first["metric"], first["direction"], strict=True)}
    methods = _order_methods(scored["method"].tolist())
    n_controls = sum(m in CONTROL_METHODS for m in methods)
    pairs = list(dict.fromkeys(zip(scored["dataset"], scored["model"], strict=True)))

    col_w, row_h = (0.6 if len(metrics) > 8 else 0.85), 0.3
    label_w = 1.45 if any(len(method_label(m)) > 14 for m in methods) else 1.15
    sub_w = label_w + len(metrics) * col_w
    longest = max(len(_metric_label(m, direction_of[m])) for m in metrics)
    label_h = 0.25 + longest * 0.049  # rotated (50°) metric labels at 7.5 pt
    sub_h = 0.6 + len(methods) * row_h + label_h  # category header + cells + metric labels
    ncols = 1 if len(metrics) > 8 or len(pairs) == 1 else 2
    nrows = math.ceil(len(pairs) / ncols)
    title_h = 0.35 if title else 0.05
    width = ncols * sub_w + 1.2
    height = nrows * sub_h + title_h
    fig = _new_figure(width, height)
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
                [_format_value(raw[i, j], bool(nonfinite[i, j])) for j in range(len(metrics))]
                for i in range(len(methods))
            ]
        )
        ax.set_facecolor(NAN_COLOUR)
        sns.heatmap(
            values,
            ax=ax,
            cmap=cmap,
            vmin=0,
            vmax=1,
            annot=annotations,
            fmt="",
            annot_kws={"fontsize": 6.5},
            cbar=False,
            linewidths=0.5,
            linecolor="white",
            xticklabels=[_metric_label(m, direction_of[m]) for m in metrics],
            yticklabels=[method_label(m) for m in methods],
        )
        for i, j in zip(*np.nonzero(np.isnan(values)), strict=True):
            ax.text(j + 0.5, i + 0.5, annotations[i, j], ha="center", va="center", fontsize=6.5, color="0.25")
        ax.tick_params(axis="both", length=0, pad=2)
        ax.set_xticklabels(
            ax.get_xticklabels(), rotation=50, ha="right", rotation_mode="anchor", fontsize=7.5
        )
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0, fontsize=7.5)
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
    if (pd.to_numeric(scored["n_nonfinite"], errors="coerce") > 0).any():
        notes.append("* some samples non-finite")
    cax.text(
        0.0, -0.12, "\n".join(notes), transform=cax.transAxes, ha="left", va="top", fontsize=6.5, color="0.2"
    )
    if title:
        fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", fontsize=11, fontweight="bold")
    save_figure(fig, png_path, pdf_path)


def _table(part: pd.DataFrame, column: str, methods: list[str], metrics: list[str]) -> np.ndarray:
    """(methods × metrics) float array of ``column``; absent cells are NaN."""
    values = pd.to_numeric(part[column], errors="coerce").astype(float)
    frame = pd.DataFrame({"method": part["method"], "metric": part["metric"], "value": values})
    table = frame.pivot(index="method", columns="metric", values="value")
    return table.reindex(index=methods, columns=metrics).to_numpy(dtype=float)


def _metric_label(metric: str, direction: str) -> str:
    if direction in DIRECTION_ARROWS:
        return f"{metric} {DIRECTION_ARROWS[direction]}"
    return f"{metric} ({UNDIRECTED_MARK})"


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


# --------------------------------------------------------------------------------------------------
# curves


def _mean_and_ci(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step NaN-aware mean and normal-approximation 95 % CI (NaN where fewer than 2 values)."""
    finite = np.isfinite(curves)
    count = finite.sum(axis=0)
    values = np.where(finite, curves, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(axis=0) / count
        squares = np.where(finite, (curves - mean) ** 2, 0.0).sum(axis=0)
        sem = np.sqrt(squares / (count - 1)) / np.sqrt(count)
    mean = np.where(count > 0, mean, np.nan)
    half = np.where(count > 1, 1.96 * sem, np.nan)
    return mean, mean - half, mean + half


def plot_faithfulness_curves(
    curves: dict[str, np.ndarray],
    png_path: PathLike,
    pdf_path: PathLike | None = None,
    title: str = "",
    xlabel: str = "perturbation step",
    ylabel: str = "model output",
) -> None:
    """Mean curve per method with a shaded 95 % CI band (Samek et al. 2017 style).

    ``curves`` maps a method to (N, L) per-sample curves (a 1-D array counts as one sample); all methods
    must share L, otherwise ``ValueError``. NaN/inf entries are ignored per step (mean over the finite
    samples, CI = 1.96 · SEM, no band where fewer than two are finite). Control methods (random, sobel)
    are dashed grey/black. The legend, outside on the right, gives each method's mean curve height
    averaged over the steps (the normalised area under the curve) and is sorted by it.
    """
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
    length = next(iter(lengths.values()))
    steps = np.arange(length)

    n_methods = len(arrays)
    fig = _new_figure(6.4, 3.8 if n_methods <= 12 else 4.4)
    ax = fig.add_subplot()
    colours = method_colours(list(arrays))
    entries = []
    for method, array in arrays.items():
        mean, low, high = _mean_and_ci(array)
        control = method in CONTROL_METHODS
        style = {"linestyle": "--" if method == "random" else "-." if control else "-", "linewidth": 1.6}
        (line,) = ax.plot(steps, mean, color=colours[method], zorder=3 if control else 2, **style)
        ax.fill_between(steps, low, high, color=colours[method], alpha=0.12 if control else 0.15, linewidth=0)
        finite = np.isfinite(mean)
        area = float(np.nanmean(mean)) if finite.any() else float("nan")
        n = int(np.isfinite(array).any(axis=1).sum())
        entries.append((area, line, f"{method_label(method)}  {_format_value(area)}  (n={n})"))
    entries.sort(key=lambda e: (np.isnan(e[0]), -e[0] if np.isfinite(e[0]) else 0))
    ax.legend(
        [e[1] for e in entries],
        [e[2] for e in entries],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7.5,
        frameon=False,
        title="method, mean over steps (samples)\nshaded: 95 % CI of the mean",
        title_fontsize=7.5,
        handlelength=2.6,
    )
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_xlim(0, max(1, length - 1))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.set_layout_engine("tight")
    save_figure(fig, png_path, pdf_path)


def plot_training_curves(
    history: pd.DataFrame, png_path: PathLike, pdf_path: PathLike | None = None, title: str = ""
) -> None:
    """Loss and accuracy against epoch, train solid and validation dashed, one colour per ``run``.

    ``history`` has columns epoch, train_loss, val_loss, train_acc, val_acc (missing value columns are
    skipped) and optionally ``run`` (one line pair per run). Accuracy in [0, 1] gets a [0, 1] axis.
    """
    if "epoch" not in history.columns:
        raise ValueError("history lacks the 'epoch' column")
    frame = history.copy()
    if "run" not in frame.columns:
        frame["run"] = ""
    frame["run"] = frame["run"].fillna("").astype(str)
    runs = list(dict.fromkeys(frame["run"]))
    palette = matplotlib.colormaps["tab10" if len(runs) <= 10 else "tab20"]
    colours = {run: palette(k % palette.N) for k, run in enumerate(runs)}

    fig = _new_figure(9.0 if len(runs) > 1 else 7.5, 3.2)
    panels = (("loss", "loss"), ("acc", "accuracy"))
    axes = fig.subplots(1, 2)
    for ax, (key, name) in zip(axes, panels, strict=True):
        drawn = False
        low, high = np.inf, -np.inf
        for run in runs:
            part = frame[frame["run"] == run].sort_values("epoch")
            for split, style in (("train", "-"), ("val", "--")):
                column = f"{split}_{key}"
                if column not in part.columns:
                    continue
                y = pd.to_numeric(part[column], errors="coerce")
                if y.notna().any():
                    ax.plot(
                        part["epoch"], y, style, color=colours[run], linewidth=1.4, marker="o", markersize=2.2
                    )
                    drawn = True
                    low, high = min(low, y.min()), max(high, y.max())
        if not drawn:
            ax.text(
                0.5, 0.5, f"no {name} recorded", transform=ax.transAxes, ha="center", va="center", fontsize=8
            )
        if key == "acc" and drawn and low >= 0 and high <= 1:
            ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch", fontsize=9)
        ax.set_ylabel(name, fontsize=9)
        ax.set_title(name.capitalize(), fontsize=9.5)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    handles = [Line2D([], [], color="0.2", linestyle="-"), Line2D([], [], color="0.2", linestyle="--")]
    labels = ["train", "validation"]
    if runs != [""]:
        handles += [Line2D([], [], color=colours[r], linewidth=3) for r in runs]
        labels += runs
    axes[1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=7.5, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10.5)
    fig.set_layout_engine("tight")
    save_figure(fig, png_path, pdf_path)


__all__ = [
    "CONTROL_METHODS",
    "WRONG_COLOUR",
    "ExplanationPanel",
    "is_signed",
    "method_colours",
    "method_label",
    "normalise_map",
    "normalise_scores",
    "plot_explanation_grid",
    "plot_faithfulness_curves",
    "plot_metric_heatmap",
    "plot_training_curves",
    "save_figure",
    "wrap_text",
]
