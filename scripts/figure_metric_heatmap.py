"""Rule figure_metric_heatmap: method x metric heatmap of normalised scores (1 = best)."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.logs import job_log
from xaibench.plots import plot_metric_heatmap

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    summary = pd.read_csv(snakemake.input.summary, sep="\t")
    plot_metric_heatmap(summary, snakemake.output.png, snakemake.output.pdf, title="Quantus scores")
