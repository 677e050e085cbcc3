"""Difficulty sweeps: one dataset parameter swept over levels; accuracy and scores per method against it.

One sweep job per level (:func:`run_level`) generates a small dataset with the swept generator parameter set
to the level's value, trains a small model, explains a few methods on a seeded subset of its test images and
scores a few metrics -- with the workflow's own stage code (:func:`xaibench.explaining.explain_one`,
:func:`xaibench.evaluation.evaluate_one`), so a score here is the score the main workflow would give for the
same pair, NaN and note included (a method not applicable, a mask metric without masks). The caller tags
the level's tables with ``sweep``, ``param``, ``level`` (index) and ``value`` (:func:`level_tables`);
:func:`gather_levels` stacks them and :func:`summarise_sweep` gives per level the mean and 95 % bootstrap CI
of every (method, metric), the level's accuracy, and per (method, metric) the Spearman correlation of the
per-image score with the level's value: does the method's metric change with difficulty.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xaibench.stats import group_rng, hierarchical_bootstrap

LEVEL_COLUMNS = ["sweep", "param", "level", "value"]
ACCURACY_COLUMNS = [*LEVEL_COLUMNS, "accuracy", "n_test", "val_accuracy", "train_seconds"]
_STATS = ["mean", "ci95_low", "ci95_high", "n", "n_nonfinite", "accuracy"]
#: Of the (sweep, method, metric) over all levels, repeated on each of its rows.
TREND_COLUMNS = ["spearman_rho", "spearman_p", "spearman_n"]
SUMMARY_COLUMNS = [*LEVEL_COLUMNS, "method", "metric", "category", "direction", *_STATS, *TREND_COLUMNS]


def run_level(
    generator: str,
    params: dict[str, Any],
    value_param: str,
    value: Any,
    architecture: str,
    model_params: dict[str, Any],
    training: dict[str, Any],
    methods: dict[str, dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    n_samples: int,
    seed: int,
    batch_size: int = 64,
    *,
    target: str | int = "label",
    device: str = "auto",
) -> dict[str, Any]:
    """One level of a sweep: data with ``value_param = value``, a trained model, explanations, scores.

    ``methods`` maps a config name to ``{"method", "params"}``, ``metrics`` a config name to ``{"metric",
    "preset", "params"}`` (as in the config). Everything is seeded from ``seed`` (data, training, subset,
    each method from the same seeded state, each metric), so the same inputs give the same scores.

    Returns ``scores`` (long table with the columns of :data:`xaibench.tables.SCORE_COLUMNS`; ``dataset`` is
    the generator, ``model`` the architecture, ``replicate`` 0), ``accuracy`` (test accuracy), ``n_test``,
    ``val_accuracy`` (last epoch), ``history``, ``timing`` (stage, name, seconds), and what was used:
    ``dataset``, ``model``, ``device``, ``indices`` (evaluation subset), ``targets``, ``attributions``
    (method -> (N, 1, H, W)) and ``notes`` (method -> why its maps are NaN, "" when they are not).
    ``device`` as in the config (``auto``: CUDA when usable); ``target`` as ``explain.target``.
    """
    if not methods or not metrics:
        raise ValueError("a sweep level needs at least one method and one metric")
    # the stages' code (and torch) imported here: rule sweep only summarises tables (~2 s less)
    from xaibench.datasets import evaluation_subset, make_dataset
    from xaibench.evaluation import evaluate_one, explanation_cache
    from xaibench.explaining import explain_one, explained_targets
    from xaibench.methods import import_libraries
    from xaibench.methods.cache import ForwardCache
    from xaibench.runtime import select_device
    from xaibench.training import predict, train

    dev = select_device(device)
    start = time.perf_counter()
    dataset = make_dataset(generator, seed=seed, **{**params, value_param: value})
    data_s = time.perf_counter() - start
    trained = train(dataset, architecture, model_params, seed=seed, device=dev, **training)
    model = trained.model.eval()
    train_s = time.perf_counter() - start - data_s

    idx = evaluation_subset(dataset, n_samples, seed)
    images, labels = dataset.images[idx], dataset.labels[idx]
    targets = explained_targets(target, labels, predict(model, images, dev), dataset.class_names)
    specs = {
        name: {"method": s["method"], "params": dict(s.get("params") or {})} for name, s in methods.items()
    }
    import_libraries(spec["method"] for spec in specs.values())
    cache, forward_cache = explanation_cache(), ForwardCache()  # as the evaluation stage runs them
    ids = {"dataset": generator, "model": architecture, "replicate": 0}
    attributions, notes, frames = {}, {}, []
    timing = [{"stage": "data", "name": generator, "seconds": data_s}]
    timing.append({"stage": "train", "name": architecture, "seconds": train_s})
    for name, spec in specs.items():
        maps, seconds, note = explain_one(spec, model, dev, images, targets, seed, batch_size)
        attributions[name], notes[name] = maps, note
        timing.append({"stage": "explain", "name": name, "seconds": seconds})
        expl = {"indices": idx, "targets": targets, "attributions": maps} | ({"note": note} if note else {})
        scores, _, metric_timing = evaluate_one(
            dataset,
            model,
            dev,
            expl,
            metrics=metrics,
            method=spec,
            ids={**ids, "method": name},
            batch_size=batch_size,
            seed=seed,
            explain_cache=cache,
            forward_cache=forward_cache,
        )
        frames.append(scores)
        timing += [
            {"stage": "evaluate", "name": f"{name}.{row.metric}", "seconds": row.seconds}
            for row in metric_timing.itertuples()
        ]
    history = trained.history
    return {  # the tables, then what the level used
        "scores": pd.concat(frames, ignore_index=True),
        "accuracy": float(trained.test_metrics["test_accuracy"]),
        "n_test": int(trained.test_metrics["n_test"]),
        "val_accuracy": float(history["val_acc"].iloc[-1]) if len(history) else float("nan"),
        "history": history,
        "timing": pd.DataFrame(timing, columns=["stage", "name", "seconds"]),
        "dataset": dataset,
        "model": model,
        "device": dev,
        "indices": idx,
        "targets": targets,
        "attributions": attributions,
        "notes": notes,
    }


def level_tables(
    result: dict[str, Any], *, sweep: str, param: str, level: int, value: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and the one-row accuracy table (:data:`ACCURACY_COLUMNS`) of a :func:`run_level` result,
    each led by the columns ``sweep``, ``param``, ``level``, ``value`` (a list value is kept as its JSON-like
    text, e.g. ``[6, 12]``)."""
    tag = {"sweep": sweep, "param": param, "level": int(level), "value": _cell(value)}
    scores = result["scores"].assign(**tag)
    scores = scores[[*LEVEL_COLUMNS, *(c for c in scores.columns if c not in LEVEL_COLUMNS)]]
    train_s = result["timing"].query("stage == 'train'")["seconds"].sum()
    row = {
        **tag,
        "accuracy": result["accuracy"],
        "n_test": result["n_test"],
        "val_accuracy": result["val_accuracy"],
        "train_seconds": float(train_s),
    }
    accuracy = pd.DataFrame([row], columns=ACCURACY_COLUMNS)
    return scores.reset_index(drop=True), accuracy


def _cell(value: Any) -> Any:
    return "[" + ", ".join(str(v) for v in value) + "]" if isinstance(value, (list, tuple)) else value


def gather_levels(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The level tables of one or more sweeps stacked, ordered by (sweep, level) and otherwise as given;
    each must carry ``sweep``, ``param``, ``level`` and ``value``, and a level one value only."""
    if not tables:
        raise ValueError("gather_levels: no tables")
    for k, table in enumerate(tables):
        missing = [c for c in LEVEL_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"level table {k} lacks columns {missing}")
    gathered = pd.concat(list(tables), ignore_index=True)
    values = gathered.groupby(["sweep", "level"])["value"].nunique(dropna=False)
    if (values > 1).any():
        raise ValueError(f"levels with several values: {values[values > 1].index.tolist()}")
    return gathered.sort_values(["sweep", "level"], kind="stable").reset_index(drop=True)


def sweep_x(frame: pd.DataFrame) -> pd.Series:
    """The numeric x of every row: its ``value`` when every value is a number, else its ``level`` index."""
    numeric = pd.to_numeric(frame["value"], errors="coerce")
    return numeric.astype(float) if numeric.notna().all() else frame["level"].astype(float)


def summarise_sweep(scores: pd.DataFrame, accuracy: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (sweep, level, method, metric) with :data:`SUMMARY_COLUMNS`, levels in order.

    ``mean`` over the finite per-image scores (``n`` of them, ``n_nonfinite`` dropped); ``ci95_low/high``
    the 95 % bootstrap interval of that mean (images resampled within replicates, replicates too where the
    table has several: :func:`xaibench.stats.hierarchical_bootstrap`, one generator per group from ``seed``
    and the group's key); ``accuracy`` the level's test accuracy. ``spearman_rho`` / ``spearman_p`` (scipy)
    / ``spearman_n`` are those of the (sweep, method, metric) over all its levels, repeated on each of its
    rows: the rank correlation of the per-image finite scores with the level's value (:func:`sweep_x`: the
    level index where values are not numbers); NaN with fewer than 3 scores or a constant side.
    """
    from scipy.stats import spearmanr

    for name, frame, columns in (
        ("scores", scores, [*LEVEL_COLUMNS, "method", "metric", "category", "direction", "score"]),
        ("accuracy", accuracy, [*LEVEL_COLUMNS, "accuracy"]),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} frame lacks columns {missing}")
    order = [c for c in ("sweep", "level", "replicate", "sample") if c in scores.columns]  # input order: moot
    scores = scores.sort_values(order, kind="stable").assign(_x=lambda frame: sweep_x(frame))
    trends = {}
    for key, group in scores.groupby(["sweep", "method", "metric"], sort=False):
        finite = group[np.isfinite(group["score"].to_numpy(dtype=np.float64))]
        x, y = finite["_x"].to_numpy(), finite["score"].to_numpy(dtype=np.float64)
        rho = p = float("nan")
        if len(y) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            result = spearmanr(x, y)
            rho, p = float(result.statistic), float(result.pvalue)
        trends[key] = (rho, p, len(y))

    acc = accuracy.drop_duplicates(["sweep", "level"]).set_index(["sweep", "level"])["accuracy"]
    rows = []
    keys = [*LEVEL_COLUMNS, "method", "metric"]
    for key, group in scores.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
        values = group["score"].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        parts = (
            [g["score"].to_numpy(dtype=np.float64) for _, g in group.groupby("replicate", sort=True)]
            if "replicate" in group.columns
            else [values]
        )
        rng = group_rng(seed, row["sweep"], row["level"], row["method"], row["metric"])
        low, high = hierarchical_bootstrap(parts, n_boot=n_boot, rng=rng)
        rho, p, n_rho = trends[(row["sweep"], row["method"], row["metric"])]
        row.update(
            category=group["category"].iloc[0],
            direction=group["direction"].iloc[0],
            mean=float(values[finite].mean()) if finite.any() else float("nan"),
            ci95_low=low,
            ci95_high=high,
            n=int(finite.sum()),
            n_nonfinite=int((~finite).sum()),
            accuracy=float(acc.get((row["sweep"], row["level"]), float("nan"))),
            spearman_rho=rho,
            spearman_p=p,
            spearman_n=n_rho,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
