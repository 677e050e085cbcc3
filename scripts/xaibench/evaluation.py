"""The evaluation stage: every configured Quantus metric for the explanations of one (dataset, model).

:func:`evaluate_methods` scores several methods' stored explanations in one process (data, model and
Quantus are loaded once: an evaluation job pays ~7 s of imports, which dominates small runs); the rule
groups methods into jobs by ``evaluate.methods_per_job``. :func:`evaluate_explanations` scores one method.

Re-explanations go through an exact-replay cache (:class:`xaibench.methods.cache.ExplanationCache`), kept
for one method and cleared before the next: a metric that repeats another's explain calls in the same random
states (AvgSensitivity after MaxSensitivity: same seed, same noise) gets the stored maps instead of
explaining again, with bit-identical scores. ``explain_cache_mb=0`` turns it off.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from xaibench.explanations import load_explanation
from xaibench.logs import config_key
from xaibench.methods import import_libraries, quantus_explain_func
from xaibench.methods.cache import DEFAULT_MAX_BYTES, ExplanationCache
from xaibench.metrics import METRICS, PRESETS, MetricResult, evaluate_metric, skipped_result
from xaibench.pairs import load_pair
from xaibench.tables import scores_frame

log = logging.getLogger(__name__)

DEFAULT_CACHE_MB = DEFAULT_MAX_BYTES / 2**20


def explanation_cache(explain_cache_mb: float = DEFAULT_CACHE_MB) -> ExplanationCache | None:
    """The re-explanation cache of one evaluation job (``None`` when ``explain_cache_mb`` is 0)."""
    if explain_cache_mb < 0:
        raise ValueError(f"explain_cache_mb must be >= 0, got {explain_cache_mb!r}")
    if explain_cache_mb == 0:
        return None
    return ExplanationCache(quantus_explain_func, max_bytes=int(explain_cache_mb * 2**20))


def metric_params(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A config metric entry's params: its preset (if any) overridden by its own params."""
    params: dict[str, Any] = {}
    preset = entry.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known presets: {sorted(PRESETS)}")
        if PRESETS[preset]["metric"] != entry["metric"]:
            raise ValueError(f"preset {preset!r} is for metric {PRESETS[preset]['metric']!r}")
        params.update(PRESETS[preset]["params"])
    params.update(entry.get("params", {}))
    return params


def evaluate_explanations(
    *, attributions_path: str, method: dict[str, Any], ids: dict[str, str], **kwargs: Any
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Score stored attributions of one method (config name ``ids["method"]``) with each metric in
    ``metrics`` (config name -> entry); the other keywords are those of :func:`evaluate_methods`.

    Returns the long-form score table, the per-sample curves of curve metrics (config name -> (N, L)),
    and a timing table (metric, seconds, n, seconds_per_image).
    """
    name = ids["method"]
    others = {key: value for key, value in ids.items() if key != "method"}
    scores, curves, timing = evaluate_methods(
        attributions={name: attributions_path}, methods={name: method}, ids=others, **kwargs
    )
    return scores, {key.split(".", 1)[1]: value for key, value in curves.items()}, timing


def evaluate_methods(
    *,
    data_path: str,
    weights_path: str,
    attributions: dict[str, str],
    methods: dict[str, dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    ids: dict[str, str],
    batch_size: int,
    seed: int,
    device: str,
    explain_cache_mb: float = DEFAULT_CACHE_MB,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Score several methods (config name -> stored attributions path / method entry) on one model with
    each metric in ``metrics`` (config name -> entry). ``explain_cache_mb`` bounds the re-explanation cache
    (0: none); scores are the same either way.

    Same tables as :func:`evaluate_explanations`, concatenated in the order of ``attributions``; curves are
    keyed ``"<method>.<metric>"`` (names cannot contain dots). Each method is scored exactly as it would be
    alone (the metrics reseed per call, the re-explanation cache is cleared between methods), so grouping
    never changes a score.
    """
    if set(attributions) != set(methods):
        raise ValueError(f"attributions for {sorted(attributions)} but methods {sorted(methods)}")
    pair = load_pair(data_path, weights_path, device)
    dataset, model, dev = pair.dataset, pair.model, pair.device
    scores, timing, curves = [], [], {}
    cache = explanation_cache(explain_cache_mb)
    import_libraries(m["method"] for m in methods.values())  # not charged to the first metric timed
    for name, path in attributions.items():
        with config_key(f"explain.methods.{name}"):
            s, c, t = evaluate_one(
                dataset,
                model,
                dev,
                load_explanation(path, name),
                metrics=metrics,
                method=methods[name],
                ids={**ids, "method": name},
                batch_size=batch_size,
                seed=seed,
                explain_cache=cache,
            )
        if cache is not None:
            cache.clear()
        scores.append(s)
        timing.append(t)
        curves.update({f"{name}.{metric}": value for metric, value in c.items()})
    return pd.concat(scores, ignore_index=True), curves, pd.concat(timing, ignore_index=True)


def evaluate_one(
    dataset: Any,
    model: Any,
    dev: Any,
    expl: dict[str, np.ndarray],
    *,
    metrics: dict[str, dict[str, Any]],
    method: dict[str, Any],
    ids: dict[str, str],
    batch_size: int,
    seed: int,
    explain_cache: ExplanationCache | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """One method's stored explanations ``expl`` scored with every metric. Re-explanations go through
    ``explain_cache`` when given (its entries are dropped first: a cache never spans two methods)."""
    idx = expl["indices"]
    x = dataset.images[idx]
    s = dataset.masks[idx] if dataset.masks is not None else None
    explain_kwargs = {"method": method["method"], **method["params"], "device": str(dev)}
    explain_func = quantus_explain_func if explain_cache is None else explain_cache
    if explain_cache is not None:
        explain_cache.clear()

    not_applicable = str(expl["note"]) if "note" in expl else ""
    results: dict[str, MetricResult] = {}
    for name, entry in metrics.items():
        before = explain_cache.stats.copy() if explain_cache is not None else None
        with config_key(f"evaluate.metrics.{name}"):
            params = metric_params(name, entry)
            if not_applicable:
                results[name] = skipped_result(entry["metric"], x.shape, not_applicable, params)
            elif s is None and METRICS.get(entry["metric"]).needs_mask:
                note = "skipped: the dataset has no ground-truth masks"
                results[name] = skipped_result(entry["metric"], x.shape, note, params)
            else:
                results[name] = evaluate_metric(
                    entry["metric"],
                    model,
                    x,
                    expl["targets"],
                    expl["attributions"],
                    s,
                    explain_func=explain_func,
                    explain_func_kwargs=explain_kwargs,
                    params=params,
                    batch_size=batch_size,
                    device=dev,
                    seed=seed,
                )
        r = results[name]
        log.info(
            "%s %s: %.3fs, %d non-finite of %d %s",
            ids.get("method", ""),
            name,
            r.elapsed_s,
            (~np.isfinite(r.scores)).sum(),
            len(idx),
            r.note,
        )
        if before is not None and explain_cache.stats.calls > before.calls:
            stats = explain_cache.stats
            log.info(
                "%s %s: %d explain calls, %d replayed from the cache (%.3fs keying)",
                ids.get("method", ""),
                name,
                stats.calls - before.calls,
                stats.hits - before.hits,
                stats.key_s - before.key_s,
            )

    scores = scores_frame(results, sample_ids=idx, **ids)
    curves = {name: r.curves for name, r in results.items() if r.curves is not None}
    timing = pd.DataFrame(
        [
            {
                **ids,
                "stage": "evaluate",
                "metric": name,
                "seconds": r.elapsed_s,
                "n": len(idx),
                "seconds_per_image": r.elapsed_s / len(idx),
            }
            for name, r in results.items()
        ]
    )
    return scores, curves, timing
