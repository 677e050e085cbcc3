"""Rule figure_explanation_grid: Brodzicki et al.'s Fig. 1 (input | Grad-CAM | LIME | Occlusion | ...) for
every image (dataset, model), one figure each in the output folder ({dataset}/{model}.png; a .pdf beside it
with figures.pdf)."""

from pathlib import Path
from typing import TYPE_CHECKING

from xaibench.aggregate import explanation_panels
from xaibench.figures import plot_explanation_grid
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    params = snakemake.params
    for dataset, models in params.explanations.items():
        for model, runs in models.items():
            one = {dataset: {model: runs}}
            panels = explanation_panels(
                {dataset: {model: params.data[dataset][model]}}, one, params.n_samples
            )
            folder = Path(snakemake.output.figures) / dataset
            folder.mkdir(parents=True, exist_ok=True)
            plot_explanation_grid(
                panels,
                params.methods,
                folder / f"{model}.png",
                folder / f"{model}.pdf" if params.pdf else None,
                method_specs=params.method_specs,
            )
end_job()
