# Helper functions only: config access, target lists and resources. No rules here.

import sys

from snakemake.utils import validate

sys.path.insert(0, f"{workflow.basedir}/scripts")
# (the path above first; xaibench.views is light: no torch or matplotlib at parse time)
from xaibench.config import check_config, configured_defaults  # noqa: E402
from xaibench.views import VIEWS  # noqa: E402
from xaibench.claims.parts import PARTS  # noqa: E402
from xaibench.claims.class_regions import COMPOSITES  # noqa: E402
from xaibench.pairs import dataset_models  # noqa: E402
from xaibench.datasets import generator_modality  # noqa: E402

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
    replicate=r"[0-9]+",
    group=r"[A-Za-z0-9_-]+",


DATASETS = sorted(config["datasets"])
MODELS = sorted(config["models"])
# dataset -> its models (datasets.<name>.models, else every model taking the dataset's modality)
PAIRED = {
    dataset: dataset_models(
        dataset, config["datasets"][dataset], {m: config["models"][m] for m in MODELS}
    )
    for dataset in DATASETS
}
# dataset -> the modality of its data: image, series or table (its generator's registration)
MODALITY = {d: generator_modality(config["datasets"][d]["generator"]) for d in DATASETS}
IMAGE_DATASETS = [d for d in DATASETS if MODALITY[d] == "image"]
METHODS = list(config["explain"]["methods"])
METRICS = list(config["evaluate"]["metrics"])
# registry name -> configured name of the controls every method is tested against (the first of each)
CONTROLS = {}
for _name, _entry in config["explain"]["methods"].items():
    if _entry["method"] in ("random", "sobel"):
        CONTROLS.setdefault(_entry["method"], _name)
# Rule priority of the chain to the scores (data, training, explanation, evaluation, aggregation, statistics):
# with 2 cores, Snakemake runs a ready job of the chain before a view, figure or claim input (0), which then
# fill the cores the chain leaves idle, instead of a late training leaving one core idle before the tail.
CHAIN_PRIORITY = 10
# the views switched on: named under views: (registry order), without enabled: false
VIEWS_ON = [
    name
    for name in VIEWS
    if name in config["views"] and config["views"][name]["enabled"]
]
# the files of every figure: the PNG (the report's copy), and a PDF beside it where figures.pdf asks for one
PDF = config["figures"]["pdf"]
FIGURE_FORMATS = ("png", "pdf") if PDF else ("png",)


def pdf_output(path):
    """A rule's ``pdf`` output (``path``) where figures.pdf asks for PDFs, else none: ``**pdf_output(...)``."""
    return {"pdf": path} if PDF else {}


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
for _key, _known, _what in (
    ("datasets", DATASETS, "dataset"),
    ("methods", METHODS, "method"),
    ("metrics", METRICS, "metric"),
):
    _check_references(
        f"meta_evaluation.{_key}",
        config["meta_evaluation"][_key] or [],
        _known,
        _what,
    )
for _name, _sweep in config["sweeps"].items():
    _check_references(
        f"sweeps.{_name}.dataset", [_sweep["dataset"]], DATASETS, "dataset"
    )
    _check_references(
        f"sweeps.{_name}.model",
        [_sweep.get("model") or PAIRED[_sweep["dataset"]][0]],
        MODELS,
        "model",
    )
    _check_references(
        f"sweeps.{_name}.methods", _sweep.get("methods", []), METHODS, "method"
    )
    _check_references(
        f"sweeps.{_name}.metrics", _sweep.get("metrics", []), METRICS, "metric"
    )
if any(config["models"][m]["training"]["checkpoints"] for m in MODELS):
    _check_references(
        "claims.checkpoint_method",
        [config["claims"]["checkpoint_method"]],
        METHODS,
        "method",
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


def metric_specs(wildcards):
    return canonical(config["evaluate"]["metrics"])


# ---- inputs


def pairs():
    """(dataset, model) of every model trained on every dataset: datasets.<name>.models, default every model
    whose architecture takes the dataset's modality (image, series, table; xaibench.pairs.dataset_models).
    """
    return [(dataset, model) for dataset in DATASETS for model in PAIRED[dataset]]


def replicates(dataset):
    """The replicate seeds of a dataset: datasets.<name>.replicates, else replicates, else [seed]. Each
    replicate generates the data, trains the model and runs the stochastic methods and metrics with its seed
    (the {replicate} wildcard); the first one also feeds the explanation grid and the views.
    """
    return (
        config["datasets"][dataset].get("replicates")
        or config["replicates"]
        or [config["seed"]]
    )


def replicate_seed(wildcards):
    """The seed of a run: its replicate."""
    return int(wildcards.replicate)


def first_replicate(wildcards):
    return replicates(wildcards.dataset)[0]


def runs():
    """(dataset, model, replicate) of every run: each pair once per replicate of its dataset."""
    return [(d, m, r) for d, m in pairs() for r in replicates(d)]


def all_runs():
    """'{dataset}/{model}/seed{replicate}' for every run (the folder of its results)."""
    return [f"{d}/{m}/seed{r}" for d, m, r in runs()]


def image_pairs():
    """(dataset, model) of every pair whose data are images: the views and the explanation grid draw them."""
    return [(d, m) for d, m in pairs() if MODALITY[d] == "image"]


def profile_pairs():
    """'{dataset}/{model}' of every pair whose data are series or tables: their explanations are drawn along
    the series or per feature (rule figure_attributions) rather than in the image grid.
    """
    return [f"{d}/{m}" for d, m in pairs() if MODALITY[d] != "image"]


def attribution_explanations(wildcards):
    """Method -> explanation file of the pair's first replicate, for the explanation-grid methods (the
    figure_attributions rule draws them along a series or per feature)."""
    folder = f"results/explanations/{RUN_DIR}".format(
        dataset=wildcards.dataset,
        model=wildcards.model,
        replicate=first_replicate(wildcards),
    )
    return {
        m: f"{folder}/{EXPLAINED_IN[m]}.npz" for m in config["figures"]["grid_methods"]
    }


def attribution_explanation_files(wildcards):
    """The explanation files of attribution_explanations (each once)."""
    return paths(attribution_explanations(wildcards))


def all_pairs():
    """'{dataset}/{model}' for every pair."""
    return [f"{dataset}/{model}" for dataset, model in pairs()]


def run_files(pattern, methods=None, first_only=False, datasets=None):
    """dataset -> model -> replicate -> ``pattern`` filled in, for every run (``first_only``: the first
    replicate of each dataset only; ``datasets``: only those datasets); with ``methods``, one level more:
    ... -> replicate -> method -> path. Rules pass such a mapping as a param (and its paths() as input), so
    that a script knows whose file is which without parsing paths."""
    files = {}
    for dataset, model, replicate in runs():
        if first_only and replicate != replicates(dataset)[0]:
            continue
        if datasets is not None and dataset not in datasets:
            continue
        ids = {"dataset": dataset, "model": model, "replicate": replicate}
        files.setdefault(dataset, {}).setdefault(model, {})[replicate] = (
            pattern.format(**ids)
            if methods is None
            else {method: pattern.format(**ids, method=method) for method in methods}
        )
    return files


def paths(files):
    """Every path of a mapping of run_files(), in order."""
    if isinstance(files, str):
        return [files]
    found = [path for value in files.values() for path in paths(value)]
    return list(
        dict.fromkeys(found)
    )  # once each: a file may hold several methods' explanations


DATA_FILE = "results/data/{dataset}/seed{replicate}.npz"
RUN_DIR = (
    "{dataset}/{model}/seed{replicate}"  # under results/models, explanations, scores
)
DATA = run_files(DATA_FILE)
HISTORIES = run_files(f"results/models/{RUN_DIR}/history.tsv")
TEST_METRICS = run_files(f"results/models/{RUN_DIR}/test_metrics.json")


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
# explain.in_evaluation_job: each evaluation job explains its group first (rule explain is then not defined)
EXPLAIN_IN_EVALUATION = config["explain"]["in_evaluation_job"]
if EXPLAIN_IN_EVALUATION and EXPLAIN_GROUPS != EVAL_GROUPS:
    raise ValueError(
        "config key explain.in_evaluation_job: true needs explain.methods_per_job "
        f"({config['explain']['methods_per_job']!r}) equal to evaluate.methods_per_job "
        f"({config['evaluate']['methods_per_job']!r}): an evaluation job explains its own group"
    )


EXPLANATION_FILE = f"results/explanations/{RUN_DIR}/{{group}}.npz"


def explanation_files(methods, first_only=False, datasets=None):
    """dataset -> model -> replicate -> method -> the explanation file holding that method's maps (its
    explain job's)."""
    folders = run_files(
        f"results/explanations/{RUN_DIR}", first_only=first_only, datasets=datasets
    )
    return {
        dataset: {
            model: {
                replicate: {m: f"{folder}/{EXPLAINED_IN[m]}.npz" for m in methods}
                for replicate, folder in by_replicate.items()
            }
            for model, by_replicate in models.items()
        }
        for dataset, models in folders.items()
    }


EXPLANATIONS = explanation_files(METHODS)
GRID_EXPLANATIONS = explanation_files(
    config["figures"]["grid_methods"], first_only=True, datasets=IMAGE_DATASETS
)
GRID_DATA = run_files(DATA_FILE, first_only=True, datasets=IMAGE_DATASETS)


def explain_group_specs(wildcards):
    """Method name -> canonical spec, for every method of the explanation group (in order)."""
    return {method: method_entry(method) for method in EXPLAIN_GROUPS[wildcards.group]}


def group_explanations(wildcards):
    """Method name -> explanation file, for every method of the evaluation group (in order)."""
    files = EXPLANATIONS[wildcards.dataset][wildcards.model][int(wildcards.replicate)]
    return {method: files[method] for method in EVAL_GROUPS[wildcards.group]}


def group_explanation_files(wildcards):
    """The explanation files the evaluation group reads (each once); none where it writes them itself."""
    if EXPLAIN_IN_EVALUATION:
        return []
    return list(dict.fromkeys(group_explanations(wildcards).values()))


def evaluation_explanation_output():
    """The explanation file of an evaluation job that explains its group (explain.in_evaluation_job), else
    none: ``**evaluation_explanation_output()``."""
    if EXPLAIN_IN_EVALUATION:
        return {"attributions": EXPLANATION_FILE}
    return {}


def evaluation_explain_params(wildcards):
    """What an evaluation job that explains its group needs (the explain rule's params), else {}."""
    if not EXPLAIN_IN_EVALUATION:
        return {}
    return {
        "methods": explain_group_specs(wildcards),
        "settings": explain_settings(wildcards),
    }


def group_method_specs(wildcards):
    """Method name -> canonical spec, for every method of the evaluation group (in order)."""
    return {method: method_entry(method) for method in EVAL_GROUPS[wildcards.group]}


def score_tables(wildcards):
    return expand("results/scores/{run}/{group}.tsv", run=all_runs(), group=EVAL_GROUPS)


def timing_tables(wildcards):
    return expand(
        "results/scores/{run}/{group}_timing.tsv", run=all_runs(), group=EVAL_GROUPS
    )


def curve_files(wildcards):
    """Every replicate's curves of the pair (the figure pools their images)."""
    return expand(
        "results/scores/{{dataset}}/{{model}}/seed{replicate}/{group}_curves.npz",
        replicate=replicates(wildcards.dataset),
        group=EVAL_GROUPS,
    )


def curve_figures():
    """The named outputs of figure_faithfulness_curves (one job per pair draws every curve metric):
    ``<metric>_png`` (in the report) and ``<metric>_pdf`` (with figures.pdf)."""
    outputs = {}
    for metric in config["figures"]["curve_metrics"]:
        figure = f"results/figures/faithfulness/{{dataset}}/{{model}}/{metric}"
        outputs[f"{metric}_png"] = report(
            f"{figure}.png",
            caption="../report/faithfulness_curves.rst",
            category="Figures",
            subcategory="Faithfulness curves",
            labels={"dataset": "{dataset}", "model": "{model}", "metric": metric},
        )
        if PDF:
            outputs[f"{metric}_pdf"] = f"{figure}.pdf"
    return outputs


def meta_evaluation_settings(wildcards):
    """What meta_evaluate compares: the methods and metrics (entries) and the protocol's settings."""
    meta = config["meta_evaluation"]
    return canonical(
        {
            "methods": {m: method_entry(m) for m in meta["methods"] or METHODS},
            "metrics": {
                m: config["evaluate"]["metrics"][m] for m in meta["metrics"] or METRICS
            },
            "settings": {
                **{
                    k: meta[k]
                    for k in ("k", "n_samples", "input_noise", "model_noise", "target")
                },
                "batch_size": config["evaluate"]["batch_size"],
            },
        }
    )


def meta_evaluation_files():
    """Every per-pair table of meta_evaluate (none unless meta_evaluation.datasets names some)."""
    chosen = set(config["meta_evaluation"]["datasets"])
    return [f"results/meta_evaluation/{d}/{m}.tsv" for d, m in pairs() if d in chosen]


def first_data(wildcards):
    """The first replicate's data of the dataset: the views' input."""
    return DATA_FILE.format(
        dataset=wildcards.dataset, replicate=first_replicate(wildcards)
    )


def first_weights(wildcards):
    """The first replicate's trained model of the pair: the views' input."""
    return f"results/models/{RUN_DIR}/model.pt".format(
        dataset=wildcards.dataset,
        model=wildcards.model,
        replicate=first_replicate(wildcards),
    )


def final_targets():
    curves = expand(
        "results/figures/faithfulness/{pair}/{metric}.{ext}",
        pair=all_pairs(),
        metric=config["figures"]["curve_metrics"],
        ext=FIGURE_FORMATS,
    )
    first_runs = [
        f"{d}/{m}/seed{r}" for d, m, r in runs() if r == replicates(d)[0]
    ]  # ONNX export checks the first replicate's model
    figures = expand("results/figures/training_curves.{ext}", ext=FIGURE_FORMATS)
    # one figure per (dataset, model) each, in a folder (one job draws them all)
    figures += ["results/figures/metric_heatmap"]
    figures += ["results/figures/explanation_grid"] if image_pairs() else []
    figures += expand(
        "results/figures/attributions/{pair}.{ext}",
        pair=profile_pairs(),
        ext=FIGURE_FORMATS,
    )
    tables = expand(
        "results/tables/{name}.tsv",
        name=("scores", "summary", "nonfinite", "timing", "training"),
    )
    onnx = expand("results/models/{run}/onnx_check.json", run=first_runs)
    statistics = expand(
        "results/tables/{name}.tsv",
        name=(
            "comparisons",
            "metric_health",
            "friedman",
            "mean_ranks",
            "nemenyi",
            "metric_agreement",
            "anchored_validity",
            "beats_random",
        ),
    )
    ranks = [
        "results/figures/critical_differences",
        "results/figures/forest",
    ]  # every pair's figures in a folder each (rules figure_method_ranks, figure_forest)
    agreement = expand("results/figures/metric_agreement.{ext}", ext=FIGURE_FORMATS)
    provenance = ["results/provenance.json"]
    meta = ["results/tables/meta_evaluation.tsv"] if meta_evaluation_files() else []
    claims = ["results/tables/claims.tsv", "results/figures/claims.png"]
    pages = ["results/report/overview.html", "results/report/tables"]
    claims += expand(
        "results/figures/object_parts/{pair}/parts.{ext}",
        pair=part_pairs(),
        ext=FIGURE_FORMATS,
    )
    return (
        figures
        + curves
        + tables
        + onnx
        + statistics
        + ranks
        + agreement
        + provenance
        + meta
        + claims
        + pages
        + sweep_targets()
    )


# ---- the report (rules/report.smk): the run's tables in the report as gzip downloads, each with its caption
# (report/<table>.rst)

DOWNLOADS = (
    "scores",
    "summary",
    "comparisons",
    "beats_random",
    "metric_health",
    "nemenyi",
    "friedman",
    "anchored_validity",
    "nonfinite",
    "timing",
    "training",
)


def download_outputs():
    """The named outputs of report_pages that enter the report as downloads: ``<table>_gz``."""
    return {
        f"{name}_gz": report(
            f"results/report/downloads/{name}.tsv.gz",
            caption=f"../report/{name}.rst",
            category="Tables",
            subcategory="Downloads",
        )
        for name in DOWNLOADS
    }


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
    report) and ``<figure>_pdf`` (with figures.pdf)."""
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
        if PDF:
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
        run_files(
            f"results/views/{view}/{{dataset}}/{{model}}/{spec.tables[spec.gathered]}",
            first_only=True,
            datasets=IMAGE_DATASETS,
        )
    )


def view_targets():
    """Every output of the views switched on: each pair's arrays, tables and figures (from the rule that
    views_per_job picks: views, or each view_<name>), and the gathered tables."""
    ids = {
        "dataset": [d for d, _ in image_pairs()],
        "model": [m for _, m in image_pairs()],
    }
    targets = []
    if views_grouped() and VIEWS_ON:
        targets += expand(list(rules.views.output), zip, **ids)
    for view in VIEWS_ON:
        if not views_grouped():
            targets += expand(list(getattr(rules, f"view_{view}").output), zip, **ids)
        targets += list(getattr(rules, view).output)
    return targets


# ---- difficulty sweeps (rules/sweeps.smk)


def sweep_levels(sweep):
    """The level indices of a sweep (the {level} wildcard), one per value."""
    return list(range(len(config["sweeps"][sweep]["values"])))


def sweep_param(wildcards):
    return config["sweeps"][wildcards.sweep]["param"]


def sweep_targets():
    return expand(
        "results/figures/sweep_{sweep}.{ext}",
        sweep=config["sweeps"],
        ext=FIGURE_FORMATS,
    ) + expand("results/tables/sweeps/{sweep}.tsv", sweep=config["sweeps"])


def sweep_level_settings(wildcards):
    """Everything one level's job needs: generator, params, the swept parameter and its value, the model,
    methods and metrics (canonical, so that a change reruns exactly the levels it affects).
    """
    sweep = config["sweeps"][wildcards.sweep]
    base = config["datasets"][sweep["dataset"]]
    model = config["models"][sweep.get("model") or PAIRED[sweep["dataset"]][0]]
    training = {**model.get("training", {}), **sweep.get("training", {})}
    training.pop("checkpoints", None)
    return canonical(
        {
            "generator": base["generator"],
            "params": {**base.get("params", {}), **sweep.get("params", {})},
            "param": sweep["param"],
            "value": sweep["values"][int(wildcards.level)],
            "architecture": model["architecture"],
            "model_params": model.get("params", {}),
            "training": training,
            "methods": {m: method_entry(m) for m in sweep.get("methods") or METHODS},
            "metrics": {
                m: config["evaluate"]["metrics"][m]
                for m in sweep.get("metrics") or METRICS
            },
            "n_samples": sweep.get("n_samples", 16),
        }
    )


def sweep_level_files(wildcards):
    """Every level's scores of the sweep, in level order."""
    return expand(
        "results/sweeps/{sweep}/level{level}.tsv",
        sweep=wildcards.sweep,
        level=sweep_levels(wildcards.sweep),
    )


def sweep_accuracy_files(wildcards):
    """Every level's test accuracy of the sweep, in level order."""
    return expand(
        "results/sweeps/{sweep}/level{level}_accuracy.tsv",
        sweep=wildcards.sweep,
        level=sweep_levels(wildcards.sweep),
    )


# ---- claims (rules/claims.smk)


def view_pair_tables(view, table):
    """Every pair's per-image table ``table`` of a view (first replicate), e.g. the adversarial view's
    similarity.tsv; none when the view is off."""
    if view not in VIEWS_ON:
        return []
    spec = VIEWS.get(view)
    return paths(
        run_files(
            f"results/views/{view}/{{dataset}}/{{model}}/{spec.tables[table]}",
            first_only=True,
            datasets=IMAGE_DATASETS,
        )
    )


def part_pairs():
    """'{dataset}/{model}' of every pair whose dataset's generator has a part geometry (PARTS)."""
    return [
        f"{d}/{m}" for d, m in pairs() if config["datasets"][d]["generator"] in PARTS
    ]


def dataset_generator(wildcards):
    """The dataset's generator (datasets.<name>.generator)."""
    return config["datasets"][wildcards.dataset]["generator"]


def part_runs(wildcards):
    """Replicate -> [its dataset file, method -> explanation file] of the pair (rule object_parts)."""
    data = DATA[wildcards.dataset][wildcards.model]
    maps = EXPLANATIONS[wildcards.dataset][wildcards.model]
    return {r: [data[r], maps[r]] for r in replicates(wildcards.dataset)}


def part_files(wildcards):
    """The dataset and explanation files of every replicate of the pair."""
    runs = part_runs(wildcards).values()
    return [data for data, _ in runs] + [p for _, maps in runs for p in paths(maps)]


def checkpoint_pairs():
    """'{dataset}/{model}' of every pair whose model keeps training checkpoints."""
    return [
        f"{d}/{m}" for d, m in pairs() if config["models"][m]["training"]["checkpoints"]
    ]


def checkpoint_method():
    """The spec of claims.checkpoint_method ({} when no model keeps checkpoints)."""
    if not checkpoint_pairs():
        return {}
    return method_entry(config["claims"]["checkpoint_method"])


def checkpoint_runs(wildcards):
    """Replicate -> [dataset file, trained weights, checkpoints] of the pair (rule checkpoint_heatmaps)."""
    folder = "results/models/{d}/{m}/seed{r}".format
    return {
        r: [
            DATA[wildcards.dataset][wildcards.model][r],
            f"{folder(d=wildcards.dataset, m=wildcards.model, r=r)}/model.pt",
            f"{folder(d=wildcards.dataset, m=wildcards.model, r=r)}/checkpoints.pt",
        ]
        for r in replicates(wildcards.dataset)
    }


def checkpoint_files(wildcards):
    return [path for files in checkpoint_runs(wildcards).values() for path in files]


def class_region_pairs():
    """'{dataset}/{model}' of every pair whose dataset's generator can draw two-class composites (COMPOSITES)
    and for which claims.class_methods names at least one method of the run."""
    if not class_region_methods():
        return []
    return [
        f"{d}/{m}"
        for d, m in pairs()
        if config["datasets"][d]["generator"] in COMPOSITES
    ]


def class_region_methods():
    """Config name -> spec of the claims.class_methods that the run explains (the class_regions rule)."""
    return {
        name: method_entry(name)
        for name in config["claims"]["class_methods"]
        if name in config["explain"]["methods"]
    }


def transfer_pairs():
    """'{dataset}/{model}' of every pair with at least two replicates, when the adversarial view is on: the
    first replicate's maximised images are classified by the other replicates' models.
    """
    if "adversarial" not in VIEWS_ON:
        return []
    return [f"{d}/{m}" for d, m in image_pairs() if len(replicates(d)) > 1]


def transfer_inputs(wildcards):
    """Named inputs of the maximisation_transfer rule: the adversarial view's arrays and maximisation table, the
    first replicate's data, and the trained model of every other replicate."""
    folder = f"results/views/adversarial/{wildcards.dataset}/{wildcards.model}"
    spec = VIEWS.get("adversarial")
    others = replicates(wildcards.dataset)[1:]
    return {
        "arrays": f"{folder}/{spec.arrays}",
        "maximisation": f"{folder}/{spec.tables['maximisation']}",
        "data": first_data(wildcards),
        "replicate_weights": [
            f"results/models/{RUN_DIR}/model.pt".format(
                dataset=wildcards.dataset, model=wildcards.model, replicate=r
            )
            for r in others
        ],
    }


def transfer_replicates(wildcards):
    """The replicates whose models classify the maximised images (all but the first), in input order."""
    return replicates(wildcards.dataset)[1:]


def claims_inputs():
    """Named inputs of the claims rule, i.e. every table a claim may read that this run makes (a claim's ``needs``
    names them; one the run lacks makes its claim "not tested")."""
    inputs = {
        "scores": "results/tables/scores.tsv",
        "comparisons": "results/tables/comparisons.tsv",
    }
    if part_pairs():
        inputs["parts"] = expand(
            "results/claims/parts/{pair}/summary.tsv", pair=part_pairs()
        )
    if checkpoint_pairs():
        inputs["checkpoints"] = expand(
            "results/claims/checkpoints/{pair}.tsv", pair=checkpoint_pairs()
        )
    if class_region_pairs():
        inputs["class_regions"] = expand(
            "results/claims/class_regions/{pair}/regions.tsv", pair=class_region_pairs()
        )
    if transfer_pairs():
        inputs["transfer"] = expand(
            "results/claims/transfer/{pair}.tsv", pair=transfer_pairs()
        )
    if "occlusion_sweep" in VIEWS_ON:
        inputs["occlusion_sweep"] = "results/tables/views/occlusion_sweep.tsv"
    # per-image tables of views whose gathered table is a summary
    if view_pair_tables("cascading_randomisation", "similarity"):
        inputs["cascading_randomisation_similarity"] = view_pair_tables(
            "cascading_randomisation", "similarity"
        )
    if view_pair_tables("fgsm_growth", "stops"):
        inputs["fgsm_growth_stops"] = view_pair_tables("fgsm_growth", "stops")
    if view_pair_tables("adversarial", "noise_pairs"):
        inputs["adversarial_noise_pairs"] = view_pair_tables(
            "adversarial", "noise_pairs"
        )
    return inputs


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
