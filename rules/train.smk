rule train_model:
    input:
        data="results/data/{dataset}/seed{replicate}.npz",
        init_weights=init_weights,
    output:
        weights="results/models/{dataset}/{model}/seed{replicate}/model.pt",
        checkpoints="results/models/{dataset}/{model}/seed{replicate}/checkpoints.pt",  # training.checkpoints
        history="results/models/{dataset}/{model}/seed{replicate}/history.tsv",
        test_metrics="results/models/{dataset}/{model}/seed{replicate}/test_metrics.json",
    log:
        "logs/train/{dataset}/{model}/seed{replicate}.log",
    benchmark:
        "benchmarks/train/{dataset}/{model}/seed{replicate}.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/xaibench.yaml"
    # One torch thread, as every rule: trained weights then do not depend on --cores (the thread count
    # changes them slightly), and two trainings run side by side on 2 cores instead of one at a time.
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=120,
        gpu=gpu_count,
    params:
        spec=model_spec,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/train_model.py"


rule export_onnx:
    input:
        data="results/data/{dataset}/seed{replicate}.npz",
        weights="results/models/{dataset}/{model}/seed{replicate}/model.pt",
    output:
        onnx="results/models/{dataset}/{model}/seed{replicate}/model.onnx",
        check="results/models/{dataset}/{model}/seed{replicate}/onnx_check.json",
    log:
        "logs/export_onnx/{dataset}/{model}/seed{replicate}.log",
    benchmark:
        "benchmarks/export_onnx/{dataset}/{model}/seed{replicate}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    script:
        "../scripts/export_onnx.py"
