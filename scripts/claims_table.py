"""Rule claims: every registered claim of the seeds tested on the run's tables (results/tables/claims.tsv)
and drawn as the claims-at-a-glance figure."""

from typing import TYPE_CHECKING

import pandas as pd

from xaibench.claims import ClaimContext, evaluate_claims
from xaibench.figures.claims import plot_claims
from xaibench.io import load_table, save_table
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    params, out = snakemake.params, snakemake.output
    # every named input is a table (several files of one name are concatenated: per-pair view tables)
    tables = {}
    for name in snakemake.input.keys():
        paths = snakemake.input[name]
        paths = [paths] if isinstance(paths, str) else list(paths)
        tables[name] = pd.concat([load_table(path) for path in paths], ignore_index=True)
    context = ClaimContext(
        tables=tables,
        generators=dict(params.generators),
        methods=dict(params.methods),
        metrics={name: tuple(entry) for name, entry in params.metrics.items()},
        alpha=params.alpha,
        n_boot=params.n_boot,
        seed=params.seed,
        modalities=dict(params.modalities),
    )
    claims = evaluate_claims(context)
    save_table(out.claims, claims)
    plot_claims(claims, out.png, out.get("pdf"))
    for row in claims.itertuples():
        log.info("%s %s/%s: %s (%s)", row.claim, row.dataset, row.model, row.verdict, row.detail)
end_job()
