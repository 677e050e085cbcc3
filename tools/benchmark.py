#!/usr/bin/env python
"""Measure xaibench's costs: per-job fixed overhead and per-image time of every method and metric.

    .venv/bin/python tools/benchmark.py imports          # import cost per stage script, fresh processes
    .venv/bin/python tools/benchmark.py jobs [RUN_DIR]   # job wall time vs in-job compute, finished run
    .venv/bin/python tools/benchmark.py costs [RUN_DIR]  # CPU-hours / GPU-hours per stage and per method
    .venv/bin/python tools/benchmark.py estimate CONFIG [RUN_DIR]   # CONFIG's cost, scaled from RUN_DIR
    .venv/bin/python tools/benchmark.py report [RUN_DIR] > docs/costs.md   # all of it as a Markdown page
    .venv/bin/python tools/benchmark.py bound [--images 32] [--sizes 32 64] [--stage-images 16]
                                              [--out docs/bound.md]
                                                         # each method/metric vs a bound from its passes,
                                                         # the whole evaluation stage vs the libraries
    .venv/bin/python tools/benchmark.py layout [--sizes 32 64]   # small CNN: NCHW vs channels-last weights

``costs`` turns the ``benchmark:`` files into a cost table: per stage and per method, the number of jobs, the
summed wall hours, CPU hours (``cpu_time``: user + system time of the job's processes) and GPU hours (wall
hours of the jobs of GPU rules, each holding one GPU, as a cluster run with ``resources.gpu: 1`` books them).
An explanation or evaluation job handling a group of methods (``methods_per_job``) is split over its methods
in proportion to their compute time.

``estimate`` scales a finished run's measurements to another config (e.g. paper scale): explanation and
evaluation cost = per-image time of each method (and of all metrics on it) x images x (dataset, model) pairs,
plus the fixed cost per job times the job count; training = time per image-epoch of the dataset x images x
epochs, for architectures in the measured run. Per-image times come from the measured images and
models (32x32 small CNN on a CPU here): an upper bound for a GPU, a lower bound for larger images and
ResNet-class models, whose rows are marked ``not measured``.

``jobs`` reads the ``benchmark:`` files (whole job wall time, as Snakemake measured it) and
``results/tables/timing.tsv`` (compute time measured inside the job) of a finished run, and prints per job
the fixed overhead (wall - compute: interpreter start, imports, loading data and model, writing outputs)
and the per-image times. Timings are only honest on an otherwise idle machine.

``bound`` (tools/bound.py) measures every method and metric of a config against the time its model passes
need at the model's best per-image speed, and against the same work through the libraries' defaults.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

# What each stage's script imports (keep in sync with scripts/*.py).
STAGE_IMPORTS = {
    "generate_dataset": "xaibench.datasets",
    "train_model": "xaibench.training, xaibench.models",
    "explain (gradient method)": "xaibench.explaining, captum.attr",
    "explain (control method)": "xaibench.explaining",
    "explain (lrp)": "xaibench.explaining, zennit.composites",
    "evaluate": "xaibench.evaluation, quantus",
    "aggregate_scores": "xaibench.aggregate, xaibench.tables",
    "figures": "xaibench.figures, seaborn, matplotlib.pyplot",
    "snakemake script preamble": "snakemake.script",
}


def _import_seconds(modules: str, repeats: int) -> float:
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import {modules}"
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def imports(repeats: int) -> pd.DataFrame:
    rows = [
        {"stage": stage, "imports": modules, "best_of": repeats, "seconds": _import_seconds(modules, repeats)}
        for stage, modules in STAGE_IMPORTS.items()
    ]
    return pd.DataFrame(rows)


def _benchmarks(run_dir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((run_dir / "benchmarks").rglob("*.tsv")):
        rel = path.relative_to(run_dir / "benchmarks").with_suffix("")
        parts = rel.parts
        bench = pd.read_csv(path, sep="\t")
        row = {"stage": parts[0], "job": "/".join(parts[1:]) or parts[0], "wall_s": bench["s"].mean()}
        row["cpu_s"] = bench["cpu_time"].mean() if "cpu_time" in bench else float("nan")
        row["max_rss_mb"] = bench["max_rss"].mean() if "max_rss" in bench else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _evaluate_compute(run_dir: Path, job: str) -> tuple[float, float]:
    """Compute seconds and images of one evaluation job (a method or a group of methods of a pair)."""
    path = run_dir / "results" / "scores" / f"{job}_timing.tsv"
    if not path.exists():
        return float("nan"), float("nan")
    timing = pd.read_csv(path, sep="\t")
    return float(timing["seconds"].sum()), float(timing["n"].iloc[0])


def _explain_methods(run_dir: Path, job: str) -> list[str]:
    """The methods of explanation job ``job`` ('<dataset>/<model>/<group>'): those its file holds, else the
    run's config grouping (rules/common.smk method_groups), else the group named after its one method."""
    import numpy as np

    path = run_dir / "results" / "explanations" / f"{job}.npz"
    if path.exists():
        with np.load(path) as arrays:
            if "methods" in arrays:
                return [str(m) for m in arrays["methods"]]
    group = job.rsplit("/", 1)[-1]
    config = run_dir / "config" / "config.yaml"
    if group.startswith("group") and config.exists():
        import yaml

        explain = yaml.safe_load(config.read_text()).get("explain", {})
        names = sorted(explain.get("methods", {}))
        size = explain.get("methods_per_job", 1)
        size = len(names) if size == "all" else int(size)
        chunks = [names[i : i + size] for i in range(0, len(names), size)]
        groups = {f"group{i}-of-{len(chunks)}": c for i, c in enumerate(chunks, start=1)}
        if group in groups:
            return groups[group]
    return [group]


def _explain_timing(run_dir: Path) -> pd.DataFrame:
    """The explain rows of results/tables/timing.tsv (one per dataset, model and method); none without it."""
    columns = ["dataset", "model", "method", "seconds", "n"]
    path = run_dir / "results/tables/timing.tsv"
    timing = pd.read_csv(path, sep="\t") if path.exists() else pd.DataFrame()
    if not set(columns) | {"stage"} <= set(timing.columns):
        return pd.DataFrame(columns=columns)
    return timing[timing["stage"] == "explain"]


def _replicate(job: str) -> int | None:
    """The replicate of a job '<dataset>/<model>/seed<replicate>/...' (None for a job of an older layout)."""
    parts = job.split("/")
    if len(parts) > 2 and parts[2].startswith("seed") and parts[2][4:].isdigit():
        return int(parts[2][4:])
    return None


def _explain_compute(timing: pd.DataFrame, run_dir: Path, job: str) -> tuple[float, float]:
    """Compute seconds and images of one explanation job (its methods' rows of timing.tsv)."""
    dataset, model = job.split("/")[:2]
    rows = timing[
        (timing["dataset"] == dataset)
        & (timing["model"] == model)
        & timing["method"].isin(_explain_methods(run_dir, job))
    ]
    replicate = _replicate(job)
    if replicate is not None and "replicate" in rows.columns:
        rows = rows[rows["replicate"] == replicate]
    if rows.empty:
        return float("nan"), float("nan")
    return float(rows["seconds"].sum()), float(rows["n"].iloc[0])


def _explained_in_evaluation(bench: pd.DataFrame) -> bool:
    """Did the run's evaluation jobs explain their groups (explain.in_evaluation_job)? Then it has no
    explanation jobs, and each evaluation job's file in results/explanations/ is named after it."""
    return bool((bench["stage"] == "evaluate").any()) and not (bench["stage"] == "explain").any()


def jobs(run_dir: Path) -> pd.DataFrame:
    """One row per job: wall, CPU, compute (the methods' and metrics' own seconds) and overhead (the rest:
    process start, imports, loading, writing). An evaluation job that explained its group counts the
    explanation's compute as well."""
    merged = _benchmarks(run_dir)
    merged["compute_s"], merged["n"] = float("nan"), float("nan")
    timing = _explain_timing(run_dir)
    explain, evaluate = merged["stage"] == "explain", merged["stage"] == "evaluate"
    if explain.any():
        merged.loc[explain, ["compute_s", "n"]] = [
            _explain_compute(timing, run_dir, job) for job in merged.loc[explain, "job"]
        ]
    if evaluate.any():
        merged.loc[evaluate, ["compute_s", "n"]] = [
            _evaluate_compute(run_dir, job) for job in merged.loc[evaluate, "job"]
        ]
    if _explained_in_evaluation(merged):
        explained = merged.loc[evaluate, "job"].map(lambda job: _explain_compute(timing, run_dir, job)[0])
        merged.loc[evaluate, "compute_s"] += explained
    merged["overhead_s"] = merged["wall_s"] - merged["compute_s"]
    return merged


# benchmark folders (rules) that request a GPU on a cluster (resources: gpu=...); views: see _gpu_views
GPU_STAGES = {"train", "explain", "evaluate"}


def _gpu_views(run_dir: Path) -> tuple[set[str], bool]:
    """(views whose per-pair rule view_<name> requests a GPU, whether the per-pair job of rule views does:
    any GPU view switched on in the run's config, every registered one without it; rules/common.smk
    view_resources)."""
    import yaml

    sys.path.insert(0, str(ROOT / "scripts"))
    from xaibench.views import VIEWS

    gpu = {name for name in VIEWS if VIEWS.get(name).gpu}
    config = run_dir / "config" / "config.yaml"
    views = yaml.safe_load(config.read_text()).get("views", {}) if config.exists() else None
    if views is None:
        return gpu, bool(gpu)
    return gpu, any(name in gpu and (entry or {}).get("enabled", True) for name, entry in views.items())


def _is_gpu_job(stage: str, job: str, gpu_views: tuple[set[str], bool]) -> bool:
    """Whether a job's rule requests a GPU: benchmarks/views/<view>/<dataset>/<model> (view_<name>),
    views/all/<dataset>/<model> (views: every view in one job), views/<view> (gathering, CPU)."""
    if stage != "views":
        return stage in GPU_STAGES
    parts = job.split("/")
    if len(parts) != 3:
        return False
    return gpu_views[1] if parts[0] == "all" else parts[0] in gpu_views[0]


def _shares(seconds: pd.Series) -> dict[str, float]:
    total = float(seconds.sum())
    return {m: float(v) / total if total > 0 else 1.0 / len(seconds) for m, v in seconds.items()}


def _explain_seconds(run_dir: Path, job: str, timing: pd.DataFrame) -> pd.Series:
    """Method -> explanation seconds of the methods of job ``job`` (NaN where timing.tsv lacks one)."""
    dataset, model = job.split("/")[:2]
    rows = timing[(timing["dataset"] == dataset) & (timing["model"] == model)]
    replicate = _replicate(job)
    if replicate is not None and "replicate" in rows.columns:
        rows = rows[rows["replicate"] == replicate]
    return rows.groupby("method")["seconds"].sum().reindex(_explain_methods(run_dir, job))


def _method_shares(
    run_dir: Path, stage: str, job: str, timing: pd.DataFrame | None = None, explained: bool = False
) -> dict[str, float]:
    """Method -> share of one job's cost: an explanation or evaluation job handling a group of methods is
    split by the compute time of each of its methods (explanation: results/tables/timing.tsv, or equal
    shares without it; evaluation: the job's timing table, plus the explanation's seconds where the job
    ``explained`` its group too)."""
    timing = _explain_timing(run_dir) if timing is None else timing
    if stage == "explain":
        seconds = _explain_seconds(run_dir, job, timing)
        if seconds.isna().any():
            return {m: 1.0 / len(seconds) for m in seconds.index}
        return _shares(seconds)
    path = run_dir / "results" / "scores" / f"{job}_timing.tsv"
    if stage != "evaluate" or not path.exists():
        return {"": 1.0}
    seconds = pd.read_csv(path, sep="\t").groupby("method")["seconds"].sum()
    if explained:
        seconds = seconds.add(_explain_seconds(run_dir, job, timing), fill_value=0.0)
    return _shares(seconds)


def costs(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per stage, per stage x method) tables of jobs, wall_h, cpu_h, gpu_h."""
    bench = _benchmarks(run_dir)
    gpu_views = _gpu_views(run_dir)
    gpu = [
        _is_gpu_job(stage, job, gpu_views) for stage, job in zip(bench["stage"], bench["job"], strict=True)
    ]
    bench["gpu_s"] = bench["wall_s"].where(gpu, 0.0)
    agg = {"jobs": ("job", "size"), "wall_h": ("wall_s", "sum"), "cpu_h": ("cpu_s", "sum")}
    per_stage = bench.groupby("stage").agg(**agg, gpu_h=("gpu_s", "sum"))
    rows = []
    timing = _explain_timing(run_dir)
    explained = _explained_in_evaluation(bench)
    for job in bench[bench["stage"].isin({"explain", "evaluate"})].itertuples():
        for method, share in _method_shares(run_dir, job.stage, job.job, timing, explained).items():
            rows.append(
                {
                    "stage": job.stage,
                    "method": method,
                    "jobs": share,
                    "wall_h": job.wall_s * share,
                    "cpu_h": job.cpu_s * share,
                    "gpu_h": job.gpu_s * share,
                }
            )
    per_method = pd.DataFrame(rows).groupby(["stage", "method"]).sum()
    for table in (per_stage, per_method):
        table[["wall_h", "cpu_h", "gpu_h"]] /= 3600
    total = per_stage.sum().rename("total")
    return pd.concat([per_stage, total.to_frame().T]), per_method


def estimate(config_path: Path, run_dir: Path) -> pd.DataFrame:
    """Estimated CPU hours per stage of ``config_path``, from the finished run in ``run_dir``."""
    import math

    import yaml

    sys.path.insert(0, str(ROOT / "scripts"))
    from xaibench.datasets import load_dataset

    config = yaml.safe_load(config_path.read_text())
    measured = yaml.safe_load((run_dir / "config" / "config.yaml").read_text())
    timing = pd.read_csv(run_dir / "results/tables/timing.tsv", sep="\t")
    job_table = jobs(run_dir)
    overhead = job_table.groupby("stage")["overhead_s"].median()
    pairs = [
        (d, m) for d, entry in config["datasets"].items() for m in (entry.get("models") or config["models"])
    ]
    n_images = config["explain"]["n_samples"]
    methods = config["explain"]["methods"]
    rows = []
    for stage in ("explain", "evaluate"):
        rows_stage = timing[timing["stage"] == stage]
        per_method = rows_stage.groupby(["dataset", "model", "method"])["seconds_per_image"].sum()
        per_method = per_method.groupby("method").median()
        per_job = config.get(stage, {}).get("methods_per_job", 1)
        per_job = len(methods) if per_job == "all" else per_job
        n_jobs = len(pairs) * math.ceil(len(methods) / per_job)
        if stage == "explain" and config["explain"].get("in_evaluation_job", False):
            n_jobs = 0  # the evaluation jobs explain: the explanations' compute, no jobs of their own
        compute = sum(float(per_method.get(name, 0.0)) for name in methods) * n_images * len(pairs)
        missing = sorted(name for name in methods if name not in per_method)
        rows.append(
            {
                "stage": stage,
                "jobs": n_jobs,
                "cpu_h": (compute + n_jobs * overhead.get(stage, 0.0)) / 3600,
                "note": f"not measured: {missing}" if missing else "",
            }
        )
    bench = _benchmarks(run_dir).set_index(["stage", "job"])
    train_h, unmeasured = 0.0, []
    for dataset, model in pairs:
        arch = config["models"][model]["architecture"]
        same = [m for m, e in measured["models"].items() if e["architecture"] == arch]
        # the first replicate's training (results/.../seed<replicate>/), or a run of the older layout
        trained = [j for j in bench.loc["train"].index if same and j.split("/")[:2] == [dataset, same[0]]]
        key = ("train", sorted(trained)[0]) if trained else None
        data_files = sorted((run_dir / "results" / "data").glob(f"{dataset}/seed*.npz"))
        data_file = data_files[0] if data_files else run_dir / "results" / "data" / f"{dataset}.npz"
        if key not in bench.index or not data_file.exists():
            unmeasured.append(f"{dataset}/{model}")
            continue
        n_then = len(load_dataset(str(data_file)).indices("train"))
        epochs_then = measured["models"][same[0]]["training"]["epochs"]
        n_now = config["datasets"][dataset].get("params", {}).get("n_train", n_then)
        per_image_epoch = bench.loc[key, "cpu_s"] / (n_then * epochs_then)
        train_h += per_image_epoch * n_now * config["models"][model]["training"]["epochs"] / 3600
    note = f"not measured: {len(unmeasured)} of {len(pairs)} (dataset, model) pairs" if unmeasured else ""
    rows.append({"stage": "train", "jobs": len(pairs), "cpu_h": train_h, "note": note})
    return pd.DataFrame(rows)


def per_image(run_dir: Path) -> pd.DataFrame:
    timing = pd.read_csv(run_dir / "results/tables/timing.tsv", sep="\t")
    timing["what"] = timing["method"].where(timing["stage"] == "explain", timing["metric"])
    return (
        timing.groupby(["stage", "what"], as_index=False)
        .agg(ms_per_image=("seconds_per_image", lambda s: 1000 * s.mean()), jobs=("seconds", "size"))
        .sort_values(["stage", "ms_per_image"])
    )


def _log_wall_seconds(run_dir: Path) -> float:
    """Wall time of the newest Snakemake run in ``run_dir`` that ran jobs: first to last timestamp of its log
    (a later ``--report`` or dry run writes a log without any, and is skipped)."""
    import datetime
    import re

    for log in sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):
        stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", log.read_text(), re.M)
        times = [datetime.datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in stamps]
        if times:
            return (max(times) - min(times)).total_seconds()
    return float("nan")


def _markdown(table: pd.DataFrame, floatfmt: str = ".2f") -> str:
    return table.to_markdown(floatfmt=floatfmt)


def report(run_dir: Path) -> str:
    """A Markdown page of a finished run's costs (docs/costs.md is this, for the default run)."""
    bench = _benchmarks(run_dir)
    parts = bench["job"].str.split("/")
    # benchmarks/<stage>/<dataset>[/<model>/...]; views: benchmarks/views/<view>/<dataset>/<model>
    bench["dataset"] = parts.str[1].where(bench["stage"] == "views", parts.str[0])
    per_stage, per_method = costs(run_dir)
    per_stage["jobs"] = per_stage["jobs"].round().astype(int)
    stages = ["data", "train", "explain", "evaluate", "views"]
    per_pair = bench[bench["stage"].isin(stages) & ((parts.str.len() >= 2) | (bench["stage"] == "data"))]
    per_dataset = per_pair.pivot_table(index="dataset", columns="stage", values="wall_s", aggfunc="sum")
    per_dataset = per_dataset.reindex(columns=[s for s in stages if s in per_dataset.columns])
    wall = _log_wall_seconds(run_dir)
    lines = [
        "# Cost of a run",
        "",
        f"Written by `tools/benchmark.py report RUN_DIR` from the `benchmark:` files and `timing.tsv` of a "
        f"finished run ({len(bench)} jobs, {bench['cpu_s'].sum():,.0f} CPU-s in jobs, wall time from "
        f"Snakemake's log: {wall / 60:.1f} min). Timings are honest only on an otherwise idle machine.",
        "",
        "## Per stage (hours; GPU hours = wall hours of GPU-rule jobs, as a cluster books them)",
        "",
        _markdown(per_stage, ".4f"),
        "",
        "## Per dataset and stage (summed job wall seconds; jobs run two at a time on 2 cores)",
        "",
        _markdown(per_dataset, ".1f"),
        "",
        "## Per image (ms; explanation = the method, evaluation = one metric over every method)",
        "",
        per_image(run_dir).to_markdown(index=False, floatfmt=".1f"),
        "",
        "## Per method (hours; evaluation groups split by compute time)",
        "",
        per_method.reset_index().to_markdown(index=False, floatfmt=".4f"),
        "",
    ]
    return "\n".join(lines)


def load_bound() -> Any:
    """tools/bound.py (the ``bound`` subcommand) as a module, imported once."""
    import importlib.util

    name = "xaibench_tools_bound"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().with_name("bound.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def bound_command(args: argparse.Namespace) -> None:
    """``bound``: tools/bound.py's page, printed and written to ``--out``; progress on stderr."""
    bound = load_bound()

    command = "tools/benchmark.py bound " + " ".join(sys.argv[2:])
    page, frame = bound.bound_page(
        Path(args.config),
        args.images,
        args.sizes,
        command.strip(),
        log=lambda m: print(m, file=sys.stderr),
        stage_images=args.stage_images,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    print(page)
    total = bound.totals(frame)
    whole = total[(total["size"] == "all") & (total["what"] == "methods + metrics")].iloc[0]
    methods = total[(total["size"] == "all") & (total["what"] == "methods")].iloc[0]
    print(f"total, all methods: ours {methods.ours_ms:.1f} ms/img, libraries' defaults {methods.lib_ms:.1f}")
    print(
        f"total, all methods + all metrics: ours {whole.ours_ms:.1f} ms/img, libraries' defaults "
        f"{whole.lib_ms:.1f} ms/img ({whole.speedup:.2f}x)"
    )


def _layout_times(model: Any, x: Any, y: Any, repeats: int) -> dict[str, float]:
    """Best per-image milliseconds of ``model`` on batch ``x``: forward without gradients, forward + input
    gradient (eval mode), and a training step (forward, cross-entropy, backward, Adam; train mode)."""
    import torch

    optimiser = torch.optim.Adam(model.parameters())

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def gradient() -> None:
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(model(xg)[:, 0].sum(), xg)

    def train_step() -> None:
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()

    def best(step: Any) -> float:
        step()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        return min(times) / len(x) * 1e3

    model.eval()
    times = {"forward_ms": best(forward), "gradient_ms": best(gradient)}
    model.train()
    times["train_step_ms"] = best(train_step)
    return times


def layout(sizes: list[int], repeats: int = 30) -> pd.DataFrame:
    """Per-image milliseconds of the default small CNN (width 8, batch 64, one torch thread) with its 4-D
    weights in the default (NCHW) layout and channels-last (as ``build_model`` stores them): forward without
    gradients, forward + input gradient, and a training step, the best of ``repeats``
    (:func:`_layout_times`); and the largest logit difference between the two layouts (same weights)."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from xaibench.models import build_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for size in sizes:
            torch.manual_seed(0)
            weights = build_model("small_cnn", 1, 2, size, width=8).state_dict()
            x, y = torch.rand(64, 1, size, size), torch.randint(0, 2, (64,))
            logits = {}
            for name in ("nchw", "channels_last"):
                model = build_model("small_cnn", 1, 2, size, width=8)
                model.load_state_dict(weights)
                model = (load_bound().in_default_layout(model) if name == "nchw" else model).eval()
                with torch.no_grad():
                    logits[name] = model(x)
                rows.append({"size": size, "layout": name, **_layout_times(model, x, y, repeats)})
            diff = (logits["nchw"] - logits["channels_last"]).abs().max().item()
            rows[-1]["max_logit_diff"] = rows[-2]["max_logit_diff"] = diff
    finally:
        torch.set_num_threads(threads)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_imp = sub.add_parser("imports")
    p_imp.add_argument("--repeats", type=int, default=3)
    p_jobs = sub.add_parser("jobs")
    p_jobs.add_argument("run_dir", nargs="?", default=str(ROOT), type=str)
    p_costs = sub.add_parser("costs")
    p_costs.add_argument("run_dir", nargs="?", default=str(ROOT), type=str)
    p_est = sub.add_parser("estimate")
    p_est.add_argument("config", type=str)
    p_est.add_argument("run_dir", nargs="?", default=str(ROOT), type=str)
    p_report = sub.add_parser("report", help="a Markdown page of the run's costs (e.g. > docs/costs.md)")
    p_report.add_argument("run_dir", nargs="?", default=str(ROOT), type=str)
    p_bound = sub.add_parser("bound", help="every method and metric vs a bound from its model passes")
    p_bound.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    p_bound.add_argument("--images", type=int, default=32, help="images per size (e.g. 4 for a quick check)")
    p_bound.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    p_bound.add_argument(
        "--stage-images", type=int, default=16, help="images of the whole-stage comparison per size (0: none)"
    )
    p_bound.add_argument("--out", default=str(ROOT / "docs" / "bound.md"))
    p_layout = sub.add_parser("layout", help="small CNN per image: NCHW vs channels-last weights")
    p_layout.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    p_layout.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if args.command == "bound":
        bound_command(args)
    elif args.command == "layout":
        print(layout(args.sizes, args.repeats).to_string(index=False, float_format="%.3g"))
    elif args.command == "imports":
        print(imports(args.repeats).to_string(index=False, float_format="%.2f"))
    elif args.command == "estimate":
        table = estimate(Path(args.config), Path(args.run_dir))
        print(table.to_string(index=False, float_format="%.2f"))
    elif args.command == "report":
        print(report(Path(args.run_dir)))
    elif args.command == "costs":
        per_stage, per_method = costs(Path(args.run_dir))
        print("per stage (hours):\n" + per_stage.to_string(float_format="%.4f"))
        print("\nper method (hours; evaluation groups split by compute time):")
        print(per_method.to_string(float_format="%.4f"))
    else:
        run_dir = Path(args.run_dir)
        table = jobs(run_dir)
        print(table.to_string(index=False, float_format="%.2f"))
        summary = table.groupby("stage").agg(
            jobs=("job", "size"), wall_s=("wall_s", "sum"), mean_overhead_s=("overhead_s", "mean")
        )
        print("\nper stage:\n" + summary.to_string(float_format="%.2f"))
        print("\nper image:\n" + per_image(run_dir).to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()
