rule generate_dataset:
    output:
        data="results/data/{dataset}/seed{replicate}.npz",
    log:
        "logs/data/{dataset}/seed{replicate}.log",
    benchmark:
        "benchmarks/data/{dataset}/seed{replicate}.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        spec=dataset_spec,
        seed=replicate_seed,
    script:
        "../scripts/generate_dataset.py"
