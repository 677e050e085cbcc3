"""Rule figure_method_ranks: every (dataset, model)'s methods compared per metric category, one figure each in
the output folder ({dataset}/{model}/{category}.png, the category in lower case; a .pdf beside it with
figures.pdf): the methods' mean ranks over the category's metrics, those a Nemenyi post-hoc test cannot tell
apart joined by bars. One figure per category keeps each whole and legible on a screen (rule figure_forest
draws the means and CIs)."""

from typing import TYPE_CHECKING

from xaibench.figures.common import pair_figure_paths
from xaibench.figures.names import category_rank
from xaibench.figures.ranks import RankPanel, plot_critical_differences
from xaibench.io import load_table
from xaibench.logs import end_job, job_log
from xaibench.stats.rankings import category_ranks_by_image

if TYPE_CHECKING:
    from snakemake.script import snakemake


with job_log(snakemake.log[0]) as log:
    params, out = snakemake.params, snakemake.output
    scores = load_table(snakemake.input.scores)
    for (dataset, model), pair in scores.groupby(["dataset", "model"], sort=False):
        categories = sorted(category_ranks_by_image(pair).items(), key=lambda kv: category_rank(kv[0][2]))
        for key, ranks in categories:
            category = key[2]
            if ranks.mean_rank.empty:
                log.warning("%s / %s, %s: no ranks (%s)", dataset, model, category, ranks.note)
                continue
            metrics = f"{ranks.n_metrics} metric{'s' * (ranks.n_metrics != 1)}"
            title = f"{metrics}, {len(ranks.matrix)} images; Friedman p = {ranks.p_value:.2g}"
            plot_critical_differences(
                [RankPanel(title, ranks.mean_rank.to_dict(), ranks.p_values)],
                *pair_figure_paths(out.critical_differences, dataset, model, category, params.pdf),
                title=f"{dataset} / {model}, {category}: mean rank of each method",
                alpha=params.alpha,
                method_specs=params.method_specs,
            )
end_job()
