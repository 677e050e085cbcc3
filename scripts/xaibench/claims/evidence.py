"""Ways of turning the workflow's tables into :class:`~xaibench.claims.core.Evidence`, shared by the claims.

* :func:`against_control`: a method against the random or Sobel control on one metric, read from
  ``comparisons.tsv`` (Wilcoxon signed-rank on per-image scores, Holm-corrected; rank-biserial effect size
  with its bootstrap interval).
* :func:`between_methods`: two methods on one metric, tested the same way from ``scores.tsv`` (paired on
  replicate and image; positive = the first method is better in the metric's direction).
* :func:`paired_difference`: any paired per-image differences (e.g. a view's per-image values), Wilcoxon
  signed-rank and the hierarchical bootstrap interval of the mean difference.
* :func:`mean_interval`: the mean of per-image values with its hierarchical bootstrap interval.
* :func:`share_interval`: a proportion with its Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xaibench.claims.core import Evidence, not_tested
from xaibench.stats.bootstrap import group_rng, hierarchical_bootstrap
from xaibench.stats.comparisons import (
    oriented_differences,
    rank_biserial,
    rank_biserial_interval,
    signed_rank_tests,
)


def against_control(
    comparisons: pd.DataFrame, dataset: str, model: str, metric: str, method: str, control: str = "random"
) -> Evidence:
    """The comparisons row of ``method`` vs ``control`` on ``metric``: estimate = rank-biserial effect
    (positive = the method better), its interval, the Holm-corrected p-value; claimed "greater" than 0."""
    statistic = f"rank-biserial r, {method} vs {control}, {metric}"
    rows = comparisons[
        (comparisons["dataset"] == dataset)
        & (comparisons["model"] == model)
        & (comparisons["metric"] == metric)
        & (comparisons["method"] == method)
        & (comparisons["control"] == control)
    ]
    if rows.empty:
        return not_tested(dataset, model, statistic, f"no comparison of {method} with {control} on {metric}")
    row = rows.iloc[0]
    if int(row["n_pairs"]) == 0:
        return not_tested(
            dataset, model, statistic, f"no finite {metric} score of {method} (not applicable to the model?)"
        )
    return Evidence(
        dataset,
        model,
        statistic,
        estimate=float(row["effect_size"]),
        ci_low=float(row["effect_ci_low"]),
        ci_high=float(row["effect_ci_high"]),
        p_value=float(row["p_holm"]),
        n=int(row["n_pairs"]),
        detail=f"median difference {float(row['median_difference']):.3g} ({row['verdict']}, Holm-corrected)",
    )


def _pairs(
    scores: pd.DataFrame, dataset: str, model: str, metric: str, methods: Sequence[str]
) -> pd.DataFrame:
    rows = scores[(scores["dataset"] == dataset) & (scores["model"] == model) & (scores["metric"] == metric)]
    rows = rows[rows["method"].isin(methods)]
    return rows.pivot_table(index=["replicate", "sample"], columns="method", values="score", aggfunc="first")


def between_methods(
    scores: pd.DataFrame,
    dataset: str,
    model: str,
    metric: str,
    first: str,
    second: str,
    *,
    seed: int,
    n_boot: int,
) -> Evidence:
    """``first`` vs ``second`` on ``metric``, paired on (replicate, image): Wilcoxon signed-rank p-value and
    the rank-biserial effect (positive = ``first`` better in the metric's direction) with its bootstrap
    interval; claimed "greater" than 0."""
    statistic = f"rank-biserial r, {first} vs {second}, {metric}"
    rows = scores[(scores["dataset"] == dataset) & (scores["metric"] == metric)]
    if rows.empty:
        return not_tested(dataset, model, statistic, f"no scores of {metric}")
    direction = str(rows["direction"].iloc[0])
    if direction not in ("higher", "lower"):
        return not_tested(dataset, model, statistic, f"{metric} has no better direction")
    wide = _pairs(scores, dataset, model, metric, [first, second])
    if first not in wide or second not in wide:
        return not_tested(dataset, model, statistic, f"{first} or {second} was not scored on {metric}")
    difference = oriented_differences(wide[first].to_numpy(float), wide[second].to_numpy(float), direction)
    if difference.size < 2:
        return not_tested(dataset, model, statistic, "fewer than 2 paired images")
    _, p_value = signed_rank_tests([difference])
    low, high = rank_biserial_interval(
        difference, rng=group_rng(seed, dataset, model, metric, first, second), n_boot=n_boot
    )
    return Evidence(
        dataset,
        model,
        statistic,
        estimate=rank_biserial(difference),
        ci_low=low,
        ci_high=high,
        p_value=float(p_value[0]),
        n=difference.size,
        detail=f"median difference {float(np.median(difference)):.3g} ({direction} is better)",
    )


def _by_replicate(values: np.ndarray, replicates: np.ndarray | None) -> list[np.ndarray]:
    if replicates is None:
        return [values]
    return [values[replicates == r] for r in pd.unique(replicates)]


def mean_interval(
    values: np.ndarray, replicates: np.ndarray | None, *, rng: np.random.Generator, n_boot: int
) -> tuple[float, float, float, int]:
    """(mean, ci_low, ci_high, n) of the finite values, the interval by the hierarchical bootstrap
    (replicates, then images within them)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    values = values[finite]
    replicates = None if replicates is None else np.asarray(replicates)[finite]
    if values.size == 0:
        return math.nan, math.nan, math.nan, 0
    low, high = hierarchical_bootstrap(_by_replicate(values, replicates), n_boot=n_boot, rng=rng)
    return float(values.mean()), low, high, int(values.size)


def paired_difference(
    difference: np.ndarray,
    replicates: np.ndarray | None,
    *,
    dataset: str,
    model: str,
    statistic: str,
    rng: np.random.Generator,
    n_boot: int,
    threshold: float = 0.0,
    claimed: str = "greater",
    detail: str = "",
) -> Evidence:
    """Mean paired difference with its hierarchical bootstrap interval and the Wilcoxon signed-rank p-value
    of the differences against 0 (``threshold`` 0: the test is of the claimed sign)."""
    difference = np.asarray(difference, dtype=np.float64)
    mean, low, high, n = mean_interval(difference, replicates, rng=rng, n_boot=n_boot)
    if n < 2:
        return not_tested(dataset, model, statistic, "fewer than 2 paired values")
    finite = difference[np.isfinite(difference)]
    p_value = float(signed_rank_tests([finite - threshold])[1][0])
    return Evidence(
        dataset,
        model,
        statistic,
        mean,
        low,
        high,
        p_value,
        n,
        threshold=threshold,
        claimed=claimed,
        detail=detail,
    )


def share_interval(successes: int, total: int) -> tuple[float, float, float]:
    """(share, low, high): a proportion and its 95 % Wilson score interval (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    if total == 0:
        return math.nan, math.nan, math.nan
    low, high = proportion_confint(successes, total, alpha=0.05, method="wilson")
    return successes / total, float(low), float(high)
