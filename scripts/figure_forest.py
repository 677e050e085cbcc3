"""Rule figure_forest: forest plots, one per (dataset, model, metric category) in the output folder
({dataset}/{model}/{category}.png, the category in lower case; a .pdf beside it with figures.pdf): each of the
category's metrics, every method's mean with its 95 % CI against the random control's band. One figure per
category keeps each whole and legible on a screen (26 metrics of 25 methods in one figure were 2.3 times
taller than a screen)."""

from typing import TYPE_CHECKING

from xaibench.figures.common import pair_figure_paths
from xaibench.figures.forest import plot_forest
from xaibench.figures.names import category_rank
from xaibench.io import load_table
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake


with job_log(snakemake.log[0]):
    params = snakemake.params
    summary = load_table(snakemake.input.summary)
    for (dataset, model), pair in summary.groupby(["dataset", "model"], sort=False):
        categories = sorted(pair.groupby("category", sort=False), key=lambda kv: category_rank(kv[0]))
        for category, part in categories:
            plot_forest(
                part,
                *pair_figure_paths(snakemake.output.forest, dataset, model, category, params.pdf),
                title=f"{dataset} / {model}, {category}: method means, 95 % CIs, against the random control",
                method_specs=params.method_specs,
                metric_specs=params.metric_specs,  # controls: the registry's random (the band) and sobel
            )
end_job()
