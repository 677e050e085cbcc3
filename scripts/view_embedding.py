"""Rule view_embeddings: t-SNE and UMAP of the penultimate features of one (dataset, model)'s test set."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.figures import plot_embeddings
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.embeddings import embedding_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    settings = snakemake.params.settings
    with config_key("views.embeddings"):
        out = embedding_job(
            data_path=snakemake.input.data,
            weights_path=snakemake.input.weights,
            settings=settings,
            seed=snakemake.params.seed,
            device=snakemake.params.device,
        )
    summary = {"dataset": dataset, "model": model, **out["summary"]}
    save_npz(snakemake.output.arrays, **out["arrays"])
    save_table(snakemake.output.coordinates, out["table"])
    save_table(snakemake.output.summary, pd.DataFrame([summary]))
    panels = [
        ("tsne", f"t-SNE (perplexity {settings['perplexity']}), silhouette {summary['silhouette_tsne']:.2f}"),
        ("umap", f"UMAP ({settings['n_neighbors']} neighbours), silhouette {summary['silhouette_umap']:.2f}"),
    ]
    title = (
        f"{dataset} / {model}: penultimate features ({summary['feature_dim']}-d, layer {summary['layer']})"
        f" of {summary['n_points']} test images, accuracy {100 * summary['accuracy']:.1f} %"
    )
    plot_embeddings(
        out["table"], out["class_names"], panels, title, snakemake.output.png, snakemake.output.pdf
    )
    log.info("%s", summary)
