"""Rules <view> (occlusion_sweep, adversarial, ...): one view's tables of every (dataset, model) as one."""

from typing import TYPE_CHECKING

from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.views.jobs import gather_view

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    table = gather_view(snakemake.params.view, snakemake.input.tables)
    save_table(snakemake.output.table, table)
    log.info("%s: %d rows from %d tables", snakemake.params.view, len(table), len(snakemake.input.tables))
end_job()
