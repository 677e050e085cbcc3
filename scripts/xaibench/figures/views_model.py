"""Figures of the views of the model: feature visualisation / Deep Dream, embeddings (t-SNE, UMAP),
adversarial attacks (heatmaps before/after, similarity scores), adversarial maximisation and the step-by-step
growth of a targeted FGSM attack.

Like the other figure modules, only numpy, pandas and matplotlib are used (no torch), figures are
:class:`matplotlib.figure.Figure` objects (no pyplot state) and are written as PNG + PDF through
:func:`xaibench.figures.common.save_figure`. Images are drawn in the value range of the data
(``value_range``), never rescaled per image, so an image that looks flat is flat; attribution maps are
drawn as ``|a| / max |a|`` per map (turbo, 0..1); perturbations on a diverging scale symmetric about 0
(limits ``±max |δ|``, per row in the heatmap figure, where budgets differ by orders of magnitude, and per
figure in the maximisation one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from xaibench.figures.common import (
    LABEL,
    SEQUENTIAL_CMAP,
    SMALL,
    WRONG_COLOUR,
    PathLike,
    save_figure,
    wrap_text,
)
from xaibench.figures.names import method_labels

__all__ = [
    "plot_adversarial_heatmaps",
    "plot_adversarial_similarity",
    "plot_embeddings",
    "plot_feature_visualisation",
    "plot_fgsm_growth",
    "plot_maximisation",
]

HEADER = 9  # font size of titles
PERTURBATION_CMAP = "RdBu_r"
NOISE_COLOUR = "0.55"  # the noise control of an attack (grey, right of the attack's points)
NOISE_FLIPPED = "noise draws flipped"  # the note of a noise row whose every draw flipped the prediction
NOISE_LABEL = "sign noise of {attack}'s ε, prediction kept (control, right of {attack})"


def _show(ax: Axes, image: np.ndarray, value_range: tuple[float, float]) -> None:
    """Draw a (C, H, W) image: grey for one channel, RGB (clipped to the range) for three."""
    lo, hi = value_range
    if image.shape[0] == 3:
        ax.imshow(np.clip((image.transpose(1, 2, 0) - lo) / max(hi - lo, 1e-12), 0, 1))
    else:
        ax.imshow(image.mean(0), cmap="gray", vmin=lo, vmax=hi)
    ax.set_xticks([])
    ax.set_yticks([])


def _grey_colourbar(fig: Figure, axes: list[Axes], value_range: tuple[float, float], label: str) -> None:
    bar = fig.colorbar(
        ScalarMappable(Normalize(*value_range), "gray"), ax=axes, fraction=0.025, pad=0.01, aspect=30
    )
    bar.set_label(label, fontsize=LABEL)
    bar.ax.tick_params(labelsize=SMALL)


# --------------------------------------------------------------------------------------------------
# feature visualisation


def plot_feature_visualisation(
    images: np.ndarray,
    starts: np.ndarray,
    table: pd.DataFrame,
    class_names: Sequence[str],
    value_range: tuple[float, float],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
) -> None:
    """Rows: starts (noise, real images); columns: the start, then one optimised image per objective.

    ``images`` (S, K, C, H, W); ``table`` is :func:`xaibench.views.feature_vis.result_table` (S*K rows in
    order). Each cell says the target value before -> after and the class the model now predicts.
    """
    s, k = images.shape[:2]
    cell = 1.25
    height = cell * s + 1.2
    fig = Figure(figsize=(cell * (k + 1) + 0.8, height))
    grid = fig.add_gridspec(s, k + 1, wspace=0.08, hspace=0.55, top=1 - 0.95 / height)
    axes = []
    for row in range(s):
        info = table.iloc[row * k : (row + 1) * k]
        ax = fig.add_subplot(grid[row, 0])
        _show(ax, starts[row], value_range)
        ax.set_ylabel(wrap_text(str(info["start"].iloc[0]), 16), fontsize=LABEL)
        if row == 0:
            ax.set_title("start", fontsize=LABEL, fontweight="bold")
        axes.append(ax)
        for col in range(k):
            rec = info.iloc[col]
            ax = fig.add_subplot(grid[row, col + 1])
            _show(ax, images[row, col], value_range)
            if row == 0:
                ax.set_title(wrap_text(str(rec["objective"]), 14), fontsize=LABEL, fontweight="bold")
            pred = class_names[int(rec["predicted_class"])]
            ax.set_xlabel(
                f"{rec['value_before']:.2g} → {rec['value_after']:.3g}\npred {wrap_text(pred, 12)}",
                fontsize=SMALL,
                labelpad=2,
            )
            axes.append(ax)
    _grey_colourbar(fig, axes, value_range, "pixel value (data range)")
    fig.suptitle(
        f"{title}\nimages maximising a class logit, a channel or the layer energy (target before → after)",
        fontsize=HEADER,
    )
    save_figure(fig, png, pdf)


# --------------------------------------------------------------------------------------------------
# embeddings


def _class_colours(n: int) -> list[tuple[float, ...]]:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_embeddings(
    table: pd.DataFrame,
    class_names: Sequence[str],
    panels: Sequence[tuple[str, str]],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
) -> None:
    """One scatter panel per ``(column prefix, panel title)`` (e.g. ``("tsne", "t-SNE")``), coloured by the
    true class; misclassified samples are drawn on top as black-edged crosses in their true class's colour."""
    colours = _class_colours(len(class_names))
    fig = Figure(figsize=(4.4 * len(panels) + 1.6, 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    wrong = table["label"] != table["prediction"]
    for ax, (prefix, name) in zip(axes, panels, strict=True):
        xs, ys = table[f"{prefix}_x"], table[f"{prefix}_y"]
        for k, colour in enumerate(colours):
            sel = (table["label"] == k) & ~wrong
            ax.scatter(xs[sel], ys[sel], s=7, color=colour, alpha=0.7, linewidths=0)
        for k, colour in enumerate(colours):
            sel = (table["label"] == k) & wrong
            ax.scatter(xs[sel], ys[sel], s=38, marker="X", color=colour, edgecolors="black", linewidths=0.7)
        ax.set_title(name, fontsize=HEADER)
        ax.set_xlabel(f"{name.split(' ')[0]} 1", fontsize=LABEL)
        ax.set_ylabel(f"{name.split(' ')[0]} 2", fontsize=LABEL)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        Line2D([], [], marker="o", linestyle="", color=c, markersize=6, label=wrap_text(str(name), 18))
        for name, c in zip(class_names, colours, strict=True)
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="X",
            linestyle="",
            color="white",
            markeredgecolor="black",
            markersize=7,
            label=f"misclassified ({int(wrong.sum())})",
        )
    )
    fig.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=LABEL, title="true class"
    )
    fig.suptitle(title, fontsize=HEADER)
    fig.tight_layout()
    save_figure(fig, png, pdf)


# --------------------------------------------------------------------------------------------------
# adversarial


def _abs_norm(a: np.ndarray) -> np.ndarray:
    a = np.abs(np.nan_to_num(a.sum(0) if a.ndim == 3 else a))
    top = a.max()
    return a / top if top > 0 else a


def plot_adversarial_heatmaps(
    clean: np.ndarray,
    adversarial: np.ndarray,
    maps_before: dict[str, np.ndarray],
    maps_after: dict[str, np.ndarray],
    rows: pd.DataFrame,
    class_names: Sequence[str],
    value_range: tuple[float, float],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Rows: (attack, sample) pairs; columns: clean | attacked | perturbation | per method: before, after.

    ``clean``/``adversarial`` (R, C, H, W) and ``maps_*[method]`` (R, 1, H, W) are aligned with ``rows``
    (columns ``attack``, ``sample``, ``epsilon``, ``flipped``, ``pred_before``, ``pred_after``, and per method
    ``ssim:<method>``, ``spearman:<method>``; a missing map is all NaN and drawn as a blank cell). Methods
    are entries of ``explain.methods``, shown by display name (``method_specs``: their config entries).
    """
    methods = list(maps_before)
    labels = method_labels(methods, method_specs)
    n_rows, n_cols = len(rows), 3 + 2 * len(methods)
    cell = 1.2
    height = cell * n_rows + 1.5
    fig = Figure(figsize=(cell * n_cols + 1.4, height))
    grid = fig.add_gridspec(
        n_rows, n_cols, wspace=0.1, hspace=0.7, top=1 - 1.05 / height, bottom=0.5 / height
    )
    delta = adversarial - clean
    map_axes = []
    for r, (_, rec) in enumerate(rows.iterrows()):
        before, after = class_names[int(rec["pred_before"])], class_names[int(rec["pred_after"])]
        ax = fig.add_subplot(grid[r, 0])
        _show(ax, clean[r], value_range)
        ax.set_ylabel(wrap_text(f"{rec['attack'].upper()} #{int(rec['sample'])}", 12), fontsize=LABEL)
        ax.set_xlabel(f"pred {wrap_text(before, 12)}", fontsize=SMALL, labelpad=2)
        ax = fig.add_subplot(grid[r, 1])
        _show(ax, adversarial[r], value_range)
        eps = "ε = —" if not np.isfinite(rec["epsilon"]) else f"ε = {rec['epsilon']:.3g}"
        flip = "flipped" if rec["flipped"] else "not flipped"
        colour = WRONG_COLOUR if rec["flipped"] else "black"
        ax.set_xlabel(f"pred {wrap_text(after, 12)}\n{eps}, {flip}", fontsize=SMALL, labelpad=2, color=colour)
        ax = fig.add_subplot(grid[r, 2])
        limit = float(np.nanmax(np.abs(delta[r]))) or 1.0  # per row: budgets differ by orders of magnitude
        ax.imshow(delta[r].mean(0), cmap=PERTURBATION_CMAP, vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"colour scale ±{limit:.2g}", fontsize=SMALL, labelpad=2)
        for m, method in enumerate(methods):
            for j, (maps, when) in enumerate(((maps_before, "before"), (maps_after, "after"))):
                ax = fig.add_subplot(grid[r, 3 + 2 * m + j])
                if np.isfinite(maps[method][r]).any():
                    ax.imshow(_abs_norm(maps[method][r]), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1)
                else:
                    ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=LABEL, transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 1:
                    ssim, rho = rec.get(f"ssim:{method}", np.nan), rec.get(f"spearman:{method}", np.nan)
                    ax.set_xlabel(f"SSIM {ssim:.2f}\nρ {rho:.2f}", fontsize=SMALL, labelpad=2)
                if r == 0:
                    ax.set_title(wrap_text(f"{labels[method]} {when}", 14), fontsize=LABEL, fontweight="bold")
                map_axes.append(ax)
    for col, name in enumerate(("clean", "attacked", "perturbation δ")):
        fig.axes[col].set_title(name, fontsize=LABEL, fontweight="bold")
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), SEQUENTIAL_CMAP), ax=map_axes, fraction=0.02, pad=0.01, aspect=30
    )
    bar.set_label("|attribution| / max", fontsize=LABEL)
    bar.ax.tick_params(labelsize=SMALL)
    fig.suptitle(
        f"{title}\nexplanations of the predicted class before and after the smallest attack that flips it",
        fontsize=HEADER,
    )
    save_figure(fig, png, pdf)


def plot_adversarial_similarity(
    scores: pd.DataFrame,
    flips: pd.DataFrame,
    epsilon_range: tuple[float, float],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
    method_specs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """SSIM and Spearman of the maps before vs after (flipped samples, per method and attack), and the
    epsilon each sample needed to flip (``flips``: one row per sample and attack) within the searched
    ``epsilon_range``. Methods are shown by display name (``method_specs``: their config entries).

    The noise control of each attack (rows of ``scores`` whose attack is ``noise_<attack>``: random sign noise
    of the same ε that keeps the prediction) is drawn in grey right of that attack's points, so that a change
    of the maps under the attack can be told from a change under any perturbation of its size."""
    attacks = list(dict.fromkeys(flips["attack"]))
    methods = list(dict.fromkeys(scores["method"]))
    labels = method_labels(methods, method_specs)
    noise_names = {a: f"noise_{a}" for a in attacks if (scores["attack"] == f"noise_{a}").any()}
    per_method = len(attacks) + len(noise_names)  # slots per method: each attack, then its noise control
    fig = Figure(figsize=(3.0 + (0.4 + 0.2 * per_method) * len(methods) * 2 + 2.8, 3.8))
    grid = fig.add_gridspec(1, 3, width_ratios=[len(methods), len(methods), max(1.2, 0.8 * len(attacks))])
    colours = dict(zip(attacks, matplotlib.colormaps["Set1"].colors, strict=False))
    rng = np.random.default_rng(0)
    flipped = scores[scores["flipped"].astype(bool)]
    width = 0.8 / max(1, per_method)
    slots = []  # (value of the "attack" column, fill, edge), left to right within a method
    for attack in attacks:
        slots.append((attack, colours[attack], "none"))
        if attack in noise_names:  # grey, ringed in the colour of the attack whose ε it has
            slots.append((noise_names[attack], NOISE_COLOUR, colours[attack]))
    for g, (column, name) in enumerate((("ssim", "SSIM"), ("spearman", "Spearman ρ (|maps|)"))):
        ax = fig.add_subplot(grid[0, g])
        for k, (row_attack, colour, edge) in enumerate(slots):
            for m, method in enumerate(methods):
                vals = flipped.loc[(flipped["attack"] == row_attack) & (flipped["method"] == method), column]
                vals = vals[np.isfinite(vals)]
                x = m + (k - (len(slots) - 1) / 2) * width
                if len(vals):
                    jitter = rng.uniform(-width / 4, width / 4, len(vals))
                    ax.scatter(
                        x + jitter, vals, s=10, color=colour, edgecolors=edge, alpha=0.6, linewidths=0.6
                    )
                    ax.hlines(vals.mean(), x - width / 2.5, x + width / 2.5, color="black", linewidth=1.5)
        for m in range(1, len(methods)):
            ax.axvline(m - 0.5, color="0.85", linewidth=0.6, zorder=0)
        for m, method in enumerate(methods):
            mine = flipped.loc[flipped["method"] == method, column]
            if not np.isfinite(mine).any():
                notes = scores.loc[scores["method"] == method, "note"].fillna("").astype(str)
                label = "not applicable" if (notes != "").any() else "no flipped samples"
                ax.text(m, 0.0, label, ha="center", va="center", fontsize=SMALL, rotation=90)
        ax.set_xticks(
            range(len(methods)),
            [wrap_text(labels[m], 12) for m in methods],
            fontsize=SMALL,
            rotation=30,
            ha="right",
        )
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.axhline(0, color="0.8", linewidth=0.6, zorder=0)
        ax.set_ylabel(f"{name}, before vs after", fontsize=LABEL)
        ax.set_title(f"{name} (bar = mean, flipped samples)", fontsize=LABEL)
        ax.tick_params(labelsize=SMALL)
    ax = fig.add_subplot(grid[0, 2])
    for a, attack in enumerate(attacks):
        part = flips[flips["attack"] == attack]
        eps = part.loc[part["flipped"].astype(bool), "epsilon"]
        ax.scatter(
            a + rng.uniform(-0.15, 0.15, len(eps)), eps, s=10, color=colours[attack], alpha=0.7, linewidths=0
        )
        label = f"{len(eps)}/{len(part)} flipped"
        if attack in noise_names:  # the samples whose noise kept the prediction (else: NaN scores, a note)
            noise = scores[scores["attack"] == noise_names[attack]]
            unlucky = noise.loc[noise["note"].fillna("").astype(str).str.contains(NOISE_FLIPPED), "sample"]
            n_noise = noise["sample"].nunique()
            label += f"\nnoise kept {n_noise - unlucky.nunique()}/{n_noise}"
        ax.text(
            a,
            1.01,
            label,
            ha="center",
            va="bottom",
            fontsize=SMALL,
            transform=ax.get_xaxis_transform(),
        )
    ax.set_yscale("log")
    ax.set_ylim(epsilon_range[0] / 1.3, epsilon_range[1] * 1.3)
    ax.set_xticks(range(len(attacks)), [a.upper() for a in attacks], fontsize=SMALL)
    ax.set_xlim(-0.6, len(attacks) - 0.4)
    ax.set_ylabel("ε at the flip (L∞, pixel value)", fontsize=LABEL)
    ax.set_title("attack size needed", fontsize=LABEL, pad=24 if noise_names else 14)
    ax.tick_params(labelsize=SMALL)
    handles = [Line2D([], [], marker="o", linestyle="", color=colours[a], label=a.upper()) for a in attacks]
    handles += [
        Line2D([], [], marker="o", linestyle="", color=NOISE_COLOUR, markeredgecolor=colours[a],
               label=NOISE_LABEL.format(attack=a.upper()))
        for a in noise_names
    ]  # fmt: skip
    handles.append(Line2D([], [], color="black", linewidth=1.5, label="mean"))
    fig.legend(
        handles=handles, loc="lower center", ncols=len(handles), fontsize=SMALL, bbox_to_anchor=(0.5, -0.06)
    )
    control = "; grey: random sign noise of the same ε (control)" if noise_names else ""
    fig.suptitle(
        f"{title}: how much the explanations change under an attack that flips the prediction{control}",
        fontsize=HEADER,
    )
    fig.tight_layout()
    save_figure(fig, png, pdf)


def plot_maximisation(
    clean: np.ndarray,
    maximised: np.ndarray,
    table: pd.DataFrame,
    class_names: Sequence[str],
    value_range: tuple[float, float],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
) -> None:
    """Adversarial maximisation (seed 004): for each sample, the image pushed toward every class (row 1)
    and the perturbation that does it (row 2). ``maximised`` (N, K, C, H, W); ``table`` one row per
    (sample, target class) in that order with ``attacked``, ``margin_before``, ``margin_after``
    (``z_t - logsumexp_{j≠t} z_j``, what the attack maximises) and ``prob_after``."""
    n, k = maximised.shape[:2]
    cell = 1.25
    height = cell * 2 * n + 1.3
    fig = Figure(figsize=(cell * (k + 1) + 1.6, height))
    grid = fig.add_gridspec(
        2 * n, k + 2, wspace=0.08, hspace=0.6, width_ratios=[1] * (k + 1) + [0.08], top=1 - 1.0 / height
    )
    delta = maximised - clean[:, None]
    limit = float(np.nanmax(np.abs(delta))) or 1.0
    for i in range(n):
        rows = table.iloc[i * k : (i + 1) * k]
        ax = fig.add_subplot(grid[2 * i, 0])
        _show(ax, clean[i], value_range)
        label = class_names[int(rows["label"].iloc[0])]
        ax.set_ylabel(wrap_text(f"#{int(rows['sample'].iloc[0])} ({label})", 14), fontsize=LABEL)
        pred = class_names[int(rows["pred_before"].iloc[0])]
        ax.set_xlabel(f"pred {wrap_text(pred, 12)}", fontsize=SMALL, labelpad=2)
        if i == 0:
            ax.set_title("original", fontsize=LABEL, fontweight="bold")
        ax = fig.add_subplot(grid[2 * i + 1, 0])
        ax.axis("off")
        ax.text(0.95, 0.5, "perturbation δ\n(attacked − original)", ha="right", va="center", fontsize=SMALL)
        for c in range(k):
            rec = rows.iloc[c]
            ax = fig.add_subplot(grid[2 * i, c + 1])
            _show(ax, maximised[i, c], value_range)
            if rec["attacked"]:
                margin = f"margin {rec['margin_before']:.2g} → {rec['margin_after']:.3g}"
                text = f"{margin}\np = {rec['prob_after']:.2f}"
            else:
                text = "already predicted\n(not attacked)"
            ax.set_xlabel(text, fontsize=SMALL, labelpad=2)
            if i == 0:
                ax.set_title(wrap_text(f"→ {class_names[c]}", 14), fontsize=LABEL, fontweight="bold")
            ax = fig.add_subplot(grid[2 * i + 1, c + 1])
            ax.imshow(delta[i, c].mean(0), cmap=PERTURBATION_CMAP, vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
        for row, (norm, cmap, name) in enumerate(
            (
                (Normalize(*value_range), "gray", "pixel value"),
                (Normalize(-limit, limit), PERTURBATION_CMAP, "δ"),
            )
        ):
            bar = fig.colorbar(ScalarMappable(norm, cmap), cax=fig.add_subplot(grid[2 * i + row, -1]))
            bar.set_label(name, fontsize=SMALL)
            bar.ax.tick_params(labelsize=SMALL)
    fig.suptitle(
        f"{title}\nadversarial maximisation: targeted PGD pushed far past the decision boundary"
        " toward each other class",
        fontsize=HEADER,
    )
    save_figure(fig, png, pdf)


# --------------------------------------------------------------------------------------------------
# targeted FGSM growth


def plot_fgsm_growth(
    arrays: Mapping[str, np.ndarray],
    trajectory: pd.DataFrame,
    class_names: Sequence[str],
    title: str,
    png: PathLike,
    pdf: PathLike | None = None,
) -> None:
    """Targeted FGSM grown step by step (seed 004, Fig. 3; :mod:`xaibench.views.fgsm_growth`). Top, one row
    per shown image (``arrays["snapshots"]``): clean, the images at the fractions ``arrays["fractions"]`` of
    its stop step, the image at the stop (or the last step) and the perturbation (``±max`` of its own). Below,
    p(target) (solid) and p(original prediction) (dashed) against the step for every image of ``trajectory``,
    the threshold dotted and each stop marked."""
    snaps, snap_steps, fractions = arrays["snapshots"], arrays["snapshot_steps"], arrays["fractions"]
    n_show, n_frac = snap_steps.shape
    lo, hi = (float(v) for v in arrays["value_range"])
    threshold, step, stop = float(arrays["threshold"]), float(arrays["step_rel"]), arrays["stop_step"]
    samples = [int(s) for s in arrays["indices"]]
    colours = [
        matplotlib.colormaps["tab10"](i) if i < 10 else (0.6, 0.6, 0.6, 1.0) for i in range(len(samples))
    ]
    n_cols, cell = n_frac + 3, 1.2
    width, height = cell * n_cols + 1.0, 1.0 + n_show * (cell + 0.45) + 3.6
    fig = Figure(figsize=(width, height))
    grid = fig.add_gridspec(
        n_show + 1, n_cols, height_ratios=[cell] * n_show + [2.6], wspace=0.08, hspace=0.5,
        top=1 - 0.85 / height, bottom=0.95 / height, left=0.9 / width, right=1 - 0.1 / width,
    )  # fmt: skip
    for i in range(n_show):
        rows = trajectory[trajectory["sample"] == samples[i]].set_index("step")
        p_at = rows["p_target"]
        last = int(arrays["steps_run"][i])
        frames = [(arrays["clean"][i], f"step 0\np(target) {p_at[0]:.2f}")]
        frames += [(snaps[i, f], f"step {s}\np(target) {p_at[s]:.2f}") for f, s in enumerate(snap_steps[i])]
        end = "stop" if np.isfinite(stop[i]) else "not reached"
        frames.append((arrays["final"][i], f"step {last} ({end})\np(target) {p_at[last]:.2f}"))
        heads = ["clean", *(f"{100 * f:.0f} % of stop" for f in fractions), "stop / last step"]
        for col, (image, label) in enumerate(frames):
            ax = fig.add_subplot(grid[i, col])
            _show(ax, image, (lo, hi))
            ax.set_xlabel(label, fontsize=SMALL, labelpad=2)
            if i == 0:
                ax.set_title(heads[col], fontsize=LABEL, fontweight="bold")
        original, target = (class_names[int(arrays[key][i])] for key in ("original", "target"))
        fig.axes[-n_cols + 1].set_ylabel(
            wrap_text(f"#{samples[i]}: {original} → {target}", 16), fontsize=LABEL, color=colours[i]
        )
        ax = fig.add_subplot(grid[i, -1])
        delta = arrays["perturbation"][i].mean(0)
        limit = float(np.abs(delta).max()) or 1.0
        ax.imshow(delta, cmap=PERTURBATION_CMAP, vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"scale ±{limit:.2g}\n(= {255 * limit / (hi - lo):.0f}/255 of range)", fontsize=SMALL)
        if i == 0:
            ax.set_title("perturbation\n(±max)", fontsize=LABEL, fontweight="bold")
    ax = fig.add_subplot(grid[n_show, :])
    for i, sample in enumerate(samples):
        rows = trajectory[trajectory["sample"] == sample].sort_values("step")
        alpha, lw = (0.9, 1.2) if i < 10 else (0.35, 0.7)
        ax.plot(rows["step"], rows["p_target"], color=colours[i], linewidth=lw, alpha=alpha)
        ax.plot(rows["step"], rows["p_original"], color=colours[i], linewidth=lw, alpha=alpha, linestyle="--")
        if np.isfinite(stop[i]):
            end = rows.iloc[-1]
            ax.plot(end["step"], end["p_target"], "o", color=colours[i], markersize=4, markeredgecolor="k")
    ax.axhline(threshold, color="black", linestyle=":", linewidth=1.2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"step (size {255 * step:.3g}/255 of the data range)", fontsize=LABEL)
    ax.set_ylabel("probability", fontsize=LABEL)
    ax.tick_params(labelsize=SMALL)
    handles = [
        Line2D([], [], color="black", label="p(target)"),
        Line2D([], [], color="black", linestyle="--", label="p(original prediction)"),
        Line2D([], [], color="black", linestyle=":", label=f"threshold {threshold:g}"),
        Line2D([], [], marker="o", color="white", markerfacecolor="0.5", markeredgecolor="k", label="stop"),
    ]
    handles += [Line2D([], [], color=colours[i], label=f"#{s}") for i, s in enumerate(samples[:10])]
    if len(samples) > 10:
        handles.append(Line2D([], [], color=colours[10], label=f"{len(samples) - 10} more images"))
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=min(len(handles), 7),
        fontsize=SMALL, frameon=False,
    )  # fmt: skip
    reached = int(np.isfinite(stop).sum())
    median = f"median stop step {np.median(stop[np.isfinite(stop)]):g}" if reached else "no stop"
    fig.suptitle(
        f"{title}: targeted FGSM grown step by step until p(target) ≥ {threshold:g}\n"
        f"{reached}/{len(samples)} images reached it within {int(arrays['max_steps'])} steps, {median}",
        fontsize=HEADER,
    )
    save_figure(fig, png, pdf)
