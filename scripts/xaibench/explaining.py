"""The explanation stage: methods over the fixed evaluation subset of one (dataset, model).

One job explains a *group* of configured methods (``explain.methods_per_job``; one method per job is a group
of one) and writes one ``.npz``: the subset shared by every method (``indices``, explained ``targets``, true
``labels``, model ``predictions``), the config names in ``methods``, and per name ``<name>.attributions``
(N, 1, H, W), ``<name>.seconds`` (its wall time), ``<name>.method``, ``<name>.params`` and, where the method
cannot handle the architecture, ``<name>.note``. Each method starts from the same seeded state as it would in
a job of its own, so grouping never changes a map. :func:`xaibench.explanations.load_explanation` reads
one method's part back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from xaibench.datasets import evaluation_subset
from xaibench.io import save_npz
from xaibench.logs import config_key
from xaibench.methods import MethodNotApplicable, explain, import_libraries
from xaibench.pairs import load_pair
from xaibench.runtime import seed_everything
from xaibench.training import predict


def explain_group(
    *,
    data_path: str,
    weights_path: str,
    out_path: str,
    specs: Mapping[str, dict[str, Any]],
    seed: int,
    device: str,
    n_samples: int,
    batch_size: int,
    target: str,
) -> list[dict[str, Any]]:
    """Explain ``n_samples`` seeded test images with every method of ``specs`` (config name -> entry
    ``{"method", "params"}``) and write one file (module docstring); return one summary per method.

    A method that cannot handle the architecture (``MethodNotApplicable``) leaves NaN maps and the reason in
    its note; the evaluation then records every metric as NaN with that note instead of failing the run.
    """
    if not specs:
        raise ValueError(f"{out_path}: no methods to explain")
    bad = [name for name in specs if "." in name]
    if bad:
        raise ValueError(f"method names cannot contain '.': {bad}")
    pair = load_pair(data_path, weights_path, device)
    dataset, model, dev = pair.dataset, pair.model, pair.device
    idx = evaluation_subset(dataset, n_samples, seed)
    images = dataset.images[idx]
    labels = dataset.labels[idx]
    predictions = predict(model, images, dev).argmax(1)
    targets = labels if target == "label" else predictions

    arrays: dict[str, Any] = {
        "indices": idx,
        "targets": targets,
        "labels": labels,
        "predictions": predictions,
        "methods": np.array(list(specs), dtype=np.str_),
    }
    summaries = []
    import_libraries(spec["method"] for spec in specs.values())  # not charged to the first method's seconds
    for name, spec in specs.items():
        with config_key(f"explain.methods.{name}"):
            maps, seconds, note = _explain_one(spec, model, dev, images, targets, seed, batch_size)
        arrays |= {
            f"{name}.attributions": maps,
            f"{name}.seconds": np.float64(seconds),
            f"{name}.method": np.str_(spec["method"]),
            f"{name}.params": np.str_(json.dumps(spec["params"], sort_keys=True)),
        }
        if note:
            arrays[f"{name}.note"] = np.str_(note)
        summaries.append(
            {
                "name": name,
                "method": spec["method"],
                "n": len(idx),
                "seconds": round(seconds, 3),
                "seconds_per_image": round(seconds / len(idx), 5),
                "nonfinite": int((~np.isfinite(maps)).sum()),
                "device": str(dev),
                "note": note,
            }
        )
    save_npz(out_path, **arrays)
    return summaries


def _explain_one(
    spec: dict[str, Any],
    model: torch.nn.Module,
    dev: torch.device,
    images: np.ndarray,
    targets: np.ndarray,
    seed: int,
    batch_size: int,
) -> tuple[np.ndarray, float, str]:
    """One method's maps, wall time and note, from the seeded state a job of its own would start in."""
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
        maps = np.full((len(images), 1, *images.shape[2:]), np.nan, dtype=np.float32)
    return maps, time.perf_counter() - start, note


def explain_subset(*, spec: dict[str, Any], name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """One method (config name ``name``, default the method's own) in a file of its own; its summary."""
    (summary,) = explain_group(specs={name or spec["method"]: spec}, **kwargs)
    return summary
