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


def method_spec(wildcards):
    entry = config["explain"]["methods"][wildcards.method]
    return canonical({"method": entry["method"], "params": entry.get("params", {})})


def explain_settings(wildcards):
    explain = config["explain"]
    return canonical({k: explain[k] for k in ("n_samples", "batch_size", "target")})


def curve_metric(wildcards):
    return config["evaluate"]["metrics"][wildcards.metric]["metric"]


def metric_specs(wildcards):
    return canonical(config["evaluate"]["metrics"])


# ---- inputs


def all_pairs():
    return expand("{dataset}/{model}", dataset=DATASETS, model=MODELS)


def score_tables(wildcards):
    return expand(
        "results/scores/{pair}/{method}.tsv", pair=all_pairs(), method=METHODS
    )


def timing_tables(wildcards):
    return expand(
        "results/scores/{pair}/{method}_timing.tsv", pair=all_pairs(), method=METHODS
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
        "results/scores/{{dataset}}/{{model}}/{method}_curves.npz", method=METHODS
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


# ---- resources


def gpu_count(wildcards):
    return config["resources"]["gpu"]


def gpu_mem_mb(wildcards, attempt):
    return config["resources"]["mem_mb_gpu_rules"] * attempt


def cpu_mem_mb(wildcards, attempt):
    return config["resources"]["mem_mb_cpu_rules"] * attempt
