rule explain:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        attributions="results/explanations/{dataset}/{model}/{method}.npz",
    log:
        "logs/explain/{dataset}/{model}/{method}.log",
    benchmark:
        "benchmarks/explain/{dataset}/{model}/{method}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=60,
        gpu=gpu_count,
        batch_divisor=batch_divisor,
    params:
        spec=method_spec,
        settings=explain_settings,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/explain.py"
