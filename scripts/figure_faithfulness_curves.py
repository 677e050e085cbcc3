"""Rule figure_faithfulness_curves: per-step perturbation curves of every method (Samek style)."""

from typing import TYPE_CHECKING

from xaibench.figures import metric_label, plot_faithfulness_curves
from xaibench.io import load_npz
from xaibench.logs import job_log
from xaibench.metrics import METRICS

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    w = snakemake.wildcards
    stored = {}  # "<method>.<metric>" -> (N, L), from every evaluation group of this (dataset, model)
    for path in snakemake.input.curves:
        stored.update(load_npz(path))
    curves = {}
    for method in snakemake.params.methods:
        if f"{method}.{w.metric}" in stored:
            curves[method] = stored[f"{method}.{w.metric}"]
        else:  # every map of this method was constant: no curve (see results/tables/nonfinite.tsv)
            log.warning("%s has no %s curve", method, w.metric)
    plot_faithfulness_curves(
        curves,
        snakemake.output.png,
        snakemake.output.pdf,
        title=f"{metric_label(w.metric, **snakemake.params.metric_specs[w.metric])}: {w.dataset} / {w.model}",
        ylabel=METRICS.get(snakemake.params.registry_metric).curve_label,
        method_specs=snakemake.params.method_specs,
    )
