#!/usr/bin/env python
"""Measure xaibench's costs: per-job fixed overhead and per-image time of every method and metric.

    .venv/bin/python tools/benchmark.py imports          # import cost per stage script, fresh processes
    .venv/bin/python tools/benchmark.py jobs [RUN_DIR]   # job wall time vs in-job compute, finished run
    .venv/bin/python tools/benchmark.py costs [RUN_DIR]  # CPU-hours / GPU-hours per stage and per method
    .venv/bin/python tools/benchmark.py estimate CONFIG [RUN_DIR]   # CONFIG's cost, scaled from RUN_DIR
    .venv/bin/python tools/benchmark.py report [RUN_DIR] > docs/costs.md   # all of it as a Markdown page

``costs`` turns the ``benchmark:`` files into a cost table: per stage and per method, the number of jobs, the
summed wall hours, CPU hours (``cpu_time``: user + system time of the job's processes) and GPU hours (wall
hours of the jobs of GPU rules, each holding one GPU, as a cluster run with ``resources.gpu: 1`` books them).
An evaluation job scoring a group of methods is split over its methods in proportion to their compute time.

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
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

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


def jobs(run_dir: Path) -> pd.DataFrame:
    bench = _benchmarks(run_dir)
    timing = pd.read_csv(run_dir / "results/tables/timing.tsv", sep="\t")
    timing = timing[timing["stage"] == "explain"]
    timing["job"] = timing["dataset"] + "/" + timing["model"] + "/" + timing["method"]
    compute = timing.groupby(["stage", "job"], as_index=False).agg(
        compute_s=("seconds", "sum"), n=("n", "first")
    )
    merged = bench.merge(compute, on=["stage", "job"], how="left")
    evaluate = merged["stage"] == "evaluate"
    merged.loc[evaluate, ["compute_s", "n"]] = [
        _evaluate_compute(run_dir, job) for job in merged.loc[evaluate, "job"]
    ]
    merged["overhead_s"] = merged["wall_s"] - merged["compute_s"]
    return merged


# benchmark folders (rules) that request a GPU on a cluster (resources: gpu=...)
GPU_STAGES = {"train", "explain", "evaluate"}


def _method_shares(run_dir: Path, stage: str, job: str) -> dict[str, float]:
    """Method -> share of one job's cost: an explanation job is one method; an evaluation job is split by
    the compute time of each of its methods (its timing table)."""
    if stage == "explain":
        return {job.rsplit("/", 1)[-1]: 1.0}
    path = run_dir / "results" / "scores" / f"{job}_timing.tsv"
    if stage != "evaluate" or not path.exists():
        return {"": 1.0}
    seconds = pd.read_csv(path, sep="\t").groupby("method")["seconds"].sum()
    total = float(seconds.sum())
    return {m: float(v) / total if total > 0 else 1.0 / len(seconds) for m, v in seconds.items()}


def costs(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per stage, per stage x method) tables of jobs, wall_h, cpu_h, gpu_h."""
    bench = _benchmarks(run_dir)
    bench["gpu_s"] = bench["wall_s"].where(bench["stage"].isin(GPU_STAGES), 0.0)
    agg = {"jobs": ("job", "size"), "wall_h": ("wall_s", "sum"), "cpu_h": ("cpu_s", "sum")}
    per_stage = bench.groupby("stage").agg(**agg, gpu_h=("gpu_s", "sum"))
    rows = []
    for job in bench[bench["stage"].isin({"explain", "evaluate"})].itertuples():
        for method, share in _method_shares(run_dir, job.stage, job.job).items():
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
    per_job = config.get("evaluate", {}).get("methods_per_job", 1)
    per_job = len(methods) if per_job == "all" else per_job
    rows = []
    for stage in ("explain", "evaluate"):
        rows_stage = timing[timing["stage"] == stage]
        per_method = rows_stage.groupby(["dataset", "model", "method"])["seconds_per_image"].sum()
        per_method = per_method.groupby("method").median()
        n_jobs = len(pairs) * (len(methods) if stage == "explain" else math.ceil(len(methods) / per_job))
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
        key = ("train", f"{dataset}/{same[0]}") if same else None
        data_file = run_dir / "results" / "data" / f"{dataset}.npz"
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
    """Wall time of the newest Snakemake run in ``run_dir``: first to last timestamp of its log."""
    import datetime
    import re

    logs = sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        return float("nan")
    stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", logs[-1].read_text(), re.M)
    times = [datetime.datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in stamps]
    return (max(times) - min(times)).total_seconds() if times else float("nan")


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
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if args.command == "imports":
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
