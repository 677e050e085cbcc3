# Helper functions only: config access, target lists and resources. No rules here.

import sys

from snakemake.utils import validate

sys.path.insert(0, f"{workflow.basedir}/scripts")
from xaibench.config import check_config  # noqa: E402  (needs the path above)

check_config(
    config, f"{workflow.basedir}/config/schema.yaml"
)  # short errors naming the key
validate(config, "../config/schema.yaml", set_default=True)  # fills in the defaults


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


def method_spec(wildcards):
    return method_entry(wildcards.method)


def explain_settings(wildcards):
    explain = config["explain"]
    return canonical({k: explain[k] for k in ("n_samples", "batch_size", "target")})


def curve_metric(wildcards):
    return config["evaluate"]["metrics"][wildcards.metric]["metric"]


def metric_specs(wildcards):
    return canonical(config["evaluate"]["metrics"])


# ---- inputs


def all_pairs():
    """'{dataset}/{model}' for every model trained on every dataset (datasets.<name>.models, default all)."""
    return [
        f"{dataset}/{model}"
        for dataset in DATASETS
        for model in config["datasets"][dataset].get("models") or MODELS
    ]


def evaluation_groups():
    """Evaluation job name -> the methods it scores, from evaluate.methods_per_job: one job per method
    (named after it) or chunks of the sorted method names named 'group<i>-of-<n>' (method names cannot
    contain '-', so the two never collide)."""
    names = sorted(METHODS)  # not config order: reordering the config must not regroup
    size = config["evaluate"]["methods_per_job"]
    if size == "all":
        size = len(names)
    if size == 1:
        return {method: [method] for method in names}
    chunks = [names[i : i + size] for i in range(0, len(names), size)]
    return {f"group{i}-of-{len(chunks)}": c for i, c in enumerate(chunks, start=1)}


EVAL_GROUPS = evaluation_groups()


def group_explanations(wildcards):
    return expand(
        "results/explanations/{{dataset}}/{{model}}/{method}.npz",
        method=EVAL_GROUPS[wildcards.group],
    )


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


def explanation_files(wildcards):
    return expand(
        "results/explanations/{pair}/{method}.npz", pair=all_pairs(), method=METHODS
    )


def grid_explanations(wildcards):
    return expand(
        "results/explanations/{pair}/{method}.npz",
        pair=all_pairs(),
        method=config["figures"]["grid_methods"],
    )


def dataset_files(wildcards):
    return expand("results/data/{dataset}.npz", dataset=DATASETS)


def histories(wildcards):
    return expand("results/models/{pair}/history.tsv", pair=all_pairs())


def test_metrics_files(wildcards):
    return expand("results/models/{pair}/test_metrics.json", pair=all_pairs())


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


# view -> the figures it draws for every (dataset, model)
VIEW_FIGURES = {
    "occlusion_sweep": ("sweep",),
    "activation_maps": ("activation_maps",),
    "max_activating": ("images",),
    "guided_gradcam_composite": ("composite",),
    "feature_visualisation": ("images",),
    "embeddings": ("tsne_umap",),
    "adversarial": ("heatmaps", "similarity", "maximisation"),
}


def view_targets(views):
    """Figures (PNG, PDF) of ``views`` for every (dataset, model) and each view's gathered table."""
    figures = [
        f"results/figures/{view}/{pair}/{name}.{ext}"
        for view in views
        for name in VIEW_FIGURES[view]
        for pair in all_pairs()
        for ext in ("png", "pdf")
    ]
    return figures + expand("results/tables/views/{view}.tsv", view=views)


def input_view_targets():
    """The input views of rules/views_input.smk."""
    return view_targets(
        (
            "occlusion_sweep",
            "activation_maps",
            "max_activating",
            "guided_gradcam_composite",
        )
    )


def model_view_targets():
    """The model views of rules/views_model.smk."""
    return view_targets(("feature_visualisation", "embeddings", "adversarial"))


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
