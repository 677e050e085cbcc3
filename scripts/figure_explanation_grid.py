"""Rule figure_explanation_grid: seed 000 Fig. 1 — input | GradCAM | LIME | Occlusion | ... per sample."""

from pathlib import Path
from typing import TYPE_CHECKING

from xaibench.aggregate import explanation_panels
from xaibench.figures import plot_explanation_grid
from xaibench.logs import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    data_dir = str(Path(snakemake.input.data[0]).parent)
    expl_dir = str(Path(snakemake.input.explanations[0]).parents[2])
    panels = explanation_panels(
        snakemake.params.pairs, data_dir, expl_dir, snakemake.params.methods, snakemake.params.n_samples
    )
    plot_explanation_grid(
        panels,
        snakemake.params.methods,
        snakemake.output.png,
        snakemake.output.pdf,
        method_specs=snakemake.params.method_specs,
    )
