"""Rule figure_training_curves: loss and accuracy per epoch for every (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.aggregate import load_histories
from xaibench.figures import plot_training_curves
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    plot_training_curves(
        load_histories(snakemake.params.histories),
        snakemake.output.png,
        snakemake.output.get("pdf"),
        title="Training",
    )
end_job()
