"""The explanation stage: one method over the fixed evaluation subset of one (dataset, model)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch

from xaibench.datasets import evaluation_subset
from xaibench.io import load_npz, save_npz
from xaibench.methods import MethodNotApplicable, explain
from xaibench.pairs import load_pair
from xaibench.runtime import seed_everything
from xaibench.training import predict


def explain_subset(
    *,
    data_path: str,
    weights_path: str,
    out_path: str,
    spec: dict[str, Any],
    seed: int,
    device: str,
    n_samples: int,
    batch_size: int,
    target: str,
) -> dict[str, Any]:
    """Explain ``n_samples`` seeded test images with ``spec['method']``; write attributions + metadata.

    The .npz holds ``attributions`` (N, 1, H, W), the dataset ``indices`` of the samples, the explained
    ``targets``, true ``labels``, model ``predictions``, and the wall time in ``seconds``. A method that
    cannot handle the architecture (``MethodNotApplicable``) leaves NaN maps and the reason in ``note``; the
    evaluation then records every metric as NaN with that note instead of failing the run.
    """
    pair = load_pair(data_path, weights_path, device)
    dataset, model, dev = pair.dataset, pair.model, pair.device
    idx = evaluation_subset(dataset, n_samples, seed)
    images = dataset.images[idx]
    labels = dataset.labels[idx]
    predictions = predict(model, images, dev).argmax(1)
    targets = labels if target == "label" else predictions

    seed_everything(seed)
    start = time.perf_counter()
    note = ""
    try:
        maps = explain(
            spec["method"],
            model,
            torch.from_numpy(images).to(dev),
            torch.from_numpy(targets).to(dev),
            batch_size=batch_size,
            **spec["params"],
        )
    except MethodNotApplicable as exc:  # recorded, not fatal: every table then says why the cells are empty
        note = f"not applicable to this model: {exc}"
        maps = np.full((len(idx), 1, *images.shape[2:]), np.nan, dtype=np.float32)
    seconds = time.perf_counter() - start
    extra = {"note": np.str_(note)} if note else {}
    save_npz(
        out_path,
        **extra,
        attributions=maps,
        indices=idx,
        targets=targets,
        labels=labels,
        predictions=predictions,
        seconds=np.float64(seconds),
        method=np.str_(spec["method"]),
        params=np.str_(json.dumps(spec["params"], sort_keys=True)),
    )
    return {
        "method": spec["method"],
        "n": len(idx),
        "seconds": round(seconds, 3),
        "seconds_per_image": round(seconds / len(idx), 5),
        "nonfinite": int((~np.isfinite(maps)).sum()),
        "device": str(dev),
        "note": note,
    }


def load_explanations(path: str) -> dict[str, np.ndarray]:
    return load_npz(path)
