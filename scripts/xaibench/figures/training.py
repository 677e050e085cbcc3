"""Training curves: loss and accuracy against epoch, one colour per (dataset, model) run."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from xaibench.figures.common import PathLike, line_axes, new_figure, save_figure


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

    fig = new_figure(9.0 if len(runs) > 1 else 7.5, 3.2)
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
        line_axes(ax, "epoch", name)
        ax.set_title(name.capitalize(), fontsize=9.5)

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
