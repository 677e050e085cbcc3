"""Rule figure_method_ranks: every (dataset, model)'s methods compared, one figure pair per (dataset, model,
metric category) in the two output folders ({dataset}/{model}/{category}.png and .pdf, the category in lower
case): the methods' mean ranks over the category's metrics with those a Nemenyi post-hoc test cannot tell
apart joined by bars, and a forest plot of each of its metrics' method means with their CIs against the
random control's. One figure per category keeps each whole and legible on a screen (26 metrics of 25 methods
in one figure were 2.3 times taller than a screen)."""

from pathlib import Path
from typing import TYPE_CHECKING

from xaibench.figures.forest import plot_forest
from xaibench.figures.names import category_rank
from xaibench.figures.ranks import RankPanel, plot_critical_differences
from xaibench.io import load_table
from xaibench.logs import job_log
from xaibench.stats.rankings import category_ranks_by_image

if TYPE_CHECKING:
    from snakemake.script import snakemake


def figure_paths(folder: str, dataset: str, model: str, category: str) -> tuple[Path, Path]:
    """``folder/dataset/model/category.png`` and ``.pdf``, their folder made."""
    stem = Path(folder) / dataset / model / category.lower()
    stem.parent.mkdir(parents=True, exist_ok=True)
    return stem.with_suffix(".png"), stem.with_suffix(".pdf")


with job_log(snakemake.log[0]) as log:
    params, out = snakemake.params, snakemake.output
    scores = load_table(snakemake.input.scores)
    summary = load_table(snakemake.input.summary)
    for (dataset, model), pair in scores.groupby(["dataset", "model"], sort=False):
        for key, ranks in sorted(
            category_ranks_by_image(pair).items(), key=lambda kv: category_rank(kv[0][2])
        ):
            category = key[2]
            if ranks.mean_rank.empty:
                log.warning("%s / %s, %s: no ranks (%s)", dataset, model, category, ranks.note)
                continue
            metrics = f"{ranks.n_metrics} metric{'s' * (ranks.n_metrics != 1)}"
            title = f"{metrics}, {len(ranks.matrix)} images; Friedman p = {ranks.p_value:.2g}"
            plot_critical_differences(
                [RankPanel(title, ranks.mean_rank.to_dict(), ranks.p_values)],
                *figure_paths(out.critical_differences, dataset, model, category),
                title=f"{dataset} / {model}, {category}: mean rank of each method",
                alpha=params.alpha,
                method_specs=params.method_specs,
            )
        chosen = summary[(summary["dataset"] == dataset) & (summary["model"] == model)]
        for category, part in sorted(
            chosen.groupby("category", sort=False), key=lambda kv: category_rank(kv[0])
        ):
            plot_forest(
                part,
                *figure_paths(out.forest, dataset, model, category),
                title=f"{dataset} / {model}, {category}: method means, 95 % CIs, against the random control",
                method_specs=params.method_specs,
                metric_specs=params.metric_specs,  # controls: the registry's random (the band) and sobel
            )
