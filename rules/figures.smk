rule figure_explanation_grid:
    input:
        data=paths(GRID_DATA),
        explanations=paths(GRID_EXPLANATIONS),
    output:
        figures=report(
            directory("results/figures/explanation_grid"),
            patterns=["{dataset}/{model}.png"],
            caption="../report/explanation_grid.rst",
            category="Figures",
            subcategory="Explanations",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "explanation grid",
            },
        ),
    log:
        "logs/figures/explanation_grid.log",
    benchmark:
        "benchmarks/figures/explanation_grid.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        methods=config["figures"]["grid_methods"],
        method_specs={m: method_entry(m) for m in config["figures"]["grid_methods"]},
        n_samples=config["figures"]["grid_samples"],
        data=GRID_DATA,
        explanations=GRID_EXPLANATIONS,
        pdf=PDF,
    script:
        "../scripts/figure_explanation_grid.py"


rule figure_attributions:
    input:
        data=first_data,
        explanations=attribution_explanation_files,
    output:
        **pdf_output("results/figures/attributions/{dataset}/{model}.pdf"),
        png=report(
            "results/figures/attributions/{dataset}/{model}.png",
            caption="../report/attributions.rst",
            category="Figures",
            subcategory="Explanations",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
    log:
        "logs/figures/attributions/{dataset}/{model}.log",
    benchmark:
        "benchmarks/figures/attributions/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        explanations=attribution_explanations,
        method_specs={m: method_entry(m) for m in config["figures"]["grid_methods"]},
        n_samples=config["figures"]["grid_samples"],
    script:
        "../scripts/figure_attributions.py"


rule figure_metric_heatmap:
    input:
        summary="results/tables/summary.tsv",
        comparisons="results/tables/comparisons.tsv",
        health="results/tables/metric_health.tsv",
    output:
        figures=report(
            directory("results/figures/metric_heatmap"),
            patterns=["{dataset}/{model}.png"],
            caption="../report/metric_heatmap.rst",
            category="Figures",
            subcategory="Metrics",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "metric heatmap",
            },
        ),
    log:
        "logs/figures/metric_heatmap.log",
    benchmark:
        "benchmarks/figures/metric_heatmap.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        method_specs={m: method_entry(m) for m in METHODS},
        metric_specs=metric_specs,
        random=CONTROLS.get("random", ""),
        pdf=PDF,
    script:
        "../scripts/figure_metric_heatmap.py"


rule figure_faithfulness_curves:
    input:
        curves=curve_files,
    output:
        **curve_figures(),
    log:
        "logs/figures/faithfulness/{dataset}/{model}.log",
    benchmark:
        "benchmarks/figures/faithfulness/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        metrics=config["figures"]["curve_metrics"],
        methods=METHODS,
        method_specs={m: method_entry(m) for m in METHODS},
        metric_specs=metric_specs,
        registry_metrics={
            m: config["evaluate"]["metrics"][m]["metric"]
            for m in config["figures"]["curve_metrics"]
        },
    script:
        "../scripts/figure_faithfulness_curves.py"


rule figure_training_curves:
    input:
        histories=paths(HISTORIES),
    output:
        **pdf_output("results/figures/training_curves.pdf"),
        png=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            subcategory="Training",
        ),
    log:
        "logs/figures/training_curves.log",
    benchmark:
        "benchmarks/figures/training_curves.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        histories=HISTORIES,
    script:
        "../scripts/figure_training_curves.py"
