"""Rule figure_metric_heatmap: method x metric heatmap of normalised scores (1 = best), one figure per
(dataset, model) in the output folder ({dataset}/{model}.png, and .pdf with figures.pdf)."""

from pathlib import Path
from typing import TYPE_CHECKING

from xaibench.figures import plot_metric_heatmap
from xaibench.io import load_table
from xaibench.logs import end_job, job_log
from xaibench.stats import flagged_metrics, not_better_than

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    summary = load_table(snakemake.input.summary)
    comparisons = load_table(snakemake.input.comparisons)
    health = load_table(snakemake.input.health)
    faded = not_better_than(comparisons, snakemake.params.random)
    flagged = flagged_metrics(health)
    for (dataset, model), pair in summary.groupby(["dataset", "model"], sort=False):
        folder = Path(snakemake.output.figures) / dataset
        folder.mkdir(parents=True, exist_ok=True)
        plot_metric_heatmap(
            pair,
            folder / f"{model}.png",
            folder / f"{model}.pdf" if snakemake.params.pdf else None,
            title=f"Quantus scores: {dataset} / {model}",
            method_specs=snakemake.params.method_specs,
            metric_specs=snakemake.params.metric_specs,
            faded=faded,
            flagged=flagged,
        )
end_job()
