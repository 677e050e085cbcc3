"""Rule train_model: train one model on one dataset; save weights, history and test metrics."""

from typing import TYPE_CHECKING

from xaibench.datasets import load_dataset
from xaibench.io import save_json, save_table
from xaibench.logs import config_key, end_job, job_log
from xaibench.models import save_checkpoints, save_model
from xaibench.runtime import select_device, set_threads
from xaibench.training import train

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    spec = snakemake.params.spec
    device = select_device(snakemake.params.device)
    dataset = load_dataset(snakemake.input.data)
    with config_key(f"models.{snakemake.wildcards.model}"):
        result = train(
            dataset,
            spec["architecture"],
            spec["params"],
            seed=snakemake.params.seed,
            device=device,
            **spec["training"],
        )
    save_model(snakemake.output.weights, result.model, result.spec)
    save_checkpoints(snakemake.output.checkpoints, result.spec, result.checkpoints)
    save_table(snakemake.output.history, result.history)
    save_json(snakemake.output.test_metrics, result.test_metrics)
    log.info("test accuracy %.4f on %s", result.test_metrics["test_accuracy"], device)
end_job()
