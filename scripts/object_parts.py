"""Rule object_parts: where on the object each method's relevance lies (seed 002), for one (dataset, model)
over its replicates: per image the relevance share, area share and enrichment of each zone (corners,
edges, interior, background of a polygon; the discs of a counting image), per object on counting images, the
summary with bootstrap intervals, and its figure."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.claims.parts import pair_tables, summarise_objects, summarise_parts
from xaibench.figures.parts import plot_parts
from xaibench.io import save_table
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    params, out, wildcards = snakemake.params, snakemake.output, snakemake.wildcards
    labels = {"dataset": wildcards.dataset, "model": wildcards.model}
    runs = {int(replicate): (data, maps) for replicate, (data, maps) in params.runs.items()}
    zones, objects = pair_tables(params.generator, runs, labels)
    summary = summarise_parts(zones, n_boot=params.n_boot, seed=params.seed)
    if objects is not None:
        per_object = summarise_objects(objects, n_boot=params.n_boot, seed=params.seed)
        summary = pd.concat([summary, per_object.assign(zone="objects")], ignore_index=True)
    save_table(out.zones, zones)
    save_table(out.objects, objects if objects is not None else pd.DataFrame(columns=["dataset", "model"]))
    save_table(out.summary, summary)
    plot_parts(
        summary,
        f"Relevance per part of the object: {wildcards.dataset} / {wildcards.model}",
        out.png,
        out.get("pdf"),
    )
    ratios = summary[summary["statistic"] == "enrichment_ratio"]
    for row in ratios.itertuples():
        log.info("%s %s: %.3f [%.3f, %.3f]", row.method, row.zone, row.estimate, row.ci_low, row.ci_high)
end_job()
