"""Do the metrics agree on which methods are best? Kendall τ between the metrics' method rankings.

Two questions, both answered with Kendall's τ-b (``scipy.stats.kendalltau``, tie-corrected) between method
rankings, i.e. between vectors of :func:`xaibench.stats.rankings.mean_ranks` (1 = best) over the methods
both rankings contain (≥ 3, else NaN):

* :func:`metric_agreement`: every pair of metrics of one (dataset, model). A high τ means two metrics order
  the methods alike, whatever their category; a low or negative τ that they disagree (the well-known
  disagreement of label-free XAI metrics). :func:`agreement_matrix` turns one (dataset, model) into the
  symmetric metrics × metrics matrix that :func:`xaibench.figures.ranks.plot_metric_agreement` draws.
* :func:`anchored_validity`: on a (dataset, model) with ground-truth masks (finite scores of some
  ``Localisation`` metric), the *reference* ranking is each method's average of its mean ranks over the
  localisation metrics, i.e. how well the method finds the true object. For every other metric with a
  direction, τ between its ranking and the reference says how well that label-free metric reproduces the
  ground-truth ranking. Both rankings use the same images: the blocks ``(replicate, sample)`` where the
  metric and every localisation metric have a finite score for every method (methods present in all of
  them). The confidence interval is a percentile bootstrap over those blocks: resample them with
  replacement, recompute both mean-rank vectors and τ-b (vectorised, equal to scipy's); each
  (dataset, model, metric) draws from its own ``numpy.random.Generator`` seeded with
  ``[seed, zlib.crc32(key)]`` (:func:`xaibench.stats.bootstrap.group_rng`), so results do not depend on
  the order of the work or on Python's hash seed. With few images the bootstrap τ is pulled towards 0
  (resampled mean ranks are noisier than the observed ones), so the percentile interval can sit below a
  high observed τ: read it as a lower bound on the agreement rather than as centred on τ.

Heavy imports (scipy) happen inside the functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xaibench.stats.bootstrap import group_rng
from xaibench.stats.rankings import MetricBlocks, block_scores, rank_within_blocks

AGREEMENT_COLUMNS: list[str] = [
    "dataset",
    "model",
    "metric_a",
    "metric_b",
    "category_a",
    "category_b",
    "tau",
    "p_value",
    "n_methods",
]
VALIDITY_COLUMNS: list[str] = [
    "dataset",
    "model",
    "metric",
    "category",
    "tau",
    "ci_low",
    "ci_high",
    "n_methods",
    "n_blocks",
]
#: Category names (lower case) of the metrics that compare attributions with ground-truth masks.
LOCALISATION_CATEGORIES: frozenset[str] = frozenset({"localisation", "localization"})
MIN_METHODS = 3


def _kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """scipy's τ-b and its two-sided p-value; NaN when fewer than ``MIN_METHODS`` or a constant ranking."""
    from scipy.stats import kendalltau

    if len(x) < MIN_METHODS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    result = kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall τ-b along the last axis of ``x`` and ``y`` (same shape, ``(..., n)``), vectorised.

    τ-b = Σ sign(xᵢ-xⱼ) sign(yᵢ-yⱼ) / √(Σ sign(xᵢ-xⱼ)² Σ sign(yᵢ-yⱼ)²) over the pairs i < j, which is
    (concordant - discordant) / √((n₀-n₁)(n₀-n₂)), scipy's τ-b; NaN where a ranking is constant.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    i, j = np.triu_indices(x.shape[-1], 1)
    sx = np.sign(x[..., i] - x[..., j])
    sy = np.sign(y[..., i] - y[..., j])
    denominator = np.sqrt((sx * sx).sum(axis=-1) * (sy * sy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (sx * sy).sum(axis=-1) / denominator, np.nan)


def metric_agreement(mean_ranks: pd.DataFrame) -> pd.DataFrame:
    """Kendall τ-b between the method rankings of every pair of metrics, per (dataset, model).

    ``mean_ranks``: the table of :func:`xaibench.stats.rankings.mean_ranks`. One row per unordered pair
    (``metric_a`` before ``metric_b`` in order of appearance). Columns: dataset, model, metric_a, metric_b,
    category_a, category_b, tau, p_value, n_methods (methods ranked by both; τ is NaN below 3).
    """
    missing = {"dataset", "model", "metric", "method", "mean_rank"} - set(mean_ranks.columns)
    if missing:
        raise ValueError(f"mean_ranks lacks column(s) {sorted(missing)}")
    frame = mean_ranks.copy()
    if "category" not in frame.columns:
        frame["category"] = ""
    for column in ("dataset", "model", "metric", "method", "category"):
        frame[column] = frame[column].fillna("").astype(str)
    rows = []
    for (dataset, model), part in frame.groupby(["dataset", "model"], sort=False):
        metrics = list(dict.fromkeys(part["metric"]))
        category = dict(zip(part["metric"], part["category"], strict=True))
        table = part.pivot(index="method", columns="metric", values="mean_rank").reindex(columns=metrics)
        for a_index, a in enumerate(metrics):
            for b in metrics[a_index + 1 :]:
                both = table[[a, b]].dropna()
                tau, p_value = _kendall(both[a].to_numpy(), both[b].to_numpy())
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "metric_a": a,
                        "metric_b": b,
                        "category_a": category[a],
                        "category_b": category[b],
                        "tau": tau,
                        "p_value": p_value,
                        "n_methods": len(both),
                    }
                )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def agreement_matrix(agreement: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """Symmetric metrics × metrics τ matrix of one (dataset, model) of :func:`metric_agreement`.

    Metrics are grouped by category (categories in order of appearance, metrics in order of appearance
    within one); the diagonal is 1, pairs without a τ are NaN.
    """
    part = agreement[
        (agreement["dataset"].astype(str) == str(dataset)) & (agreement["model"].astype(str) == str(model))
    ]
    order: dict[str, str] = {}
    for a, b, ca, cb in zip(
        part["metric_a"], part["metric_b"], part["category_a"], part["category_b"], strict=True
    ):
        order.setdefault(str(a), str(ca))
        order.setdefault(str(b), str(cb))
    categories = list(dict.fromkeys(order.values()))
    metrics = sorted(order, key=lambda m: categories.index(order[m]))  # stable: appearance within category
    position = {m: k for k, m in enumerate(metrics)}
    values = np.full((len(metrics), len(metrics)), np.nan)
    for a, b, tau in zip(part["metric_a"], part["metric_b"], part["tau"], strict=True):
        i, j = position[str(a)], position[str(b)]
        values[i, j] = values[j, i] = float(tau)
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=metrics, columns=metrics)


def anchored_validity(
    scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """Kendall τ between each label-free metric's method ranking and the localisation (ground-truth) one.

    Only (dataset, model) pairs with at least one localisation metric (category ``Localisation``, with a
    direction and some finite score) take part; every other metric with a direction gets one row. Columns:
    dataset, model, metric, category, tau, ci_low, ci_high (percentile bootstrap, ``confidence`` level,
    ``n_boot`` resamples of the blocks; NaN with ``n_boot=0``), n_methods, n_blocks (module docstring).
    """
    blocks = block_scores(scores)
    by_pair: dict[tuple[str, str], list[str]] = {}
    for dataset, model, metric in blocks:
        by_pair.setdefault((dataset, model), []).append(metric)
    tail = (1.0 - confidence) / 2.0
    rows = []
    for (dataset, model), metrics in by_pair.items():
        localisation = [
            m
            for m in metrics
            if blocks[dataset, model, m].category.strip().lower() in LOCALISATION_CATEGORIES
            and blocks[dataset, model, m].n_blocks > 0
        ]
        if not localisation:
            continue
        for metric in metrics:
            if blocks[dataset, model, metric].category.strip().lower() in LOCALISATION_CATEGORIES:
                continue
            members = [blocks[dataset, model, m] for m in (*localisation, metric)]
            methods = [m for m in members[-1].ranks.columns if all(m in b.ranks.columns for b in members)]
            index = members[0].ranks.index
            for b in members[1:]:
                index = index.intersection(b.ranks.index, sort=False)
            # (metric or localisation) × blocks × methods: ranks on the shared blocks and methods, re-ranked
            # among the shared methods so that a method missing elsewhere does not shift the ranks.
            ranks = np.stack([_rerank(b, index, methods) for b in members])
            row = {
                "dataset": dataset,
                "model": model,
                "metric": metric,
                "category": members[-1].category,
                "tau": float("nan"),
                "ci_low": float("nan"),
                "ci_high": float("nan"),
                "n_methods": len(methods),
                "n_blocks": len(index),
            }
            if len(index) and len(methods) >= MIN_METHODS:
                means = ranks.mean(axis=1)
                row["tau"] = _kendall(means[-1], means[:-1].mean(axis=0))[0]
                if n_boot > 0 and np.isfinite(row["tau"]):
                    rng = group_rng(seed, dataset, model, metric)
                    n = len(index)
                    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n  # n_boot × blocks
                    boot = np.einsum("rb,kbm->krm", weights, ranks)  # (metrics, n_boot, methods)
                    taus = kendall_tau_b(boot[-1], boot[:-1].mean(axis=0))
                    if np.isfinite(taus).any():
                        low, high = np.nanquantile(taus, [tail, 1.0 - tail])
                        row["ci_low"], row["ci_high"] = float(low), float(high)
            rows.append(row)
    return pd.DataFrame(rows, columns=VALIDITY_COLUMNS)


def _rerank(blocks: MetricBlocks, index: pd.Index, methods: list[str]) -> np.ndarray:
    """Within-block ranks (1 = best) of ``methods`` on the blocks ``index`` of one metric."""
    values = blocks.scores.loc[index, methods].to_numpy(dtype=float)
    return rank_within_blocks(values, blocks.direction)


__all__ = [
    "AGREEMENT_COLUMNS",
    "LOCALISATION_CATEGORIES",
    "VALIDITY_COLUMNS",
    "agreement_matrix",
    "anchored_validity",
    "kendall_tau_b",
    "metric_agreement",
]
