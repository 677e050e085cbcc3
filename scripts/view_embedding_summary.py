"""Rule embeddings: accuracy and class separation (silhouettes) of the embeddings of every pair."""

from typing import TYPE_CHECKING

from xaibench.aggregate import concat_tables
from xaibench.io import save_table
from xaibench.logs import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    table = concat_tables(snakemake.input.summaries)
    save_table(snakemake.output.table, table)
    log.info("%d (dataset, model) pairs", len(table))
