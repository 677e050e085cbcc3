"""xaibench.stats: hierarchical bootstrap, tests against controls, metric health, on known answers.

The synthetic tables are built here: a method's scores per (replicate, sample) are given directly, so the
expected verdicts, effect sizes and flags follow from the construction; p-values, ranks and Holm are
checked against scipy and statsmodels computed the plain way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xaibench.stats import (
    BEATS_COLUMNS,
    COMPARISON_COLUMNS,
    HEALTH_COLUMNS,
    beats_control_counts,
    compare_to_controls,
    describe_replicated,
    group_rng,
    hierarchical_bootstrap,
    holm,
    metric_health,
    rank_biserial,
    rank_biserial_interval,
    signed_rank_tests,
)
from xaibench.stats.bootstrap import _resampled_means

N_REPLICATES, N_IMAGES = 2, 30


def _long(methods: dict[str, np.ndarray], metric: str = "m", direction: str = "higher") -> pd.DataFrame:
    """The long scores table of one metric: ``methods[name]`` has shape (replicates, images)."""
    rows = []
    for method, scores in methods.items():
        for replicate, per_image in enumerate(np.atleast_2d(scores)):
            for image, score in enumerate(per_image):
                rows.append(
                    {
                        "dataset": "toy",
                        "model": "net",
                        "replicate": 10 + replicate,
                        "method": method,
                        "metric": metric,
                        "category": "Faithfulness",
                        "direction": direction,
                        "sample": 1000 * replicate + image,
                        "score": float(score),
                        "params": "{}",
                        "note": "",
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    """Multiples of 2**-10, like every noise added below to ``symmetric``: those sums are exact."""
    return np.round(np.random.default_rng(0).normal(size=(N_REPLICATES, N_IMAGES)) * 1024) / 1024


@pytest.fixture(scope="module")
def methods(base) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    noise = np.round(rng.normal(size=N_IMAGES) * 1024) / 1024
    return {
        "random": base,
        "sobel": base + 0.5 + rng.normal(0, 0.01, base.shape),
        "good": base + 1.0 + rng.normal(0, 0.01, base.shape),
        "same": base.copy(),
        "symmetric": base + np.stack([noise, -noise]),  # differences +-e: R+ = R- exactly
        "shifted": base + rng.normal(0.3, 1.0, base.shape),
    }


@pytest.fixture(scope="module")
def comparisons(methods) -> pd.DataFrame:
    table = pd.concat([_long(methods, "up", "higher"), _long(methods, "down", "lower")], ignore_index=True)
    return compare_to_controls(table, seed=0, n_boot=500)


def _row(comparisons: pd.DataFrame, metric: str, method: str, control: str = "random") -> pd.Series:
    hit = comparisons.query("metric == @metric and method == @method and control == @control")
    assert len(hit) == 1, hit
    return hit.iloc[0]


# -- bootstrap --


def test_one_replicate_matches_the_t_interval():
    values = np.random.default_rng(2).normal(3.0, 2.0, size=2000)
    low, high = hierarchical_bootstrap([values], rng=group_rng(0, "t"))
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    assert abs((high - low) - 2 * half) < 0.1 * 2 * half
    assert abs((low + high) / 2 - values.mean()) < 0.1 * half


def test_disagreeing_replicates_give_a_wide_interval():
    rng = np.random.default_rng(3)
    replicates = [rng.normal(0.0, 0.01, 500), rng.normal(10.0, 0.01, 500)]
    low, high = hierarchical_bootstrap(replicates, rng=group_rng(0, "wide"))
    assert low < 1.0 and high > 9.0
    # Pooled as one replicate (an image-level bootstrap) the interval is ~[4.7, 5.3]: the bug this avoids.
    naive_low, naive_high = hierarchical_bootstrap([np.concatenate(replicates)], rng=group_rng(0, "wide"))
    assert 4.5 < naive_low < naive_high < 5.5


def test_unequal_replicates_resample_whole_replicates():
    """Replicates [0, 0, 0] and fifty 1s, constant within: a resample holds two copies of one replicate
    (grand mean 0 or 1) or one of each (50 / 53), nothing else -- padding cells never count."""
    means = _resampled_means([np.zeros(3), np.ones(50)], 4000, np.random.default_rng(4))
    assert set(np.unique(np.round(means, 12))) == {0.0, round(50 / 53, 12), 1.0}
    low, high = hierarchical_bootstrap([np.zeros(3), np.ones(50)], rng=group_rng(0, "uneven"))
    assert (low, high) == (0.0, 1.0)


def test_group_rng_is_stable_and_keyed():
    values = [np.arange(10.0), np.arange(5.0, 17.0)]
    first = hierarchical_bootstrap(values, rng=group_rng(7, "toy", "net", "saliency"))
    again = hierarchical_bootstrap(values, rng=group_rng(7, "toy", "net", "saliency"))
    assert first == again
    draws = [group_rng(7, *key).random(4) for key in [("a", "b"), ("a", "c"), ("ab", ""), ("a", "b")]]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2])
    np.testing.assert_array_equal(draws[0], draws[3])
    assert not np.array_equal(group_rng(8, "a", "b").random(4), draws[0])  # the seed matters too


def test_describe_drops_and_counts_nonfinite():
    summary = describe_replicated(
        [np.array([1.0, 2.0, np.nan, np.inf]), np.array([3.0, np.nan]), np.array([np.nan])],
        rng=group_rng(0, "nan"),
    )
    assert summary["n"] == 3 and summary["n_nonfinite"] == 4 and summary["n_replicates"] == 2
    assert summary["mean"] == pytest.approx(2.0) and summary["std"] == pytest.approx(1.0)
    assert summary["replicate_sd"] == pytest.approx(np.std([1.5, 3.0], ddof=1))
    assert 1.0 <= summary["ci95_low"] <= summary["ci95_high"] <= 3.0
    one = describe_replicated([np.array([5.0, np.nan])], rng=group_rng(0, "one"))
    assert one["n"] == 1 and np.isnan(one["std"]) and np.isnan(one["replicate_sd"])
    assert np.isnan(one["ci95_low"]) and np.isnan(one["ci95_high"])
    assert np.isnan(hierarchical_bootstrap([np.array([np.nan, 1.0])], rng=group_rng(0, "x"))[0])


# -- signed-rank tests and effect sizes --


def test_signed_rank_tests_match_scipy_sample_by_sample():
    rng = np.random.default_rng(5)
    samples = [
        rng.normal(0.4, 1.0, 20),  # exact
        rng.normal(0.2, 1.0, 60),  # asymptotic, > 50 values
        np.round(rng.normal(0.5, 1.0, 20)),  # ties and zeros, > 13: asymptotic
        np.r_[0.0, rng.normal(0.5, 1.0, 15)],  # a zero, > 13: asymptotic
        np.array([0.0, 1.0, 1.0, 2.0, -1.0, 3.0, 2.0, 0.5]),  # ties and zeros, <= 13: permutation
        np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0]),  # ties only, permutation, p at its floor
        np.array([0.0, 0.5, 0.7, 1.2, -0.1, 0.9, 1.5, 2.0]),  # a zero only, permutation
        rng.normal(0.0, 1.0, 20),  # exact again: batched with the first
        np.r_[0.0, 0.0, rng.normal(0.5, 1.0, 18)],  # zeros, 20 values: batched with the rounded sample
    ]
    statistic, p_value = signed_rank_tests(samples)
    for sample, s, p in zip(samples, statistic, p_value, strict=True):
        expected = stats.wilcoxon(sample, zero_method="wilcox")
        assert s == pytest.approx(expected.statistic, rel=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-9)
    statistic, p_value = signed_rank_tests([np.zeros(5), np.empty(0)])
    assert np.isnan(statistic).all() and p_value[0] == 1.0 and np.isnan(p_value[1])


def test_rank_biserial_by_hand():
    d = np.array([0.0, 2.0, -1.0, 3.0, 2.0, -4.0, 0.5])
    ranks = stats.rankdata(np.abs(d[d != 0]))  # |d| 2, 1, 3, 2, 4, 0.5 -> 3.5, 2, 5, 3.5, 6, 1
    r_plus, r_minus = ranks[d[d != 0] > 0].sum(), ranks[d[d != 0] < 0].sum()  # 13, 8
    assert rank_biserial(d) == pytest.approx((r_plus - r_minus) / (r_plus + r_minus)) == pytest.approx(5 / 21)
    assert rank_biserial(np.zeros(4)) == 0.0 and rank_biserial(np.array([1.0, 2.0])) == 1.0


@pytest.mark.parametrize("decimals", [1, None])
def test_rank_biserial_interval_matches_resampling_by_hand(decimals):
    """With ties among the |d| (rounded to 1 decimal) and without (only the copies a resample makes, so the
    counts' columns are the tie groups): the interval equals ranking each resample by hand."""
    d = np.random.default_rng(6).normal(0.3, 1.0, 25)
    d = np.round(d, decimals) if decimals else d
    d[[3, 11]] = 0.0  # zeros: left out of the ranks
    assert (np.unique(np.abs(d)).size < d.size - 1) == (decimals is not None)
    low, high = rank_biserial_interval(d, rng=np.random.default_rng(9), n_boot=300, confidence=0.9)
    draws = np.random.default_rng(9).integers(0, d.size, size=(300, d.size))
    effects = [rank_biserial(d[row]) for row in draws]
    assert (low, high) == pytest.approx(tuple(np.quantile(effects, [0.05, 0.95])), abs=1e-12)


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.01, 0.6, 0.001])
    np.testing.assert_array_equal(holm(p), multipletests(p, method="holm")[1])
    with_nan = holm(np.array([np.nan, 0.02, 0.03]))
    assert np.isnan(with_nan[0]) and np.array_equal(with_nan[1:], [0.04, 0.04])


# -- comparisons with controls --


def test_comparison_table_shape(comparisons):
    assert list(comparisons.columns) == COMPARISON_COLUMNS
    by_control = comparisons.groupby("control")["method"].apply(set).to_dict()
    assert by_control == {
        "random": {"sobel", "good", "same", "symmetric", "shifted"},
        "sobel": {"good", "same", "symmetric", "shifted"},  # random vs sobel only once: sobel vs random
    }
    assert (comparisons["n_pairs"] == N_REPLICATES * N_IMAGES).all()


def test_clearly_better_method(comparisons):
    up = _row(comparisons, "up", "good")
    assert up["verdict"] == "better" and up["effect_size"] == 1.0
    assert (up["effect_ci_low"], up["effect_ci_high"]) == (1.0, 1.0)
    assert up["median_difference"] == pytest.approx(1.0, abs=0.05) and up["p_holm"] < 1e-6
    down = _row(comparisons, "down", "good")  # same scores, lower is better
    assert down["verdict"] == "worse" and down["effect_size"] == -1.0
    assert down["median_difference"] == pytest.approx(-1.0, abs=0.05)


def test_no_difference(comparisons):
    same = _row(comparisons, "up", "same")
    assert same["p_value"] == 1.0 and np.isnan(same["statistic"]) and same["effect_size"] == 0.0
    assert same["verdict"] == "no difference" and same["median_difference"] == 0.0
    symmetric = _row(comparisons, "up", "symmetric")
    assert symmetric["effect_size"] == 0.0 and symmetric["p_value"] > 0.9
    assert symmetric["verdict"] == "no difference"
    assert symmetric["effect_ci_low"] < 0 < symmetric["effect_ci_high"]


def test_p_value_and_effect_by_hand(comparisons, methods):
    shifted = _row(comparisons, "up", "shifted")
    d = (methods["shifted"] - methods["random"]).ravel()
    expected = stats.wilcoxon(d)
    assert shifted["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert shifted["statistic"] == expected.statistic
    ranks = stats.rankdata(np.abs(d))
    assert shifted["effect_size"] == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    down = _row(comparisons, "down", "shifted")  # oriented the other way: same p, opposite effect
    assert (
        down["p_value"] == pytest.approx(shifted["p_value"])
        and down["effect_size"] == -shifted["effect_size"]
    )


def test_holm_within_each_family(comparisons):
    from statsmodels.stats.multitest import multipletests

    for _, family in comparisons.groupby(["metric", "control"]):
        expected = multipletests(family["p_value"].to_numpy(), method="holm")[1]
        np.testing.assert_allclose(family["p_holm"].to_numpy(), expected, rtol=1e-15)


def test_pairs_by_replicate_and_sample_not_row_order(methods):
    table = pd.concat([_long(methods, "up", "higher"), _long(methods, "down", "lower")], ignore_index=True)
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    keys = ["metric", "control", "method"]
    expected = compare_to_controls(table, n_boot=200).sort_values(keys).reset_index(drop=True)
    got = compare_to_controls(shuffled, n_boot=200).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_nonfinite_pairs_dropped_and_too_few_pairs(base):
    sparse = base + 1.0
    sparse[0, :5] = np.nan
    sparse[1, 3] = np.inf
    lonely = np.full(base.shape, np.nan)
    lonely[0, 0] = 1.0
    table = _long({"random": base, "sparse": sparse, "lonely": lonely})
    table = pd.concat([table, _long({"random": base, "x": base}, "flat", "none")], ignore_index=True)
    result = compare_to_controls(table, n_boot=100)
    assert set(result["metric"]) == {"m"}  # direction "none": no rows; no sobel: no sobel rows
    assert _row(result, "m", "sparse")["n_pairs"] == N_REPLICATES * N_IMAGES - 6
    lonely_row = _row(result, "m", "lonely")
    assert lonely_row["verdict"] == "too few pairs" and lonely_row["n_pairs"] == 1
    assert np.isnan(lonely_row["p_value"]) and np.isnan(lonely_row["p_holm"])


def test_duplicate_rows_are_refused(base):
    table = _long({"random": base, "a": base + 1})
    with pytest.raises(ValueError, match="duplicate"):
        compare_to_controls(pd.concat([table, table.iloc[:1]]))


def test_beats_control_counts(comparisons):
    counts = beats_control_counts(comparisons)
    assert list(counts.columns) == BEATS_COLUMNS
    good = counts.set_index("method").loc["good"]
    assert (good["n_metrics"], good["n_better"], good["n_worse"]) == (2, 1, 1)
    assert good["sentence"] == "good beats random on 1 of 2 metrics (worse on 1)"


# -- metric health --


@pytest.fixture(scope="module")
def health_table(methods, base) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    zeros = np.zeros(base.shape)
    binary = {m: (rng.random(base.shape) < p).astype(float) for m, p in [("random", 0.5), ("good", 0.6)]}
    nan_heavy = {m: np.where(rng.random(base.shape) < 0.7, np.nan, v) for m, v in methods.items()}
    saturated = {"random": base, "good": zeros + 1, "same": zeros + 1, "shifted": zeros + 1}
    axiom = {"random": binary["random"], "good": zeros + 1, "same": zeros, "shifted": zeros}  # pass/fail
    spread = (base - base.mean()) / base.std(ddof=1)
    table = pd.concat(
        [
            _long(methods, "good"),
            _long(dict.fromkeys(methods, zeros), "constant"),
            _long(binary, "binary"),
            _long(nan_heavy, "nan heavy"),
            _long(saturated, "saturated"),
            _long(axiom, "axiom"),
            _long({"random": spread, "a": spread + 2.0}, "spread", "none"),
        ],
        ignore_index=True,
    )
    return metric_health(table, compare_to_controls(table, n_boot=100))


@pytest.fixture(scope="module")
def health(health_table) -> pd.DataFrame:
    return health_table.set_index("metric")


def test_health_columns(health_table, health):
    assert list(health_table.columns) == HEALTH_COLUMNS
    assert health_table["metric"].tolist() == [
        "good",
        "constant",
        "binary",
        "nan heavy",
        "saturated",
        "axiom",
        "spread",
    ]
    assert health.loc["good", "n_methods"] == 6 and health.loc["saturated", "n_methods"] == 4


def test_health_of_a_good_metric(health):
    good = health.loc["good"]
    assert good["flags"] == "" and good["informative"] and good["separates_random"]
    assert good["separated_pairs"] > 0 and good["n_distinct"] > 100
    assert good["nonfinite_share"] == 0.0 and not good["constant"] and good["saturated_share"] == 0.0
    assert "of method pairs differ" in good["reason"]


def test_constant_metric(health):
    constant = health.loc["constant"]
    assert constant["constant"] and not constant["informative"] and constant["spread"] == 0.0
    assert constant["n_distinct"] == 1 and constant["saturated_share"] == 1.0
    assert constant["flags"] == "constant, saturated, few values, does not separate random"
    assert constant["separated_pairs"] == 0.0 and not constant["separates_random"]
    assert constant["reason"].startswith("not informative: every method scores 0 on every image")


def test_few_values_is_a_warning(health):
    binary = health.loc["binary"]
    assert binary["n_distinct"] == 2 and "few values" in binary["flags"].split(", ")
    assert binary["informative"] and "a pass/fail score (0 or 1): its mean is a pass rate" in binary["reason"]


def test_a_pass_fail_metric_with_pinned_methods_is_not_saturated(health):
    """Methods that always fail (or pass) an axiom are pinned at 0 (or 1): for a 0/1 score that is what the
    metric says about them, so it is no "saturated" metric (a continuous score pinned so would be)."""
    axiom = health.loc["axiom"]
    assert axiom["saturated_share"] == 0.5 and "saturated" not in axiom["flags"]
    assert axiom["informative"] and "2 of 4 methods score 0 on every image" in axiom["reason"]


def test_mostly_nonfinite_metric(health):
    nan_heavy = health.loc["nan heavy"]
    assert nan_heavy["nonfinite_share"] > 0.6 and "mostly non-finite" in nan_heavy["flags"]
    assert not nan_heavy["informative"] and "of scores are NaN or inf" in nan_heavy["reason"]


def test_saturated_metric(health):
    saturated = health.loc["saturated"]
    assert saturated["saturated_share"] == 0.75 and not saturated["constant"]
    assert "saturated" in saturated["flags"] and not saturated["informative"]
    assert "3 of 4 methods score 1 on every image" in saturated["reason"]


def test_direction_none_and_spread(health):
    spread = health.loc["spread"]
    assert spread["direction"] == "none" and not spread["separates_random"]
    assert "does not separate random" not in spread["flags"] and spread["informative"]
    assert spread["spread"] == pytest.approx(np.sqrt(2.0))  # means 0 and 2, sd within each 1
    assert spread["separated_pairs"] == 1.0  # a = random + 2 on every image


def test_imports_stay_light(heavy_imports):
    assert heavy_imports("xaibench.stats", ("scipy", "statsmodels", "torch", "matplotlib", "quantus")) == []
