"""The evaluation stage: every configured Quantus metric for the explanations of one (dataset, model).

:func:`evaluate_methods` scores several methods' stored explanations in one process (data, model and
Quantus are loaded once: an evaluation job pays ~7 s of imports, which dominates small runs); the rule
groups methods into jobs by ``evaluate.methods_per_job``. :func:`evaluate_explanations` scores one method.

Re-explanations go through an exact-replay cache (:class:`xaibench.methods.cache.ExplanationCache`), kept
for one method and cleared before the next: a metric that repeats another's explain calls in the same random
states (AvgSensitivity after MaxSensitivity: same seed, same noise) gets the stored maps instead of
explaining again, with bit-identical scores. ``explain_cache_mb=0`` turns it off.

Forward passes go through an exact-replay cache too (:class:`xaibench.methods.cache.ForwardCache`), kept
across the methods of a job: metrics whose perturbed inputs do not depend on the map (a spec with
``shared_forward``: FaithfulnessCorrelation, NonSensitivity, Completeness) feed the model the same inputs
for every method, and only the first method's call runs them. ``share_forward=False`` turns it off; the
scores are the same either way.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from xaibench.explanations import load_explanation
from xaibench.logs import config_key
from xaibench.methods import import_libraries, quantus_explain_func
from xaibench.methods.cache import DEFAULT_MAX_BYTES, CacheStats, ExplanationCache, ForwardCache
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


def _log_cache(
    cache: ExplanationCache | ForwardCache | None, before: CacheStats, calls: str, label: str, *where: str
) -> None:
    """Log what ``cache`` answered since its counters were ``before`` (nothing if it saw no call)."""
    if cache is None or cache.stats.calls == before.calls:
        return
    stats = cache.stats
    log.info(
        "%s %s: %d %s, %d replayed from the %s (%.3fs keying)",
        *where,
        stats.calls - before.calls,
        calls,
        stats.hits - before.hits,
        label,
        stats.key_s - before.key_s,
    )


def image_count(entry: dict[str, Any], n: int) -> int:
    """How many of a cell's ``n`` images a config metric entry scores: the first ``max_images`` (all when
    the entry has none). A metric that re-explains every image several times (the sensitivities, the
    randomisation tests) costs its method's explanation time over again per image; ``max_images`` scores
    it on a subset, the same images for every method, and the table has rows for those images only."""
    cap = entry.get("max_images")
    if cap is None:
        return n
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ValueError(f"max_images must be a positive int, got {cap!r}")
    return min(cap, n)


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
    share_forward: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Score several methods (config name -> stored attributions path / method entry) on one model with
    each metric in ``metrics`` (config name -> entry). ``explain_cache_mb`` bounds the re-explanation cache
    (0: none), ``share_forward`` shares forward passes across methods; scores are the same either way.

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
    forward_cache = ForwardCache() if share_forward else None
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
                forward_cache=forward_cache,
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
    forward_cache: ForwardCache | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """One method's stored explanations ``expl`` scored with every metric. Re-explanations go through
    ``explain_cache`` when given (its entries are dropped first: a cache never spans two methods); the
    forward passes of ``shared_forward`` metrics through ``forward_cache`` (kept: it spans methods)."""
    idx = expl["indices"]
    x = dataset.images[idx]
    s = dataset.masks[idx] if dataset.masks is not None else None
    explain_kwargs = {"method": method["method"], **method["params"], "device": str(dev)}
    explain_func = quantus_explain_func if explain_cache is None else explain_cache
    if explain_cache is not None:
        explain_cache.clear()

    not_applicable = str(expl["note"]) if "note" in expl else ""
    results: dict[str, MetricResult] = {}
    counts: dict[str, int] = {}
    for name, entry in metrics.items():
        before = explain_cache.stats.copy() if explain_cache is not None else CacheStats()
        forward_before = forward_cache.stats.copy() if forward_cache is not None else CacheStats()
        with config_key(f"evaluate.metrics.{name}"):
            params = metric_params(name, entry)
            k = counts[name] = image_count(entry, len(idx))
            if not_applicable:
                results[name] = skipped_result(entry["metric"], x[:k].shape, not_applicable, params)
            elif s is None and METRICS.get(entry["metric"]).needs_mask:
                note = "skipped: the dataset has no ground-truth masks"
                results[name] = skipped_result(entry["metric"], x[:k].shape, note, params)
            else:
                results[name] = evaluate_metric(
                    entry["metric"],
                    model,
                    x[:k],
                    expl["targets"][:k],
                    expl["attributions"][:k],
                    None if s is None else s[:k],
                    explain_func=explain_func,
                    explain_func_kwargs=explain_kwargs,
                    params=params,
                    batch_size=batch_size,
                    device=dev,
                    seed=seed,
                    forward_cache=forward_cache,
                )
        r = results[name]
        if k < len(idx):
            r.params["max_images"] = k
            subset = f"scored on the first {k} of {len(idx)} images (max_images)"
            r.note = "; ".join(filter(None, [subset, r.note]))
        log.info(
            "%s %s: %.3fs, %d non-finite of %d %s",
            ids.get("method", ""),
            name,
            r.elapsed_s,
            (~np.isfinite(r.scores)).sum(),
            k,
            r.note,
        )
        where = (ids.get("method", ""), name)
        _log_cache(explain_cache, before, "explain calls", "cache", *where)
        _log_cache(forward_cache, forward_before, "forward passes", "forward cache", *where)

    frames = [scores_frame({name: r}, sample_ids=idx[: counts[name]], **ids) for name, r in results.items()]
    scores = pd.concat(frames, ignore_index=True) if frames else scores_frame({}, sample_ids=idx, **ids)
    curves = {name: r.curves for name, r in results.items() if r.curves is not None}
    timing = pd.DataFrame(
        [
            {
                **ids,
                "stage": "evaluate",
                "metric": name,
                "seconds": r.elapsed_s,
                "n": counts[name],
                "seconds_per_image": r.elapsed_s / counts[name],
            }
            for name, r in results.items()
        ]
    )
    return scores, curves, timing
