"""``small_cnn``: the VGG-style CNN of the Triangles & Squares experiments."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from xaibench.models.core import conv_stages, gap_linear_model, register

if TYPE_CHECKING:
    from torch import nn


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
    from torch import nn

    if stages is None:
        stages = max(1, min(5, round(math.log2(image_size)) - 2))
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    layers, channels = conv_stages(
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.MaxPool2d,
        in_channels,
        width,
        stages,
        batch_norm,
        kernel_size=3,
        padding=1,
    )
    return gap_linear_model(layers, channels, num_classes, dropout)  # CAM layer: the last conv block's ReLU
