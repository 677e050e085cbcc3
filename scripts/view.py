"""Rules view_<name> (one view, params.view) and views (every view of params.views, in one process) of one
(dataset, model): entries of xaibench.views.VIEWS."""

from functools import partial
from typing import TYPE_CHECKING

from xaibench.logs import end_job, job_log
from xaibench.pairs import load_pair
from xaibench.runtime import set_threads
from xaibench.views.jobs import outputs_by_view, run_views

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    set_threads(snakemake.threads)
    params, wildcards, outputs = snakemake.params, snakemake.wildcards, dict(snakemake.output.items())
    if hasattr(params, "views"):  # rule views: outputs named <view>__<output>
        settings, outputs = params.settings, outputs_by_view(outputs, params.views)
    else:
        settings, outputs = {params.view: params.settings}, {params.view: outputs}
    run_views(  # logs each view's note
        partial(load_pair, snakemake.input.data, snakemake.input.weights, params.device),
        settings,
        params.seed,
        ids={"dataset": wildcards.dataset, "model": wildcards.model},
        outputs=outputs,
    )
end_job()
