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
from collections.abc import Mapping, Sequence
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

TARGET_KINDS = ("label", "prediction", "second")


def explained_targets(
    target: str | int, labels: np.ndarray, logits: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """The class explained for each image (``explain.target``): ``"label"`` the true class, ``"prediction"``
    the model's, ``"second"`` the runner-up (the second-highest logit: an explanation of a class the model
    did not choose, seed 003 Fig. 4), a class index or a class name (that class for every image)."""
    if isinstance(target, str) and target in TARGET_KINDS:
        if target == "label":
            return np.asarray(labels)
        order = np.argsort(-np.asarray(logits), axis=1, kind="stable")
        return order[:, 0] if target == "prediction" else order[:, 1]
    names = [str(c) for c in class_names]
    if isinstance(target, str) and target in names:
        return np.full(len(labels), names.index(target), dtype=np.int64)
    if isinstance(target, int | np.integer) and not isinstance(target, bool) and 0 <= target < len(names):
        return np.full(len(labels), int(target), dtype=np.int64)
    raise ValueError(
        f"config key explain.target: {target!r} is none of {list(TARGET_KINDS)}, a class name {names} or a "
        f"class index 0..{len(names) - 1}"
    )


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
    target: str | int,
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
    logits = predict(model, images, dev)
    predictions = logits.argmax(1)
    targets = explained_targets(target, labels, logits, dataset.class_names)

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
            maps, seconds, note = explain_one(spec, model, dev, images, targets, seed, batch_size)
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


def explain_one(
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
