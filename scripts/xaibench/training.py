"""Deterministic supervised training of a registry model on an :class:`ImageDataset`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.datasets import ImageDataset
from xaibench.models import build_model
from xaibench.runtime import seed_everything

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: nn.Module
    spec: dict[str, Any]  # enough to rebuild the model (see xaibench.models.save_model)
    history: pd.DataFrame  # epoch, train_loss, val_loss, train_acc, val_acc
    test_metrics: dict[str, Any]
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # epoch -> CPU state


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """Logits (N, classes) for float images (N, C, H, W)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        xb = torch.from_numpy(images[start : start + batch_size]).to(device)
        out.append(model(xb).float().cpu())
    return torch.cat(out).numpy()


def _evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[float, float]:
    logits = torch.from_numpy(predict(model, x, device))
    loss = nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
    return loss, float((logits.argmax(1).numpy() == y).mean())


def train(
    dataset: ImageDataset,
    architecture: str,
    model_params: dict[str, Any],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | None = None,
    checkpoints: Sequence[int] = (),
) -> TrainResult:
    """Adam + cross-entropy; the same seed gives the same weights on the same device. The weights after each
    epoch in ``checkpoints`` are kept (CPU copies; copying draws no random numbers, so the trained model is
    the same with or without them)."""
    unknown = sorted(set(checkpoints) - set(range(1, epochs + 1)))
    if unknown:
        raise ValueError(f"training.checkpoints {unknown}: epochs run from 1 to {epochs}")
    device = device or torch.device("cpu")
    seed_everything(seed)
    spec = {"name": architecture, "shape": dataset.shape, "params": dict(model_params)}
    model = build_model(architecture, **dataset.shape, **model_params).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, epochs))

    tr, va, te = (dataset.indices(s) for s in ("train", "val", "test"))
    x_train = torch.from_numpy(dataset.images[tr])
    y_train = torch.from_numpy(dataset.labels[tr])
    gen = torch.Generator().manual_seed(seed)
    rows, saved = [], {}
    for epoch in range(1, epochs + 1):
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for idx in _batches(len(tr), batch_size, gen):
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            optimiser.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            total += len(idx)
        scheduler.step()
        val_loss, val_acc = _evaluate(model, dataset.images[va], dataset.labels[va], device)
        rows.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / total,
                "val_loss": val_loss,
                "train_acc": correct / total,
                "val_acc": val_acc,
            }
        )
        log.info("epoch %d: %s", epoch, rows[-1])
        if epoch in checkpoints:
            saved[epoch] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    model.eval()
    test_logits = predict(model, dataset.images[te], device)
    test_pred = test_logits.argmax(1)
    y_test = dataset.labels[te]
    n_cls = len(dataset.class_names)
    confusion = np.zeros((n_cls, n_cls), dtype=int)
    np.add.at(confusion, (y_test, test_pred), 1)
    test_metrics = {
        "test_accuracy": float((test_pred == y_test).mean()),
        "test_loss": float(
            nn.functional.cross_entropy(torch.from_numpy(test_logits), torch.from_numpy(y_test))
        ),
        "n_test": len(te),
        "class_names": dataset.class_names,
        "confusion": confusion.tolist(),
        "epochs": epochs,
        "device": str(device),
    }
    history = pd.DataFrame(rows)
    return TrainResult(model=model, spec=spec, history=history, test_metrics=test_metrics, checkpoints=saved)
