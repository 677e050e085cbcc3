# The seeds' claims tested on the run's tables (scripts/xaibench/claims: CLAIMS, one spec per claim):
# results/tables/claims.tsv and the claims-at-a-glance figure. A claim whose tables the run lacks (a view
# switched off, no dataset of its kind) gets a "not tested" row saying why.


rule claims:
    input:
        **claims_inputs(),
    output:
        **pdf_output("results/figures/claims.pdf"),
        claims=report(
            "results/tables/claims.tsv",
            caption="../report/claims.rst",
            category="Claims",
        ),
        png=report(
            "results/figures/claims.png",
            caption="../report/claims_figure.rst",
            category="Claims",
        ),
    log:
        "logs/claims.log",
    benchmark:
        "benchmarks/claims.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        generators={
            name: entry["generator"] for name, entry in config["datasets"].items()
        },
        methods={
            name: entry["method"]
            for name, entry in config["explain"]["methods"].items()
        },
        metrics={
            name: [entry["metric"], entry.get("preset")]
            for name, entry in config["evaluate"]["metrics"].items()
        },
        alpha=config["statistics"]["alpha"],
        n_boot=config["statistics"]["n_boot"],
        seed=config["seed"],
        modalities=MODALITY,
    script:
        "../scripts/claims_table.py"


rule object_parts:
    input:
        part_files,
    output:
        **pdf_output("results/figures/object_parts/{dataset}/{model}/parts.pdf"),
        zones="results/claims/parts/{dataset}/{model}/zones.tsv",
        objects="results/claims/parts/{dataset}/{model}/objects.tsv",
        summary=report(
            "results/claims/parts/{dataset}/{model}/summary.tsv",
            caption="../report/object_parts_table.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "table": "object parts",
            },
        ),
        png=report(
            "results/figures/object_parts/{dataset}/{model}/parts.png",
            caption="../report/object_parts.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "object parts",
            },
        ),
    log:
        "logs/claims/parts/{dataset}/{model}.log",
    benchmark:
        "benchmarks/claims/parts/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        runs=part_runs,
        generator=dataset_generator,
        n_boot=config["statistics"]["n_boot"],
        seed=config["seed"],
    script:
        "../scripts/object_parts.py"


rule checkpoint_heatmaps:
    input:
        checkpoint_files,
    output:
        table=report(
            "results/claims/checkpoints/{dataset}/{model}.tsv",
            caption="../report/checkpoint_heatmaps.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "table": "checkpoints",
            },
        ),
    log:
        "logs/claims/checkpoints/{dataset}/{model}.log",
    benchmark:
        "benchmarks/claims/checkpoints/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        runs=checkpoint_runs,
        method=checkpoint_method(),
        n_samples=config["claims"]["checkpoint_samples"],
        seed=config["seed"],
    script:
        "../scripts/checkpoint_heatmaps.py"


rule maximisation_transfer:
    input:
        unpack(transfer_inputs),
    output:
        table=report(
            "results/claims/transfer/{dataset}/{model}.tsv",
            caption="../report/maximisation_transfer.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "table": "maximisation transfer",
            },
        ),
    log:
        "logs/claims/transfer/{dataset}/{model}.log",
    benchmark:
        "benchmarks/claims/transfer/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        replicates=transfer_replicates,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/maximisation_transfer.py"


rule class_regions:
    input:
        data=first_data,
        weights=first_weights,
    output:
        **pdf_output(
            "results/figures/class_regions/{dataset}/{model}/class_regions.pdf"
        ),
        table=report(
            "results/claims/class_regions/{dataset}/{model}/regions.tsv",
            caption="../report/class_regions_table.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "table": "class regions",
            },
        ),
        png=report(
            "results/figures/class_regions/{dataset}/{model}/class_regions.png",
            caption="../report/class_regions.rst",
            category="Claims",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "class regions",
            },
        ),
    log:
        "logs/claims/class_regions/{dataset}/{model}.log",
    benchmark:
        "benchmarks/claims/class_regions/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        methods=class_region_methods(),
        generator=dataset_generator,
        n_samples=config["claims"]["class_samples"],
        n_boot=config["statistics"]["n_boot"],
        seed=first_replicate,
        device=config["device"],
    script:
        "../scripts/class_regions.py"
