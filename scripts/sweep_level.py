"""Rule sweep_level: one level of a difficulty sweep: a small dataset with the swept parameter at the level's
value, a model trained on it, its methods explained and its metrics scored (scripts/xaibench/sweeps.py)."""

from typing import TYPE_CHECKING

from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.runtime import set_threads
from xaibench.sweeps import level_tables, run_level

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    settings, wildcards = snakemake.params.settings, snakemake.wildcards
    result = run_level(
        settings["generator"],
        settings["params"],
        settings["param"],
        settings["value"],
        settings["architecture"],
        settings["model_params"],
        settings["training"],
        settings["methods"],
        settings["metrics"],
        n_samples=settings["n_samples"],
        seed=snakemake.params.seed,
        batch_size=snakemake.params.batch_size,
        target=snakemake.params.target,
        device="cpu",
    )
    scores, accuracy = level_tables(
        result,
        sweep=wildcards.sweep,
        param=settings["param"],
        level=int(wildcards.level),
        value=settings["value"],
    )
    save_table(snakemake.output.scores, scores)
    save_table(snakemake.output.accuracy, accuracy)
    log.info("%s = %s: test accuracy %.3f", settings["param"], settings["value"], result["accuracy"])
end_job()
