"""Rule evaluate: all configured Quantus metrics for one (dataset, model, method)."""

from typing import TYPE_CHECKING

from xaibench.evaluation import evaluate_explanations
from xaibench.io import save_npz, save_table
from xaibench.logs import job_log
from xaibench.runtime import set_threads

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    w = snakemake.wildcards
    scores, curves, timing = evaluate_explanations(
        data_path=snakemake.input.data,
        weights_path=snakemake.input.weights,
        attributions_path=snakemake.input.attributions,
        metrics=snakemake.params.metrics,
        method=snakemake.params.method,
        ids={"dataset": w.dataset, "model": w.model, "method": w.method},
        batch_size=snakemake.params.batch_size,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
    )
    save_npz(snakemake.output.curves, **curves)
    save_table(snakemake.output.timing, timing)
    save_table(snakemake.output.scores, scores)
    log.info("%d score rows", len(scores))
