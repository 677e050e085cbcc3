"""Rank-based comparison of attribution methods: Friedman tests, mean ranks, Nemenyi post-hoc tests.

Why ranks: the scores of different metrics live on unrelated scales (an AOPC, an entropy, a correlation),
are often heavy-tailed and sometimes non-finite, so methods are compared by their *ranks within a block*,
which are scale-free and robust (Demšar 2006, "Statistical comparisons of classifiers over multiple data
sets", JMLR 7).

Design, per (dataset, model, metric) whose ``direction`` is ``"higher"`` or ``"lower"`` (metrics without a
direction have no notion of better and are left out):

* **block** = one image, ``(replicate, sample)``: every method explained the same images of a replicate, so
  the scores of one image form a complete block of the method factor (the *treatment*);
* methods with no finite score at all for the metric are dropped (and named in ``note``), then every block
  where some remaining method has a NaN / ±inf score (or no row) is dropped (counted in ``note``);
* within a block, methods are ranked so that **rank 1 = best** (for ``"higher"`` the rank of ``-score``),
  ties get the average of the ranks they span;
* :func:`friedman_tests`: ``scipy.stats.friedmanchisquare`` over the complete blocks (tie-corrected; needs
  ≥ 3 methods and ≥ 2 blocks, else NaN and a note; a metric where all methods tie in every block gets
  statistic 0 and p = 1, the limit of "no difference", where scipy returns NaN);
* :func:`mean_ranks`: each method's average rank over the complete blocks.

Post-hoc test (:func:`posthoc`): **Nemenyi** (``scikit_posthocs.posthoc_nemenyi_friedman``), not Conover.
Nemenyi's p-value depends only on the difference of two methods' mean ranks, so "not significantly
different" is exactly "closer than one critical difference" (CD = q_α √(k(k+1)/(6N))): the test *is* the
critical-difference diagram drawn by :mod:`xaibench.figures.ranks`, its groups are contiguous runs in rank
order, and it needs no variance estimate from the (few, tied) ranks. It controls the family-wise error over
all k(k-1)/2 pairs and is conservative; Conover's test is more powerful but uses a pooled residual variance of
the ranks, so its p-values are not a function of the rank difference alone and would not match the bars.

Per metric category (:func:`category_ranks`, the "one diagram per metric category"): each method's rank in
the category is the mean over the category's metrics of its mean rank, and the **metrics are the blocks**
of a Friedman + Nemenyi test (a metrics × methods matrix of mean ranks; methods missing from some metric of
the category are dropped). With few metrics per category this test has little power (with 23 methods
nothing can differ significantly over ≤ 2 metrics, since the CD then exceeds the whole rank range).

:func:`category_ranks_by_image` keeps the **images as the blocks** instead: per image, each method's rank is
its within-image rank (1 = best, ties averaged) averaged over the category's metrics, on the images that are
a complete block of every metric of the category and the methods with finite scores on every metric (the
methods are re-ranked among themselves, so a method missing elsewhere does not shift the ranks). The
category's mean rank of a method is the mean over the images of its averaged ranks; the Friedman and Nemenyi
tests run on the images × methods matrix of averaged ranks, *re-ranked within each image* (averaged ranks
are not ranks; :func:`friedman_statistic` and :func:`posthoc` rank inside). With N images the CD shrinks
like 1/√N, so a method that is clearly better on the category's metrics separates from the worst ones. The
images of one replicate are not independent of the trained model, so the test is conditional on the
trained models, like the per-metric tests.

Heavy imports (scipy, scikit_posthocs) happen inside the functions.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Columns of the long scores table that this module reads.
KEYS: list[str] = ["dataset", "model", "metric"]
BLOCK: list[str] = ["replicate", "sample"]
REQUIRED_COLUMNS: tuple[str, ...] = (*KEYS, *BLOCK, "method", "category", "direction", "score")

FRIEDMAN_COLUMNS: list[str] = [
    *KEYS,
    "category",
    "direction",
    "n_methods",
    "n_blocks",
    "statistic",
    "p_value",
    "significant",
    "note",
]
MEAN_RANK_COLUMNS: list[str] = ["dataset", "model", "metric", "category", "method", "mean_rank"]


def direction_of(value: object) -> str:
    """``"higher"``, ``"lower"`` or ``""`` (no notion of better) from a free-text direction."""
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text.startswith("high"):
        return "higher"
    if text.startswith("low"):
        return "lower"
    return ""


@dataclass(frozen=True)
class MetricBlocks:
    """The complete blocks of one (dataset, model, metric).

    ``scores``: raw scores, complete blocks (index ``(replicate, sample)``) × methods (order of appearance);
    ``ranks``: the same shape, within-block ranks with 1 = best (ties averaged); ``incomplete_blocks``: the
    ``(replicate, sample)`` of the dropped blocks (a non-finite score or a missing row).
    """

    dataset: str
    model: str
    metric: str
    category: str
    direction: str
    scores: pd.DataFrame
    ranks: pd.DataFrame
    n_incomplete: int = 0
    dropped_methods: tuple[str, ...] = ()
    incomplete_blocks: tuple[Hashable, ...] = ()

    @property
    def n_blocks(self) -> int:
        return len(self.scores)

    @property
    def n_methods(self) -> int:
        return self.scores.shape[1]

    def note(self) -> str:
        if self.n_methods == 0:
            return "no finite scores"
        parts = []
        if self.dropped_methods:
            parts.append("methods without finite scores dropped: " + ", ".join(self.dropped_methods))
        if self.n_incomplete:
            total = self.n_incomplete + self.n_blocks
            parts.append(f"{self.n_incomplete} of {total} blocks incomplete, dropped")
        return "; ".join(parts)


def _check(scores: pd.DataFrame) -> None:
    missing = set(REQUIRED_COLUMNS) - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack column(s) {sorted(missing)}")


def rank_within_blocks(values: np.ndarray, direction: str) -> np.ndarray:
    """Ranks along axis 1 with 1 = best: ascending scores for ``"lower"``, descending for ``"higher"``."""
    from scipy.stats import rankdata

    oriented = -values if direction == "higher" else values
    return rankdata(oriented, axis=1, method="average")


def block_scores(scores: pd.DataFrame) -> dict[tuple[str, str, str], MetricBlocks]:
    """(dataset, model, metric) -> its :class:`MetricBlocks`, for every metric with a direction.

    Keys keep the order of first appearance. A metric without any complete block is kept, with empty frames.
    Raises ``ValueError`` for missing columns or duplicate (dataset, model, metric, replicate, sample,
    method) rows.
    """
    _check(scores)
    directions = scores["direction"].astype(object)
    directions = directions.map({v: direction_of(v) for v in directions.dropna().unique()}).fillna("")
    frame = scores.loc[directions != "", REQUIRED_COLUMNS].copy()
    frame["direction"] = directions[directions != ""]
    if frame.empty:
        return {}
    for column in ("dataset", "model", "metric", "method"):
        frame[column] = frame[column].astype(str)
    frame["category"] = frame["category"].fillna("").astype(str)
    index = [*KEYS, *BLOCK, "method"]
    duplicated = frame.duplicated(index)
    if duplicated.any():
        example = frame.loc[duplicated, index].iloc[0].tolist()
        raise ValueError(f"scores have duplicate rows for {index}, e.g. {example}")
    value = pd.to_numeric(frame["score"], errors="coerce").astype(float)
    frame["score"] = value.where(np.isfinite(value))
    meta = frame.groupby(KEYS, sort=False)[["category", "direction"]].first()
    methods_of = frame.groupby(KEYS, sort=False)["method"].unique()
    wide = frame.set_index(index)["score"].unstack("method")
    positions = wide.groupby(level=[0, 1, 2], sort=False).indices
    values_all = wide.to_numpy(dtype=float)
    column_of = {str(m): k for k, m in enumerate(wide.columns)}
    block_index = wide.index.droplevel([0, 1, 2])

    out: dict[tuple[str, str, str], MetricBlocks] = {}
    for key, (category, direction) in meta.iterrows():
        rows = positions[key]
        methods = [str(m) for m in methods_of.loc[key]]
        values = values_all[np.ix_(rows, [column_of[m] for m in methods])]
        has_finite = np.isfinite(values).any(axis=0)
        dropped = tuple(m for m, ok in zip(methods, has_finite, strict=True) if not ok)
        methods = [m for m, ok in zip(methods, has_finite, strict=True) if ok]
        values = values[:, has_finite]
        complete = np.isfinite(values).all(axis=1) & bool(methods)
        kept = values[complete]
        blocks = block_index[rows][complete]
        columns = pd.Index(methods, name="method")
        out[tuple(str(k) for k in key)] = MetricBlocks(
            dataset=str(key[0]),
            model=str(key[1]),
            metric=str(key[2]),
            category=str(category),
            direction=str(direction),
            scores=pd.DataFrame(kept, index=blocks, columns=columns),
            ranks=pd.DataFrame(
                rank_within_blocks(kept, str(direction)) if kept.size else kept, index=blocks, columns=columns
            ),
            n_incomplete=int((~complete).sum()),
            dropped_methods=dropped,
            incomplete_blocks=tuple(block_index[rows][~complete]),
        )
    return out


def friedman_statistic(ranks_or_values: pd.DataFrame | np.ndarray) -> tuple[float, float, str]:
    """Friedman χ² over a complete blocks × treatments matrix: ``(statistic, p_value, note)``.

    Needs ≥ 3 treatments and ≥ 2 blocks (else NaN and a note); all treatments tied in every block gives
    ``(0.0, 1.0, note)``. Ranking happens inside, so raw values and within-block ranks give the same result.
    """
    from scipy.stats import friedmanchisquare

    values = np.asarray(ranks_or_values, dtype=float)
    n_blocks, n_methods = values.shape if values.ndim == 2 else (0, 0)
    if n_methods < 3:
        return float("nan"), float("nan"), "fewer than 3 methods: not tested"
    if n_blocks < 2:
        return float("nan"), float("nan"), "fewer than 2 complete blocks: not tested"
    if not np.isfinite(values).all():
        raise ValueError("friedman_statistic needs a complete, finite matrix")
    if (values == values[:, :1]).all():
        return 0.0, 1.0, "all methods tied in every block"
    result = friedmanchisquare(*values.T)
    return float(result.statistic), float(result.pvalue), ""


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def friedman_tests(scores: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Friedman test of "all methods rank alike" per (dataset, model, metric) with a direction.

    Columns: dataset, model, metric, category, direction, n_methods, n_blocks, statistic, p_value,
    significant (``p_value < alpha``), note. See the module docstring for blocks, ranks and notes.
    """
    rows = []
    for (dataset, model, metric), blocks in block_scores(scores).items():
        statistic, p_value, note = friedman_statistic(blocks.ranks.to_numpy())
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "metric": metric,
                "category": blocks.category,
                "direction": blocks.direction,
                "n_methods": blocks.n_methods,
                "n_blocks": blocks.n_blocks,
                "statistic": statistic,
                "p_value": p_value,
                "significant": bool(np.isfinite(p_value) and p_value < alpha),
                "note": _join(blocks.note(), note),
            }
        )
    return pd.DataFrame(rows, columns=FRIEDMAN_COLUMNS)


def mean_ranks(scores: pd.DataFrame) -> pd.DataFrame:
    """Each method's average within-block rank (1 = best, ties averaged) over the complete blocks.

    Long table: dataset, model, metric, category, method, mean_rank; one row per ranked method of every
    (dataset, model, metric) with a direction, methods in order of appearance.
    """
    frames = []
    for (dataset, model, metric), blocks in block_scores(scores).items():
        if blocks.n_blocks == 0:
            continue
        means = blocks.ranks.mean(axis=0)
        frames.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "model": model,
                    "metric": metric,
                    "category": blocks.category,
                    "method": means.index.astype(str),
                    "mean_rank": means.to_numpy(dtype=float),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=MEAN_RANK_COLUMNS)
    return pd.concat(frames, ignore_index=True)[MEAN_RANK_COLUMNS]


def posthoc(wide: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi post-hoc p-values (methods × methods, 1 on the diagonal) of a blocks × methods matrix.

    ``wide``: one row per block, one column per method (raw scores of one metric, within-block ranks, or
    a category's metrics × methods mean ranks). Rows with a non-finite value are dropped first. The p-values
    do not depend on the orientation (higher or lower better), only on |difference of mean ranks|. With
    fewer than 2 blocks or 2 methods the off-diagonal p-values are NaN.
    """
    import scikit_posthocs

    methods = [str(m) for m in wide.columns]
    values = wide.to_numpy(dtype=float)
    values = values[np.isfinite(values).all(axis=1)] if values.size else values.reshape(0, len(methods))
    if values.shape[0] < 2 or len(methods) < 2:
        p = np.full((len(methods), len(methods)), np.nan)
    else:
        p = np.array(scikit_posthocs.posthoc_nemenyi_friedman(values), dtype=float)
    np.fill_diagonal(p, 1.0)
    return pd.DataFrame(p, index=methods, columns=methods)


NEMENYI_COLUMNS: list[str] = [
    *KEYS,
    "method_a",
    "method_b",
    "mean_rank_a",
    "mean_rank_b",
    "n_blocks",
    "p_value",
]


def pairwise_nemenyi(scores: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi post-hoc p-value of every pair of methods per (dataset, model, metric), over the complete
    blocks (images) of the metric: :data:`NEMENYI_COLUMNS`, one row per unordered pair (method_a before
    method_b in order of appearance), with both methods' mean ranks (1 = best)."""
    rows = []
    for (dataset, model, metric), blocks in block_scores(scores).items():
        methods = [str(m) for m in blocks.ranks.columns]
        if blocks.n_blocks == 0 or len(methods) < 2:
            continue
        p_values = posthoc(blocks.ranks).to_numpy(dtype=float)
        means = blocks.ranks.mean(axis=0).to_numpy(dtype=float)
        for i in range(len(methods)):
            for j in range(i + 1, len(methods)):
                rows.append(
                    [dataset, model, metric, methods[i], methods[j], means[i], means[j], blocks.n_blocks,
                     p_values[i, j]]
                )  # fmt: skip
    return pd.DataFrame(rows, columns=NEMENYI_COLUMNS)


@dataclass(frozen=True)
class CategoryRanks:
    """Ranks of the methods over the metrics of one category of one (dataset, model).

    ``blocks`` says what the blocks of the tests are: ``"metrics"`` (:func:`category_ranks`) or
    ``"images"`` (:func:`category_ranks_by_image`).
    ``mean_rank``: method -> the method's rank in the category, sorted best first (mean over the metrics of
    its mean ranks, or mean over the images of its metric-averaged ranks); ``matrix``: blocks × methods
    (metrics × mean ranks, or images × metric-averaged ranks, index ``(replicate, sample)``);
    ``statistic``/``p_value``: Friedman over the blocks; ``p_values``: Nemenyi p-values (methods × methods)
    over the blocks; ``used_metrics``: the metrics that entered (empty: the rows of ``matrix``).
    """

    dataset: str
    model: str
    category: str
    mean_rank: pd.Series
    matrix: pd.DataFrame
    statistic: float
    p_value: float
    p_values: pd.DataFrame
    note: str = ""
    dropped_methods: tuple[str, ...] = field(default_factory=tuple)
    blocks: str = "metrics"
    used_metrics: tuple[str, ...] = field(default_factory=tuple)

    @property
    def metrics(self) -> list[str]:
        if self.used_metrics or self.blocks != "metrics":
            return list(self.used_metrics)
        return [str(m) for m in self.matrix.index]

    @property
    def n_metrics(self) -> int:
        return len(self.metrics)

    @property
    def n_blocks(self) -> int:
        return len(self.matrix)


def category_ranks(mean_ranks: pd.DataFrame) -> dict[tuple[str, str, str], CategoryRanks]:
    """(dataset, model, category) -> :class:`CategoryRanks`, from a :func:`mean_ranks` table.

    Within a category, methods not ranked by every metric of the category are dropped (named in ``note``);
    metrics are the blocks of the Friedman + Nemenyi tests (module docstring). Keys keep the order of first
    appearance.
    """
    missing = {"dataset", "model", "metric", "category", "method", "mean_rank"} - set(mean_ranks.columns)
    if missing:
        raise ValueError(f"mean_ranks lacks column(s) {sorted(missing)}")
    frame = mean_ranks.copy()
    for column in ("dataset", "model", "metric", "category", "method"):
        frame[column] = frame[column].fillna("").astype(str)
    out: dict[tuple[str, str, str], CategoryRanks] = {}
    for key, part in frame.groupby(["dataset", "model", "category"], sort=False):
        key = tuple(str(k) for k in key)
        methods = list(dict.fromkeys(part["method"]))
        metrics = list(dict.fromkeys(part["metric"]))
        matrix = part.pivot(index="metric", columns="method", values="mean_rank").reindex(
            index=metrics, columns=methods
        )
        dropped = tuple(m for m in methods if matrix[m].isna().any())
        matrix = matrix.drop(columns=list(dropped))
        matrix.columns.name = "method"
        if matrix.shape[1] == 0:
            continue
        statistic, p_value, note = friedman_statistic(matrix.to_numpy(dtype=float))
        if len(metrics) < 2:
            note = f"1 metric ({metrics[0]}): not tested over metrics"
        if dropped:
            note = _join("methods missing from some metric dropped: " + ", ".join(dropped), note)
        out[key] = CategoryRanks(
            dataset=key[0],
            model=key[1],
            category=key[2],
            mean_rank=matrix.mean(axis=0).sort_values(kind="stable"),
            matrix=matrix,
            statistic=statistic,
            p_value=p_value,
            p_values=posthoc(matrix),
            note=note,
            dropped_methods=dropped,
            blocks="metrics",
            used_metrics=tuple(str(m) for m in matrix.index),
        )
    return out


#: Dropped images named in a note before "and N more".
MAX_NAMED_BLOCKS = 8


def _block_names(blocks: list[Hashable]) -> str:
    def name(block: Hashable) -> str:
        return "(" + ", ".join(str(b) for b in block) + ")" if isinstance(block, tuple) else str(block)

    names = [name(b) for b in blocks[:MAX_NAMED_BLOCKS]]
    if len(blocks) > MAX_NAMED_BLOCKS:
        names.append(f"and {len(blocks) - MAX_NAMED_BLOCKS} more")
    return ", ".join(names)


def category_ranks_by_image(scores: pd.DataFrame) -> dict[tuple[str, str, str], CategoryRanks]:
    """(dataset, model, category) -> :class:`CategoryRanks`, **images as blocks**, from a scores table.

    For every (dataset, model, category) with a metric that has a direction (module docstring): the metrics
    with a complete block (:func:`block_scores`) enter; the methods with finite scores on every one of them
    are kept (the others named in ``note``); the images ``(replicate, sample)`` that are a complete block of
    every entering metric are the blocks (the others named in ``note``). Per image, each method's
    within-image rank (1 = best, ties averaged, among the kept methods) is averaged over the metrics:
    ``matrix`` is images × methods of these averaged ranks, ``mean_rank`` their mean over the images (best
    first); Friedman (``statistic``, ``p_value``) and Nemenyi (``p_values``) run on ``matrix`` re-ranked
    within each image. A category without any metric, method or image left keeps an entry with an empty
    ``mean_rank``, NaN statistics and a note saying why. Keys keep the order of first appearance. Raises
    like :func:`block_scores`.
    """
    groups: dict[tuple[str, str, str], list[MetricBlocks]] = {}
    for (dataset, model, _), blocks in block_scores(scores).items():
        groups.setdefault((dataset, model, blocks.category), []).append(blocks)
    return {key: _ranks_by_image(key, members) for key, members in groups.items()}


def _take(frame: pd.DataFrame, index: pd.Index, columns: list[str]) -> np.ndarray:
    """``frame.loc[index, columns]`` as floats (positional; faster than ``.loc`` on a MultiIndex)."""
    rows, cols = frame.index.get_indexer(index), frame.columns.get_indexer(columns)
    return frame.to_numpy(dtype=float)[np.ix_(rows, cols)]


def _ranks_by_image(key: tuple[str, str, str], members: list[MetricBlocks]) -> CategoryRanks:
    """:func:`category_ranks_by_image` of one (dataset, model, category) from its metrics' blocks."""
    used = [b for b in members if b.n_blocks > 0]
    notes = []
    unusable = [b.metric for b in members if b.n_blocks == 0]
    if unusable:
        notes.append("metrics without a complete image dropped: " + ", ".join(unusable))
    methods: list[str] = []
    dropped: tuple[str, ...] = ()
    images = pd.Index([])
    if used:
        every = list(dict.fromkeys(str(m) for b in members for m in (*b.scores.columns, *b.dropped_methods)))
        methods = [m for m in every if all(m in b.scores.columns for b in used)]
        dropped = tuple(m for m in every if m not in methods)
        if dropped:
            notes.append("methods without finite scores on every metric dropped: " + ", ".join(dropped))
        images = used[0].ranks.index
        for b in used[1:]:
            images = images.intersection(b.ranks.index, sort=False)
        kept = set(images)
        every_image = list(dict.fromkeys(i for b in members for i in (*b.ranks.index, *b.incomplete_blocks)))
        missing = [i for i in every_image if i not in kept]
        if missing:
            notes.append(
                f"{len(missing)} of {len(every_image)} images not complete for every metric dropped: "
                + _block_names(missing)
            )
    common = dict(
        dataset=key[0],
        model=key[1],
        category=key[2],
        dropped_methods=dropped,
        blocks="images",
        used_metrics=tuple(b.metric for b in used),
    )
    if not methods or len(images) == 0:
        reason = "no metric with a complete image" if not used else "no method or image common to all metrics"
        return CategoryRanks(
            mean_rank=pd.Series(dtype=float),
            matrix=pd.DataFrame(index=images[:0], columns=pd.Index([], name="method"), dtype=float),
            statistic=float("nan"),
            p_value=float("nan"),
            p_values=pd.DataFrame(dtype=float),
            note=_join(f"{reason}: not ranked", *notes),
            **common,
        )
    # metrics × images × methods: within-image ranks among the kept methods, averaged over the metrics
    ranks = np.stack([rank_within_blocks(_take(b.scores, images, methods), b.direction) for b in used])
    matrix = pd.DataFrame(ranks.mean(axis=0), index=images, columns=pd.Index(methods, name="method"))
    statistic, p_value, test_note = friedman_statistic(matrix.to_numpy(dtype=float))
    blocks_note = (
        f"blocks: {len(images)} images (replicate, sample); per image, each method's rank averaged over "
        f"{len(used)} metric{'s' * (len(used) != 1)} ({', '.join(b.metric for b in used)}), re-ranked within "
        "the image; mean rank = mean over the images of these re-ranked values, the ranks the Friedman and "
        "Nemenyi tests compare (so a diagram's positions and bars agree)"
    )
    reranked = rank_within_blocks(matrix.to_numpy(dtype=float), "lower")  # smallest averaged rank -> 1
    return CategoryRanks(
        mean_rank=pd.Series(reranked.mean(axis=0), index=matrix.columns).sort_values(kind="stable"),
        matrix=matrix,
        statistic=statistic,
        p_value=p_value,
        p_values=posthoc(matrix),
        note=_join(blocks_note, *notes, test_note),
        **common,
    )


def category_rank_table(categories: dict[tuple[str, str, str], CategoryRanks]) -> pd.DataFrame:
    """Long table of :func:`category_ranks` or :func:`category_ranks_by_image`: dataset, model, category,
    method, mean_rank, n_metrics, blocks (``"metrics"`` or ``"images"``), n_blocks, statistic, p_value (all
    but method and mean_rank repeat per method); categories without ranks give no rows."""
    rows: list[dict[str, Hashable]] = []
    for c in categories.values():
        for method, rank in c.mean_rank.items():
            rows.append(
                {
                    "dataset": c.dataset,
                    "model": c.model,
                    "category": c.category,
                    "method": str(method),
                    "mean_rank": float(rank),
                    "n_metrics": c.n_metrics,
                    "blocks": c.blocks,
                    "n_blocks": c.n_blocks,
                    "statistic": c.statistic,
                    "p_value": c.p_value,
                }
            )
    columns = [
        "dataset",
        "model",
        "category",
        "method",
        "mean_rank",
        "n_metrics",
        "blocks",
        "n_blocks",
        "statistic",
        "p_value",
    ]
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "FRIEDMAN_COLUMNS",
    "MEAN_RANK_COLUMNS",
    "CategoryRanks",
    "MetricBlocks",
    "block_scores",
    "category_rank_table",
    "category_ranks",
    "category_ranks_by_image",
    "direction_of",
    "friedman_statistic",
    "friedman_tests",
    "mean_ranks",
    "posthoc",
    "rank_within_blocks",
]
