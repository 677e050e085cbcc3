"""Whole-run tables from per-job outputs (pandas/numpy only: no torch, no Quantus)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xaibench.explanations import load_explanation


def concat_tables(paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate tab-separated tables, naming the file that cannot be read."""
    frames = []
    for path in paths:
        try:
            frames.append(pd.read_csv(path, sep="\t"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read table {path}: {exc}") from exc
    return pd.concat(frames, ignore_index=True)


PairFiles = Mapping[str, Mapping[str, Any]]  # dataset -> model -> path (or -> method -> path)


def pair_items(files: PairFiles) -> Iterator[tuple[str, str, Any]]:
    """(dataset, model, value) of a mapping dataset -> model -> value (the rules' params), in order."""
    for dataset, models in files.items():
        for model, value in models.items():
            yield dataset, model, value


def explain_timing(explanations: PairFiles) -> pd.DataFrame:
    """Wall time per explanation job, read from the attribution files (dataset -> model -> method -> path)."""
    rows = []
    for dataset, model, methods in pair_items(explanations):
        for method, path in methods.items():
            expl = load_explanation(path, method)
            n = len(expl["indices"])
            seconds = float(expl["seconds"])
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "method": method,
                    "stage": "explain",
                    "metric": "",
                    "seconds": seconds,
                    "n": n,
                    "seconds_per_image": seconds / n,
                    "nonfinite_values": int((~np.isfinite(expl["attributions"])).sum()),
                }
            )
    return pd.DataFrame(rows)


def training_table(histories: PairFiles, test_metrics: PairFiles) -> pd.DataFrame:
    """One row per (dataset, model): final-epoch training/validation numbers and test accuracy (both
    arguments: dataset -> model -> path)."""
    rows = []
    for dataset, model, hist_path in pair_items(histories):
        last = pd.read_csv(hist_path, sep="\t").iloc[-1]
        metrics = json.loads(Path(test_metrics[dataset][model]).read_text())
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "epochs": int(last["epoch"]),
                "train_loss": last["train_loss"],
                "train_acc": last["train_acc"],
                "val_acc": last["val_acc"],
                "test_accuracy": metrics["test_accuracy"],
                "n_test": metrics["n_test"],
                "device": metrics["device"],
            }
        )
    return pd.DataFrame(rows)


def load_histories(histories: PairFiles) -> pd.DataFrame:
    """Training histories (dataset -> model -> path) stacked with a ``run`` column "dataset/model"."""
    frames = []
    for dataset, model, path in pair_items(histories):
        frame = pd.read_csv(path, sep="\t")
        frame.insert(0, "run", f"{dataset}/{model}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def explanation_panels(data: Mapping[str, str], explanations: PairFiles, n_samples: int) -> list:
    """One :class:`xaibench.figures.ExplanationPanel` per (dataset, model) of ``explanations`` (dataset ->
    model -> method -> path, the methods in column order): its first ``n_samples`` evaluation images (from
    ``data``: dataset -> path) with the maps of every method."""
    from xaibench.datasets import load_dataset
    from xaibench.figures import ExplanationPanel

    panels = []
    for dataset_name, model_name, methods in pair_items(explanations):
        dataset = load_dataset(data[dataset_name])
        maps, first = {}, None
        for method, path in methods.items():
            expl = load_explanation(path, method)
            first = first or expl
            maps[method] = expl["attributions"][:n_samples]
        idx = first["indices"][:n_samples]
        names = dataset.class_names
        panels.append(
            ExplanationPanel(
                title=f"{dataset_name} / {model_name}",
                images=dataset.images[idx],
                maps=maps,
                labels=[names[i] for i in first["labels"][:n_samples]],
                predictions=[names[i] for i in first["predictions"][:n_samples]],
                masks=None if dataset.masks is None else dataset.masks[idx],
            )
        )
    return panels
