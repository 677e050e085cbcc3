"""Activation maps (seed 001 §II.A.1): what each stage of the network outputs for an image, and which channels
respond to which class.

* **Feature maps** of a few class-balanced test samples at every chosen layer (forward hooks; by default the
  stage outputs of :func:`xaibench.views.input_common.stage_layers`: the last feature map before each
  down-sampling and the last one overall, for any CNN), ``max_channels`` channels per layer: those whose
  spatial-mean activation varies most across the summary images (the ones that respond to the input; dead or
  constant channels are skipped), in channel order.
* **Channel summaries**: the spatial-mean activation of every channel, averaged per true class over
  ``n_images`` seeded test images (all of them with 0): a classes x channels matrix per layer, in which
  class-selective channels stand out as columns that differ between rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xaibench.pairs import Pair
from xaibench.views.input_common import (
    choose_samples,
    layer_outputs,
    resolve_layers,
    seeded_test_indices,
)

__all__ = ["activation_maps", "activation_table", "class_means", "most_variable_channels"]


def most_variable_channels(activations: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` channels of ``activations`` (n, C) with the largest variance over the
    n images; ties go to the lower index."""
    variance = activations.astype(np.float64).var(axis=0)
    order = np.argsort(-variance, kind="stable")
    return np.sort(order[: min(k, activations.shape[1])])


def class_means(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, C) mean of ``activations`` (n, C) per label; NaN rows for classes without images."""
    out = np.full((n_classes, activations.shape[1]), np.nan)
    for c in range(n_classes):
        rows = activations[labels == c]
        if len(rows):
            out[c] = rows.astype(np.float64).mean(axis=0)
    return out


def activation_maps(
    pair: Pair,
    *,
    n_samples: int,
    layers: str | Sequence[str] = "stages",
    max_channels: int = 8,
    n_images: int = 0,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Feature maps and channel summaries; returns the arrays of the view's ``.npz``.

    Keys: ``layers`` (L names), ``layer_shapes`` (L, 3), ``indices``/``labels``/``predictions``/``images`` of
    the shown samples, and per layer ``l`` (0-based, in forward order): ``channels_l`` (chosen channels),
    ``maps_l`` (n_samples, k, h, w) feature maps of those channels, ``class_mean_l`` (classes, C) mean
    activation per class and channel, over ``summary_indices``.
    """
    data, model, dev = pair.dataset, pair.model, pair.device
    if max_channels < 1:
        raise ValueError(f"views.activation_maps.max_channels must be >= 1, got {max_channels}")
    example = torch.from_numpy(data.images[:1]).to(dev)
    names = resolve_layers(model, example, layers, "views.activation_maps.layers")
    summary_idx = seeded_test_indices(data, n_images, seed)
    means, _ = layer_outputs(
        model, data.images[summary_idx], names, dev, reduce="mean", batch_size=batch_size
    )
    idx = choose_samples(data.labels, data.indices("test"), n_samples, seed)
    maps, logits = layer_outputs(model, data.images[idx], names, dev, batch_size=batch_size)

    n_classes = len(data.class_names)
    out: dict[str, np.ndarray] = {
        "layers": np.asarray(names, dtype=str),
        "layer_shapes": np.asarray([maps[name].shape[1:] for name in names]),
        "indices": idx,
        "labels": data.labels[idx],
        "predictions": logits.argmax(1),
        "images": data.images[idx],
        "class_names": np.asarray(data.class_names, dtype=str),
        "summary_indices": summary_idx,
    }
    for i, name in enumerate(names):
        channels = most_variable_channels(means[name], max_channels)
        out[f"channels_{i}"] = channels
        out[f"maps_{i}"] = maps[name][:, channels].astype(np.float32)
        out[f"class_mean_{i}"] = class_means(means[name], data.labels[summary_idx], n_classes)
    return out


def activation_table(result: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long table of the channel summaries: one row per layer x channel x class (``mean_activation`` over the
    summary images of that class, ``shown``: whether the channel's maps are in the figure)."""
    names = [str(c) for c in result["class_names"]]
    rows = []
    for i, layer in enumerate(result["layers"]):
        means, shown = result[f"class_mean_{i}"], set(result[f"channels_{i}"].tolist())
        for channel in range(means.shape[1]):
            for c, name in enumerate(names):
                rows.append(
                    {
                        "layer": str(layer),
                        "channel": channel,
                        "class": name,
                        "mean_activation": float(means[c, channel]),
                        "shown": channel in shown,
                    }
                )
    return pd.DataFrame(rows)
