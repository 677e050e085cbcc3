"""Model registry: ``build_model(name, ...)`` returns an ``nn.Module`` for a dataset's shape.

Each builder sets ``model.cam_layer_name``: the convolutional layer that CAM-family methods (GradCAM,
GuidedGradCam) read. Activations are distinct modules (never one ReLU reused), which Captum's DeepLift
and Zennit's rule assignment require.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from xaibench.registry import Registry

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")


@MODELS.register("small_cnn")
def small_cnn(
    in_channels: int,
    num_classes: int,
    image_size: int,
    width: int = 16,
    stages: int | None = None,
    dropout: float = 0.0,
    batch_norm: bool = True,
) -> nn.Module:
    """A VGG-style CNN: ``stages`` stages of 2x (conv, BatchNorm, ReLU) with width doubling per stage,
    max-pool between stages, global average pool and a linear head. By default one more stage per
    doubling of the image size, so the receptive field covers the object (3 for 32x32, 4 for 64x64).

    Close to the small Keras CNN of the T&S authors (seed 002); the last conv block is the CAM layer.
    BatchNorm makes training on T&S's random grey levels reliable; Zennit merges it for LRP.
    """
    if stages is None:
        stages = max(1, min(5, round(math.log2(image_size)) - 2))
    layers: list[nn.Module] = []
    channels = in_channels
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    for stage in range(stages):
        out = width * 2 ** min(stage, 3)
        for _ in range(2):
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            channels = out
        if stage < stages - 1:
            layers.append(nn.MaxPool2d(2))
    features = nn.Sequential(*layers)
    head = nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(channels, num_classes),
    )
    model = nn.Sequential()
    model.add_module("features", features)
    model.add_module("head", head)
    model.cam_layer_name = f"features.{len(layers) - 1}"  # output of the last conv block (its ReLU)
    return model


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **params: Any) -> nn.Module:
    """Build registry entry ``name`` for inputs of shape (in_channels, image_size, image_size)."""
    builder = MODELS.get(name)
    try:
        return builder(in_channels=in_channels, num_classes=num_classes, image_size=image_size, **params)
    except TypeError as exc:
        raise ValueError(f"model {name!r}: bad parameters {params}: {exc}") from exc


def get_cam_layer(model: nn.Module) -> nn.Module:
    """The layer CAM methods use, as declared by the model builder."""
    name = getattr(model, "cam_layer_name", None)
    if name is None:
        raise ValueError(f"{type(model).__name__} declares no cam_layer_name")
    return model.get_submodule(name)


# Builder parameters that only initialise weights: the saved state_dict supersedes them, so they are left out
# of the saved spec (loading a trained model must not re-read, or need, the file it was fine-tuned from).
INIT_ONLY_PARAMS = frozenset({"weights"})


def save_model(path: str, model: nn.Module, spec: dict[str, Any]) -> None:
    """Save weights with the spec needed to rebuild the model (atomic)."""
    from xaibench.io import atomic_path

    params = {k: v for k, v in spec.get("params", {}).items() if k not in INIT_ONLY_PARAMS}
    with atomic_path(path) as tmp:
        torch.save({"spec": {**spec, "params": params}, "state_dict": model.state_dict()}, tmp)


def load_model(path: str, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in eval mode on ``device``."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot load model weights from {path}: {exc}") from exc
    spec = ckpt["spec"]
    model = build_model(spec["name"], **spec["shape"], **spec.get("params", {}))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


# Register the torchvision architectures (ResNet, DenseNet, EfficientNet).
from xaibench import models_torchvision  # noqa: E402, F401
