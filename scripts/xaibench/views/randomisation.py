"""Cascading model-parameter randomisation (Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018).

**Layers.** The parameterised layers are the leaf modules with a ``weight`` parameter (convolutions,
BatchNorm, linear layers, ...) in registration order (:func:`parameterised_layers`; the forward order on
xaibench's models). The cascade starts at the top: step 0 is the original model, step ``i`` the model whose
last ``i`` layers are re-initialised, so the last step has no trained parameter left.

**Re-initialisation** (:func:`randomise_layer`): the module's own ``reset_parameters()`` (PyTorch's default
initialisation, what an untrained network has: Kaiming-uniform weights and uniform biases for convolutions
and linear layers; BatchNorm γ = 1, β = 0 and its running statistics reset to mean 0, variance 1) on a CPU
copy of the layer, under torch's global generator seeded with (seed, step) and restored afterwards, so the
draws do not depend on the device or on what ran before. This is what Quantus's MPRT does. A leaf without
``reset_parameters()`` gets weights and biases drawn from N(0, std of its own trained values).

**Explanations** of the same seeded test images (:func:`xaibench.datasets.evaluation_subset`, the choice of
the explain stage) for their label, with every configured method, on a deep copy of the model (the pair's
model is never modified).

**Similarity** of each re-explanation with the original one, per (method, step, image): Spearman ρ of the
absolute maps, Spearman ρ of the signed maps and SSIM (``skimage.metrics.structural_similarity``, data range
1) of the maps scaled by their maximum absolute value. A constant or non-finite map has no rank correlation:
all three are NaN and ``note`` says why. Identical maps score exactly 1 (the original at step 0, and a
method that does not read the model at every step).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.views.randomisation_tables import SCORES, summarise_randomisation

if TYPE_CHECKING:
    from xaibench.pairs import Pair

__all__ = [
    "cascade",
    "map_similarity",
    "parameterised_layers",
    "randomisation_job",
    "randomise_layer",
    "summarise_randomisation",
]


def parameterised_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every leaf module with a ``weight`` parameter, in registration order."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if not any(True for _ in module.children())
        and isinstance(getattr(module, "weight", None), nn.Parameter)
    ]


def step_seed(seed: int, step: int) -> int:
    """The torch seed of cascade step ``step`` under the global ``seed``."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


@torch.no_grad()
def randomise_layer(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module`` in place (module docstring), reproducibly from ``seed`` on any device."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if callable(getattr(module, "reset_parameters", None)):
            fresh = copy.deepcopy(module).cpu()
            fresh.reset_parameters()
            module.load_state_dict(fresh.state_dict())
            return
        generator = torch.Generator().manual_seed(seed)
        for param in module.parameters(recurse=False):
            std = float(param.detach().float().std()) if param.numel() > 1 else 1.0
            draw = torch.randn(param.shape, generator=generator) * (std if np.isfinite(std) else 1.0)
            param.copy_(draw.to(param.device, param.dtype))


def cascade(model: nn.Module, seed: int) -> Iterator[tuple[int, str, str, nn.Module]]:
    """(step, name of the layer last randomised, its type, model) from the original (step 0, "original") to
    every layer re-initialised, on one deep copy of ``model`` changed in place (``model`` itself is not)."""
    work = copy.deepcopy(model)
    yield 0, "original", "", work
    for step, (name, module) in enumerate(reversed(parameterised_layers(work)), start=1):
        randomise_layer(module, step_seed(seed, step))
        yield step, name, type(module).__name__, work


def _unit_abs(a: np.ndarray) -> np.ndarray:
    a = np.abs(a)
    return a / a.max()


def map_similarity(original: np.ndarray, other: np.ndarray) -> tuple[dict[str, float], str]:
    """Spearman ρ of the absolute and of the signed maps, SSIM of ``abs(a) / max abs(a)`` (module docstring)
    of two (H, W) maps, and a note (empty unless the scores are NaN)."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    nan = dict.fromkeys(SCORES, float("nan"))
    a, b = np.asarray(original, dtype=np.float64), np.asarray(other, dtype=np.float64)
    for which, m in (("original", a), ("re-explanation", b)):
        if not np.isfinite(m).all():
            return nan, f"non-finite {which} map"
        if np.ptp(np.abs(m)) == 0:
            return nan, f"constant {which} map (abs): no rank correlation"
    if np.array_equal(a, b):
        return dict.fromkeys(SCORES, 1.0), ""
    side = min(a.shape)
    win = min(7, side if side % 2 else side - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {
            "spearman_abs": float(spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic),
            "spearman_signed": float(spearmanr(a.ravel(), b.ravel()).statistic),
            "ssim": float(structural_similarity(_unit_abs(a), _unit_abs(b), data_range=1.0, win_size=win))
            if win >= 3
            else float("nan"),
        }
    return scores, ""


def _explain(spec: dict[str, Any], model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int):
    from xaibench.methods import MethodNotApplicable, explain

    try:
        return explain(spec["method"], model, x, y, batch_size=batch_size, **spec.get("params", {})), ""
    except MethodNotApplicable as exc:
        return np.full((len(x), 1, *x.shape[2:]), np.nan, dtype=np.float32), f"not applicable: {exc}"


def randomisation_job(pair: Pair, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The whole view for one pair: the long table (one row per method, step and image), the arrays
    (``maps``: methods x steps x ``n_show`` images x H x W, the images, layer names) and what the figures
    need. ``settings["methods"]`` maps a name to ``{"method", "params"}``."""
    from xaibench.datasets import evaluation_subset

    dataset, methods = pair.dataset, settings["methods"]
    n = min(int(settings["n_samples"]), len(dataset.indices("test")))
    n_show = min(int(settings.get("n_show", 1)), n)
    batch_size = int(settings.get("batch_size", 64))
    idx = evaluation_subset(dataset, n, seed)
    x = torch.from_numpy(dataset.images[idx]).to(pair.device)
    y = torch.from_numpy(dataset.labels[idx]).to(pair.device)
    layers = parameterised_layers(pair.model)
    if not layers:
        raise ValueError("cascading_randomisation: the model has no layer with a weight parameter")
    maps = np.full((len(methods), len(layers) + 1, n_show, *x.shape[2:]), np.nan, dtype=np.float32)
    reference: dict[str, np.ndarray] = {}
    rows, names, types = [], [], []
    seconds = dict.fromkeys(methods, 0.0)
    start = time.perf_counter()
    for step, layer, kind, model in cascade(pair.model, seed):
        names.append(layer)
        types.append(kind)
        for m, (name, spec) in enumerate(methods.items()):
            began = time.perf_counter()
            attr, note = _explain(spec, model, x, y, batch_size)
            seconds[name] += time.perf_counter() - began
            reference.setdefault(name, attr)
            maps[m, step] = attr[:n_show, 0]
            for i in range(n):
                scores, why = map_similarity(reference[name][i, 0], attr[i, 0])
                rows.append(
                    {"method": name, "step": step, "layer": layer, "layer_type": kind, "sample": int(idx[i]),
                     "label": int(dataset.labels[idx[i]]), **scores, "note": note or why}
                )  # fmt: skip
    table = pd.DataFrame(rows)
    if not settings.get("include_original", True):
        table = table[table["step"] > 0].reset_index(drop=True)
    arrays = {
        "maps": maps,
        "images": dataset.images[idx[:n_show]],
        "indices": idx,
        "labels": dataset.labels[idx],
        "methods": np.array(list(methods), dtype=str),
        "layers": np.array(names, dtype=str),
        "layer_types": np.array(types, dtype=str),
    }
    return {
        "table": table,
        "arrays": arrays,
        "class_names": dataset.class_names,
        "value_range": (float(dataset.images.min()), float(dataset.images.max())),
        "seconds": {
            "total": round(time.perf_counter() - start, 3),
            **{k: round(v, 3) for k, v in seconds.items()},
        },
    }
