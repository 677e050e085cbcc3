# Pages for the report (snakemake --report): the results overview first, and the main tables as readable,
# sortable HTML (a .tsv in the report only downloads); the run's tables as compressed downloads (the long-form
# scores and the Nemenyi p-values are most of a report's bytes otherwise).


rule report_pages:
    input:
        **{name: f"results/tables/{name}.tsv" for name in DOWNLOADS},
        claims="results/tables/claims.tsv",
    output:
        **download_outputs(),
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
        downloads=DOWNLOADS,
    script:
        "../scripts/report_pages.py"
