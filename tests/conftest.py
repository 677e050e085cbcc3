"""Shared fixtures: a tiny seeded model and T&S-like batch, made by the tests themselves."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_model():
    """A seeded small_cnn (1 channel, 2 classes) in eval mode; untrained but deterministic."""
    import torch

    from xaibench.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, width=4)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_batch():
    """Four 1x32x32 images with a bright square each, labels and exact masks (N, 1, H, W)."""
    rng = np.random.default_rng(0)
    n, size = 4, 32
    x = np.full((n, 1, size, size), 0.2, dtype=np.float32)
    masks = np.zeros((n, 1, size, size), dtype=bool)
    for i in range(n):
        r0, c0 = rng.integers(4, 16, size=2)
        masks[i, 0, r0 : r0 + 10, c0 : c0 + 10] = True
    x[masks] = 0.9
    y = np.array([0, 1, 0, 1], dtype=np.int64)
    return x, y, masks
