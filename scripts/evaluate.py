"""Rule evaluate: all configured Quantus metrics for a group of methods of one (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.evaluation import evaluate_methods
from xaibench.io import save_npz, save_table
from xaibench.logs import job_log
from xaibench.runtime import set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    w = snakemake.wildcards
    methods = snakemake.params.methods
    scores, curves, timing = evaluate_methods(
        data_path=snakemake.input.data,
        weights_path=snakemake.input.weights,
        attributions=snakemake.params.explanations,
        methods=methods,
        metrics=snakemake.params.metrics,
        ids={"dataset": w.dataset, "model": w.model, "replicate": int(w.replicate)},
        batch_size=max(1, snakemake.params.batch_size // snakemake.resources.batch_divisor),
        seed=snakemake.params.seed,
        device=snakemake.params.device,
    )
    save_npz(snakemake.output.curves, **curves)
    save_table(snakemake.output.timing, timing)
    save_table(snakemake.output.scores, scores)
    log.info("%d score rows for %s", len(scores), ", ".join(methods))
