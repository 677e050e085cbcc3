rule generate_dataset:
    output:
        data="results/data/{dataset}.npz",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "benchmarks/data/{dataset}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        spec=dataset_spec,
        seed=config["seed"],
    script:
        "../scripts/generate_dataset.py"
