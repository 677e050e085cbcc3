"""Rules view_<name>: one view (params.view, an entry of xaibench.views.VIEWS) of one (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.logs import job_log
from xaibench.pairs import load_pair
from xaibench.runtime import set_threads
from xaibench.views.jobs import run_view

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    params, wildcards = snakemake.params, snakemake.wildcards
    out = run_view(
        params.view,
        load_pair(snakemake.input.data, snakemake.input.weights, params.device),
        params.settings,
        params.seed,
        ids={"dataset": wildcards.dataset, "model": wildcards.model},
        outputs=dict(snakemake.output.items()),
    )
    log.info("%s", out.note)
