"""``small_cnn``: the VGG-style CNN of the Triangles & Squares experiments."""

from __future__ import annotations

import math

from torch import nn

from xaibench.models.core import register


@register("small_cnn")
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
