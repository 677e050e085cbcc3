# Views beyond heatmaps (of each pair's first replicate), generated from the registry (scripts/xaibench/views: VIEWS, one spec per view) for the
# views switched on in the config (views:, VIEWS_ON in common.smk). Per view <name>:
#   view_<name>: one job per (dataset, model): arrays, tables and figures (scripts/view.py);
#   <name>: every pair's (first) table in results/tables/views/<name>.tsv (scripts/view_table.py), so that
#     `snakemake <name>` builds that view for every pair.
# And views: one job per (dataset, model) computing every view switched on in one process (scripts/view.py),
# writing the same files as the view_<name> rules (outputs named <view>__<output>). Both kinds exist whatever
# the config; views_per_job (all: views; 1: view_<name>) orders them, so only one of them ever runs.
# Settings are plain values (the same for every job of a view); a change reruns the jobs of that view (with
# views_per_job: all, every pair's views job).


for view in VIEWS_ON:

    rule:
        name:
            f"view_{view}"
        input:
            data=first_data,
            weights=first_weights,
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
            seed=first_replicate,
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


if VIEWS_ON:

    rule views:
        input:
            data=first_data,
            weights=first_weights,
        output:
            **grouped_view_outputs(),
        log:
            "logs/views/all/{dataset}/{model}.log",
        benchmark:
            "benchmarks/views/all/{dataset}/{model}.tsv"
        conda:
            "../envs/xaibench.yaml"
        threads: 1
        resources:
            **view_resources(*VIEWS_ON),
        params:
            views=VIEWS_ON,
            settings={view: view_settings(view) for view in VIEWS_ON},
            seed=first_replicate,
            device=config["device"],
        script:
            "../scripts/view.py"

    workflow.ruleorder(*view_rule_order())
