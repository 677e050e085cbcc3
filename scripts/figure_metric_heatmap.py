"""Rule figure_metric_heatmap: method x metric heatmap of normalised scores (1 = best), one figure per
(dataset, model) in the output folder ({dataset}/{model}.png and .pdf)."""

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from xaibench.figures import plot_metric_heatmap
from xaibench.logs import job_log
from xaibench.stats import flagged_metrics, not_better_than

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    summary = pd.read_csv(snakemake.input.summary, sep="\t")
    comparisons = pd.read_csv(snakemake.input.comparisons, sep="\t")
    health = pd.read_csv(snakemake.input.health, sep="\t")
    faded = not_better_than(comparisons, snakemake.params.random)
    flagged = flagged_metrics(health)
    for (dataset, model), pair in summary.groupby(["dataset", "model"], sort=False):
        folder = Path(snakemake.output.figures) / dataset
        folder.mkdir(parents=True, exist_ok=True)
        plot_metric_heatmap(
            pair,
            folder / f"{model}.png",
            folder / f"{model}.pdf",
            title=f"Quantus scores: {dataset} / {model}",
            method_specs=snakemake.params.method_specs,
            metric_specs=snakemake.params.metric_specs,
            faded=faded,
            flagged=flagged,
        )
