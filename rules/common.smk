# Helper functions only: config access, target lists and resources. No rules here.

import sys

from snakemake.utils import validate

sys.path.insert(0, f"{workflow.basedir}/scripts")
# (the path above first; xaibench.views is light: no torch or matplotlib at parse time)
from xaibench.config import check_config, configured_defaults  # noqa: E402
from xaibench.views import VIEWS  # noqa: E402

check_config(
    config, f"{workflow.basedir}/config/schema.yaml"
)  # short errors naming the key
validate(config, "../config/schema.yaml", set_default=True)  # fills in the defaults
# defaults naming methods/metrics (x-default-configured): only configured ones
configured_defaults(config, f"{workflow.basedir}/config/schema.yaml")


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    model=r"[A-Za-z0-9_]+",
    method=r"[A-Za-z0-9_]+",
    metric=r"[A-Za-z0-9_]+",
    group=r"[A-Za-z0-9_-]+",


DATASETS = sorted(config["datasets"])
MODELS = sorted(config["models"])
METHODS = list(config["explain"]["methods"])
METRICS = list(config["evaluate"]["metrics"])
# the views switched on: named under views: (registry order), without enabled: false
VIEWS_ON = [
    name
    for name in VIEWS
    if name in config["views"] and config["views"][name]["enabled"]
]


def _check_references(key, names, known, what):
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"config key {key}: unknown {what} {unknown}; configured {what}s: {sorted(known)}"
        )


for _name, _entry in config["datasets"].items():
    if _entry.get("models"):
        _check_references(f"datasets.{_name}.models", _entry["models"], MODELS, "model")


_check_references(
    "figures.grid_methods", config["figures"]["grid_methods"], METHODS, "method"
)
_check_references(
    "figures.curve_metrics", config["figures"]["curve_metrics"], METRICS, "metric"
)
for _view in VIEWS_ON:
    if "methods" in config["views"][_view]:
        _check_references(
            f"views.{_view}.methods",
            config["views"][_view]["methods"],
            METHODS,
            "method",
        )


# ---- per-job parameters (passed through params: so a change reruns exactly the jobs it affects)


def canonical(obj):
    """Nested dicts with sorted keys: Snakemake compares params by their repr, so reordering keys in a
    config file must not look like a change."""
    if isinstance(obj, dict):
        return {key: canonical(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(item) for item in obj]
    return obj


def dataset_spec(wildcards):
    entry = config["datasets"][wildcards.dataset]
    return canonical(
        {"generator": entry["generator"], "params": entry.get("params", {})}
    )


def model_spec(wildcards):
    entry = config["models"][wildcards.model]
    return canonical(
        {
            "architecture": entry["architecture"],
            "params": entry.get("params", {}),
            "training": entry.get("training", {}),
        }
    )


def init_weights(wildcards):
    """A local weights file the model is fine-tuned from (models.<name>.params.weights), if any."""
    weights = config["models"][wildcards.model].get("params", {}).get("weights")
    return [weights] if weights else []


def method_entry(name):
    entry = config["explain"]["methods"][name]
    return canonical({"method": entry["method"], "params": entry.get("params", {})})


def explain_settings(wildcards):
    explain = config["explain"]
    return canonical({k: explain[k] for k in ("n_samples", "batch_size", "target")})


def curve_metric(wildcards):
    return config["evaluate"]["metrics"][wildcards.metric]["metric"]


def metric_specs(wildcards):
    return canonical(config["evaluate"]["metrics"])


# ---- inputs


def pairs():
    """(dataset, model) of every model trained on every dataset (datasets.<name>.models, default all)."""
    return [
        (dataset, model)
        for dataset in DATASETS
        for model in config["datasets"][dataset].get("models") or MODELS
    ]


def all_pairs():
    """'{dataset}/{model}' for every pair."""
    return [f"{dataset}/{model}" for dataset, model in pairs()]


def pair_files(pattern, methods=None):
    """dataset -> model -> ``pattern`` filled in, for every pair; with ``methods``, one level more: dataset ->
    model -> method -> path. Rules pass such a mapping as a param (and its paths() as input), so that a script
    knows whose file is which without parsing paths."""
    files = {}
    for dataset, model in pairs():
        ids = {"dataset": dataset, "model": model}
        files.setdefault(dataset, {})[model] = (
            pattern.format(**ids)
            if methods is None
            else {method: pattern.format(**ids, method=method) for method in methods}
        )
    return files


def paths(files):
    """Every path of a mapping of pair_files(), in order."""
    if isinstance(files, str):
        return [files]
    found = [path for value in files.values() for path in paths(value)]
    return list(
        dict.fromkeys(found)
    )  # once each: a file may hold several methods' explanations


DATA = {dataset: f"results/data/{dataset}.npz" for dataset in DATASETS}
HISTORIES = pair_files("results/models/{dataset}/{model}/history.tsv")
TEST_METRICS = pair_files("results/models/{dataset}/{model}/test_metrics.json")


def method_groups(size):
    """Job name -> the methods it handles, for a ``methods_per_job`` setting: one job per method (named after
    it) or chunks of the sorted method names named 'group<i>-of-<n>' (method names cannot contain '-', so the
    two never collide)."""
    names = sorted(METHODS)  # not config order: reordering the config must not regroup
    if size == "all":
        size = len(names)
    if size == 1:
        return {method: [method] for method in names}
    chunks = [names[i : i + size] for i in range(0, len(names), size)]
    return {f"group{i}-of-{len(chunks)}": c for i, c in enumerate(chunks, start=1)}


EXPLAIN_GROUPS = method_groups(config["explain"]["methods_per_job"])
EVAL_GROUPS = method_groups(config["evaluate"]["methods_per_job"])
EXPLAINED_IN = {m: group for group, methods in EXPLAIN_GROUPS.items() for m in methods}


def explanation_files(methods):
    """dataset -> model -> method -> the explanation file holding that method's maps (its explain job's)."""
    files = {}
    for dataset, model in pairs():
        folder = f"results/explanations/{dataset}/{model}"
        files.setdefault(dataset, {})[model] = {
            m: f"{folder}/{EXPLAINED_IN[m]}.npz" for m in methods
        }
    return files


EXPLANATIONS = explanation_files(METHODS)
GRID_EXPLANATIONS = explanation_files(config["figures"]["grid_methods"])


def explain_group_specs(wildcards):
    """Method name -> canonical spec, for every method of the explanation group (in order)."""
    return {method: method_entry(method) for method in EXPLAIN_GROUPS[wildcards.group]}


def group_explanations(wildcards):
    """Method name -> explanation file, for every method of the evaluation group (in order)."""
    files = EXPLANATIONS[wildcards.dataset][wildcards.model]
    return {method: files[method] for method in EVAL_GROUPS[wildcards.group]}


def group_explanation_files(wildcards):
    """The explanation files the evaluation group reads (each once)."""
    return list(dict.fromkeys(group_explanations(wildcards).values()))


def group_method_specs(wildcards):
    """Method name -> canonical spec, for every method of the evaluation group (in order)."""
    return {method: method_entry(method) for method in EVAL_GROUPS[wildcards.group]}


def score_tables(wildcards):
    return expand(
        "results/scores/{pair}/{group}.tsv", pair=all_pairs(), group=EVAL_GROUPS
    )


def timing_tables(wildcards):
    return expand(
        "results/scores/{pair}/{group}_timing.tsv", pair=all_pairs(), group=EVAL_GROUPS
    )


def curve_files(wildcards):
    return expand(
        "results/scores/{{dataset}}/{{model}}/{group}_curves.npz", group=EVAL_GROUPS
    )


def final_targets():
    curves = expand(
        "results/figures/faithfulness/{pair}/{metric}.{ext}",
        pair=all_pairs(),
        metric=config["figures"]["curve_metrics"],
        ext=("png", "pdf"),
    )
    figures = expand(
        "results/figures/{name}.{ext}",
        name=("explanation_grid", "metric_heatmap", "training_curves"),
        ext=("png", "pdf"),
    )
    tables = expand(
        "results/tables/{name}.tsv",
        name=("scores", "summary", "nonfinite", "timing", "training"),
    )
    onnx = expand("results/models/{pair}/onnx_check.json", pair=all_pairs())
    return figures + curves + tables + onnx


# ---- views (rules/views.smk generates two rules per view of VIEWS_ON from its spec in the registry, and
# one rule views for all of them; config views_per_job picks view_<name> or views for the per-pair files)


def view_settings(view):
    """The view's config section without ``enabled``; method names (``methods``) become name -> entry."""
    settings = canonical(
        {k: v for k, v in config["views"][view].items() if k != "enabled"}
    )
    if "methods" in settings:
        # in config order (canonical() sorts only dicts): the order of the view's tables and figures
        settings["methods"] = {name: method_entry(name) for name in settings["methods"]}
    return settings


def view_outputs(view):
    """The named outputs of view_<view>: ``arrays``, one per table, and per figure ``<figure>_png`` (in the
    report) and ``<figure>_pdf``."""
    spec = VIEWS.get(view)
    folder = f"results/views/{view}/{{dataset}}/{{model}}"
    outputs = {"arrays": f"{folder}/{spec.arrays}"} if spec.arrays else {}
    outputs |= {name: f"{folder}/{file}" for name, file in spec.tables.items()}
    labels = {"dataset": "{dataset}", "model": "{model}"}
    for figure in spec.figures:
        figures = f"results/figures/{view}/{{dataset}}/{{model}}/{figure}"
        outputs[f"{figure}_png"] = report(
            f"{figures}.png",
            caption=f"../report/{spec.captions[figure]}",
            category=spec.category,
            subcategory=spec.title,
            labels=labels | ({"figure": figure} if len(spec.figures) > 1 else {}),
        )
        outputs[f"{figure}_pdf"] = f"{figures}.pdf"
    return outputs


def view_resources(*views):
    """A GPU (and the GPU jobs' memory) if any of the views wants one; 30 min of wall time per view."""
    runtime = 30 * len(views)
    if any(VIEWS.get(view).gpu for view in views):
        return {"mem_mb": gpu_mem_mb, "runtime": runtime, "gpu": gpu_count}
    return {"mem_mb": cpu_mem_mb, "runtime": runtime}


def grouped_view_outputs():
    """The named outputs of views (one job per pair with views_per_job all): every output of every view on, as
    ``<view>__<output>`` (xaibench.views.jobs.outputs_by_view splits them again)."""
    return {
        f"{view}__{name}": path
        for view in VIEWS_ON
        for name, path in view_outputs(view).items()
    }


def view_rule_order():
    """Rules view_<name> and views make the same files and both exist whatever the config (so that a profile
    may name either); views_per_job says which one Snakemake prefers (first wins)."""
    per_view = [f"view_{view}" for view in VIEWS_ON]
    return ["views", *per_view] if views_grouped() else [*per_view, "views"]


def views_grouped():
    """views_per_job: all: one job (rule views) per pair computes every view switched on."""
    return config["views_per_job"] == "all"


def view_tables(view):
    """Every pair's table of the view that its gathering rule concatenates (made by view_<view> or by
    views, whichever views_per_job picks)."""
    spec = VIEWS.get(view)
    return paths(
        pair_files(
            f"results/views/{view}/{{dataset}}/{{model}}/{spec.tables[spec.gathered]}"
        )
    )


def view_targets():
    """Every output of the views switched on: each pair's arrays, tables and figures (from the rule that
    views_per_job picks: views, or each view_<name>), and the gathered tables."""
    ids = {"dataset": [d for d, _ in pairs()], "model": [m for _, m in pairs()]}
    targets = []
    if views_grouped() and VIEWS_ON:
        targets += expand(list(rules.views.output), zip, **ids)
    for view in VIEWS_ON:
        if not views_grouped():
            targets += expand(list(getattr(rules, f"view_{view}").output), zip, **ids)
        targets += list(getattr(rules, view).output)
    return targets


# ---- resources


def gpu_count(wildcards):
    return config["resources"]["gpu"]


def gpu_mem_mb(wildcards, attempt):
    return config["resources"]["mem_mb_gpu_rules"] * attempt


def cpu_mem_mb(wildcards, attempt):
    return config["resources"]["mem_mb_cpu_rules"] * attempt


def batch_divisor(wildcards, attempt):
    """A retried explanation/evaluation job (e.g. out of GPU memory) uses batches 2, 4, ... times smaller.
    A resource, not a param: the retry must not count as a changed parameter on the next run.
    """
    return 2 ** (attempt - 1)
