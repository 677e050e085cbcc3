"""Feature visualisation and Deep Dream (seed 001): images that maximise a class logit or a channel.

Gradient ascent on the input pixels (Adam) for a set of *objectives*, each started from *starts*:

* objectives: ``logit:k`` (the logit of class k), ``channel:c`` (the mean activation of channel c of one
  layer, by default the model's CAM layer, i.e. the last convolutional block) and ``dream`` (the mean squared
  activation of that layer: classic Deep Dream, which amplifies whatever the layer already sees);
* starts: seeded noise around the data mean (feature visualisation proper) and real test images
  (Deep Dream: the same objectives, started from a real image and kept near it).

All (start, objective) pairs are optimised together as one batch (the model is in eval mode, so the rows are
independent). Standard regularisation (Olah et al. 2017): a random shift of up to ``jitter`` pixels
before each step, a Gaussian blur of the image every ``blur_every`` steps, and an L2 penalty
``l2 * mean((x - x0)**2)`` pulling the image to its centre (the data mean for noise starts; the start
image for real ones, with the stronger weight ``dream_l2``, so that a dream stays recognisably the image it
started from). After each step the image is clipped to the value range of the data, so it stays a valid
input of the model (xaibench datasets are in [0, 1]; no further normalisation is involved). The target
value before and after the optimisation is recorded for every pair.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.methods.params import separable_gaussian_blur

if TYPE_CHECKING:
    from xaibench.pairs import Pair

__all__ = [
    "FeatureVisResult",
    "Objective",
    "Regularisation",
    "gaussian_blur",
    "make_objectives",
    "objective_values",
    "optimise",
    "run_feature_visualisation",
]


@dataclass(frozen=True)
class Regularisation:
    """Settings of the gradient ascent (config ``views.feature_visualisation``)."""

    steps: int = 200
    lr: float = 0.05
    jitter: int = 2
    blur_sigma: float = 0.5
    blur_every: int = 4
    l2: float = 1.0
    dream_l2: float = 20.0

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "lr": self.lr > 0,
            "jitter": self.jitter >= 0,
            "blur_sigma": self.blur_sigma >= 0,
            "blur_every": self.blur_every >= 0,
            "l2": self.l2 >= 0,
            "dream_l2": self.dream_l2 >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"{key}: bad value {getattr(self, key)!r}")


@dataclass(frozen=True)
class Objective:
    """What one row of the batch maximises: ``kind`` ``logit`` | ``channel`` | ``dream``."""

    kind: str
    index: int  # class (logit), channel (channel) or -1 (dream)
    label: str  # for tables and figures

    def __post_init__(self) -> None:
        if self.kind not in ("logit", "channel", "dream"):
            raise ValueError(f"unknown objective kind {self.kind!r}")


@dataclass
class FeatureVisResult:
    """Optimised images (S, K, C, H, W) for S starts x K objectives, and the target values."""

    images: np.ndarray
    starts: np.ndarray  # (S, C, H, W)
    objectives: list[Objective]
    values_before: np.ndarray  # (S, K)
    values_after: np.ndarray  # (S, K)
    predictions: np.ndarray  # (S, K) class predicted for the optimised image
    probabilities: np.ndarray  # (S, K) its softmax probability


def make_objectives(class_names: list[str], channels: list[int], dream: bool = True) -> list[Objective]:
    """One logit objective per class, one per channel, and the Deep Dream objective."""
    objectives = [Objective("logit", k, f"logit: {name}") for k, name in enumerate(class_names)]
    objectives += [Objective("channel", int(c), f"channel {int(c)}") for c in channels]
    if dream:
        objectives.append(Objective("dream", -1, "dream (layer energy)"))
    return objectives


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflected borders (sigma in pixels; 0 = identity)."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(2.5 * sigma))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if radius < 1:
        return x
    return separable_gaussian_blur(x, sigma, radius, "reflect")


def objective_values(
    model: nn.Module, layer: nn.Module, images: torch.Tensor, objectives: list[Objective]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row i's objective value for row i of ``images`` (len(images) == len(objectives)), and the logits."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(images)
    finally:
        handle.remove()
    act = captured[0]
    values = []
    for i, obj in enumerate(objectives):
        if obj.kind == "logit":
            values.append(logits[i, obj.index])
        elif obj.kind == "channel":
            values.append(act[i, obj.index].mean())
        else:
            values.append(act[i].pow(2).mean())
    return torch.stack(values), logits


def optimise(
    model: nn.Module,
    layer: nn.Module,
    starts: torch.Tensor,
    centres: torch.Tensor,
    objectives: list[Objective],
    reg: Regularisation,
    value_range: tuple[float, float],
    seed: int = 0,
    l2: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maximise ``objectives[i]`` from ``starts[i]`` (B, C, H, W) by gradient ascent with regularisation.

    ``l2`` (B,) overrides ``reg.l2`` per row (Deep Dream rows are held closer to their start image).
    Returns the optimised images, the values before and after (without jitter), and the final logits.
    """
    lo, hi = value_range
    generator = torch.Generator().manual_seed(seed)
    weights = torch.full((len(starts),), reg.l2) if l2 is None else l2
    weights = weights.to(starts.device, starts.dtype)
    with torch.no_grad():
        before, _ = objective_values(model, layer, starts, objectives)
    x = starts.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=reg.lr)
    for step in range(reg.steps):
        if reg.jitter:
            dy, dx = (torch.randint(-reg.jitter, reg.jitter + 1, (2,), generator=generator)).tolist()
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        else:
            shifted = x
        values, _ = objective_values(model, layer, shifted, objectives)
        penalty = weights * (x - centres).pow(2).flatten(1).mean(1)
        loss = (penalty - values).sum()
        (grad,) = torch.autograd.grad(loss, x)
        x.grad = grad
        optimiser.step()
        with torch.no_grad():
            if reg.blur_every and reg.blur_sigma > 0 and (step + 1) % reg.blur_every == 0:
                x.copy_(gaussian_blur(x, reg.blur_sigma))
            x.clamp_(lo, hi)
    with torch.no_grad():
        after, logits = objective_values(model, layer, x, objectives)
    return x.detach(), before, after, logits


def _layer(model: nn.Module, layer: str | None) -> nn.Module:
    name = layer or getattr(model, "cam_layer_name", None)
    if name is None:
        raise ValueError("layer: the model declares no cam_layer_name; name a layer")
    try:
        return model.get_submodule(name)
    except AttributeError as exc:
        raise ValueError(f"layer: model has no submodule {name!r}") from exc


def _channels(
    model: nn.Module, layer: nn.Module, channels: int | list[int], probe: torch.Tensor
) -> list[int]:
    """Explicit channel indices, or the ``channels`` most active channels (mean over ``probe`` images)."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        with torch.no_grad():
            model(probe)
    finally:
        handle.remove()
    act = captured[0]
    n_channels = act.shape[1]
    if isinstance(channels, int):
        if channels > n_channels:
            raise ValueError(f"channels: {channels} requested, the layer has {n_channels}")
        order = act.mean(dim=(0, 2, 3)).argsort(descending=True)
        return sorted(order[:channels].tolist())
    bad = [c for c in channels if not 0 <= c < n_channels]
    if bad:
        raise ValueError(f"channels: {bad} out of range; the layer has {n_channels} channels")
    return [int(c) for c in channels]


def run_feature_visualisation(
    model: nn.Module,
    images: np.ndarray,
    class_names: list[str],
    *,
    start_images: np.ndarray,
    channels: int | list[int] = 4,
    layer: str | None = None,
    noise_starts: int = 1,
    noise_std: float = 0.1,
    dream: bool = True,
    seed: int = 0,
    **regularisation: Any,
) -> FeatureVisResult:
    """Feature visualisation of ``model`` from ``noise_starts`` noise images and from ``start_images``.

    ``images`` (the training split) set the value range, the noise centre (per-channel mean) and the probe
    that ranks channels when ``channels`` is a count.
    """
    reg = Regularisation(**regularisation)
    device = next(model.parameters()).device
    model.eval()
    target_layer = _layer(model, layer)
    data = torch.from_numpy(images).to(device)
    value_range = (float(data.min()), float(data.max()))
    mean = data.mean(dim=(0, 2, 3), keepdim=True)
    probe = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:256]]
    chosen = _channels(model, target_layer, channels, probe)
    objectives = make_objectives(class_names, chosen, dream)

    generator = torch.Generator().manual_seed(seed)
    shape = data.shape[1:]
    noise = mean + noise_std * torch.randn((noise_starts, *shape), generator=generator).to(device)
    real = torch.from_numpy(start_images).to(device)
    starts = torch.cat([noise.clamp(*value_range), real])
    centres = torch.cat([mean.expand(noise_starts, *shape), real])
    k = len(objectives)
    batch = starts.repeat_interleave(k, dim=0)
    l2 = torch.tensor([reg.l2] * noise_starts + [reg.dream_l2] * len(real)).repeat_interleave(k)
    x, before, after, logits = optimise(
        model,
        target_layer,
        batch,
        centres.repeat_interleave(k, dim=0),
        objectives * len(starts),
        reg,
        value_range,
        seed,
        l2,
    )
    probs = logits.softmax(1)
    s = len(starts)
    return FeatureVisResult(
        images=x.cpu().numpy().reshape(s, k, *shape),
        starts=starts.cpu().numpy(),
        objectives=objectives,
        values_before=before.cpu().numpy().reshape(s, k),
        values_after=after.cpu().numpy().reshape(s, k),
        predictions=logits.argmax(1).cpu().numpy().reshape(s, k),
        probabilities=probs.max(1).values.cpu().numpy().reshape(s, k),
    )


def result_table(result: FeatureVisResult, start_names: list[str], start_indices: list[int]) -> pd.DataFrame:
    """Long form: one row per (start, objective) with the target value before/after and the prediction."""
    rows = []
    for s, (name, index) in enumerate(zip(start_names, start_indices, strict=True)):
        for k, obj in enumerate(result.objectives):
            rows.append(
                {
                    "start": name,
                    "start_index": index,
                    "objective": obj.label,
                    "kind": obj.kind,
                    "target": obj.index,
                    "value_before": float(result.values_before[s, k]),
                    "value_after": float(result.values_after[s, k]),
                    "gain": float(result.values_after[s, k] - result.values_before[s, k]),
                    "predicted_class": int(result.predictions[s, k]),
                    "predicted_probability": float(result.probabilities[s, k]),
                }
            )
    return pd.DataFrame(rows)


def feature_visualisation_job(pair: Pair, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Run :func:`run_feature_visualisation` on a (dataset, model) pair with config ``settings``
    (``n_images`` real test images as Deep Dream starts, the rest as in the function).

    Returns ``result`` (:class:`FeatureVisResult`), ``table`` (:func:`result_table`), ``arrays`` to save,
    ``class_names``, ``value_range`` and ``seconds``."""
    from xaibench.datasets import evaluation_subset
    from xaibench.runtime import seed_everything

    settings = dict(settings)
    n_images = int(settings.pop("n_images"))
    dataset, model = pair.dataset, pair.model
    seed_everything(seed)
    picked = evaluation_subset(dataset, min(n_images, len(dataset.indices("test"))), seed)
    start = time.perf_counter()
    result = run_feature_visualisation(
        model,
        dataset.images[dataset.indices("train")],
        dataset.class_names,
        start_images=dataset.images[picked],
        seed=seed,
        **settings,
    )
    seconds = time.perf_counter() - start
    noise = settings.get("noise_starts", 1)
    names = [f"noise {i + 1}" for i in range(noise)]
    names += [f"test #{i} ({dataset.class_names[dataset.labels[i]]})" for i in picked]
    table = result_table(result, names, [-1] * noise + [int(i) for i in picked])
    arrays = {
        "images": result.images,
        "starts": result.starts,
        "start_indices": np.asarray([-1] * noise + [int(i) for i in picked]),
        "objectives": np.asarray([o.label for o in result.objectives], dtype=str),
        "values_before": result.values_before,
        "values_after": result.values_after,
    }
    train = dataset.images[dataset.indices("train")]
    return {
        "result": result,
        "table": table,
        "arrays": arrays,
        "class_names": dataset.class_names,
        "value_range": (float(train.min()), float(train.max())),
        "seconds": round(seconds, 3),
    }
