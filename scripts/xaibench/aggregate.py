"""Whole-run tables from per-job outputs (pandas/numpy only: no torch, no Quantus)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from xaibench.io import load_npz


def concat_tables(paths: Sequence[str]) -> pd.DataFrame:
    """Concatenate tab-separated tables, naming the file that cannot be read."""
    frames = []
    for path in paths:
        try:
            frames.append(pd.read_csv(path, sep="\t"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read table {path}: {exc}") from exc
    return pd.concat(frames, ignore_index=True)


def _pair_of(path: str, depth: int) -> tuple[str, str]:
    """(dataset, model) from results/<stage>/<dataset>/<model>/<file>."""
    parts = Path(path).parts
    return parts[-depth], parts[-depth + 1]


def explain_timing(paths: Sequence[str]) -> pd.DataFrame:
    """Wall time per explanation job, read from the attribution files."""
    rows = []
    for path in paths:
        expl = load_npz(path)
        dataset, model = _pair_of(path, 3)
        n = len(expl["indices"])
        seconds = float(expl["seconds"])
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "method": Path(path).stem,
                "stage": "explain",
                "metric": "",
                "seconds": seconds,
                "n": n,
                "seconds_per_image": seconds / n,
                "nonfinite_values": int((~np.isfinite(expl["attributions"])).sum()),
            }
        )
    return pd.DataFrame(rows)


def training_table(histories: Sequence[str], test_metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (dataset, model): final-epoch training/validation numbers and test accuracy."""
    rows = []
    for hist_path, metrics_path in zip(histories, test_metrics, strict=True):
        dataset, model = _pair_of(hist_path, 3)
        last = pd.read_csv(hist_path, sep="\t").iloc[-1]
        metrics = json.loads(Path(metrics_path).read_text())
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


def load_histories(paths: Sequence[str]) -> pd.DataFrame:
    """Training histories stacked with a ``run`` column "dataset/model"."""
    frames = []
    for path in paths:
        dataset, model = _pair_of(path, 3)
        frame = pd.read_csv(path, sep="\t")
        frame.insert(0, "run", f"{dataset}/{model}")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def explanation_panels(
    pairs: Sequence[str], data_dir: str, explanations_dir: str, methods: Sequence[str], n_samples: int
) -> list:
    """One :class:`xaibench.figures.ExplanationPanel` per "dataset/model" pair: its first ``n_samples``
    evaluation images with the maps of ``methods`` read from ``explanations_dir/<pair>/<method>.npz``."""
    from xaibench.datasets import load_dataset
    from xaibench.figures import ExplanationPanel

    panels = []
    for pair in pairs:
        dataset_name, _ = pair.split("/")
        dataset = load_dataset(f"{data_dir}/{dataset_name}.npz")
        maps, first = {}, None
        for method in methods:
            expl = load_npz(f"{explanations_dir}/{pair}/{method}.npz")
            first = first or expl
            maps[method] = expl["attributions"][:n_samples]
        idx = first["indices"][:n_samples]
        names = dataset.class_names
        panels.append(
            ExplanationPanel(
                title=pair.replace("/", " / "),
                images=dataset.images[idx],
                maps=maps,
                labels=[names[i] for i in first["labels"][:n_samples]],
                predictions=[names[i] for i in first["predictions"][:n_samples]],
                masks=None if dataset.masks is None else dataset.masks[idx],
            )
        )
    return panels
