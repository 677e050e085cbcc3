"""Can a metric tell methods apart at all? One row of diagnostics per (dataset, model, metric).

A metric that gives every method the same score -- every map scores 0 on a sparseness measure computed on
a saturated input, every correlation is NaN because the explanations are constant -- ranks nothing, yet
averaged into a category or a ranking it looks like a tie. :func:`metric_health` measures, per metric:
how many scores are non-finite, how many distinct values it takes, how far apart the method means are
relative to the spread within methods, whether it is constant or saturated (most methods pinned to one
value on every image), what share of method pairs differ by a paired Wilcoxon test (Holm over all pairs),
and whether any method differs from the ``random`` control (from :func:`compare_to_controls`).

Flags and ``informative``: ``constant``, ``saturated`` and ``mostly non-finite`` say the metric's scores
carry (almost) no information about the methods, so they make it *not informative*. ``few values`` (3 or
fewer distinct values) and ``does not separate random`` are warnings only: binary metrics (pointing game)
legitimately take two values, and "no method beats random" is a finding about the methods -- and, with
few images, about the test's power (with n pairs the smallest two-sided Wilcoxon p is 2**(1 - n), so
after Holm over k comparisons nothing can be significant unless 2**(1 - n) < alpha / k) -- not proof that
the metric is broken. ``separated_pairs`` does not enter ``informative`` for the same reason.

Metrics with direction "none" get a row too: every column but ``separates_random`` (False: they are not
compared with controls) is computed the same way; no "does not separate random" flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from xaibench.stats.comparisons import (
    CONTROLS,
    METRIC_KEYS,
    TOO_FEW,
    holm,
    metric_groups,
    paired_scores,
    prepared_scores,
    signed_rank_tests,
)

HEALTH_COLUMNS = [
    *METRIC_KEYS,
    "category",
    "direction",
    "n_methods",
    "nonfinite_share",
    "n_distinct",
    "spread",
    "constant",
    "saturated_share",
    "separated_pairs",
    "separates_random",
    "flags",
    "informative",
    "reason",
]
DISQUALIFYING = ("constant", "saturated", "mostly non-finite")
SATURATED_SHARE = 0.5
FEW_VALUES = 3
NONFINITE_SHARE = 0.5
CONSTANT_RTOL = 1e-12


def rounded_keys(values: np.ndarray) -> np.ndarray:
    """Finite values as strings rounded to 12 significant digits (-0.0 as 0.0): equal keys = equal values
    up to float noise."""
    return np.array([f"{v + 0.0:.11e}" for v in np.asarray(values, dtype=np.float64).ravel()], dtype=object)


def _method_summaries(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per method (rows of ``values``): mean of the finite scores (nan if none) and their sd (ddof=1; nan
    with fewer than 2)."""
    means, sds = np.full(len(values), np.nan), np.full(len(values), np.nan)
    for i, row in enumerate(values):
        finite = row[np.isfinite(row)]
        if finite.size:
            means[i] = finite.mean()
        if finite.size > 1:
            sds[i] = finite.std(ddof=1)
    return means, sds


def _is_constant(means: np.ndarray) -> bool:
    """At least 2 methods with a mean, all equal to ``CONSTANT_RTOL`` relative."""
    means = means[np.isfinite(means)]
    if means.size < 2:
        return False
    return bool(np.ptp(means) <= CONSTANT_RTOL * np.abs(means).max())


def _spread(means: np.ndarray, sds: np.ndarray, constant: bool) -> float:
    """sd (ddof=1) of the method means over the mean within-method sd: 0 when constant, inf when methods
    differ but each is constant, nan when it cannot be computed (fewer than 2 means, no sd)."""
    if constant:
        return 0.0
    means, sds = means[np.isfinite(means)], sds[np.isfinite(sds)]
    if means.size < 2 or sds.size == 0:
        return float("nan")
    between, within = float(means.std(ddof=1)), float(sds.mean())
    if within == 0.0:
        return float("inf") if between > 0 else 0.0
    return between / within


def _saturation(values: np.ndarray) -> tuple[float, str | None, int]:
    """(share of methods whose finite scores all equal the metric's most common value, that value's key,
    how many such methods). Methods without a finite score are left out; nan when none has one."""
    finite = np.isfinite(values)
    if not finite.any():
        return float("nan"), None, 0
    keys, counts = np.unique(rounded_keys(values[finite]), return_counts=True)
    mode = str(keys[np.argmax(counts)])
    pinned = scored = 0
    for row in values:
        row = row[np.isfinite(row)]
        if row.size:
            scored += 1
            pinned += bool(np.all(rounded_keys(row) == mode))
    return pinned / scored, mode, pinned


def separated_share(values: np.ndarray, alpha: float) -> float:
    """Share of method pairs (rows of ``values``, paired by column) whose two-sided Wilcoxon p-value is below
    ``alpha`` after Holm over all pairs tested; pairs with fewer than 2 finite pairs are not tested. nan
    when no pair is tested."""
    differences = []
    for i, j in combinations(range(len(values)), 2):
        keep = np.isfinite(values[i]) & np.isfinite(values[j])
        if keep.sum() >= 2:
            differences.append(values[i][keep] - values[j][keep])
    if not differences:
        return float("nan")
    _, p_value = signed_rank_tests(differences)
    return float(np.mean(holm(p_value) < alpha))


def _random_separation(
    comparisons: pd.DataFrame, controls: Sequence[str], reference: str
) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """(metric keys where some non-control method was tested against ``reference``, keys where one of
    them was better or worse)."""
    rows = comparisons.loc[
        (comparisons["control"] == reference)
        & ~comparisons["method"].isin(list(controls))
        & (comparisons["verdict"] != TOO_FEW)
    ]
    tested = set(rows[METRIC_KEYS].itertuples(index=False, name=None))
    separated = rows.loc[rows["verdict"].isin(["better", "worse"]), METRIC_KEYS]
    return tested, set(separated.itertuples(index=False, name=None))


def _flags(row: dict[str, Any], pinned: int, compared: bool, binary: bool) -> list[str]:
    flags = []
    if row["constant"]:
        flags.append("constant")
    # A pass/fail score (0/1 only) pins a method that always fails or always passes: that is what the
    # axiom says about the method, not a metric without information (unless it is constant).
    if row["saturated_share"] >= SATURATED_SHARE and pinned >= 2 and not binary:  # False for nan
        flags.append("saturated")
    if row["n_distinct"] <= FEW_VALUES:
        flags.append("few values")
    if row["nonfinite_share"] > NONFINITE_SHARE:
        flags.append("mostly non-finite")
    if compared and not row["separates_random"]:
        flags.append("does not separate random")
    return flags


def _reason(row: dict[str, Any], flags: list[str], facts: dict[str, Any], alpha: float) -> str:
    """One readable sentence: what each flag means for this metric, then how well it separates methods."""
    parts = []
    if row["n_distinct"] == 1:  # says all of constant, saturated and few values
        parts.append(f"every method scores {facts['distinct'][0]} on every image")
    else:
        if "constant" in flags:
            parts.append(f"every method has the same mean ({facts['mean']:.6g})")
        if "saturated" in flags:
            parts.append(
                f"{facts['pinned']} of {facts['scored']} methods score {facts['mode']} on every image"
            )
        if "few values" in flags and row["n_distinct"] == 0:
            parts.append("no finite score")
        elif "few values" in flags and facts["binary"]:
            parts.append(
                f"a pass/fail score (0 or 1): its mean is a pass rate; {facts['pinned']} of "
                f"{facts['scored']} methods score {facts['mode']} on every image"
            )
        elif "few values" in flags:
            parts.append(f"only {row['n_distinct']} distinct values ({', '.join(facts['distinct'])})")
    if "mostly non-finite" in flags:
        parts.append(f"{row['nonfinite_share']:.0%} of scores are NaN or inf")
    if "does not separate random" in flags:
        parts.append(f"no method differs from random (Holm, alpha {alpha:g})")
    if not facts["compared"]:
        parts.append("not compared with random" + (" (direction none)" if row["direction"] == "none" else ""))
    share = row["separated_pairs"]
    parts.append(
        "no method pair could be tested"
        if np.isnan(share)
        else f"{share:.0%} of method pairs differ (Wilcoxon, Holm, alpha {alpha:g})"
    )
    lead = "" if row["informative"] else "not informative: "
    return lead + "; ".join(parts)


def _health_row(
    info: dict[str, Any], group: pd.DataFrame, separation: tuple[set, set], alpha: float
) -> dict[str, Any]:
    wide = paired_scores(group)
    values = wide.to_numpy(dtype=np.float64).T  # methods x (replicate, sample)
    scores = group["score"].to_numpy(dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    distinct = sorted(set(rounded_keys(finite)), key=float)
    means, sds = _method_summaries(values)
    constant = _is_constant(means)
    saturated_share, mode, pinned = _saturation(values)
    key = tuple(info[k] for k in METRIC_KEYS)
    compared = info["direction"] != "none" and key in separation[0]
    row = {
        **info,
        "n_methods": int(wide.shape[1]),
        "nonfinite_share": float(1.0 - finite.size / scores.size) if scores.size else float("nan"),
        "n_distinct": len(distinct),
        "spread": _spread(means, sds, constant),
        "constant": constant,
        "saturated_share": saturated_share,
        "separated_pairs": separated_share(values, alpha),
        "separates_random": info["direction"] != "none" and key in separation[1],
    }
    binary = len(distinct) == 2 and {float(v) for v in distinct} == {0.0, 1.0}
    flags = _flags(row, pinned, compared, binary)
    row["flags"] = ", ".join(flags)
    row["informative"] = not any(f in DISQUALIFYING for f in flags)
    facts = {
        "distinct": [f"{float(v):g}" for v in distinct[:FEW_VALUES]],
        "mean": float(np.nanmean(means)) if np.isfinite(means).any() else float("nan"),
        "mode": f"{float(mode):g}" if mode is not None else "",
        "pinned": pinned,
        "scored": int(np.isfinite(means).sum()),
        "compared": compared,
        "binary": binary,
    }
    row["reason"] = _reason(row, flags, facts, alpha)
    return row


def metric_health(
    scores: pd.DataFrame,
    comparisons: pd.DataFrame,
    *,
    alpha: float = 0.05,
    controls: Sequence[str] = CONTROLS,
    reference: str = "random",
) -> pd.DataFrame:
    """Diagnostics per (dataset, model, metric) of the long scores table: :data:`HEALTH_COLUMNS`.

    - ``n_methods``: methods with rows for the metric (controls included);
    - ``nonfinite_share``: share of its rows whose score is NaN or +-inf;
    - ``n_distinct``: distinct finite scores, rounded to 12 significant digits, over all methods;
    - ``spread``: sd of the method means over the mean within-method sd (see :func:`_spread`);
    - ``constant``: at least 2 methods, all with the same mean (to 1e-12 relative);
    - ``saturated_share``: share of the methods with a finite score whose finite scores all equal the
      metric's most common value;
    - ``separated_pairs``: share of method pairs (on (replicate, sample)) with a two-sided Wilcoxon
      p < alpha after Holm over all pairs of the metric -- computed for direction "none" too;
    - ``separates_random``: in ``comparisons`` (:func:`compare_to_controls`'s table), some method other
      than the ``controls`` is "better" or "worse" than ``reference`` on the metric;
    - ``flags``: comma-separated, "" when none: "constant"; "saturated" (saturated_share >= 0.5 and at
      least 2 methods pinned: one control pinned at 0 among 2 methods is no saturation); "few
      values" (n_distinct <= 3); "mostly non-finite" (nonfinite_share > 0.5); "does not separate random"
      (only when methods were tested against ``reference``: not for direction "none");
    - ``informative``: False when "constant", "saturated" or "mostly non-finite" is raised (the other two
      are warnings, see the module docstring);
    - ``reason``: the flags in words, then the share of separated pairs.
    """
    separation = _random_separation(comparisons, tuple(controls), reference)
    rows = [
        _health_row(info, group, separation, alpha) for info, group in metric_groups(prepared_scores(scores))
    ]
    types = {"n_methods": "int64", "n_distinct": "int64", "constant": "bool", "separates_random": "bool"}
    return pd.DataFrame(rows, columns=HEALTH_COLUMNS).astype({**types, "informative": "bool"})


def flagged_metrics(health: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """(dataset, model, metric) -> flags of every metric that :func:`metric_health` judged uninformative
    (``informative`` False; the metric heatmap marks them)."""
    rows = health.loc[~health["informative"].astype(bool)]
    flags = rows["flags"].fillna("").astype(str)
    return dict(zip(zip(rows["dataset"], rows["model"], rows["metric"], strict=True), flags, strict=True))
