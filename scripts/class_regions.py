"""Rule class_regions: two-class composite images of one dataset, each explained for both classes present
(seed 003 Fig. 3-4: is an explanation class-discriminative?), the relevance shares of each class's region,
and the figure of a few composites."""

from typing import TYPE_CHECKING

from xaibench.claims.class_regions import (
    class_region_table,
    composites_for,
    discrimination,
    method_intervals,
)
from xaibench.datasets import load_dataset
from xaibench.figures.class_regions import plot_class_regions
from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.models import load_model
from xaibench.runtime import seed_everything, select_device, set_threads
from xaibench.stats.bootstrap import group_rng
from xaibench.tables import labelled

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    params, inputs, wildcards = snakemake.params, snakemake.input, snakemake.wildcards
    seed_everything(int(params.seed))
    device = select_device(params.device)
    dataset = load_dataset(inputs.data)
    model = load_model(inputs.weights, device)
    rng = group_rng(int(params.seed), "class_regions", wildcards.dataset)
    composite = composites_for(params.generator)(dataset, int(params.n_samples), rng)
    table, maps = class_region_table(model, composite, dict(params.methods), dataset.class_names, str(device))
    table = labelled(table, dataset=wildcards.dataset, model=wildcards.model, replicate=int(params.seed))
    save_table(snakemake.output.table, table)
    summary = discrimination(table)
    intervals = method_intervals(summary, seed=int(params.seed), n_boot=int(params.n_boot))
    title = f"Class discrimination on two-class composites: {wildcards.dataset}, {wildcards.model}"
    out = snakemake.output
    names = dataset.class_names
    plot_class_regions(composite, maps, intervals, summary, names, title, out.png, out.get("pdf"))
    log.info("discrimination per method (mean, 95%% CI):\n%s", intervals)
end_job()
