"""Rule feature_visualisation: one table of the target values before/after over every (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.aggregate import concat_tables
from xaibench.io import save_table
from xaibench.logs import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    table = concat_tables(snakemake.input.tables)
    save_table(snakemake.output.table, table)
    log.info("%d rows, %d with a higher target after", len(table), int((table["gain"] > 0).sum()))
