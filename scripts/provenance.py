"""Rule provenance: package versions, git commit and dirty flag, config as run, platform, device, date."""

from typing import TYPE_CHECKING

from xaibench.io import save_json
from xaibench.logs import end_job, job_log
from xaibench.provenance import provenance

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    record = provenance(
        snakemake.params.config, workflow_dir=snakemake.params.workflow_dir, device=snakemake.params.device
    )
    save_json(snakemake.output.provenance, record)
    log.info("commit %s (dirty: %s)", record["workflow"]["commit"], record["workflow"]["dirty"])
end_job()
