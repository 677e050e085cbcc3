"""Rule view_occlusion_sweep: probability drop under occluding windows (sizes x strides, two at once), one
(dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures import plot_occlusion_sweep
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.input_common import load_pair
from xaibench.views.occlusion_sweep import occlusion_sweep, occlusion_table

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    pair = load_pair(snakemake.input.data, snakemake.input.weights, snakemake.params.device)
    with config_key("views.occlusion_sweep"):
        result = occlusion_sweep(pair, **snakemake.params.settings, seed=snakemake.params.seed)
    table = occlusion_table(result)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    save_npz(snakemake.output.arrays, **result)
    save_table(snakemake.output.table, table)
    plot_occlusion_sweep(result, f"{dataset} / {model}", snakemake.output.png, snakemake.output.pdf)
    log.info("%s", table.groupby(["kind", "window_px", "stride_px"])[["max_drop", "mean_drop"]].mean())
