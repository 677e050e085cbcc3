"""Rule aggregate_scores: whole-run score, summary, non-finite, timing and training tables."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.aggregate import concat_tables, explain_timing, training_table
from xaibench.io import save_table
from xaibench.logs import end_job, job_log
from xaibench.tables import nonfinite_report, summarise

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    scores = concat_tables(snakemake.input.scores)
    summary = summarise(scores, seed=snakemake.params.seed)
    nonfinite = nonfinite_report(scores)
    timing = pd.concat(
        [explain_timing(snakemake.params.explanations), concat_tables(snakemake.input.timing)],
        ignore_index=True,
    )
    save_table(snakemake.output.scores, scores)
    save_table(snakemake.output.summary, summary)
    save_table(snakemake.output.nonfinite, nonfinite)
    save_table(snakemake.output.timing, timing)
    save_table(
        snakemake.output.training,
        training_table(snakemake.params.histories, snakemake.params.test_metrics),
    )
    log.info(
        "%d scores, %d summary cells, %d with non-finite scores", len(scores), len(summary), len(nonfinite)
    )
end_job()
