"""Rule view_guided_gradcam_composite: Grad-CAM | Guided Backprop | Guided Grad-CAM, one (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures import plot_guided_gradcam_composite
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.composite import composite_table, guided_gradcam_composite
from xaibench.views.input_common import load_pair

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    pair = load_pair(snakemake.input.data, snakemake.input.weights, snakemake.params.device)
    with config_key("views.guided_gradcam_composite"):
        result = guided_gradcam_composite(pair, **snakemake.params.settings, seed=snakemake.params.seed)
    table = composite_table(result)
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    save_npz(snakemake.output.arrays, **result)
    save_table(snakemake.output.table, table)
    plot_guided_gradcam_composite(result, f"{dataset} / {model}", snakemake.output.png, snakemake.output.pdf)
    log.info("max |Guided Grad-CAM - product| = %s", result["max_product_error"])
