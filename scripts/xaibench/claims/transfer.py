"""Do adversarially maximised images carry class features? (seed 004, Chen and Teuscher 2019, §3.3)

The adversarial view pushes each of a few test images toward every other class with a large targeted PGD
budget (``maximise``). If the perturbation merely exploits the quirks of the model that was attacked, an
**independently trained replicate** (another replicate of the same dataset: its own data draw, its own
initialisation and training) will not see the target class in the maximised image; if it adds features of
the class, it will. Two statistics per (image, target class) make that testable:

* **transfer**: the replicate model classifies the maximised image as the target class;
* **class-mean alignment**: the cosine similarity of the perturbation δ = x_max − x with the difference of
  the class means of the training images, μ_target − μ_source (source: the attacked model's prediction on
  the clean image): does the attack move the image toward what the target class looks like on average?

Chance is measured, not assumed: each perturbation is compared with a **control**, the same δ with its
pixel positions shuffled (one permutation shared by the channels, seeded per image and target). The control
has exactly the values, L∞ and L2 norm of δ but none of its spatial structure. Transfer of the control
(the replicate predicting the target on x + shuffled δ, clipped to the data range) and the control's
alignment are recorded beside the attack's, so each row is a paired comparison: a claim tests
attack − control, never a rate against 1/k.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xaibench.stats.bootstrap import group_rng

if TYPE_CHECKING:
    from torch import nn

__all__ = ["class_means", "shuffled_perturbations", "transfer_table"]


def class_means(images: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean image (K, C, H, W) of every class; NaN for a class without images."""
    means = np.full((num_classes, *images.shape[1:]), np.nan, dtype=np.float64)
    for k in range(num_classes):
        chosen = images[labels == k]
        if len(chosen):
            means[k] = chosen.mean(0, dtype=np.float64)
    return means


def shuffled_perturbations(delta: np.ndarray, keys: list[tuple[int, int]], seed: int) -> np.ndarray:
    """``delta`` (N, C, H, W) with the pixel positions of each row permuted (the same permutation for every
    channel), seeded by ``(seed, key)``: the values and norms of each row are kept exactly."""
    out = np.empty_like(delta)
    flat = delta.reshape(len(delta), delta.shape[1], -1)
    for i, key in enumerate(keys):
        order = group_rng(seed, "transfer", *key).permutation(flat.shape[-1])
        out[i] = flat[i][:, order].reshape(delta.shape[1:])
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(1) / norm, np.nan)


def _predict(model: nn.Module, images: np.ndarray, device: str, batch: int = 256) -> tuple[np.ndarray, ...]:
    import torch

    preds, probs = [], []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).float().to(device)
        with torch.no_grad():
            p = model(x).softmax(1).cpu().numpy()
        preds.append(p.argmax(1))
        probs.append(p)
    return np.concatenate(preds), np.concatenate(probs)


def transfer_table(
    clean: np.ndarray,
    maximised: np.ndarray,
    maximisation: pd.DataFrame,
    replicate_model: nn.Module,
    means: np.ndarray,
    value_range: tuple[float, float],
    seed: int,
    device: str = "cpu",
) -> pd.DataFrame:
    """One row per (image, target class) that the view attacked (target ≠ the clean prediction).

    ``clean`` (M, C, H, W) and ``maximised`` (M, K, C, H, W) are the view's arrays; ``maximisation`` its
    table (M x K rows, sample-major, with ``sample``, ``target_class``, ``pred_before``, ``pred_after``,
    ``attacked``); ``means`` (K, C, H, W) the class means of the attacked model's training images.
    Columns: sample, target_class, source_class, source_reached (the attacked model predicts the target),
    linf, replicate_pred / replicate_prob (the replicate on the maximised image), transferred,
    control_pred / control_prob / control_transferred (the replicate on the shuffled control), clean_pred
    (the replicate on the clean image), alignment / control_alignment (cosine of δ with μ_target − μ_source).
    """
    m, k = maximised.shape[:2]
    if len(maximisation) != m * k:
        raise ValueError(f"maximisation table has {len(maximisation)} rows for {m} images x {k} classes")
    table = maximisation.reset_index(drop=True)
    rows = np.flatnonzero(table["attacked"].to_numpy(bool))
    if rows.size == 0:
        return pd.DataFrame()
    image_index, target = rows // k, table["target_class"].to_numpy(int)[rows]
    source = table["pred_before"].to_numpy(int)[rows]
    x = clean[image_index].astype(np.float32)
    delta = maximised[image_index, target].astype(np.float32) - x
    keys = [(int(s), int(t)) for s, t in zip(table["sample"].to_numpy(int)[rows], target, strict=True)]
    control_delta = shuffled_perturbations(delta, keys, seed)
    control = np.clip(x + control_delta, *value_range).astype(np.float32)
    replicate_model.eval()
    pred, prob = _predict(replicate_model, x + delta, device)
    control_pred, control_prob = _predict(replicate_model, control, device)
    clean_pred, _ = _predict(replicate_model, x, device)
    direction = means[target] - means[source]
    picked = np.arange(rows.size)
    return pd.DataFrame(
        {
            "sample": table["sample"].to_numpy(int)[rows],
            "target_class": target,
            "source_class": source,
            "source_reached": table["pred_after"].to_numpy(int)[rows] == target,
            "linf": np.abs(delta).reshape(rows.size, -1).max(1),
            "replicate_pred": pred,
            "replicate_prob": prob[picked, target],
            "transferred": pred == target,
            "control_pred": control_pred,
            "control_prob": control_prob[picked, target],
            "control_transferred": control_pred == target,
            "clean_pred": clean_pred,
            "alignment": _cosine(delta, direction),
            "control_alignment": _cosine(control - x, direction),
        }
    )
