"""Heatmap statistics along training (seed 000: the Gaussian statistics of its ref. [3], SafeSO, "correlate
with the accuracy"; the mask overlap of its ref. [2]).

For every kept epoch of a run (``training.checkpoints``, :func:`xaibench.models.load_checkpoints`) and the
final model: the test accuracy (the whole test split), and per image of the evaluation subset the
explanation of one method (Grad-CAM by default) for the label, scored with the label-free Gaussian
statistics of :mod:`xaibench.metrics.gaussian` (spread, mass within the 1-sigma ellipse, modes) and, where
the dataset has masks, the overlap of its hot region with the mask
(:func:`~xaibench.metrics.overlap.mask_overlap`).
The plain metric functions are used (no Quantus): they are the functions the registered metrics call.

:func:`accuracy_correlation` then correlates a statistic's per-checkpoint mean with the checkpoint's
accuracy over every (replicate, epoch) of a pair: Spearman's rho, its p-value (scipy) and a 95 % interval
from Fisher's z (with the 1.06 / (n - 3) variance of Fieller et al. for Spearman's rho).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from xaibench.datasets.core import evaluation_subset, load_dataset
from xaibench.metrics.gaussian import gaussian_mass, gaussian_spread, heatmap_modes
from xaibench.metrics.overlap import mask_overlap

STATISTICS = ("gaussian_spread", "gaussian_mass_1sigma", "heatmap_modes", "mask_iou")


def _statistics(maps: np.ndarray, masks: np.ndarray | None) -> dict[str, np.ndarray]:
    values = {
        "gaussian_spread": gaussian_spread(maps),
        "gaussian_mass_1sigma": gaussian_mass(maps, 1.0),
        "heatmap_modes": heatmap_modes(maps),
    }
    values["mask_iou"] = mask_overlap(maps, masks) if masks is not None else np.full(len(maps), np.nan)
    return values


def checkpoint_table(
    data_path: str,
    weights_path: str,
    checkpoints_path: str,
    method: Mapping[str, Any],
    *,
    n_samples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per (epoch, image): epoch, final (the trained model), accuracy (test split), sample and the
    :data:`STATISTICS` of ``method``'s map (``{"method": registry name, "params": {...}}``); empty when the
    run kept no checkpoints. CPU, one thread: the maps equal those of the same weights anywhere else."""
    import torch

    from xaibench.methods import explain
    from xaibench.models import load_checkpoints, load_model
    from xaibench.training import predict

    models = load_checkpoints(checkpoints_path)
    if not models:
        return pd.DataFrame(columns=["epoch", "final", "accuracy", "sample", *STATISTICS])
    final = load_model(weights_path)
    data = load_dataset(data_path)
    test = data.indices("test")
    subset = evaluation_subset(data, min(n_samples, len(test)), seed)
    x = torch.from_numpy(data.images[subset])
    targets = torch.from_numpy(data.labels[subset])
    masks = data.masks[subset, 0] if data.masks is not None else None
    states = [(epoch, False, model) for epoch, model in models.items()] + [(-1, True, final)]
    rows = []
    for epoch, is_final, model in states:
        torch.manual_seed(seed)  # stochastic methods draw the same noise at every checkpoint
        maps = explain(method["method"], model, x, targets, **method.get("params", {}))[:, 0]
        predicted = predict(model, data.images[test], torch.device("cpu")).argmax(1)
        accuracy = float((predicted == data.labels[test]).mean())
        stats = _statistics(maps, masks)
        for i, sample in enumerate(subset):
            rows.append(
                {
                    "epoch": epoch,
                    "final": is_final,
                    "accuracy": accuracy,
                    "sample": int(sample),
                    **{name: float(values[i]) for name, values in stats.items()},
                }
            )
    return pd.DataFrame(rows)


def fisher_interval(rho: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of Spearman's rho by Fisher's z with variance 1.06 / (n - 3) (NaN for n < 4 or |rho| = 1)."""
    from scipy.stats import norm

    if n < 4 or not math.isfinite(rho) or abs(rho) >= 1:
        return math.nan, math.nan
    z, half = math.atanh(rho), norm.ppf(0.5 + confidence / 2) * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


def accuracy_correlation(table: pd.DataFrame, statistic: str) -> dict[str, float]:
    """Spearman's rho between each checkpoint's accuracy and its mean ``statistic`` over images, over every
    (replicate, epoch) of ``table``: rho, p_value, ci_low, ci_high, n (checkpoints)."""
    from scipy.stats import spearmanr

    keys = [k for k in ("replicate", "epoch") if k in table]
    means = table.groupby(keys)[["accuracy", statistic]].mean().dropna()
    n = len(means)
    if n < 3 or means["accuracy"].nunique() < 2 or means[statistic].nunique() < 2:
        return {"rho": math.nan, "p_value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n}
    result = spearmanr(means["accuracy"], means[statistic])
    rho = float(result.statistic)
    low, high = fisher_interval(rho, n)
    return {"rho": rho, "p_value": float(result.pvalue), "ci_low": low, "ci_high": high, "n": n}
