"""Rule view_max_activating: top-k / bottom-k test images of every class logit and chosen channels, one
(dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures import plot_max_activating
from xaibench.io import save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.input_common import load_pair
from xaibench.views.max_activating import max_activating

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    pair = load_pair(snakemake.input.data, snakemake.input.weights, snakemake.params.device)
    with config_key("views.max_activating"):
        table, info = max_activating(pair, **snakemake.params.settings, seed=snakemake.params.seed)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    save_table(snakemake.output.table, table)
    plot_max_activating(
        table, pair.dataset.images, info, f"{dataset} / {model}", snakemake.output.png, snakemake.output.pdf
    )
    log.info("%s", info)
