"""A trained model with its dataset, the unit every per-(dataset, model) job works on, and its one loader."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xaibench.datasets import ImageDataset, load_dataset
from xaibench.models import load_model
from xaibench.runtime import select_device

__all__ = ["Pair", "load_pair"]


@dataclass
class Pair:
    """A trained model with its dataset, on ``device`` (the model in eval mode)."""

    dataset: ImageDataset
    model: nn.Module
    device: torch.device


def load_pair(data_path: str, weights_path: str, device: str = "auto") -> Pair:
    """The dataset stored at ``data_path`` and the model trained on it (``weights_path``), on ``device``
    (``auto``: CUDA when usable, else the CPU; see :func:`xaibench.runtime.select_device`)."""
    dev = select_device(device)
    return Pair(load_dataset(data_path), load_model(weights_path, dev), dev)
