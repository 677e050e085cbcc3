"""Rule meta_evaluate: the MetaQuantus protocol on one (dataset, model), first replicate."""

from typing import TYPE_CHECKING

from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.meta_evaluation import meta_evaluate_pair
from xaibench.runtime import set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    spec, w = snakemake.params.spec, snakemake.wildcards
    table = meta_evaluate_pair(
        snakemake.input.data,
        snakemake.input.weights,
        methods=spec["methods"],
        metrics=spec["metrics"],
        settings=spec["settings"],
        ids={"dataset": w.dataset, "model": w.model, "replicate": snakemake.params.seed},
        seed=snakemake.params.seed,
        device=snakemake.params.device,
    )
    save_table(snakemake.output.table, table)
    mc = table[(table["test"] == "mean") & (table["criterion"] == "MC")]
    for metric, value in zip(mc["metric"], mc["value"], strict=True):
        log.info("%s: MC-bar %.3f", metric, value)
end_job()
