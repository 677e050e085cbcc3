rule evaluate:
    input:
        data="results/data/{dataset}/seed{replicate}.npz",
        weights="results/models/{dataset}/{model}/seed{replicate}/model.pt",
        attributions=group_explanation_files,
    output:
        **evaluation_explanation_output(),  # explain.in_evaluation_job: its group's explanation file
        scores="results/scores/{dataset}/{model}/seed{replicate}/{group}.tsv",
        curves="results/scores/{dataset}/{model}/seed{replicate}/{group}_curves.npz",
        timing="results/scores/{dataset}/{model}/seed{replicate}/{group}_timing.tsv",
    log:
        "logs/evaluate/{dataset}/{model}/seed{replicate}/{group}.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{model}/seed{replicate}/{group}.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=120,
        gpu=gpu_count,
        batch_divisor=batch_divisor,
    params:
        metrics=metric_specs,
        methods=group_method_specs,
        explanations=group_explanations,
        explain=evaluation_explain_params,  # {} unless explain.in_evaluation_job
        batch_size=config["evaluate"]["batch_size"],
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/evaluate.py"


rule aggregate_scores:
    input:
        scores=score_tables,
        timing=timing_tables,
        explanations=paths(EXPLANATIONS),
        histories=paths(HISTORIES),
        test_metrics=paths(TEST_METRICS),
    output:
        scores="results/tables/scores.tsv",  # the report holds the tables compressed (rule report_pages)
        summary="results/tables/summary.tsv",
        nonfinite="results/tables/nonfinite.tsv",
        timing="results/tables/timing.tsv",
        training="results/tables/training.tsv",
    log:
        "logs/aggregate_scores.log",
    benchmark:
        "benchmarks/aggregate_scores.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        explanations=EXPLANATIONS,
        histories=HISTORIES,
        test_metrics=TEST_METRICS,
        seed=config["seed"],  # of the summaries' bootstrap
    script:
        "../scripts/aggregate_scores.py"
