"""Maximally and minimally activating images (seed 001 §II.A.9): for every class logit and for chosen channels
of one layer, the ``k`` test images that drive the unit highest and the ``k`` that drive it lowest.

A channel's activation for an image is its feature map reduced to one number (``reduce``: the spatial mean,
or the maximum). Channels are given by index, or as a count: the channels whose activation varies most over
the test images. The layer is a module name, or ``auto``: the model's CAM layer (the last feature map).
Images with equal values keep the dataset order (stable ranking), so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from xaibench.pairs import Pair
from xaibench.views.activations import most_variable_channels
from xaibench.views.input_common import layer_outputs, resolve_layers, seeded_test_indices, stage_layers

__all__ = ["extremes", "max_activating", "resolve_channels"]

KEY = "views.max_activating"


def extremes(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the ``k`` highest values (highest first) and the ``k`` lowest (lowest first); ties keep
    the order of ``values``."""
    k = min(k, len(values))
    top = np.argsort(-values, kind="stable")[:k]
    bottom = np.argsort(values, kind="stable")[:k]
    return top, bottom


def resolve_channels(channels: int | Sequence[int], activations: np.ndarray) -> np.ndarray:
    """Channel indices from a count (most variable channels) or an explicit list, checked against (n, C)."""
    n_channels = activations.shape[1]
    if isinstance(channels, bool):
        raise ValueError(f"{KEY}.channels: a count or a list of channel indices, got {channels!r}")
    if isinstance(channels, int | np.integer):
        if channels < 0:
            raise ValueError(f"{KEY}.channels: a count must be >= 0, got {channels}")
        return most_variable_channels(activations, int(channels)) if channels else np.zeros(0, dtype=np.int64)
    chosen = np.asarray(list(channels), dtype=np.int64)
    bad = chosen[(chosen < 0) | (chosen >= n_channels)]
    if len(bad):
        raise ValueError(f"{KEY}.channels: {bad.tolist()} outside 0..{n_channels - 1} (the layer's channels)")
    return chosen


def _layer(model: torch.nn.Module, example: torch.Tensor, layer: str) -> str:
    if layer == "auto":
        name = getattr(model, "cam_layer_name", None)
        return name if name is not None else stage_layers(model, example)[-1]
    return resolve_layers(model, example, [layer], f"{KEY}.layer")[0]


def max_activating(
    pair: Pair,
    *,
    layer: str = "auto",
    channels: int | Sequence[int] = 4,
    k: int = 4,
    reduce: str = "mean",
    n_images: int = 0,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rank ``n_images`` seeded test images (all with 0) for every class logit and the chosen channels.

    Returns a long table (one row per unit x extreme x rank: ``unit_kind`` class|channel, ``unit`` (class name
    or channel index), ``layer``, ``extreme`` top|bottom, ``rank`` (1 = most extreme), ``index`` (dataset
    index), ``value``, ``n_at_value`` (ranked images sharing that exact value: ReLU channels are often 0 on
    many images, and then the bottom images are just the first of a tie), ``label``, ``prediction``) and a
    dict with the layer name, the number of ranked images, ``reduce`` and ``k``.
    """
    data, model, dev = pair.dataset, pair.model, pair.device
    if k < 1:
        raise ValueError(f"{KEY}.k must be >= 1, got {k}")
    if reduce not in ("mean", "max"):
        raise ValueError(f"{KEY}.reduce must be 'mean' or 'max', got {reduce!r}")
    example = torch.from_numpy(data.images[:1]).to(dev)
    name = _layer(model, example, layer)
    idx = seeded_test_indices(data, n_images, seed)
    acts, logits = layer_outputs(model, data.images[idx], [name], dev, reduce=reduce, batch_size=batch_size)
    chosen = resolve_channels(channels, acts[name])
    predictions = logits.argmax(1)

    units = [("class", data.class_names[c], logits[:, c]) for c in range(logits.shape[1])]
    units += [("channel", str(int(ch)), acts[name][:, ch]) for ch in chosen]
    rows = []
    for kind, unit, values in units:
        for extreme, order in zip(("top", "bottom"), extremes(values, k), strict=True):
            for rank, pos in enumerate(order, start=1):
                rows.append(
                    {
                        "unit_kind": kind,
                        "unit": unit,
                        "layer": name if kind == "channel" else "logits",
                        "extreme": extreme,
                        "rank": rank,
                        "index": int(idx[pos]),
                        "value": float(values[pos]),
                        "n_at_value": int((values == values[pos]).sum()),
                        "label": data.class_names[int(data.labels[idx[pos]])],
                        "prediction": data.class_names[int(predictions[pos])],
                    }
                )
    info = {"layer": name, "n_images": len(idx), "reduce": reduce, "k": k}
    return pd.DataFrame(rows), info
