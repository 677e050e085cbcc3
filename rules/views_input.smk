# Views of inputs and internal activations: occlusion sweep, activation maps, max/min activating
# images, guided Grad-CAM composite (seeds 001 and 003).
# One job per (dataset, model) per view (view_*), and one target rule per view (occlusion_sweep,
# activation_maps, max_activating, guided_gradcam_composite) that gathers every pair's table into
# results/tables/views/<view>.tsv: `snakemake occlusion_sweep` builds that view for every pair.
# input_view_targets() (all figures and tables, for rule all) is in common.smk.

# Parameters are plain values (the same for every job); a change reruns the jobs of that view.
OCCLUSION_SETTINGS = canonical(config["views"]["occlusion_sweep"])
ACTIVATION_SETTINGS = canonical(config["views"]["activation_maps"])
MAX_ACTIVATING_SETTINGS = canonical(config["views"]["max_activating"])
COMPOSITE_SETTINGS = canonical(config["views"]["guided_gradcam_composite"])


rule view_occlusion_sweep:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/occlusion_sweep/{dataset}/{model}/sweep.npz",
        table="results/views/occlusion_sweep/{dataset}/{model}/drops.tsv",
        png=report(
            "results/figures/occlusion_sweep/{dataset}/{model}/sweep.png",
            caption="../report/view_occlusion_sweep.rst",
            category="Views of inputs",
            subcategory="Occlusion sweep",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/occlusion_sweep/{dataset}/{model}/sweep.pdf",
    log:
        "logs/views/occlusion_sweep/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/occlusion_sweep/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=30,
        gpu=gpu_count,
    params:
        settings=OCCLUSION_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_occlusion_sweep.py"


rule occlusion_sweep:
    input:
        tables=expand(
            "results/views/occlusion_sweep/{pair}/drops.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/occlusion_sweep.tsv",
            caption="../report/view_occlusion_sweep_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/occlusion_sweep.log",
    benchmark:
        "benchmarks/views/occlusion_sweep.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_input_table.py"


rule view_activation_maps:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/activation_maps/{dataset}/{model}/activations.npz",
        table="results/views/activation_maps/{dataset}/{model}/class_means.tsv",
        png=report(
            "results/figures/activation_maps/{dataset}/{model}/activation_maps.png",
            caption="../report/view_activation_maps.rst",
            category="Views of inputs",
            subcategory="Activation maps",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/activation_maps/{dataset}/{model}/activation_maps.pdf",
    log:
        "logs/views/activation_maps/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/activation_maps/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        settings=ACTIVATION_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_activation_maps.py"


rule activation_maps:
    input:
        tables=expand(
            "results/views/activation_maps/{pair}/class_means.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/activation_maps.tsv",
            caption="../report/view_activation_maps_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/activation_maps.log",
    benchmark:
        "benchmarks/views/activation_maps.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_input_table.py"


rule view_max_activating:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        table="results/views/max_activating/{dataset}/{model}/ranking.tsv",
        png=report(
            "results/figures/max_activating/{dataset}/{model}/images.png",
            caption="../report/view_max_activating.rst",
            category="Views of inputs",
            subcategory="Max/min activating images",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/max_activating/{dataset}/{model}/images.pdf",
    log:
        "logs/views/max_activating/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/max_activating/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        settings=MAX_ACTIVATING_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_max_activating.py"


rule max_activating:
    input:
        tables=expand(
            "results/views/max_activating/{pair}/ranking.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/max_activating.tsv",
            caption="../report/view_max_activating_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/max_activating.log",
    benchmark:
        "benchmarks/views/max_activating.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_input_table.py"


rule view_guided_gradcam_composite:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/guided_gradcam_composite/{dataset}/{model}/maps.npz",
        table="results/views/guided_gradcam_composite/{dataset}/{model}/samples.tsv",
        png=report(
            "results/figures/guided_gradcam_composite/{dataset}/{model}/composite.png",
            caption="../report/view_guided_gradcam_composite.rst",
            category="Views of inputs",
            subcategory="Guided Grad-CAM composite",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/guided_gradcam_composite/{dataset}/{model}/composite.pdf",
    log:
        "logs/views/guided_gradcam_composite/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/guided_gradcam_composite/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=30,
        gpu=gpu_count,
    params:
        settings=COMPOSITE_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_guided_gradcam_composite.py"


rule guided_gradcam_composite:
    input:
        tables=expand(
            "results/views/guided_gradcam_composite/{pair}/samples.tsv",
            pair=all_pairs(),
        ),
    output:
        table=report(
            "results/tables/views/guided_gradcam_composite.tsv",
            caption="../report/view_guided_gradcam_composite_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/guided_gradcam_composite.log",
    benchmark:
        "benchmarks/views/guided_gradcam_composite.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_input_table.py"
