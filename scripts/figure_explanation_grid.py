"""Rule figure_explanation_grid: seed 000 Fig. 1 — input | GradCAM | LIME | Occlusion | ... per sample."""

from typing import TYPE_CHECKING

from xaibench.aggregate import explanation_panels
from xaibench.figures import plot_explanation_grid
from xaibench.logs import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    panels = explanation_panels(
        snakemake.params.data, snakemake.params.explanations, snakemake.params.n_samples
    )
    plot_explanation_grid(
        panels,
        snakemake.params.methods,
        snakemake.output.png,
        snakemake.output.pdf,
        method_specs=snakemake.params.method_specs,
    )
