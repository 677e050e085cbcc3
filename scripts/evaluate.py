"""Rule evaluate: all configured Quantus metrics for a group of methods of one (dataset, model). With
explain.in_evaluation_job it first explains the group and writes its explanation file, as rule explain
would."""

from typing import TYPE_CHECKING

from xaibench.evaluation import evaluate_methods
from xaibench.explaining import explain_group
from xaibench.io import save_npz, save_table
from xaibench.logs import end_job, job_log
from xaibench.runtime import set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    w = snakemake.wildcards
    methods = snakemake.params.methods
    divisor = (
        snakemake.resources.batch_divisor
    )  # a retried job (attempt k) uses batches 2^(k-1) times smaller
    if snakemake.params.explain:  # explain.in_evaluation_job: the explain rule's work, in this process
        settings = dict(snakemake.params.explain["settings"])
        settings["batch_size"] = max(1, settings["batch_size"] // divisor)
        for summary in explain_group(
            data_path=snakemake.input.data,
            weights_path=snakemake.input.weights,
            out_path=snakemake.output.attributions,
            specs=snakemake.params.explain["methods"],
            seed=snakemake.params.seed,
            device=snakemake.params.device,
            **settings,
        ):
            log.info("%s", summary)
    scores, curves, timing = evaluate_methods(
        data_path=snakemake.input.data,
        weights_path=snakemake.input.weights,
        attributions=snakemake.params.explanations,
        methods=methods,
        metrics=snakemake.params.metrics,
        ids={"dataset": w.dataset, "model": w.model, "replicate": int(w.replicate)},
        batch_size=max(1, snakemake.params.batch_size // divisor),
        seed=snakemake.params.seed,
        device=snakemake.params.device,
    )
    save_npz(snakemake.output.curves, **curves)
    save_table(snakemake.output.timing, timing)
    save_table(snakemake.output.scores, scores)
    log.info("%d score rows for %s", len(scores), ", ".join(methods))
end_job()
