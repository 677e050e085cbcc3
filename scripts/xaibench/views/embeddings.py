"""Embeddings of the model's penultimate features (seeds 001, 003): t-SNE and UMAP of the test set.

The features are the input of the final linear layer, read by a forward hook: the same code serves
``small_cnn`` (``head.3``), ResNet (``fc``), DenseNet (``classifier``) and EfficientNet (``classifier.1``).
The layer is found as the last ``nn.Linear`` registered in the model, and the hook checks that its output *is*
the model's output (so a model with a different head fails loudly rather than embedding the wrong layer).

Features wider than ``pca_dims`` are first reduced by PCA (the usual preprocessing for t-SNE/UMAP); then
scikit-learn's t-SNE and umap-learn's UMAP map them to 2D, both seeded (``random_state``). UMAP is given an
exact k-nearest-neighbour graph from scikit-learn, which skips umap's own numba-compiled neighbour search
(~5 s of JIT per process), and its two parallel numba kernels are re-jitted with ``cache=True`` so that later
processes load them from numba's on-disk cache instead of compiling them again (~5 s -> ~0 s).
Silhouette scores of the true classes (features, t-SNE, UMAP) measure how separated the classes are.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

if TYPE_CHECKING:
    from xaibench.pairs import Pair

log = logging.getLogger(__name__)

__all__ = [
    "embedding_job",
    "final_linear",
    "penultimate_features",
    "silhouette",
    "tsne_2d",
    "umap_2d",
]


def final_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The last ``nn.Linear`` registered in ``model`` (its classifier), with its name."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to read penultimate features from")
    return found[-1]


@torch.no_grad()
def penultimate_features(
    model: nn.Module, images: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of the final linear layer (N, D) and the logits (N, K) for float images (N, C, H, W)."""
    name, linear = final_linear(model)
    device = next(model.parameters()).device
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured["in"], captured["out"] = inputs[0], output

    model.eval()
    features, logits = [], []
    handle = linear.register_forward_hook(hook)
    try:
        for start in range(0, len(images), batch_size):
            out = model(torch.from_numpy(images[start : start + batch_size]).to(device))
            if captured["out"].shape != out.shape or not torch.equal(captured["out"], out):
                raise ValueError(
                    f"layer {name!r} is not the model's output layer; cannot read penultimate features"
                )
            features.append(captured["in"].flatten(1).float().cpu())
            logits.append(out.float().cpu())
    finally:
        handle.remove()
    return torch.cat(features).numpy(), torch.cat(logits).numpy()


def _reduce(features: np.ndarray, pca_dims: int, seed: int) -> np.ndarray:
    x = features.astype(np.float64)
    if x.shape[1] > pca_dims and len(x) > pca_dims:
        from sklearn.decomposition import PCA

        x = PCA(n_components=pca_dims, random_state=seed).fit_transform(x)
    return x.astype(np.float32)


def _n_points(features: np.ndarray, minimum: int, method: str) -> int:
    """The number of points, checked against the least ``method`` needs."""
    n = len(features)
    if n < minimum:
        raise ValueError(f"{method} needs at least {minimum} points, got {n}")
    return n


def tsne_2d(
    features: np.ndarray, *, perplexity: float = 30.0, max_iter: int = 500, seed: int = 0
) -> np.ndarray:
    """Seeded 2D t-SNE (PCA initialisation); the perplexity is capped at (n - 1) / 3 for small n."""
    n = _n_points(features, 4, "t-SNE")
    from sklearn.manifold import TSNE

    perplexity = min(float(perplexity), (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=max_iter, init="pca", random_state=seed)
    return tsne.fit_transform(features).astype(np.float32)


def _cached_umap_kernels() -> None:
    """Re-jit umap's parallel kernels with ``cache=True`` (umap-learn compiles them in every process)."""
    import numba
    import umap.umap_ as umap_module

    for name in ("smooth_knn_dist", "compute_membership_strengths"):
        fn = getattr(umap_module, name, None)
        py_func = getattr(fn, "py_func", None)
        if py_func is None or getattr(fn, "_xaibench_cached", False):
            continue
        cached = numba.njit(cache=True, **fn.targetoptions)(py_func)
        cached._xaibench_cached = True
        setattr(umap_module, name, cached)


def umap_2d(
    features: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0
) -> np.ndarray:
    """Seeded 2D UMAP on an exact kNN graph; ``n_neighbors`` is capped at n - 1.

    umap's parallel numba kernels set the OpenMP thread count that torch shares (to all cores); torch's own
    count is put back afterwards, so that a job keeps its ``threads:`` (two intra-op threads on a machine
    whose other core runs another job stall each other: tests/conftest.py measured 20-50x slower)."""
    n = _n_points(features, 3, "UMAP")
    from sklearn.neighbors import NearestNeighbors

    k = max(2, min(int(n_neighbors), n - 1))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(features)
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", tiny-n spectral warnings
            import umap

            _cached_umap_kernels()
            reducer = umap.UMAP(
                n_neighbors=k,
                min_dist=min_dist,
                random_state=seed,
                n_jobs=1,
                precomputed_knn=(idx, dist.astype(np.float32), None),
                init="spectral" if n > k + 1 else "random",
            )
            return reducer.fit_transform(features).astype(np.float32)
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of the true classes (NaN with fewer than 2 classes or too few points)."""
    from sklearn.metrics import silhouette_score

    n_classes = len(np.unique(labels))
    if n_classes < 2 or n_classes >= len(labels):
        return float("nan")
    return float(silhouette_score(points, labels))


def embedding_job(pair: Pair, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Features of up to ``n_points`` seeded test images of a (dataset, model) pair, their t-SNE and UMAP
    coordinates and a summary.

    Returns ``table`` (sample, label, prediction, correct, tsne_x, tsne_y, umap_x, umap_y), ``arrays`` to
    save (features, logits, indices, labels), ``summary`` (accuracy, silhouettes, timings) and
    ``class_names``.
    """
    from xaibench.datasets import evaluation_subset

    dataset, model = pair.dataset, pair.model
    idx = evaluation_subset(dataset, min(int(settings["n_points"]), len(dataset.indices("test"))), seed)
    start = time.perf_counter()
    features, logits = penultimate_features(model, dataset.images[idx])
    labels, predictions = dataset.labels[idx], logits.argmax(1)
    reduced = _reduce(features, int(settings["pca_dims"]), seed)
    times = {"features": time.perf_counter() - start}
    start = time.perf_counter()
    tsne = tsne_2d(reduced, perplexity=settings["perplexity"], max_iter=settings["tsne_max_iter"], seed=seed)
    times["tsne"] = time.perf_counter() - start
    start = time.perf_counter()
    umap = umap_2d(reduced, n_neighbors=settings["n_neighbors"], min_dist=settings["min_dist"], seed=seed)
    times["umap"] = time.perf_counter() - start
    table = pd.DataFrame(
        {
            "sample": idx,
            "label": labels,
            "prediction": predictions,
            "correct": labels == predictions,
            "tsne_x": tsne[:, 0],
            "tsne_y": tsne[:, 1],
            "umap_x": umap[:, 0],
            "umap_y": umap[:, 1],
        }
    )
    summary = {
        "n_points": len(idx),
        "feature_dim": int(features.shape[1]),
        "layer": final_linear(model)[0],
        "accuracy": float((labels == predictions).mean()),
        "silhouette_features": silhouette(reduced, labels),
        "silhouette_tsne": silhouette(tsne, labels),
        "silhouette_umap": silhouette(umap, labels),
        **{f"seconds_{k}": round(v, 3) for k, v in times.items()},
    }
    arrays = {"features": features, "logits": logits, "indices": idx, "labels": labels}
    return {"table": table, "arrays": arrays, "summary": summary, "class_names": dataset.class_names}
