# Pages for the report (snakemake --report): the results overview first, and the main tables as readable,
# sortable HTML (a .tsv in the report only downloads); the long-form scores as a compressed download.


rule report_pages:
    input:
        training="results/tables/training.tsv",
        summary="results/tables/summary.tsv",
        comparisons="results/tables/comparisons.tsv",
        beats_random="results/tables/beats_random.tsv",
        health="results/tables/metric_health.tsv",
        timing="results/tables/timing.tsv",
        claims="results/tables/claims.tsv",
        scores="results/tables/scores.tsv",
    output:
        overview=report(
            "results/report/overview.html",
            caption="../report/overview.rst",
            category="1. Overview",
        ),
        tables=report(
            directory("results/report/tables"),
            patterns=["{table}.html"],
            caption="../report/readable_tables.rst",
            category="Tables",
            subcategory="Readable",
            labels={"table": "{table}"},
        ),
        scores=report(
            "results/report/scores.tsv.gz",
            caption="../report/scores.rst",
            category="Tables",
            subcategory="Downloads",
        ),
    log:
        "logs/report_pages.log",
    benchmark:
        "benchmarks/report_pages.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    params:
        controls=list(CONTROLS.values()),
        n_samples=config["explain"]["n_samples"],
    script:
        "../scripts/report_pages.py"
