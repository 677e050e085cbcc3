"""Rule view_feature_visualisation: class/channel-maximising images and Deep Dream, one (dataset, model)."""

from typing import TYPE_CHECKING

from xaibench.figures import plot_feature_visualisation
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.feature_vis import feature_visualisation_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    with config_key("views.feature_visualisation"):
        out = feature_visualisation_job(
            data_path=snakemake.input.data,
            weights_path=snakemake.input.weights,
            settings=snakemake.params.settings,
            seed=snakemake.params.seed,
            device=snakemake.params.device,
        )
    table = out["table"]
    table.insert(0, "model", model)
    table.insert(0, "dataset", dataset)
    save_npz(snakemake.output.arrays, **out["arrays"])
    save_table(snakemake.output.table, table)
    plot_feature_visualisation(
        out["result"].images,
        out["result"].starts,
        table,
        out["class_names"],
        out["value_range"],
        f"{dataset} / {model}",
        snakemake.output.png,
        snakemake.output.pdf,
    )
    log.info("feature visualisation: %s s for %d images", out["seconds"], len(table))
