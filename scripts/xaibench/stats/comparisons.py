"""Is a method better than its controls? Paired signed-rank tests of each method against random and sobel.

A method's scores on a metric mean little on their own: a random map or a Sobel edge map (no model at all)
may score as well. Every method of a replicate is scored on the same images, so each (replicate, sample)
gives one paired difference method - control; :func:`compare_to_controls` runs the Wilcoxon signed-rank
test on those differences (no normality assumption: scores are bounded, skewed, often tied) and reports
the matched-pairs rank-biserial correlation as the effect size, with a bootstrap interval over pairs and a
Holm correction over the methods compared with one control on one metric. Differences are oriented so that
positive means "the method is better" whatever the metric's direction; metrics with direction "none" have
no better and are skipped.

Pairing is on (replicate, sample), never on row order, and pairs where either score is non-finite are
dropped. The helpers (:func:`paired_scores`, :func:`signed_rank_tests`, :func:`rank_biserial`) are shared
with :mod:`xaibench.stats.health`.

scipy is imported inside the functions that use it, so importing this package stays cheap for jobs that
only need :mod:`xaibench.stats.bootstrap`; Holm is computed here (statsmodels' arithmetic, checked against
it in the tests) because ``multipletests`` runs ``gc.collect()`` on every call.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xaibench.stats.bootstrap import group_rng

CONTROLS = ("random", "sobel")
DIRECTIONS = ("higher", "lower", "none")
METRIC_KEYS = ["dataset", "model", "metric"]
PAIR_KEYS = ["replicate", "sample"]
REQUIRED_COLUMNS = [*METRIC_KEYS, "method", "category", "direction", "sample", "score"]
COMPARISON_COLUMNS = [
    "dataset",
    "model",
    "metric",
    "category",
    "direction",
    "method",
    "control",
    "n_pairs",
    "median_difference",
    "effect_size",
    "effect_ci_low",
    "effect_ci_high",
    "statistic",
    "p_value",
    "p_holm",
    "verdict",
]
BEATS_COLUMNS = ["dataset", "model", "method", "n_metrics", "n_better", "n_worse", "sentence"]
TOO_FEW = "too few pairs"


def prepared_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The columns the statistics need, checked: a missing ``replicate`` column means one replicate (0);
    directions must be higher/lower/none; (dataset, model, metric, method, replicate, sample) must be
    unique -- a method run with two parameter sets must be renamed before it is compared."""
    missing = [c for c in REQUIRED_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing columns {missing}")
    table = scores.loc[:, [c for c in [*REQUIRED_COLUMNS, "replicate"] if c in scores.columns]].copy()
    if "replicate" not in table.columns:
        table["replicate"] = 0
    table["score"] = table["score"].astype(np.float64)
    unknown = sorted(set(table["direction"]) - set(DIRECTIONS))
    if unknown:
        raise ValueError(f"scores: unknown direction(s) {unknown}; expected one of {list(DIRECTIONS)}")
    duplicated = table.duplicated([*METRIC_KEYS, "method", *PAIR_KEYS])
    if duplicated.any():
        first = table.loc[duplicated, [*METRIC_KEYS, "method", *PAIR_KEYS]].iloc[0].to_dict()
        raise ValueError(
            f"scores: {int(duplicated.sum())} duplicate (..., replicate, sample) rows, e.g. {first}"
        )
    return table


def metric_groups(table: pd.DataFrame) -> Iterable[tuple[dict[str, Any], pd.DataFrame]]:
    """(key dict with dataset/model/metric/category/direction, rows) per metric, in order of appearance."""
    for key, group in table.groupby(METRIC_KEYS, sort=False, dropna=False):
        first = group.iloc[0]
        info = dict(zip(METRIC_KEYS, key, strict=True))
        info.update(category=first["category"], direction=first["direction"])
        yield info, group


def paired_scores(group: pd.DataFrame) -> pd.DataFrame:
    """One metric's scores as a (replicate, sample) x method table, methods in order of appearance; a
    method that did not score a pair has NaN there."""
    wide = group.pivot(index=PAIR_KEYS, columns="method", values="score")
    return wide.reindex(columns=pd.unique(group["method"]))


def oriented_differences(method: np.ndarray, control: np.ndarray, direction: str) -> np.ndarray:
    """Paired differences with positive = method better; pairs with a non-finite score dropped."""
    difference = method - control if direction == "higher" else control - method
    return difference[np.isfinite(method) & np.isfinite(control)]


def _wilcoxon_modes(batch: np.ndarray) -> np.ndarray:
    """What ``scipy.stats.wilcoxon(d, method="auto")`` does with each row (one sample) of ``batch``, scipy
    >= 1.13: "asymptotic" above 50 values; "exact" without zeros or ties among |d|; else "permutation"
    (a complete sign-flip enumeration) up to 13 values, "asymptotic" beyond. scipy decides once for all
    the rows of a call, so rows are sent to it grouped by mode."""
    k, n = batch.shape
    if n > 50:
        return np.full(k, "asymptotic", dtype=object)
    magnitude = np.sort(np.where(batch == 0, np.nan, np.abs(batch)), axis=1)  # NaN: zeros tie nothing
    has_ties = np.any(magnitude[:, 1:] == magnitude[:, :-1], axis=1)
    has_zero = np.any(batch == 0, axis=1)
    fallback = "permutation" if n <= 13 else "asymptotic"
    return np.where(has_ties | has_zero, fallback, "exact").astype(object)


@functools.cache
def _sign_patterns(n: int) -> np.ndarray:
    """All 2**n assignments of signs to n values, as a (n, 2**n) 0/1 float array (1 = positive)."""
    return ((np.arange(2**n)[None, :] >> np.arange(n)[:, None]) & 1).astype(np.float64)


def _permutation_tests(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided sign-flip tests of R+ over all 2**n sign patterns, one per row: what scipy's
    ``wilcoxon(method="auto")`` runs for at most 13 values with zeros or ties (``permutation_test``, same
    comparison tolerance), which takes scipy up to seconds per sample. (statistic, p) arrays."""
    from scipy import stats

    n = batch.shape[1]
    n_zero = np.count_nonzero(batch == 0, axis=1)[:, None]
    # Zeros rank lowest among |d|, so ranks among the non-zero values are the ranks among all minus n_zero.
    ranks = np.where(batch != 0, stats.rankdata(np.abs(batch), axis=1) - n_zero, 0.0)
    r_plus = (ranks * (batch > 0)).sum(axis=1)
    r_minus = (ranks * (batch < 0)).sum(axis=1)
    p_value = np.empty(len(batch))
    rows_per_chunk = max(1, 2**21 // 2**n)  # bounds the (rows, 2**n) null distribution to 16 MB
    for start in range(0, len(batch), rows_per_chunk):
        chunk = slice(start, start + rows_per_chunk)
        null = ranks[chunk] @ _sign_patterns(n)
        observed = r_plus[chunk, None]
        gamma = np.abs(np.finfo(np.float64).eps * 100 * observed)
        p_less = np.count_nonzero(null <= observed + gamma, axis=1) / null.shape[1]
        p_greater = np.count_nonzero(null >= observed - gamma, axis=1) / null.shape[1]
        p_value[chunk] = np.clip(2 * np.minimum(p_less, p_greater), 0.0, 1.0)
    return np.minimum(r_plus, r_minus), p_value


def _same_size_tests(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(statistic, p) for the rows of a (samples, n) batch: see :func:`signed_rank_tests`."""
    from scipy import stats

    statistic, p_value = np.full(len(batch), np.nan), np.full(len(batch), np.nan)
    all_zero = ~np.any(batch != 0, axis=1)
    p_value[all_zero] = 1.0
    modes = _wilcoxon_modes(batch)
    for mode in ("exact", "asymptotic", "permutation"):
        rows = np.flatnonzero((modes == mode) & ~all_zero)
        if rows.size == 0:
            continue
        if mode == "permutation":
            statistic[rows], p_value[rows] = _permutation_tests(batch[rows])
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.wilcoxon(batch[rows], zero_method="wilcox", method=mode, axis=-1)
        statistic[rows], p_value[rows] = result.statistic, result.pvalue
    return statistic, p_value


def signed_rank_tests(differences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank tests (zero_method "wilcox") of many samples of paired differences:
    (statistic, p_value) arrays, as ``scipy.stats.wilcoxon(d, zero_method="wilcox")`` gives sample by
    sample (method "auto"), but fast: samples of one size and method go to scipy in one call (a call costs
    ~1 ms, mostly overhead), and the permutation tests scipy would run are enumerated here, vectorised.

    All differences zero: statistic nan, p 1.0. Empty sample: nan, nan."""
    statistic = np.full(len(differences), np.nan)
    p_value = np.full(len(differences), np.nan)
    by_size: dict[int, list[int]] = {}
    for i, difference in enumerate(differences):
        if len(difference):
            by_size.setdefault(len(difference), []).append(i)
    for members in by_size.values():
        batch = np.stack([np.asarray(differences[i], dtype=np.float64) for i in members])
        statistic[members], p_value[members] = _same_size_tests(batch)
    return statistic, p_value


def _rank_biserial_from_counts(difference: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rank-biserial correlation of samples made of ``counts[b, i]`` copies of ``difference[i]``.

    Average ranks of |d| over the non-zero values are computed per tie group of the original values
    (a copy ties with its original), so no resample is sorted: group g of equal |d| gets the rank
    (copies in lower groups) + (copies in g + 1) / 2. r = (R+ - R-) / (R+ + R-), 0 when all are zero."""
    nonzero = np.flatnonzero(difference != 0)
    if nonzero.size == 0:
        return np.zeros(counts.shape[0])
    order = nonzero[np.argsort(np.abs(difference[nonzero]), kind="stable")]
    magnitude = np.abs(difference[order])
    group = np.cumsum(np.r_[True, np.diff(magnitude) != 0]) - 1  # tie group of each sorted value
    counts = np.asarray(counts, dtype=np.float64)
    if group[-1] + 1 == order.size:  # no ties: each group is one value, its copies a column of counts
        in_group = counts[:, order]
        signed_in_group = in_group * np.sign(difference[order])
    else:
        # value i -> its tie group (zeros in none): the copies per group, and signed, as one matrix product
        # each (sums of small integers, exact in float64, as are the columns above; ~4x faster than summing
        # column groups with reduceat)
        membership = np.zeros((difference.size, group[-1] + 1))
        membership[order, group] = 1.0
        in_group = counts @ membership
        signed_in_group = counts @ (membership * np.sign(difference)[:, None])
    rank = np.cumsum(in_group, axis=1) - in_group + (in_group + 1.0) / 2.0
    total = in_group.sum(axis=1)
    rank_sum = total * (total + 1.0) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (signed_in_group * rank).sum(axis=1) / rank_sum, 0.0)


def rank_biserial(difference: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (R+ - R-) / (R+ + R-) of the signed ranks of the non-zero
    differences (average ranks for ties): +1 when every non-zero difference is positive, 0 when all are
    zero or positives and negatives balance."""
    difference = np.asarray(difference, dtype=np.float64)
    return float(_rank_biserial_from_counts(difference, np.ones((1, difference.size)))[0])


def rank_biserial_interval(
    difference: np.ndarray, *, rng: np.random.Generator, n_boot: int = 1000, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`rank_biserial`, resampling pairs (zeros included)."""
    n = difference.size
    if n < 2:
        return float("nan"), float("nan")
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)
    effects = _rank_biserial_from_counts(difference, counts)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(effects, [tail, 1.0 - tail])
    return float(low), float(high)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, NaN kept as NaN and left out of the family.

    The arithmetic of ``statsmodels.stats.multitest.multipletests(method="holm")`` (sorted p times
    m, m-1, ..., 1, running maximum, capped at 1; the tests check equality), without its ``gc.collect()``
    on every call -- ~80 ms each in a process holding a scores table, for hundreds of families."""
    p_values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p_values.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p_values))
    order = tested[np.argsort(p_values[tested])]
    stepped = np.maximum.accumulate(p_values[order] * np.arange(order.size, 0, -1))
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _compared_methods(methods: Sequence[str], control: str, controls: Sequence[str]) -> list[str]:
    """Methods compared with ``control``: every non-control method, and the controls listed after it (so
    with ("random", "sobel") sobel is compared with random once, not random with sobel as well)."""
    later = set(controls[controls.index(control) + 1 :])
    return [m for m in methods if m != control and (m not in controls or m in later)]


def _comparison_rows(
    table: pd.DataFrame, controls: Sequence[str], seed: int, n_boot: int, confidence: float
) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    rows: list[dict[str, Any]] = []
    differences: list[np.ndarray] = []
    for info, group in metric_groups(table):
        if info["direction"] == "none":
            continue
        wide = paired_scores(group)
        methods, values = list(wide.columns), wide.to_numpy(dtype=np.float64).T
        for control in (c for c in controls if c in methods):
            for method in _compared_methods(methods, control, controls):
                difference = oriented_differences(
                    values[methods.index(method)], values[methods.index(control)], info["direction"]
                )
                row = {**info, "method": method, "control": control, "n_pairs": difference.size}
                row["median_difference"] = float(np.median(difference)) if difference.size else np.nan
                if difference.size >= 2:
                    rng = group_rng(seed, *(info[k] for k in METRIC_KEYS), control, method)
                    row["effect_size"] = rank_biserial(difference)
                    row["effect_ci_low"], row["effect_ci_high"] = rank_biserial_interval(
                        difference, rng=rng, n_boot=n_boot, confidence=confidence
                    )
                rows.append(row)
                differences.append(difference if difference.size >= 2 else np.empty(0))
    return rows, differences


def _verdict(p_holm: float, effect: float, n_pairs: int, alpha: float) -> str:
    if n_pairs < 2:
        return TOO_FEW
    if p_holm < alpha and effect > 0:
        return "better"
    if p_holm < alpha and effect < 0:
        return "worse"
    return "no difference"


def compare_to_controls(
    scores: pd.DataFrame,
    controls: Sequence[str] = CONTROLS,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = 1000,
) -> pd.DataFrame:
    """Every method against every control, per (dataset, model, metric): :data:`COMPARISON_COLUMNS`.

    ``median_difference`` and ``effect_size`` (rank-biserial, in [-1, 1]) are positive when the method is
    better; ``effect_ci_low``/``effect_ci_high`` are a (1 - alpha) percentile bootstrap over pairs (not
    adjusted for multiplicity); ``statistic`` and ``p_value`` are scipy's two-sided Wilcoxon (min(R+, R-);
    nan and 1.0 when every difference is zero); ``p_holm`` is Holm-adjusted within (dataset, model,
    metric, control). Verdict: "better"/"worse" when p_holm < alpha, else "no difference"; "too few pairs"
    (p, effect nan) with fewer than 2 finite pairs. Controls absent from a metric give no rows; metrics
    with direction "none" give none either. Deterministic for a given ``seed``."""
    controls = tuple(controls)
    rows, differences = _comparison_rows(prepared_scores(scores), controls, seed, n_boot, 1.0 - alpha)
    result = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    result["statistic"], result["p_value"] = signed_rank_tests(differences)
    family = ["dataset", "model", "metric", "control"]
    for _, index in result.groupby(family, sort=False, dropna=False).groups.items():
        result.loc[index, "p_holm"] = holm(result.loc[index, "p_value"].to_numpy(dtype=np.float64))
    verdicts = zip(result["p_holm"], result["effect_size"], result["n_pairs"], strict=True)
    result["verdict"] = pd.Series(
        [_verdict(p, e, n, alpha) for p, e, n in verdicts], index=result.index, dtype="str"
    )
    floats = ["median_difference", "effect_size", "effect_ci_low", "effect_ci_high", "statistic", "p_value"]
    return result.astype({"n_pairs": "int64", **dict.fromkeys([*floats, "p_holm"], "float64")})


def _counts_sentence(method: str, control: str, n_metrics: int, n_better: int, n_worse: int) -> str:
    noun = "metric" if n_metrics == 1 else "metrics"
    return f"{method} beats {control} on {n_better} of {n_metrics} {noun} (worse on {n_worse})"


def beats_control_counts(comparisons: pd.DataFrame, control: str = "random") -> pd.DataFrame:
    """Per (dataset, model, method): on how many metrics it beats ``control`` -- :data:`BEATS_COLUMNS`.

    ``n_metrics`` counts the metrics where the method was tested against the control (verdicts other than
    "too few pairs"); ``sentence`` reads e.g. "saliency beats random on 5 of 18 metrics (worse on 2)"."""
    rows = comparisons.loc[(comparisons["control"] == control) & (comparisons["verdict"] != TOO_FEW)]
    out = []
    for (dataset, model, method), group in rows.groupby(["dataset", "model", "method"], sort=False):
        n_metrics = int(group["metric"].nunique())
        n_better = int((group["verdict"] == "better").sum())
        n_worse = int((group["verdict"] == "worse").sum())
        sentence = _counts_sentence(method, control, n_metrics, n_better, n_worse)
        out.append([dataset, model, method, n_metrics, n_better, n_worse, sentence])
    return pd.DataFrame(out, columns=BEATS_COLUMNS).astype(
        {"n_metrics": "int64", "n_better": "int64", "n_worse": "int64"}
    )


def not_better_than(comparisons: pd.DataFrame, control: str) -> set[tuple[str, str, str, str]]:
    """(dataset, model, method, metric) of every comparison with ``control`` whose verdict is not "better"
    (the cells the metric heatmap fades)."""
    rows = comparisons.loc[(comparisons["control"] == control) & (comparisons["verdict"] != "better")]
    return set(zip(rows["dataset"], rows["model"], rows["method"], rows["metric"], strict=True))
