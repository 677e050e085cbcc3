"""Guided Grad-CAM composite (seed 003 §3.4): the class-discriminative but coarse Grad-CAM map, the
high-resolution but barely class-discriminative Guided Backpropagation map, and their element-wise product,
Guided Grad-CAM, side by side for a few class-balanced test samples.

All three come from :func:`xaibench.methods.explain`. Grad-CAM is upsampled with ``nearest`` interpolation,
the mode Captum's ``GuidedGradCam`` uses, so the Guided Grad-CAM panel is exactly the product of the two
panels beside it (``max_product_error`` records the check). A method that cannot explain the architecture
(e.g. Guided Backprop on EfficientNet's SiLU activations) leaves NaN maps and its reason in ``note_<method>``;
the figure shows the reason in place of the map.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from xaibench.methods import MethodNotApplicable, explain
from xaibench.pairs import Pair
from xaibench.views.input_common import choose_samples

__all__ = ["COMPOSITE_METHODS", "composite_table", "guided_gradcam_composite"]

#: Panels of the composite: method name -> explain() parameters.
COMPOSITE_METHODS: dict[str, dict[str, str]] = {
    "gradcam": {"interpolate_mode": "nearest"},
    "guided_backprop": {},
    "guided_gradcam": {"interpolate_mode": "nearest"},
}


def guided_gradcam_composite(
    pair: Pair, *, n_samples: int, target: str = "label", batch_size: int = 64, seed: int = 0
) -> dict[str, np.ndarray]:
    """Explain ``n_samples`` test samples with each of :data:`COMPOSITE_METHODS`; returns the ``.npz`` arrays.

    Keys: ``indices``, ``labels``, ``predictions``, ``targets``, ``images``, ``class_names``, ``probability``
    (softmax of the explained class), ``<method>`` (n, 1, H, W) per method (NaN when not applicable),
    ``note_<method>`` (empty or the reason), ``max_product_error`` (max |Guided Grad-CAM - Grad-CAM x Guided
    Backprop|, NaN when a part is missing).
    """
    if target not in ("label", "prediction"):
        raise ValueError(
            f"views.guided_gradcam_composite.target must be 'label' or 'prediction', got {target!r}"
        )
    data, model, dev = pair.dataset, pair.model, pair.device
    idx = choose_samples(data.labels, data.indices("test"), n_samples, seed)
    x = torch.from_numpy(data.images[idx]).to(dev)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x).float(), dim=1).cpu().numpy()
    predictions = probs.argmax(1)
    targets = data.labels[idx] if target == "label" else predictions
    out: dict[str, np.ndarray] = {
        "indices": idx,
        "labels": data.labels[idx],
        "predictions": predictions,
        "targets": targets,
        "images": data.images[idx],
        "class_names": np.asarray(data.class_names, dtype=str),
        "probability": probs[np.arange(len(idx)), targets],
    }
    for method, params in COMPOSITE_METHODS.items():
        try:
            maps = explain(method, model, x, torch.from_numpy(targets), batch_size=batch_size, **params)
            note = ""
        except MethodNotApplicable as exc:
            maps = np.full((len(idx), 1, *data.images.shape[2:]), np.nan, dtype=np.float32)
            note = str(exc)
        out[method] = maps
        out[f"note_{method}"] = np.str_(note)
    product = out["gradcam"].astype(np.float64) * out["guided_backprop"]
    error = np.abs(out["guided_gradcam"] - product)
    out["max_product_error"] = np.float64(error.max() if np.isfinite(error).all() else np.nan)
    return out


def composite_table(result: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per sample x method: ``index``, ``label``, ``prediction``, ``target``, ``probability`` (of the
    target), ``method``, ``max_abs`` (largest |attribution|, NaN when not applicable), ``note``, and the
    figure-wide ``max_product_error``."""
    names = [str(c) for c in result["class_names"]]
    rows = []
    for method in COMPOSITE_METHODS:
        for i, index in enumerate(result["indices"]):
            values = np.asarray(result[method][i], dtype=np.float64)
            rows.append(
                {
                    "index": int(index),
                    "label": names[int(result["labels"][i])],
                    "prediction": names[int(result["predictions"][i])],
                    "target": names[int(result["targets"][i])],
                    "probability": float(result["probability"][i]),
                    "method": method,
                    "max_abs": float(np.abs(values).max()) if np.isfinite(values).all() else float("nan"),
                    "note": str(result[f"note_{method}"]),
                    "max_product_error": float(result["max_product_error"]),
                }
            )
    return pd.DataFrame(rows)
