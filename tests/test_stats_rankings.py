"""Rank statistics (Friedman, mean ranks, Nemenyi), metric agreement (Kendall τ) and the rank figures.

Known answers from synthetic score tables: a strict order of the methods on every block gives mean ranks
exactly 1, 2, 3 and a tiny Friedman p; "lower is better" inverts the ranks; identical methods tie; the
statistics equal scipy's and scikit-posthocs' on the same matrices; incomplete blocks are dropped; a metric
that is a monotone function of the localisation score reproduces the ground-truth ranking (τ = 1).
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
import scipy.stats

from xaibench.stats.agreement import (
    agreement_matrix,
    anchored_validity,
    kendall_tau_b,
    metric_agreement,
)
from xaibench.stats.rankings import (
    FRIEDMAN_COLUMNS,
    MEAN_RANK_COLUMNS,
    NEMENYI_COLUMNS,
    category_rank_table,
    category_ranks,
    category_ranks_by_image,
    friedman_tests,
    mean_ranks,
    pairwise_nemenyi,
    posthoc,
)
from xaibench.tables import SCORE_COLUMNS

COLUMNS = SCORE_COLUMNS  # the long scores table's


def table(
    values: np.ndarray,
    methods: list[str],
    *,
    metric: str = "m",
    direction: str = "higher",
    category: str = "Faithfulness",
    dataset: str = "d",
    model: str = "net",
    n_replicates: int = 1,
) -> pd.DataFrame:
    """Long scores table of a blocks × methods matrix; block b is (replicate b % R, sample b // R)."""
    rows = []
    for b, row in enumerate(np.asarray(values, dtype=float)):
        for method, score in zip(methods, row, strict=True):
            replicate, sample = b % n_replicates, b // n_replicates
            rows.append(
                (dataset, model, replicate, method, metric, category, direction, sample, score, "", "")
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def strict_order(n_blocks: int = 10, seed: int = 0) -> np.ndarray:
    """Blocks × 3 methods with A > B > C on every block (by at least 1), on block-specific levels."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=5.0, size=(n_blocks, 1))
    return base + np.array([2.0, 1.0, 0.0]) + rng.uniform(0, 0.4, size=(n_blocks, 3))


def one(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


def ranks_of(frame: pd.DataFrame, metric: str = "m") -> dict[str, float]:
    part = frame[frame["metric"] == metric]
    return dict(zip(part["method"], part["mean_rank"], strict=True))


# --------------------------------------------------------------------------------------------------
# Friedman tests and mean ranks


def test_strict_order_gives_ranks_1_2_3_and_a_small_p():
    scores = table(strict_order(), ["A", "B", "C"], n_replicates=2)
    result = friedman_tests(scores)
    assert list(result.columns) == FRIEDMAN_COLUMNS
    row = result.iloc[0]
    assert (row["n_methods"], row["n_blocks"]) == (3, 10)
    # every block ranks alike: χ² = n (k - 1) = 20, p = exp(-10)
    assert row["statistic"] == pytest.approx(20.0, abs=1e-9)
    assert row["p_value"] == pytest.approx(np.exp(-10.0), rel=1e-9)
    assert row["p_value"] < 1e-3 and row["significant"]
    ranks = mean_ranks(scores)
    assert list(ranks.columns) == MEAN_RANK_COLUMNS
    assert ranks_of(ranks) == {"A": 1.0, "B": 2.0, "C": 3.0}


def test_lower_direction_inverts_the_ranks():
    scores = table(strict_order(), ["A", "B", "C"], direction="lower")
    assert ranks_of(mean_ranks(scores)) == {"A": 3.0, "B": 2.0, "C": 1.0}
    assert friedman_tests(scores).iloc[0]["statistic"] == pytest.approx(20.0, abs=1e-9)


def test_identical_methods_tie():
    base = strict_order()[:, :1]
    # A == B everywhere; C above them on half the blocks and below on the other half
    values = np.hstack([base, base, base + np.tile([1.0, -1.0], 5)[:, None]])
    scores = table(values, ["A", "B", "C"])
    assert ranks_of(mean_ranks(scores)) == {"A": 2.0, "B": 2.0, "C": 2.0}
    row = friedman_tests(scores).iloc[0]
    assert row["statistic"] == pytest.approx(0.0, abs=1e-12)
    assert row["p_value"] == pytest.approx(1.0, abs=1e-12)
    # A == B always above C: the tie shares ranks 1 and 2
    values = np.hstack([base, base, base - 1.0])
    assert ranks_of(mean_ranks(table(values, ["A", "B", "C"]))) == {"A": 1.5, "B": 1.5, "C": 3.0}
    # all methods equal everywhere: scipy gives NaN (0 / 0); reported as no difference
    tied = friedman_tests(table(np.hstack([base] * 3), ["A", "B", "C"])).iloc[0]
    assert (tied["statistic"], tied["p_value"]) == (0.0, 1.0)
    assert "tied" in tied["note"] and not tied["significant"]


def test_statistic_equals_scipy_on_a_hand_case_with_ties():
    values = np.array(
        [[31, 27, 24, 30], [31, 28, 31, 29], [45, 29, 46, 40], [21, 18, 48, 21], [42, 36, 46, 41.0]]
    )
    expected = scipy.stats.friedmanchisquare(*values.T)
    for direction in ("higher", "lower"):  # the orientation does not change the statistic
        row = friedman_tests(table(values, ["A", "B", "C", "D"], direction=direction)).iloc[0]
        assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    ranks = ranks_of(mean_ranks(table(values, ["A", "B", "C", "D"], direction="lower")))
    expected_ranks = scipy.stats.rankdata(values, axis=1).mean(axis=0)
    assert list(ranks.values()) == pytest.approx(list(expected_ranks), abs=1e-12)


def test_incomplete_blocks_and_methods_without_scores_are_dropped():
    values = strict_order(8)
    # blocks 0 and 1 would reverse the order, but each has a non-finite score: both are dropped
    values[0] = [0.0, 1.0, np.nan]
    values[1] = [0.0, np.inf, 2.0]
    scores = table(np.hstack([values, np.full((8, 1), np.nan)]), ["A", "B", "C", "Dead"])
    scores = scores[~((scores["method"] == "B") & (scores["sample"] == 2))]  # a missing row: dropped too
    row = friedman_tests(scores).iloc[0]
    assert (row["n_methods"], row["n_blocks"]) == (3, 5)
    assert "Dead" in row["note"] and "3 of 8 blocks" in row["note"]
    assert ranks_of(mean_ranks(scores)) == {"A": 1.0, "B": 2.0, "C": 3.0}


def test_degenerate_and_undirected_metrics():
    two = friedman_tests(table(strict_order()[:, :2], ["A", "B"]))
    assert np.isnan(two.iloc[0]["p_value"]) and "3 methods" in two.iloc[0]["note"]
    single = friedman_tests(table(strict_order(1), ["A", "B", "C"]))
    assert np.isnan(single.iloc[0]["statistic"]) and "2 complete blocks" in single.iloc[0]["note"]
    dead = table(np.full((4, 3), np.nan), ["A", "B", "C"], metric="dead")
    row = one(friedman_tests(dead), metric="dead")
    assert (row["n_methods"], row["n_blocks"]) == (0, 0) and row["note"].startswith("no finite scores")
    assert mean_ranks(dead).empty
    undirected = table(strict_order(), ["A", "B", "C"], direction="none")
    assert friedman_tests(undirected).empty and mean_ranks(undirected).empty
    duplicated = table(strict_order(), ["A", "B", "C"])
    with pytest.raises(ValueError, match="duplicate"):
        friedman_tests(pd.concat([duplicated, duplicated.iloc[:1]]))


def test_posthoc_is_nemenyi_and_ignores_the_orientation():
    rng = np.random.default_rng(1)
    wide = pd.DataFrame(rng.normal(size=(30, 4)) + np.array([3.0, 2.0, 0.0, 0.0]), columns=list("ABCD"))
    p = posthoc(wide)
    expected = np.asarray(scikit_posthocs.posthoc_nemenyi_friedman(wide.to_numpy()), dtype=float)
    assert p.to_numpy() == pytest.approx(expected, abs=1e-12)
    assert list(p.index) == list(p.columns) == list("ABCD")
    assert np.diag(p.to_numpy()).tolist() == [1.0] * 4
    assert p.loc["A", "C"] < 1e-3 and p.loc["C", "D"] > 0.05
    assert posthoc(-wide).to_numpy() == pytest.approx(p.to_numpy(), abs=1e-12)
    nan_row = wide.copy()
    nan_row.iloc[0, 0] = np.nan
    assert posthoc(nan_row).to_numpy() == pytest.approx(posthoc(wide.iloc[1:]).to_numpy(), abs=1e-12)
    assert np.isnan(posthoc(wide.iloc[:1]).loc["A", "B"])


def test_pairwise_nemenyi_lists_every_pair_of_every_metric():
    """One row per unordered method pair, p equal to scikit-posthocs' Nemenyi on the images, and the mean
    ranks of each method: A > B > C on 20 images separates A from C (and not A from itself)."""
    scores = table(strict_order(20), ["A", "B", "C"], n_replicates=2)
    scores = pd.concat([scores, table(-strict_order(20), ["A", "B", "C"], metric="n")], ignore_index=True)
    pairs = pairwise_nemenyi(scores)
    assert list(pairs.columns) == NEMENYI_COLUMNS
    assert pairs[["metric", "method_a", "method_b"]].values.tolist() == [
        [m, a, b] for m in ("m", "n") for a, b in (("A", "B"), ("A", "C"), ("B", "C"))
    ]
    expected = np.asarray(scikit_posthocs.posthoc_nemenyi_friedman(strict_order(20)), dtype=float)
    m = pairs[pairs["metric"] == "m"].set_index(["method_a", "method_b"])
    assert m.loc[("A", "C"), "p_value"] == pytest.approx(expected[0, 2], abs=1e-12) and expected[0, 2] < 1e-3
    assert m.loc[("A", "B"), "p_value"] == pytest.approx(expected[0, 1], abs=1e-12)
    assert (m.loc[("A", "C"), "mean_rank_a"], m.loc[("A", "C"), "mean_rank_b"]) == (1.0, 3.0)
    n = pairs[pairs["metric"] == "n"].set_index(["method_a", "method_b"])  # reversed scores: C best
    assert (n.loc[("A", "C"), "mean_rank_a"], n.loc[("A", "C"), "mean_rank_b"]) == (3.0, 1.0)
    assert (pairs["n_blocks"] == 20).all()


def test_category_ranks_use_metrics_as_blocks():
    order = strict_order()
    scores = pd.concat(
        [
            table(order, ["A", "B", "C"], metric="f1"),
            table(order[:, [1, 0, 2]], ["A", "B", "C"], metric="f2"),  # B best, then A, C
            table(order, ["A", "B", "C"], metric="l1", category="Localisation"),
        ]
    )
    categories = category_ranks(mean_ranks(scores))
    assert list(categories) == [("d", "net", "Faithfulness"), ("d", "net", "Localisation")]
    faith = categories["d", "net", "Faithfulness"]
    assert faith.mean_rank.to_dict() == {"A": 1.5, "B": 1.5, "C": 3.0}
    assert faith.matrix.shape == (2, 3) and faith.metrics == ["f1", "f2"]
    assert faith.statistic == pytest.approx(scipy.stats.friedmanchisquare([1, 2], [2, 1], [3, 3]).statistic)
    assert faith.p_values.to_numpy() == pytest.approx(posthoc(faith.matrix).to_numpy(), abs=1e-12)
    local = categories["d", "net", "Localisation"]
    assert np.isnan(local.p_value) and "1 metric" in local.note
    long = category_rank_table(categories)
    assert len(long) == 6 and set(long["n_metrics"]) == {1, 2}
    assert set(long["blocks"]) == {"metrics"} and set(long["n_blocks"]) == {1, 2}


def test_category_ranks_by_image_strict_order():
    scores = pd.concat(
        [
            table(strict_order(20, seed=1), ["A", "B", "C"], metric="f1", n_replicates=2),
            table(strict_order(20, seed=2), ["A", "B", "C"], metric="f2", n_replicates=2),
        ]
    )
    categories = category_ranks_by_image(scores)
    assert list(categories) == [("d", "net", "Faithfulness")]
    faith = categories["d", "net", "Faithfulness"]
    assert faith.blocks == "images" and faith.metrics == ["f1", "f2"] and faith.n_metrics == 2
    assert faith.mean_rank.to_dict() == {"A": 1.0, "B": 2.0, "C": 3.0}
    assert faith.matrix.shape == (20, 3) and faith.n_blocks == 20
    assert list(faith.matrix.index.names) == ["replicate", "sample"]
    # every image ranks alike: χ² = n (k - 1) = 40
    assert faith.statistic == pytest.approx(40.0, abs=1e-9)
    assert faith.p_value == pytest.approx(np.exp(-20.0), rel=1e-9) and faith.p_value < 0.01
    assert faith.p_values.to_numpy() == pytest.approx(posthoc(faith.matrix).to_numpy(), abs=1e-12)
    assert "20 images" in faith.note and "2 metrics (f1, f2)" in faith.note
    long = category_rank_table(categories)
    assert len(long) == 3 and set(long["blocks"]) == {"images"}
    assert set(long["n_blocks"]) == {20} and set(long["n_metrics"]) == {2}


def test_category_ranks_by_image_averages_opposite_metrics_to_a_tie():
    order = strict_order(12)
    scores = pd.concat(
        [
            table(order, ["A", "B", "C"], metric="f1"),  # A 1, B 2, C 3
            table(order[:, [1, 0, 2]], ["A", "B", "C"], metric="f2"),  # B 1, A 2, C 3
        ]
    )
    faith = category_ranks_by_image(scores)["d", "net", "Faithfulness"]
    assert faith.mean_rank.to_dict() == {"A": 1.5, "B": 1.5, "C": 3.0}
    assert (faith.matrix["A"] == 1.5).all() and (faith.matrix["B"] == 1.5).all()
    # re-ranked within each image: A and B share ranks 1 and 2, as the per-metric mean ranks say
    assert faith.p_values.loc["A", "B"] == pytest.approx(1.0)


def test_category_ranks_by_image_inverts_lower_metrics():
    order = strict_order(10)
    scores = pd.concat(
        [
            table(order, ["A", "B", "C"], metric="f1"),
            table(-order, ["A", "B", "C"], metric="f2", direction="lower"),  # A lowest: best again
            table(order, ["A", "B", "C"], metric="r1", direction="lower", category="Robustness"),
        ]
    )
    categories = category_ranks_by_image(scores)
    assert categories["d", "net", "Faithfulness"].mean_rank.to_dict() == {"A": 1.0, "B": 2.0, "C": 3.0}
    assert categories["d", "net", "Robustness"].mean_rank.to_dict() == {"C": 1.0, "B": 2.0, "A": 3.0}


def test_category_ranks_by_image_has_the_power_that_metrics_as_blocks_lack():
    rng = np.random.default_rng(9)
    methods = [f"M{i:02d}" for i in range(23)]
    quality = np.r_[10.0, np.linspace(0.0, -2.0, 22)]  # M00 far best; the rest close, M22 worst
    parts = [
        table(quality + rng.normal(size=(16, 23)), methods, metric=metric, n_replicates=2)
        for metric in ("f1", "f2")
    ]
    scores = pd.concat(parts, ignore_index=True)
    by_image = category_ranks_by_image(scores)["d", "net", "Faithfulness"]
    assert by_image.mean_rank.index[0] == "M00" and by_image.mean_rank.iloc[0] == 1.0
    worst = list(by_image.mean_rank.index[-3:])
    assert by_image.p_value < 1e-6
    for method in worst:
        assert by_image.p_values.loc["M00", method] < 0.05
    # metrics as blocks: 2 blocks, the critical difference exceeds the rank range
    by_metric = category_ranks(mean_ranks(scores))["d", "net", "Faithfulness"]
    assert by_metric.mean_rank.index[0] == "M00"
    for method in worst:
        assert by_metric.p_values.loc["M00", method] >= 0.05


def test_category_ranks_by_image_drops_and_names_methods_images_and_metrics():
    order = strict_order(8)
    f1 = np.hstack([order, np.full((8, 1), np.nan)])  # "Dead" has no finite f1 score
    f2 = np.hstack([order, order[:, :1] + 5.0])  # ... but is best on f2
    f2[3, 1] = np.nan  # image (0, 3) is incomplete on f2
    scores = pd.concat(
        [
            table(f1, ["A", "B", "C", "Dead"], metric="f1"),
            table(f2, ["A", "B", "C", "Dead"], metric="f2"),
            table(np.full((8, 4), np.nan), ["A", "B", "C", "Dead"], metric="f3"),  # no complete image
            table(np.full((8, 3), np.nan), ["A", "B", "C"], metric="l1", category="Localisation"),
        ]
    )
    categories = category_ranks_by_image(scores)
    faith = categories["d", "net", "Faithfulness"]
    assert faith.metrics == ["f1", "f2"] and faith.dropped_methods == ("Dead",)
    assert list(faith.matrix.columns) == ["A", "B", "C"] and faith.n_blocks == 7
    assert (0, 3) not in faith.matrix.index
    assert faith.mean_rank.to_dict() == {"A": 1.0, "B": 2.0, "C": 3.0}  # re-ranked without "Dead"
    assert "methods without finite scores on every metric dropped: Dead" in faith.note
    assert "1 of 8 images not complete for every metric dropped: (0, 3)" in faith.note
    assert "metrics without a complete image dropped: f3" in faith.note
    local = categories["d", "net", "Localisation"]
    assert local.mean_rank.empty and np.isnan(local.p_value) and local.n_metrics == 0
    assert local.note.startswith("no metric with a complete image: not ranked")
    assert len(category_rank_table(categories)) == 3


# --------------------------------------------------------------------------------------------------
# agreement


def test_metric_agreement_equals_scipy():
    rng = np.random.default_rng(2)
    methods = [f"M{i}" for i in range(6)]
    scores = pd.concat(
        [
            table(rng.normal(size=(12, 6)) + np.arange(6) * s, methods, metric=f"x{s}")
            for s in (0.0, 0.3, -0.5)
        ]
    )
    ranks = mean_ranks(scores)
    agreement = metric_agreement(ranks)
    assert len(agreement) == 3 and set(agreement["n_methods"]) == {6}
    table_ = ranks.pivot(index="method", columns="metric", values="mean_rank")
    for _, row in agreement.iterrows():
        expected = scipy.stats.kendalltau(table_[row["metric_a"]], table_[row["metric_b"]])
        assert row["tau"] == pytest.approx(expected.statistic, abs=1e-12)
        assert row["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)
    matrix = agreement_matrix(agreement, "d", "net")
    assert matrix.shape == (3, 3) and np.allclose(matrix.to_numpy(), matrix.to_numpy().T)
    assert matrix.loc["x0.3", "x-0.5"] == pytest.approx(one(agreement, metric_a="x0.3")["tau"])


def test_vectorised_kendall_equals_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(20, 9)).astype(float)
    y = rng.integers(0, 5, size=(20, 9)).astype(float)
    tau = kendall_tau_b(x, y)
    expected = [scipy.stats.kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)]
    assert tau == pytest.approx(expected, abs=1e-12)
    assert np.isnan(kendall_tau_b(np.ones(5), np.arange(5.0)))


def validity_scores() -> pd.DataFrame:
    """Two localisation metrics that agree, and metrics that follow them, reverse them or are noise."""
    rng = np.random.default_rng(4)
    methods = [f"M{i}" for i in range(8)]
    loc = np.arange(8.0)[::-1] * 0.5 + rng.normal(size=(16, 8))  # M0 best on average, noisy per block
    parts = [
        table(loc, methods, metric="loc1", category="Localisation", n_replicates=2),
        table(3 * loc + 1, methods, metric="loc2", category="Localisation", n_replicates=2),
        table(np.exp(loc), methods, metric="mono", n_replicates=2),
        table(-loc, methods, metric="reverse", n_replicates=2),
        table(-np.exp(loc), methods, metric="mono_lower", direction="lower", n_replicates=2),
        table(rng.normal(size=(16, 8)), methods, metric="noise", category="Robustness", n_replicates=2),
        table(rng.normal(size=(16, 8)), methods, metric="undirected", direction="none", n_replicates=2),
    ]
    no_masks = table(np.full((16, 8), np.nan), methods, metric="loc1", category="Localisation", dataset="e")
    return pd.concat([*parts, no_masks, table(loc, methods, metric="mono", dataset="e")], ignore_index=True)


def test_anchored_validity_recovers_the_localisation_ranking():
    result = anchored_validity(validity_scores(), n_boot=300, seed=0)
    assert list(result["metric"]) == ["mono", "reverse", "mono_lower", "noise"]  # no masks on "e"
    assert set(result["dataset"]) == {"d"} and set(result["n_methods"]) == {8}
    assert set(result["n_blocks"]) == {16}
    mono, reverse, mono_lower, noise = (one(result, metric=m) for m in result["metric"])
    for row, sign in ((mono, 1.0), (reverse, -1.0), (mono_lower, 1.0)):
        assert row["tau"] == pytest.approx(sign, abs=1e-12)
        assert row["ci_low"] == pytest.approx(sign, abs=1e-12) and row["ci_high"] == pytest.approx(
            sign, abs=1e-12
        )
    assert noise["ci_low"] < 0 < noise["ci_high"] and noise["category"] == "Robustness"
    # τ is scipy's on the mean ranks against the average of the localisation mean ranks
    ranks = mean_ranks(validity_scores()).query("dataset == 'd'")
    wide = ranks.pivot(index="method", columns="metric", values="mean_rank")
    expected = scipy.stats.kendalltau(wide["noise"], (wide["loc1"] + wide["loc2"]) / 2).statistic
    assert noise["tau"] == pytest.approx(expected, abs=1e-12)


def test_anchored_validity_is_deterministic():
    scores = validity_scores()
    first = anchored_validity(scores, n_boot=100, seed=5)
    reversed_ = anchored_validity(scores.iloc[::-1], n_boot=100, seed=5)  # other order of work
    reversed_ = reversed_.set_index("metric").loc[first["metric"]].reset_index()[first.columns]
    pd.testing.assert_frame_equal(first, reversed_)
    other = anchored_validity(scores, n_boot=100, seed=6)
    assert not np.allclose(first["ci_low"], other["ci_low"])
    assert anchored_validity(scores, n_boot=0)[["ci_low", "ci_high"]].isna().all().all()


# --------------------------------------------------------------------------------------------------
# figures


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def realistic_panels(n_methods: int = 23, n_panels: int = 6):
    from xaibench.figures.names import METHOD_NAMES
    from xaibench.figures.ranks import RankPanel

    methods = list(METHOD_NAMES)[:n_methods]
    rng = np.random.default_rng(7)
    panels = []
    for k in range(n_panels):
        ranks = pd.Series(rng.uniform(1, n_methods, size=n_methods), index=methods)
        difference = np.abs(ranks.to_numpy()[:, None] - ranks.to_numpy()[None, :])
        p = pd.DataFrame(np.exp(-difference / 3), index=methods, columns=methods)
        panels.append(RankPanel(f"Category {k}", ranks, p if k else None))
    return panels


def test_critical_difference_figure(tmp_path):
    from xaibench.figures.ranks import plot_critical_differences

    png, pdf = tmp_path / "cd.png", tmp_path / "cd.pdf"
    # 6 stacked panels of 16 methods are taller than 1.5 x the default width: the figure must widen
    plot_critical_differences(realistic_panels(16), png, pdf, title="pets / resnet18")
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    width, height = png_size(png)
    assert height <= 1.5 * width


def test_critical_difference_draws_the_best_method_left():
    from xaibench.figures.common import new_figure
    from xaibench.figures.ranks import draw_critical_difference, not_different_groups

    ranks = {"worst": 4.0, "mid": 2.5, "best": 1.2, "random": 3.0}  # not in rank order
    p = pd.DataFrame(0.5, index=list(ranks), columns=list(ranks))
    p.loc["best", "worst"] = p.loc["worst", "best"] = 0.001
    assert not_different_groups(ranks, p) == [(0, 2), (1, 3)]  # best..random, mid..worst
    fig = new_figure(6, 2)
    ax = fig.add_axes((0, 0, 1, 1))
    draw_critical_difference(ax, ranks, p, labels={"best": "Best method"})
    markers = {line.get_label(): line.get_xdata()[0] for line in ax.lines if line.get_label() in ranks}
    assert markers == pytest.approx(ranks)
    assert min(markers, key=markers.get) == "best"
    texts = {t.get_gid(): t for t in ax.texts if t.get_gid()}
    assert texts["best"].get_text() == "Best method (1.2)"
    assert texts["best"].get_position()[0] < ax.get_xlim()[0] + 0.5 * np.diff(ax.get_xlim())[0]
    assert texts["best"].get_position()[0] < texts["worst"].get_position()[0]
    assert texts["random"].get_style() == "italic" and texts["best"].get_style() == "normal"
    assert ax.get_xlim()[0] < 1.0 < 4.0 < ax.get_xlim()[1]


@pytest.mark.parametrize("n_datasets", [4, 10])
def test_metric_agreement_figure(tmp_path, n_datasets):
    from xaibench.figures.names import METRIC_NAMES
    from xaibench.figures.ranks import plot_metric_agreement

    metrics = list(METRIC_NAMES)
    rng = np.random.default_rng(8)
    matrices = {}
    for k in range(n_datasets):
        tau = np.clip(rng.normal(scale=0.5, size=(len(metrics), len(metrics))), -1, 1)
        tau = (tau + tau.T) / 2
        np.fill_diagonal(tau, 1.0)
        matrices[f"dataset {k} / model"] = pd.DataFrame(tau, index=metrics, columns=metrics)
    matrices["dataset 1 / model"] = matrices["dataset 1 / model"].iloc[:14, :14]  # metrics missing
    categories = {m: ("Localisation" if "acc" in m else "Other") for m in metrics}
    png, pdf = tmp_path / "agreement.png", tmp_path / "agreement.pdf"
    plot_metric_agreement(matrices, png, pdf, title="Kendall τ", categories=categories)
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    width, height = png_size(png)
    assert height <= 1.5 * width


def test_agreement_figure_groups_metrics_in_the_category_order_of_every_figure():
    """Faithfulness before localisation before complexity, as in the heatmap and the forest plots, whatever
    order the agreement table lists them in (it sorts metric names: localisation metrics came first)."""
    from xaibench.figures.ranks import _metric_order

    names = ["auc", "pointing_game", "sparseness", "pixel_flipping"]
    matrix = pd.DataFrame(np.eye(4), index=names, columns=names)
    categories = {"auc": "Localisation", "pointing_game": "Localisation", "sparseness": "Complexity"}
    categories["pixel_flipping"] = "Faithfulness"
    assert _metric_order([matrix], categories) == ["pixel_flipping", "auc", "pointing_game", "sparseness"]


def test_modules_import_light(heavy_imports):
    modules = "xaibench.stats.agreement, xaibench.figures.ranks"  # agreement imports rankings
    assert heavy_imports(modules, ("torch", "scipy", "scikit_posthocs", "seaborn")) == []
