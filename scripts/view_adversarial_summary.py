"""Rule adversarial: flips and map similarity (SSIM, Spearman) per attack and method over every pair."""

from typing import TYPE_CHECKING

from xaibench.aggregate import concat_tables
from xaibench.io import save_table
from xaibench.logs import job_log
from xaibench.views.adversarial import summarise_similarity

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    summary = summarise_similarity(concat_tables(snakemake.input.similarity))
    save_table(snakemake.output.table, summary)
    log.info("%d (dataset, model, attack, method) cells", len(summary))
