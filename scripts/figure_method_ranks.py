"""Rule figure_method_ranks: one (dataset, model)'s methods compared: mean ranks per metric category with
the methods a Nemenyi post-hoc test cannot tell apart joined by bars, and a forest plot of every metric's
method means with their CIs against the random control's."""

from typing import TYPE_CHECKING

from xaibench.figures.forest import plot_forest
from xaibench.figures.names import category_rank
from xaibench.figures.ranks import RankPanel, plot_critical_differences
from xaibench.io import load_table
from xaibench.logs import job_log
from xaibench.stats.rankings import category_ranks_by_image

if TYPE_CHECKING:
    from snakemake.script import snakemake


with job_log(snakemake.log[0]) as log:
    w, params, out = snakemake.wildcards, snakemake.params, snakemake.output
    scores = load_table(snakemake.input.scores)
    scores = scores[(scores["dataset"] == w.dataset) & (scores["model"] == w.model)]
    categories = category_ranks_by_image(scores)
    panels = []
    for key in sorted(categories, key=lambda key: category_rank(key[2])):
        ranks = categories[key]
        if ranks.mean_rank.empty:
            log.warning("%s: no ranks (%s)", key[2], ranks.note)
            continue
        metrics = f"{ranks.n_metrics} metric{'s' * (ranks.n_metrics != 1)}"
        title = f"{key[2]} ({metrics}, {len(ranks.matrix)} images; Friedman p = {ranks.p_value:.2g})"
        panels.append(RankPanel(title, ranks.mean_rank.to_dict(), ranks.p_values))
    plot_critical_differences(
        panels,
        out.critical_differences,
        out.critical_differences_pdf,
        title=f"{w.dataset} / {w.model}: mean rank of each method per metric category",
        alpha=params.alpha,
        method_specs=params.method_specs,
    )
    summary = load_table(snakemake.input.summary)
    plot_forest(
        summary[(summary["dataset"] == w.dataset) & (summary["model"] == w.model)],
        out.forest,
        out.forest_pdf,
        title=f"{w.dataset} / {w.model}: method means with 95 % CIs against the random control",
        method_specs=params.method_specs,
        metric_specs=params.metric_specs,  # controls: the registry's random (the band) and sobel
    )
