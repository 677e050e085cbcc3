"""Rule figure_faithfulness_curves: per-step perturbation curves of every method (Samek style), one figure per
curve metric of one (dataset, model), the images of every replicate pooled."""

from typing import TYPE_CHECKING

import numpy as np

from xaibench.figures import metric_entry_label, plot_faithfulness_curves
from xaibench.io import load_npz
from xaibench.logs import end_job, job_log
from xaibench.metrics import METRICS

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    w, params = snakemake.wildcards, snakemake.params
    stored = {}  # "<method>.<metric>" -> [(N, L)]: every evaluation group and replicate of this pair
    for path in snakemake.input.curves:
        for key, value in load_npz(path).items():
            stored.setdefault(key, []).append(value)
    for metric in params.metrics:
        curves = {}
        for method in params.methods:
            if f"{method}.{metric}" in stored:  # the images of every replicate
                curves[method] = np.concatenate(stored[f"{method}.{metric}"])
            else:  # every map of this method was constant: no curve (see results/tables/nonfinite.tsv)
                log.warning("%s has no %s curve", method, metric)
        plot_faithfulness_curves(
            curves,
            snakemake.output[f"{metric}_png"],
            snakemake.output.get(f"{metric}_pdf"),
            title=f"{metric_entry_label(metric, params.metric_specs[metric])}: {w.dataset} / {w.model}",
            ylabel=METRICS.get(params.registry_metrics[metric]).curve_label,
            method_specs=params.method_specs,
        )
end_job()
