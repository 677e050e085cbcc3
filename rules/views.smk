# Views beyond heatmaps, generated from the registry (scripts/xaibench/views: VIEWS, one spec per view) for the
# views switched on in the config (views:, VIEWS_ON in common.smk). Per view <name>:
#   view_<name>: one job per (dataset, model): arrays, tables and figures (scripts/view.py);
#   <name>: every pair's (first) table in results/tables/views/<name>.tsv (scripts/view_table.py), so that
#     `snakemake <name>` builds that view for every pair.
# Settings are plain values (the same for every job of a view); a change reruns the jobs of that view.


for view in VIEWS_ON:

    rule:
        name:
            f"view_{view}"
        input:
            data="results/data/{dataset}.npz",
            weights="results/models/{dataset}/{model}/model.pt",
        output:
            **view_outputs(view),
        log:
            f"logs/views/{view}/{{dataset}}/{{model}}.log",
        benchmark:
            f"benchmarks/views/{view}/{{dataset}}/{{model}}.tsv"
        conda:
            "../envs/xaibench.yaml"
        threads: 1
        resources:
            **view_resources(view),
        params:
            view=view,
            settings=view_settings(view),
            seed=config["seed"],
            device=config["device"],
        script:
            "../scripts/view.py"

    rule:
        name:
            view
        input:
            tables=view_tables(view),
        output:
            table=report(
                f"results/tables/views/{view}.tsv",
                caption=f"../report/{VIEWS.get(view).captions['table']}",
                category="Tables",
            ),
        log:
            f"logs/views/{view}.log",
        benchmark:
            f"benchmarks/views/{view}.tsv"
        conda:
            "../envs/xaibench.yaml"
        threads: 1
        resources:
            mem_mb=cpu_mem_mb,
            runtime=10,
        params:
            view=view,
        script:
            "../scripts/view_table.py"
