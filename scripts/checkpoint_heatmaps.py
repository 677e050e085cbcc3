"""Rule checkpoint_heatmaps: one method's heatmap statistics and the test accuracy at every kept training
epoch of every replicate of one (dataset, model) (seed 000: heatmap statistics track accuracy)."""

from typing import TYPE_CHECKING

from xaibench.claims.checkpoints import checkpoint_table
from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.runtime import set_threads
from xaibench.tables import labelled

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    params, wildcards = snakemake.params, snakemake.wildcards
    tables = []
    for replicate, (data, weights, checkpoints) in params.runs.items():
        table = checkpoint_table(
            data, weights, checkpoints, params.method, n_samples=params.n_samples, seed=int(replicate)
        )
        tables.append(table.assign(replicate=int(replicate)))
    table = labelled(tables, dataset=wildcards.dataset, model=wildcards.model)
    save_table(snakemake.output.table, table)
    means = table.groupby(["replicate", "epoch"])[["accuracy", "gaussian_spread"]].mean()
    log.info("accuracy and mean Gaussian spread per replicate and epoch (-1: final):\n%s", means)
end_job()
