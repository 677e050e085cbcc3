"""Rule report_pages: the report's overview page, the main tables as sortable HTML, and the run's tables
compressed for download."""

import gzip
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from xaibench.html import overview_page, readable_tables, table_page
from xaibench.io import load_table
from xaibench.logs import end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    inputs, out, params = snakemake.input, snakemake.output, snakemake.params
    names = ("training", "summary", "comparisons", "beats_random", "metric_health", "timing", "claims")
    tables = {name: load_table(inputs[name]) for name in names}
    tables["health"] = tables.pop("metric_health")
    page = overview_page(
        tables["training"], tables["summary"], tables["claims"], tables["beats_random"],
        {"n_samples": params.n_samples}, controls=params.controls,
    )  # fmt: skip
    Path(out.overview).write_text(page)
    folder = Path(out.tables)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (frame, title, note, colour_by) in readable_tables(tables).items():
        (folder / f"{name}.html").write_text(table_page(frame, title, note, colour_by))
        log.info("%s: %d rows", name, len(frame))
    for name in params.downloads:
        with open(inputs[name], "rb") as source, gzip.GzipFile(out[f"{name}_gz"], "wb", 9, mtime=0) as target:
            shutil.copyfileobj(source, target)  # mtime 0: the same table gives the same bytes
end_job()
