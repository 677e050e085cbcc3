"""Figures: every plot writes a real PNG and PDF; score normalisation respects directions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from xaibench.plots import (
    ExplanationPanel,
    normalise_scores,
    plot_explanation_grid,
    plot_faithfulness_curves,
    plot_metric_heatmap,
    plot_training_curves,
)

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["gradcam", "lime", "occlusion", "saliency", "random", "sobel"]


def _assert_figure(png: Path) -> None:
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01, f"{png} is blank"
    assert png.with_suffix(".pdf").stat().st_size > 1000


def _summary() -> pd.DataFrame:
    rows = []
    for metric, category, direction in [
        ("pixel_flipping", "Faithfulness", "lower"),
        ("pointing_game", "Localisation", "higher"),
        ("complexity", "Complexity", "lower"),
        ("random_logit", "Randomisation", "none"),
    ]:
        for i, method in enumerate(METHODS):
            rows.append(
                {
                    "dataset": "ts_rotation",
                    "model": "small_cnn",
                    "method": method,
                    "metric": metric,
                    "category": category,
                    "direction": direction,
                    "mean": float(i),
                    "std": 0.1,
                    "ci95_low": i - 0.1,
                    "ci95_high": i + 0.1,
                    "n": 8,
                    "n_nonfinite": 0,
                }
            )
    return pd.DataFrame(rows)


def test_normalise_scores_makes_the_best_method_one():
    scores = normalise_scores(_summary()).set_index(["metric", "method"])["score"]
    # higher is better: the largest mean gets 1; lower is better: the smallest mean gets 1
    assert scores["pointing_game", METHODS[-1]] == 1.0 and scores["pointing_game", METHODS[0]] == 0.0
    assert scores["pixel_flipping", METHODS[0]] == 1.0 and scores["pixel_flipping", METHODS[-1]] == 0.0
    assert scores.between(0, 1).all()


def test_normalise_scores_keeps_nan():
    summary = _summary()
    summary.loc[0, "mean"] = np.nan
    assert np.isnan(normalise_scores(summary).loc[0, "score"])


def test_explanation_grid(tmp_path):
    rng = np.random.default_rng(0)
    images = np.full((3, 1, 32, 32), 0.2, dtype=np.float32)
    images[:, :, 8:24, 8:24] = 0.8
    maps = {m: rng.normal(size=(3, 1, 32, 32)).astype(np.float32) for m in METHODS}
    maps["gradcam"] = np.abs(maps["gradcam"])
    panel = ExplanationPanel(
        title="ts_rotation / small_cnn",
        images=images,
        maps=maps,
        labels=["square"] * 3,
        predictions=["square", "triangle", "square"],
        masks=images > 0.5,
    )
    png = tmp_path / "grid.png"
    plot_explanation_grid([panel, panel], METHODS, png, tmp_path / "grid.pdf")
    _assert_figure(png)


def test_metric_heatmap_with_nan_cells(tmp_path):
    summary = _summary()
    summary.loc[3, ["mean", "ci95_low", "ci95_high"]] = np.nan
    summary.loc[3, "n_nonfinite"] = 8
    png = tmp_path / "heatmap.png"
    plot_metric_heatmap(summary, png, tmp_path / "heatmap.pdf", title="scores")
    _assert_figure(png)


def test_faithfulness_curves(tmp_path):
    rng = np.random.default_rng(0)
    curves = {m: np.cumsum(rng.random((8, 16)), axis=1) for m in METHODS}
    curves["lime"][0, 3] = np.nan
    png = tmp_path / "curves.png"
    plot_faithfulness_curves(curves, png, tmp_path / "curves.pdf", title="pixel flipping")
    _assert_figure(png)
    with pytest.raises(ValueError):
        plot_faithfulness_curves({"a": np.zeros((2, 5)), "b": np.zeros((2, 6))}, tmp_path / "bad.png")


def test_training_curves(tmp_path):
    history = pd.DataFrame(
        {
            "run": ["a/m"] * 3 + ["b/m"] * 3,
            "epoch": [1, 2, 3] * 2,
            "train_loss": [0.7, 0.3, 0.1, 0.6, 0.4, 0.2],
            "val_loss": [0.6, 0.3, 0.2, 0.7, 0.5, 0.3],
            "train_acc": [0.5, 0.8, 0.95, 0.6, 0.7, 0.9],
            "val_acc": [0.55, 0.85, 0.97, 0.5, 0.75, 0.88],
        }
    )
    png = tmp_path / "training.png"
    plot_training_curves(history, png, tmp_path / "training.pdf", title="training")
    _assert_figure(png)


def test_plots_do_not_import_torch():
    code = "import sys, xaibench.plots; assert 'torch' not in sys.modules, 'torch imported'"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
