"""The evaluation stage: every configured Quantus metric for the explanations of one (dataset, model).

:func:`evaluate_methods` scores several methods' stored explanations in one process (data, model and
Quantus are loaded once: an evaluation job pays ~7 s of imports, which dominates small runs); the rule
groups methods into jobs by ``evaluate.methods_per_job``. :func:`evaluate_explanations` scores one method.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from xaibench.io import load_npz
from xaibench.logs import config_key
from xaibench.methods import quantus_explain_func
from xaibench.metrics import METRICS, PRESETS, MetricResult, evaluate_metric, skipped_result
from xaibench.pairs import load_pair
from xaibench.tables import scores_frame

log = logging.getLogger(__name__)


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
    *,
    data_path: str,
    weights_path: str,
    attributions_path: str,
    metrics: dict[str, dict[str, Any]],
    method: dict[str, Any],
    ids: dict[str, str],
    batch_size: int,
    seed: int,
    device: str,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Score stored attributions of one method with each metric in ``metrics`` (config name -> entry).

    Returns the long-form score table, the per-sample curves of curve metrics (config name -> (N, L)),
    and a timing table (metric, seconds, n, seconds_per_image).
    """
    pair = load_pair(data_path, weights_path, device)
    return _evaluate_one(
        pair.dataset,
        pair.model,
        pair.device,
        load_npz(attributions_path),
        metrics=metrics,
        method=method,
        ids=ids,
        batch_size=batch_size,
        seed=seed,
    )


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
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    """Score several methods (config name -> stored attributions path / method entry) on one model.

    Same tables as :func:`evaluate_explanations`, concatenated in the order of ``attributions``; curves are
    keyed ``"<method>.<metric>"`` (names cannot contain dots). Each method is scored exactly as it would be
    alone (the metrics reseed per call), so grouping never changes a score.
    """
    if set(attributions) != set(methods):
        raise ValueError(f"attributions for {sorted(attributions)} but methods {sorted(methods)}")
    pair = load_pair(data_path, weights_path, device)
    dataset, model, dev = pair.dataset, pair.model, pair.device
    scores, timing, curves = [], [], {}
    for name, path in attributions.items():
        with config_key(f"explain.methods.{name}"):
            s, c, t = _evaluate_one(
                dataset,
                model,
                dev,
                load_npz(path),
                metrics=metrics,
                method=methods[name],
                ids={**ids, "method": name},
                batch_size=batch_size,
                seed=seed,
            )
        scores.append(s)
        timing.append(t)
        curves.update({f"{name}.{metric}": value for metric, value in c.items()})
    return pd.concat(scores, ignore_index=True), curves, pd.concat(timing, ignore_index=True)


def _evaluate_one(
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
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame]:
    idx = expl["indices"]
    x = dataset.images[idx]
    s = dataset.masks[idx] if dataset.masks is not None else None
    explain_kwargs = {"method": method["method"], **method["params"], "device": str(dev)}

    not_applicable = str(expl["note"]) if "note" in expl else ""
    results: dict[str, MetricResult] = {}
    for name, entry in metrics.items():
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
                    explain_func=quantus_explain_func,
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
