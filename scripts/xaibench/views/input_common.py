"""Helpers shared by the views of inputs (occlusion sweep, activation maps, max/min activating images, guided
Grad-CAM composite): picking the shown test samples, sizes given in pixels or as fractions of the image,
forward hooks that record layer outputs, and the automatic choice of layers. (A (dataset, model) pair is
loaded by :func:`xaibench.pairs.load_pair`.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from xaibench.datasets import ImageDataset

__all__ = [
    "choose_samples",
    "layer_outputs",
    "pixels",
    "record_layers",
    "resolve_layers",
    "seeded_test_indices",
    "stage_layers",
]


def pixels(value: Any, size: int, key: str) -> int:
    """A length in pixels from an int (pixels) or a float in (0, 1] (fraction of ``size``), at least 1 and at
    most ``size``; a bad value raises ``ValueError`` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{key}: expected pixels (int) or a fraction of the image in (0, 1], got {value!r}")
    if isinstance(value, float | np.floating):
        if not 0 < value <= 1:
            raise ValueError(f"{key}: a fraction of the image must lie in (0, 1], got {value!r}")
        px = max(1, round(float(value) * size))
    else:
        px = int(value)
    if not 1 <= px <= size:
        raise ValueError(f"{key}: {value!r} gives {px} px, outside 1..{size} (the image size)")
    return px


def choose_samples(labels: np.ndarray, candidates: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices from ``candidates`` (e.g. the test split), seeded, cycling through the classes so that
    every class is shown as evenly as the data allow (round robin over classes in a seeded order)."""
    if n > len(candidates):
        raise ValueError(f"n_samples={n} exceeds the {len(candidates)} test samples")
    rng = np.random.default_rng(seed)
    order = rng.permutation(candidates)
    queues = {int(c): list(order[labels[order] == c]) for c in np.unique(labels[order])}
    classes = sorted(queues)
    chosen: list[int] = []
    while len(chosen) < n:
        for c in classes:
            if queues[c] and len(chosen) < n:
                chosen.append(int(queues[c].pop(0)))
    return np.asarray(chosen, dtype=np.int64)


def seeded_test_indices(dataset: ImageDataset, n_images: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n_images`` seeded test images (all of them when ``n_images`` is 0 or too large)."""
    test = dataset.indices("test")
    if n_images <= 0 or n_images >= len(test):
        return test
    return np.sort(np.random.default_rng(seed).choice(test, size=n_images, replace=False))


@dataclass
class _Trace:
    """One forward pass seen through hooks on every named submodule."""

    finished: list[tuple[str, tuple[int, ...]]]  # (name, 4-D output shape[1:]) in the order modules finish
    producers: dict[int, str]  # id(output tensor) -> name of the outermost module that returned it
    reductions: list[tuple[str, int, tuple[int, int], tuple[int, int]]]  # (name, id(input), in HxW, out HxW)


def _trace(model: nn.Module, example: torch.Tensor) -> _Trace:
    trace = _Trace([], {}, [])
    alive: list[torch.Tensor] = []  # keeps every output alive so that no tensor id is reused during the pass
    handles = []

    def hook(name: str) -> Any:
        def record(_module: nn.Module, inputs: Any, output: Any) -> None:
            if not (isinstance(output, torch.Tensor) and output.ndim == 4):
                return
            alive.append(output)
            trace.finished.append((name, tuple(output.shape[1:])))
            trace.producers[id(output)] = name  # a container finishes after its child: the outer name wins
            first = inputs[0] if isinstance(inputs, tuple) and inputs else None
            if isinstance(first, torch.Tensor) and first.ndim == 4 and first.shape[2:] != output.shape[2:]:
                trace.reductions.append((name, id(first), tuple(first.shape[2:]), tuple(output.shape[2:])))

        return record

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook(name)))
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    return trace


def stage_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """The stage outputs of any CNN, found from one forward pass: every feature map that enters a change of
    resolution (a pooling or strided stage), plus the last feature map larger than 1x1, in forward order.
    Global pools (to 1x1, e.g. squeeze-excitation) do not count.

    A change of resolution counts at its outermost module: ResNet's ``layer2`` (not the strided conv inside
    its first block), DenseNet's ``transition1``, small_cnn's max-pools, the global average pool. The stage
    output is named by the outermost module that returned that tensor (``layer1``, ``features.denseblock1``;
    small_cnn: the last ReLU of each stage and, for the last stage, ``features``).
    """
    trace = _trace(model, example)
    changes = {name: (size_in, size_out) for name, _, size_in, size_out in trace.reductions}
    names = set()
    for name, input_id, size_in, size_out in trace.reductions:
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if size_out[0] * size_out[1] <= 1 or changes.get(parent) == (size_in, size_out):
            continue  # a global pool (squeeze-excitation, head), or inside a module making the same change
        if input_id in trace.producers:  # not the image itself
            names.add(trace.producers[input_id])
    spatial = [name for name, shape in trace.finished if shape[1] * shape[2] > 1]
    if spatial:
        names.add(spatial[-1])
    order = {name: i for i, (name, _) in enumerate(trace.finished)}
    return sorted(names, key=order.__getitem__)


def resolve_layers(
    model: nn.Module, example: torch.Tensor, layers: str | Sequence[str], key: str
) -> list[str]:
    """``"stages"`` (see :func:`stage_layers`) or explicit module names, checked to exist and to output 4-D
    feature maps."""
    if layers == "stages":
        found = stage_layers(model, example)
        if not found:
            raise ValueError(f"{key}: the model has no module with a 2-D feature-map output")
        return found
    if isinstance(layers, str) or not layers:
        raise ValueError(f"{key}: expected 'stages' or a non-empty list of module names, got {layers!r}")
    shapes = dict(_trace(model, example).finished)
    names = {name for name, _ in model.named_modules() if name}
    for name in layers:
        if name not in names:
            raise ValueError(
                f"{key}: the model has no module {name!r}; stages: {stage_layers(model, example)}"
            )
        if name not in shapes:
            raise ValueError(f"{key}: module {name!r} does not output a (N, C, H, W) feature map")
    return list(layers)


@contextmanager
def record_layers(model: nn.Module, layers: Sequence[str], reduce: str | None = None) -> Iterator[dict]:
    """Forward hooks that append each named layer's output (detached, on the CPU) to ``store[name]`` while
    the block runs. ``reduce``: None keeps the (n, C, H, W) maps, ``"mean"``/``"max"`` keep (n, C) spatial
    means/maxima (cheap enough to run over a whole test split)."""
    if reduce not in (None, "mean", "max"):
        raise ValueError(f"reduce must be None, 'mean' or 'max', got {reduce!r}")
    store: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = []

    def hook(name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            out = output.detach()
            if reduce == "mean":
                out = out.mean(dim=(2, 3))
            elif reduce == "max":
                out = out.amax(dim=(2, 3))
            store[name].append(out.float().cpu())

        return record

    try:
        for name in layers:
            handles.append(model.get_submodule(name).register_forward_hook(hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def layer_outputs(
    model: nn.Module,
    images: np.ndarray,
    layers: Sequence[str],
    device: torch.device,
    *,
    reduce: str | None = None,
    batch_size: int = 64,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Outputs of ``layers`` (see :func:`record_layers`) and the logits for ``images`` (N, C, H, W)."""
    model.eval()
    logits = []
    with record_layers(model, layers, reduce) as store:
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
            logits.append(model(batch).float().cpu())
    outputs = {name: torch.cat(parts).numpy() for name, parts in store.items()}
    return outputs, torch.cat(logits).numpy()
