"""Score tables: long form, summaries with t-intervals, non-finite accounting."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xaibench.metrics import MetricResult
from xaibench.tables import (
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    nonfinite_report,
    scores_frame,
    summarise,
)


def result(scores, category="Faithfulness", direction="higher", **params):
    return MetricResult(
        scores=np.asarray(scores, dtype=np.float64),
        curves=None,
        params=params,
        category=category,
        direction=direction,
    )


def hand_frame(values_by_metric, replicate=0):
    rows = []
    for metric, values in values_by_metric.items():
        for i, v in enumerate(values):
            rows.append(
                ["ts", "small_cnn", replicate, "saliency", metric, "Complexity", "lower", i, v, "{}", ""]
            )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def test_scores_frame_one_row_per_sample_and_metric():
    results = {
        "sparseness": result([0.1, 0.2, 0.3], "Complexity", "higher", abs=True),
        "pixel_flipping": result([0.5, np.nan, 0.7], "Faithfulness", "lower", features_in_step=32),
    }
    frame = scores_frame(
        results, dataset="ts", model="small_cnn", replicate=3, method="saliency", sample_ids=[10, 11, 12]
    )
    assert list(frame.columns) == SCORE_COLUMNS
    assert len(frame) == 6
    assert frame.groupby("metric").size().to_dict() == {"pixel_flipping": 3, "sparseness": 3}
    pf = frame[frame["metric"] == "pixel_flipping"]
    assert list(pf["sample"]) == [10, 11, 12] and set(pf["replicate"]) == {3}
    assert np.isnan(pf["score"].iloc[1])  # NaN kept, not dropped
    assert set(pf["category"]) == {"Faithfulness"} and set(pf["direction"]) == {"lower"}
    assert json.loads(pf["params"].iloc[0]) == {"features_in_step": 32}
    assert " " not in pf["params"].iloc[0]  # compact JSON
    assert frame["score"].dtype == np.float64


def test_scores_frame_rejects_mismatch_and_missing_category():
    with pytest.raises(ValueError, match="sparseness"):
        scores_frame(
            {"sparseness": result([1.0, 2.0])},
            dataset="d",
            model="m",
            replicate=0,
            method="x",
            sample_ids=[0],
        )
    with pytest.raises(ValueError, match="category"):
        scores_frame(
            {"sparseness": result([1.0], "", "")},
            dataset="d",
            model="m",
            replicate=0,
            method="x",
            sample_ids=[0],
        )


def test_summarise_mean_and_bootstrap_ci_of_one_replicate_match_the_t_interval():
    """One replicate of 400 values: the hierarchical bootstrap reduces to the image bootstrap, whose 95 %
    interval is close to the t-interval (within 10 % of its width, far below the width itself)."""
    values = np.random.default_rng(1).normal(2.5, 1.0, size=400)
    summary = summarise(hand_frame({"complexity": values}))
    assert list(summary.columns) == SUMMARY_COLUMNS
    row = summary.iloc[0]
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
    sd = np.std(values, ddof=1)
    assert row["std"] == pytest.approx(sd, rel=1e-12)
    half = stats.t.ppf(0.975, 399) * sd / math.sqrt(400)
    assert abs(row["ci95_low"] - (values.mean() - half)) < 0.1 * half
    assert abs(row["ci95_high"] - (values.mean() + half)) < 0.1 * half
    assert row["n"] == 400 and row["n_replicates"] == 1 and row["n_nonfinite"] == 0
    assert np.isnan(row["replicate_sd"])
    assert (row["category"], row["direction"], row["params"]) == ("Complexity", "lower", "{}")
    assert summarise(hand_frame({"complexity": values})).equals(summary)  # seeded: same table again


def test_summarise_pools_replicates_hierarchically():
    """Two replicates whose means differ by 10 with tiny noise: the mean pools both, replicate_sd is the
    sd of the two means, and the interval covers the replicates' disagreement (an image-level bootstrap
    of the 200 pooled values would give about 5 +- 0.7)."""
    rng = np.random.default_rng(2)
    frame = pd.concat(
        [hand_frame({"m": rng.normal(mu, 0.01, 100)}, replicate=r) for r, mu in ((0, 0.0), (1, 10.0))],
        ignore_index=True,
    )
    row = summarise(frame).iloc[0]
    assert row["n_replicates"] == 2 and row["n"] == 200
    assert row["mean"] == pytest.approx(frame["score"].mean(), rel=1e-12)
    means = frame.groupby("replicate")["score"].mean()
    assert row["replicate_sd"] == pytest.approx(means.std(ddof=1), rel=1e-12)
    assert row["ci95_low"] < 1.0 and row["ci95_high"] > 9.0


def test_summarise_counts_nan_and_inf_and_excludes_them():
    frame = hand_frame({"a": [1.0, np.nan, 3.0, np.inf, -np.inf], "b": [np.nan, np.nan], "c": [5.0]})
    summary = summarise(frame).set_index("metric")
    assert summary.loc["a", "mean"] == pytest.approx(2.0)
    assert summary.loc["a", "n"] == 2 and summary.loc["a", "n_nonfinite"] == 3
    assert summary.loc["b", "n"] == 0 and summary.loc["b", "n_nonfinite"] == 2
    assert np.isnan(summary.loc["b", "mean"]) and np.isnan(summary.loc["b", "ci95_low"])
    assert summary.loc["c", "mean"] == 5.0 and np.isnan(summary.loc["c", "std"])
    assert np.isnan(summary.loc["c", "ci95_high"]) and summary.loc["c", "n"] == 1
    assert list(summary.index) == ["a", "b", "c"]  # order of first appearance

    report = nonfinite_report(frame).set_index("metric")
    assert list(report.index) == ["a", "b"]
    assert report.loc["a", "n_nonfinite"] == 3 and report.loc["a", "n_nan"] == 1
    assert report.loc["a", "n_inf"] == 2 and report.loc["a", "n_total"] == 5
    assert report.loc["a", "samples"] == "1,3,4"
    assert report.loc["b", "fraction_nonfinite"] == 1.0
    from_summary = nonfinite_report(summarise(frame))
    assert list(from_summary["metric"]) == ["a", "b"]


def test_summarise_separates_datasets_models_methods():
    cells = [("d1", "x", [0.5, 0.7]), ("d1", "y", [0.9, 0.8]), ("d2", "x", [0.1, 0.2])]
    frames = [
        scores_frame({"auc": result(v)}, dataset=d, model="m", replicate=0, method=x, sample_ids=[0, 1])
        for d, x, v in cells
    ]
    frame = pd.concat(frames, ignore_index=True)
    summary = summarise(frame)
    assert len(summary) == 3
    means = summary.set_index(["dataset", "method"])["mean"]
    assert means[("d1", "x")] == pytest.approx(0.6) and means[("d2", "x")] == pytest.approx(0.15)


def test_summarise_groups_as_the_two_level_pandas_groupby():
    """summarise groups by one stable sort; every row must equal a loop over pandas's
    groupby(keys, sort=False, dropna=False) and, within a group, groupby("replicate", sort=True): groups in
    order of first appearance, replicates ascending, each replicate's scores in row order. Rows are
    shuffled, replicates interleaved and of unequal sizes, a params value is NaN; a change to the value
    order changes a bootstrap interval, so the comparison is exact."""
    from xaibench.stats import describe_replicated, group_rng

    rng = np.random.default_rng(5)
    rows = []
    for dataset, method, metric, replicate, n in [
        ("d2", "x", "auc", 3, 7),
        ("d1", "x", "auc", 0, 5),
        ("d2", "x", "auc", 1, 4),
        ("d1", "y", "auc", 0, 6),
        ("d1", "x", "auc", 2, 9),
        ("d1", "x", "iou", 0, 3),
    ]:
        for i in range(n):
            params = None if metric == "iou" else "{}"
            score = rng.normal() if i != 2 else np.nan
            rows.append([dataset, "m", replicate, method, metric, "C", "higher", i, score, params, ""])
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS).sample(frac=1.0, random_state=3)
    keys = ["dataset", "model", "method", "metric", "category", "direction", "params"]
    expected = []
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        parts = [p["score"].to_numpy() for _, p in group.groupby("replicate", sort=True)]
        stats_ = describe_replicated(parts, rng=group_rng(0, *(str(k) for k in key[:4])), n_boot=2000)
        expected.append({**dict(zip(keys, key, strict=True)), **stats_})
    expected = pd.DataFrame(expected, columns=SUMMARY_COLUMNS).astype(
        {"n": "int64", "n_replicates": "int64", "n_nonfinite": "int64"}
    )
    summary = summarise(frame)
    assert list(summary["dataset"]) == list(expected["dataset"])
    assert sorted(summary["n_replicates"]) == [1, 1, 2, 2]
    pd.testing.assert_frame_equal(summary, expected, check_exact=True)


def test_tables_import_needs_neither_torch_nor_quantus():
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    code = (
        f"import sys; sys.path.insert(0, {str(scripts)!r}); import xaibench.tables, xaibench.metrics; "
        "bad = [m for m in ('torch', 'quantus') if m in sys.modules]; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
