"""Score tables: long per-sample scores, per-(dataset, model, method, metric) summaries, non-finite report.

Only pandas/numpy/scipy: no torch, no Quantus, so table and report jobs stay cheap. Category and direction
come from each :class:`xaibench.metrics.MetricResult` (filled by ``evaluate_metric`` from the Quantus
class), not from a lookup here.

Non-finite scores (NaN from Quantus, e.g. a constant explanation in a correlation, or inf) are kept in the
long table; summaries compute mean/std/CI over the finite scores of every replicate and count the rest
in ``n_nonfinite``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xaibench.stats import describe_replicated, group_rng

if TYPE_CHECKING:
    from xaibench.metrics import MetricResult

SCORE_COLUMNS = [
    "dataset",
    "model",
    "replicate",
    "method",
    "metric",
    "category",
    "direction",
    "sample",
    "score",
    "params",
    "note",
]
GROUP_COLUMNS = ["dataset", "model", "method", "metric"]
SUMMARY_COLUMNS = [
    *GROUP_COLUMNS,
    "category",
    "direction",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "replicate_sd",
    "n",
    "n_replicates",
    "n_nonfinite",
    "params",
]
NONFINITE_GROUP = ["dataset", "model", "replicate", "method", "metric"]
NONFINITE_COLUMNS = [
    *NONFINITE_GROUP,
    "n_total",
    "n_nonfinite",
    "n_nan",
    "n_inf",
    "fraction_nonfinite",
    "samples",
    "notes",
]
# How many non-finite sample ids the report lists per row.
MAX_LISTED_SAMPLES = 20


def labelled(frames: Sequence[pd.DataFrame] | pd.DataFrame, **labels: Any) -> pd.DataFrame:
    """The frames concatenated with ``labels`` (e.g. dataset, model) as constant columns in front; a frame
    that already has a label column keeps its values (a per-replicate column, say)."""
    frames = [frames] if isinstance(frames, pd.DataFrame) else list(frames)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = table.assign(**{k: v for k, v in labels.items() if k not in table})
    front = [c for c in ("dataset", "model", "replicate", *labels) if c in table]
    front = list(dict.fromkeys(front))
    return table[front + [c for c in table.columns if c not in front]]


def params_json(params: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON for the ``params`` column (numpy scalars/arrays become plain values)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def scores_frame(
    results: Mapping[str, MetricResult],
    *,
    dataset: str,
    model: str,
    replicate: int,
    method: str,
    sample_ids: Sequence[Any],
) -> pd.DataFrame:
    """Long table: one row per sample x metric, columns :data:`SCORE_COLUMNS`, scores as float64."""
    ids = list(sample_ids)
    frames = []
    for metric, result in results.items():
        scores = np.asarray(result.scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != len(ids):
            raise ValueError(f"metric {metric!r}: {scores.shape[0]} scores for {len(ids)} sample ids")
        if not result.category or not result.direction:
            raise ValueError(
                f"metric {metric!r}: MetricResult has no category/direction (build it with evaluate_metric)"
            )
        frames.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "model": model,
                    "replicate": int(replicate),
                    "method": method,
                    "metric": metric,
                    "category": result.category,
                    "direction": result.direction,
                    "sample": ids,
                    "score": scores,
                    "params": params_json(result.params),
                    "note": result.note,
                },
                columns=SCORE_COLUMNS,
            )
        )
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype="float64" if c == "score" else object) for c in SCORE_COLUMNS}
        )
    return pd.concat(frames, ignore_index=True)


def summarise(scores: pd.DataFrame, *, seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """One row per (dataset, model, method, metric) -- per distinct params too, should a metric appear
    with several parameter sets -- with :data:`SUMMARY_COLUMNS`, in order of first appearance.

    The mean is over every finite score of every replicate; the 95 % CI is a hierarchical (cluster)
    bootstrap (replicates resampled, then images within each; :mod:`xaibench.stats.bootstrap`), seeded per
    group from ``seed`` and the group's key, so the table does not depend on the order of its rows;
    ``replicate_sd`` is the spread of the replicates' means."""
    _require(scores, SCORE_COLUMNS, "scores")
    keys = [*GROUP_COLUMNS, "category", "direction", "params"]
    rows = []
    for key, by_replicate in _grouped_scores(scores, keys):
        row = dict(zip(keys, key, strict=True))
        rng = group_rng(seed, *(str(k) for k in key[:4]))
        row.update(describe_replicated(by_replicate, rng=rng, n_boot=n_boot))
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).astype(
        {"n": "int64", "n_replicates": "int64", "n_nonfinite": "int64"}
    )


def _grouped_scores(scores: pd.DataFrame, keys: list[str]) -> Iterator[tuple[tuple, list[np.ndarray]]]:
    """(key, [scores of each replicate, replicates ascending]) per group of ``keys`` in order of first
    appearance, each replicate's scores in row order: what ``groupby(keys, sort=False, dropna=False)`` and,
    within a group, ``groupby("replicate", sort=True)`` give, from one stable sort instead of ~26,000
    pandas group objects (the default run's 202,032 scores: 7.8 s -> 3.8 s)."""
    groups = scores.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    replicate = scores["replicate"].to_numpy()
    order = np.lexsort((replicate, groups))  # stable: row order within (group, replicate)
    groups, replicate = groups[order], replicate[order]
    values = scores["score"].to_numpy(dtype=np.float64)[order]
    key_rows = scores[keys].to_numpy(dtype=object)[order]
    group_starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    cuts = np.flatnonzero(np.r_[True, (groups[1:] != groups[:-1]) | (replicate[1:] != replicate[:-1])])
    ends = np.r_[group_starts[1:], groups.size]
    first_cut, last_cut = np.searchsorted(cuts, group_starts), np.searchsorted(cuts, ends)
    for begin, end, a, b in zip(group_starts, ends, first_cut, last_cut, strict=True):
        yield tuple(key_rows[begin]), np.split(values[begin:end], cuts[a + 1 : b] - begin)


def nonfinite_report(scores: pd.DataFrame) -> pd.DataFrame:
    """Groups with NaN/inf scores, for the report: counts by kind and the first non-finite sample ids.

    Takes the long scores frame (``score`` column); a summary frame (``n_nonfinite`` column, no
    ``score``) is filtered as is.
    """
    if "score" not in scores.columns:
        _require(scores, ["n_nonfinite"], "summary")
        return scores[scores["n_nonfinite"] > 0].reset_index(drop=True)
    _require(scores, [*NONFINITE_GROUP, "sample", "score"], "scores")
    rows = []
    for key, group in scores.groupby(NONFINITE_GROUP, sort=False, dropna=False):
        values = group["score"].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        ids = group["sample"].to_numpy()[bad]
        listed = ",".join(str(i) for i in ids[:MAX_LISTED_SAMPLES])
        if ids.size > MAX_LISTED_SAMPLES:
            listed += f",... (+{ids.size - MAX_LISTED_SAMPLES})"
        row = dict(zip(NONFINITE_GROUP, key, strict=True))
        row.update(
            n_total=int(values.size),
            n_nonfinite=int(bad.sum()),
            n_nan=int(np.isnan(values).sum()),
            n_inf=int(np.isinf(values).sum()),
            fraction_nonfinite=float(bad.mean()),
            samples=listed,
            notes=_notes(group),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=NONFINITE_COLUMNS)


def _notes(group: pd.DataFrame) -> str:
    """The distinct non-empty notes of a group (why scores are NaN, where known)."""
    if "note" not in group.columns:
        return ""
    notes = group["note"].dropna().astype(str)
    return " | ".join(dict.fromkeys(n for n in notes if n.strip()))


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns {missing}")
