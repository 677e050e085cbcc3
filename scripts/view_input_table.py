"""Target rules of the input views (occlusion_sweep, activation_maps, max_activating,
guided_gradcam_composite): every (dataset, model)'s table of one view in one table."""

from typing import TYPE_CHECKING

from xaibench.aggregate import concat_tables
from xaibench.io import save_table
from xaibench.logs import job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    table = concat_tables(snakemake.input.tables)
    save_table(snakemake.output.table, table)
    log.info("%s: %d rows from %d tables", snakemake.rule, len(table), len(snakemake.input.tables))
