# Statistics over the whole run's per-image scores (scripts/xaibench/stats): every method against the
# random and Sobel controls, metric health, Friedman tests and mean ranks, agreement between metrics and
# with the ground-truth (localisation) ranking; and the run's provenance.


rule statistics:
    input:
        scores="results/tables/scores.tsv",
    output:
        comparisons="results/tables/comparisons.tsv",
        health="results/tables/metric_health.tsv",
        friedman="results/tables/friedman.tsv",
        ranks="results/tables/mean_ranks.tsv",
        nemenyi="results/tables/nemenyi.tsv",
        agreement="results/tables/metric_agreement.tsv",
        anchored="results/tables/anchored_validity.tsv",
        beats_random="results/tables/beats_random.tsv",
    log:
        "logs/statistics.log",
    benchmark:
        "benchmarks/statistics.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        controls=CONTROLS,
        alpha=config["statistics"]["alpha"],
        n_boot=config["statistics"]["n_boot"],
        seed=config["seed"],
    script:
        "../scripts/statistics_tables.py"


rule figure_method_ranks:
    input:
        scores="results/tables/scores.tsv",
    output:
        critical_differences=report(
            directory("results/figures/critical_differences"),
            patterns=["{dataset}/{model}/{category}.png"],
            caption="../report/critical_differences.rst",
            category="Figures",
            subcategory="Method rankings",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "category": "{category}",
                "figure": "critical differences",
            },
        ),
    log:
        "logs/figures/method_ranks.log",
    benchmark:
        "benchmarks/figures/method_ranks.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        alpha=config["statistics"]["alpha"],
        method_specs={m: method_entry(m) for m in METHODS},
        pdf=PDF,
    script:
        "../scripts/figure_method_ranks.py"


rule figure_forest:
    input:
        summary="results/tables/summary.tsv",
    output:
        forest=report(
            directory("results/figures/forest"),
            patterns=["{dataset}/{model}/{category}.png"],
            caption="../report/forest.rst",
            category="Figures",
            subcategory="Method rankings",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "category": "{category}",
                "figure": "forest plot",
            },
        ),
    log:
        "logs/figures/forest.log",
    benchmark:
        "benchmarks/figures/forest.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        method_specs={m: method_entry(m) for m in METHODS},
        metric_specs=metric_specs,
        pdf=PDF,
    script:
        "../scripts/figure_forest.py"


rule figure_metric_agreement:
    input:
        agreement="results/tables/metric_agreement.tsv",
    output:
        **pdf_output("results/figures/metric_agreement.pdf"),
        png=report(
            "results/figures/metric_agreement.png",
            caption="../report/metric_agreement.rst",
            category="Figures",
            subcategory="Metrics",
        ),
    log:
        "logs/figures/metric_agreement.log",
    benchmark:
        "benchmarks/figures/metric_agreement.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        metric_specs=metric_specs,
    script:
        "../scripts/figure_metric_agreement.py"


rule provenance:
    input:
        scores="results/tables/scores.tsv",  # rewritten whenever the results change
    output:
        provenance=report(
            "results/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance.log",
    benchmark:
        "benchmarks/provenance.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=5,
    params:
        config=config,
        workflow_dir=workflow.basedir,
        device=config["device"],
    script:
        "../scripts/provenance.py"


rule meta_evaluate:
    input:
        data=first_data,
        weights=first_weights,
    output:
        table="results/meta_evaluation/{dataset}/{model}.tsv",
    log:
        "logs/meta_evaluation/{dataset}/{model}.log",
    benchmark:
        "benchmarks/meta_evaluation/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=120,
        gpu=gpu_count,
    params:
        spec=meta_evaluation_settings,
        seed=first_replicate,
        device=config["device"],
    script:
        "../scripts/meta_evaluate.py"


rule meta_evaluation_table:
    input:
        tables=meta_evaluation_files(),
    output:
        table=report(
            "results/tables/meta_evaluation.tsv",
            caption="../report/meta_evaluation.rst",
            category="Tables",
        ),
    log:
        "logs/meta_evaluation.log",
    benchmark:
        "benchmarks/meta_evaluation.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/meta_evaluation_table.py"
