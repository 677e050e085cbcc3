"""Difficulty sweeps: one level end to end (data, model, explanations, scores), the summary, the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

SWEEP = {
    "generator": "triangles_squares",
    "params": {"image_size": 32, "n_train": 200, "n_val": 32, "n_test": 32},
    "value_param": "min_contrast",
    "value": 0.5,
    "architecture": "small_cnn",
    "model_params": {"width": 4},
    "training": {"epochs": 1, "batch_size": 64, "lr": 0.003},
    "methods": {"saliency": {"method": "saliency"}, "random": {"method": "random", "params": {}}},
    "metrics": {
        "relevance_mass_accuracy": {"metric": "relevance_mass_accuracy"},
        "sparseness": {"metric": "sparseness"},
    },
    "n_samples": 4,
    "seed": 3,
}


@pytest.fixture(scope="module")
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def level(one_thread):
    from xaibench.sweeps import run_level

    return run_level(**SWEEP)


def test_level_scores_are_the_metrics_on_the_level_explanations(level):
    import torch

    from xaibench.datasets import evaluation_subset
    from xaibench.evaluation import metric_params
    from xaibench.methods import explain, quantus_explain_func
    from xaibench.metrics import evaluate_metric
    from xaibench.runtime import seed_everything

    data, model, seed = level["dataset"], level["model"], SWEEP["seed"]
    idx = evaluation_subset(data, SWEEP["n_samples"], seed)
    np.testing.assert_array_equal(level["indices"], idx)
    np.testing.assert_array_equal(level["targets"], data.labels[idx])  # target: label
    x, s, y = data.images[idx], data.masks[idx], data.labels[idx]
    scores = level["scores"]
    assert len(scores) == 2 * 2 * 4 and np.isfinite(scores["score"]).all()
    for name, spec in SWEEP["methods"].items():
        params = spec.get("params", {})
        seed_everything(seed)  # each method from the seeded state of a job of its own
        maps = explain(
            spec["method"], model, torch.from_numpy(x), torch.from_numpy(y), batch_size=64, **params
        )
        np.testing.assert_array_equal(level["attributions"][name], maps)
        for metric, entry in SWEEP["metrics"].items():
            expected = evaluate_metric(
                entry["metric"],
                model,
                x,
                y,
                maps,
                s,
                explain_func=quantus_explain_func,
                explain_func_kwargs={"method": spec["method"], **params, "device": str(level["device"])},
                params=metric_params(metric, entry),
                batch_size=64,
                device=level["device"],
                seed=seed,
            )
            rows = scores[(scores["method"] == name) & (scores["metric"] == metric)]
            assert rows["sample"].tolist() == idx.tolist()
            np.testing.assert_array_equal(rows["score"].to_numpy(), expected.scores)
            assert set(rows["direction"]) == {expected.direction}
            assert set(rows["category"]) == {expected.category}
    by_method = scores.groupby(["method", "metric"])["score"].mean()
    assert by_method["saliency", "sparseness"] != by_method["random", "sparseness"]


def test_level_accuracy_is_the_trained_model_accuracy(level):
    from xaibench.training import predict

    data = level["dataset"]
    test = data.indices("test")
    predicted = predict(level["model"], data.images[test], level["device"]).argmax(1)
    assert level["n_test"] == len(test) == 32
    assert level["accuracy"] == pytest.approx(float((predicted == data.labels[test]).mean()), abs=0)


def test_level_value_reaches_the_generator(level):
    from xaibench.datasets import make_dataset

    data = level["dataset"]
    fg = np.array([img[m].mean() for img, m in zip(data.images[:, 0], data.masks[:, 0], strict=True)])
    bg = np.array([img[~m].mean() for img, m in zip(data.images[:, 0], data.masks[:, 0], strict=True)])
    assert np.abs(fg - bg).min() >= 0.5 - 1e-6
    np.testing.assert_allclose(
        np.abs(data.params["foreground"] - data.params["background"]), np.abs(fg - bg), atol=1e-6
    )
    default = make_dataset(SWEEP["generator"], seed=SWEEP["seed"], **SWEEP["params"])  # min_contrast 0
    contrast = np.abs(default.params["foreground"] - default.params["background"])
    assert (contrast < 0.5).mean() > 0.3  # the check above is not vacuous


def test_same_seed_same_level(level, one_thread):
    from xaibench.sweeps import run_level

    again = run_level(**SWEEP)
    pd.testing.assert_frame_equal(again["scores"], level["scores"])
    assert again["accuracy"] == level["accuracy"]


def test_mask_metric_without_masks_is_nan_with_a_note(one_thread):
    from xaibench.sweeps import run_level

    result = run_level(
        **{
            **SWEEP,
            "generator": "sklearn_digits",
            "params": {"image_size": 16, "max_per_class": 12},
            "value_param": "test_fraction",
            "value": 0.4,
        }
    )
    scores = result["scores"].set_index(["method", "metric"]).sort_index()
    assert result["n_test"] == (result["dataset"].split == 2).sum() >= 40
    rma = scores.loc[("saliency", "relevance_mass_accuracy")]
    assert rma["score"].isna().all() and set(rma["note"]) == {
        "skipped: the dataset has no ground-truth masks"
    }
    assert np.isfinite(scores.loc[("saliency", "sparseness")]["score"]).all()


def test_level_tables_and_gather(level):
    from xaibench.sweeps import ACCURACY_COLUMNS, gather_levels, level_tables

    tables = [
        level_tables(level, sweep="contrast", param="min_contrast", level=k, value=v)
        for k, v in ((1, 0.5), (0, 0.2))
    ]
    scores = gather_levels([s for s, _ in tables])
    accuracy = gather_levels([a for _, a in tables])
    assert scores.columns[:4].tolist() == ["sweep", "param", "level", "value"]
    assert scores["level"].tolist() == [0] * 16 + [1] * 16  # ordered by level
    np.testing.assert_array_equal(scores["score"].iloc[:16], level["scores"]["score"])
    assert accuracy.columns.tolist() == ACCURACY_COLUMNS
    assert accuracy["value"].tolist() == [0.2, 0.5] and (accuracy["accuracy"] == level["accuracy"]).all()
    with pytest.raises(ValueError, match="several values"):
        gather_levels([tables[0][1], tables[0][1].assign(value=0.9)])
    with pytest.raises(ValueError, match="lacks columns"):
        gather_levels([level["scores"]])


def synthetic(values=(0.1, 0.3, 0.5), n_images=6):
    """Scores of 3 levels: 'up' rises with the value (equal within a level: rho 1), 'down' falls (rho -1),
    'noisy' rises with per-image noise; one NaN; accuracy falls with the value."""
    rng = np.random.default_rng(0)
    rows = []
    for level, value in enumerate(values):
        for method in ("up", "down", "noisy"):
            for metric, direction in (("sparseness", "higher"), ("pixel_flipping", "lower")):
                for image in range(n_images):
                    score = {"up": 2 * value, "down": -value, "noisy": value + rng.normal(0, 0.3)}[method]
                    rows.append(
                        dict(
                            sweep="contrast",
                            param="min_contrast",
                            level=level,
                            value=value,
                            replicate=0,
                            method=method,
                            metric=metric,
                            category="complexity" if metric == "sparseness" else "faithfulness",
                            direction=direction,
                            sample=100 + image,
                            score=score,
                        )
                    )
    scores = pd.DataFrame(rows)
    scores.loc[0, "score"] = np.nan
    accuracy = pd.DataFrame(
        {
            "sweep": "contrast",
            "param": "min_contrast",
            "level": range(len(values)),
            "value": list(values),
            "accuracy": [0.95 - 0.1 * k for k in range(len(values))],
        }
    )
    return scores, accuracy


def test_summarise_sweep_means_and_spearman():
    from scipy.stats import spearmanr

    from xaibench.sweeps import SUMMARY_COLUMNS, summarise_sweep

    scores, accuracy = synthetic()
    summary = summarise_sweep(scores, accuracy, n_boot=500, seed=0)
    assert summary.columns.tolist() == SUMMARY_COLUMNS
    assert len(summary) == 3 * 3 * 2
    keys = ["level", "method", "metric"]
    expected = scores.groupby(keys)["score"].mean()  # pandas skips the NaN, as the summary does
    got = summary.set_index(keys)["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    first = summary.set_index(keys).loc[(0, "up", "sparseness")]
    assert first["n"] == 5 and first["n_nonfinite"] == 1
    assert (summary["ci95_low"] <= summary["mean"] + 1e-12).all()
    assert (summary["mean"] <= summary["ci95_high"] + 1e-12).all()
    noisy = summary[summary["method"] == "noisy"]
    assert (noisy["ci95_high"] > noisy["ci95_low"]).all()
    assert summary.set_index("level")["accuracy"].groupby(level=0).first().tolist() == [0.95, 0.85, 0.75]

    trend = summary.drop_duplicates(["method", "metric"]).set_index(["method", "metric"])
    assert trend.loc[("up", "pixel_flipping"), "spearman_rho"] == pytest.approx(1.0)
    assert trend.loc[("down", "sparseness"), "spearman_rho"] == pytest.approx(-1.0)
    part = scores[(scores["method"] == "noisy") & (scores["metric"] == "sparseness")]
    reference = spearmanr(part["value"], part["score"])
    assert trend.loc[("noisy", "sparseness"), "spearman_rho"] == pytest.approx(reference.statistic, abs=1e-12)
    assert trend.loc[("noisy", "sparseness"), "spearman_p"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert trend.loc[("up", "sparseness"), "spearman_n"] == 17

    again = summarise_sweep(scores.sample(frac=1.0, random_state=1), accuracy, n_boot=500, seed=0)
    pd.testing.assert_frame_equal(  # the order of the rows does not matter, bootstrap included
        again.sort_values(keys, ignore_index=True), summary.sort_values(keys, ignore_index=True)
    )
    other = summarise_sweep(scores, accuracy, n_boot=500, seed=1)
    assert not np.allclose(other["ci95_low"], summary["ci95_low"], equal_nan=True)


def test_spearman_uses_the_level_when_values_are_not_numbers():
    from xaibench.sweeps import summarise_sweep

    scores, accuracy = synthetic()
    labels = {0.1: "[2, 4]", 0.3: "[4, 8]", 0.5: "[8, 16]"}
    scores["value"], accuracy["value"] = scores["value"].map(labels), accuracy["value"].map(labels)
    summary = summarise_sweep(scores, accuracy, n_boot=100, seed=0)
    trend = summary.drop_duplicates(["method", "metric"]).set_index(["method", "metric"])
    assert trend.loc[("up", "sparseness"), "spearman_rho"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("n_metrics", "values"), [(2, (0.1, 0.3, 0.5)), (6, ("[2, 4]", "[4, 8]", "[8, 16]"))]
)
def test_sweep_figure(tmp_path, n_metrics, values):
    from PIL import Image

    from xaibench.figures import plot_sweep
    from xaibench.sweeps import summarise_sweep

    scores, accuracy = synthetic()
    metrics = [
        "pixel_flipping",
        "sparseness",
        "pointing_game",
        "relevance_mass_accuracy",
        "complexity",
        "mprt",
    ]
    extra = [scores[scores["metric"] == "sparseness"].assign(metric=m) for m in metrics[2:n_metrics]]
    scores = pd.concat([scores, *extra], ignore_index=True)
    scores["method"] = scores["method"].map({"up": "saliency", "down": "random", "noisy": "lrp"})
    mapping = dict(zip((0.1, 0.3, 0.5), values, strict=True))
    scores["value"], accuracy["value"] = scores["value"].map(mapping), accuracy["value"].map(mapping)
    summary = summarise_sweep(scores, accuracy, n_boot=200, seed=0)
    png, pdf = tmp_path / "sweep.png", tmp_path / "sweep.pdf"
    plot_sweep(summary, accuracy, "min_contrast", "Triangles & Squares: contrast", png, pdf)
    assert pdf.stat().st_size > 0
    with Image.open(png) as image:
        width, height = image.size
    assert 0 < height <= 1.5 * width


def test_the_sweep_summary_imports_no_torch(heavy_imports):
    """Rule sweep only gathers and summarises the levels' tables and draws the figure: its modules import
    the stages' code (and torch, ~2 s per job) only inside run_level, which rule sweep_level calls."""
    assert heavy_imports("xaibench.sweeps", ("torch",)) == []
    assert heavy_imports("xaibench.figures.sweeps", ("torch",)) == []
