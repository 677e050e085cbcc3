"""Faithfulness curves: the per-step mean perturbation curve of every method with its 95 % CI band.

Each method keeps its fixed colour and line style (:func:`xaibench.figures.common.method_styles`), so a
method looks the same in every curve figure, and the controls are dashed grey (random) and dash-dotted black
(sobel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from xaibench.figures.common import PathLike, format_value, line_axes, method_styles, new_figure, save_figure
from xaibench.figures.names import CONTROL_METHODS, method_labels, registry_method


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
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Mean curve per method with a shaded 95 % CI band (Samek et al. 2017 style).

    ``curves`` maps a method entry to (N, L) per-sample curves (a 1-D array counts as one sample); all
    methods must share L, otherwise ``ValueError``. NaN/inf entries are ignored per step (mean over the
    finite samples, CI = 1.96 · SEM, no band where fewer than two are finite). Control methods (random,
    sobel) are dashed grey/black. The legend, outside on the right, gives each method's display name
    (``method_specs``: the config entries by name, see :mod:`xaibench.figures.names`) and mean curve height
    averaged over the steps (the normalised area under the curve), and is sorted by it.
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
    fig = new_figure(6.4, 3.8 if n_methods <= 12 else 4.4)
    ax = fig.add_subplot()
    styles = method_styles(arrays, method_specs)
    labels = method_labels(arrays, method_specs)
    entries = []
    for method, array in arrays.items():
        mean, low, high = _mean_and_ci(array)
        control = registry_method(method, method_specs) in CONTROL_METHODS
        colour, linestyle = styles[method]
        (line,) = ax.plot(
            steps, mean, color=colour, linestyle=linestyle, linewidth=1.6, zorder=3 if control else 2
        )
        ax.fill_between(steps, low, high, color=colour, alpha=0.12 if control else 0.15, linewidth=0)
        finite = np.isfinite(mean)
        area = float(np.nanmean(mean)) if finite.any() else float("nan")
        n = int(np.isfinite(array).any(axis=1).sum())
        entries.append((area, line, f"{labels[method]}  {format_value(area)}  (n={n})"))
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
    line_axes(ax, xlabel, ylabel)
    ax.set_xlim(0, max(1, length - 1))
    if title:
        ax.set_title(title, fontsize=10)
    fig.set_layout_engine("tight")
    save_figure(fig, png_path, pdf_path)
