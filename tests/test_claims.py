"""The claims machinery: verdict logic, the shared tests on synthetic tables with known answers, and the
catalogue run on tables built to support or contradict each claim."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xaibench.claims import CLAIMS, ClaimContext, evaluate_claims, register, verdict
from xaibench.claims.core import CLAIM_COLUMNS, NOT_SUPPORTED, NOT_TESTED, SUPPORTED, claim_order
from xaibench.claims.evidence import between_methods, paired_difference, share_interval
from xaibench.stats.bootstrap import group_rng

# ---- verdicts


@pytest.mark.parametrize(
    ("low", "high", "claimed", "p", "expected"),
    [
        (0.1, 0.5, "greater", math.nan, "supported"),
        (0.1, 0.5, "greater", 0.01, "supported"),
        (0.1, 0.5, "greater", 0.2, "inconclusive"),  # interval on the claimed side, test not significant
        (-0.1, 0.5, "greater", 0.01, "inconclusive"),  # straddles the threshold
        (-0.5, -0.1, "greater", 0.01, "not supported"),
        (-0.5, -0.1, "greater", 0.5, "inconclusive"),  # the other side, but the test is not significant
        (-0.5, 0.0, "greater", math.nan, "not supported"),  # at most the threshold: excluded
        (-0.5, -0.1, "less", 0.01, "supported"),
        (0.1, 0.5, "less", 0.01, "not supported"),
        (math.nan, 0.5, "greater", 0.01, "inconclusive"),
    ],
)
def test_verdict_follows_the_interval_and_the_test(low, high, claimed, p, expected):
    assert verdict(low, high, threshold=0.0, claimed=claimed, p_value=p, alpha=0.05) == expected


def test_too_few_values_are_inconclusive_whatever_the_interval():
    assert verdict(0.5, 0.9, p_value=0.001, n=4) == "inconclusive"
    assert verdict(0.5, 0.9, p_value=0.001, n=5) == SUPPORTED
    assert verdict(-0.9, -0.5, p_value=0.001, n=2) == "inconclusive"


def test_verdict_uses_the_threshold():
    assert verdict(0.55, 0.7, threshold=0.5) == SUPPORTED
    assert verdict(0.3, 0.45, threshold=0.5) == NOT_SUPPORTED
    assert verdict(0.3, 0.45, threshold=0.2) == SUPPORTED
    with pytest.raises(ValueError, match="claimed"):
        verdict(0.1, 0.2, claimed="above")


# ---- shared tests


def _scores(first: np.ndarray, second: np.ndarray, metric="m", direction="higher") -> pd.DataFrame:
    n = len(first)
    rows = []
    for method, values in (("a", first), ("b", second)):
        rows += [
            {
                "dataset": "d",
                "model": "net",
                "replicate": i % 2,
                "sample": i,
                "method": method,
                "metric": metric,
                "category": "Faithfulness",
                "direction": direction,
                "score": v,
            }
            for i, v in enumerate(values)
        ]
    assert len(rows) == 2 * n
    return pd.DataFrame(rows)


def test_a_method_built_to_beat_another_is_detected_and_equals_scipy():
    rng = np.random.default_rng(1)
    b = rng.normal(size=20)
    a = b + 0.5 + 0.1 * rng.normal(size=20)  # a better on every image
    evidence = between_methods(_scores(a, b), "d", "net", "m", "a", "b", seed=0, n_boot=500)
    assert evidence.estimate == 1.0  # every difference positive: rank-biserial +1
    assert evidence.p_value == pytest.approx(stats.wilcoxon(a - b).pvalue, rel=1e-12)
    assert evidence.p_value < 1e-4
    assert evidence.n == 20
    # lower-is-better metric: the same scores make a worse
    reverse = between_methods(_scores(a, b, direction="lower"), "d", "net", "m", "a", "b", seed=0, n_boot=500)
    assert reverse.estimate == -1.0


def test_identical_methods_do_not_differ():
    values = np.linspace(0, 1, 12)
    evidence = between_methods(_scores(values, values.copy()), "d", "net", "m", "a", "b", seed=0, n_boot=500)
    assert evidence.estimate == 0.0
    assert evidence.p_value == 1.0
    assert verdict(evidence.ci_low, evidence.ci_high, p_value=evidence.p_value) != SUPPORTED


def test_paired_difference_mean_interval_and_p():
    difference = np.array([0.2, 0.3, 0.25, 0.4, 0.1, 0.35, 0.3, 0.2])
    evidence = paired_difference(
        difference, None, dataset="d", model="net", statistic="s", rng=group_rng(0, "x"), n_boot=2000
    )
    assert evidence.estimate == pytest.approx(difference.mean(), abs=1e-15)
    assert 0.1 <= evidence.ci_low < difference.mean() < evidence.ci_high <= 0.4
    assert evidence.p_value == pytest.approx(stats.wilcoxon(difference).pvalue, rel=1e-12)


def test_share_interval_is_wilson():
    share, low, high = share_interval(8, 10)
    assert share == 0.8
    # Wilson score interval by hand: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    z, n, p = stats.norm.ppf(0.975), 10, 0.8
    centre, half = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert low == pytest.approx((centre - half) / (1 + z**2 / n), rel=1e-9)
    assert high == pytest.approx((centre + half) / (1 + z**2 / n), rel=1e-9)


# ---- the registry and the table


def test_missing_tables_make_a_claim_not_tested_with_the_reason():
    context = ClaimContext(tables={}, generators={"ts": "triangles_squares"})
    table = evaluate_claims(context)
    assert list(table.columns) == CLAIM_COLUMNS
    assert (table["verdict"] == NOT_TESTED).all()
    assert set(table["claim"]) == set(CLAIMS.names())
    assert table["detail"].str.startswith("the run has no table").all()


def test_claims_come_in_seed_order_with_the_literature_last():
    seeds = [CLAIMS.get(name).seed for name in claim_order()]
    assert seeds == sorted(seeds, key=lambda s: (s == "literature", s))
    assert {"000", "002", "003", "literature"} <= set(seeds)


def test_register_refuses_incomplete_claims():
    with pytest.raises(ValueError, match="needs"):
        register("x", seed="000", source="s", text="t", label="l", needs=())
    with pytest.raises(ValueError, match="label"):
        register("x", seed="000", source="s", text="t", label="", needs=("scores",))


# ---- catalogue claims on synthetic tables with known verdicts


def _context(tables, generators=None, methods=None, metrics=None, n_boot=500):
    return ClaimContext(
        tables=tables,
        generators=generators or {},
        methods=methods or {},
        metrics=metrics or {},
        n_boot=n_boot,
    )


def _long(dataset, metric, by_method, category="Localisation", direction="higher"):
    rows = []
    for method, values in by_method.items():
        for i, v in enumerate(values):
            rows.append(
                dict(
                    dataset=dataset,
                    model="net",
                    replicate=0,
                    sample=i,
                    method=method,
                    metric=metric,
                    category=category,
                    direction=direction,
                    score=v,
                )
            )
    return pd.DataFrame(rows)


def test_lrp_beats_saliency_is_supported_when_built_so_and_not_when_reversed():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 16)
    metrics = {"rp_samek": ("region_perturbation", "samek2017")}
    methods = {"lrp": "lrp", "grad": "saliency", "decon": "deconvolution"}
    good = _long("ts", "rp_samek", {"lrp": base + 0.3, "grad": base, "decon": base}, "Faithfulness")
    context = _context({"scores": good}, {"ts": "triangles_squares"}, methods, metrics)
    table = evaluate_claims(context, ["s002_lrp_beats_saliency"])
    assert table["verdict"].tolist() == [SUPPORTED]
    assert table["estimate"].tolist() == [1.0]
    bad = _long("ts", "rp_samek", {"lrp": base - 0.3, "grad": base, "decon": base}, "Faithfulness")
    table = evaluate_claims(_context({"scores": bad}, {"ts": "triangles_squares"}, methods, metrics))
    row = table[table["claim"] == "s002_lrp_beats_saliency"].iloc[0]
    assert row["verdict"] == NOT_SUPPORTED
    # a dataset of another kind is not a Triangles & Squares set: no row for it
    other = evaluate_claims(
        _context({"scores": good}, {"ts": "counting"}, methods, metrics), ["s002_lrp_beats_saliency"]
    )
    assert other["verdict"].tolist() == [NOT_TESTED]


def test_edge_detector_share_is_the_per_image_share_of_methods_sobel_matches():
    # sobel beats 2 of 4 attribution methods on every image of metric A, 4 of 4 on metric B (ties count)
    n = 10
    a = {"sobel": np.full(n, 0.5), "m1": np.full(n, 0.4), "m2": np.full(n, 0.5), "m3": np.full(n, 0.6)}
    a["m4"] = np.full(n, 0.9)
    a["random"] = np.full(n, 0.0)  # controls are not counted
    b = {name: np.full(n, 0.1) for name in a} | {"sobel": np.full(n, 0.2)}
    scores = pd.concat([_long("d", "A", a), _long("d", "B", b, direction="lower")])
    # metric B is lower-better: sobel 0.2 is worse than 0.1 everywhere -> 0 of 4
    methods = {name: name for name in a}
    table = evaluate_claims(_context({"scores": scores}, methods=methods), ["lit_xaitris_edge_detector"])
    row = table.iloc[0]
    assert row["estimate"] == pytest.approx((2 + 0) / 8)  # m1, m2 on A; none on B
    assert row["n"] == n
    assert row["verdict"] == NOT_SUPPORTED  # every image at 0.25: the interval is [0.25, 0.25] < 0.5
    # the same scores of a table: XAI-TRIS's finding is about images, the claim says why it is not tested
    context = _context({"scores": scores}, methods=methods)
    context.modalities = {"d": "table"}
    row = evaluate_claims(context, ["lit_xaitris_edge_detector"]).iloc[0]
    assert row["verdict"] == NOT_TESTED and "table dataset" in row["detail"]


def test_a_comparison_without_pairs_is_not_tested():
    from xaibench.claims.evidence import against_control

    comparisons = pd.DataFrame(
        [dict(dataset="d", model="m", metric="iou", method="gradcam", control="random", n_pairs=0,
              effect_size=np.nan, effect_ci_low=np.nan, effect_ci_high=np.nan, p_holm=np.nan,
              median_difference=np.nan, verdict="too few pairs")]
    )  # fmt: skip
    evidence = against_control(comparisons, "d", "m", "iou", "gradcam")
    assert evidence.verdict == NOT_TESTED and "no finite iou score of gradcam" in evidence.detail


def test_occluder_claim_pairs_images_and_reads_the_smallest_stride():
    rows = []
    for index in range(8):
        for window, drop in ((4, 0.1), (16, 0.6 + 0.01 * index)):
            for stride in (2, 4):
                rows.append(
                    dict(dataset="d", model="net", index=index, kind="single", window_px=window,
                         stride_px=stride, max_drop=drop if stride == 2 else 0.0)
                )  # fmt: skip
    rows.append(
        dict(dataset="d", model="net", index=0, kind="two_windows", window_px=4, stride_px=4, max_drop=1)
    )
    table = evaluate_claims(_context({"occlusion_sweep": pd.DataFrame(rows)}), ["s003_occluder_size"])
    row = table.iloc[0]
    assert row["estimate"] == pytest.approx(0.5 + 0.035)  # mean of 0.5 + 0.01 * index
    assert row["p_value"] == pytest.approx(stats.wilcoxon(np.full(8, 0.5) + 0.01 * np.arange(8)).pvalue)
    assert row["verdict"] == SUPPORTED
    assert "stride 2 px" in row["statistic"]


def test_the_figure_shows_every_claim(tmp_path):
    from xaibench.figures.claims import plot_claims

    context = ClaimContext(tables={}, generators={})
    table = evaluate_claims(context)
    plot_claims(table, tmp_path / "claims.png", tmp_path / "claims.pdf")
    import re

    from matplotlib.image import imread

    from xaibench.figures.common import SCREEN_PX

    image = imread(tmp_path / "claims.png")
    height, width = image.shape[:2]
    assert height <= SCREEN_PX[1] and width <= SCREEN_PX[0]  # whole in the report's viewer
    pdf = (tmp_path / "claims.pdf").read_bytes()
    page = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert float(page.group(2)) / 72 > 0.4 * len(table)  # one row per claim, each at least 0.4 inch
    assert float(page.group(2)) <= 1.5 * float(page.group(1))
