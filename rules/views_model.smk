# Views of what the model has learnt: feature visualisation / Deep Dream, embeddings (t-SNE, UMAP),
# adversarial attacks and adversarial maximisation (seeds 001, 003, 004).
# One job per (dataset, model) per view (view_*), and one target rule per view (feature_visualisation,
# embeddings, adversarial) that gathers every pair into results/tables/views/<view>.tsv.

_check_references(
    "views.adversarial.methods",
    config["views"]["adversarial"]["methods"],
    METHODS,
    "method",
)

# Parameters are plain values (the same for every job); a change reruns the jobs of that view.
FEATVIS_SETTINGS = canonical(config["views"]["feature_visualisation"])
EMBEDDING_SETTINGS = canonical(config["views"]["embeddings"])
ADVERSARIAL_SETTINGS = canonical(config["views"]["adversarial"])
ADVERSARIAL_METHODS = {  # method + params of each compared method, from explain.methods
    name: canonical(
        {
            "method": config["explain"]["methods"][name]["method"],
            "params": config["explain"]["methods"][name].get("params", {}),
        }
    )
    for name in config["views"]["adversarial"]["methods"]
}


rule view_feature_visualisation:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/feature_visualisation/{dataset}/{model}/images.npz",
        table="results/views/feature_visualisation/{dataset}/{model}/values.tsv",
        png=report(
            "results/figures/feature_visualisation/{dataset}/{model}/images.png",
            caption="../report/view_feature_visualisation.rst",
            category="Views of the model",
            subcategory="Feature visualisation",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/feature_visualisation/{dataset}/{model}/images.pdf",
    log:
        "logs/views/feature_visualisation/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/feature_visualisation/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=30,
        gpu=gpu_count,
    params:
        settings=FEATVIS_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_featvis.py"


rule feature_visualisation:
    input:
        tables=expand(
            "results/views/feature_visualisation/{pair}/values.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/feature_visualisation.tsv",
            caption="../report/view_feature_visualisation_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/feature_visualisation.log",
    benchmark:
        "benchmarks/views/feature_visualisation.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_featvis_summary.py"


rule view_embeddings:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/embeddings/{dataset}/{model}/features.npz",
        coordinates="results/views/embeddings/{dataset}/{model}/coordinates.tsv",
        summary="results/views/embeddings/{dataset}/{model}/summary.tsv",
        png=report(
            "results/figures/embeddings/{dataset}/{model}/tsne_umap.png",
            caption="../report/view_embeddings.rst",
            category="Views of the model",
            subcategory="Embeddings",
            labels={"dataset": "{dataset}", "model": "{model}"},
        ),
        pdf="results/figures/embeddings/{dataset}/{model}/tsne_umap.pdf",
    log:
        "logs/views/embeddings/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/embeddings/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=30,
    params:
        settings=EMBEDDING_SETTINGS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_embedding.py"


rule embeddings:
    input:
        summaries=expand(
            "results/views/embeddings/{pair}/summary.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/embeddings.tsv",
            caption="../report/view_embeddings_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/embeddings.log",
    benchmark:
        "benchmarks/views/embeddings.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_embedding_summary.py"


rule view_adversarial:
    input:
        data="results/data/{dataset}.npz",
        weights="results/models/{dataset}/{model}/model.pt",
    output:
        arrays="results/views/adversarial/{dataset}/{model}/arrays.npz",
        similarity="results/views/adversarial/{dataset}/{model}/similarity.tsv",
        flips="results/views/adversarial/{dataset}/{model}/flips.tsv",
        maximisation="results/views/adversarial/{dataset}/{model}/maximisation.tsv",
        heatmaps_png=report(
            "results/figures/adversarial/{dataset}/{model}/heatmaps.png",
            caption="../report/view_adversarial_heatmaps.rst",
            category="Views of the model",
            subcategory="Adversarial",
            labels={"dataset": "{dataset}", "model": "{model}", "figure": "heatmaps"},
        ),
        heatmaps_pdf="results/figures/adversarial/{dataset}/{model}/heatmaps.pdf",
        similarity_png=report(
            "results/figures/adversarial/{dataset}/{model}/similarity.png",
            caption="../report/view_adversarial_similarity.rst",
            category="Views of the model",
            subcategory="Adversarial",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "similarity",
            },
        ),
        similarity_pdf="results/figures/adversarial/{dataset}/{model}/similarity.pdf",
        maximisation_png=report(
            "results/figures/adversarial/{dataset}/{model}/maximisation.png",
            caption="../report/view_adversarial_maximisation.rst",
            category="Views of the model",
            subcategory="Adversarial",
            labels={
                "dataset": "{dataset}",
                "model": "{model}",
                "figure": "maximisation",
            },
        ),
        maximisation_pdf="results/figures/adversarial/{dataset}/{model}/maximisation.pdf",
    log:
        "logs/views/adversarial/{dataset}/{model}.log",
    benchmark:
        "benchmarks/views/adversarial/{dataset}/{model}.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=gpu_mem_mb,
        runtime=30,
        gpu=gpu_count,
    params:
        settings=ADVERSARIAL_SETTINGS,
        methods=ADVERSARIAL_METHODS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/view_adversarial.py"


rule adversarial:
    input:
        similarity=expand(
            "results/views/adversarial/{pair}/similarity.tsv", pair=all_pairs()
        ),
    output:
        table=report(
            "results/tables/views/adversarial.tsv",
            caption="../report/view_adversarial_table.rst",
            category="Tables",
        ),
    log:
        "logs/views/adversarial.log",
    benchmark:
        "benchmarks/views/adversarial.tsv"
    conda:
        "../envs/xaibench.yaml"
    threads: 1
    resources:
        mem_mb=cpu_mem_mb,
        runtime=10,
    script:
        "../scripts/view_adversarial_summary.py"
