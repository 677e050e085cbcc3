"""Rule explain: attributions of a group of methods for the evaluation subset of one (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.explaining import explain_group
from xaibench.logs import end_job, job_log
from xaibench.runtime import set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    settings = dict(snakemake.params.settings)  # a retried job (attempt k) uses batches 2^(k-1) times smaller
    settings["batch_size"] = max(1, settings["batch_size"] // snakemake.resources.batch_divisor)
    summaries = explain_group(
        data_path=snakemake.input.data,
        weights_path=snakemake.input.weights,
        out_path=snakemake.output.attributions,
        specs=snakemake.params.methods,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        **settings,
    )
    for summary in summaries:
        log.info("%s", summary)
end_job()
