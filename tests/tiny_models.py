"""Small models the tests share."""

from __future__ import annotations

import torch
from torch import nn


class ScaledLogits(nn.Module):
    """A model with its logits scaled up: an untrained tiny model's logits barely move under perturbation, and
    LIME's Lasso then zeroes every coefficient, which would make comparisons and determinism tests trivial."""

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.scale
