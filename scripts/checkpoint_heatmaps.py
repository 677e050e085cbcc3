"""Rule checkpoint_heatmaps: one method's heatmap statistics and the test accuracy at every kept training
epoch of every replicate of one (dataset, model) (seed 000: heatmap statistics track accuracy)."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.claims.checkpoints import checkpoint_table
from xaibench.io import save_table
from xaibench.logs import job_log
from xaibench.runtime import set_threads

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
        labels = {"dataset": wildcards.dataset, "model": wildcards.model, "replicate": int(replicate)}
        tables.append(table.assign(**labels))
    table = pd.concat(tables, ignore_index=True)
    front = ["dataset", "model", "replicate"]
    table = table[front + [c for c in table.columns if c not in front]]
    save_table(snakemake.output.table, table)
    means = table.groupby(["replicate", "epoch"])[["accuracy", "gaussian_spread"]].mean()
    log.info("accuracy and mean Gaussian spread per replicate and epoch (-1: final):\n%s", means)
