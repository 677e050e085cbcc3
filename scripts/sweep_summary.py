"""Rule sweep: every level of one difficulty sweep gathered, summarised (mean and bootstrap CI per level,
method and metric; Spearman of each method's scores with the parameter) and drawn."""

from typing import TYPE_CHECKING

from xaibench.figures.sweeps import plot_sweep
from xaibench.io import load_table, save_table
from xaibench.logs import end_job, job_log
from xaibench.sweeps import gather_levels, summarise_sweep

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]):
    params, out = snakemake.params, snakemake.output
    scores = gather_levels([load_table(path) for path in snakemake.input.levels])
    accuracy = gather_levels([load_table(path) for path in snakemake.input.accuracy])
    summary = summarise_sweep(scores, accuracy, n_boot=params.n_boot, seed=params.seed)
    save_table(out.summary, summary)
    title = f"Difficulty sweep {snakemake.wildcards.sweep}: {params.param}"
    plot_sweep(summary, accuracy, params.param, title, out.png, out.get("pdf"))
end_job()
