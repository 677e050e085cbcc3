# Difficulty sweeps (config sweeps:): one dataset parameter swept over its values, the {level} wildcard.
# sweep_level: one job per level (generate, train, explain, score: scripts/xaibench/sweeps.py);
# sweep: the levels gathered, summarised and drawn (results/figures/sweep_<name>).


rule sweep_level:
    output:
        scores="results/sweeps/{sweep}/level{level}.tsv",
        accuracy="results/sweeps/{sweep}/level{level}_accuracy.tsv",
    log:
        "logs/sweeps/{sweep}/level{level}.log",
    benchmark:
        "benchmarks/sweeps/{sweep}/level{level}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:  # small data and a small model: CPU (scripts/xaibench/sweeps.py runs on the CPU)
        mem_mb=cpu_mem_mb,
        runtime=60,
    params:
        settings=sweep_level_settings,
        seed=config["seed"],
        batch_size=config["evaluate"]["batch_size"],
        target=config["explain"]["target"],
    script:
        "../scripts/sweep_level.py"


rule sweep:
    input:
        levels=sweep_level_files,
        accuracy=sweep_accuracy_files,
    output:
        **pdf_output("results/figures/sweep_{sweep}.pdf"),
        summary=report(
            "results/tables/sweeps/{sweep}.tsv",
            caption="../report/sweep_table.rst",
            category="Difficulty sweeps",
            labels={"sweep": "{sweep}", "table": "summary"},
        ),
        png=report(
            "results/figures/sweep_{sweep}.png",
            caption="../report/sweep.rst",
            category="Difficulty sweeps",
            labels={"sweep": "{sweep}", "figure": "sweep"},
        ),
    log:
        "logs/sweeps/{sweep}.log",
    benchmark:
        "benchmarks/sweeps/{sweep}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=15,
    params:
        param=sweep_param,
        n_boot=config["statistics"]["n_boot"],
        seed=config["seed"],
    script:
        "../scripts/sweep_summary.py"
