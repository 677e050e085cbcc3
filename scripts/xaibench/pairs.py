"""A trained model with its dataset, the unit every per-(dataset, model) job works on, and its one loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xaibench.datasets import ImageDataset, generator_modality, load_dataset
from xaibench.models import load_model, model_modalities
from xaibench.runtime import select_device

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Pair", "dataset_models", "load_pair"]


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


def dataset_models(name: str, entry: Mapping[str, Any], models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The configured models trained on dataset ``name`` (config entry ``entry``; ``models`` the config's
    ``models:``): ``entry["models"]`` where given, each of which must take the dataset's modality, else every
    configured model whose architecture takes it (image models for images, ``cnn1d`` for series, ``mlp`` for
    tables), in config order. Errors name the dataset, the model and the modalities."""
    modality = generator_modality(entry["generator"])
    takes = {model: model_modalities(spec["architecture"]) for model, spec in models.items()}
    listed = entry.get("models")
    if listed:
        for model in listed:
            if model not in takes:
                raise ValueError(
                    f"datasets.{name}.models: {model!r} is not a configured model ({sorted(takes)})"
                )
            if modality not in takes[model]:
                raise ValueError(
                    f"datasets.{name}.models: model {model!r} takes {', '.join(takes[model])} data, but "
                    f"generator {entry['generator']!r} makes {modality} data"
                )
        return list(listed)
    chosen = [model for model, modalities in takes.items() if modality in modalities]
    if not chosen:
        raise ValueError(
            f"datasets.{name}: no configured model takes {modality} data (generator {entry['generator']!r}); "
            "add one under models: (e.g. architecture cnn1d for series, mlp for tables)"
        )
    return chosen
