rule explain:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        attributions="results/explanations/{dataset}/{model}/{group}.npz",
    log:
        "logs/explain/{dataset}/{model}/{group}.log",
    benchmark:
        "benchmarks/explain/{dataset}/{model}/{group}.tsv"
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
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/explain.py"
