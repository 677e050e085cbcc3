"""Class discrimination (seed 003, Fang 2023, Fig. 3-4; Selvaraju et al. 2017): does an explanation of
class *c* highlight the region of class *c* when an image holds objects of two classes?

None of the training images holds two classes, so the test builds **composites**: one object of each of two
classes in one image, drawn by the dataset's own geometry from the stored parameters of real test images
(:data:`COMPOSITES`, keyed by the dataset's *generator*; :func:`register_composite`). The region of each class
is known exactly. Every composite is explained once per class present; for the map of class *c*:

* ``share_own``: the share of the positive relevance inside the region of class *c*;
* ``share_other``: the share inside the other class's region.

A class-discriminative method puts more of class *c*'s relevance on *c*'s object, whichever object the model
prefers: ``discrimination`` = mean over the two classes of (share_own − share_other), in [−1, 1]. Because each
region is once "own" and once "other", a map that ignores the class (the same map for both targets) scores
exactly 0 whatever the objects' areas, and a method that always highlights the larger object scores 0 too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xaibench.datasets.core import ImageDataset
from xaibench.datasets.triangles_squares import polygon_vertices, rasterise_convex
from xaibench.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "COMPOSITES",
    "Composite",
    "class_region_table",
    "composites_for",
    "discrimination",
    "method_intervals",
    "region_shares",
    "register_composite",
]


@dataclass
class Composite:
    """``images`` (N, C, H, W); ``regions`` (N, 2, H, W) bool, the region of ``classes[:, j]``; ``classes``
    (N, 2) the two classes present; ``sources`` (N, 2) the test samples whose parameters drew each object;
    ``scale`` (N, 2) each object's size relative to its source's (1: as in the training data; below 1 the
    composite shows it smaller than the model ever saw it)."""

    images: np.ndarray
    regions: np.ndarray
    classes: np.ndarray
    sources: np.ndarray
    scale: np.ndarray


Builder = Callable[[ImageDataset, int, np.random.Generator], Composite]
COMPOSITES: Registry[Builder] = Registry("two-class composite of a dataset generator")


def register_composite(generator: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``build(dataset, n, rng) -> Composite`` for datasets made by ``generator``."""
    return COMPOSITES.register(generator)


def composites_for(generator: str) -> Builder:
    """The composite builder of ``generator``'s datasets (an error lists the generators that have one)."""
    return COMPOSITES.get(generator)


@register_composite("triangles_squares")
def triangle_square_composites(dataset: ImageDataset, n: int, rng: np.random.Generator) -> Composite:
    """A triangle and a square side by side (each in its own half, the side drawn at random), with the
    radius and angle of a random test triangle and test square, on the grey levels of the triangle's image.
    A radius is capped at side/4 − 0.5 px so that both circumscribed circles fit their halves (Triangles &
    Squares' rotation set draws radius 0.8 · side/2: its objects are shrunk; the scale set's mostly are not).
    """
    side = dataset.images.shape[-1]
    test = dataset.indices("test")
    sources = np.stack(
        [rng.choice(test[dataset.labels[test] == cls], size=n) for cls in (0, 1)], axis=1
    )  # (n, 2): a triangle's and a square's sample
    params = dataset.params
    radius = np.minimum(params["radius"][sources], side / 4 - 0.5)
    scale = radius / params["radius"][sources]
    left = rng.integers(0, 2, size=n)  # which class is drawn in the left half
    regions = np.zeros((n, 2, side, side), dtype=bool)
    for j, n_corners in ((0, 3), (1, 4)):
        r = radius[:, j]
        x0 = np.where(left == j, 0.0, side / 2)
        centre = np.stack([rng.uniform(x0 + r, x0 + side / 2 - r), rng.uniform(r, side - r)], axis=1)
        vertices = polygon_vertices(n_corners, centre, r, params["angle"][sources[:, j]])
        regions[:, j] = rasterise_convex(vertices, side)
    fg, bg = params["foreground"][sources[:, 0]], params["background"][sources[:, 0]]
    inside = regions.any(1, keepdims=True)
    images = np.where(inside, fg[:, None, None, None], bg[:, None, None, None]).astype(np.float32)
    images = np.repeat(images, dataset.images.shape[1], axis=1)
    return Composite(images, regions, np.tile([0, 1], (n, 1)), sources, scale)


def region_shares(maps: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Share of each map's positive relevance (summed over channels) inside each region: maps (N, C, H, W),
    regions (N, R, H, W) -> (N, R); NaN where a map has no positive relevance."""
    relevance = np.clip(maps.astype(np.float64), 0, None).sum(1)
    total = relevance.sum((1, 2))
    inside = (relevance[:, None] * regions).sum((2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, inside / total[:, None], np.nan)


def _probabilities(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(images).softmax(1).cpu().numpy()


def class_region_table(
    model: nn.Module,
    composite: Composite,
    methods: dict[str, dict[str, Any]],
    class_names: list[str],
    device: str = "cpu",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One row per (composite, method, class present): the shares of that class's map in its own and the
    other class's region, the model's prediction and probability of the class. Also the maps (method ->
    (N, 2, H, W), the map of ``classes[:, j]`` at j) for the figure. A method that does not apply to the
    model is left out of the table (its maps NaN) with the reason in ``note``."""
    import torch

    from xaibench.methods import MethodNotApplicable, explain

    model.eval()
    x = torch.from_numpy(composite.images).to(device)
    probs = _probabilities(model, x)
    n = len(x)
    rows, maps = [], {}
    area = composite.regions.sum((2, 3))
    for name, spec in methods.items():
        per_class = np.full((n, 2, *x.shape[2:]), np.nan, dtype=np.float32)
        for j in range(2):
            targets = torch.from_numpy(composite.classes[:, j]).to(device)
            try:
                attribution = explain(spec["method"], model, x, targets, **spec.get("params", {}))
            except MethodNotApplicable as exc:
                rows.append({"method": name, "note": f"not applicable: {exc}"})
                break
            attribution = np.asarray(attribution, dtype=np.float32)
            per_class[:, j] = attribution.sum(1)
            shares = region_shares(attribution, composite.regions)
            for i in range(n):
                cls = int(composite.classes[i, j])
                rows.append(
                    {
                        "composite": i,
                        "source_own": int(composite.sources[i, j]),
                        "source_other": int(composite.sources[i, 1 - j]),
                        "method": name,
                        "target_class": cls,
                        "target_name": class_names[cls],
                        "share_own": shares[i, j],
                        "share_other": shares[i, 1 - j],
                        "area_own": int(area[i, j]),
                        "area_other": int(area[i, 1 - j]),
                        "scale_own": float(composite.scale[i, j]),
                        "scale_other": float(composite.scale[i, 1 - j]),
                        "prediction": int(probs[i].argmax()),
                        "probability": float(probs[i, cls]),
                        "note": "",
                    }
                )
        maps[name] = per_class
    return pd.DataFrame(rows), maps


def discrimination(table: pd.DataFrame) -> pd.DataFrame:
    """Per (composite, method): the mean over the classes present of share_own − share_other (NaN when a
    class's map has no positive relevance), with the composite's sources for clustering."""
    rows = table.dropna(subset=["composite"]).assign(
        difference=lambda frame: frame["share_own"] - frame["share_other"]
    )
    keys = [key for key in ("dataset", "model", "replicate") if key in rows]
    return (
        rows.groupby([*keys, "method", "composite"], sort=False)["difference"]
        .agg(lambda values: values.mean() if values.notna().all() else np.nan)
        .rename("discrimination")
        .reset_index()
    )


def method_intervals(summary: pd.DataFrame, *, seed: int, n_boot: int) -> pd.DataFrame:
    """Per method (in first-seen order): the mean discrimination over the composites with its 95 % bootstrap
    interval, and the number of composites with a finite value."""
    from xaibench.stats.bootstrap import group_rng, hierarchical_bootstrap

    rows = []
    for method, group in summary.groupby("method", sort=False):
        values = group["discrimination"].to_numpy(float)
        values = values[np.isfinite(values)]
        low = high = mean = np.nan
        if values.size:
            mean = float(values.mean())
            low, high = hierarchical_bootstrap(
                [values], n_boot=n_boot, rng=group_rng(seed, "class_regions", method)
            )
        rows.append({"method": method, "mean": mean, "ci_low": low, "ci_high": high, "n": int(values.size)})
    return pd.DataFrame(rows)
