"""Rule view_activation_maps: feature maps per stage and mean activation per class and channel, one
(dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures import plot_activation_maps
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.activations import activation_maps, activation_table
from xaibench.views.input_common import load_pair

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    pair = load_pair(snakemake.input.data, snakemake.input.weights, snakemake.params.device)
    with config_key("views.activation_maps"):
        result = activation_maps(pair, **snakemake.params.settings, seed=snakemake.params.seed)
    table = activation_table(result)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    save_npz(snakemake.output.arrays, **result)
    save_table(snakemake.output.table, table)
    plot_activation_maps(result, f"{dataset} / {model}", snakemake.output.png, snakemake.output.pdf)
    log.info("layers %s", list(result["layers"]))
