# explain.in_evaluation_job: true (config.yaml) leaves the explaining to rule evaluate, which then writes
# the same explanation file; false (paper.yaml) runs explanation jobs of their own.
if not EXPLAIN_IN_EVALUATION:

    rule explain:
        input:
            data="results/data/{dataset}/seed{replicate}.npz",
            weights="results/models/{dataset}/{model}/seed{replicate}/model.pt",
        output:
            attributions=EXPLANATION_FILE,
        log:
            "logs/explain/{dataset}/{model}/seed{replicate}/{group}.log",
        benchmark:
            "benchmarks/explain/{dataset}/{model}/seed{replicate}/{group}.tsv"
        priority: CHAIN_PRIORITY
        conda:
            "../envs/xaibench.yaml"
        threads: 1
        resources:
            mem_mb=gpu_mem_mb,
            runtime=60,
            gpu=gpu_count,
            batch_divisor=batch_divisor,
        params:
            methods=explain_group_specs,
            settings=explain_settings,
            seed=replicate_seed,
            device=config["device"],
        script:
            "../scripts/explain.py"
