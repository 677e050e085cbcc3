"""Rule meta_evaluation_table: every meta-evaluated pair's MetaQuantus table in one."""

from typing import TYPE_CHECKING

from xaibench.aggregate import concat_tables
from xaibench.io import save_table
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    save_table(snakemake.output.table, concat_tables(snakemake.input.tables))
end_job()
