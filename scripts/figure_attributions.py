"""Rule figure_attributions: the explanations of a series or table pair (first replicate): each method's
attribution drawn along the series, or per feature against the informative ones (seed 001, Fig. 10)."""

from typing import TYPE_CHECKING

from xaibench.datasets import load_dataset
from xaibench.explanations import load_explanations
from xaibench.figures.attributions import plot_series_attributions, plot_table_attributions
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    params, wildcards, out = snakemake.params, snakemake.wildcards, snakemake.output
    dataset = load_dataset(snakemake.input.data)
    stored, maps, first = {}, {}, None
    for method, path in params.explanations.items():
        stored.setdefault(path, load_explanations(path))
        explanation = stored[path][method]
        first = first or explanation
        maps[method] = explanation["attributions"]
    index = first["indices"]
    title = f"Explanations of {wildcards.dataset} / {wildcards.model} ({dataset.modality})"
    if dataset.modality == "series":
        n = int(params.n_samples)
        names = dataset.class_names
        plot_series_attributions(
            dataset.images[index[:n]],
            {method: values[:n] for method, values in maps.items()},
            [names[i] for i in first["labels"][:n]],
            [names[i] for i in first["predictions"][:n]],
            title, out.png, out.get("pdf"),
            masks=None if dataset.masks is None else dataset.masks[index[:n]],
            method_specs=params.method_specs,
            channel_names=dataset.feature_names,
        )  # fmt: skip
    else:
        features = dataset.feature_names or [f"feature {i}" for i in range(dataset.images.shape[-1])]
        informative = None if dataset.masks is None else dataset.masks[index].reshape(len(index), -1).any(0)
        title += f", mean over {len(index)} test samples"
        plot_table_attributions(
            maps,
            features,
            title,
            out.png,
            out.get("pdf"),
            informative=informative,
            method_specs=params.method_specs,
        )
    log.info("drew %d methods of %s", len(maps), dataset.modality)
end_job()
