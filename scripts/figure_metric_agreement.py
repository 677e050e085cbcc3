"""Rule figure_metric_agreement: Kendall's tau between the method rankings of every pair of metrics, one
matrix per (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures.ranks import plot_metric_agreement
from xaibench.io import load_table
from xaibench.logs import end_job, job_log
from xaibench.stats.agreement import agreement_matrix

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    agreement = load_table(snakemake.input.agreement)
    pairs = list(dict.fromkeys(zip(agreement["dataset"], agreement["model"], strict=True)))
    categories = dict(zip(agreement["metric_a"], agreement["category_a"], strict=True))
    categories |= dict(zip(agreement["metric_b"], agreement["category_b"], strict=True))
    plot_metric_agreement(
        {f"{d} / {m}": agreement_matrix(agreement, d, m) for d, m in pairs},
        snakemake.output.png,
        snakemake.output.get("pdf"),
        title="Agreement between metrics: Kendall's τ of their method rankings",
        categories=categories,
        metric_specs=snakemake.params.metric_specs,
    )
end_job()
