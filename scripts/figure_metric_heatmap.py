"""Rule figure_metric_heatmap: method x metric heatmap of normalised scores (1 = best)."""

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
    plot_metric_heatmap(
        summary,
        snakemake.output.png,
        snakemake.output.pdf,
        title="Quantus scores",
        method_specs=snakemake.params.method_specs,
        metric_specs=snakemake.params.metric_specs,
        faded=not_better_than(comparisons, snakemake.params.random),
        flagged=flagged_metrics(health),
    )
