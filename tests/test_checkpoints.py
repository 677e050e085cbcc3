"""Training checkpoints and heatmap statistics along training (seed 000: they track accuracy)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from xaibench.claims.checkpoints import accuracy_correlation, checkpoint_table, fisher_interval
from xaibench.datasets import make_dataset, save_dataset
from xaibench.methods import explain
from xaibench.metrics.gaussian import gaussian_spread
from xaibench.metrics.overlap import mask_overlap
from xaibench.models import load_checkpoints, save_checkpoints, save_model
from xaibench.training import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_dataset("triangles_squares", seed=0, image_size=32, n_train=192, n_val=32, n_test=48)
    kept = train(
        data, "small_cnn", {"width": 4}, epochs=3, batch_size=32, lr=0.003, seed=0, checkpoints=[1, 3]
    )
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {name: str(folder / name) for name in ("data.npz", "model.pt", "checkpoints.pt")}
    save_dataset(paths["data.npz"], data)
    save_model(paths["model.pt"], kept.model, kept.spec)
    save_checkpoints(paths["checkpoints.pt"], kept.spec, kept.checkpoints)
    return data, kept, paths


def test_keeping_checkpoints_leaves_the_trained_model_unchanged(trained):
    data, kept, _ = trained
    plain = train(data, "small_cnn", {"width": 4}, epochs=3, batch_size=32, lr=0.003, seed=0)
    for (name, a), b in zip(kept.model.state_dict().items(), plain.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert sorted(kept.checkpoints) == [1, 3]
    # the last epoch's checkpoint is the trained model; the first differs from it
    for name, value in kept.model.state_dict().items():
        assert torch.equal(kept.checkpoints[3][name], value.cpu()), name
    assert any(not torch.equal(kept.checkpoints[1][k], v) for k, v in kept.checkpoints[3].items())


def test_checkpoint_epochs_outside_training_are_refused():
    data = make_dataset("triangles_squares", seed=0, image_size=32, n_train=32, n_val=8, n_test=8)
    with pytest.raises(ValueError, match=r"training.checkpoints \[4\]"):
        train(data, "small_cnn", {"width": 4}, epochs=3, batch_size=32, lr=0.003, checkpoints=[1, 4])


def test_checkpoint_table_equals_the_plain_functions(trained):
    data, kept, paths = trained
    table = checkpoint_table(
        paths["data.npz"],
        paths["model.pt"],
        paths["checkpoints.pt"],
        {"method": "gradcam"},
        n_samples=6,
        seed=2,
    )
    assert sorted(pd.unique(table["epoch"])) == [-1, 1, 3]
    assert table.groupby("epoch").size().tolist() == [6, 6, 6]
    test = data.indices("test")
    models = load_checkpoints(paths["checkpoints.pt"])
    for epoch, model in models.items():
        rows = table[table["epoch"] == epoch]
        with torch.no_grad():
            predicted = model(torch.from_numpy(data.images[test])).argmax(1).numpy()
        assert rows["accuracy"].iloc[0] == pytest.approx((predicted == data.labels[test]).mean(), abs=1e-12)
        subset = rows["sample"].to_numpy()
        maps = explain(
            "gradcam", model, torch.from_numpy(data.images[subset]), torch.from_numpy(data.labels[subset])
        )
        np.testing.assert_allclose(rows["gaussian_spread"], gaussian_spread(maps[:, 0]), rtol=1e-12)
        np.testing.assert_allclose(
            rows["mask_iou"], mask_overlap(maps[:, 0], data.masks[subset, 0]), rtol=1e-12
        )
    final, last = table[table["final"]], table[table["epoch"] == 3]
    np.testing.assert_array_equal(final["gaussian_spread"].to_numpy(), last["gaussian_spread"].to_numpy())
    assert final["accuracy"].iloc[0] == pytest.approx(kept.test_metrics["test_accuracy"], abs=1e-12)


def test_accuracy_correlation_known_answers():
    rng = np.random.default_rng(0)
    rows = []
    for replicate in (0, 1):
        for epoch, (accuracy, spread) in enumerate([(0.5, 0.30), (0.6, 0.28), (0.7, 0.22), (0.9, 0.21)]):
            for sample in range(3):
                rows.append(dict(replicate=replicate, epoch=epoch, accuracy=accuracy + replicate / 100,
                                 gaussian_spread=spread + rng.normal(scale=1e-4), sample=sample))  # fmt: skip
    table = pd.DataFrame(rows)
    result = accuracy_correlation(table, "gaussian_spread")
    means = table.groupby(["replicate", "epoch"])[["accuracy", "gaussian_spread"]].mean()
    expected = stats.spearmanr(means["accuracy"], means["gaussian_spread"])
    assert result["rho"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert result["n"] == 8
    assert result["rho"] < -0.8
    assert result["ci_low"] < result["rho"] < result["ci_high"] < 0


def test_fisher_interval_by_hand():
    low, high = fisher_interval(0.5, 12)
    half = stats.norm.ppf(0.975) * math.sqrt(1.06 / 9)
    assert low == pytest.approx(math.tanh(math.atanh(0.5) - half), rel=1e-12)
    assert high == pytest.approx(math.tanh(math.atanh(0.5) + half), rel=1e-12)
    assert all(math.isnan(v) for v in fisher_interval(1.0, 12) + fisher_interval(0.3, 3))
