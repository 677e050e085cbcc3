"""Whole-run tables from per-job outputs (pandas/numpy only: no torch, no Quantus)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xaibench.explanations import load_explanation
from xaibench.io import load_table


def concat_tables(paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate tab-separated tables, naming the file that cannot be read."""
    frames = []
    for path in paths:
        try:
            frames.append(load_table(path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read table {path}: {exc}") from exc
    return pd.concat(frames, ignore_index=True)


# dataset -> model -> replicate -> path (or -> method -> path): the rules' params (rules/common.smk run_files)
RunFiles = Mapping[str, Mapping[str, Mapping[int, Any]]]


def run_items(files: RunFiles) -> Iterator[tuple[str, str, int, Any]]:
    """(dataset, model, replicate, value) of a mapping dataset -> model -> replicate -> value, in order."""
    for dataset, models in files.items():
        for model, replicates in models.items():
            for replicate, value in replicates.items():
                yield dataset, model, int(replicate), value


def explain_timing(explanations: RunFiles) -> pd.DataFrame:
    """Wall time per method and run, read from the attribution files (dataset -> model -> replicate ->
    method -> path)."""
    rows = []
    for dataset, model, replicate, methods in run_items(explanations):
        for method, path in methods.items():
            expl = load_explanation(path, method)
            n = len(expl["indices"])
            seconds = float(expl["seconds"])
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "replicate": replicate,
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


def training_table(histories: RunFiles, test_metrics: RunFiles) -> pd.DataFrame:
    """One row per (dataset, model, replicate): final-epoch training/validation numbers and test accuracy
    (both arguments: dataset -> model -> replicate -> path)."""
    rows = []
    for dataset, model, replicate, hist_path in run_items(histories):
        last = load_table(hist_path).iloc[-1]
        metrics = json.loads(Path(test_metrics[dataset][model][replicate]).read_text())
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "replicate": replicate,
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


def load_histories(histories: RunFiles) -> pd.DataFrame:
    """Training histories (dataset -> model -> replicate -> path) stacked with a ``run`` column
    "dataset/model" ("dataset/model/seed<replicate>" where a dataset has several replicates)."""
    frames = []
    for dataset, model, replicate, path in run_items(histories):
        frame = load_table(path)
        several = len(histories[dataset][model]) > 1
        frame.insert(0, "run", f"{dataset}/{model}" + (f"/seed{replicate}" if several else ""))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def explanation_panels(data: RunFiles, explanations: RunFiles, n_samples: int) -> list:
    """One :class:`xaibench.figures.ExplanationPanel` per run of ``explanations`` (dataset -> model ->
    replicate -> method -> path, the methods in column order; the rules pass each pair's first replicate):
    its first ``n_samples`` evaluation images (from ``data``: dataset -> model -> replicate -> path) with the
    maps of every method."""
    from xaibench.datasets import load_dataset
    from xaibench.figures import ExplanationPanel

    panels = []
    for dataset_name, model_name, replicate, methods in run_items(explanations):
        dataset = load_dataset(data[dataset_name][model_name][replicate])
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
